// The ledger writer: connections, schema, consumer groups, and the libpq helpers.
//
// Every statement goes through PQexecParams with text parameters, so no entry text is ever part of
// SQL. The schema is created under a transaction-scoped advisory lock, because two ledger processes
// starting at once would otherwise race in CREATE TABLE IF NOT EXISTS (a unique violation on pg_type).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string_view>

#include "backends/ledger_impl.h"
#include "backends/outbox.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {
namespace {

constexpr const char* kConnectTimeoutS = "10";
constexpr const char* kStatementTimeout = "SET statement_timeout = '60s'";
constexpr std::int64_t kSchemaLockKey = 0x73746f636b6c6467;  // "stockldg"

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS stock_levels (
  sku text PRIMARY KEY,
  on_hand bigint NOT NULL,
  safety_stock bigint NOT NULL,
  held bigint NOT NULL,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS stock_movements (
  sku text NOT NULL,
  version bigint NOT NULL,
  kind text NOT NULL,
  delta_on_hand bigint NOT NULL,
  delta_held bigint NOT NULL,
  ref text NOT NULL,
  reason text NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (sku, version));
CREATE TABLE IF NOT EXISTS holds (
  id text PRIMARY KEY,
  channel text NOT NULL,
  state text NOT NULL,
  lines jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  finished_at timestamptz NULL,
  version bigint NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
  channel text PRIMARY KEY,
  priority bigint NOT NULL,
  hold_ttl_s bigint NOT NULL,
  state text NOT NULL,
  updated_at timestamptz NOT NULL);
ALTER TABLE stock_levels ADD COLUMN IF NOT EXISTS frees text NULL;
ALTER TABLE stock_levels ADD COLUMN IF NOT EXISTS cfg text NOT NULL DEFAULT '';
ALTER TABLE stock_levels ADD COLUMN IF NOT EXISTS low_stock_threshold bigint NOT NULL DEFAULT -1;
ALTER TABLE stock_levels ADD COLUMN IF NOT EXISTS base_on_hand bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS stock_levels_by_name ON stock_levels (sku COLLATE "C");
CREATE TABLE IF NOT EXISTS events (
  seq bigint PRIMARY KEY,
  type text NOT NULL,
  at_ms bigint NOT NULL,
  sku text NOT NULL,
  channel text NOT NULL,
  hold text NOT NULL,
  available bigint NOT NULL,
  threshold bigint NOT NULL,
  on_hand bigint NOT NULL,
  delta bigint NOT NULL,
  reason text NOT NULL,
  ref text NOT NULL,
  src text NULL);
CREATE UNIQUE INDEX IF NOT EXISTS events_src ON events (src);
CREATE OR REPLACE VIEW sku_levels AS
  SELECT split_part(sku, '#', 1) AS sku, sum(on_hand)::bigint AS on_hand,
         coalesce(max(safety_stock) FILTER (WHERE strpos(sku, '#') = 0), 0)::bigint AS safety_stock,
         sum(held)::bigint AS held, max(updated_at) AS updated_at
  FROM stock_levels GROUP BY 1;
)sql";

// Server notices (e.g. "relation ... already exists, skipping") go to the log, not to stderr.
void log_notice(void*, const char* message) {
  std::string_view m(message);
  while (!m.empty() && m.back() == '\n') m.remove_suffix(1);
  spdlog::debug("event=ledger_pg_notice message=\"{}\"", m);
}

PgConn pg_connect(const std::string& conninfo, std::string* error) {
  // Earlier keywords are defaults that the expanded conninfo (dbname) overrides.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {kConnectTimeoutS, "stockd-ledger", conninfo.c_str(), nullptr};
  PgConn conn(PQconnectdbParams(keys, values, 1));
  if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    *error = "postgresql: " + std::string(conn ? PQerrorMessage(conn.get()) : "out of memory");
    while (!error->empty() && error->back() == '\n') error->pop_back();
    return nullptr;
  }
  PQsetNoticeProcessor(conn.get(), log_notice, nullptr);
  PgResult r = pg_exec(conn.get(), kStatementTimeout);
  if (!pg_ok(r.get())) {
    *error = "postgresql: " + pg_error(conn.get(), r.get());
    return nullptr;
  }
  return conn;
}

}  // namespace

PgResult pg_exec(PGconn* conn, const char* sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) values.push_back(p.c_str());
  PgResult r(PQexecParams(conn, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  if (r == nullptr) r.reset(PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR));
  return r;
}

bool pg_ok(const PGresult* r) {
  const ExecStatusType s = PQresultStatus(r);
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

std::string pg_error(PGconn* conn, const PGresult* r) {
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  std::string msg = PQresultErrorMessage(r);
  if (msg.empty()) msg = PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  for (char& c : msg) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return state != nullptr ? std::string(state) + " " + msg : msg;
}

std::int64_t pg_int(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return 0;
  return std::strtoll(PQgetvalue(r, row, col), nullptr, 10);
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool Ledger::Impl::pg_ready() {
  if (PQstatus(pg.get()) == CONNECTION_OK) return true;
  PQreset(pg.get());
  if (PQstatus(pg.get()) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(pg.get());
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    spdlog::warn("event=ledger_pg_down error=\"{}\"", msg);
    ++stats.errors;
    return false;
  }
  PgResult r = pg_exec(pg.get(), kStatementTimeout);
  spdlog::info("event=ledger_pg_reconnected");
  return pg_ok(r.get());
}

bool Ledger::Impl::create_schema(std::string* error) {
  PgResult r = pg_exec(pg.get(), "BEGIN");
  if (pg_ok(r.get())) {
    r = pg_exec(pg.get(), "SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(kSchemaLockKey)});
  }
  if (pg_ok(r.get())) r.reset(PQexec(pg.get(), kSchemaSql));  // fixed text, several statements
  if (r == nullptr) r.reset(PQmakeEmptyPGresult(pg.get(), PGRES_FATAL_ERROR));
  if (pg_ok(r.get())) r = pg_exec(pg.get(), "COMMIT");
  if (!pg_ok(r.get())) {
    *error = "postgresql: creating the schema: " + pg_error(pg.get(), r.get());
    pg_exec(pg.get(), "ROLLBACK");
    return false;
  }
  return true;
}

bool Ledger::Impl::create_groups(std::string* error) {
  std::vector<ClusterClient::Call> calls;
  calls.reserve(kPartitions);
  for (int k = 0; k < kPartitions; ++k) {
    calls.push_back({outbox_key(k), {"XGROUP", "CREATE", outbox_key(k), kLedgerGroup, "0", "MKSTREAM"}, true});
  }
  const std::vector<RedisReply> replies = redis->pipeline(calls);
  for (int k = 0; k < kPartitions; ++k) {
    const RedisReply& r = replies[k];
    if (r.is_error() && r.str.rfind("BUSYGROUP", 0) != 0) {
      *error = "redis: XGROUP CREATE " + outbox_key(k) + " " + kLedgerGroup + ": " + r.str;
      return false;
    }
  }
  return true;
}

std::unique_ptr<Ledger> Ledger::open(const LedgerOptions& options, const ClusterOptions& cluster, std::string* error) {
  if (options.consumer.empty()) {
    *error = "ledger: a consumer name is required (unique per process, e.g. host:pid)";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  impl->opt.batch = std::clamp(options.batch, 1, kLedgerBatchMax);
  impl->opt.claim_idle_ms = std::max<std::int64_t>(options.claim_idle_ms, 1);
  impl->own_pending.fill(true);
  impl->claim_cursor.fill("0-0");
  impl->pg = pg_connect(options.conninfo, error);
  if (impl->pg == nullptr) return nullptr;
  if (!impl->create_schema(error)) return nullptr;
  impl->redis = ClusterClient::connect(cluster, error);
  if (impl->redis == nullptr) return nullptr;
  if (!impl->create_groups(error)) return nullptr;
  spdlog::info("event=ledger_open consumer={} batch={} claim_idle_ms={}", impl->opt.consumer, impl->opt.batch,
               impl->opt.claim_idle_ms);
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;

std::size_t Ledger::poll_once() {
  std::size_t handled = 0;
  return impl_->poll(&handled);
}

LedgerStats Ledger::stats() const { return impl_->stats; }

}  // namespace stockd::backends
