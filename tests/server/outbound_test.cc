// The pure parts of stockd's outbound pushes: the webhook signature (RFC 4231 vectors), the alert
// bodies of each format, the retry schedule (docs/channels.md: 250 ms doubling, 30 s cap, full jitter),
// the alert latch, outbound URLs, and the Alerter's deduplication and retries with a fake transport.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/alert.h"
#include "server/alerts.h"
#include "server/backoff.h"
#include "server/hmac.h"
#include "server/outbound_http.h"

namespace stockd::server {
namespace {

using nlohmann::json;

TEST(Hmac, Rfc4231TestCase1) {
  EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(Hmac, Rfc4231TestCase2KeyShorterThanOutput) {
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, Rfc4231TestCase6KeyLargerThanBlock) {
  EXPECT_EQ(hmac_sha256_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Hmac, SignatureHeaderValue) {
  EXPECT_EQ(webhook_signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

Alert sample() {
  // 2026-12-07T03:00:00.250Z
  return Alert{"low_stock", "A\"1", "", 1796612400250, "low stock: SKU A\"1 available 3 is below its threshold 10",
               {{"available", 3}, {"threshold", 10}}, {{"note", "x"}}};
}

TEST(AlertBody, JsonCarriesKindSkuTimeMessageAndFigures) {
  json j = json::parse(alert_body(sample(), AlertFormat::json));
  EXPECT_EQ(j, json::parse(R"({"alert":"low_stock","sku":"A\"1","at":"2026-12-07T03:00:00.250Z",
      "message":"low stock: SKU A\"1 available 3 is below its threshold 10","available":3,"threshold":10,"note":"x"})"));
  Alert ch{"channel_frozen", "", "tmall", 0, "m", {}, {}};
  json k = json::parse(alert_body(ch, AlertFormat::json));
  EXPECT_EQ(k["channel"], "tmall");
  EXPECT_FALSE(k.contains("sku"));
}

TEST(AlertBody, ChatFormatsInTheRobotsShapes) {
  const std::string text = "[stockd] low stock: SKU A\"1 available 3 is below its threshold 10 (at 2026-12-07T03:00:00.250Z)";
  EXPECT_EQ(json::parse(alert_body(sample(), AlertFormat::dingtalk)),
            (json{{"msgtype", "text"}, {"text", {{"content", text}}}}));
  EXPECT_EQ(json::parse(alert_body(sample(), AlertFormat::slack)), (json{{"text", text}}));
  EXPECT_EQ(json::parse(alert_body(sample(), AlertFormat::feishu)),
            (json{{"msg_type", "text"}, {"content", {{"text", text}}}}));
}

TEST(AlertFormatNames, RoundTripAndRefuseOthers) {
  for (const char* n : {"json", "dingtalk", "slack", "feishu"}) EXPECT_EQ(alert_format_name(*parse_alert_format(n)), n);
  EXPECT_FALSE(parse_alert_format("teams"));
  EXPECT_FALSE(parse_alert_format("JSON"));
}

TEST(Backoff, CeilingDoublesFrom250msUpToThe30sCap) {
  Backoff b;  // the documented schedule
  std::vector<std::int64_t> ceilings;
  for (std::uint32_t n = 1; n <= 10; ++n) ceilings.push_back(b.ceiling_ms(n));
  EXPECT_EQ(ceilings, (std::vector<std::int64_t>{250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000}));
  EXPECT_EQ(b.ceiling_ms(4'000'000'000u), 30000);
}

TEST(Backoff, FullJitterSpansZeroToTheCeiling) {
  Backoff b;
  EXPECT_EQ(b.delay_ms(3, 0.0), 0);
  EXPECT_EQ(b.delay_ms(3, 0.5), 500);
  EXPECT_EQ(b.delay_ms(3, 0.9999999), 1000);
  EXPECT_EQ(b.delay_ms(20, 0.9999999), 30000);
}

TEST(AlertLatch, OncePerStateChange) {
  AlertLatch l;
  EXPECT_TRUE(l.fire("out_of_stock", "A"));
  EXPECT_FALSE(l.fire("out_of_stock", "A"));
  EXPECT_TRUE(l.fire("out_of_stock", "B"));
  EXPECT_TRUE(l.fire("channel_frozen", "A"));  // another kind, same key
  EXPECT_TRUE(l.any("out_of_stock"));
  EXPECT_FALSE(l.any("low_stock"));
  EXPECT_TRUE(l.clear("out_of_stock", "A"));
  EXPECT_FALSE(l.clear("out_of_stock", "A"));
  EXPECT_TRUE(l.fire("out_of_stock", "A"));
  EXPECT_EQ(l.size(), 3u);
}

TEST(OutboundUrl, HttpOnlyWithHostPortAndTarget) {
  OutboundUrl u;
  std::string err;
  ASSERT_TRUE(parse_outbound_url("http://127.0.0.1:9000/hook?x=1", &u, &err)) << err;
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 9000);
  EXPECT_EQ(u.target, "/hook?x=1");
  ASSERT_TRUE(parse_outbound_url("http://example.com", &u, &err)) << err;
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.target, "/");
  ASSERT_TRUE(parse_outbound_url("http://[::1]:81?q", &u, &err)) << err;
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 81);
  EXPECT_EQ(u.target, "/?q");
  for (const char* bad : {"https://example.com/", "ftp://x", "http://", "http://h:0/", "http://h:65536/",
                          "http://h:x/", "http://u:p@h/", "http://h/a b"}) {
    EXPECT_FALSE(parse_outbound_url(bad, &u, &err)) << bad;
  }
  EXPECT_FALSE(parse_outbound_url("http://h/" + std::string(2048, 'a'), &u, &err));
}

TEST(OutboundUrl, OriginForLogsLeavesOutPathAndQuery) {
  EXPECT_EQ(url_origin("http://10.0.0.5/robot/send?access_token=SECRET"), "http://10.0.0.5:80");
  EXPECT_EQ(url_origin("http://[::1]:81/services/T/B/SECRET"), "http://[::1]:81");
  EXPECT_EQ(url_origin("https://x/"), "(invalid url)");
}

TEST(AlertConfigBody, StrictDecode) {
  AlertConfig c;
  ASSERT_TRUE(decode_alert_config(R"({"url":"http://h/x","format":"feishu"})", &c).ok());
  EXPECT_EQ(c, (AlertConfig{"http://h/x", AlertFormat::feishu}));
  ASSERT_TRUE(decode_alert_config(R"({"url":"http://h/x"})", &c).ok());
  EXPECT_EQ(c.format, AlertFormat::json);
  for (const char* bad : {"", "[]", "{}", R"({"url":"https://h"})", R"({"url":"http://h","format":"x"})",
                          R"({"url":"http://h","x":1})", R"({"url":1})", R"({"url":"http://h","format":null})"}) {
    EXPECT_EQ(decode_alert_config(bad, &c).code, core::Code::invalid_request) << bad;
  }
}

// A transport that answers from a script and records what it was sent.
struct FakePost {
  std::mutex mu;
  std::vector<int> statuses;  // answers in order; 200 once the script is used up
  std::vector<OutboundRequest> sent;
  OutboundResult operator()(const OutboundRequest& r) {
    std::lock_guard lock(mu);
    int st = sent.size() < statuses.size() ? statuses[sent.size()] : 200;
    sent.push_back(r);
    return OutboundResult{st, st == 200 ? "" : "HTTP " + std::to_string(st)};
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return sent.size();
  }
};

// Steps `a` on fake time (100 ms per step) until pred() holds; the worker thread answers in real time,
// so this waits on the real clock too, bounded (a failure is the predicate, never the time taken).
template <class Pred>
bool run_until(Alerter& a, std::int64_t* now, Pred pred) {
  for (int i = 0; i < 20'000 && !pred(); ++i) {
    a.step(*now);
    *now += 100;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return pred();
}

TEST(Alerter, DeduplicatesPerStateChangeAndRetriesUntilDelivered) {
  auto post = std::make_shared<FakePost>();
  post->statuses = {503, 503};
  AlerterOptions o;
  o.post = [post](const OutboundRequest& r) { return (*post)(r); };
  o.uniform01 = [] { return 0.5; };
  o.from_file = AlertConfig{"http://127.0.0.1:1/alerts", AlertFormat::json};
  Alerter a(o);
  ASSERT_TRUE(a.open().ok());
  EXPECT_EQ(a.config_source(), "config_file");
  Alert frozen{"channel_frozen", "", "tmall", 1, "frozen", {}, {}};
  a.raise(frozen);
  a.raise(frozen);  // same state: dropped
  EXPECT_EQ(a.queued(), 1u);
  a.clear("channel_frozen", "tmall");
  a.raise(frozen);  // a new state change
  EXPECT_EQ(a.queued(), 2u);
  std::int64_t now = 1'000'000;
  ASSERT_TRUE(run_until(a, &now, [&] { return a.sent_total() == 2; })) << "sent " << a.sent_total();
  // Two failures, then the first alert, then the second: four requests, the first three alike.
  ASSERT_EQ(post->count(), 4u);
  EXPECT_EQ(post->sent[0].body, post->sent[2].body);
  EXPECT_EQ(json::parse(post->sent[3].body)["alert"], "channel_frozen");
  EXPECT_EQ(post->sent[0].url, "http://127.0.0.1:1/alerts");
  std::string state;
  a.render(state);
  json s = json::parse(state);
  EXPECT_EQ(s["failures_total"], 2);
  EXPECT_EQ(s["queued"], 0);
  EXPECT_EQ(s["last_error"], "HTTP 503");
}

TEST(Alerter, NoUrlNoQueueButTheLatchStillHolds) {
  AlerterOptions o;
  o.post = [](const OutboundRequest&) { return OutboundResult{200, ""}; };
  Alerter a(o);
  ASSERT_TRUE(a.open().ok());
  EXPECT_FALSE(a.send_test(1));
  a.raise(Alert{"out_of_stock", "A", "", 1, "m", {}, {}});
  EXPECT_EQ(a.queued(), 0u);
  ASSERT_TRUE(a.put(AlertConfig{"http://127.0.0.1:1/", AlertFormat::slack}).ok());
  a.raise(Alert{"out_of_stock", "A", "", 1, "m", {}, {}});  // still the same state: not repeated
  EXPECT_EQ(a.queued(), 0u);
  EXPECT_TRUE(a.send_test(1));
  EXPECT_EQ(a.queued(), 1u);
}

}  // namespace
}  // namespace stockd::server
