// The events feed's writer side: the events a ledger transaction derives from the outbox entries it
// applies, inserted in the same transaction (docs/cluster.md "Events feed").
//
// Two kinds of events, as the embedded core emits them (src/core/stock.cc publish, sku.cc, holds.cc):
//   - of one entry: stock_adjusted (t=sku, kind set, adjust or batch), hold_confirmed / hold_released /
//     hold_expired (t=hold reaching that state), delivery_failing, channel_frozen and channel_updated
//     (t=ch), exposure_deficit (t=dfc). Each carries a name, `src` ("s|sku|ver", "h|id|created_at|state",
//     "c|channel|at|prio|ttl|state"; a freeze's "z|..." and "f|..." likewise; "d|sku|channel|at|..."),
//     unique in the table: an entry delivered twice finds its events there and adds none.
//   - of a SKU's figures: availability (per channel whose figure changed), low_stock, out_of_stock. The
//     touched SKUs' rows in stock_levels (home and shards, which carry every bucket's free units) are
//     read before and after the apply statement; each channel's availability is computed on both with
//     the cluster store's own policy (draw_order) and today's channels, and compared, as the core
//     compares a SKU before and after a command. A repeated or older entry changes no row, so it adds
//     no event. They are coalesced per transaction: two changes of one SKU in one batch give one
//     availability event per channel, with the figure after both.
// The caller (exec_batch) holds the events lock (pg_advisory_xact_lock) from before the first read to
// COMMIT, so the reads see every transaction committed before, no other ledger changes these rows in
// between, and max(seq) + 1 is the next number: seqs are gapless and in commit order.
#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "backends/ledger_impl.h"
#include "backends/outbox.h"
#include "core/json_writer.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {
namespace {

struct EventRow {
  std::string type;
  std::int64_t at_ms = 0;
  std::string sku, channel, hold;
  std::int64_t available = 0, threshold = 0, on_hand = 0, delta = 0;
  std::string reason, ref;
  std::string src;  // empty: an event of a SKU's state (NULL in the table)
};

EventRow event_row(std::string type, std::int64_t at_ms) {
  EventRow e;
  e.type = std::move(type);
  e.at_ms = at_ms;
  return e;
}

// The events of one entry, with their src; none for entries that make only figure events.
// *channel_states: each channel's state so far (absent: active, as a new channel starts).
void entry_events(const OutboxChange& change, std::map<std::string, std::string, std::less<>>* channel_states,
                  std::vector<EventRow>* out) {
  if (const auto* s = std::get_if<SkuChange>(&change)) {
    const bool set = s->kind == "set" && (s->delta_on_hand != 0 || s->version == 1);
    // batch: a stock batch's change (delta 0: its rows cancelled out; no stock moved, no event)
    if (!set && s->kind != "adjust" && !(s->kind == "batch" && s->delta_on_hand != 0)) return;
    EventRow e = event_row("stock_adjusted", s->at_ms);
    e.sku = s->sku;
    e.on_hand = s->on_hand;
    e.delta = s->delta_on_hand;
    e.reason = set ? "set" : s->reason;
    e.ref = set ? "" : s->ref;
    e.src = "s|" + s->sku + "|" + std::to_string(s->version);
    out->push_back(std::move(e));
  } else if (const auto* h = std::get_if<HoldChange>(&change)) {
    if (h->state != "confirmed" && h->state != "released" && h->state != "expired") return;
    EventRow e = event_row("hold_" + h->state, h->finished_at_ms != 0 ? h->finished_at_ms : h->created_at_ms);
    e.hold = h->id;
    e.channel = h->channel;
    e.src = "h|" + h->id + "|" + std::to_string(h->created_at_ms) + "|" + h->state;
    out->push_back(std::move(e));
  } else if (const auto* d = std::get_if<DeficitChange>(&change)) {
    // src/core/exposure.cc cut_deficit's event. The entry has no version of its own: its fields name it.
    EventRow& e = out->emplace_back(event_row("exposure_deficit", d->at_ms));
    e.sku = d->sku;
    e.channel = d->channel;
    e.delta = -d->cut;
    e.available = d->left;
    e.on_hand = d->on_hand;
    e.src = "d|" + d->sku + "|" + d->channel + "|" + std::to_string(d->at_ms) + "|" + std::to_string(d->cut) + "|" +
            std::to_string(d->left) + "|" + std::to_string(d->on_hand);
  } else if (const auto* c = std::get_if<ChannelChange>(&change)) {
    const std::string name = "|" + c->channel + "|" + std::to_string(c->at_ms) + "|" + std::to_string(c->priority) +
                             "|" + std::to_string(c->hold_ttl_s) + "|" + c->state;
    std::string& state = (*channel_states)[c->channel];
    if (state != "frozen" && c->state == "frozen") {
      // By hand, or by the webhook deliveries (why=delivery_failing, library version 9), which the core
      // announces with a delivery_failing event first (src/core/stock.cc put_channel).
      const std::string reason = c->frozen_reason.empty() ? "manual" : c->frozen_reason;
      if (reason == "delivery_failing") {
        EventRow& d = out->emplace_back(event_row("delivery_failing", c->at_ms));
        d.channel = c->channel;
        d.src = "f" + name;
      }
      EventRow& e = out->emplace_back(event_row("channel_frozen", c->at_ms));
      e.channel = c->channel;
      e.reason = reason;
      e.src = "z" + name;
    }
    state = c->state;
    EventRow& e = out->emplace_back(event_row("channel_updated", c->at_ms));
    e.channel = c->channel;
    e.reason = c->state;  // not in the feed's JSON; the alerts re-arm a freeze alert on "active"
    e.src = "c" + name;
  }
}

// "b=n;b=n" -> free units by bucket, added to *free (a shard's "sh" adds to its home's).
void add_frees(std::string_view text, std::map<std::string, std::int64_t, std::less<>>* free) {
  while (!text.empty()) {
    const std::size_t semi = text.find(';');
    const std::string_view item = text.substr(0, semi);
    const std::size_t eq = item.rfind('=');
    std::int64_t n = 0;
    if (eq != std::string_view::npos) {
      std::from_chars(item.data() + eq + 1, item.data() + item.size(), n);
      (*free)[std::string(item.substr(0, eq))] += n;
    }
    if (semi == std::string_view::npos) break;
    text.remove_prefix(semi + 1);
  }
}

std::string json_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& s : items) {
    if (out.size() > 1) out += ',';
    core::json::append_string(out, s);
  }
  return out + "]";
}

void field(std::string& out, std::string_view k, std::string_view v) {
  core::json::append_key(out, k);
  core::json::append_string(out, v);
  out += ',';
}
void field(std::string& out, std::string_view k, std::int64_t v) {
  core::json::append_key(out, k);
  core::json::append_int(out, v);
  out += ',';
}

std::string events_json(const std::vector<EventRow>& rows, std::int64_t first_seq) {
  std::string out = "[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const EventRow& e = rows[i];
    out += i == 0 ? "{" : ",{";
    field(out, "seq", first_seq + static_cast<std::int64_t>(i));
    field(out, "type", e.type);
    field(out, "at", e.at_ms);
    field(out, "sku", e.sku);
    field(out, "channel", e.channel);
    field(out, "hold", e.hold);
    field(out, "available", e.available);
    field(out, "threshold", e.threshold);
    field(out, "on_hand", e.on_hand);
    field(out, "delta", e.delta);
    field(out, "reason", e.reason);
    field(out, "ref", e.ref);
    core::json::append_key(out, "src");
    if (e.src.empty()) {
      out += "null}";
    } else {
      core::json::append_string(out, e.src);
      out += '}';
    }
  }
  return out + "]";
}

constexpr const char* kWriteSql = R"sql(
WITH e AS (
  INSERT INTO events (seq, type, at_ms, sku, channel, hold, available, threshold, on_hand, delta, reason, ref, src)
  SELECT r.seq, r.type, r.at, r.sku, r.channel, r.hold, r.available, r.threshold, r.on_hand, r.delta, r.reason,
         r.ref, r.src
  FROM json_to_recordset($1::json) AS r(seq bigint, type text, at bigint, sku text, channel text, hold text,
                                         available bigint, threshold bigint, on_hand bigint, delta bigint,
                                         reason text, ref text, src text)
)
SELECT pg_notify('stockd_events', $2::text)
)sql";

// The SKUs (home names, in order of first appearance) that `changes` touched, with each one's
// latest `at`.
std::vector<std::pair<std::string, std::int64_t>> touched_skus(const std::vector<const OutboxChange*>& changes) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  std::map<std::string, std::size_t, std::less<>> index;
  for (const OutboxChange* c : changes) {
    const auto* s = std::get_if<SkuChange>(c);
    if (s == nullptr) continue;
    const std::string home = s->sku.substr(0, s->sku.find('#'));
    auto [it, fresh] = index.try_emplace(home, out.size());
    if (fresh) {
      out.emplace_back(home, s->at_ms);
    } else {
      out[it->second].second = std::max(out[it->second].second, s->at_ms);
    }
  }
  return out;
}

// The figures of `skus` (home names) from their rows in stock_levels (home "sku", shards "sku#j").
PgResult read_figures(PGconn* pg, const std::vector<std::pair<std::string, std::int64_t>>& skus,
                      std::map<std::string, SkuFigures, std::less<>>* out) {
  std::vector<std::string> homes;
  for (const auto& [home, at] : skus) homes.push_back(home);
  // Two index probes per SKU: its row, and its shards' rows "<sku>#<j>" as the byte range
  // ["<sku>#", "<sku>$") of the index stock_levels_by_name ('#' is not in a SKU name).
  PgResult r = pg_exec(pg,
                       "WITH h AS (SELECT jsonb_array_elements_text($1::jsonb) AS name) "
                       "SELECT l.sku, l.on_hand, l.safety_stock, l.held, l.frees, l.cfg, l.low_stock_threshold, "
                       "       l.base_on_hand FROM h JOIN stock_levels l ON l.sku = h.name "
                       "UNION ALL "
                       "SELECT l.sku, l.on_hand, l.safety_stock, l.held, l.frees, l.cfg, l.low_stock_threshold, "
                       "       l.base_on_hand FROM h JOIN stock_levels l "
                       "  ON l.sku COLLATE \"C\" >= h.name || '#' AND l.sku COLLATE \"C\" < h.name || '$'",
                       {json_array(homes)});
  if (!pg_ok(r.get())) return r;
  out->clear();
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    const std::string name = PQgetvalue(r.get(), i, 0);
    SkuFigures& f = (*out)[name.substr(0, name.find('#'))];
    f.on_hand += pg_int(r.get(), i, 1);
    f.held += pg_int(r.get(), i, 3);
    const bool has_frees = !PQgetisnull(r.get(), i, 4);
    if (has_frees) add_frees(PQgetvalue(r.get(), i, 4), &f.free);
    if (name.find('#') != std::string::npos) continue;
    f.exists = true;
    f.buckets = has_frees;
    f.safety_stock = pg_int(r.get(), i, 2);
    f.cfg = PQgetvalue(r.get(), i, 5);
    f.lst = pg_int(r.get(), i, 6);
    f.base = pg_int(r.get(), i, 7);
  }
  return r;
}

std::int64_t sellable(const SkuFigures& f) { return std::max<std::int64_t>(0, f.on_hand - f.safety_stock - f.held); }

std::int64_t threshold(const SkuFigures& f, std::int64_t permille) {
  return f.lst >= 0 ? f.lst : static_cast<std::int64_t>(static_cast<__int128>(f.base) * permille / 1000);
}

// Each channel's available (in channels.channels' order); all 0 without bucket figures.
std::vector<std::int64_t> availability(const SkuFigures& f, const ChannelTable& channels) {
  std::vector<std::int64_t> out(channels.channels.size(), 0);
  if (!f.buckets) return out;
  AllocConfig cfg;
  AllocConfig::decode(f.cfg, &cfg);
  for (std::size_t c = 0; c < out.size(); ++c) {
    for (const std::string& b : draw_order(cfg, channels, channels.channels[c].name)) {
      auto it = f.free.find(b);
      if (it != f.free.end()) out[c] += it->second;
    }
  }
  return out;
}

// The events of SKU `home` going from `before` to `after` (src/core/stock.cc publish(); a SKU that did
// not exist had 0 everywhere).
void figure_events(const std::string& home, std::int64_t at, const SkuFigures& before, const SkuFigures& after,
                   const ChannelTable& channels, std::int64_t permille, std::vector<EventRow>* rows) {
  if (!after.exists) return;  // a shard's row before its home's: nothing to say yet
  const std::vector<std::int64_t> was = availability(before, channels), now = availability(after, channels);
  for (std::size_t c = 0; c < now.size(); ++c) {
    if (now[c] == was[c] || !after.buckets) continue;
    EventRow& e = rows->emplace_back(event_row("availability", at));
    e.sku = home;
    e.channel = channels.channels[c].name;
    e.available = now[c];
  }
  const std::int64_t total = sellable(after), total_before = before.exists ? sellable(before) : 0;
  const std::int64_t threshold_now = threshold(after, permille);
  const std::int64_t threshold_before = before.exists ? threshold(before, permille) : 0;
  if (total < threshold_now && !(total_before < threshold_before)) {
    EventRow& e = rows->emplace_back(event_row("low_stock", at));
    e.sku = home;
    e.available = total;
    e.threshold = threshold_now;
  }
  if (total == 0 && total_before > 0) rows->emplace_back(event_row("out_of_stock", at)).sku = home;
}

}  // namespace

void Ledger::Impl::load_channels() {
  if (channels_fresh) return;
  const std::string key = partition_tag(0) + ":channels";  // as the cluster store keeps them
  RedisReply r = redis->command(key, {"HGETALL", key}, true);
  if (r.type != RedisReply::Type::array) {
    ++stats.errors;  // keep the table of the last round: availability follows it until the next read
    spdlog::warn("event=ledger_channels_read_failed error=\"{}\"", r.str);
    return;
  }
  ChannelTable t;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    const std::string& name = r.elements[i].str;
    const std::string& value = r.elements[i + 1].str;
    if (name.empty() || name[0] == '#') continue;  // the creation counter
    // "priority|ttl|state|creation order" (cluster_functions.lua channel_put)
    ChannelInfo c;
    c.name = name;
    std::string_view v = value;
    std::int64_t parts[2] = {100, 900};
    for (std::int64_t& p : parts) {
      const std::size_t bar = v.find('|');
      std::from_chars(v.data(), v.data() + v.size(), p);
      v.remove_prefix(bar == std::string_view::npos ? v.size() : bar + 1);
    }
    c.priority = parts[0];
    c.hold_ttl_s = parts[1];
    const std::size_t bar = v.find('|');
    c.state = v.substr(0, bar) == "frozen" ? core::ChannelState::frozen : core::ChannelState::active;
    if (bar != std::string_view::npos) std::from_chars(v.data() + bar + 1, v.data() + v.size(), c.order);
    t.channels.push_back(std::move(c));
  }
  t.rebuild();
  channel_table = std::move(t);
  channels_fresh = true;
}

PgResult Ledger::Impl::events_before(const std::vector<const OutboxChange*>& changes) {
  channel_states_before.clear();
  std::vector<std::string> channels;
  for (const OutboxChange* c : changes) {
    if (const auto* ch = std::get_if<ChannelChange>(c)) channels.push_back(ch->channel);
  }
  if (!channels.empty()) {
    PgResult r = pg_exec(pg.get(), "SELECT channel, state FROM channels WHERE channel IN "
                                   "(SELECT jsonb_array_elements_text($1::jsonb))",
                         {json_array(channels)});
    if (!pg_ok(r.get())) return r;
    for (int i = 0; i < PQntuples(r.get()); ++i) channel_states_before[PQgetvalue(r.get(), i, 0)] = PQgetvalue(r.get(), i, 1);
  }
  figures_before.clear();
  const auto skus = touched_skus(changes);
  if (skus.empty()) return PgResult(PQmakeEmptyPGresult(pg.get(), PGRES_COMMAND_OK));
  return read_figures(pg.get(), skus, &figures_before);
}

PgResult Ledger::Impl::write_events(const std::vector<const OutboxChange*>& changes) {
  batch_events = 0;
  std::vector<EventRow> rows;
  for (const OutboxChange* c : changes) entry_events(*c, &channel_states_before, &rows);
  if (!rows.empty()) {  // leave out the events of entries applied before
    std::vector<std::string> srcs;
    for (const EventRow& e : rows) srcs.push_back(e.src);
    PgResult r = pg_exec(pg.get(), "SELECT src FROM events WHERE src IN (SELECT jsonb_array_elements_text($1::jsonb))",
                         {json_array(srcs)});
    if (!pg_ok(r.get())) return r;
    std::set<std::string, std::less<>> seen;
    for (int i = 0; i < PQntuples(r.get()); ++i) seen.insert(PQgetvalue(r.get(), i, 0));
    std::erase_if(rows, [&](const EventRow& e) { return !seen.insert(e.src).second; });
  }
  const auto skus = touched_skus(changes);
  if (!skus.empty()) {
    load_channels();
    std::map<std::string, SkuFigures, std::less<>> after;
    PgResult r = read_figures(pg.get(), skus, &after);
    if (!pg_ok(r.get())) return r;
    for (const auto& [home, at] : skus) {
      figure_events(home, at, figures_before[home], after[home], channel_table, opt.low_stock_permille, &rows);
    }
  }
  if (rows.empty()) return PgResult(PQmakeEmptyPGresult(pg.get(), PGRES_COMMAND_OK));
  PgResult r = pg_exec(pg.get(), "SELECT coalesce(max(seq), 0) FROM events");
  if (!pg_ok(r.get())) return r;
  const std::int64_t first = pg_int(r.get(), 0, 0) + 1;
  const std::int64_t last = first + static_cast<std::int64_t>(rows.size()) - 1;
  r = pg_exec(pg.get(), kWriteSql, {events_json(rows, first), std::to_string(last)});
  if (pg_ok(r.get())) batch_events = rows.size();
  return r;
}

}  // namespace stockd::backends
