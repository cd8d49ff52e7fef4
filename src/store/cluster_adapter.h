// cluster_adapter.h: the Redis Cluster store (backends::ClusterStore) behind the Store interface
// (store.h), so that cluster mode runs the one front end of src/server.
//
// Inside, for now (docs/cluster.md "Front end"): a pool of worker threads, each owning one synchronous
// ClusterStore (the store REQUIRES one per thread), a queue of jobs and a queue of completions whose
// eventfd wakes the loop. A job is one read, a hold round (every stream whose next request is a new
// hold, while fewer than kHoldRoundsMax rounds run: the group commit into Redis), or the consecutive
// writes of up to 64 streams (connections) whose next request is another write; writes run in waves
// (the k-th write of each stream in wave k), the new holds of a wave together
// (ClusterStore::create_many: one call per partition, one pipeline, so each master fsyncs once for
// all of them), with one acknowledge() (WAIT) for the job (a failed acknowledgement
// answers every ok write of the job with its error, 503). A stream is in at most one job at a time,
// so a connection's requests complete in order. A sweeper thread with its own ClusterStore calls
// sweep() every tick_ms and healthy() about once a second. Only the inside of this class knows about
// threads: a pipelined, asynchronous Redis client can replace the pool without changing the interface.
//
// What it lacks (capabilities()): snapshots, DBSIZE; and without a ledger (--ledger) the events feed,
// the SKU listing, the movements, the alerts, listed channels' publications and webhook deliveries,
// which are read from the ledger's PostgreSQL (backends::ClusterEvents, docs/cluster.md "Events feed",
// "Listed channels on the cluster store"): a small pool of reader connections for the workers, and a
// watcher thread that follows the feed's last seq and each channel's publication seqs (LISTEN), so
// that feed_has_after() answers on the loop without a round trip and a parked long poll is answered
// as soon as the ledger commits. The watcher also keeps, for the loop, the cluster's channel names
// (channel_exists()) and channels with a webhook, and the first unacknowledged publications of each
// of those (the webhook deliveries' source: webhook_channels(), pending_publications()), refreshed
// about once a second and at each notification. The hold-ownership check (a channel's token acting on
// another channel's hold) is a read of the hold before the write, in the job.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backends/cluster_events.h"
#include "backends/cluster_store.h"
#include "net/prometheus.h"
#include "store/store.h"

namespace stockd::store {

class ClusterLedger;

inline constexpr int kClusterWorkersDefault = 64;
// Hold rounds (group commits of new holds into Redis, worker_main) running at once: while one waits
// for Redis, the next gathers the holds that arrive.
inline constexpr int kHoldRoundsMax = 2;
inline constexpr int kClusterWorkersMax = 256;
// The sweeper reads only the expiry indexes every tick_ms, and every index (repairs, retention, the
// transfers of split SKUs, stock batch leases) this often: at most a second later than due.
inline constexpr std::int64_t kFullSweepEveryMs = 1000;
// The watcher reads the cluster's channels this often (channel_exists(), webhook_channels()).
inline constexpr std::int64_t kChannelsRefreshMs = 1000;
// Unacknowledged publications kept per webhook channel for the deliveries (pending_publications()):
// two webhook batches (server/delivery.h kDeliveryBatchMax), so the next batch is there while the
// previous one's acknowledgement is on its way.
inline constexpr std::size_t kPendingCacheMax = 1000;

struct ClusterAdapterOptions {
  backends::ClusterStoreOptions store;
  int workers = kClusterWorkersDefault;
  std::int64_t tick_ms = 100;                  // the sweeper's period
  ClusterLedger* ledger = nullptr;     // optional (--ledger): reconcile and /metrics include it
  // The ledger's PostgreSQL (--ledger): the events feed, the SKU listing, the movements and listed
  // channels' publications read from it. Empty: the adapter lacks them (501).
  std::string events_conninfo;
};

class ClusterAdapter final : public Store {
 public:
  // Opens one ClusterStore per worker plus the sweeper's and starts the threads; nullptr and *error
  // when the cluster cannot be reached.
  static std::unique_ptr<ClusterAdapter> open(const ClusterAdapterOptions& options, std::string* error);
  ~ClusterAdapter() override;  // stops and joins the threads
  ClusterAdapter(const ClusterAdapter&) = delete;
  ClusterAdapter& operator=(const ClusterAdapter&) = delete;

  void start(Completions* sink) override { sink_ = sink; }
  Capabilities capabilities() const override;
  core::Code submit(Write& w) override;
  std::size_t queued() const override { return outstanding_; }
  void pump() override {}
  int completion_fd() const override { return event_fd_; }
  void on_completion() override;
  std::int64_t wake_at_us() const override { return 0; }
  void complete_all() override;
  bool idle() const override { return outstanding_ == 0; }
  void set_draining() override {}
  void read(const Read& r) override;
  // From what the watcher saw (no round trip): the feed's last seq; a channel's last and acked
  // publication seqs (true when last > max(after, acked), as the embedded store's pending map).
  bool feed_has_after(std::string_view channel, std::uint64_t after) override;
  // From the watcher's copy of the cluster's channels (at most kChannelsRefreshMs old; a channel put
  // through this node is there at once). True before the first copy was read.
  bool channel_exists(std::string_view channel) override;
  void tick(std::int64_t) override {}  // the sweeper thread sweeps
  bool healthy() override { return healthy_.load(std::memory_order_relaxed); }
  void render_metrics(std::string& out) const override;

  // The webhook deliveries' source (server/cluster_publications.h), non-blocking, from what the
  // watcher keeps (with --ledger; else nothing): the channels that have a webhook, while this node is
  // the one that pushes (else none); a webhook channel's unacknowledged publications with seq > after,
  // in seq order, at most `limit` (of the first kPendingCacheMax); and how many it has.
  void webhook_channels(std::vector<backends::ChannelRecord>* out) const;
  void pending_publications(std::string_view channel, std::uint64_t after, std::size_t limit,
                            std::vector<backends::PublicationRow>* out) const;
  std::size_t publication_backlog(std::string_view channel) const;

  struct Item;  // one request and its result (cluster_adapter_item.h)

 private:
  explicit ClusterAdapter(const ClusterAdapterOptions& options);
  struct Stream {
    std::deque<std::unique_ptr<Item>> queue;
    bool busy = false;  // a job of this stream is queued or running
  };
  // A stream's next request: what kind of job takes it (worker_main).
  enum class Next : std::uint8_t { read, hold, write };
  static Next next_of(const Stream& s);
  void enqueue(std::uint64_t stream, std::unique_ptr<Item> item);
  void worker_main(backends::ClusterStore* store);
  void sweeper_main();
  void deliver(Item& item);
  void feed_watcher_main();
  // The writes of one job (worker_main): in waves, one acknowledgement.
  template <typename Parts>
  void run_job_writes(backends::ClusterStore& store, Parts& parts);
  // The events feed's page, the SKU listing and the movements (ReadKind::events, sku_list,
  // movements): from the ledger, on a worker.
  void run_feed_read(backends::ClusterStore& store, Item& item);
  std::unique_ptr<backends::ClusterEvents> take_reader(std::string* error);
  void give_reader(std::unique_ptr<backends::ClusterEvents> reader);
  // cluster_adapter_publications.cc: a channel's publications page (ReadKind::publications), an
  // acknowledgement (core::AckPublications, a write), the publication seqs of channel views, and the
  // watcher's share of the work.
  void run_publications_read(backends::ClusterStore& store, Item& item);
  void cap_by_exposure(backends::ClusterStore& store, Item& item);
  void run_ack(backends::ClusterStore& store, Item& item);
  void fill_publication_seqs(std::span<backends::ChannelRecord* const> channels);
  bool refresh_channels();
  bool lead_deliveries(backends::ClusterEvents& ev, std::string* error);
  bool refresh_publications(backends::ClusterEvents& ev,
                            const std::vector<std::pair<std::string, std::uint64_t>>* notified, std::string* error);
  bool load_pending(backends::ClusterEvents& ev, const std::string& channel, std::string* error);
  void wake_loop();

  ClusterAdapterOptions opt_;
  Completions* sink_ = nullptr;
  int event_fd_ = -1;
  std::size_t outstanding_ = 0;  // submitted, not yet delivered (loop thread only)
  std::vector<std::unique_ptr<backends::ClusterStore>> stores_;  // one per worker
  std::unique_ptr<backends::ClusterStore> sweep_store_;
  std::vector<std::thread> threads_;
  std::thread sweeper_;

  std::mutex mu_;  // guards streams_, runnable_, stop_, done_
  std::condition_variable cv_;
  std::unordered_map<std::uint64_t, Stream> streams_;
  std::deque<std::uint64_t> runnable_;  // streams with a job to run
  int hold_rounds_ = 0;                  // hold rounds running (worker_main), at most kHoldRoundsMax
  bool stop_ = false;
  std::vector<std::unique_ptr<Item>> done_;  // completed, in completion order
  std::vector<std::unique_ptr<Item>> delivering_;  // loop thread: swapped with done_

  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool sweep_stop_ = false;
  std::atomic<bool> healthy_{true};
  std::atomic<std::uint64_t> swept_total_{0};
  mutable std::mutex metrics_mu_;
  net::Histogram sweep_latency_;

  // The events feed (events_conninfo set): idle reader connections (at most kFeedReadersMax open), the
  // watcher's thread and what it saw.
  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<std::unique_ptr<backends::ClusterEvents>> readers_free_;
  int readers_open_ = 0;
  std::thread feed_watcher_;
  std::atomic<std::uint64_t> feed_last_{0};      // the feed's newest seq as last seen
  std::atomic<bool> feed_advanced_{false};       // the loop has not yet been told (batch_done)
  std::atomic<std::uint64_t> feed_errors_{0};

  // Listed channels (events_conninfo set): what the watcher keeps for the loop, under pubs_mu_.
  struct PublicationSeqs {
    std::uint64_t last = 0, acked = 0;
  };
  struct PendingCache {
    std::vector<backends::PublicationRow> rows;  // the first unacknowledged ones, in seq order
    std::size_t pending = 0;                     // all unacknowledged ones
    std::uint64_t rows_last = 0, rows_acked = 0;  // the channel's seqs when they were read
  };
  std::unique_ptr<backends::ClusterStore> watch_store_;  // the watcher's (list_channels)
  mutable std::mutex pubs_mu_;
  bool channels_loaded_ = false;
  std::set<std::string, std::less<>> channel_names_;
  std::vector<backends::ChannelRecord> webhooks_;  // the channels with a webhook
  std::vector<std::pair<std::string, std::int64_t>> exposed_;  // listed channels: units exposed (/metrics)
  // This node pushes the webhooks (it holds the deliveries lock, ClusterEvents::lead_deliveries): one
  // node at a time, so a receiver gets each batch from one sender and one node decides freezes.
  bool pushing_ = false;
  std::map<std::string, PublicationSeqs, std::less<>> pub_seqs_;
  std::map<std::string, PendingCache, std::less<>> pending_;  // webhook channels only
  std::atomic<bool> channels_dirty_{false};  // a channel was put through this node: read them again
};

}  // namespace stockd::store
