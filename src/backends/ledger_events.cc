// The events feed's writer side: the events a ledger transaction derives from the outbox entries it
// applies, inserted in the same transaction (docs/cluster.md "Events feed").
//
// Two kinds of events:
//   - of one entry: stock_adjusted (t=sku, kind set or adjust), hold_confirmed / hold_released /
//     hold_expired (t=hold reaching that state), channel_updated (t=ch). Each carries a name, `src`
//     ("s|sku|ver", "h|id|created_at|state", "c|channel|at|prio|ttl|state"), unique in the table: an
//     entry delivered twice finds its events there and adds none.
//   - of a SKU's state: availability (per channel whose figure changed), low_stock, out_of_stock. After
//     the batch is applied, every SKU it touched is read back from stock_levels (its home row and its
//     shards' rows, which carry the free units of every bucket), its per-channel availability computed
//     with the cluster store's own policy (draw_order) and compared with what the feed last said
//     (event_availability, event_sku_state). A repeated entry changes no row, so it adds no event.
//     These are coalesced per transaction: two changes of one SKU in one batch give one availability
//     event per channel, with the figure after both.
// The caller (exec_batch) holds the events lock (pg_advisory_xact_lock) since before the apply
// statement, so the snapshot these reads see contains every event committed before, and max(seq) + 1
// is the next number: seqs are gapless and in commit order.
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

inline constexpr int kShardsMax = 16;  // "split" is 2..16 (docs/cluster.md "Hot SKUs")

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

// The events of one entry, with their src; none for entries that make only state events.
void entry_events(const OutboxChange& change, std::vector<EventRow>* out) {
  if (const auto* s = std::get_if<SkuChange>(&change)) {
    const bool set = s->kind == "set" && (s->delta_on_hand != 0 || s->version == 1);
    if (!set && s->kind != "adjust") return;
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
  } else if (const auto* c = std::get_if<ChannelChange>(&change)) {
    EventRow e = event_row("channel_updated", c->at_ms);
    e.channel = c->channel;
    e.src = "c|" + c->channel + "|" + std::to_string(c->at_ms) + "|" + std::to_string(c->priority) + "|" +
            std::to_string(c->hold_ttl_s) + "|" + c->state;
    out->push_back(std::move(e));
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

// A SKU's figures from its rows in stock_levels: home ("sku") and shards ("sku#j").
struct SkuState {
  bool home = false, buckets = false;  // the home row exists; it carries bucket figures
  std::int64_t on_hand = 0, safety_stock = 0, held = 0, lst = -1, base = 0, at_ms = 0;
  std::string cfg;
  std::map<std::string, std::int64_t, std::less<>> free;
};

struct Prior {
  std::int64_t sellable = 0, threshold = 0;
  std::map<std::string, std::int64_t, std::less<>> available;  // by channel; absent: 0
};

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
  FROM jsonb_to_recordset($1::jsonb) AS r(seq bigint, type text, at bigint, sku text, channel text, hold text,
                                         available bigint, threshold bigint, on_hand bigint, delta bigint,
                                         reason text, ref text, src text)
), s AS (
  INSERT INTO event_sku_state AS t (sku, sellable, threshold)
  SELECT r.sku, r.sellable, r.threshold
  FROM jsonb_to_recordset($2::jsonb) AS r(sku text, sellable bigint, threshold bigint)
  ON CONFLICT (sku) DO UPDATE SET sellable = EXCLUDED.sellable, threshold = EXCLUDED.threshold
), a AS (
  INSERT INTO event_availability AS t (sku, channel, available)
  SELECT r.sku, r.channel, r.available
  FROM jsonb_to_recordset($3::jsonb) AS r(sku text, channel text, available bigint)
  ON CONFLICT (sku, channel) DO UPDATE SET available = EXCLUDED.available
)
SELECT pg_notify('stockd_events', $4::text) WHERE $4::text <> '0'
)sql";

// The SKUs (home names, in order of first appearance) that `changes` touched, with each one's
// latest `at`.
std::vector<std::pair<std::string, std::int64_t>> touched_skus(const std::vector<const OutboxChange*>& changes) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const OutboxChange* c : changes) {
    const auto* s = std::get_if<SkuChange>(c);
    if (s == nullptr) continue;
    const std::string home = s->sku.substr(0, s->sku.find('#'));
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == home; });
    if (it == out.end()) {
      out.emplace_back(home, s->at_ms);
    } else {
      it->second = std::max(it->second, s->at_ms);
    }
  }
  return out;
}

// Reads the touched SKUs' rows and what the feed last said about them; appends their state events
// to *rows and the new "last said" rows to *states / *avails (JSON arrays for kWriteSql).
PgResult derive_sku_events(PGconn* pg, const ChannelTable& channels, std::int64_t permille,
                           const std::vector<std::pair<std::string, std::int64_t>>& skus, std::vector<EventRow>* rows,
                           std::string* states, std::string* avails) {
  std::vector<std::string> homes, names;
  for (const auto& [home, at] : skus) {
    homes.push_back(home);
    names.push_back(home);
    for (int j = 1; j <= kShardsMax; ++j) names.push_back(home + "#" + std::to_string(j));
  }
  PgResult levels = pg_exec(pg,
                            "SELECT sku, on_hand, safety_stock, held, frees, cfg, low_stock_threshold, base_on_hand "
                            "FROM stock_levels WHERE sku IN (SELECT jsonb_array_elements_text($1::jsonb))",
                            {json_array(names)});
  if (!pg_ok(levels.get())) return levels;
  PgResult said = pg_exec(pg,
                          "SELECT sku, '', sellable, threshold FROM event_sku_state "
                          "WHERE sku IN (SELECT jsonb_array_elements_text($1::jsonb)) UNION ALL "
                          "SELECT sku, channel, available, 0 FROM event_availability "
                          "WHERE sku IN (SELECT jsonb_array_elements_text($1::jsonb))",
                          {json_array(homes)});
  if (!pg_ok(said.get())) return said;
  std::map<std::string, SkuState, std::less<>> state;
  for (int i = 0; i < PQntuples(levels.get()); ++i) {
    const std::string name = PQgetvalue(levels.get(), i, 0);
    SkuState& st = state[name.substr(0, name.find('#'))];
    st.on_hand += pg_int(levels.get(), i, 1);
    st.held += pg_int(levels.get(), i, 3);
    const bool has_frees = !PQgetisnull(levels.get(), i, 4);
    if (has_frees) add_frees(PQgetvalue(levels.get(), i, 4), &st.free);
    if (name.find('#') != std::string::npos) continue;
    st.home = true;
    st.buckets = has_frees;
    st.safety_stock = pg_int(levels.get(), i, 2);
    st.cfg = PQgetvalue(levels.get(), i, 5);
    st.lst = pg_int(levels.get(), i, 6);
    st.base = pg_int(levels.get(), i, 7);
  }
  std::map<std::string, Prior, std::less<>> prior;
  for (int i = 0; i < PQntuples(said.get()); ++i) {
    Prior& p = prior[PQgetvalue(said.get(), i, 0)];
    const std::string channel = PQgetvalue(said.get(), i, 1);
    if (channel.empty()) {
      p.sellable = pg_int(said.get(), i, 2);
      p.threshold = pg_int(said.get(), i, 3);
    } else {
      p.available[channel] = pg_int(said.get(), i, 2);
    }
  }
  *states = "[";
  *avails = "[";
  for (const auto& [home, at] : skus) {
    auto it = state.find(home);
    if (it == state.end() || !it->second.home) continue;  // a shard's row before its home's: nothing to say
    const SkuState& st = it->second;
    Prior& p = prior[home];
    const std::int64_t sellable = std::max<std::int64_t>(0, st.on_hand - st.safety_stock - st.held);
    const std::int64_t threshold =
        st.lst >= 0 ? st.lst : static_cast<std::int64_t>(static_cast<__int128>(st.base) * permille / 1000);
    if (st.buckets) {
      AllocConfig cfg;
      AllocConfig::decode(st.cfg, &cfg);
      for (const ChannelInfo& c : channels.channels) {
        std::int64_t available = 0;
        for (const std::string& b : draw_order(cfg, channels, c.name)) {
          auto f = st.free.find(b);
          if (f != st.free.end()) available += f->second;
        }
        auto was = p.available.find(c.name);
        if (available == (was == p.available.end() ? 0 : was->second)) continue;
        EventRow& e = rows->emplace_back(event_row("availability", at));
        e.sku = home;
        e.channel = c.name;
        e.available = available;
        *avails += (avails->size() > 1 ? ",{" : "{");
        field(*avails, "sku", home);
        field(*avails, "channel", c.name);
        field(*avails, "available", available);
        avails->back() = '}';
      }
    }
    if (sellable < threshold && !(p.sellable < p.threshold)) {
      EventRow& e = rows->emplace_back(event_row("low_stock", at));
      e.sku = home;
      e.available = sellable;
      e.threshold = threshold;
    }
    if (sellable == 0 && p.sellable > 0) {
      rows->emplace_back(event_row("out_of_stock", at)).sku = home;
    }
    *states += (states->size() > 1 ? ",{" : "{");
    field(*states, "sku", home);
    field(*states, "sellable", sellable);
    field(*states, "threshold", threshold);
    states->back() = '}';
  }
  *states += ']';
  *avails += ']';
  return levels;
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

PgResult Ledger::Impl::write_events(const std::vector<const OutboxChange*>& changes) {
  batch_events = 0;
  std::vector<EventRow> rows;
  for (const OutboxChange* c : changes) entry_events(*c, &rows);
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
  std::string states = "[]", avails = "[]";
  const auto skus = touched_skus(changes);
  if (!skus.empty()) {
    load_channels();
    PgResult r = derive_sku_events(pg.get(), channel_table, opt.low_stock_permille, skus, &rows, &states, &avails);
    if (!pg_ok(r.get())) return r;
  }
  if (rows.empty() && states == "[]") return PgResult(PQmakeEmptyPGresult(pg.get(), PGRES_COMMAND_OK));
  std::int64_t first = 1;
  if (!rows.empty()) {
    PgResult r = pg_exec(pg.get(), "SELECT coalesce(max(seq), 0) FROM events");
    if (!pg_ok(r.get())) return r;
    first = pg_int(r.get(), 0, 0) + 1;
  }
  const std::int64_t last = rows.empty() ? 0 : first + static_cast<std::int64_t>(rows.size()) - 1;
  PgResult r = pg_exec(pg.get(), kWriteSql, {events_json(rows, first), states, avails, std::to_string(last)});
  if (pg_ok(r.get())) batch_events = rows.size();
  return r;
}

}  // namespace stockd::backends
