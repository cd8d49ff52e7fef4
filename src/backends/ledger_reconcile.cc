// Reconcile: PostgreSQL's stock_levels against the SKU hashes in Redis, the live authority.
//
// Three passes, each in pages of kPageMax SKUs (one pipelined HMGET, one SELECT per page):
//  1. Drain the outbox, then SCAN every master once for "{p*}:s:*" hashes (a key counts only on the
//     master that serves its slot now) and compare each with its row. A SKU that differs is a
//     candidate: its row may just be behind (entries still in flight, or written since the drain).
//  2. Drain again, read every candidate again from both sides; what still differs is drift, repaired
//     with `repair` (Redis's levels and version, and a 'reconcile' movement). The repair overwrites the
//     row only if it still holds what was compared, so a ledger writer applying newer entries at the
//     same moment is never undone.
//  3. Page through stock_levels and report rows whose SKU hash is missing in Redis (never repaired:
//     the ledger does not delete history; someone must look).
// Why one SCAN per master rather than one per partition: a MATCH with a hash tag scans the node's whole
// keyspace on Redis 7.0, so 256 partition scans would read every key about 85 times.
#include <cassert>
#include <charconv>
#include <optional>
#include <unordered_map>

#include "backends/ledger_impl.h"
#include "backends/outbox.h"
#include "core/json_writer.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {
namespace {

constexpr std::size_t kPageMax = 1000;            // SKUs per Redis pipeline and per SELECT
constexpr std::size_t kScanCallsMax = 1u << 24;   // SCAN calls per master (COUNT 1000 each)
constexpr std::size_t kCandidatesMax = 100'000;   // SKUs held for the second look

constexpr const char* kSelectLevelsSql = R"sql(
SELECT sku, on_hand, safety_stock, held, version FROM stock_levels
WHERE sku = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
)sql";

constexpr const char* kPageLevelsSql = R"sql(
SELECT sku, on_hand, safety_stock, held, version FROM stock_levels WHERE sku > $1::text ORDER BY sku LIMIT $2::bigint
)sql";

// $1 sku, $2..$5 Redis's on_hand, safety_stock, held, version; $6..$9 the row as compared (version -1:
// there was none); $10 the movement's reason. Returns (rows written, movements written).
constexpr const char* kRepairSql = R"sql(
WITH up AS (
  INSERT INTO stock_levels AS t (sku, on_hand, safety_stock, held, version, updated_at)
  VALUES ($1::text, $2::bigint, $3::bigint, $4::bigint, $5::bigint, now())
  ON CONFLICT (sku) DO UPDATE SET on_hand = EXCLUDED.on_hand, safety_stock = EXCLUDED.safety_stock,
    held = EXCLUDED.held, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
  WHERE t.on_hand = $6::bigint AND t.safety_stock = $7::bigint AND t.held = $8::bigint AND t.version = $9::bigint
  RETURNING 1
), mv AS (
  INSERT INTO stock_movements (sku, version, kind, delta_on_hand, delta_held, ref, reason, at)
  SELECT $1::text, $5::bigint, 'reconcile', $2::bigint - $6::bigint, $4::bigint - $8::bigint, '', $10::text, now()
  FROM up
  ON CONFLICT (sku, version) DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM mv)
)sql";

struct Levels {
  std::int64_t on_hand = 0, safety_stock = 0, held = 0, version = 0;
  bool operator==(const Levels&) const = default;
};

struct Sku {
  std::string name, key;  // key: its hash in Redis
  int partition = 0;      // the key's
  bool in_redis = false;  // the hash exists and has a version
  Levels redis;
  std::optional<Levels> pg;
  bool same() const { return in_redis && pg.has_value() && *pg == redis; }
};

std::string sku_hash_key(std::string_view sku) { return partition_tag(partition_of(sku)) + ":s:" + std::string(sku); }

// "{p<k>}:s:<sku>" with k < kPartitions -> sku and k; empty if the key has another shape.
std::string sku_of_key(std::string_view key, int* partition) {
  if (key.substr(0, 2) != "{p") return {};
  const std::size_t close = key.find('}');
  if (close == std::string_view::npos || close == 2 || close > 5) return {};
  int k = 0;
  for (std::size_t i = 2; i < close; ++i) {
    if (key[i] < '0' || key[i] > '9') return {};
    k = k * 10 + (key[i] - '0');
  }
  if (k >= kPartitions || key.substr(close + 1, 3) != ":s:") return {};
  *partition = k;
  return std::string(key.substr(close + 4));
}

std::string levels_text(const Levels& l) {
  return fmt::format("on_hand={} safety_stock={} held={} version={}", l.on_hand, l.safety_stock, l.held, l.version);
}

// A SKU name for a report line: as it is when it is text, else hex.
std::string printable(std::string_view name) {
  if (valid_text(name)) return std::string(name);
  std::string hex = "0x";
  for (const char c : name) hex += fmt::format("{:02x}", static_cast<unsigned char>(c));
  return hex;
}

bool parse_i64(const RedisReply& r, std::int64_t* out) {
  if (r.type == RedisReply::Type::integer) {
    *out = r.integer;
    return true;
  }
  const char* end = r.str.data() + r.str.size();
  auto [p, ec] = std::from_chars(r.str.data(), end, *out);
  return r.type == RedisReply::Type::string && !r.str.empty() && ec == std::errc() && p == end;
}

class Reconciler {
 public:
  Reconciler(Ledger::Impl& ledger, bool repair) : l_(ledger), repair_(repair) {}

  std::vector<std::string> run(std::size_t* checked) {
    l_.drain();
    for (const ClusterNode& m : l_.redis->masters()) {
      if (!scan_master(m.addr)) break;
    }
    if (ok_ && !candidates_.empty()) second_look();
    if (ok_) pg_only();
    if (checked != nullptr) *checked = checked_;
    spdlog::info("event=ledger_reconcile skus_checked={} drift={} repair={} complete={}", checked_, drift_,
                 repair_, ok_);
    return std::move(lines_);
  }

 private:
  void incomplete(const std::string& why) {
    lines_.push_back("reconcile incomplete: " + why);
    spdlog::warn("event=ledger_reconcile_incomplete error=\"{}\"", why);
    ok_ = false;
  }

  bool scan_master(const std::string& addr) {
    std::string cursor = "0";
    std::vector<Sku> page;
    for (std::size_t calls = 0; calls < kScanCallsMax; ++calls) {
      const RedisReply r =
          l_.redis->on_node(addr, {"SCAN", cursor, "MATCH", "{p*}:s:*", "COUNT", "1000", "TYPE", "hash"});
      if (r.type != RedisReply::Type::array || r.elements.size() != 2) {
        incomplete("redis SCAN on " + addr + ": " + (r.is_error() ? r.str : "unexpected reply"));
        return false;
      }
      for (const RedisReply& key : r.elements[1].elements) {
        int k = 0;
        std::string name = sku_of_key(key.str, &k);
        if (name.empty() || l_.redis->master_of(key.str) != addr) continue;  // not a SKU, or not served here
        page.push_back({std::move(name), key.str, k, false, {}, std::nullopt});
        if (page.size() == kPageMax && !first_look(&page)) return false;
      }
      cursor = r.elements[0].str;
      if (cursor == "0") return first_look(&page);
    }
    incomplete("redis SCAN on " + addr + " did not finish within kScanCallsMax calls");
    return false;
  }

  bool first_look(std::vector<Sku>* page) {
    if (!read_redis(page) || !read_pg(page)) return false;
    for (Sku& s : *page) {
      if (!s.in_redis) continue;
      ++checked_;
      if (s.same()) continue;
      if (candidates_.size() == kCandidatesMax) {
        incomplete(fmt::format("more than {} SKUs differ; fix the ledger's lag first", kCandidatesMax));
        return false;
      }
      candidates_.push_back(std::move(s));
    }
    page->clear();
    return true;
  }

  void second_look() {
    l_.drain();
    for (std::size_t begin = 0; begin < candidates_.size() && ok_; begin += kPageMax) {
      const std::size_t end = std::min(candidates_.size(), begin + kPageMax);
      std::vector<Sku> page(candidates_.begin() + static_cast<std::ptrdiff_t>(begin),
                            candidates_.begin() + static_cast<std::ptrdiff_t>(end));
      for (Sku& s : page) s.pg.reset();
      if (!read_redis(&page) || !read_pg(&page)) return;
      for (const Sku& s : page) {
        if (s.in_redis && !s.same()) report(s);  // a hash gone meanwhile is pass 3's business
      }
    }
  }

  void report(const Sku& s) {
    ++drift_;
    std::string line = "sku " + printable(s.name) + ": ";
    line += s.pg ? "postgres " + levels_text(*s.pg) : std::string("missing in postgres");
    line += " vs redis " + levels_text(s.redis);
    if (s.pg && s.pg->version > s.redis.version) {
      line += " (postgres is ahead: redis lost changes it had acknowledged, e.g. in a failover)";
    }
    if (repair_) line += repair(s);
    lines_.push_back(std::move(line));
  }

  std::string repair(const Sku& s) {
    if (!valid_text(s.name)) return "; not repaired: the name is not UTF-8";
    std::string why;
    if (!settled(s.partition, &why)) return "; not repaired: " + why + ", run it again";
    const Levels before = s.pg.value_or(Levels{0, 0, 0, -1});
    const std::string reason =
        s.pg ? "reconcile: postgres had " + levels_text(*s.pg) : std::string("reconcile: missing in postgres");
    auto str = [](std::int64_t n) { return std::to_string(n); };
    // Under the events lock, as every ledger write: the movement's seq is then in commit order
    // (GET /v1/movements pages by it).
    PgResult r = pg_exec(l_.pg.get(), "BEGIN");
    if (pg_ok(r.get())) {
      r = pg_exec(l_.pg.get(), "SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(kEventsLockKey)});
    }
    if (pg_ok(r.get())) {
      r = pg_exec(l_.pg.get(), kRepairSql,
                  {s.name, str(s.redis.on_hand), str(s.redis.safety_stock), str(s.redis.held),
                   str(s.redis.version), str(before.on_hand), str(before.safety_stock), str(before.held),
                   str(before.version), reason});
    }
    if (pg_ok(r.get()) && PQntuples(r.get()) == 1) {
      if (PgResult c = pg_exec(l_.pg.get(), "COMMIT"); !pg_ok(c.get())) r = std::move(c);
    }
    if (!pg_ok(r.get()) || PQntuples(r.get()) != 1) {
      ++l_.stats.errors;
      std::string error = pg_error(l_.pg.get(), r.get());
      pg_exec(l_.pg.get(), "ROLLBACK");
      return "; not repaired: " + error;
    }
    if (pg_int(r.get(), 0, 0) == 0) return "; not repaired: the row changed during reconcile, run it again";
    spdlog::warn("event=ledger_reconcile_repaired sku={} redis=\"{}\"", printable(s.name), levels_text(s.redis));
    if (pg_int(r.get(), 0, 1) == 0) {
      return fmt::format("; repaired (no 'reconcile' movement: version {} already has one)", s.redis.version);
    }
    return "; repaired";
  }

  // True if every entry of partition k's stream has been delivered to the group and acked, i.e. every
  // change Redis made before this call is committed (or was malformed or rejected). Repairing only
  // then keeps the 'reconcile' movement from taking the (sku, version) of an entry still in flight,
  // whose own movement would then be dropped.
  bool settled(int k, std::string* why) {
    const std::string key = outbox_key(k);
    const std::vector<RedisReply> r =
        l_.redis->pipeline({{key, {"XINFO", "STREAM", key}, true}, {key, {"XINFO", "GROUPS", key}, true}});
    assert(r.size() == 2);
    const std::string last = field(r[0], "last-generated-id");
    for (const RedisReply& g : r[1].elements) {
      if (field(g, "name") != kLedgerGroup) continue;
      const std::string pending = field(g, "pending");
      if (pending != "0") {
        *why = key + " has " + pending + " entries pending in group " + kLedgerGroup;
        return false;
      }
      if (last.empty() || field(g, "last-delivered-id") != last) {
        *why = key + " has entries not yet read by group " + kLedgerGroup;
        return false;
      }
      return true;
    }
    *why = "cannot read the state of group " + std::string(kLedgerGroup) + " on " + key +
           (r[1].is_error() ? ": " + r[1].str : std::string());
    return false;
  }

  // The value of `name` in a flat [name, value, ...] reply, as text; empty if absent.
  static std::string field(const RedisReply& flat, std::string_view name) {
    for (std::size_t i = 0; i + 1 < flat.elements.size(); i += 2) {
      if (flat.elements[i].str != name) continue;
      const RedisReply& v = flat.elements[i + 1];
      return v.type == RedisReply::Type::integer ? std::to_string(v.integer) : v.str;
    }
    return {};
  }

  // HMGET oh ss hd ver of every SKU of the page; a hash without a version is no SKU (in_redis false).
  // A shard of a split SKU ("<sku>#<j>") is compared as the outbox reports it: oh - in, hd - in.
  bool read_redis(std::vector<Sku>* page) {
    std::vector<ClusterClient::Call> calls;
    calls.reserve(page->size());
    for (const Sku& s : *page) calls.push_back({s.key, {"HMGET", s.key, "oh", "ss", "hd", "ver", "in"}, true});
    const std::vector<RedisReply> replies = l_.redis->pipeline(calls);
    assert(replies.size() == calls.size());
    for (std::size_t i = 0; i < page->size(); ++i) {
      Sku& s = (*page)[i];
      const RedisReply& r = replies[i];
      if (r.type != RedisReply::Type::array || r.elements.size() != 5) {
        incomplete("redis HMGET " + printable(s.key) + ": " + (r.is_error() ? r.str : "unexpected reply"));
        return false;
      }
      s.in_redis = r.elements[3].type != RedisReply::Type::nil;
      if (!s.in_redis) continue;
      Levels& l = s.redis;
      if (!parse_i64(r.elements[0], &l.on_hand) || !parse_i64(r.elements[1], &l.safety_stock) ||
          !parse_i64(r.elements[2], &l.held) || !parse_i64(r.elements[3], &l.version)) {
        ++drift_;
        lines_.push_back("sku " + printable(s.name) + ": redis hash " + printable(s.key) +
                         " has oh/ss/hd/ver that are not integers; not repaired");
        s.in_redis = false;
      }
      std::int64_t moved_in = 0;
      if (s.in_redis && r.elements[4].type != RedisReply::Type::nil && parse_i64(r.elements[4], &moved_in)) {
        l.on_hand -= moved_in;
        l.held -= moved_in;
      }
    }
    return true;
  }

  // Fills pg for the SKUs of the page that have a row.
  bool read_pg(std::vector<Sku>* page) {
    std::string names = "[";
    std::unordered_map<std::string_view, Sku*> by_name;
    for (Sku& s : *page) {
      if (!s.in_redis || !valid_text(s.name)) continue;
      if (names.size() > 1) names.push_back(',');
      core::json::append_string(names, s.name);
      by_name.emplace(s.name, &s);
    }
    names.push_back(']');
    if (by_name.empty()) return true;
    PgResult r = pg_exec(l_.pg.get(), kSelectLevelsSql, {names});
    if (!pg_ok(r.get())) {
      ++l_.stats.errors;
      incomplete("postgresql: " + pg_error(l_.pg.get(), r.get()));
      return false;
    }
    for (int row = 0; row < PQntuples(r.get()); ++row) {
      auto it = by_name.find(PQgetvalue(r.get(), row, 0));
      if (it == by_name.end()) continue;
      it->second->pg = Levels{pg_int(r.get(), row, 1), pg_int(r.get(), row, 2), pg_int(r.get(), row, 3),
                              pg_int(r.get(), row, 4)};
    }
    return true;
  }

  void pg_only() {
    std::string after;
    for (;;) {
      PgResult r = pg_exec(l_.pg.get(), kPageLevelsSql, {after, std::to_string(kPageMax)});
      if (!pg_ok(r.get())) {
        ++l_.stats.errors;
        incomplete("postgresql: " + pg_error(l_.pg.get(), r.get()));
        return;
      }
      const int rows = PQntuples(r.get());
      if (rows == 0) return;
      std::vector<ClusterClient::Call> calls;
      for (int row = 0; row < rows; ++row) {
        const std::string key = sku_hash_key(PQgetvalue(r.get(), row, 0));
        calls.push_back({key, {"HEXISTS", key, "ver"}, true});
      }
      const std::vector<RedisReply> replies = l_.redis->pipeline(calls);
      assert(replies.size() == calls.size());
      for (int row = 0; row < rows; ++row) {
        const RedisReply& e = replies[static_cast<std::size_t>(row)];
        if (e.is_error()) {
          incomplete("redis HEXISTS " + calls[static_cast<std::size_t>(row)].key + ": " + e.str);
          return;
        }
        if (e.integer != 0) continue;
        ++checked_;
        ++drift_;
        const Levels pg{pg_int(r.get(), row, 1), pg_int(r.get(), row, 2), pg_int(r.get(), row, 3),
                        pg_int(r.get(), row, 4)};
        lines_.push_back("sku " + std::string(PQgetvalue(r.get(), row, 0)) + ": in postgres (" + levels_text(pg) +
                         ") but missing in redis; not repaired: the ledger never deletes a SKU's record, check it "
                         "by hand");
      }
      after = PQgetvalue(r.get(), rows - 1, 0);
      if (rows < static_cast<int>(kPageMax)) return;
    }
  }

  Ledger::Impl& l_;
  const bool repair_;
  bool ok_ = true;
  std::size_t checked_ = 0, drift_ = 0;
  std::vector<Sku> candidates_;
  std::vector<std::string> lines_;
};

}  // namespace

std::vector<std::string> Ledger::reconcile(bool repair, std::size_t* skus_checked) {
  if (!impl_->pg_ready()) {
    if (skus_checked != nullptr) *skus_checked = 0;
    return {"reconcile incomplete: postgresql is down"};
  }
  return Reconciler(*impl_, repair).run(skus_checked);
}

}  // namespace stockd::backends
