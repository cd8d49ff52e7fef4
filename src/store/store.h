// store.h: what stockd's one front end (src/server) talks to: a store of inventory that takes requests
// and delivers their completions asynchronously, on the event loop's thread. Two implementations:
// EngineStore (engine_store.h: the embedded engine, writes answered after their batch's sync, reads
// at once) and the cluster store's adapter (cluster_adapter.h). docs/architecture.md, "The Store
// interface", has the picture.
//
// The contract between the front end (the caller) and a store:
// - Threads: every call, and every Completions callback, happens on the caller's (the loop's) thread.
//   A store with threads of its own wakes the loop through completion_fd() and delivers its
//   completions from on_completion().
// - Writes: submit() either refuses at once (nothing submitted; the caller answers the returned code)
//   or accepts; an accepted write completes exactly once, through Completions::write_done, with its
//   Outcome and the view it asked for (Want) of the state right after that very write.
// - Order: the requests of one stream (a connection) complete in the order they were submitted. The
//   caller keeps a connection's replies in order by answering inline (errors, connection commands)
//   only while that connection has nothing in flight, and a read never overtakes its own stream's
//   earlier writes. (The embedded store completes all writes in submission order, reads at once.)
// - Reads complete through Completions::read_done; a store may complete them inside read().
// - Capabilities: what a store lacks. The front end answers a route whose capability is missing with
//   501 not_implemented from one place (capability_message()), before calling the store.
// - Views handed to a completion (core/views.h) are valid during that callback only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/command.h"
#include "core/inventory.h"  // core::Outcome, core::BatchAnswer
#include "core/movement.h"
#include "core/views.h"

namespace stockd::store {

// What a store may lack. The messages of the 501 answers: capability_message().
enum class Capability : std::uint8_t {
  events_feed,    // GET /v1/events
  sku_listing,    // GET /v1/skus
  stock_batches,  // POST /v1/stock/batches, RESP BATCH
  publications,   // listed channels: publications, their acks, a listing or webhook in PUT /v1/channels
  movements,      // GET /v1/movements
  outbound,       // webhook deliveries (/v1/deliveries)
  snapshot,       // POST /v1/admin/snapshot
  sku_count,      // RESP DBSIZE
  alerts,         // /v1/alerts, /v1/alerts/test
};
inline constexpr int kCapabilityCount = 9;

class Capabilities {
 public:
  static Capabilities all() { return Capabilities((1u << kCapabilityCount) - 1); }
  bool has(Capability c) const { return (bits_ >> static_cast<int>(c)) & 1u; }
  Capabilities without(Capability c) const { return Capabilities(bits_ & ~(1u << static_cast<int>(c))); }

 private:
  explicit Capabilities(std::uint32_t bits) : bits_(bits) {}
  std::uint32_t bits_;
};

// The message of the 501 not_implemented answer to a request that needs `c` (docs/cluster.md).
const char* capability_message(Capability c);

// An Outcome that failed with `code` and `message` (the stores' completions).
core::Outcome failure(core::Code code, std::string message);

// The caller's name for a request, handed back in its completion. kNoTag: a write the caller makes
// itself (expiry ticks, delivery acknowledgements) whose completion nobody answers.
using Tag = std::uint64_t;
inline constexpr Tag kNoTag = ~std::uint64_t{0};

// The view of the state a write's reply renders.
enum class Want : std::uint8_t { none, channel, sku, hold, batch, ack };

struct Write {
  core::Command* cmd = nullptr;  // moved from when accepted
  std::int64_t now_ms = 0;
  Tag tag = kNoTag;
  std::uint64_t stream = 0;  // the connection: a stream's requests complete in submission order
  Want want = Want::none;
  // The decoder's verdict. When not ok the write is not applied: the store only checks the hold's
  // owner (below) and answers forbidden or this status (a forbidden hold wins over a bad argument).
  core::Status status;
  // Confirm, release, extend by a channel's token: the hold id acted on and the acting channel. The
  // store answers forbidden when the hold exists and belongs to another channel (the one place of
  // that check). Empty acting_channel: an admin, no check. Views valid during submit() only.
  std::string_view hold_id;
  std::string_view acting_channel;
  // The bound of queued() (--max-queue): beyond it the store refuses overloaded (after the checks above).
  std::size_t queue_max = SIZE_MAX;
};

// A write's completion. `outcome.ok()`: the view asked for, else all null.
struct WriteDone {
  Tag tag = kNoTag;
  const core::Outcome* outcome = nullptr;
  const core::ChannelView* channel = nullptr;  // Want::channel, Want::ack
  const core::SkuView* sku = nullptr;          // Want::sku
  const core::HoldView* hold = nullptr;        // Want::hold
  // Want::batch: the SKU of every ok row of *outcome->batch, in row order.
  std::span<const core::SkuView> batch_skus;
};

enum class ReadKind : std::uint8_t {
  sku,           // name
  hold,          // name = hold id; acting_channel checked as for writes (forbidden)
  channels,      // every channel
  availability,  // name = channel, skus: unknown_channel first, then none or more than `limit` SKUs
  avail,         // name = sku, channel (RESP AVAIL): unknown_sku first; no channel: max(0, on_hand -
                 // safety - held)
  sku_count,     // RESP DBSIZE
  sku_list,      // offset, limit
  events,        // after, limit: the events feed's page
  publications,  // name = channel, after, limit
  movements,     // name = sku, after, limit
  snapshot,      // take a snapshot now
  reconcile,     // compare (and repair) the store's figures
};

struct Read {
  ReadKind kind = ReadKind::sku;
  Tag tag = kNoTag;
  std::uint64_t stream = 0;  // the connection: a stream's requests complete in submission order
  std::string_view name;
  std::string_view channel;  // avail
  std::string_view acting_channel;
  std::span<const std::string_view> skus;
  std::uint64_t after = 0;
  std::size_t offset = 0;
  std::size_t limit = 0;
  std::int64_t now_ms = 0;
};

// One SKU of an availability answer: its units, or nullopt when unknown.
struct Available {
  std::string_view sku;
  std::optional<std::int64_t> units;
};

// A read's completion: `outcome` (code and message: unknown_sku, unknown_hold, unknown_channel,
// forbidden, unavailable, ...) and, when ok, the fields of its kind.
struct ReadDone {
  Tag tag = kNoTag;
  ReadKind kind = ReadKind::sku;
  const core::Outcome* outcome = nullptr;
  const core::SkuView* sku = nullptr;           // sku
  const core::HoldView* hold = nullptr;         // hold
  std::span<const core::ChannelView> channels;  // channels
  std::string_view channel;                     // availability
  std::span<const Available> available;         // availability (in the order asked, no repeats)
  std::int64_t count = 0;                       // avail, sku_count
  std::span<const core::SkuView> skus;          // sku_list
  std::size_t total = 0;                        // sku_list: SKUs in all
  std::string_view json;                        // events: the page, rendered by the feed
  std::span<const core::PublicationView> publications;  // publications
  std::span<const core::MovementRecord> movements;      // movements
  std::uint64_t next = 0;                       // publications, movements: the page's last seq (or after)
  std::uint64_t lsn = 0;                        // snapshot
  std::size_t skus_checked = 0;                 // reconcile
  std::span<const std::string> drift;           // reconcile
};

// Implemented by the front end.
class Completions {
 public:
  virtual void write_done(const WriteDone& d) = 0;
  virtual void read_done(const ReadDone& d) = 0;
  // After the completions of one batch of writes: its size, the time it took (its sync), and whether
  // it produced events (the front end then answers long polls and starts outbound pushes). A store
  // whose feed advances apart from its writes (the cluster store's ledger) calls it with items == 0.
  virtual void batch_done(std::size_t items, std::int64_t duration_us, bool events) = 0;

 protected:
  ~Completions() = default;
};

class Store {
 public:
  virtual ~Store() = default;

  // REQUIRES: called once, before any other call; `sink` outlives the store's use.
  virtual void start(Completions* sink) = 0;
  virtual Capabilities capabilities() const = 0;

  // Writes: see the top of this file. Returns Code::ok when accepted (*w.cmd moved from), else the
  // code of the refusal (forbidden, overloaded, or w.status's, which the store may have set with
  // its own message) with nothing submitted.
  virtual core::Code submit(Write& w) = 0;
  // Accepted writes not yet handed over (the front end bounds them by --max-queue).
  virtual std::size_t queued() const = 0;
  // Hands over what was submitted when the store can (it may complete it at once). The loop calls it
  // after every round of parsing and at wake_at_us().
  virtual void pump() = 0;
  // Readable when on_completion() has completions to deliver; -1 when the store completes inside
  // pump() only.
  virtual int completion_fd() const = 0;
  // Delivers what completed, then hands over what waits (as pump()). The loop calls it when
  // completion_fd() is readable.
  virtual void on_completion() = 0;
  // A steady-clock time (µs) at which pump() wants to be called even without input (0: none).
  virtual std::int64_t wake_at_us() const = 0;
  // Blocks until every accepted write completed (drain, and before a snapshot).
  virtual void complete_all() = 0;
  // Nothing accepted and not yet completed.
  virtual bool idle() const = 0;
  // The front end drains (SIGTERM): hand writes over at once from now on, no waiting for stragglers.
  virtual void set_draining() = 0;

  // Reads: see ReadKind. The caller checks capabilities first.
  virtual void read(const Read& r) = 0;
  // Long polls: whether the events feed (channel empty) or a channel's publications have something
  // after `after`; the front end asks after every batch_done with events and at its timer. Called
  // only by the routes of Capability::events_feed and Capability::publications.
  virtual bool feed_has_after(std::string_view channel, std::uint64_t after) = 0;
  // Whether the channel exists (a publications long poll names one). Called only by the routes of
  // Capability::publications.
  virtual bool channel_exists(std::string_view channel) = 0;

  // Housekeeping every --tick-ms: expiry of due holds, the engine's maintenance, the cluster sweep.
  virtual void tick(std::int64_t now_ms) = 0;
  // false: the store refuses writes (GET /readyz answers 503 storage unavailable).
  virtual bool healthy() = 0;
  // The store's own gauges and counters, in Prometheus text format, appended to GET /metrics.
  virtual void render_metrics(std::string& out) const = 0;
};

}  // namespace stockd::store
