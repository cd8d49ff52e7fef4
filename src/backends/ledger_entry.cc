// Parsing and checking of outbox entries, and their JSON form for PostgreSQL.
//
// Why JSON: a batch goes to PostgreSQL as one parameter that json_to_recordset() turns into rows, so
// a partition's batch is one statement (one round trip) however many entries it has, and no entry
// text ever becomes SQL. It is a flat array of flat objects written with core/json_writer.h; their
// strings were already checked by valid_text().
#include "backends/ledger_entry.h"

#include <algorithm>
#include <charconv>

#include "core/json_writer.h"
#include "core/limits.h"

namespace stockd::backends {
namespace {

class FieldReader {
 public:
  FieldReader(const StreamFields& fields, std::string* error) : fields_(fields), error_(error) {}

  // The first value of `name`, or nullptr (and the error) if it is missing.
  const std::string* find(std::string_view name) {
    for (const auto& [f, v] : fields_) {
      if (f == name) return &v;
    }
    fail(name, "missing");
    return nullptr;
  }

  bool text(std::string_view name, std::size_t len_max, bool may_be_empty, std::string* out) {
    const std::string* v = find(name);
    if (v == nullptr) return false;
    if (v->empty() && !may_be_empty) return fail(name, "empty");
    if (v->size() > len_max) return fail(name, "longer than " + std::to_string(len_max) + " bytes");
    if (!valid_text(*v)) return fail(name, "not UTF-8 or holds a NUL byte");
    *out = *v;
    return true;
  }

  bool integer(std::string_view name, std::int64_t min, std::int64_t max, std::int64_t* out) {
    const std::string* v = find(name);
    if (v == nullptr) return false;
    std::int64_t n = 0;
    const char* end = v->data() + v->size();
    auto [p, ec] = std::from_chars(v->data(), end, n);
    if (v->empty() || ec != std::errc() || p != end) return fail(name, "not a 64-bit integer: '" + *v + "'");
    if (n < min || n > max) return fail(name, "out of range: " + *v);
    *out = n;
    return true;
  }

  bool time_ms(std::string_view name, std::int64_t* out) { return integer(name, 0, kEpochMsMax, out); }

  bool has(std::string_view name) const {
    for (const auto& kv : fields_) {
      if (kv.first == name) return true;
    }
    return false;
  }

  bool fail(std::string_view name, const std::string& what) {
    if (error_->empty()) *error_ = "field " + std::string(name) + ": " + what;
    return false;
  }

 private:
  const StreamFields& fields_;
  std::string* error_;
};

constexpr std::int64_t kI64Min = INT64_MIN;
constexpr std::int64_t kI64Max = INT64_MAX;
constexpr std::size_t kLinesTextMax = limits::kLinesPerHoldMax * (limits::kIdLenMax + 24);
// fr and cfg: at most 1,024 channels' fences and 64 pools, each a name and a few numbers.
constexpr std::size_t kBucketsTextMax = 1'048'576;

// fr, cfg, lst, base: all four or none (an entry of an older library).
bool parse_sku_buckets(FieldReader& r, SkuChange* c) {
  if (!r.has("fr")) return true;
  c->has_buckets = true;
  return r.text("fr", kBucketsTextMax, true, &c->frees) && r.text("cfg", kBucketsTextMax, true, &c->cfg) &&
         r.integer("lst", -1, kI64Max, &c->low_stock_threshold) && r.integer("base", kI64Min, kI64Max, &c->base_on_hand);
}

// The items of the optional list field `name` (`parts` or `more`, outbox.h: "a|b|...;a|b|..."): for
// each, its N '|'-separated fields go to fn(f), which returns false (having called r.fail) to stop.
// At most max_items items; true when the field is absent.
template <int N, typename Fn>
bool for_each_item(FieldReader& r, const char* name, std::size_t text_max, std::size_t max_items, Fn fn) {
  if (!r.has(name)) return true;
  std::string text;
  if (!r.text(name, text_max, true, &text)) return false;
  std::string_view rest = text;
  for (std::size_t count = 0; !rest.empty(); ++count) {
    if (count == max_items) return r.fail(name, "more than " + std::to_string(max_items) + " items");
    std::string_view item = rest.substr(0, rest.find(';'));
    rest.remove_prefix(std::min(rest.size(), item.size() + 1));
    std::string_view f[N];
    for (int i = 0; i < N; ++i) {  // a '|' in the last field makes that field fail its own check
      std::size_t bar = i < N - 1 ? item.find('|') : item.size();
      if (bar == std::string_view::npos) return r.fail(name, "an item without " + std::to_string(N) + " fields");
      f[i] = item.substr(0, bar);
      item.remove_prefix(std::min(item.size(), bar + 1));
    }
    if (!fn(f)) return false;
  }
  return true;
}

// A decimal integer in [min, max] that is all of v.
bool item_number(std::string_view v, std::int64_t min, std::int64_t max, std::int64_t* out) {
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
  return !v.empty() && ec == std::errc() && end == v.data() + v.size() && *out >= min && *out <= max;
}

// "ver|ref|ch|d_hd|at;..." (outbox.h): versions below the entry's, ascending.
constexpr std::size_t kPartsMax = 256;
constexpr std::size_t kPartsTextMax = kPartsMax * (2 * limits::kIdLenMax + 64);

bool parse_parts(FieldReader& r, SkuChange* c) {
  std::int64_t prev = 0;
  return for_each_item<5>(r, "parts", kPartsTextMax, kPartsMax, [&](const std::string_view* f) {
    SkuChange::Part p;
    if (!item_number(f[0], prev + 1, c->version - 1, &p.version) ||
        !item_number(f[3], kI64Min, kI64Max, &p.delta_held) || !item_number(f[4], 0, kEpochMsMax, &p.at_ms) ||
        f[1].size() > limits::kIdLenMax || f[2].size() > limits::kIdLenMax) {
      return r.fail("parts", "a malformed part: '" + std::string(f[0]) + "|...'");
    }
    prev = p.version;
    p.ref = std::string(f[1]);
    p.channel = std::string(f[2]);
    c->parts.push_back(std::move(p));
    return true;
  });
}

bool parse_sku(FieldReader& r, SkuChange* c) {
  // A shard of a split SKU is "<sku>#<j>" (docs/cluster.md "Hot SKUs").
  return r.text("sku", limits::kIdLenMax + 3, false, &c->sku) && r.integer("ver", 1, kI64Max, &c->version) &&
         r.text("kind", limits::kIdLenMax, false, &c->kind) &&
         r.integer("d_oh", kI64Min, kI64Max, &c->delta_on_hand) &&
         r.integer("d_hd", kI64Min, kI64Max, &c->delta_held) && r.text("ref", limits::kIdLenMax, true, &c->ref) &&
         r.text("reason", limits::kReasonLenMax, true, &c->reason) && r.time_ms("at", &c->at_ms) &&
         r.integer("oh", kI64Min, kI64Max, &c->on_hand) && r.integer("ss", kI64Min, kI64Max, &c->safety_stock) &&
         r.integer("hd", kI64Min, kI64Max, &c->held) && parse_sku_buckets(r, c) &&
         (!r.has("ch") || r.text("ch", limits::kIdLenMax, true, &c->channel)) && parse_parts(r, c);
}

// "sku:qty,sku:qty" (empty: no lines). The quantity follows the last ':' of an item.
bool parse_lines(FieldReader& r, const std::string& text, std::vector<std::pair<std::string, std::int64_t>>* out) {
  if (text.empty()) return true;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    if (out->size() == limits::kLinesPerHoldMax) return r.fail("lines", "more than kLinesPerHoldMax lines");
    std::size_t end = text.find(',', begin);
    if (end == std::string::npos) end = text.size();
    const std::string_view item(text.data() + begin, end - begin);
    const std::size_t colon = item.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return r.fail("lines", "item without 'sku:qty'");
    std::int64_t qty = 0;
    auto [p, ec] = std::from_chars(item.data() + colon + 1, item.data() + item.size(), qty);
    if (ec != std::errc() || p != item.data() + item.size() || colon + 1 == item.size()) {
      return r.fail("lines", "quantity is not an integer in '" + std::string(item) + "'");
    }
    out->emplace_back(std::string(item.substr(0, colon)), qty);
    begin = end + 1;
  }
  return true;
}

// "id|ch|lines|cat|exp|hver;..." (outbox.h): new holds, each state held, finished 0.
constexpr std::size_t kMoreMax = 256;
constexpr std::size_t kMoreTextMax = kMoreMax * (2 * limits::kIdLenMax + kLinesTextMax + 64);

bool parse_more(FieldReader& r, HoldChange* c) {
  return for_each_item<6>(r, "more", kMoreTextMax, kMoreMax, [&](const std::string_view* f) {
    HoldChange h;
    if (f[0].empty() || f[0].size() > limits::kIdLenMax || f[1].size() > limits::kIdLenMax ||
        !item_number(f[3], 0, kEpochMsMax, &h.created_at_ms) || !item_number(f[4], 0, kEpochMsMax, &h.expires_at_ms) ||
        !item_number(f[5], 1, kI64Max, &h.version)) {
      return r.fail("more", "a malformed hold: '" + std::string(f[0]) + "|...'");
    }
    h.id = std::string(f[0]);
    h.channel = std::string(f[1]);
    h.state = "held";
    if (!parse_lines(r, std::string(f[2]), &h.lines)) return false;
    c->more.push_back(std::move(h));
    return true;
  });
}

bool parse_hold(FieldReader& r, HoldChange* c) {
  std::string lines;
  return r.text("id", limits::kIdLenMax, false, &c->id) && r.text("ch", limits::kIdLenMax, true, &c->channel) &&
         r.text("st", limits::kIdLenMax, false, &c->state) && r.text("lines", kLinesTextMax, true, &lines) &&
         parse_lines(r, lines, &c->lines) && r.time_ms("cat", &c->created_at_ms) &&
         r.time_ms("exp", &c->expires_at_ms) && r.time_ms("fin", &c->finished_at_ms) &&
         r.integer("hver", 1, kI64Max, &c->version) && parse_more(r, c);
}

bool parse_channel(FieldReader& r, ChannelChange* c) {
  std::int64_t listed = 0;
  if (!(r.text("ch", limits::kIdLenMax, false, &c->channel) && r.integer("prio", kI64Min, kI64Max, &c->priority) &&
        r.integer("ttl", kI64Min, kI64Max, &c->hold_ttl_s) && r.text("st", limits::kIdLenMax, false, &c->state) &&
        r.time_ms("at", &c->at_ms) && (!r.has("lst") || r.integer("lst", 0, 1, &listed)) &&
        (!r.has("why") || r.text("why", limits::kIdLenMax, true, &c->frozen_reason)))) {
    return false;
  }
  c->listed = listed == 1;
  return true;
}

// The quantity is recorded as it is (the core never publishes a negative one, but a malformed entry
// would be acked and lost, and a lost publication leaves a marketplace with an old number).
bool parse_pub(FieldReader& r, PubChange* c) {
  return r.text("ch", limits::kIdLenMax, false, &c->channel) && r.text("sku", limits::kIdLenMax, false, &c->sku) &&
         r.integer("q", kI64Min, kI64Max, &c->quantity) && r.integer("v", 1, kI64Max, &c->version) &&
         r.time_ms("at", &c->at_ms);
}

bool parse_deficit(FieldReader& r, DeficitChange* c) {
  return r.text("sku", limits::kIdLenMax, false, &c->sku) && r.text("ch", limits::kIdLenMax, false, &c->channel) &&
         r.integer("cut", kI64Min, kI64Max, &c->cut) && r.integer("left", kI64Min, kI64Max, &c->left) &&
         r.integer("oh", kI64Min, kI64Max, &c->on_hand) && r.time_ms("at", &c->at_ms);
}

void append_field(std::string* out, const char* name, std::string_view s) {
  core::json::append_key(*out, name);
  core::json::append_string(*out, s);
  out->push_back(',');
}

void append_field(std::string* out, const char* name, std::int64_t n) {
  core::json::append_key(*out, name);
  core::json::append_int(*out, n);
  out->push_back(',');
}

// Replaces the trailing ',' of an object's last field with '}'.
void close_object(std::string* out) { out->back() = '}'; }

}  // namespace

bool parse_outbox_entry(const StreamFields& fields, OutboxChange* out, std::string* error) {
  error->clear();
  FieldReader r(fields, error);
  const std::string* t = r.find("t");
  if (t == nullptr) return false;
  if (*t == "sku") return parse_sku(r, &out->emplace<SkuChange>());
  if (*t == "hold") return parse_hold(r, &out->emplace<HoldChange>());
  if (*t == "ch") return parse_channel(r, &out->emplace<ChannelChange>());
  if (*t == "pub") return parse_pub(r, &out->emplace<PubChange>());
  if (*t == "dfc") return parse_deficit(r, &out->emplace<DeficitChange>());
  return r.fail("t", "unknown entry type '" + (valid_text(*t) ? *t : std::string("?")) + "'");
}

bool valid_text(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

std::string sku_changes_json(const std::vector<const SkuChange*>& changes) {
  std::string out = "[";
  // One row per change: an entry's parts first (their own version, ref, channel, held delta and time;
  // the entry's kind and figures: a level row keeps only the highest version's), then the entry.
  auto row = [&](const SkuChange* c, const SkuChange::Part* part) {
    out.push_back('{');
    append_field(&out, "sku", c->sku);
    append_field(&out, "ver", part ? part->version : c->version);
    append_field(&out, "kind", c->kind);
    append_field(&out, "d_oh", part ? 0 : c->delta_on_hand);
    append_field(&out, "d_hd", part ? part->delta_held : c->delta_held);
    append_field(&out, "ref", part ? part->ref : c->ref);
    append_field(&out, "reason", c->reason);
    append_field(&out, "at", part ? part->at_ms : c->at_ms);
    append_field(&out, "oh", c->on_hand);
    append_field(&out, "ss", c->safety_stock);
    append_field(&out, "hd", c->held);
    if (c->has_buckets) {
      append_field(&out, "fr", c->frees);
      append_field(&out, "cfg", c->cfg);
      append_field(&out, "lst", c->low_stock_threshold);
      append_field(&out, "base", c->base_on_hand);
    }
    const std::string& channel = part ? part->channel : c->channel;
    if (!channel.empty()) append_field(&out, "ch", channel);
    close_object(&out);
    out.push_back(',');
  };
  for (const SkuChange* c : changes) {
    for (const SkuChange::Part& p : c->parts) row(c, &p);
    row(c, nullptr);
  }
  if (out.back() == ',') out.pop_back();
  out.push_back(']');
  return out;
}

std::string hold_changes_json(const std::vector<const HoldChange*>& changes) {
  std::string out = "[";
  // One row per hold: an entry's `more` first, then the entry's own.
  std::vector<const HoldChange*> rows;
  for (const HoldChange* c : changes) {
    for (const HoldChange& m : c->more) rows.push_back(&m);
    rows.push_back(c);
  }
  for (const HoldChange* c : rows) {
    out.push_back('{');
    append_field(&out, "id", c->id);
    append_field(&out, "ch", c->channel);
    append_field(&out, "st", c->state);
    out.append("\"lines\":[");
    for (const auto& [sku, qty] : c->lines) {
      out.push_back('{');
      append_field(&out, "sku", sku);
      append_field(&out, "qty", qty);
      close_object(&out);
      out.push_back(',');
    }
    if (out.back() == ',') out.pop_back();
    out.append("],");
    append_field(&out, "cat", c->created_at_ms);
    append_field(&out, "exp", c->expires_at_ms);
    append_field(&out, "fin", c->finished_at_ms);
    append_field(&out, "hver", c->version);
    close_object(&out);
    out.push_back(',');
  }
  if (out.back() == ',') out.pop_back();
  out.push_back(']');
  return out;
}

std::string channel_changes_json(const std::vector<const ChannelChange*>& changes) {
  std::string out = "[";
  std::int64_t seq = 0;
  for (const ChannelChange* c : changes) {
    out.push_back('{');
    append_field(&out, "ch", c->channel);
    append_field(&out, "prio", c->priority);
    append_field(&out, "ttl", c->hold_ttl_s);
    append_field(&out, "st", c->state);
    append_field(&out, "at", c->at_ms);
    append_field(&out, "lst", std::int64_t{c->listed ? 1 : 0});
    append_field(&out, "seq", seq++);  // stream order within the batch: breaks ties of `at`
    close_object(&out);
    out.push_back(',');
  }
  if (out.back() == ',') out.pop_back();
  out.push_back(']');
  return out;
}

std::string pub_changes_json(const std::vector<const PubChange*>& changes) {
  std::string out = "[";
  std::int64_t i = 0;
  for (const PubChange* c : changes) {
    out.push_back('{');
    append_field(&out, "ch", c->channel);
    append_field(&out, "sku", c->sku);
    append_field(&out, "q", c->quantity);
    append_field(&out, "v", c->version);
    append_field(&out, "at", c->at_ms);
    append_field(&out, "i", i++);  // the batch's order (streams in order, each in stream order): seq order
    close_object(&out);
    out.push_back(',');
  }
  if (out.back() == ',') out.pop_back();
  out.push_back(']');
  return out;
}

}  // namespace stockd::backends
