// Dispatch of commands, the clock, housekeeping (expiry and retention), and the read-only queries.
#include "core/inventory.h"

#include <algorithm>
#include <limits>

#include "core/assert.h"
#include "core/inventory_state.h"

namespace stockd::core {

std::string_view event_type_name(EventType t) {
  switch (t) {
    case EventType::availability: return "availability";
    case EventType::low_stock: return "low_stock";
    case EventType::hold_confirmed: return "hold_confirmed";
    case EventType::hold_released: return "hold_released";
    case EventType::hold_expired: return "hold_expired";
    case EventType::stock_adjusted: return "stock_adjusted";
    case EventType::channel_updated: return "channel_updated";
    case EventType::exposure_deficit: return "exposure_deficit";
    case EventType::out_of_stock: return "out_of_stock";
    case EventType::channel_frozen: return "channel_frozen";
    case EventType::delivery_failing: return "delivery_failing";
  }
  return "unknown";
}

Inventory::Inventory() : s_(std::make_unique<State>()) {}
Inventory::~Inventory() = default;
Inventory::Inventory(Inventory&&) noexcept = default;
Inventory& Inventory::operator=(Inventory&&) noexcept = default;

void Inventory::State::emit(Event e) {
  e.seq = ++last_seq;
  e.at_ms = now;
  if (events) events->push_back(std::move(e));
}

Event& Inventory::State::emit_new(EventType type) {
  Event& e = events ? events->emplace_back() : (discarded = Event{});
  e.seq = ++last_seq;
  e.at_ms = now;
  e.type = type;
  return e;
}

std::string_view movement_cause_name(MovementCause c) {
  switch (c) {
    case MovementCause::hold: return "hold";
    case MovementCause::confirm: return "confirm";
    case MovementCause::release: return "release";
    case MovementCause::expire: return "expire";
    case MovementCause::adjust: return "adjust";
    case MovementCause::set: return "set";
    case MovementCause::batch: return "batch";
    case MovementCause::exposure: return "exposure";
  }
  return "unknown";
}

Movement& Inventory::State::move(MovementCause cause, std::uint32_t sku, std::int64_t on_hand_delta,
                                 std::int64_t held_delta) {
  // Without a sink the fields go into one movement that nobody reads: its stale fields are harmless,
  // and resetting it (a temporary with two strings) cost more than the record itself.
  Movement& m = movements ? movements->emplace_back() : discarded_movement;
  m.seq = ++last_movement_seq;
  m.at_ms = now;
  m.sku = sku;
  m.cause = cause;
  m.on_hand_delta = on_hand_delta;
  m.held_delta = held_delta;
  return m;
}

void Inventory::set_movement_sink(std::vector<Movement>* sink) { s_->movements = sink; }
std::uint64_t Inventory::last_movement_seq() const { return s_->last_movement_seq; }

std::int64_t Inventory::State::next_due() const {
  std::int64_t due = std::numeric_limits<std::int64_t>::max();
  if (!expiry.empty()) due = expiry.top_at();
  if (!finished.empty()) due = std::min(due, finished.front().at + retention_ms);
  if (!ref_log.empty()) due = std::min(due, ref_log.front().at + retention_ms);
  if (!batch_ref_log.empty()) due = std::min(due, batch_ref_log.front().at + retention_ms);
  return due;
}

// Expires every hold due at `now` (in (expires_at, index) order) and forgets finished holds and
// adjustment refs older than the retention period. Costs O(what is due), never a scan.
void Inventory::State::housekeep(Outcome& out) {
  if (!expiry.empty() && expiry.top_at() <= now) {
    // All due holds come off the heap first, in (expires_at, index) order; then they are finished in
    // that order with the rows of the next ones already being loaded (a million holds falling due at
    // once would otherwise wait for memory at every hold and every SKU).
    due.clear();
    while (!expiry.empty() && expiry.top_at() <= now) {
      due.push_back(expiry.top_hold());
      expiry.erase(due.back());
    }
    constexpr std::size_t kHoldAhead = 8, kSkuAhead = 4;
    for (std::size_t i = 0; i < due.size(); ++i) {
      if (i + kHoldAhead < due.size()) {
        const char* p = reinterpret_cast<const char*>(&holds[due[i + kHoldAhead]]);
        __builtin_prefetch(p);
        __builtin_prefetch(p + sizeof(Hold) - 1);
      }
      if (i + kSkuAhead < due.size()) {
        for (const Line& l : holds[due[i + kSkuAhead]].lines) {
          const char* p = reinterpret_cast<const char*>(&skus[l.sku]);
          __builtin_prefetch(p);
          __builtin_prefetch(p + sizeof(Sku) - 1);
        }
      }
      finish(due[i], HoldState::expired, EventType::hold_expired);
    }
    out.changed = true;
  }
  while (!finished.empty() && finished.front().at + retention_ms <= now) {
    std::uint32_t h = finished.front().hold;
    finished.pop_front();
    forget(h);
    out.changed = true;
  }
  while (!ref_log.empty() && ref_log.front().at + retention_ms <= now) {
    refs.erase(ref_log.front().key);
    ref_log.pop_front();
    out.changed = true;
  }
  while (!batch_ref_log.empty() && batch_ref_log.front().at + retention_ms <= now) {
    batch_refs.erase(batch_ref_log.front().key);
    batch_ref_log.pop_front();
    out.changed = true;
  }
}

Outcome Inventory::apply(const Command& cmd, std::int64_t now_ms, std::vector<Event>* events) {
  State& s = *s_;
  s.now = effective_now(now_ms);
  s.events = events;
  Outcome housekeeping;
  s.housekeep(housekeeping);
  Outcome out;
  std::string message;
  if (validate(cmd, &message) != Code::ok) {
    out.code = Code::invalid_request;
    out.message = std::move(message);
  } else {
    out = std::visit(
        [&](const auto& c) -> Outcome {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, PutChannel>) return s.put_channel(c);
          else if constexpr (std::is_same_v<T, PutSku>) return s.put_sku(c);
          else if constexpr (std::is_same_v<T, Adjust>) return s.adjust(c);
          else if constexpr (std::is_same_v<T, SetAllocation>) return s.set_allocation(c);
          else if constexpr (std::is_same_v<T, ClosePool>) return s.close_pool(c);
          else if constexpr (std::is_same_v<T, CreateHold>) return s.create_hold(c);
          else if constexpr (std::is_same_v<T, ConfirmHold>) return s.confirm_hold(c);
          else if constexpr (std::is_same_v<T, ReleaseHold>) return s.release_hold(c);
          else if constexpr (std::is_same_v<T, ExtendHold>) return s.extend_hold(c);
          else if constexpr (std::is_same_v<T, StockBatch>) return s.stock_batch(c);
          else if constexpr (std::is_same_v<T, AckPublications>) return s.ack_publications(c);
          else if constexpr (std::is_same_v<T, Configure>) {
            Outcome o;
            o.changed = c.retention_ms != s.retention_ms || c.low_stock_permille != s.low_stock_permille;
            s.retention_ms = c.retention_ms;
            s.low_stock_permille = c.low_stock_permille;
            s.housekeep(o);
            return o;
          } else {
            return Outcome{};  // Tick: housekeeping already ran
          }
        },
        cmd);
  }
  out.changed = out.changed || housekeeping.changed;
  s.events = nullptr;
  return out;
}

namespace {
// The SKU names and the hold id a command looks up (the hold id empty when it names none).
template <typename F>
void names_of(const Command& cmd, F&& f) {
  if (const auto* c = std::get_if<CreateHold>(&cmd)) {
    for (const HoldLine& l : c->lines) f(l.sku, false);
    f(c->id, true);
  } else if (const auto* c = std::get_if<ConfirmHold>(&cmd)) {
    f(c->id, true);
  } else if (const auto* c = std::get_if<ReleaseHold>(&cmd)) {
    f(c->id, true);
  } else if (const auto* c = std::get_if<ExtendHold>(&cmd)) {
    f(c->id, true);
  } else if (const auto* c = std::get_if<PutSku>(&cmd)) {
    f(c->sku, false);
  } else if (const auto* c = std::get_if<Adjust>(&cmd)) {
    f(c->sku, false);
  }
}
}  // namespace

void Inventory::prefetch_index(const Command& cmd) const {
  const State& s = *s_;
  names_of(cmd, [&](std::string_view name, bool hold) {
    std::uint32_t h = name_hash(name);
    if (hold) s.hold_index.prefetch_slot(h);
    else s.sku_index.prefetch_slot(h);
  });
}

void Inventory::prefetch_rows(const Command& cmd) const {
  const State& s = *s_;
  names_of(cmd, [&](std::string_view name, bool hold) {
    std::uint32_t h = name_hash(name);
    if (hold) {
      std::uint32_t row = s.hold_index.candidate(h);
      if (row < s.holds.size()) __builtin_prefetch(&s.holds[row]);
    } else {
      std::uint32_t row = s.sku_index.candidate(h);
      if (row >= s.skus.size()) return;
      const char* p = reinterpret_cast<const char*>(&s.skus[row]);
      __builtin_prefetch(p);
      __builtin_prefetch(p + sizeof(Sku) - 1);
    }
  });
}

std::int64_t Inventory::effective_now(std::int64_t now_ms) const { return std::max(now_ms, s_->now); }
std::int64_t Inventory::now_ms() const { return s_->now; }
std::int64_t Inventory::next_due_ms() const { return s_->next_due(); }

std::uint32_t Inventory::find_sku(std::string_view name) const { return s_->sku_index.find(name); }
std::uint32_t Inventory::find_channel(std::string_view name) const { return s_->channel_index.find(name); }
std::uint32_t Inventory::find_hold(std::string_view id) const { return s_->hold_index.find(id); }
std::size_t Inventory::channel_count() const { return s_->channels.size(); }
std::size_t Inventory::sku_count() const { return s_->skus.size(); }
std::string_view Inventory::sku_name(std::uint32_t i) const {
  STOCKD_ASSERT(i < s_->skus.size());
  return s_->skus[i].name;
}
std::string_view Inventory::channel_name(std::uint32_t i) const {
  STOCKD_ASSERT(i < s_->channels.size());
  return s_->channels[i].name;
}
// A hold's slot may already be forgotten (an event of a hold that expired and was forgotten in one
// housekeeping pass with retention 0): it reads as an empty row, so only the range is required.
std::string_view Inventory::hold_id(std::uint32_t i) const {
  STOCKD_ASSERT(i < s_->holds.size());
  return s_->holds[i].id;
}
std::uint32_t Inventory::hold_channel(std::uint32_t i) const {
  STOCKD_ASSERT(i < s_->holds.size());
  return s_->holds[i].channel;
}
std::size_t Inventory::batch_ref_count() const { return s_->batch_refs.size(); }
std::uint64_t Inventory::last_event_seq() const { return s_->last_seq; }
std::int64_t Inventory::retention_ms() const { return s_->retention_ms; }
std::int64_t Inventory::low_stock_permille() const { return s_->low_stock_permille; }

std::int64_t Inventory::available(std::uint32_t sku, std::uint32_t channel) const {
  STOCKD_ASSERT(sku < s_->skus.size() && channel < s_->channels.size());
  return s_->avail(s_->skus[sku], channel);
}

std::int64_t Inventory::available_total(std::uint32_t sku) const {
  STOCKD_ASSERT(sku < s_->skus.size());
  return s_->total_free(s_->skus[sku]);
}

ChannelView Inventory::channel(std::uint32_t i) const {
  STOCKD_ASSERT(i < s_->channels.size());
  const Channel& c = s_->channels[i];
  return ChannelView{i, c.name, c.priority, c.ttl_s, c.state, c.frozen_reason, c.listing, c.webhook,
                     c.pub_last, c.pub_acked, c.pending.size(), c.exposed};
}

std::vector<PublicationView> Inventory::publications(std::uint32_t channel, std::uint64_t after,
                                                     std::size_t limit) const {
  const State& s = *s_;
  STOCKD_ASSERT(channel < s.channels.size());
  const Channel& ch = s.channels[channel];
  std::vector<PublicationView> out;
  for (auto it = ch.pending.upper_bound(after); it != ch.pending.end() && out.size() < limit; ++it) {
    const Sku& k = s.skus[it->second];
    const Exposure* e = s.exposure_of(k, channel);
    STOCKD_ASSERT(e != nullptr && e->pub_seq == it->first);
    out.push_back({k.name, e->published, it->first});
  }
  return out;
}

std::uint64_t Inventory::last_publication_seq(std::uint32_t channel) const {
  STOCKD_ASSERT(channel < s_->channels.size());
  return s_->channels[channel].pub_last;
}

std::uint64_t Inventory::acked_publication_seq(std::uint32_t channel) const {
  STOCKD_ASSERT(channel < s_->channels.size());
  return s_->channels[channel].pub_acked;
}

SkuView Inventory::sku(std::uint32_t i) const {
  const State& s = *s_;
  STOCKD_ASSERT(i < s.skus.size());
  const Sku& k = s.skus[i];
  SkuView v;
  v.index = i;
  v.name = k.name;
  v.on_hand = k.on_hand;
  v.safety_stock = k.safety;
  v.held = k.held;
  v.available = s.total_free(k);
  v.exposed = k.exposed;
  v.max_per_hold = k.max_per_hold;
  v.low_stock_threshold = k.low_threshold;
  v.low_stock_threshold_explicit = k.threshold_explicit;
  v.version = k.version;
  v.shared_free = k.shared_free;
  v.channels.reserve(s.channels.size());
  for (std::uint32_t c = 0; c < s.channels.size(); ++c) {
    v.channels.push_back({s.channels[c].name, s.avail(k, c)});
    if (const Exposure* e = s.exposure_of(k, c); e && s.channels[c].listing) {
      v.channels.back().published = std::max<std::int64_t>(e->published, 0);
      v.channels.back().exposed = e->units;
    }
  }
  if (k.alloc) {
    v.preempt = k.alloc->preempt;
    for (const Fence& f : k.alloc->fences) {
      if (!f.active) continue;
      v.fences.push_back({s.channels[f.channel].name, f.ratio_ppb, f.units, f.free + f.held, f.held});
    }
    for (const Pool& p : k.alloc->pools) {
      if (!p.open) continue;
      PoolView pv{p.name, p.units, {}, p.free + p.held, p.held};
      for (std::uint32_t c : p.channels) pv.channels.push_back(s.channels[c].name);
      v.pools.push_back(std::move(pv));
    }
  }
  return v;
}

HoldView Inventory::hold(std::uint32_t i) const {
  const State& s = *s_;
  STOCKD_ASSERT(i < s.holds.size());
  const Hold& h = s.holds[i];
  HoldView v;
  v.index = i;
  v.id = h.id;
  v.channel = s.channels[h.channel].name;
  v.state = h.state;
  v.created_at_ms = h.created_at;
  v.expires_at_ms = h.expires_at;
  v.finished_at_ms = h.finished_at;
  v.lines.reserve(h.lines.size());
  for (const Line& l : h.lines) v.lines.push_back({s.skus[l.sku].name, l.qty});
  return v;
}

Stats Inventory::stats() const {
  const State& s = *s_;
  Stats st;
  st.skus = s.skus.size();
  st.channels = s.channels.size();
  st.holds_held = s.expiry.size();
  st.holds_confirmed = s.finished_count[static_cast<int>(HoldState::confirmed)];
  st.holds_released = s.finished_count[static_cast<int>(HoldState::released)];
  st.holds_expired = s.finished_count[static_cast<int>(HoldState::expired)];
  st.adjustment_refs = s.refs.size();
  return st;
}

}  // namespace stockd::core
