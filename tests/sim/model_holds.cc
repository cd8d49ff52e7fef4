// The model's hold rules (create, confirm, release, extend, expiry, retention), the clock, and the
// contract's syntax rules, written from docs/allocation.md and the contract.
#include <algorithm>
#include <variant>

#include "model.h"

namespace stockd::sim {
namespace {

MOutcome fail(Code code) {
  MOutcome out;
  out.code = code;
  return out;
}

MOutcome of_hold(const MHold& h, bool changed) {
  MOutcome out;
  out.changed = changed;
  out.index = h.slot;
  out.state = h.state;
  return out;
}

EventType event_of(HoldState s) {
  return s == HoldState::confirmed ? EventType::hold_confirmed
         : s == HoldState::released ? EventType::hold_released
                                    : EventType::hold_expired;
}

// Same channel and the same lines in any order.
bool same_request(const std::vector<core::HoldLine>& a, const std::vector<core::HoldLine>& b) {
  if (a.size() != b.size()) return false;
  for (const core::HoldLine& l : a)
    if (std::find(b.begin(), b.end(), l) == b.end()) return false;
  return true;
}

}  // namespace

const MHold* Model::hold(const std::string& id) const {
  auto it = holds.find(id);
  return it == holds.end() ? nullptr : &it->second;
}

std::uint32_t Model::new_slot() {
  if (!free_slots.empty()) {
    std::uint32_t s = free_slots.back();
    free_slots.pop_back();
    slot_used[s] = true;
    return s;
  }
  slot_used.push_back(true);
  return static_cast<std::uint32_t>(slot_used.size() - 1);
}

void Model::finish(MHold& h, HoldState state) {
  h.state = state;
  h.finished_at = now;
  finished.push_back(h.id);
  MEvent e;
  e.type = event_of(state);
  e.hold = h.slot;
  e.channel = channels[h.channel].name;
  emit(e);
  if (state == HoldState::confirmed) return;
  for (MLine& l : h.lines) {
    int idx = sku_index(l.sku);
    MSku& s = skus[idx];
    std::vector<std::int64_t> before = all_available(idx);
    std::int64_t total_before = total_free(s);
    for (const MDraw& d : l.draws) {
      if (state == HoldState::expired) expired_units += d.qty;
      give_back(s, d);
    }
    l.draws.clear();
    ++s.version;
    publish(idx, before, total_before, s.threshold);
  }
}

// Expire every hold due now (by expires_at, then slot), then forget finished holds and refs older
// than the retention period. True when anything happened.
bool Model::housekeep() {
  bool changed = false;
  std::vector<MHold*> due;
  for (auto& [id, h] : holds)
    if (h.state == HoldState::held && h.expires_at <= now) due.push_back(&h);
  std::sort(due.begin(), due.end(), [](const MHold* a, const MHold* b) {
    return a->expires_at != b->expires_at ? a->expires_at < b->expires_at : a->slot < b->slot;
  });
  for (MHold* h : due) {
    finish(*h, HoldState::expired);
    changed = true;
  }
  while (!finished.empty() && holds.at(finished.front()).finished_at + retention_ms <= now) {
    MHold& h = holds.at(finished.front());
    slot_used[h.slot] = false;
    free_slots.push_back(h.slot);
    holds.erase(finished.front());
    finished.pop_front();
    changed = true;
  }
  for (auto it = refs.begin(); it != refs.end();) {
    if (it->second.second + retention_ms <= now) {
      it = refs.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  for (auto it = batch_refs.begin(); it != batch_refs.end();) {
    if (it->second.at + retention_ms <= now) {
      it = batch_refs.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  return changed;
}

MOutcome Model::create_hold(const core::CreateHold& c) {
  if (const MHold* h = hold(c.id)) {
    if (channels[h->channel].name != c.channel || !same_request(h->requested, c.lines))
      return fail(Code::idempotency_conflict);
    // A sale (confirm:true) repeating the id of a hold that is still only held asks for something else.
    if (c.confirm && h->state == HoldState::held) return fail(Code::idempotency_conflict);
    return of_hold(*h, false);
  }
  int ch = channel_index(c.channel);
  if (ch < 0) return fail(Code::unknown_channel);
  if (channels[ch].frozen) return fail(Code::channel_frozen);
  for (const core::HoldLine& l : c.lines)
    if (sku_index(l.sku) < 0) return fail(Code::unknown_sku);
  for (const core::HoldLine& l : c.lines) {
    const MSku& s = skus[sku_index(l.sku)];
    if (s.max_per_hold > 0 && l.qty > s.max_per_hold) {
      MOutcome out = fail(Code::limit_exceeded);
      out.detail_sku = l.sku;
      out.requested = l.qty;
      out.available = s.max_per_hold;
      return out;
    }
  }
  for (const core::HoldLine& l : c.lines) {
    std::int64_t a = available(sku_index(l.sku), ch);
    if (l.qty > a) {
      MOutcome out = fail(Code::insufficient_stock);
      out.detail_sku = l.sku;
      out.requested = l.qty;
      out.available = a;
      return out;
    }
  }
  MHold h;
  h.id = c.id;
  h.channel = ch;
  h.requested = c.lines;
  h.created_at = now;
  h.expires_at = now + c.ttl_s.value_or(channels[ch].ttl_s) * 1000;
  h.slot = new_slot();
  for (const core::HoldLine& l : c.lines) {
    int idx = sku_index(l.sku);
    MSku& s = skus[idx];
    std::vector<std::int64_t> before = all_available(idx);
    std::int64_t total_before = total_free(s);
    MLine line{l.sku, l.qty, {}};
    take(s, ch, l.qty, line.draws);
    if (c.confirm) {
      for (const MDraw& d : line.draws) consume(s, d);
      line.draws.clear();
    }
    ++s.version;
    publish(idx, before, total_before, s.threshold);
    h.lines.push_back(line);
  }
  MHold& stored = holds[c.id] = std::move(h);
  if (c.confirm) finish(stored, HoldState::confirmed);
  MOutcome out = of_hold(stored, true);
  out.created = true;
  return out;
}

MOutcome Model::confirm_hold(const core::ConfirmHold& c) {
  auto it = holds.find(c.id);
  if (it == holds.end()) return fail(Code::unknown_hold);
  MHold& h = it->second;
  if (h.state == HoldState::confirmed) return of_hold(h, false);
  if (h.state == HoldState::released) return fail(Code::invalid_state);
  if (h.state == HoldState::expired) return fail(Code::hold_expired);
  std::vector<std::int64_t> want;
  for (const MLine& l : h.lines) want.push_back(c.lines ? 0 : l.qty);
  if (c.lines) {
    for (const core::HoldLine& cl : *c.lines) {
      std::size_t i = 0;
      while (i < h.lines.size() && h.lines[i].sku != cl.sku) ++i;
      if (i == h.lines.size() || cl.qty > h.lines[i].qty) return fail(Code::invalid_request);
      want[i] = cl.qty;
    }
  }
  std::vector<MLine> kept;
  for (std::size_t i = 0; i < h.lines.size(); ++i) {
    MLine& l = h.lines[i];
    int idx = sku_index(l.sku);
    MSku& s = skus[idx];
    std::vector<std::int64_t> before = all_available(idx);
    std::int64_t total_before = total_free(s);
    std::int64_t left = want[i];
    for (const MDraw& d : l.draws) {
      std::int64_t q = std::min(left, d.qty);
      left -= q;
      if (q > 0) consume(s, MDraw{d.bucket, d.key, q});
      if (d.qty > q) give_back(s, MDraw{d.bucket, d.key, d.qty - q});
    }
    ++s.version;
    publish(idx, before, total_before, s.threshold);
    if (want[i] > 0) kept.push_back(MLine{l.sku, want[i], {}});
  }
  h.lines = std::move(kept);  // the hold shows the confirmed lines
  finish(h, HoldState::confirmed);
  return of_hold(h, true);
}

MOutcome Model::release_hold(const core::ReleaseHold& c) {
  auto it = holds.find(c.id);
  if (it == holds.end()) return fail(Code::unknown_hold);
  MHold& h = it->second;
  if (h.state == HoldState::confirmed) return fail(Code::invalid_state);
  if (h.state != HoldState::held) return of_hold(h, false);
  finish(h, HoldState::released);
  return of_hold(h, true);
}

MOutcome Model::extend_hold(const core::ExtendHold& c) {
  auto it = holds.find(c.id);
  if (it == holds.end()) return fail(Code::unknown_hold);
  MHold& h = it->second;
  if (h.state == HoldState::expired) return fail(Code::hold_expired);
  if (h.state != HoldState::held) return fail(Code::invalid_state);
  h.expires_at = now + c.ttl_s * 1000;
  return of_hold(h, true);
}

MOutcome Model::apply(const core::Command& cmd, std::int64_t now_ms, std::vector<MEvent>* events) {
  events_ = events;
  now = std::max(now, now_ms);
  bool housekept = housekeep();
  MOutcome out;
  if (!model_valid(cmd)) {
    out = fail(Code::invalid_request);
  } else if (auto* c = std::get_if<core::PutChannel>(&cmd)) {
    out = put_channel(*c);
  } else if (auto* c = std::get_if<core::PutSku>(&cmd)) {
    out = put_sku(*c);
  } else if (auto* c = std::get_if<core::Adjust>(&cmd)) {
    out = adjust(*c);
  } else if (auto* c = std::get_if<core::SetAllocation>(&cmd)) {
    out = set_allocation(*c);
  } else if (auto* c = std::get_if<core::ClosePool>(&cmd)) {
    out = close_pool(*c);
  } else if (auto* c = std::get_if<core::CreateHold>(&cmd)) {
    out = create_hold(*c);
  } else if (auto* c = std::get_if<core::ConfirmHold>(&cmd)) {
    out = confirm_hold(*c);
  } else if (auto* c = std::get_if<core::ReleaseHold>(&cmd)) {
    out = release_hold(*c);
  } else if (auto* c = std::get_if<core::ExtendHold>(&cmd)) {
    out = extend_hold(*c);
  } else if (auto* c = std::get_if<core::StockBatch>(&cmd)) {
    out = stock_batch(*c);
  } else if (auto* c = std::get_if<core::Configure>(&cmd)) {
    out.changed = c->retention_ms != retention_ms || c->low_stock_permille != low_stock_permille;
    retention_ms = c->retention_ms;
    low_stock_permille = c->low_stock_permille;
    out.changed = housekeep() || out.changed;
  }
  out.changed = out.changed || housekept;
  events_ = nullptr;
  return out;
}

namespace {

bool ident(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-')) return false;
  return true;
}

bool in(std::int64_t v, std::int64_t lo, std::int64_t hi) { return v >= lo && v <= hi; }

// docs/api.md, "Conventions": stock figures and |delta| up to 10^15 (written out, not limits.h's constant).
constexpr std::int64_t kE15 = 1'000'000'000'000'000;
constexpr std::int64_t kTtlMax = 30LL * 24 * 3600;

bool lines_ok(const std::vector<core::HoldLine>& lines) {
  if (lines.empty() || lines.size() > 100) return false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!ident(lines[i].sku) || !in(lines[i].qty, 1, 1'000'000'000)) return false;
    for (std::size_t j = 0; j < i; ++j)
      if (lines[j].sku == lines[i].sku) return false;
  }
  return true;
}

bool opt_in(const std::optional<std::int64_t>& v, std::int64_t lo, std::int64_t hi, bool clearable = false) {
  return !v || in(*v, lo, hi) || (clearable && *v == core::kClear);
}

struct Valid {
  bool operator()(const core::PutChannel& c) const {
    return ident(c.channel) && opt_in(c.priority, 1, 1'000'000) && opt_in(c.hold_ttl_s, 1, kTtlMax);
  }
  bool operator()(const core::PutSku& c) const {
    return ident(c.sku) && opt_in(c.on_hand, 0, kE15) && opt_in(c.safety_stock, 0, kE15) &&
           opt_in(c.max_per_hold, 0, 1'000'000'000, true) && opt_in(c.low_stock_threshold, 0, kE15, true);
  }
  bool operator()(const core::Adjust& c) const {
    return ident(c.sku) && c.delta != 0 && in(c.delta, -kE15, kE15) && c.reason.size() <= 256 &&
           (c.ref.empty() || ident(c.ref));
  }
  bool operator()(const core::SetAllocation& c) const {
    if (!ident(c.sku) || c.fences.size() > 64 || c.pools.size() > 64) return false;
    for (std::size_t i = 0; i < c.fences.size(); ++i) {
      const core::FenceSpec& f = c.fences[i];
      if (!ident(f.channel) || (f.ratio_ppb >= 0) == (f.units >= 0)) return false;
      if (f.ratio_ppb > 1'000'000'000 || f.units > kE15) return false;
      for (std::size_t j = 0; j < i; ++j)
        if (c.fences[j].channel == f.channel) return false;
    }
    for (std::size_t i = 0; i < c.pools.size(); ++i) {
      const core::PoolSpec& p = c.pools[i];
      if (!ident(p.name) || !in(p.units, 0, kE15) || p.channels.empty() || p.channels.size() > 64) return false;
      for (const std::string& ch : p.channels)
        if (!ident(ch)) return false;
      for (std::size_t j = 0; j < i; ++j)
        if (c.pools[j].name == p.name) return false;
    }
    return true;
  }
  bool operator()(const core::ClosePool& c) const { return ident(c.sku) && ident(c.pool); }
  bool operator()(const core::CreateHold& c) const {
    return ident(c.id) && ident(c.channel) && lines_ok(c.lines) && opt_in(c.ttl_s, 1, kTtlMax);
  }
  bool operator()(const core::ConfirmHold& c) const { return ident(c.id) && (!c.lines || lines_ok(*c.lines)); }
  bool operator()(const core::ReleaseHold& c) const { return ident(c.id); }
  bool operator()(const core::ExtendHold& c) const { return ident(c.id) && in(c.ttl_s, 1, kTtlMax); }
  bool operator()(const core::Tick&) const { return true; }
  bool operator()(const core::StockBatch& c) const {
    if (c.rows.empty() || c.rows.size() > 10'000 || (!c.ref.empty() && !ident(c.ref))) return false;
    for (const core::BatchRow& r : c.rows)
      if (r.sku.size() > 1024) return false;
    return true;
  }
  bool operator()(const core::AckPublications& c) const { return ident(c.channel); }
  bool operator()(const core::Configure& c) const {
    return in(c.retention_ms, 0, 365LL * 24 * 3600 * 1000) && in(c.low_stock_permille, 0, 1000);
  }
};

}  // namespace

bool model_valid(const core::Command& cmd) { return std::visit(Valid{}, cmd); }

}  // namespace stockd::sim
