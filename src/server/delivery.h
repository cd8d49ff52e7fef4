// delivery.h: webhook push of listed channels' publications (the contract's "Push" and "Channel
// isolation"), off the write path.
//
// The core keeps, per listed channel, its unacknowledged publications, coalesced (the latest quantity
// per SKU): that is the durable queue, so nothing is lost across restarts and memory stays bounded by
// SKUs x channels. Deliveries reads it through PublicationSource and, per channel with a webhook:
//   1. takes up to kDeliveryBatchMax publications after the last delivered seq, in seq order;
//   2. POSTs {"channel":"c","publications":[{"sku","quantity","seq"},...]} with the header
//      X-Stockd-Signature: sha256=<lowercase hex HMAC-SHA256 of the exact body with the secret>;
//   3. on a 2xx reply calls DeliveryActions::ack(channel, last seq of the batch) (the server turns it
//      into the AckPublications command) and goes on with the next batch; an acknowledgement the core
//      did not apply (its batch failed) is asked again after 5 s;
//   4. on a failure (transport error, timeout, non-2xx) retries the same channel with exponential
//      backoff and full jitter (backoff.h: 250 ms doubling up to a 30 s cap), without end; each retry
//      takes the publications afresh, so a SKU changed meanwhile goes out with its latest quantity;
//   5. isolation: once the channel's deliveries have failed without a success for its freeze_after_s,
//      calls freeze(channel, "delivery_failing") and raises the alerts delivery_failing and
//      channel_frozen; the first 2xx afterwards calls unfreeze(channel) and re-arms both alerts. A
//      channel frozen for delivery with nothing to send gets an empty batch as a probe, so that a
//      recovered endpoint unfreezes it. The core never lets unfreeze() lift a freeze made by hand.
// Each channel has its own OutboundWorker (thread): a dead endpoint delays only its own channel.
//
// Threads: every method is called from the event loop's thread (the source and the actions touch the
// core); only the HTTP requests run in the workers.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/prometheus.h"
#include "server/alerts.h"
#include "server/backoff.h"
#include "server/outbound_http.h"

namespace stockd::server {


// The most publications in one webhook request, and the most channels with a webhook served at once.
inline constexpr std::size_t kDeliveryBatchMax = 500;
inline constexpr std::size_t kWebhookChannelsMax = 1024;

struct Publication {
  std::string sku;
  std::int64_t quantity = 0;
  std::uint64_t seq = 0;
  std::int64_t at_ms = 0;  // when it was published; 0 when unknown (lag then counts from first sight)
};

struct WebhookChannel {
  std::string channel;
  std::string url;
  std::string secret;
  std::int64_t freeze_after_s = 60;
  bool frozen = false;               // the channel's state is frozen (for any reason)
  bool frozen_for_delivery = false;  // ... with frozen_reason "delivery_failing"
};

// The core's side, read on the event loop's thread.
class PublicationSource {
 public:
  virtual ~PublicationSource() = default;
  // Every channel that has a webhook now.
  virtual void webhooks(std::vector<WebhookChannel>* out) const = 0;
  // Appends the channel's unacknowledged publications with seq > after, in increasing seq order, at
  // most `limit`, coalesced (one per SKU: the latest).
  virtual void pending(std::string_view channel, std::uint64_t after, std::size_t limit,
                       std::vector<Publication>* out) const = 0;
  // How many unacknowledged publications the channel has (the queue depth).
  virtual std::size_t backlog(std::string_view channel) const = 0;
};

// What deliveries ask of the core; the coordinator turns each call into a command of the next batch.
class DeliveryActions {
 public:
  virtual ~DeliveryActions() = default;
  virtual void ack(std::string_view channel, std::uint64_t seq) = 0;
  virtual void freeze(std::string_view channel, std::string_view reason) = 0;
  virtual void unfreeze(std::string_view channel) = 0;
};

// One request of the deliveries to the core, as data.
struct DeliveryAction {
  enum class Kind : std::uint8_t { ack, freeze, unfreeze };
  Kind kind = Kind::ack;
  std::string channel;
  std::uint64_t seq = 0;   // ack: everything up to it
  std::string reason;      // freeze: "delivery_failing"
};

// DeliveryActions that records the requests; the server's loop takes them after each step and turns
// them into commands of the next engine batch (Server::Outbound::to_command). Bounded: a step asks at
// most one ack and one freeze or unfreeze per channel, and the loop empties it after every step.
class DeliveryActionQueue final : public DeliveryActions {
 public:
  void ack(std::string_view channel, std::uint64_t seq) override {
    actions_.push_back({DeliveryAction::Kind::ack, std::string(channel), seq, {}});
  }
  void freeze(std::string_view channel, std::string_view reason) override {
    actions_.push_back({DeliveryAction::Kind::freeze, std::string(channel), 0, std::string(reason)});
  }
  void unfreeze(std::string_view channel) override {
    actions_.push_back({DeliveryAction::Kind::unfreeze, std::string(channel), 0, {}});
  }
  std::vector<DeliveryAction> take() { return std::exchange(actions_, {}); }

 private:
  std::vector<DeliveryAction> actions_;
};

struct DeliveryOptions {
  Backoff backoff;
  OutboundTimeouts timeouts;
  PostFn post;                        // default: http_post with `timeouts`
  std::function<double()> uniform01;  // default: a seeded std::mt19937_64
};

class Deliveries {
 public:
  Deliveries(PublicationSource& source, DeliveryActions& actions, AlertSink* alerts, DeliveryOptions o = {});
  ~Deliveries();

  // Takes finished requests' results, starts due ones, applies isolation. Called every loop tick and
  // after batches.
  void step(std::int64_t now_ms);

  // GET /v1/deliveries: {"deliveries":[{"channel","url","state","backlog","lag_s","failures_total",
  // "consecutive_failures","last_error","last_success_at","failing_since","next_attempt_at",
  // "delivered_seq"}]} ("state": idle | sending | retrying).
  void render(std::string& out, std::int64_t now_ms) const;
  // stockd_delivery_lag_seconds, stockd_delivery_failures_total, stockd_delivery_queue_depth per channel.
  void render_metrics(net::Prometheus& p, std::int64_t now_ms) const;

  struct ChannelStats {
    std::uint64_t delivered_seq = 0;
    std::uint64_t failures_total = 0;
    std::uint32_t consecutive_failures = 0;
    std::string last_error;
    bool frozen_by_delivery = false;
    bool sending = false;  // a request is in flight or its result not yet taken
  };
  // For tests: one channel's figures (a default when it has no webhook).
  ChannelStats stats(std::string_view channel) const;

 private:
  struct State;
  void on_result(State& st, const WebhookChannel& hook, const OutboundResult& r, std::int64_t now_ms);
  void start(State& st, const WebhookChannel& hook, std::int64_t now_ms);
  void reack(State& st, const WebhookChannel& hook, std::int64_t now_ms);
  void isolate(State& st, const WebhookChannel& hook, std::int64_t now_ms);

  PublicationSource& source_;
  DeliveryActions& actions_;
  AlertSink* alerts_;
  DeliveryOptions opt_;
  std::vector<WebhookChannel> hooks_;
  std::vector<Publication> scratch_;
  std::map<std::string, std::unique_ptr<State>, std::less<>> states_;
  std::vector<std::unique_ptr<State>> retiring_;  // channels that lost their webhook, request in flight
};

}  // namespace stockd::server
