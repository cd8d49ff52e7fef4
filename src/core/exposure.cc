// Exposures of listed channels (docs/allocation.md, "Listed channels"; docs/channels.md).
//
// A listed channel (a marketplace that sells against the number it was last told) gets, per SKU, an
// exposure: units set aside for it, drawn from the buckets in its draw order like a hold without a TTL,
// and a publication of that quantity. Units exposed to one channel are not available to any other, so
// held + exposed <= on_hand - safety_stock (check_sku()).
//
// The rules (targets, priority order, raise at once and lower on acknowledgement, deficit cuts) are
// allocation_policy.h's expose_sku, deficit_cuts and ack_excess, written for both stores; this file is
// the core's side of them: its view of a SKU's exposures, the draws, publications and events.
// expose() runs from publish(), i.e. after every command for the SKUs it touched, and for every SKU
// when a channel changes (expose_all()). With no listed channel none of this runs.
//
// A hold or sale of a listed channel takes its exposure first (take_exposed()), so a sale of published
// units never fails. Stock set or adjusted below what is exposed cuts the exposures, lowest priority
// first (cover_deficit()), and emits exposure_deficit: the physical units are gone.
//
// Publications: per channel a seq (from 1, strictly increasing) and a coalesced map of the
// unacknowledged ones, seq -> SKU, holding only the latest publication per SKU.
#include <algorithm>

#include "core/allocation_policy.h"
#include "core/assert.h"
#include "core/inventory_state.h"

namespace stockd::core {
namespace {

// Adds a draw to an exposure's list, one entry per bucket.
void merge_draw(DrawList& draws, const Draw& d) {
  for (Draw& x : draws)
    if (x.bucket == d.bucket) {
      x.qty += d.qty;
      return;
    }
  draws.push_back(d);
}

}  // namespace

Exposure* Inventory::State::exposure_of(Sku& s, std::uint32_t channel) const {
  if (!s.expo) return nullptr;
  for (Exposure& e : *s.expo)
    if (e.channel == channel) return &e;
  return nullptr;
}

const Exposure* Inventory::State::exposure_of(const Sku& s, std::uint32_t channel) const {
  return exposure_of(const_cast<Sku&>(s), channel);
}

// One movement of cause `exposure` (docs/api.md, GET /v1/movements): units set aside for, or given back
// by, a listed channel; a hold taking its exposure gives it back (the hold's own movement adds held).
void Inventory::State::moved_exposure(std::uint32_t sku, std::uint32_t channel, std::int64_t delta) {
  Movement& m = move(MovementCause::exposure, sku, 0, 0);
  m.channel = channel;
  m.exposed_delta = delta;
}

void Inventory::State::publish_quantity(std::uint32_t sku, Exposure& e, std::int64_t qty) {
  Channel& ch = channels[e.channel];
  if (e.pub_seq > ch.pub_acked) ch.pending.erase(e.pub_seq);  // coalesced: the SKU's older one goes
  e.published = qty;
  e.pub_seq = ++ch.pub_last;
  e.stale = false;
  ch.pending.emplace(e.pub_seq, sku);
}

// Gives `qty` units of the exposure back to the buckets they came from (last drawn first).
void Inventory::State::release_exposure(Sku& s, Exposure& e, std::int64_t qty) {
  STOCKD_ASSERT(qty >= 0 && qty <= e.units);
  e.units -= qty;
  channels[e.channel].exposed -= qty;
  if (qty > 0) moved_exposure(static_cast<std::uint32_t>(&s - skus.data()), e.channel, -qty);
  while (qty > 0) {
    STOCKD_ASSERT(!e.draws.empty());
    Draw& last = e.draws.back();
    std::int64_t q = std::min(qty, last.qty);
    give_back(s, Draw{last.bucket, q}, &Sku::exposed);
    last.qty -= q;
    qty -= q;
    if (last.qty == 0) e.draws.pop_back();
  }
}

// Whether `channel` may draw from `bucket` (its draw order: own fence, pools listing it, shared, and
// with preempt the fences of lower-priority channels).
bool Inventory::State::can_draw(const Sku& s, std::uint32_t channel, std::uint32_t bucket) const {
  if (bucket == kShared) return true;
  if (!s.alloc) return false;
  std::uint32_t key = bucket & kBucketKeyMask;
  const AllocView v{*this, s};
  if (bucket & kPoolTag) return v.pool_open(key) && v.pool_lists(key, channel);
  return policy::may_draw_fence(v, channel, key);
}

// The rules (targets, priority order, raise at once, lower on acknowledgement) are policy::expose_sku
// (allocation_policy.h); this is the core's view of one SKU for it.
bool Inventory::State::expose(std::uint32_t sku) {
  Sku& s = skus[sku];
  if (!s.expo) s.expo = std::make_unique<ExposureList>();
  for (std::uint32_t c : listed)
    if (!exposure_of(s, c)) s.expo->emplace_back().channel = c;
  struct View {
    State& st;
    Sku& s;
    std::uint32_t sku;
    std::uint32_t ch(std::size_t i) const { return st.listed[i]; }
    Exposure& e(std::size_t i) const { return *st.exposure_of(s, ch(i)); }
    std::size_t listed() const { return st.listed.size(); }
    const Listing& listing(std::size_t i) const { return *st.channels[ch(i)].listing; }
    bool frozen(std::size_t i) const { return st.channels[ch(i)].state == ChannelState::frozen; }
    std::int64_t units(std::size_t i) const { return e(i).units; }
    std::int64_t free(std::size_t i) const { return st.bucket_avail(s, ch(i)); }
    std::int64_t drawable(std::size_t i, std::size_t j) const {
      std::int64_t sum = 0;
      for (const Draw& d : e(j).draws)
        if (st.can_draw(s, ch(i), d.bucket)) sum += d.qty;
      return sum;
    }
    void draw(std::size_t i, std::int64_t more) {
      Exposure& x = e(i);
      DrawList drawn;
      std::uint16_t n = 0;
      s.exposed += more;
      st.draw_buckets(s, ch(i), more, drawn, &n);
      for (const Draw& d : drawn) merge_draw(x.draws, d);
      x.units += more;
      st.channels[ch(i)].exposed += more;
      st.moved_exposure(sku, ch(i), more);
    }
    std::int64_t published(std::size_t i) const { return e(i).published; }
    bool stale(std::size_t i) const { return e(i).stale; }
    void publish(std::size_t i, std::int64_t qty) { st.publish_quantity(sku, e(i), qty); }
  };
  View v{*this, s, sku};
  return policy::expose_sku(v);
}

void Inventory::State::expose_all() {
  for (std::uint32_t i = 0; i < skus.size(); ++i) {
    if (listed.empty() && !skus[i].expo) continue;
    if (expose(i)) ++skus[i].version;
    check_sku(skus[i]);
  }
}

// A hold of a listed channel takes its exposure on the SKU first: the exposure's draws become the
// hold's (the buckets' held is unchanged), and the next publication says what is left.
void Inventory::State::take_exposed(Sku& s, std::uint32_t channel, std::int64_t& qty, DrawList& draws,
                                    std::uint16_t* n) {
  Exposure* e = exposure_of(s, channel);
  if (!e || e->units == 0) return;
  std::int64_t q = std::min(qty, e->units);
  e->units -= q;
  e->stale = true;
  channels[channel].exposed -= q;
  s.exposed -= q;
  s.held += q;
  qty -= q;
  moved_exposure(static_cast<std::uint32_t>(&s - skus.data()), channel, -q);  // the hold's movement counts held
  while (q > 0) {
    Draw& last = e->draws.back();
    std::int64_t part = std::min(q, last.qty);
    draws.push_back({last.bucket, part});
    ++*n;
    last.qty -= part;
    q -= part;
    if (last.qty == 0) e->draws.pop_back();
  }
}

// Stock fell below what is held + exposed: the exposures shrink to what exists, lowest priority first.
void Inventory::State::cover_deficit(std::uint32_t sku) {
  Sku& s = skus[sku];
  if (s.exposed == 0) return;
  std::int64_t room = std::max<std::int64_t>(0, s.on_hand - s.safety - s.held);
  policy::deficit_cuts(
      listed.size(), s.exposed, room,
      [&](std::size_t k) {
        const Exposure* e = exposure_of(s, listed[k]);
        return e ? e->units : 0;
      },
      [&](std::size_t k, std::int64_t cut) {
        Exposure* e = exposure_of(s, listed[k]);
        release_exposure(s, *e, cut);
        e->stale = true;
        Event& ev = emit_new(EventType::exposure_deficit);
        ev.sku = sku;
        ev.channel = listed[k];
        ev.delta = -cut;
        ev.available = e->units;
        ev.on_hand = s.on_hand;
      });
  STOCKD_ASSERT(s.exposed <= room);
}

// The channel becomes direct: its exposures are released at once and its publications dropped.
void Inventory::State::drop_listing(std::uint32_t channel) {
  for (Sku& s : skus) {
    if (!s.expo) continue;
    Exposure* e = exposure_of(s, channel);
    if (!e) continue;
    release_exposure(s, *e, e->units);
    if (e != &s.expo->back()) *e = std::move(s.expo->back());
    s.expo->pop_back();
    ++s.version;
  }
  Channel& ch = channels[channel];
  ch.pending.clear();
  ch.pub_acked = ch.pub_last;
  ch.listing.reset();
  STOCKD_ASSERT(ch.exposed == 0);
}

Outcome Inventory::State::ack_publications(const AckPublications& c) {
  Outcome out;
  std::uint32_t idx = channel_index.find(c.channel);
  if (idx == kNoIndex) {
    out.code = Code::unknown_channel;
    out.message = "unknown channel " + c.channel;
    return out;
  }
  out.index = idx;
  Channel& ch = channels[idx];
  if (c.seq > ch.pub_last) {
    out.code = Code::invalid_request;
    out.message = "seq " + std::to_string(c.seq) + " is above the channel's last publication " +
                  std::to_string(ch.pub_last);
    return out;
  }
  if (c.seq <= ch.pub_acked) return out;  // acknowledged already
  ch.pub_acked = c.seq;
  out.changed = true;
  // publish() below may publish again (seq > c.seq): the loop stops at those.
  while (!ch.pending.empty() && ch.pending.begin()->first <= c.seq) {
    std::uint32_t sku = ch.pending.begin()->second;
    ch.pending.erase(ch.pending.begin());
    Sku& s = skus[sku];
    Exposure* e = exposure_of(s, idx);
    STOCKD_ASSERT(e != nullptr);
    const std::int64_t excess = policy::ack_excess(e->units, e->published);
    if (excess == 0) continue;
    capture(s);
    std::int64_t total_before = sellable(s);
    release_exposure(s, *e, excess);
    ++s.version;
    publish(sku, total_before, s.low_threshold);
  }
  return out;
}

}  // namespace stockd::core
