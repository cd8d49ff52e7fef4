#include "server/delivery.h"

#include <random>

#include "core/assert.h"
#include "core/json_writer.h"
#include "server/hmac.h"
#include "server/metrics.h"
#include "spdlog/spdlog.h"

namespace stockd::server {
namespace {

namespace json = core::json;

constexpr std::string_view kFrozenReason = "delivery_failing";
// An acknowledgement the core has not applied after this long (its batch failed: storage unavailable)
// is sent again; AckPublications is idempotent.
constexpr std::int64_t kReackMs = 5000;

// {"channel":"c","publications":[{"sku","quantity","seq"},...]}
std::string batch_body(std::string_view channel, const std::vector<Publication>& pubs) {
  std::string out = "{";
  json::append_key(out, "channel");
  json::append_string(out, channel);
  out += ',';
  json::append_key(out, "publications");
  out += '[';
  for (std::size_t i = 0; i < pubs.size(); ++i) {
    if (i) out += ',';
    out += '{';
    json::append_key(out, "sku");
    json::append_string(out, pubs[i].sku);
    out += ',';
    json::append_key(out, "quantity");
    json::append_int(out, pubs[i].quantity);
    out += ',';
    json::append_key(out, "seq");
    json::append_uint(out, pubs[i].seq);
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace

struct Deliveries::State {
  std::unique_ptr<OutboundWorker> worker;
  std::string url;
  std::uint64_t delivered_seq = 0;     // the receiver answered 2xx for everything up to here
  std::uint64_t inflight_last_seq = 0; // the batch in flight ends here (0: a probe)
  std::int64_t attempt_start_ms = 0;
  std::uint32_t consecutive_failures = 0;
  std::uint64_t failures_total = 0;
  std::string last_error;
  std::int64_t failing_since_ms = 0;   // start of the first failed attempt since the last success (0: none)
  std::int64_t next_attempt_ms = 0;
  std::int64_t last_success_ms = 0;
  std::int64_t oldest_pending_ms = 0;  // when the oldest undelivered publication was published (0: none)
  std::int64_t acked_ms = 0;           // when ack() was last called
  std::size_t backlog = 0;
  bool frozen_by_delivery = false;     // this process called freeze() and no unfreeze() since
  bool unfreeze_sent = false;          // unfreeze() called; the core may not have applied it yet
};

Deliveries::Deliveries(PublicationSource& source, DeliveryActions& actions, AlertSink* alerts, DeliveryOptions o)
    : source_(source), actions_(actions), alerts_(alerts), opt_(std::move(o)) {
  if (!opt_.post) opt_.post = default_post(opt_.timeouts);
  if (!opt_.uniform01) opt_.uniform01 = seeded_uniform01();
}

Deliveries::~Deliveries() = default;

void Deliveries::step(std::int64_t now_ms) {
  hooks_.clear();
  source_.webhooks(&hooks_);
  if (hooks_.size() > kWebhookChannelsMax) hooks_.resize(kWebhookChannelsMax);
  for (const WebhookChannel& hook : hooks_) {
    auto it = states_.find(hook.channel);
    if (it == states_.end()) {
      auto st = std::make_unique<State>();
      st->worker = std::make_unique<OutboundWorker>(opt_.post);
      it = states_.emplace(hook.channel, std::move(st)).first;
    }
    State& st = *it->second;
    st.url = hook.url;
    if (!hook.frozen_for_delivery) st.unfreeze_sent = false;
    if (std::optional<OutboundResult> r = st.worker->take()) on_result(st, hook, *r, now_ms);
    if (st.delivered_seq > 0 && now_ms - st.acked_ms >= kReackMs) reack(st, hook, now_ms);
    if (!st.worker->busy() && now_ms >= st.next_attempt_ms) start(st, hook, now_ms);
    isolate(st, hook, now_ms);
    st.backlog = source_.backlog(hook.channel);
  }
  // Channels that lost their webhook: their worker goes once its request (if any) is over.
  for (auto it = states_.begin(); it != states_.end();) {
    bool listed = false;
    for (const WebhookChannel& h : hooks_) listed = listed || h.channel == it->first;
    if (listed) {
      ++it;
      continue;
    }
    retiring_.push_back(std::move(it->second));
    it = states_.erase(it);
  }
  std::erase_if(retiring_, [](const std::unique_ptr<State>& st) {
    return !st->worker->busy() || st->worker->take().has_value();
  });
}

// The receiver has everything up to delivered_seq; if the core still holds a publication at or below
// it, its acknowledgement was lost on the way (a failed batch): ask again.
void Deliveries::reack(State& st, const WebhookChannel& hook, std::int64_t now_ms) {
  scratch_.clear();
  source_.pending(hook.channel, 0, 1, &scratch_);
  st.acked_ms = now_ms;
  if (!scratch_.empty() && scratch_.front().seq <= st.delivered_seq) actions_.ack(hook.channel, st.delivered_seq);
}

void Deliveries::start(State& st, const WebhookChannel& hook, std::int64_t now_ms) {
  scratch_.clear();
  source_.pending(hook.channel, st.delivered_seq, kDeliveryBatchMax, &scratch_);
  OutboundRequest req;
  req.url = hook.url;
  if (scratch_.empty()) {
    st.oldest_pending_ms = 0;
    if (st.consecutive_failures > 0 && !st.frozen_by_delivery) {  // nothing left to fail on
      st.consecutive_failures = 0;
      st.failing_since_ms = 0;
    }
    // A channel frozen for delivery is unfrozen by a success: with nothing to send, probe.
    bool probe = (hook.frozen_for_delivery || st.frozen_by_delivery) && !st.unfreeze_sent;
    if (!probe) return;
    st.inflight_last_seq = 0;
  } else {
    std::uint64_t prev = st.delivered_seq;
    std::int64_t oldest = 0;
    for (const Publication& p : scratch_) {
      STOCKD_ASSERT(p.seq > prev);  // PublicationSource: seq > after, increasing
      prev = p.seq;
      if (p.at_ms > 0 && (oldest == 0 || p.at_ms < oldest)) oldest = p.at_ms;
    }
    if (oldest > 0) st.oldest_pending_ms = oldest;
    else if (st.oldest_pending_ms == 0) st.oldest_pending_ms = now_ms;
    st.inflight_last_seq = scratch_.back().seq;
  }
  req.body = batch_body(hook.channel, scratch_);
  req.headers.emplace_back("X-Stockd-Signature", webhook_signature(hook.secret, req.body));
  st.attempt_start_ms = now_ms;
  st.worker->submit(std::move(req));
}

void Deliveries::on_result(State& st, const WebhookChannel& hook, const OutboundResult& r, std::int64_t now_ms) {
  if (r.ok()) {
    if (st.inflight_last_seq > 0) {
      st.delivered_seq = st.inflight_last_seq;
      st.acked_ms = now_ms;
      actions_.ack(hook.channel, st.delivered_seq);
    }
    st.consecutive_failures = 0;
    st.failing_since_ms = 0;
    st.next_attempt_ms = 0;
    st.last_success_ms = now_ms;
    st.oldest_pending_ms = 0;
    if ((st.frozen_by_delivery || hook.frozen_for_delivery) && !st.unfreeze_sent) {
      actions_.unfreeze(hook.channel);
      st.unfreeze_sent = hook.frozen_for_delivery || st.frozen_by_delivery;
      st.frozen_by_delivery = false;
      spdlog::info("event=delivery_recovered channel={}", hook.channel);
    }
    if (alerts_) {
      alerts_->clear("delivery_failing", hook.channel);
      alerts_->clear("channel_frozen", hook.channel);
    }
    return;
  }
  ++st.consecutive_failures;
  ++st.failures_total;
  st.last_error = r.error;
  if (st.failing_since_ms == 0) st.failing_since_ms = st.attempt_start_ms;
  st.next_attempt_ms = now_ms + opt_.backoff.delay_ms(st.consecutive_failures, opt_.uniform01());
  if (st.consecutive_failures == 1) spdlog::warn("event=delivery_failed channel={} error=\"{}\"", hook.channel, r.error);
}

void Deliveries::isolate(State& st, const WebhookChannel& hook, std::int64_t now_ms) {
  if (st.failing_since_ms == 0 || st.frozen_by_delivery || hook.frozen_for_delivery) return;
  if (now_ms - st.failing_since_ms < hook.freeze_after_s * 1000) return;
  std::string seconds = std::to_string((now_ms - st.failing_since_ms) / 1000);
  if (alerts_)
    alerts_->raise(Alert{"delivery_failing", "", hook.channel, now_ms,
                         "deliveries to channel " + hook.channel + " have failed for " + seconds + " s: " + st.last_error,
                         {{"failures", st.consecutive_failures}}, {{"error", st.last_error}}});
  if (hook.frozen) {  // frozen by hand: nothing to do but tell
    st.frozen_by_delivery = false;
    return;
  }
  st.frozen_by_delivery = true;
  st.unfreeze_sent = false;
  actions_.freeze(hook.channel, kFrozenReason);
  spdlog::warn("event=channel_frozen channel={} reason=delivery_failing failing_s={}", hook.channel, seconds);
  if (alerts_)
    alerts_->raise(Alert{"channel_frozen", "", hook.channel, now_ms,
                         "channel " + hook.channel + " frozen: its deliveries have failed for " + seconds + " s",
                         {}, {{"reason", std::string(kFrozenReason)}}});
}

Deliveries::ChannelStats Deliveries::stats(std::string_view channel) const {
  ChannelStats s;
  auto it = states_.find(channel);
  if (it == states_.end()) return s;
  const State& st = *it->second;
  s.delivered_seq = st.delivered_seq;
  s.failures_total = st.failures_total;
  s.consecutive_failures = st.consecutive_failures;
  s.last_error = st.last_error;
  s.frozen_by_delivery = st.frozen_by_delivery;
  s.sending = st.worker->busy();
  return s;
}

void Deliveries::render(std::string& out, std::int64_t now_ms) const {
  out += "{\"deliveries\":[";
  bool first = true;
  auto time_or_null = [&](std::string_view k, std::int64_t ms) {
    out += ',';
    json::append_key(out, k);
    if (ms == 0) out += "null";
    else json::append_time(out, ms);
  };
  for (const auto& [channel, stp] : states_) {
    const State& st = *stp;
    if (!first) out += ',';
    first = false;
    out += '{';
    json::append_key(out, "channel");
    json::append_string(out, channel);
    out += ',';
    json::append_key(out, "url");
    json::append_string(out, st.url);
    out += ',';
    json::append_key(out, "state");
    json::append_string(out, st.worker->busy() ? "sending" : st.consecutive_failures > 0 ? "retrying" : "idle");
    out += ",\"backlog\":";
    json::append_uint(out, st.backlog);
    out += ",\"lag_s\":";
    out += std::to_string(st.oldest_pending_ms == 0 ? 0.0 : static_cast<double>(now_ms - st.oldest_pending_ms) / 1000.0);
    out += ",\"failures_total\":";
    json::append_uint(out, st.failures_total);
    out += ",\"consecutive_failures\":";
    json::append_uint(out, st.consecutive_failures);
    out += ',';
    json::append_key(out, "last_error");
    if (st.last_error.empty()) out += "null";
    else json::append_string(out, st.last_error);
    time_or_null("last_success_at", st.last_success_ms);
    time_or_null("failing_since", st.failing_since_ms);
    time_or_null("next_attempt_at", st.consecutive_failures > 0 ? st.next_attempt_ms : 0);
    out += ",\"delivered_seq\":";
    json::append_uint(out, st.delivered_seq);
    out += ',';
    json::append_key(out, "frozen_by_delivery");
    json::append_bool(out, st.frozen_by_delivery);
    out += '}';
  }
  out += "]}";
}

void Deliveries::render_metrics(Prometheus& p, std::int64_t now_ms) const {
  // Channel names are identifiers (A-Z a-z 0-9 . _ : -): no label escaping needed.
  p.family("stockd_delivery_lag_seconds", "gauge",
           "Per webhook channel: seconds since the oldest publication not yet delivered (0: none).");
  for (const auto& [channel, st] : states_)
    p.sample("stockd_delivery_lag_seconds", "channel=\"" + channel + "\"",
             st->oldest_pending_ms == 0 ? 0.0 : static_cast<double>(now_ms - st->oldest_pending_ms) / 1000.0);
  p.family("stockd_delivery_failures_total", "counter", "Per webhook channel: failed delivery attempts.");
  for (const auto& [channel, st] : states_)
    p.sample("stockd_delivery_failures_total", "channel=\"" + channel + "\"", std::uint64_t{st->failures_total});
  p.family("stockd_delivery_queue_depth", "gauge", "Per webhook channel: unacknowledged publications.");
  for (const auto& [channel, st] : states_)
    p.sample("stockd_delivery_queue_depth", "channel=\"" + channel + "\"", std::uint64_t{st->backlog});
}

}  // namespace stockd::server
