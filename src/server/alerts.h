// alerts.h: alerts to a chat robot or any URL (the contract's "Alerts"): where they go (PUT /v1/alerts,
// kept in <data-dir>/alerts.json; else [alerts] of the config file), which events raise them, and their
// sending, off the write path, retried like webhook deliveries.
//
// Threads: every method is called from the event loop's thread. Only the HTTP request runs elsewhere
// (an OutboundWorker), so a dead alert URL never slows a hold.
// Events: on_events() sees each applied batch's events (live only: replayed events at start-up never
// reach it, so a restart does not repeat old alerts); in cluster mode on_records() sees the ledger's
// feed from where the alerting node left it (ClusterAlertFeed, cluster_alerts.h). Each kind is the core's event of the same name,
// which the core raises once per state change:
//   low_stock         available fell below the threshold
//   out_of_stock      available fell from above 0 to 0 (not a SKU created or left at on_hand 0)
//   exposure_deficit  stock adjusted below what is exposed to a listed channel
//   channel_frozen, delivery_failing   a channel frozen (by hand or by failing deliveries); the webhook
//                     deliveries also raise() them, deduplicated per channel until it is active again
// Bounds: at most kAlertQueueMax alerts wait to be sent; beyond, the oldest is dropped and counted.
// Alerts still queued when stockd stops are lost (the state that raised them is not: see docs).
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/inventory.h"
#include "core/status.h"
#include "net/event_record.h"
#include "net/prometheus.h"
#include "server/alert.h"
#include "server/backoff.h"
#include "server/outbound_http.h"

namespace stockd::server {


inline constexpr std::size_t kAlertQueueMax = 1000;

struct AlertConfig {
  std::string url;
  AlertFormat format = AlertFormat::json;
  bool operator==(const AlertConfig&) const = default;
};

// PUT /v1/alerts's body {"url":"http://...","format":"json|dingtalk|slack|feishu"} ("format" may be
// left out: json). Strict: unknown or repeated fields, wrong types, a URL that is not http:// are
// invalid_request naming the field.
core::Status decode_alert_config(std::string_view body, AlertConfig* out);
// {"url":"...","format":"..."}: the file format of alerts.json as well.
std::string encode_alert_config(const AlertConfig& c);
// alerts.json: absent -> ok with *out empty; unreadable or malformed -> unavailable.
core::Status load_alert_config(const std::string& path, std::optional<AlertConfig>* out);
// Written atomically: a temporary file, fsync, rename, fsync of the directory.
core::Status save_alert_config(const std::string& path, const AlertConfig& c);

// Where alerts are raised. The webhook deliveries raise and clear channel alerts through it.
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  // Queues `a` unless (a.kind, its key) already fired; the key is a.channel, else a.sku.
  virtual void raise(Alert a) = 0;
  // Re-arms (kind, key): the state is over.
  virtual void clear(std::string_view kind, std::string_view key) = 0;
};

struct AlerterOptions {
  std::string data_dir;                   // alerts.json lives here; empty: not persisted (tests)
  std::optional<AlertConfig> from_file;   // [alerts] of the config file
  Backoff backoff;
  OutboundTimeouts timeouts;
  PostFn post;                            // default: http_post with `timeouts`
  std::function<double()> uniform01;      // default: a seeded std::mt19937_64
};

class Alerter final : public AlertSink {
 public:
  explicit Alerter(AlerterOptions o);
  ~Alerter() override;

  // Loads alerts.json; when there is none the config file's [alerts] is in force.
  core::Status open();
  // PUT /v1/alerts: persists, then applies (a failing URL's backoff starts over).
  core::Status put(const AlertConfig& c);
  const std::optional<AlertConfig>& config() const { return config_; }
  // "api" (alerts.json), "config_file" or "none".
  std::string_view config_source() const { return source_; }

  void raise(Alert a) override;
  void clear(std::string_view kind, std::string_view key) override;
  // The alerts a batch's events imply. REQUIRES: inv has not been applied to since the events.
  void on_events(std::span<const core::Event> events, const core::Inventory& inv);
  // The same from events as the feed serves them (the cluster store's ledger feed, ClusterAlertFeed):
  // a channel_updated's `reason` is then the channel's state ("active" re-arms its freeze alert).
  void on_records(std::span<const net::EventRecord> records);
  // Queues a sample alert (kind "test"), past the deduplication. False when no URL is configured.
  bool send_test(std::int64_t now_ms);
  // Takes the finished request's result and starts the next one when due. Called every loop tick.
  void step(std::int64_t now_ms);

  // GET /v1/alerts: {"url","format","source","queued","sent_total","failures_total","dropped_total",
  // "consecutive_failures","last_error","last_sent_at","next_attempt_at"} (url null when none).
  void render(std::string& out) const;
  void render_metrics(net::Prometheus& p) const;
  std::size_t queued() const { return queue_.size(); }
  std::uint64_t sent_total() const { return sent_total_; }

 private:
  // One event, by name (on_events and on_records).
  struct Named {
    core::EventType type;
    std::string_view sku, channel, reason;
    std::int64_t at_ms = 0, available = 0, threshold = 0, on_hand = 0, delta = 0;
    bool channel_active = false;  // channel_updated: the channel is active now
  };
  void on_event(const Named& e);
  void enqueue(Alert a);

  AlerterOptions opt_;
  std::optional<AlertConfig> config_;
  std::string_view source_ = "none";
  AlertLatch latch_;
  std::deque<Alert> queue_;
  std::unique_ptr<OutboundWorker> worker_;
  std::uint32_t failures_ = 0;  // consecutive, for the backoff
  std::int64_t next_attempt_ms_ = 0;
  std::uint64_t sent_total_ = 0, failures_total_ = 0, dropped_total_ = 0;
  std::string last_error_;
  std::int64_t last_sent_ms_ = 0;
};

}  // namespace stockd::server
