// Command encoding for the journal. The tag of a command is its index in the Command variant plus one;
// new commands are appended to the variant, never inserted, so old journals stay readable. A change to
// an existing command's fields bumps kCommandFormatVersion and keeps a decoder for the old version
// (version 2 added PutChannel's reason, listing and webhook).
#include "core/codec.h"

#include "core/limits.h"

namespace stockd::core {
namespace {

constexpr std::size_t kStrMax = limits::kIdLenMax;

void put_opt(Writer& w, const std::optional<std::int64_t>& v) {
  w.u8(v ? 1 : 0);
  if (v) w.svarint(*v);
}

std::optional<std::int64_t> get_opt(Reader& r) {
  std::uint8_t present = r.u8();
  if (present > 1) r.fail();
  if (present != 1) return std::nullopt;
  return r.svarint();
}

void put_lines(Writer& w, const std::vector<HoldLine>& lines) {
  w.varint(lines.size());
  for (const auto& l : lines) {
    w.str(l.sku);
    w.svarint(l.qty);
  }
}

bool get_lines(Reader& r, std::vector<HoldLine>* lines) {
  std::uint64_t n = r.varint();
  if (n > limits::kLinesPerHoldMax) return false;
  lines->resize(n);
  for (auto& l : *lines) {
    l.sku = r.str(kStrMax);
    l.qty = r.svarint();
  }
  return r.ok();
}

struct Encoder {
  Writer& w;
  void operator()(const PutChannel& c) {
    w.str(c.channel);
    put_opt(w, c.priority);
    put_opt(w, c.hold_ttl_s);
    w.u8(c.state ? 1 + static_cast<std::uint8_t>(*c.state) : 0);
    w.u8(c.reason ? static_cast<std::uint8_t>(*c.reason) : 0);
    w.u8(c.listing ? 1 : c.clear_listing ? 2 : 0);
    if (c.listing)
      for (std::int64_t v : {c.listing->percent, c.listing->buffer, c.listing->cap, c.listing->min}) w.svarint(v);
    w.u8(c.webhook ? 1 : c.clear_webhook ? 2 : 0);
    if (c.webhook) {
      w.str(c.webhook->url);
      w.str(c.webhook->secret);
      w.svarint(c.webhook->freeze_after_s);
    }
  }
  void operator()(const AckPublications& c) {
    w.str(c.channel);
    w.varint(c.seq);
  }
  void operator()(const PutSku& c) {
    w.str(c.sku);
    put_opt(w, c.on_hand);
    put_opt(w, c.safety_stock);
    put_opt(w, c.max_per_hold);
    put_opt(w, c.low_stock_threshold);
  }
  void operator()(const Adjust& c) {
    w.str(c.sku);
    w.svarint(c.delta);
    w.str(c.reason);
    w.str(c.ref);
  }
  void operator()(const SetAllocation& c) {
    w.str(c.sku);
    w.varint(c.fences.size());
    for (const auto& f : c.fences) {
      w.str(f.channel);
      w.svarint(f.ratio_ppb);
      w.svarint(f.units);
    }
    w.varint(c.pools.size());
    for (const auto& p : c.pools) {
      w.str(p.name);
      w.svarint(p.units);
      w.varint(p.channels.size());
      for (const auto& ch : p.channels) w.str(ch);
    }
    w.u8(c.preempt ? 1 : 0);
  }
  void operator()(const ClosePool& c) {
    w.str(c.sku);
    w.str(c.pool);
  }
  void operator()(const CreateHold& c) {
    w.str(c.id);
    w.str(c.channel);
    put_lines(w, c.lines);
    put_opt(w, c.ttl_s);
    w.u8(c.confirm ? 1 : 0);
  }
  void operator()(const ConfirmHold& c) {
    w.str(c.id);
    w.u8(c.lines ? 1 : 0);
    if (c.lines) put_lines(w, *c.lines);
  }
  void operator()(const ReleaseHold& c) { w.str(c.id); }
  void operator()(const ExtendHold& c) {
    w.str(c.id);
    w.svarint(c.ttl_s);
  }
  void operator()(const Tick&) {}
  void operator()(const Configure& c) {
    w.svarint(c.retention_ms);
    w.svarint(c.low_stock_permille);
  }
  void operator()(const StockBatch& c) {
    w.str(c.ref);
    w.u8(static_cast<std::uint8_t>(c.reason));
    w.u8(c.atomic ? 1 : 0);
    w.varint(c.rows.size());
    for (const BatchRow& row : c.rows) {
      w.str(row.sku);
      w.u8(static_cast<std::uint8_t>((row.set ? 1 : 0) | (row.expect_on_hand ? 2 : 0)));
      w.svarint(row.value);
      if (row.expect_on_hand) w.svarint(*row.expect_on_hand);
    }
  }
};

bool get_bool(Reader& r) {
  std::uint8_t b = r.u8();
  if (b > 1) r.fail();
  return b == 1;
}

// The alternative T of *out, reused when *out already holds one (its strings and vectors keep their
// capacity: replay decodes millions of records into one Command without allocating), else a fresh T.
// Every field of T is assigned by the decoder below, so nothing of the previous command survives.
template <class T>
T& reuse(Command* out) {
  if (T* c = std::get_if<T>(out)) return *c;
  return out->emplace<T>();
}

// One decoder per command, the mirror of Encoder's operator()s; false when the body is malformed.
bool decode(Reader& r, PutChannel& c, std::uint8_t version) {
  c.channel = r.str(kStrMax);
  c.priority = get_opt(r);
  c.hold_ttl_s = get_opt(r);
  std::uint8_t st = r.u8();
  if (st > 2) return false;
  if (st) c.state = static_cast<ChannelState>(st - 1);
  if (version < 2) return true;  // written before listed channels existed
  std::uint8_t reason = r.u8();
  if (reason > 2) return false;
  if (reason) c.reason = static_cast<FrozenReason>(reason);
  std::uint8_t listing = r.u8();
  if (listing > 2) return false;
  c.clear_listing = listing == 2;
  if (listing == 1) {
    Listing& l = c.listing.emplace();
    for (std::int64_t* v : {&l.percent, &l.buffer, &l.cap, &l.min}) *v = r.svarint();
  }
  std::uint8_t webhook = r.u8();
  if (webhook > 2) return false;
  c.clear_webhook = webhook == 2;
  if (webhook == 1) {
    Webhook& h = c.webhook.emplace();
    h.url = r.str(limits::kUrlLenMax);
    h.secret = r.str(limits::kSecretLenMax);
    h.freeze_after_s = r.svarint();
  }
  return true;
}

bool decode(Reader& r, AckPublications& c) {
  c.channel = r.str(kStrMax);
  c.seq = r.varint();
  return true;
}

bool decode(Reader& r, PutSku& c) {
  c.sku = r.str(kStrMax);
  c.on_hand = get_opt(r);
  c.safety_stock = get_opt(r);
  c.max_per_hold = get_opt(r);
  c.low_stock_threshold = get_opt(r);
  return true;
}

bool decode(Reader& r, Adjust& c) {
  c.sku = r.str(kStrMax);
  c.delta = r.svarint();
  c.reason = r.str(limits::kReasonLenMax);
  c.ref = r.str(kStrMax);
  return true;
}

bool decode(Reader& r, SetAllocation& c) {
  c.sku = r.str(kStrMax);
  std::uint64_t nf = r.varint();
  if (nf > limits::kFencesPerSkuMax) return false;
  c.fences.resize(nf);
  for (auto& f : c.fences) {
    f.channel = r.str(kStrMax);
    f.ratio_ppb = r.svarint();
    f.units = r.svarint();
  }
  std::uint64_t np = r.varint();
  if (np > limits::kPoolsPerSkuMax) return false;
  c.pools.resize(np);
  for (auto& p : c.pools) {
    p.name = r.str(kStrMax);
    p.units = r.svarint();
    std::uint64_t nc = r.varint();
    if (nc > limits::kChannelsPerPoolMax) return false;
    p.channels.resize(nc);
    for (auto& ch : p.channels) ch = r.str(kStrMax);
  }
  c.preempt = get_bool(r);
  return true;
}

bool decode(Reader& r, ClosePool& c) {
  c.sku = r.str(kStrMax);
  c.pool = r.str(kStrMax);
  return true;
}

bool decode(Reader& r, CreateHold& c) {
  c.id = r.str(kStrMax);
  c.channel = r.str(kStrMax);
  if (!get_lines(r, &c.lines)) return false;
  c.ttl_s = get_opt(r);
  c.confirm = get_bool(r);
  return true;
}

bool decode(Reader& r, ConfirmHold& c) {
  c.id = r.str(kStrMax);
  if (!get_bool(r)) {
    c.lines.reset();
    return true;
  }
  if (!c.lines) c.lines.emplace();
  return get_lines(r, &*c.lines);
}

bool decode(Reader& r, ReleaseHold& c) {
  c.id = r.str(kStrMax);
  return true;
}

bool decode(Reader& r, ExtendHold& c) {
  c.id = r.str(kStrMax);
  c.ttl_s = r.svarint();
  return true;
}

bool decode(Reader&, Tick&) { return true; }

bool decode(Reader& r, Configure& c) {
  c.retention_ms = r.svarint();
  c.low_stock_permille = r.svarint();
  return true;
}

bool decode(Reader& r, StockBatch& c) {
  c.ref = r.str(kStrMax);
  std::uint8_t reason = r.u8();
  if (reason >= kStockReasonCount) return false;
  c.reason = static_cast<StockReason>(reason);
  c.atomic = get_bool(r);
  std::uint64_t n = r.varint();
  if (n > limits::kBatchRowsMax) return false;
  c.rows.resize(n);
  for (BatchRow& row : c.rows) {
    row.sku = r.str(limits::kBatchSkuBytesMax);
    std::uint8_t flags = r.u8();
    if (flags > 3) return false;
    row.set = (flags & 1) != 0;
    row.value = r.svarint();
    if (flags & 2) row.expect_on_hand = r.svarint();
    else row.expect_on_hand.reset();
  }
  return r.ok();
}

// Decodes into a fresh T, stored in *out only when it decodes (the configuration commands: rare).
template <class T>
bool decode_fresh(Reader& r, Command* out) {
  T c;
  if (!decode(r, c)) return false;
  *out = std::move(c);
  return true;
}

// Decodes into *out's T when it holds one (the hold commands: the bulk of a journal; see reuse()).
template <class T>
bool decode_reused(Reader& r, Command* out) {
  return decode(r, reuse<T>(out));
}

bool decode_body(Reader& r, std::uint8_t version, std::uint8_t tag, Command* out) {
  switch (tag) {
    case 1: {
      PutChannel c;
      if (!decode(r, c, version)) return false;
      *out = std::move(c);
      return true;
    }
    case 2: return decode_fresh<PutSku>(r, out);
    case 3: return decode_fresh<Adjust>(r, out);
    case 4: return decode_fresh<SetAllocation>(r, out);
    case 5: return decode_fresh<ClosePool>(r, out);
    case 6: return decode_reused<CreateHold>(r, out);
    case 7: return decode_reused<ConfirmHold>(r, out);
    case 8: return decode_reused<ReleaseHold>(r, out);
    case 9: return decode_reused<ExtendHold>(r, out);
    case 10: return decode_fresh<Tick>(r, out);
    case 11: return decode_fresh<Configure>(r, out);
    case 12: return decode_fresh<StockBatch>(r, out);
    case 13: return decode_fresh<AckPublications>(r, out);
    default: return false;
  }
}

}  // namespace

void encode_command(std::int64_t now_ms, const Command& cmd, Writer& out) {
  out.u8(kCommandFormatVersion);
  out.svarint(now_ms);
  out.u8(static_cast<std::uint8_t>(cmd.index() + 1));
  std::visit(Encoder{out}, cmd);
}

bool decode_command(std::string_view payload, std::int64_t* now_ms, Command* cmd) {
  Reader r(payload);
  std::uint8_t version = r.u8();
  if (version < 1 || version > kCommandFormatVersion) return false;
  *now_ms = r.svarint();
  std::uint8_t tag = r.u8();
  if (!r.ok() || !decode_body(r, version, tag, cmd)) return false;
  return r.ok() && r.done();
}

}  // namespace stockd::core
