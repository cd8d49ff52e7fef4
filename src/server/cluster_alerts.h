// cluster_alerts.h: the source of alerts in cluster mode (docs/cluster.md "Alerts").
//
// The embedded store hands each batch's events to the Alerter as they are applied. A cluster has no
// such place: its events are the ledger's feed in PostgreSQL (backends::ClusterEvents). This thread
// follows that feed and queues the events the Alerter turns into alerts (low_stock, out_of_stock,
// channel_frozen, channel_updated); the loop takes them at its tick (take()) and gives them to
// Alerter::on_records, so the Alerter stays on the loop's thread. Only one node sends: the holder of
// a session advisory lock in PostgreSQL, tried only while this node has an alert URL (set_wanted); it
// continues from the seq the last holder reached (table alert_cursor), so a node dying hands the
// alerts to another without repeating what was already queued (alerts queued and not yet sent by a
// dying node are lost, as on the embedded store at a stop). Events older than 5 minutes when read are
// not alerted (a sender after a long gap, or the first one ever, starting 5 minutes back).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/event_record.h"

namespace stockd::server {

inline constexpr std::size_t kAlertFeedQueueMax = 10'000;  // events waiting for the loop; beyond, the oldest go

class ClusterAlertFeed {
 public:
  explicit ClusterAlertFeed(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  ~ClusterAlertFeed() { stop(); }
  ClusterAlertFeed(const ClusterAlertFeed&) = delete;
  ClusterAlertFeed& operator=(const ClusterAlertFeed&) = delete;

  void start();
  void stop();
  // On the loop's thread: whether this node wants to send alerts (it has a URL), and the events read
  // since the last call.
  void set_wanted(bool wanted) { wanted_.store(wanted, std::memory_order_relaxed); }
  void take(std::vector<net::EventRecord>* out);
  bool leading() const { return leading_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  void main();
  bool pause(int ms);  // false once stopping

  std::string conninfo_;
  std::atomic<bool> wanted_{false}, leading_{false};
  std::atomic<std::uint64_t> dropped_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<net::EventRecord> queue_;
  std::thread thread_;
};

}  // namespace stockd::server
