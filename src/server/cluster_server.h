// cluster_server.h: stockd's network front in cluster mode (stockd --store redis-cluster://...): the
// contract's HTTP/JSON and RESP APIs over backends::ClusterStore, for stateless nodes that share one
// Redis Cluster.
//
// Design (simple and correct first):
// - The main thread, in run(), is the acceptor: it accepts HTTP and RESP connections (ServerOptions
//   ::http / ::resp; "off" disables RESP), refuses those beyond max_connections with the embedded
//   server's answers (HTTP 429 overloaded / -OVERLOADED, then close) and hands the others to the
//   workers round-robin. It also owns the signalfd for SIGTERM/SIGINT.
// - A fixed pool of worker threads (`workers`, default 16). Each owns one ClusterStore (the store
//   REQUIRES one per thread) and runs its own epoll loop over the connections it was given. A worker
//   reads, frames with the shared parsers (net::HttpParser, net::parse_resp_command), executes each
//   complete request synchronously through its store and appends the reply: the requests of one
//   connection are answered strictly in order (pipelining) because they are executed in order.
//   A worker blocked on Redis delays only its own connections; a connection with a long pipeline is
//   served kRequestsPerTurnMax requests at a time so that the worker's other connections get turns.
// - A sweeper thread with its own ClusterStore calls sweep(now_ms) every tick_ms, so holds expire
//   without requests; about once a second it also asks healthy() for the storage gauge of /metrics.
// - Bounds as in the embedded server: max_connections (shared atomic count), max_body_bytes (the
//   parser answers 413 and the connection closes after a lingering close), max_output_bytes (a client
//   that does not read its replies is not read either), idle_timeout_s.
// - Drain: on SIGTERM/SIGINT the acceptor closes the listeners and tells the workers; each worker reads
//   what is already in its sockets, answers every complete request it holds, flushes (at most 5 s) and
//   closes; the sweeper stops; run() returns 0.
// What cluster mode answers differently from the embedded server (docs/cluster.md):
// - GET /v1/events: 501 not_implemented (no events feed over the cluster store yet; the ledger is the
//   record). GET /v1/skus (the listing): 501 not_implemented as well (the store has no listing).
// - POST /v1/admin/snapshot: 409 invalid_state (snapshots belong to the embedded store).
// - POST /v1/admin/reconcile: ClusterStore::reconcile(repair = true); the embedded report's shape.
// - RESP DBSIZE: -ERR (no cheap count over the cluster).
// Hold ownership (a channel token acting on a hold id) is checked with a read before the write, as in
// the embedded server; a hold's channel never changes, and a hold unknown at the check is answered
// unknown_hold without writing, so a token cannot act on a hold created by another channel meanwhile.
//
// REQUIRES: one ClusterServer per process (it blocks SIGTERM/SIGINT and ignores SIGPIPE in listen()).
// listen() before run(); run() once.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backends/cluster_store.h"
#include "net/http_parser.h"
#include "server/auth.h"
#include "server/conn_base.h"
#include "server/metrics.h"
#include "server/options.h"

namespace stockd::server {

inline constexpr int kClusterWorkersDefault = 16;
inline constexpr int kClusterWorkersMax = 256;

class ClusterWorker;
class ClusterLedger;
struct HttpRequest;

class ClusterServer {
 public:
  ClusterServer(const ServerOptions& options, std::shared_ptr<backends::ClusterShared> shared,
                backends::ClusterStoreOptions store_options, int workers = kClusterWorkersDefault);
  ~ClusterServer();
  ClusterServer(const ClusterServer&) = delete;
  ClusterServer& operator=(const ClusterServer&) = delete;

  // Binds the listeners and opens one ClusterStore per worker plus the sweeper's; false (and a logged
  // reason) when an address cannot be bound or the cluster cannot be reached.
  bool listen();
  // Serves until SIGTERM/SIGINT, then drains (see above) and returns the exit code (0).
  int run();
  // Optional (--ledger): reconcile also compares PostgreSQL, /metrics shows the ledger. Must outlive run().
  void set_ledger(ClusterLedger* ledger) { ledger_ = ledger; }

 private:
  friend class ClusterWorker;

  void accept_all(int listen_fd, bool resp);
  void sweeper_main();
  void stop_threads();
  // Called by workers.
  void record(const char* route, int status, std::int64_t latency_us);
  void render_metrics(std::string& out);
  void connection_closed() { open_conns_.fetch_sub(1, std::memory_order_relaxed); }

  ServerOptions opt_;
  std::shared_ptr<backends::ClusterShared> shared_;
  backends::ClusterStoreOptions store_opt_;
  int worker_count_;
  Auth auth_;

  int http_fd_ = -1;
  int resp_fd_ = -1;
  int signal_fd_ = -1;
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<ClusterWorker>> workers_;
  std::vector<std::thread> threads_;
  std::size_t next_worker_ = 0;
  std::uint64_t next_conn_id_ = 1;

  std::unique_ptr<backends::ClusterStore> sweep_store_;
  std::thread sweeper_;
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool sweep_stop_ = false;  // guarded by sweep_mu_

  std::atomic<bool> draining_{false};
  std::atomic<std::int64_t> open_conns_{0};
  std::atomic<std::uint64_t> overloaded_total_{0};
  std::atomic<std::uint64_t> swept_total_{0};  // holds acted on by sweeps
  std::atomic<bool> storage_healthy_{true};    // the sweeper's last healthy() answer

  std::mutex metrics_mu_;  // guards metrics_ and sweep_latency_ (workers and the sweeper record)
  Metrics metrics_;
  Histogram sweep_latency_;
  ClusterLedger* ledger_ = nullptr;
};

// ---- Internals shared by cluster_server*.cc (not for other callers).

// One client connection of a worker: the common part (conn_base.h) plus the worker's bookkeeping.
struct ClusterConn : ConnBase {
  std::size_t slot = 0;                   // index in ClusterWorker::conns_
  std::uint32_t interest = 0;             // epoll events registered
};

// A worker thread: one ClusterStore, one epoll loop, the connections handed to it.
class ClusterWorker {
 public:
  ClusterWorker(ClusterServer& server, std::unique_ptr<backends::ClusterStore> store);
  ~ClusterWorker();
  bool init(std::string* error);  // epoll and wake-up eventfd
  // Thread-safe: a connection accepted by the acceptor (already counted in open_conns_).
  void hand_over(int fd, bool resp, std::uint64_t id);
  void wake();  // thread-safe: look at the hand-over queue and the drain flag
  void run();   // the thread's body; returns after draining

 private:
  // cluster_server_worker.cc: the loop.
  void adopt();
  void on_event(ClusterConn& c, std::uint32_t events);
  void serve(ClusterConn& c, bool all);
  bool read_some(ClusterConn& c);
  void flush(ClusterConn& c);
  void update_interest(ClusterConn& c);
  void close_conn(ClusterConn& c);
  void on_timer(std::int64_t now_ms);
  void drain();
  std::size_t input_cap(const ClusterConn& c) const;
  // Answers a batch of c's requests (resp_input/http_input) with one acknowledgement (WAIT) for all
  // its writes; when that fails, every write of the batch answered ok is answered 503 instead.
  bool answer_batch(ClusterConn& c, std::size_t max);

  // cluster_server_http.cc: frames and answers up to `max` complete HTTP requests; false when it
  // stopped with a complete request left (turn over or output backlog).
  bool http_input(ClusterConn& c, std::size_t max);
  void http_request(ClusterConn& c, const HttpRequest& req, std::int64_t start_us);
  bool http_write(ClusterConn& c, const HttpRequest& req, const Principal& who,
                  const std::vector<std::string_view>& parts, std::int64_t start_us);
  bool http_read(ClusterConn& c, const HttpRequest& req, const Principal& who,
                 const std::vector<std::string_view>& parts, std::int64_t start_us);
  void http_availability(ClusterConn& c, const HttpRequest& req, const Principal& who, std::int64_t start_us);

  // cluster_server_resp.cc
  bool resp_input(ClusterConn& c, std::size_t max);
  void resp_request(ClusterConn& c, const std::vector<std::string_view>& args, std::int64_t start_us);
  bool resp_write(ClusterConn& c, const std::string& cmd, const std::vector<std::string_view>& args,
                  std::int64_t start_us);
  void resp_avail(ClusterConn& c, const std::vector<std::string_view>& args, std::int64_t start_us);
  bool resp_connection(ClusterConn& c, const std::string& cmd, const std::vector<std::string_view>& args);

  // For a non-admin principal acting on hold `id`: reads the hold. Sets *forbidden when it belongs to
  // another channel, *unknown (with the store's outcome) when there is no such hold.
  void check_hold_owner(std::string_view id, const Principal& who, bool* forbidden, core::Outcome* unknown);

  ClusterServer& srv_;
  std::unique_ptr<backends::ClusterStore> store_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex mu_;  // guards incoming_
  struct Incoming {
    int fd;
    bool resp;
    std::uint64_t id;
  };
  std::vector<Incoming> incoming_;
  std::vector<std::unique_ptr<ClusterConn>> conns_;
  std::vector<std::unique_ptr<ClusterConn>> graveyard_;  // closed this wake-up; events may still name them
  std::vector<ClusterConn*> ready_;                      // input left over after their turn
  std::int64_t last_timer_ms_ = 0;
  struct Unacked {  // a write of the current batch answered ok: its reply's place in c.out
    std::size_t begin, end;
    bool keep_alive;
  };
  std::vector<Unacked> unacked_;
};

}  // namespace stockd::server
