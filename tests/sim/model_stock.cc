// The model's stock rules: channels, SKUs, adjustments, allocation buckets (sizing, drawing, giving
// back, selling) and the availability / low_stock events. Written from docs/allocation.md.
#include <algorithm>
#include <cctype>

#include "model.h"

namespace stockd::sim {
namespace {

MOutcome fail(Code code) {
  MOutcome out;
  out.code = code;
  return out;
}

bool pool_lists(const MPool& p, int channel) {
  return std::find(p.channels.begin(), p.channels.end(), channel) != p.channels.end();
}

std::int64_t clamp(std::int64_t v, std::int64_t lo, std::int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

std::int64_t permille_of(std::int64_t on_hand, std::int64_t permille) {
  return static_cast<std::int64_t>(static_cast<__int128>(on_hand) * permille / 1000);
}

constexpr std::int64_t kE15 = 1'000'000'000'000'000;  // docs/api.md: figures and |delta| up to 10^15

bool in_range(std::int64_t v, std::int64_t lo, std::int64_t hi) { return v >= lo && v <= hi; }

// docs/api.md: 1 to 128 characters of A-Z a-z 0-9 . _ : -
bool ident(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != ':' && ch != '-') return false;
  return true;
}

}  // namespace

int Model::channel_index(const std::string& name) const {
  for (std::size_t i = 0; i < channels.size(); ++i)
    if (channels[i].name == name) return static_cast<int>(i);
  return -1;
}

int Model::sku_index(const std::string& name) const {
  for (std::size_t i = 0; i < skus.size(); ++i)
    if (skus[i].name == name) return static_cast<int>(i);
  return -1;
}

std::int64_t Model::total_free(const MSku& s) const { return std::max<std::int64_t>(0, s.on_hand - s.safety - s.held); }

// Channel c's available: 0 if frozen; else shared + its fence + the open pools listing it + (preempt)
// the fences of channels with a larger priority number.
std::int64_t Model::available(int sku, int c) const {
  if (channels[c].frozen) return 0;
  const MSku& s = skus[sku];
  std::int64_t sum = s.shared;
  for (const auto& [ch, f] : s.fences) {
    if (!f.active) continue;
    if (ch == c) sum += f.free;
    else if (s.preempt && channels[ch].priority > channels[c].priority) sum += f.free;
  }
  for (const MPool& p : s.pools)
    if (p.open && pool_lists(p, c)) sum += p.free;
  return sum;
}

std::vector<std::int64_t> Model::all_available(int sku) const {
  std::vector<std::int64_t> out;
  for (std::size_t c = 0; c < channels.size(); ++c) out.push_back(available(sku, static_cast<int>(c)));
  return out;
}

void Model::emit(MEvent e) {
  ++seq;
  e.at_ms = now;
  if (events_) events_->push_back(std::move(e));
}

void Model::publish(int sku, const std::vector<std::int64_t>& before, std::int64_t total_before,
                    std::int64_t threshold_before) {
  const MSku& s = skus[sku];
  for (std::size_t c = 0; c < channels.size(); ++c) {
    std::int64_t a = available(sku, static_cast<int>(c));
    if (c < before.size() && a == before[c]) continue;
    MEvent e;
    e.type = EventType::availability;
    e.sku = s.name;
    e.channel = channels[c].name;
    e.available = a;
    emit(e);
  }
  std::int64_t total = total_free(s);
  if (total_before >= threshold_before && total < s.threshold) {
    MEvent e;
    e.type = EventType::low_stock;
    e.sku = s.name;
    e.available = total;
    e.threshold = s.threshold;
    emit(e);
  }
  if (total_before > 0 && total == 0) {
    MEvent e;
    e.type = EventType::out_of_stock;
    e.sku = s.name;
    emit(e);
  }
}

// Fences in priority order (ties: channel index), then open pools in slot order, each capped by what
// is still free; shared gets the rest.
void Model::resize(MSku& s) {
  std::int64_t sellable = std::max<std::int64_t>(0, s.on_hand - s.safety);
  std::int64_t remaining = total_free(s);
  std::vector<int> order;
  for (std::size_t c = 0; c < channels.size(); ++c) order.push_back(static_cast<int>(c));
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return channels[a].priority < channels[b].priority; });
  for (auto& [ch, f] : s.fences) f.free = 0;
  for (int c : order) {
    auto it = s.fences.find(c);
    if (it == s.fences.end() || !it->second.active) continue;
    MFence& f = it->second;
    std::int64_t size = f.units >= 0 ? f.units
                                     : static_cast<std::int64_t>(static_cast<__int128>(f.ratio_ppb) * sellable /
                                                                 1'000'000'000);
    f.free = clamp(size - f.held, 0, remaining);
    remaining -= f.free;
  }
  for (MPool& p : s.pools) {
    p.free = p.open ? clamp(p.units - p.sold - p.held, 0, remaining) : 0;
    remaining -= p.free;
  }
  s.shared = remaining;
}

// Own fence, pools listing the channel (slot order), shared, then (preempt) the fences of channels
// with a larger priority number, largest first (ties: larger channel index first).
void Model::take(MSku& s, int channel, std::int64_t qty, std::vector<MDraw>& draws) {
  s.held += qty;
  auto draw = [&](std::int64_t& free, std::int64_t* held, Bucket b, int key) {
    std::int64_t q = std::min(free, qty);
    if (q <= 0) return;
    free -= q;
    if (held) *held += q;
    qty -= q;
    draws.push_back(MDraw{b, key, q});
  };
  if (auto it = s.fences.find(channel); it != s.fences.end() && it->second.active)
    draw(it->second.free, &it->second.held, Bucket::fence, channel);
  for (std::size_t slot = 0; slot < s.pools.size(); ++slot) {
    MPool& p = s.pools[slot];
    if (p.open && pool_lists(p, channel)) draw(p.free, &p.held, Bucket::pool, static_cast<int>(slot));
  }
  draw(s.shared, nullptr, Bucket::shared, 0);
  if (!s.preempt) return;
  std::vector<int> lower;
  for (const auto& [ch, f] : s.fences)
    if (f.active && channels[ch].priority > channels[channel].priority) lower.push_back(ch);
  std::sort(lower.begin(), lower.end(), [&](int a, int b) {
    if (channels[a].priority != channels[b].priority) return channels[a].priority > channels[b].priority;
    return a > b;
  });
  for (int ch : lower) draw(s.fences[ch].free, &s.fences[ch].held, Bucket::fence, ch);
}

// A draw comes back to its bucket if the fence is still in the allocation / the pool still open (a pool
// only up to its total), else to shared; only the part that makes total_free grow becomes free.
void Model::give_back(MSku& s, const MDraw& d) {
  std::int64_t before = total_free(s);
  s.held -= d.qty;
  std::int64_t back = total_free(s) - before;
  std::int64_t* target = &s.shared;
  if (d.bucket == Bucket::fence) {
    MFence& f = s.fences.at(d.key);
    f.held -= d.qty;
    if (f.active) target = &f.free;
  } else if (d.bucket == Bucket::pool) {
    MPool& p = s.pools.at(d.key);
    p.held -= d.qty;
    if (p.open) {
      // A pool is a total for its event: only what fits under its units goes back to it.
      std::int64_t room = std::max<std::int64_t>(0, p.units - p.sold - p.held - p.free);
      std::int64_t to_pool = std::min(back, room);
      p.free += to_pool;
      back -= to_pool;
    }
  }
  *target += back;
}

void Model::consume(MSku& s, const MDraw& d) {
  s.on_hand -= d.qty;
  s.held -= d.qty;
  s.confirmed += d.qty;
  if (d.bucket == Bucket::fence) s.fences.at(d.key).held -= d.qty;
  if (d.bucket == Bucket::pool) {
    s.pools.at(d.key).held -= d.qty;
    s.pools.at(d.key).sold += d.qty;
  }
}

MOutcome Model::put_channel(const core::PutChannel& c) {
  int idx = channel_index(c.channel);
  if (idx < 0) {
    if (channels.size() >= 1024) return fail(Code::invalid_request);
    channels.push_back(MChannel{c.channel, 100, 900, false});
    idx = static_cast<int>(channels.size() - 1);
  }
  MChannel& ch = channels[idx];
  if (c.priority) ch.priority = *c.priority;
  if (c.hold_ttl_s) ch.ttl_s = *c.hold_ttl_s;
  const bool was_frozen = ch.frozen;
  if (c.state) ch.frozen = *c.state == core::ChannelState::frozen;
  if (!was_frozen && ch.frozen) {  // the generator freezes by hand only
    MEvent f;
    f.type = EventType::channel_frozen;
    f.channel = ch.name;
    f.reason = "manual";
    emit(f);
  }
  MEvent e;
  e.type = EventType::channel_updated;
  e.channel = ch.name;
  emit(e);
  MOutcome out;
  out.changed = true;
  out.index = static_cast<std::uint32_t>(idx);
  return out;
}

MOutcome Model::put_sku(const core::PutSku& c) {
  int idx = sku_index(c.sku);
  bool is_new = idx < 0;
  if (!is_new && c.on_hand && *c.on_hand < skus[idx].held) return fail(Code::invalid_state);
  if (is_new) {
    skus.push_back(MSku{});
    skus.back().name = c.sku;
    idx = static_cast<int>(skus.size() - 1);
  }
  MSku& s = skus[idx];
  std::vector<std::int64_t> before = all_available(idx);
  std::int64_t total_before = is_new ? 0 : total_free(s);
  std::int64_t threshold_before = is_new ? 0 : s.threshold;
  std::int64_t old_on_hand = s.on_hand;
  if (c.on_hand) s.on_hand = *c.on_hand;
  if (c.safety_stock) s.safety = *c.safety_stock;
  if (c.max_per_hold) s.max_per_hold = *c.max_per_hold == core::kClear ? 0 : *c.max_per_hold;
  if (c.low_stock_threshold) {
    s.threshold_explicit = *c.low_stock_threshold != core::kClear;
    if (s.threshold_explicit) s.threshold = *c.low_stock_threshold;
  }
  if (!s.threshold_explicit && (c.on_hand || is_new || c.low_stock_threshold))
    s.threshold = permille_of(s.on_hand, low_stock_permille);
  if (s.on_hand > old_on_hand) s.received += s.on_hand - old_on_hand;
  resize(s);
  ++s.version;
  if (is_new || s.on_hand != old_on_hand) {
    MEvent e;
    e.type = EventType::stock_adjusted;
    e.sku = s.name;
    e.on_hand = s.on_hand;
    e.delta = s.on_hand - old_on_hand;
    e.reason = "set";
    emit(e);
  }
  publish(idx, before, total_before, threshold_before);
  MOutcome out;
  out.changed = true;
  out.index = static_cast<std::uint32_t>(idx);
  return out;
}

MOutcome Model::adjust(const core::Adjust& c) {
  int idx = sku_index(c.sku);
  if (idx < 0) return fail(Code::unknown_sku);
  MSku& s = skus[idx];
  if (!c.ref.empty()) {
    auto r = refs.find({c.sku, c.ref});
    if (r != refs.end()) {
      if (r->second.first != c.delta) return fail(Code::idempotency_conflict);
      MOutcome out;
      out.index = static_cast<std::uint32_t>(idx);
      return out;
    }
  }
  if (s.on_hand + c.delta < s.held) return fail(Code::invalid_state);
  if (s.on_hand + c.delta > 1'000'000'000'000'000) return fail(Code::invalid_request);  // 10^15 (docs/api.md)
  std::vector<std::int64_t> before = all_available(idx);
  std::int64_t total_before = total_free(s);
  std::int64_t threshold_before = s.threshold;
  s.on_hand += c.delta;
  if (c.delta > 0) s.received += c.delta;
  if (!s.threshold_explicit) s.threshold = permille_of(s.on_hand, low_stock_permille);
  resize(s);
  ++s.version;
  if (!c.ref.empty()) refs[{c.sku, c.ref}] = {c.delta, now};
  MEvent e;
  e.type = EventType::stock_adjusted;
  e.sku = s.name;
  e.on_hand = s.on_hand;
  e.delta = c.delta;
  e.reason = c.reason;
  e.ref = c.ref;
  emit(e);
  publish(idx, before, total_before, threshold_before);
  MOutcome out;
  out.changed = true;
  out.index = static_cast<std::uint32_t>(idx);
  return out;
}

// A stock batch, written the plain way: the rows are applied one by one as PUT /v1/skus would (the
// SKU list is copied first), and a failed atomic batch puts the copy back and drops its events.
MOutcome Model::stock_batch(const core::StockBatch& c) {
  MOutcome out;
  if (auto r = batch_refs.find(c.ref); !c.ref.empty() && r != batch_refs.end()) {
    out.rows = r->second.rows;
    out.batch_failed = r->second.failed;
    return out;
  }
  const std::vector<MSku> saved = skus;
  const std::uint64_t saved_seq = seq;
  const std::size_t saved_events = events_ ? events_->size() : 0;
  bool any_failed = false;
  for (const core::BatchRow& row : c.rows) {
    int idx = sku_index(row.sku);
    std::int64_t on_hand = idx >= 0 ? skus[idx].on_hand : 0;
    std::int64_t after = row.set ? row.value : on_hand + row.value;
    Code code = Code::ok;
    bool value_ok = row.set ? in_range(row.value, 0, kE15) : in_range(row.value, -kE15, kE15);
    if (!ident(row.sku) || !value_ok || (row.expect_on_hand && !in_range(*row.expect_on_hand, 0, kE15)))
      code = Code::invalid_request;
    else if (idx < 0 && (!row.set || row.expect_on_hand)) code = Code::unknown_sku;
    else if (row.expect_on_hand && *row.expect_on_hand != on_hand) code = Code::precondition_failed;
    else if (after > kE15) code = Code::invalid_request;
    else if (idx >= 0 && after < skus[idx].held) code = Code::invalid_state;
    else if (after < 0) code = Code::invalid_state;
    out.rows.emplace_back(code, code == Code::precondition_failed ? on_hand : 0);
    if (code != Code::ok) {
      any_failed = true;
      continue;
    }
    if (idx >= 0 && after == on_hand) continue;
    core::PutSku set;
    set.sku = row.sku;
    set.on_hand = after;
    put_sku(set);
    if (events_) {
      for (std::size_t i = events_->size(); i-- > saved_events;) {
        if ((*events_)[i].type != EventType::stock_adjusted) continue;
        (*events_)[i].reason = std::string(core::stock_reason_name(c.reason));
        (*events_)[i].ref = c.ref;
        break;
      }
    }
    out.changed = true;
  }
  if (c.atomic && any_failed) {
    skus = saved;
    seq = saved_seq;
    if (events_) events_->resize(saved_events);
    out.changed = false;
    out.batch_failed = true;
    for (auto& [code, actual] : out.rows)
      if (code == Code::ok) code = Code::invalid_state;
  }
  if (!c.ref.empty()) {
    batch_refs[c.ref] = MBatchAnswer{out.rows, out.batch_failed, now};
    out.changed = true;
  }
  return out;
}

MOutcome Model::set_allocation(const core::SetAllocation& c) {
  int idx = sku_index(c.sku);
  if (idx < 0) return fail(Code::unknown_sku);
  for (const core::FenceSpec& f : c.fences)
    if (channel_index(f.channel) < 0) return fail(Code::unknown_channel);
  for (const core::PoolSpec& p : c.pools)
    for (const std::string& ch : p.channels)
      if (channel_index(ch) < 0) return fail(Code::unknown_channel);
  MSku& s = skus[idx];
  std::vector<std::int64_t> before = all_available(idx);
  std::int64_t total_before = total_free(s);
  s.has_alloc = true;
  // Fences: the listed ones are (re)set; the others leave the allocation, and are dropped once
  // nothing is held from them.
  for (auto& [ch, f] : s.fences) f.active = false;
  for (const core::FenceSpec& spec : c.fences) {
    MFence& f = s.fences[channel_index(spec.channel)];
    f.ratio_ppb = spec.ratio_ppb;
    f.units = spec.units;
    f.active = true;
  }
  std::erase_if(s.fences, [](const auto& kv) { return !kv.second.active && kv.second.held == 0; });
  // Pools: a listed name reopens its slot (sold units stay counted); a new name takes the first
  // closed slot with nothing held (starting afresh), else a new slot; pools not listed are closed.
  for (MPool& p : s.pools) p.open = false;
  std::vector<const core::PoolSpec*> fresh;
  for (const core::PoolSpec& spec : c.pools) {
    MPool* same = nullptr;
    for (MPool& p : s.pools)
      if (p.name == spec.name) same = &p;
    if (!same) {
      fresh.push_back(&spec);
      continue;
    }
    same->units = spec.units;
    same->open = true;
    same->channels.clear();
    for (const std::string& ch : spec.channels) same->channels.push_back(channel_index(ch));
  }
  for (const core::PoolSpec* spec : fresh) {
    MPool* slot = nullptr;
    for (MPool& p : s.pools)
      if (!slot && !p.open && p.held == 0) slot = &p;
    if (!slot) slot = &s.pools.emplace_back();
    *slot = MPool{spec->name, spec->units, {}, 0, 0, 0, true};
    for (const std::string& ch : spec->channels) slot->channels.push_back(channel_index(ch));
  }
  s.preempt = c.preempt;
  bool idle = std::all_of(s.pools.begin(), s.pools.end(), [](const MPool& p) { return !p.open && p.held == 0; });
  if (s.fences.empty() && idle && !s.preempt) {
    s.has_alloc = false;
    s.pools.clear();  // the allocation is dropped: a pool opened later starts afresh
  }
  resize(s);
  ++s.version;
  publish(idx, before, total_before, s.threshold);
  MOutcome out;
  out.changed = true;
  out.index = static_cast<std::uint32_t>(idx);
  return out;
}

MOutcome Model::close_pool(const core::ClosePool& c) {
  int idx = sku_index(c.sku);
  if (idx < 0) return fail(Code::unknown_sku);
  MSku& s = skus[idx];
  MPool* pool = nullptr;
  for (MPool& p : s.pools)
    if (p.open && p.name == c.pool) pool = &p;
  if (!pool) return fail(Code::invalid_request);
  std::vector<std::int64_t> before = all_available(idx);
  std::int64_t total_before = total_free(s);
  pool->open = false;
  s.shared += pool->free;
  pool->free = 0;
  ++s.version;
  publish(idx, before, total_before, s.threshold);
  MOutcome out;
  out.changed = true;
  out.index = static_cast<std::uint32_t>(idx);
  return out;
}

}  // namespace stockd::sim
