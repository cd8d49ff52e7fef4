// Webhook deliveries (server/delivery.h) against a real local HTTP receiver, with a fake publication
// source standing for the core: signed bodies in seq order, coalescing, acks, retries with backoff,
// the freeze after freeze_after_s of failures, the unfreeze on the first success, and a channel frozen
// by hand left alone. Time is injected (100 ms per step); the receiver answers in real time.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/delivery.h"
#include "server/hmac.h"
#include "server/metrics.h"

namespace stockd::server {
namespace {

using nlohmann::json;

// A one-connection-at-a-time HTTP receiver answering from a script (then 200).
class Receiver {
 public:
  struct Request {
    std::map<std::string, std::string> headers;  // names lowercased
    std::string body;
  };
  Receiver() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { run(); });
  }
  ~Receiver() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  void script(std::vector<int> statuses) {
    std::lock_guard lock(mu_);
    statuses_ = std::move(statuses);
    answered_ = 0;
  }
  void always(int status) {
    std::lock_guard lock(mu_);
    always_ = status;
  }
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      serve(c);
      ::close(c);
    }
  }
  void serve(int c) {
    std::string in;
    char buf[4096];
    std::size_t head_end = std::string::npos, need = 0;
    for (;;) {
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
      if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
        std::string lower = in.substr(0, head_end);
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        auto cl = lower.find("content-length:");
        need = cl == std::string::npos ? 0 : std::stoul(lower.substr(cl + 15));
      }
      if (head_end != std::string::npos && in.size() >= head_end + 4 + need) break;
    }
    Request r;
    std::size_t pos = in.find("\r\n") + 2;
    while (pos < head_end) {
      std::size_t eol = in.find("\r\n", pos);
      std::string line = in.substr(pos, eol - pos);
      std::size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      pos = eol + 2;
    }
    r.body = in.substr(head_end + 4, need);
    int status;
    {
      std::lock_guard lock(mu_);
      status = answered_ < statuses_.size() ? statuses_[answered_] : always_;
      ++answered_;
      requests_.push_back(std::move(r));
    }
    std::string reply = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)!::write(c, reply.data(), reply.size());
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> statuses_;
  std::size_t answered_ = 0;
  int always_ = 200;
  std::vector<Request> requests_;
};

// The core's side: per channel the unacknowledged publications, coalesced (one per SKU, the latest).
struct FakeCore final : PublicationSource, DeliveryActions {
  std::vector<WebhookChannel> hooks;
  std::map<std::string, std::vector<Publication>> unacked;
  std::uint64_t seq = 0;
  std::vector<std::pair<std::string, std::uint64_t>> acks;
  std::vector<std::string> calls;  // "freeze mk delivery_failing", "unfreeze mk"

  void publish(const std::string& ch, const std::string& sku, std::int64_t q) {
    auto& v = unacked[ch];
    std::erase_if(v, [&](const Publication& p) { return p.sku == sku; });
    v.push_back(Publication{sku, q, ++seq, 0});
  }
  void webhooks(std::vector<WebhookChannel>* out) const override { *out = hooks; }
  void pending(std::string_view ch, std::uint64_t after, std::size_t limit, std::vector<Publication>* out) const override {
    auto it = unacked.find(std::string(ch));
    if (it == unacked.end()) return;
    for (const Publication& p : it->second)
      if (p.seq > after && out->size() < limit) out->push_back(p);
  }
  std::size_t backlog(std::string_view ch) const override {
    auto it = unacked.find(std::string(ch));
    return it == unacked.end() ? 0 : it->second.size();
  }
  bool drop_acks = false;
  void ack(std::string_view ch, std::uint64_t s) override {
    acks.emplace_back(std::string(ch), s);
    if (drop_acks) return;
    std::erase_if(unacked[std::string(ch)], [&](const Publication& p) { return p.seq <= s; });
  }
  void freeze(std::string_view ch, std::string_view reason) override {
    calls.push_back("freeze " + std::string(ch) + " " + std::string(reason));
    for (auto& h : hooks)
      if (h.channel == ch && !h.frozen) h.frozen = h.frozen_for_delivery = true;
  }
  void unfreeze(std::string_view ch) override {
    calls.push_back("unfreeze " + std::string(ch));
    for (auto& h : hooks)
      if (h.channel == ch && h.frozen_for_delivery) h.frozen = h.frozen_for_delivery = false;
  }
};

struct FakeAlerts final : AlertSink {
  std::vector<std::string> raised;  // "kind channel"
  AlertLatch latch;
  void raise(Alert a) override {
    if (latch.fire(a.kind, a.channel)) raised.push_back(a.kind + " " + a.channel);
  }
  void clear(std::string_view kind, std::string_view key) override { latch.clear(kind, key); }
};

struct Fixture : ::testing::Test {
  Receiver rx;
  FakeCore core;
  FakeAlerts alerts;
  std::int64_t now = 1'000'000;
  std::unique_ptr<Deliveries> d;
  std::shared_ptr<std::atomic<std::uint64_t>> posts_done = std::make_shared<std::atomic<std::uint64_t>>(0);

  void SetUp() override {
    core.hooks.push_back(WebhookChannel{"mk", rx.url(), "s3cret", 1, false, false});
    DeliveryOptions o;
    o.uniform01 = [] { return 0.0; };  // retry at the next step
    o.backoff = Backoff{100, 400};
    auto done = posts_done;
    o.post = [done](const OutboundRequest& r) {
      OutboundResult res = http_post(r, OutboundTimeouts{});
      ++*done;
      return res;
    };
    d = std::make_unique<Deliveries>(core, core, &alerts, o);
  }
  // Steps on fake time (100 ms per step) until pred() holds. Fake time stands still while a request
  // of channel "mk" is in flight, so each of its attempts takes one step whatever the machine's speed.
  // Bounded by 20 s of real time; the bound is never what a test asserts.
  template <class Pred>
  bool run_until(Pred pred) {
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!pred() && std::chrono::steady_clock::now() < give_up) {
      std::uint64_t before = posts_done->load();
      d->step(now);
      while (d->stats("mk").sending && posts_done->load() == before && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      now += 100;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return pred();
  }
};

TEST_F(Fixture, SignedCoalescedBatchInSeqOrderIsAcked) {
  core.publish("mk", "A", 5);
  core.publish("mk", "B", 3);
  core.publish("mk", "A", 7);  // replaces A=5: seq 3
  ASSERT_TRUE(run_until([&] { return !core.acks.empty(); }));
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].body, R"({"channel":"mk","publications":[{"sku":"B","quantity":3,"seq":2},{"sku":"A","quantity":7,"seq":3}]})");
  EXPECT_EQ(reqs[0].headers["x-stockd-signature"], "sha256=" + hmac_sha256_hex("s3cret", reqs[0].body));
  EXPECT_EQ(reqs[0].headers["content-type"], "application/json");
  EXPECT_EQ(core.acks, (std::vector<std::pair<std::string, std::uint64_t>>{{"mk", 3}}));
  EXPECT_EQ(core.backlog("mk"), 0u);
  // Later publications go in a later batch, after the acked seq.
  core.publish("mk", "C", 1);
  ASSERT_TRUE(run_until([&] { return core.acks.size() == 2; }));
  EXPECT_EQ(json::parse(rx.requests().back().body)["publications"],
            json::parse(R"([{"sku":"C","quantity":1,"seq":4}])"));
  EXPECT_EQ(d->stats("mk").delivered_seq, 4u);
  EXPECT_TRUE(core.calls.empty());
}

TEST_F(Fixture, AnAckTheCoreDidNotApplyIsAskedAgain) {
  core.drop_acks = true;  // the ack's batch fails (storage unavailable)
  core.publish("mk", "A", 5);
  ASSERT_TRUE(run_until([&] { return !core.acks.empty(); }));
  EXPECT_EQ(core.backlog("mk"), 1u);
  core.drop_acks = false;
  const std::int64_t acked_at = now;
  ASSERT_TRUE(run_until([&] { return core.acks.size() == 2; }));
  EXPECT_GE(now - acked_at, 5000 - 100);  // asked again after 5 s, not at every step
  EXPECT_EQ(core.acks.back(), (std::pair<std::string, std::uint64_t>{"mk", 1}));
  EXPECT_EQ(core.backlog("mk"), 0u);
  EXPECT_EQ(rx.requests().size(), 1u);  // the receiver had it: not sent again
}

TEST_F(Fixture, FailuresAreRetriedWithTheLatestQuantities) {
  rx.script({503, 500});
  core.publish("mk", "A", 5);
  ASSERT_TRUE(run_until([&] { return rx.requests().size() >= 1; }));
  core.publish("mk", "A", 9);  // changes while failing: the retry carries the latest
  ASSERT_TRUE(run_until([&] { return !core.acks.empty(); }));
  auto reqs = rx.requests();
  ASSERT_GE(reqs.size(), 3u);
  EXPECT_EQ(json::parse(reqs.back().body)["publications"], json::parse(R"([{"sku":"A","quantity":9,"seq":2}])"));
  for (const auto& r : reqs) EXPECT_EQ(r.headers.at("x-stockd-signature"), "sha256=" + hmac_sha256_hex("s3cret", r.body));
  EXPECT_EQ(d->stats("mk").failures_total, 2u);
  EXPECT_EQ(d->stats("mk").consecutive_failures, 0u);
  EXPECT_EQ(core.acks.back().second, 2u);
  std::string view;
  d->render(view, now);
  json v = json::parse(view)["deliveries"][0];
  EXPECT_EQ(v["channel"], "mk");
  EXPECT_EQ(v["failures_total"], 2);
  EXPECT_EQ(v["last_error"], "HTTP 500");
}

TEST_F(Fixture, FreezeAfterFreezeAfterSThenUnfreezeOnFirstSuccess) {
  rx.always(503);
  core.publish("mk", "A", 5);
  const std::int64_t first_attempt = now;  // the first step sends it
  ASSERT_TRUE(run_until([&] { return !core.calls.empty(); }));
  // freeze_after_s is 1: frozen at the first step at least a second after the first failed attempt
  // started (run_until has moved one step on since).
  EXPECT_EQ(now - 100 - first_attempt, 1000);
  EXPECT_EQ(core.calls, (std::vector<std::string>{"freeze mk delivery_failing"}));
  EXPECT_EQ(alerts.raised, (std::vector<std::string>{"delivery_failing mk", "channel_frozen mk"}));
  EXPECT_TRUE(core.acks.empty());
  // Still failing: no second freeze, no repeated alerts.
  std::size_t seen = rx.requests().size();
  ASSERT_TRUE(run_until([&] { return rx.requests().size() >= seen + 3; }));
  EXPECT_EQ(core.calls.size(), 1u);
  EXPECT_EQ(alerts.raised.size(), 2u);
  rx.always(200);
  ASSERT_TRUE(run_until([&] { return !core.acks.empty(); }));
  EXPECT_EQ(core.calls, (std::vector<std::string>{"freeze mk delivery_failing", "unfreeze mk"}));
  EXPECT_FALSE(alerts.latch.fired("channel_frozen", "mk"));  // re-armed
  EXPECT_FALSE(core.hooks[0].frozen);
}

TEST_F(Fixture, AChannelFrozenByHandIsNeverFrozenOrUnfrozenByDeliveries) {
  core.hooks[0].frozen = true;  // by hand: frozen_for_delivery stays false
  rx.always(503);
  core.publish("mk", "A", 5);
  ASSERT_TRUE(run_until([&] { return !alerts.raised.empty(); }));
  EXPECT_EQ(alerts.raised, (std::vector<std::string>{"delivery_failing mk"}));
  rx.always(200);
  ASSERT_TRUE(run_until([&] { return !core.acks.empty(); }));
  EXPECT_TRUE(core.calls.empty());
  EXPECT_TRUE(core.hooks[0].frozen);
}

TEST_F(Fixture, AChannelFrozenForDeliveryWithNothingToSendIsProbedAndUnfrozen) {
  core.hooks[0].frozen = core.hooks[0].frozen_for_delivery = true;  // e.g. before a restart
  ASSERT_TRUE(run_until([&] { return !core.calls.empty(); }));
  EXPECT_EQ(core.calls, (std::vector<std::string>{"unfreeze mk"}));
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].body, R"({"channel":"mk","publications":[]})");
  EXPECT_TRUE(core.acks.empty());  // a probe acknowledges nothing
  // Unfrozen and nothing to send: no more requests.
  for (int i = 0; i < 20; ++i) {
    d->step(now);
    now += 100;
  }
  EXPECT_EQ(rx.requests().size(), 1u);
}

TEST_F(Fixture, ADeadEndpointDelaysOnlyItsOwnChannel) {
  // "dead": nothing listens there (connection refused), so its channel fails while "mk" is served.
  core.hooks.push_back(WebhookChannel{"dead", "http://127.0.0.1:1/x", "k", 60, false, false});
  core.publish("dead", "A", 1);
  core.publish("mk", "A", 2);
  ASSERT_TRUE(run_until([&] { return !core.acks.empty() && d->stats("dead").failures_total >= 1; }));
  EXPECT_EQ(core.acks.front().first, "mk");
  EXPECT_FALSE(d->stats("dead").last_error.empty());
  EXPECT_EQ(core.backlog("dead"), 1u);
}

TEST_F(Fixture, MetricsPerChannel) {
  core.publish("mk", "A", 2);
  rx.always(503);
  ASSERT_TRUE(run_until([&] { return d->stats("mk").failures_total >= 2; }));
  std::string out;
  Prometheus p(out);
  d->render_metrics(p, now);
  EXPECT_NE(out.find("stockd_delivery_failures_total{channel=\"mk\"} "), std::string::npos) << out;
  EXPECT_NE(out.find("stockd_delivery_queue_depth{channel=\"mk\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("stockd_delivery_lag_seconds{channel=\"mk\"} "), std::string::npos) << out;
  EXPECT_EQ(out.find("stockd_delivery_lag_seconds{channel=\"mk\"} 0\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace stockd::server

namespace stockd::server {
namespace {

// The server's wiring: the actions are recorded as data for the loop to turn into commands.
TEST(DeliveryActionQueue, RecordsWhatDeliveriesAskOfTheCore) {
  Receiver rx;
  FakeCore core;
  core.hooks.push_back(WebhookChannel{"mk", rx.url(), "k", 1, false, false});
  core.publish("mk", "A", 4);
  DeliveryActionQueue queue;
  DeliveryOptions o;
  o.uniform01 = [] { return 0.0; };
  Deliveries d(core, queue, nullptr, o);
  std::vector<DeliveryAction> got;
  std::int64_t now = 1'000;
  for (int i = 0; i < 20'000 && got.empty(); ++i) {
    d.step(now);
    now += 100;
    got = queue.take();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].kind, DeliveryAction::Kind::ack);
  EXPECT_EQ(got[0].channel, "mk");
  EXPECT_EQ(got[0].seq, 1u);
  EXPECT_TRUE(queue.take().empty());
  EXPECT_TRUE(core.acks.empty());  // the queue, not the core, got it
}

}  // namespace
}  // namespace stockd::server
