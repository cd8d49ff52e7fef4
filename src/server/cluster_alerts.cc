// The cluster's alert source (cluster_alerts.h).
#include "server/cluster_alerts.h"

#include <chrono>
#include <memory>

#include "backends/cluster_events.h"
#include "spdlog/spdlog.h"
#include "store/clock.h"

namespace stockd::server {
namespace {

constexpr int kWaitMs = 250;        // one long poll of the feed (bounds the reaction to stop and to set_wanted)
constexpr int kRetryMs = 1000;      // after an error, or while another node sends
constexpr std::size_t kPage = 1000;
// Events older than this when read are not alerted: a sender taking over after a long gap (or the
// first one ever) does not flood the robot with stale states.
constexpr std::int64_t kStaleMs = 300'000;

bool alerting(core::EventType t) {
  switch (t) {
    case core::EventType::low_stock:
    case core::EventType::out_of_stock:
    case core::EventType::channel_frozen:
    case core::EventType::channel_updated:
    case core::EventType::exposure_deficit:
    case core::EventType::delivery_failing: return true;
    default: return false;
  }
}

}  // namespace

void ClusterAlertFeed::start() {
  std::lock_guard<std::mutex> g(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { main(); });
}

void ClusterAlertFeed::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ClusterAlertFeed::take(std::vector<net::EventRecord>* out) {
  std::lock_guard<std::mutex> g(mu_);
  while (!queue_.empty()) {
    out->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

bool ClusterAlertFeed::pause(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
  return !stop_;
}

void ClusterAlertFeed::main() {
  std::unique_ptr<backends::ClusterEvents> ev;
  std::uint64_t after = 0;
  bool was_leading = false;
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stop_) break;
    }
    std::string error;
    if (!wanted_.load(std::memory_order_relaxed)) {
      ev.reset();  // gives the lock up: another node with a URL may send
      leading_.store(false, std::memory_order_relaxed);
      was_leading = false;
      if (!pause(kWaitMs)) break;
      continue;
    }
    if (!ev) ev = backends::ClusterEvents::open({conninfo_}, &error);
    bool leading = false;
    // Asked every round: a connection the reader re-made has lost the lock (the lock is re-entrant,
    // so asking again while holding it costs nothing but the round trip).
    if (!ev || !ev->lead_alerts(&leading, &error)) {
      spdlog::warn("event=alerts_feed_failed error=\"{}\"", error);
      ev.reset();
      leading_.store(false, std::memory_order_relaxed);
      was_leading = false;
      if (!pause(kRetryMs)) break;
      continue;
    }
    leading_.store(leading, std::memory_order_relaxed);
    if (!leading) {
      was_leading = false;
      if (!pause(kRetryMs)) break;
      continue;
    }
    if (!was_leading) {
      // Where the last sender stopped; the first sender ever starts kStaleMs back.
      bool found = false;
      if (!ev->alerts_cursor(&after, &found, &error) || (!found && !ev->seq_before(store::wall_clock_ms() - kStaleMs, &after, &error)) ||
          (!found && !ev->save_alerts_cursor(after, &error))) {
        ev.reset();
        if (!pause(kRetryMs)) break;
        continue;
      }
      spdlog::info("event=alerts_feed_leading after={}", after);
      was_leading = true;
    }
    bool ready = false;
    std::vector<net::EventRecord> records;
    std::uint64_t next = after;
    if (!ev->wait(after, kWaitMs, &ready, &error) || (ready && !ev->read(after, kPage, &records, &next, &error)) ||
        (ready && !ev->save_alerts_cursor(next, &error))) {
      spdlog::warn("event=alerts_feed_failed error=\"{}\"", error);
      ev.reset();
      was_leading = false;
      if (!pause(kRetryMs)) break;
      continue;
    }
    after = next;
    std::lock_guard<std::mutex> g(mu_);
    const std::int64_t stale_before = store::wall_clock_ms() - kStaleMs;
    for (net::EventRecord& r : records) {
      if (!alerting(r.type) || r.at_ms < stale_before) continue;
      if (queue_.size() >= kAlertFeedQueueMax) {
        queue_.pop_front();
        dropped_.fetch_add(1, std::memory_order_relaxed);
      }
      queue_.push_back(std::move(r));
    }
  }
  leading_.store(false, std::memory_order_relaxed);
}

}  // namespace stockd::server
