// The events feed's reader (cluster_events.h): queries on the ledger's tables, and LISTEN for the
// ledger's NOTIFY at each commit that added events.
//
// Why a reader never sees seq N+1 before N: the ledger numbers events under a transaction-scoped
// advisory lock that it holds until COMMIT (ledger_poll.cc exec_batch), so the transaction holding
// N+1 began numbering only after the one holding N had committed; a snapshot that contains the later
// commit contains the earlier one.
#include "backends/cluster_events.h"

#include <poll.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <utility>

#include "backends/ledger.h"
#include "backends/ledger_impl.h"

namespace stockd::backends {
namespace {

constexpr const char* kStatementTimeout = "SET statement_timeout = '5s'";

std::int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string one_line(std::string msg) {
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  return msg;
}

}  // namespace

bool parse_event_type(std::string_view name, core::EventType* out) {
  for (int t = 0; t < 64; ++t) {
    const auto type = static_cast<core::EventType>(t);
    const std::string_view n = core::event_type_name(type);
    if (n.empty() || n == "unknown") continue;
    if (n == name) {
      *out = type;
      return true;
    }
  }
  return false;
}

struct ClusterEvents::Impl {
  ClusterEventsOptions opt;
  PgConn pg;
  // Notified and not yet taken: the events' highest seq, and per channel the highest last seq of its
  // publications (bounded by the number of channels).
  std::uint64_t events_notified = 0;
  std::map<std::string, std::uint64_t, std::less<>> pubs_notified;

  // Takes what waits on the socket (never blocks: libpq's socket is non-blocking) into the two above.
  void consume() {
    PGconn* c = pg.get();
    if (c == nullptr) return;
    PQconsumeInput(c);
    while (PGnotify* n = PQnotifies(c)) {
      std::uint64_t seq = 0;
      const std::string_view payload = n->extra != nullptr ? n->extra : "";
      if (std::string_view(n->relname) == kPublicationsNotifyChannel) {
        // "<channel>:<last>"; a channel name may hold ':' (core::is_identifier), a number does not.
        const std::size_t colon = payload.rfind(':');
        if (colon != std::string_view::npos) {
          std::from_chars(payload.data() + colon + 1, payload.data() + payload.size(), seq);
          std::uint64_t& known = pubs_notified[std::string(payload.substr(0, colon))];
          known = std::max(known, seq);
        }
      } else {
        std::from_chars(payload.data(), payload.data() + payload.size(), seq);
        events_notified = std::max(events_notified, seq);
      }
      PQfreemem(n);
    }
  }

  // Connected (again, if it broke) and listening; else false and *error.
  bool ready(std::string* error) {
    if (pg != nullptr && PQstatus(pg.get()) == CONNECTION_OK) return true;
    if (pg == nullptr) {
      const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
      const char* values[] = {"10", "stockd-events", opt.conninfo.c_str(), nullptr};
      pg.reset(PQconnectdbParams(keys, values, 1));
    } else {
      PQreset(pg.get());
    }
    if (pg == nullptr || PQstatus(pg.get()) != CONNECTION_OK) {
      *error = "postgresql: " + one_line(pg ? PQerrorMessage(pg.get()) : "out of memory");
      return false;
    }
    std::vector<const char*> setup = {kStatementTimeout};
    if (opt.listen_events) setup.push_back("LISTEN stockd_events");
    if (opt.listen_publications) setup.push_back("LISTEN stockd_publications");
    for (const char* sql : setup) {
      PgResult r = pg_exec(pg.get(), sql);
      if (!pg_ok(r.get())) {
        *error = "postgresql: " + pg_error(pg.get(), r.get());
        return false;
      }
    }
    return true;
  }

  PgResult query(const char* sql, const std::vector<std::string>& params, std::string* error) {
    if (!ready(error)) return nullptr;
    PgResult r = pg_exec(pg.get(), sql, params);
    if (pg_ok(r.get())) return r;
    *error = "postgresql: " + pg_error(pg.get(), r.get());
    return nullptr;
  }
};

std::unique_ptr<ClusterEvents> ClusterEvents::open(const ClusterEventsOptions& options, std::string* error) {
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  if (!impl->ready(error)) return nullptr;
  static_assert(std::string_view(kEventsNotifyChannel) == "stockd_events", "LISTEN above names the channel");
  static_assert(std::string_view(kPublicationsNotifyChannel) == "stockd_publications", "and this one");
  return std::unique_ptr<ClusterEvents>(new ClusterEvents(std::move(impl)));
}

ClusterEvents::ClusterEvents(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClusterEvents::~ClusterEvents() = default;

bool ClusterEvents::read(std::uint64_t after, std::size_t limit, std::vector<net::EventRecord>* out,
                         std::uint64_t* next, std::string* error) {
  limit = std::clamp<std::size_t>(limit, 1, kEventsPageMax);
  PgResult r = impl_->query(
      "SELECT seq, type, at_ms, sku, channel, hold, available, threshold, on_hand, delta, reason, ref "
      "FROM events WHERE seq > $1::bigint ORDER BY seq LIMIT $2::bigint",
      {std::to_string(after), std::to_string(limit)}, error);
  if (r == nullptr) return false;
  *next = after;
  const PGresult* res = r.get();
  for (int i = 0; i < PQntuples(res); ++i) {
    net::EventRecord e;
    e.seq = static_cast<std::uint64_t>(pg_int(res, i, 0));
    if (!parse_event_type(PQgetvalue(res, i, 1), &e.type)) {
      // A type this node does not know (a newer ledger wrote it): skipped, but `next` moves past it.
      *next = e.seq;
      continue;
    }
    e.at_ms = pg_int(res, i, 2);
    e.sku = PQgetvalue(res, i, 3);
    e.channel = PQgetvalue(res, i, 4);
    e.hold = PQgetvalue(res, i, 5);
    e.available = pg_int(res, i, 6);
    e.threshold = pg_int(res, i, 7);
    e.on_hand = pg_int(res, i, 8);
    e.delta = pg_int(res, i, 9);
    e.reason = PQgetvalue(res, i, 10);
    e.ref = PQgetvalue(res, i, 11);
    *next = e.seq;
    out->push_back(std::move(e));
  }
  return true;
}

bool ClusterEvents::last_seq(std::uint64_t* seq, std::string* error) {
  PgResult r = impl_->query("SELECT coalesce(max(seq), 0) FROM events", {}, error);
  if (r == nullptr) return false;
  *seq = static_cast<std::uint64_t>(pg_int(r.get(), 0, 0));
  return true;
}

int ClusterEvents::notify_fd() const {
  if (impl_->pg == nullptr || PQstatus(impl_->pg.get()) != CONNECTION_OK) return -1;
  return PQsocket(impl_->pg.get());
}

std::uint64_t ClusterEvents::take_notified() {
  impl_->consume();
  return std::exchange(impl_->events_notified, 0);
}

void ClusterEvents::take_publications_notified(std::vector<std::pair<std::string, std::uint64_t>>* out) {
  impl_->consume();
  for (const auto& [channel, seq] : impl_->pubs_notified) out->emplace_back(channel, seq);
  impl_->pubs_notified.clear();
}

bool ClusterEvents::wait(std::uint64_t after, int timeout_ms, bool* ready, std::string* error) {
  *ready = false;
  take_notified();  // what was notified before is in the table, which is read next
  std::uint64_t last = 0;
  if (!last_seq(&last, error)) return false;
  const std::int64_t deadline = steady_ms() + std::max(timeout_ms, 0);
  while (last <= after) {
    const std::int64_t left = deadline - steady_ms();
    if (left <= 0) return true;
    pollfd p{notify_fd(), POLLIN, 0};
    if (p.fd >= 0) ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left, 1000)));
    last = std::max(last, take_notified());
    // A broken connection may have lost notifications: reconnect and look at the table again.
    if (PQstatus(impl_->pg.get()) != CONNECTION_OK && !last_seq(&last, error)) return false;
  }
  *ready = true;
  return true;
}

bool ClusterEvents::list_skus(std::uint64_t offset, std::size_t limit, std::vector<std::string>* names,
                              std::uint64_t* total, std::string* error) {
  limit = std::clamp<std::size_t>(limit, 1, kSkuPageMax);
  // A shard's row is "<sku>#<j>"; SKU names have no '#' (core::is_identifier).
  PgResult count = impl_->query("SELECT count(*) FROM stock_levels WHERE strpos(sku, '#') = 0", {}, error);
  if (count == nullptr) return false;
  *total = static_cast<std::uint64_t>(pg_int(count.get(), 0, 0));
  PgResult r = impl_->query(
      "SELECT sku FROM stock_levels WHERE strpos(sku, '#') = 0 ORDER BY sku COLLATE \"C\" "
      "OFFSET $1::bigint LIMIT $2::bigint",
      {std::to_string(offset), std::to_string(limit)}, error);
  if (r == nullptr) return false;
  for (int i = 0; i < PQntuples(r.get()); ++i) names->emplace_back(PQgetvalue(r.get(), i, 0));
  return true;
}

namespace {

// The ledger's kinds as the contract's causes. A row of another kind (alloc, pool_close: no figure
// changed; split_out, split_in, split_back: units moving between a hot SKU and its shards, which add up
// to 0 over a transfer) is no movement. A reconciler's repair is shown as an adjustment.
bool movement_cause(std::string_view kind, core::MovementCause* out) {
  using core::MovementCause;
  static constexpr std::pair<std::string_view, MovementCause> kCauses[] = {
      {"set", MovementCause::set},         {"adjust", MovementCause::adjust},   {"hold", MovementCause::hold},
      {"release", MovementCause::release}, {"expire", MovementCause::expire},   {"confirm", MovementCause::confirm},
      {"batch", MovementCause::batch},     {"reconcile", MovementCause::adjust}};
  for (const auto& [name, cause] : kCauses) {
    if (name == kind) {
      *out = cause;
      return true;
    }
  }
  return false;
}

}  // namespace

bool ClusterEvents::movements(std::string_view sku, std::uint64_t after, std::size_t limit,
                              std::vector<core::MovementRecord>* out, std::uint64_t* next, std::string* error) {
  limit = std::clamp<std::size_t>(limit, 1, kMovementsPageMax);
  // The index stock_movements_by_item is on (split_part(sku, '#', 1), seq): a SKU and its shards.
  PgResult r = impl_->query(
      "SELECT seq, (extract(epoch FROM at) * 1000)::bigint, kind, delta_on_hand, delta_held, ref, reason, channel "
      "FROM stock_movements WHERE split_part(sku, '#', 1) = $1 AND seq > $2::bigint "
      "AND kind IN ('set', 'adjust', 'hold', 'release', 'expire', 'confirm', 'batch', 'reconcile') "
      "AND (delta_on_hand <> 0 OR delta_held <> 0) ORDER BY seq LIMIT $3::bigint",
      {std::string(sku), std::to_string(after), std::to_string(limit)}, error);
  if (r == nullptr) return false;
  *next = after;
  const PGresult* res = r.get();
  for (int i = 0; i < PQntuples(res); ++i) {
    core::MovementRecord m;
    m.seq = static_cast<std::uint64_t>(pg_int(res, i, 0));
    *next = m.seq;
    const std::string_view kind = PQgetvalue(res, i, 2);
    if (!movement_cause(kind, &m.cause)) continue;
    m.at_ms = pg_int(res, i, 1);
    m.sku = std::string(sku);
    m.on_hand_delta = pg_int(res, i, 3);
    m.held_delta = pg_int(res, i, 4);
    const std::string_view ref = PQgetvalue(res, i, 5);
    switch (m.cause) {
      case core::MovementCause::hold:
      case core::MovementCause::release:
      case core::MovementCause::expire:
      case core::MovementCause::confirm:
        m.hold = ref;  // the ledger's ref of a hold kind is the hold id
        m.channel = PQgetvalue(res, i, 7);
        break;
      default:
        if (kind == "reconcile") {
          m.reason = "correction";
          m.ref = "reconcile";
        } else {
          m.ref = ref;
          m.reason = PQgetvalue(res, i, 6);
        }
    }
    out->push_back(std::move(m));
  }
  return true;
}

namespace {

constexpr const char* kAlertsLockKey = "8315240373478213749";      // "sTockALR", a session advisory lock
constexpr const char* kDeliveriesLockKey = "8310389685197491286";  // "sTockDLV", likewise

// Taken once: asked again while this session holds it, the lock is not taken a second time (an
// advisory lock counts its takes, and the callers ask every round).
bool lead(ClusterEvents::Impl& impl, const char* key, bool* leading, std::string* error) {
  PgResult r = impl.query(
      "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
      "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = $1::bigint) "
      "THEN true ELSE pg_try_advisory_lock($1::bigint) END",
      {key}, error);
  if (r == nullptr) return false;
  *leading = std::string_view(PQgetvalue(r.get(), 0, 0)) == "t";
  return true;
}

}  // namespace

bool ClusterEvents::lead_alerts(bool* leading, std::string* error) {
  return lead(*impl_, kAlertsLockKey, leading, error);
}

bool ClusterEvents::lead_deliveries(bool* leading, std::string* error) {
  return lead(*impl_, kDeliveriesLockKey, leading, error);
}

bool ClusterEvents::alerts_cursor(std::uint64_t* seq, bool* found, std::string* error) {
  PgResult r = impl_->query("SELECT seq FROM alert_cursor WHERE id = 1", {}, error);
  if (r == nullptr) return false;
  *found = PQntuples(r.get()) == 1;
  *seq = *found ? static_cast<std::uint64_t>(pg_int(r.get(), 0, 0)) : 0;
  return true;
}

bool ClusterEvents::save_alerts_cursor(std::uint64_t seq, std::string* error) {
  PgResult r = impl_->query(
      "INSERT INTO alert_cursor (id, seq) VALUES (1, $1::bigint) "
      "ON CONFLICT (id) DO UPDATE SET seq = GREATEST(alert_cursor.seq, EXCLUDED.seq)",
      {std::to_string(seq)}, error);
  return r != nullptr;
}

bool ClusterEvents::seq_before(std::int64_t at_ms, std::uint64_t* seq, std::string* error) {
  PgResult r = impl_->query(
      "SELECT coalesce((SELECT min(seq) - 1 FROM events WHERE at_ms >= $1::bigint), "
      "(SELECT coalesce(max(seq), 0) FROM events))",
      {std::to_string(at_ms)}, error);
  if (r == nullptr) return false;
  *seq = static_cast<std::uint64_t>(pg_int(r.get(), 0, 0));
  return true;
}

// ---- Listed channels' publications (the ledger writes them: ledger_publications.cc)

namespace {

// Rows of (sku, quantity, seq, version, at ms) -> *out; the last seq, or `none` without rows.
std::uint64_t publication_rows(const PGresult* r, std::vector<PublicationRow>* out, std::uint64_t none) {
  std::uint64_t last = none;
  for (int i = 0; i < PQntuples(r); ++i) {
    PublicationRow& p = out->emplace_back();
    p.sku = PQgetvalue(r, i, 0);
    p.quantity = pg_int(r, i, 1);
    p.seq = static_cast<std::uint64_t>(pg_int(r, i, 2));
    p.version = pg_int(r, i, 3);
    p.at_ms = pg_int(r, i, 4);
    last = p.seq;
  }
  return last;
}

// A seq as PostgreSQL's bigint takes it (seqs never reach 2^63; a larger `after` means "after all").
std::string seq_param(std::uint64_t seq) {
  return std::to_string(std::min<std::uint64_t>(seq, static_cast<std::uint64_t>(INT64_MAX)));
}

}  // namespace

bool ClusterEvents::publications(std::string_view channel, std::uint64_t after, std::size_t limit,
                                 std::vector<PublicationRow>* out, std::uint64_t* next, std::string* error) {
  limit = std::clamp<std::size_t>(limit, 1, kPublicationsPageMax);
  // The index publications_by_seq on (channel, seq); acked hides what was acknowledged, as the embedded
  // core forgets an acknowledged publication.
  PgResult r = impl_->query(
      "SELECT p.sku, p.quantity, p.seq, p.version, (extract(epoch FROM p.at) * 1000)::bigint FROM publications p "
      "WHERE p.channel = $1 AND p.seq > GREATEST($2::bigint, "
      "  coalesce((SELECT acked FROM publication_channels WHERE channel = $1), 0)) "
      "ORDER BY p.seq LIMIT $3::bigint",
      {std::string(channel), seq_param(after), std::to_string(limit)}, error);
  if (r == nullptr) return false;
  *next = publication_rows(r.get(), out, after);
  return true;
}

bool ClusterEvents::publication_seqs(std::string_view channel, std::uint64_t* last, std::uint64_t* acked,
                                     std::uint64_t* pending, std::string* error) {
  PgResult r = impl_->query(
      "SELECT c.last, c.acked, (SELECT count(*) FROM publications p WHERE p.channel = c.channel AND p.seq > c.acked) "
      "FROM publication_channels c WHERE c.channel = $1",
      {std::string(channel)}, error);
  if (r == nullptr) return false;
  const bool found = PQntuples(r.get()) == 1;
  *last = found ? static_cast<std::uint64_t>(pg_int(r.get(), 0, 0)) : 0;
  *acked = found ? static_cast<std::uint64_t>(pg_int(r.get(), 0, 1)) : 0;
  *pending = found ? static_cast<std::uint64_t>(pg_int(r.get(), 0, 2)) : 0;
  return true;
}

bool ClusterEvents::publications_upto(std::string_view channel, std::uint64_t seq, std::vector<PublicationRow>* out,
                                      std::string* error) {
  PgResult r = impl_->query(
      "SELECT p.sku, p.quantity, p.seq, p.version, (extract(epoch FROM p.at) * 1000)::bigint "
      "FROM publications p JOIN publication_channels c ON c.channel = p.channel "
      "WHERE p.channel = $1 AND p.seq > c.acked AND p.seq <= $2::bigint ORDER BY p.seq",
      {std::string(channel), seq_param(seq)}, error);
  if (r == nullptr) return false;
  publication_rows(r.get(), out, 0);
  return true;
}

bool ClusterEvents::save_publication_ack(std::string_view channel, std::uint64_t seq, std::string* error) {
  // The NOTIFY even when acked did not move: a repeated ack is rare, and a node that missed the first
  // one's notification (its watcher was reconnecting) catches up.
  PgResult r = impl_->query(
      "WITH u AS (UPDATE publication_channels SET acked = GREATEST(acked, $2::bigint) WHERE channel = $1 "
      "RETURNING channel, last) "
      "SELECT pg_notify('stockd_publications', u.channel || ':' || u.last) FROM u",
      {std::string(channel), seq_param(seq)}, error);
  return r != nullptr;
}

bool ClusterEvents::publication_lasts(std::vector<PublicationSeqs>* out, std::string* error) {
  PgResult r = impl_->query("SELECT channel, last, acked FROM publication_channels ORDER BY channel", {}, error);
  if (r == nullptr) return false;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    out->push_back({PQgetvalue(r.get(), i, 0), static_cast<std::uint64_t>(pg_int(r.get(), i, 1)),
                    static_cast<std::uint64_t>(pg_int(r.get(), i, 2))});
  }
  return true;
}

}  // namespace stockd::backends
