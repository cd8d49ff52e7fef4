// The hold lifecycle: create (all or nothing, idempotent by id), confirm (whole or partial), release,
// extend, and the end of a hold (confirmed, released or expired), which is remembered for the
// retention period so that retries get the original answer, then forgotten.
#include <algorithm>
#include <string>

#include "core/assert.h"
#include "core/inventory_state.h"

namespace stockd::core {
namespace {

Outcome error(Code code, std::string message) {
  Outcome out;
  out.code = code;
  out.message = std::move(message);
  return out;
}

Outcome hold_outcome(std::uint32_t h, HoldState state, bool changed) {
  Outcome out;
  out.index = h;
  out.hold_state = state;
  out.changed = changed;
  return out;
}

}  // namespace

std::uint32_t Inventory::State::new_slot() {
  if (!free_slots.empty()) {
    std::uint32_t h = free_slots.back();
    free_slots.pop_back();
    STOCKD_ASSERT(h < holds.size() && !holds[h].live);
    return h;
  }
  holds.emplace_back();
  return static_cast<std::uint32_t>(holds.size() - 1);
}

void Inventory::State::forget(std::uint32_t h) {
  Hold& hold = holds[h];
  STOCKD_ASSERT(hold.live && hold.state != HoldState::held && hold.draws.empty());  // only finished holds
  STOCKD_ASSERT(finished_count[static_cast<int>(hold.state)] > 0);
  --finished_count[static_cast<int>(hold.state)];
  hold_index.erase(h);
  hold = Hold{};
  free_slots.push_back(h);
}

// Ends a held hold. Released and expired holds give their units back to the buckets they came from;
// a confirmed hold's units were consumed by the caller.
void Inventory::State::finish(std::uint32_t h, HoldState state, EventType type) {
  Hold& hold = holds[h];
  STOCKD_ASSERT(hold.live && hold.state == HoldState::held && state != HoldState::held);
  if (expiry.contains(h)) expiry.erase(h);
  hold.state = state;
  hold.finished_at = now;
  finished.push_back(Finished{now, h});
  ++finished_count[static_cast<int>(state)];
  Event& e = emit_new(type);
  e.hold = h;
  e.channel = hold.channel;
  if (state != HoldState::confirmed) {
    MovementCause cause = state == HoldState::expired ? MovementCause::expire : MovementCause::release;
    for (const Line& l : hold.lines) {
      Movement& m = move(cause, l.sku, 0, -l.qty);
      m.channel = hold.channel;
      m.hold = h;
      Sku& s = skus[l.sku];
      capture(s);
      std::int64_t total_before = sellable(s);
      for (std::uint16_t d = 0; d < l.n_draws; ++d) give_back(s, hold.draws[l.first_draw + d]);
      ++s.version;
      publish(l.sku, total_before, s.low_threshold);
    }
  }
  // A finished hold no longer owns units: its draws go, its lines stay for replies and replays.
  hold.draws.clear();
  hold.draws.shrink_to_fit();
  for (Line& l : hold.lines) l.first_draw = l.n_draws = 0;
}

Outcome Inventory::State::create_hold(const CreateHold& c) {
  // Memory first: the id's index slot is requested now and the SKU lookups run while it arrives (the
  // results are still judged in the contract's order: replay, channel, SKUs).
  std::uint32_t id_hash = name_hash(c.id);
  hold_index.prefetch_slot(id_hash);
  absl::InlinedVector<std::uint32_t, 4> sku_of;
  for (const HoldLine& l : c.lines) sku_of.push_back(sku_index.find(l.sku));

  if (std::uint32_t found = hold_index.find(c.id, id_hash); found != kNoIndex) {
    const Hold& h = holds[found];
    bool same = channels[h.channel].name == c.channel;
    std::size_t n = h.requested ? h.requested->size() : h.lines.size();
    same = same && n == c.lines.size();
    for (std::size_t i = 0; same && i < n; ++i) {
      std::uint32_t sku = h.requested ? (*h.requested)[i].first : h.lines[i].sku;
      std::int64_t qty = h.requested ? (*h.requested)[i].second : h.lines[i].qty;
      same = std::any_of(c.lines.begin(), c.lines.end(),
                         [&](const HoldLine& l) { return l.qty == qty && l.sku == skus[sku].name; });
    }
    if (!same) return error(Code::idempotency_conflict, "hold " + c.id + " exists with another channel or lines");
    // A sale (confirm:true) that repeats the id of a hold that is still only held is a different
    // request: answering "held" would let the caller believe it sold. (A replayed sale finds its hold
    // confirmed and gets it back; a replayed hold finds it in whatever state it is now.)
    if (c.confirm && h.state == HoldState::held)
      return error(Code::idempotency_conflict, "hold " + c.id + " exists and is held, not sold: confirm it instead");
    return hold_outcome(found, h.state, false);
  }
  std::uint32_t ch = channel_index.find(c.channel);
  if (ch == kNoIndex) return error(Code::unknown_channel, "unknown channel " + c.channel);
  // A frozen channel makes no new hold, except a listed one selling what it was published: its own
  // exposure (a marketplace sells before stockd hears of it; those sales must not fail).
  bool frozen = channels[ch].state == ChannelState::frozen;
  if (frozen && !channels[ch].listing) return error(Code::channel_frozen, "channel " + c.channel + " is frozen");

  for (std::size_t i = 0; i < c.lines.size(); ++i)
    if (sku_of[i] == kNoIndex) return error(Code::unknown_sku, "unknown sku " + c.lines[i].sku);
  for (std::size_t i = 0; frozen && i < c.lines.size(); ++i) {
    const Exposure* e = exposure_of(skus[sku_of[i]], ch);
    if (!e || e->units < c.lines[i].qty)
      return error(Code::channel_frozen, "channel " + c.channel + " is frozen (it may sell only its exposure)");
  }
  for (std::size_t i = 0; i < c.lines.size(); ++i) {
    const Sku& s = skus[sku_of[i]];
    std::int64_t qty = c.lines[i].qty;
    if (s.max_per_hold > 0 && qty > s.max_per_hold) {
      Outcome out = error(Code::limit_exceeded, "sku " + s.name + " allows at most " +
                                                    std::to_string(s.max_per_hold) + " per hold");
      out.detail_sku = s.name;
      out.requested = qty;
      out.available = s.max_per_hold;
      return out;
    }
  }
  for (std::size_t i = 0; i < c.lines.size(); ++i) {
    const Sku& s = skus[sku_of[i]];
    if (frozen) break;  // every line is within the exposure (checked above)
    std::int64_t a = avail(s, ch);
    if (c.lines[i].qty > a) {
      Outcome out = error(Code::insufficient_stock, "insufficient stock for sku " + s.name);
      out.detail_sku = s.name;
      out.requested = c.lines[i].qty;
      out.available = a;
      return out;
    }
  }

  std::uint32_t h = new_slot();
  Hold& hold = holds[h];
  hold.id = c.id;
  hold.channel = ch;
  hold.created_at = now;
  hold.live = true;
  hold.state = HoldState::held;
  for (std::size_t i = 0; i < c.lines.size(); ++i) {
    Sku& s = skus[sku_of[i]];
    capture(s);
    std::int64_t total_before = sellable(s);
    Line line;
    line.sku = sku_of[i];
    line.qty = c.lines[i].qty;
    line.first_draw = static_cast<std::uint16_t>(hold.draws.size());
    take(s, ch, line.qty, hold.draws, &line.n_draws);
    STOCKD_ASSERT(line.n_draws > 0 && hold.draws.size() <= 0xffff);  // first_draw is 16 bits
    if (c.confirm)
      for (std::uint16_t d = 0; d < line.n_draws; ++d) consume(s, hold.draws[line.first_draw + d]);
    // A sale in one step is one movement: sold units leave on_hand, held is as it was.
    Movement& m = c.confirm ? move(MovementCause::confirm, line.sku, -line.qty, 0)
                            : move(MovementCause::hold, line.sku, 0, line.qty);
    m.channel = ch;
    m.hold = h;
    ++s.version;
    publish(line.sku, total_before, s.low_threshold);
    hold.lines.push_back(line);
  }
  hold_index.insert_new(h, id_hash);
  std::int64_t ttl_s = c.ttl_s.value_or(channels[ch].ttl_s);
  hold.expires_at = now + ttl_s * 1000;
  if (c.confirm) {
    finish(h, HoldState::confirmed, EventType::hold_confirmed);
  } else {
    expiry.push(h, hold.expires_at);
  }
  Outcome out = hold_outcome(h, hold.state, true);
  out.created = true;
  return out;
}

Outcome Inventory::State::confirm_hold(const ConfirmHold& c) {
  std::uint32_t h = hold_index.find(c.id);
  if (h == kNoIndex) return error(Code::unknown_hold, "unknown hold " + c.id);
  Hold& hold = holds[h];
  switch (hold.state) {
    case HoldState::confirmed: return hold_outcome(h, hold.state, false);
    case HoldState::released: return error(Code::invalid_state, "hold " + c.id + " was released");
    case HoldState::expired: return error(Code::hold_expired, "hold " + c.id + " has expired");
    case HoldState::held: break;
  }
  // The quantity to confirm per line of the hold; a partial confirm names a subset.
  absl::InlinedVector<std::int64_t, 4> want(hold.lines.size(), 0);
  if (c.lines) {
    for (const HoldLine& cl : *c.lines) {
      auto line = std::find_if(hold.lines.begin(), hold.lines.end(),
                               [&](const Line& l) { return skus[l.sku].name == cl.sku; });
      if (line == hold.lines.end()) return error(Code::invalid_request, "sku " + cl.sku + " is not in hold " + c.id);
      if (cl.qty > line->qty)
        return error(Code::invalid_request, "confirm of " + std::to_string(cl.qty) + " for sku " + cl.sku +
                                                " exceeds the " + std::to_string(line->qty) + " held");
      want[line - hold.lines.begin()] = cl.qty;
    }
  } else {
    for (std::size_t i = 0; i < hold.lines.size(); ++i) want[i] = hold.lines[i].qty;
  }
  bool partial = false;
  for (std::size_t i = 0; i < hold.lines.size(); ++i) {
    Line& l = hold.lines[i];
    Sku& s = skus[l.sku];
    capture(s);
    std::int64_t total_before = sellable(s);
    std::int64_t left = want[i];
    for (std::uint16_t d = 0; d < l.n_draws; ++d) {
      Draw draw = hold.draws[l.first_draw + d];
      std::int64_t q = std::min(left, draw.qty);
      left -= q;
      if (q > 0) consume(s, Draw{draw.bucket, q});
      if (draw.qty > q) give_back(s, Draw{draw.bucket, draw.qty - q});
    }
    STOCKD_ASSERT(left == 0);  // want[i] <= l.qty, and the line's draws add up to l.qty
    if (want[i] > 0) {
      Movement& m = move(MovementCause::confirm, l.sku, -want[i], -want[i]);
      m.channel = hold.channel;
      m.hold = h;
    }
    if (want[i] < l.qty) {  // the unconfirmed rest of a partial confirm is released
      Movement& m = move(MovementCause::release, l.sku, 0, -(l.qty - want[i]));
      m.channel = hold.channel;
      m.hold = h;
    }
    ++s.version;
    publish(l.sku, total_before, s.low_threshold);
    partial = partial || want[i] != l.qty;
  }
  if (partial) {
    hold.requested = std::make_unique<RequestedLines>();
    LineList kept;
    for (std::size_t i = 0; i < hold.lines.size(); ++i) {
      hold.requested->emplace_back(hold.lines[i].sku, hold.lines[i].qty);
      if (want[i] > 0) kept.push_back(Line{hold.lines[i].sku, 0, 0, want[i]});
    }
    hold.lines = std::move(kept);
  }
  finish(h, HoldState::confirmed, EventType::hold_confirmed);
  return hold_outcome(h, HoldState::confirmed, true);
}

Outcome Inventory::State::release_hold(const ReleaseHold& c) {
  std::uint32_t h = hold_index.find(c.id);
  if (h == kNoIndex) return error(Code::unknown_hold, "unknown hold " + c.id);
  HoldState state = holds[h].state;
  if (state == HoldState::confirmed) return error(Code::invalid_state, "hold " + c.id + " was confirmed");
  if (state != HoldState::held) return hold_outcome(h, state, false);  // released or expired: as it is
  finish(h, HoldState::released, EventType::hold_released);
  return hold_outcome(h, HoldState::released, true);
}

Outcome Inventory::State::extend_hold(const ExtendHold& c) {
  std::uint32_t h = hold_index.find(c.id);
  if (h == kNoIndex) return error(Code::unknown_hold, "unknown hold " + c.id);
  Hold& hold = holds[h];
  if (hold.state == HoldState::expired) return error(Code::hold_expired, "hold " + c.id + " has expired");
  if (hold.state != HoldState::held)
    return error(Code::invalid_state, "hold " + c.id + " is " + std::string(hold_state_name(hold.state)));
  hold.expires_at = now + c.ttl_s * 1000;
  expiry.update(h, hold.expires_at);
  return hold_outcome(h, HoldState::held, true);
}

}  // namespace stockd::core
