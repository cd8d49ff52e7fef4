// cluster_events.h: the reader side of the cluster store's events feed (GET /v1/events), SKU listing
// (GET /v1/skus), movements and listed channels' publications, all served from the ledger's
// PostgreSQL (docs/cluster.md "Events feed", "SKU listing", "Listed channels on the cluster store").
// Only a node started with --ledger has them; without it the routes answer 501.
//
// The ledger writer (ledger.h) inserts the events in the same transaction that applies the outbox
// entries they come from, numbered in commit order (seq from 1, no gaps, survives restarts: it is a
// table), and NOTIFYs kEventsNotifyChannel with the last seq as it commits. This class reads them
// with its own libpq connection and LISTENs on that channel, so a long poll waits on a socket, not
// on a timer.
//
// Blocking: read(), last_seq(), list_skus() and the other queries are one PostgreSQL round trip each
// (bounded by the connection's statement timeout, 5 s); wait() blocks up to its timeout. Run them OFF
// the event loop thread (a worker thread that owns this object), or use the non-blocking notify_fd()
// + take_notified() (+ take_publications_notified()) on the loop to learn when to read.
//
// REQUIRES: external synchronization: one ClusterEvents per thread (it owns one connection).
// Nothing throws; a failed call returns false with *error, and the connection is reset on the next.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/movement.h"
#include "net/event_record.h"

namespace stockd::backends {

inline constexpr std::size_t kEventsPageMax = 10'000;  // read()'s limit is clamped to [1, this]
inline constexpr std::size_t kSkuPageMax = 1'000;      // list_skus()'s limit is clamped to [1, this]
inline constexpr std::size_t kMovementsPageMax = 1'000;  // movements()'s limit is clamped to [1, this]
inline constexpr std::size_t kPublicationsPageMax = 10'000;  // publications()'s limit is clamped to [1, this]

struct ClusterEventsOptions {
  std::string conninfo;  // the ledger's PostgreSQL (LedgerOptions::conninfo)
  // LISTEN on kEventsNotifyChannel (wait(), take_notified()) and kPublicationsNotifyChannel
  // (take_publications_notified()). A connection that only queries leaves both off: libpq keeps every
  // notification of a listening connection in memory until it is taken.
  bool listen_events = true;
  bool listen_publications = false;
};

// One row of a listed channel's publications (the ledger's table `publications`): the latest
// publication of `sku` to the channel, coalesced, numbered `seq` in the channel's order.
struct PublicationRow {
  std::string sku;
  std::int64_t quantity = 0;
  std::uint64_t seq = 0;
  std::int64_t version = 0;  // the (channel, SKU) publication's version (outbox t=pub, field v)
  std::int64_t at_ms = 0;    // when it was published
};

// A channel's publication seqs (the table publication_channels): the last one numbered, and the
// last one acknowledged (or dropped when the channel became direct).
struct PublicationSeqs {
  std::string channel;
  std::uint64_t last = 0;
  std::uint64_t acked = 0;
};

class ClusterEvents {
 public:
  // Connects and LISTENs. The ledger must have created the schema (Ledger::open) at least once.
  static std::unique_ptr<ClusterEvents> open(const ClusterEventsOptions& options, std::string* error);
  ~ClusterEvents();
  ClusterEvents(const ClusterEvents&) = delete;
  ClusterEvents& operator=(const ClusterEvents&) = delete;

  // Up to `limit` events with seq > after, in seq order, appended to *out as the embedded feed's
  // records (render them with net::render_event / render_events_page). *next is the seq of the last
  // event returned, or `after` when none is (the contract's `next`).
  bool read(std::uint64_t after, std::size_t limit, std::vector<net::EventRecord>* out, std::uint64_t* next,
            std::string* error);

  // The newest seq (0 when there is none yet).
  bool last_seq(std::uint64_t* seq, std::string* error);

  // Blocks until an event with seq > after exists or timeout_ms passed (the long poll: then read()).
  // *ready says which. Waits on the LISTEN socket, checking the table once first and again after
  // every notification.
  bool wait(std::uint64_t after, int timeout_ms, bool* ready, std::string* error);

  // Non-blocking: the connection's socket (poll it for readable; -1 if the connection is down, then
  // call last_seq() to reconnect), and the highest seq notified since the last call (0: none).
  int notify_fd() const;
  std::uint64_t take_notified();

  // The SKU listing: names in byte order (COLLATE "C"), `offset` skipped, at most `limit`, and the
  // number of SKUs. From the ledger's stock_levels, so a SKU appears once the ledger applied its
  // creation (the feed's lag); the caller reads each view from the store (ClusterStore::get_sku).
  bool list_skus(std::uint64_t offset, std::size_t limit, std::vector<std::string>* names, std::uint64_t* total,
                 std::string* error);

  // GET /v1/movements: up to `limit` movements of SKU `sku` (its shards' included) with seq > after,
  // in seq order, from the ledger's stock_movements (docs/cluster.md "Movements"). *next as read().
  bool movements(std::string_view sku, std::uint64_t after, std::size_t limit,
                 std::vector<core::MovementRecord>* out, std::uint64_t* next, std::string* error);

  // Alerts in cluster mode (server/cluster_alerts.h): one node at a time sends them, the holder of a
  // session advisory lock on this connection (*leading; a lost connection loses it), from the seq
  // the table alert_cursor keeps (*found false: none yet).
  bool lead_alerts(bool* leading, std::string* error);
  bool alerts_cursor(std::uint64_t* seq, bool* found, std::string* error);
  bool save_alerts_cursor(std::uint64_t seq, std::string* error);
  // Webhook deliveries of listed channels in cluster mode: one node at a time pushes, the holder of
  // another session advisory lock on this connection (*leading), as lead_alerts.
  bool lead_deliveries(bool* leading, std::string* error);
  // The seq just before the first event at or after at_ms (the newest seq when there is none).
  bool seq_before(std::int64_t at_ms, std::uint64_t* seq, std::string* error);

  // Listed channels' publications (docs/cluster.md "Listed channels on the cluster store"), as the
  // embedded core's (core::Inventory::publications): a channel's unacknowledged publications, one per
  // SKU, with seq > max(after, acked), in seq order, at most `limit` (clamped to [1,
  // kPublicationsPageMax]), appended to *out; *next is the last seq returned, or `after` when none is.
  // A channel without publications has none (the caller checks that the channel exists).
  bool publications(std::string_view channel, std::uint64_t after, std::size_t limit,
                    std::vector<PublicationRow>* out, std::uint64_t* next, std::string* error);
  // The channel's last and acknowledged seqs, and how many rows are above acked (*pending); all 0
  // when the channel has no publication yet.
  bool publication_seqs(std::string_view channel, std::uint64_t* last, std::uint64_t* acked, std::uint64_t* pending,
                        std::string* error);
  // What an acknowledgement of `seq` covers: the rows with acked < seq' <= seq, in seq order,
  // appended to *out (each SKU's latest publication at or below seq that is not acknowledged yet).
  bool publications_upto(std::string_view channel, std::uint64_t seq, std::vector<PublicationRow>* out,
                         std::string* error);
  // acked = GREATEST(acked, seq) (idempotent; a channel without a row is left alone), and NOTIFYs
  // kPublicationsNotifyChannel so that every node's watcher sees the new acked. REQUIRES: the
  // exposures behind the rows up to seq were released first (ClusterStore::ack_exposures).
  bool save_publication_ack(std::string_view channel, std::uint64_t seq, std::string* error);
  // Every channel that has publications, with its last and acked seqs, appended to *out.
  bool publication_lasts(std::vector<PublicationSeqs>* out, std::string* error);
  // Non-blocking, with listen_publications: the channels notified since the last call, each with the
  // highest last seq its notifications named, appended to *out (one entry per channel). It reads the
  // socket as take_notified() does; each of the two keeps what the other read for its own next call.
  void take_publications_notified(std::vector<std::pair<std::string, std::uint64_t>>* out);

  struct Impl;

 private:
  explicit ClusterEvents(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The event type named `name` (core::event_type_name's inverse). False for an unknown name.
bool parse_event_type(std::string_view name, core::EventType* out);

}  // namespace stockd::backends
