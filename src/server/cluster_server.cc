// Cluster mode's process-wide part: listeners, the acceptor (run()), the sweeper thread, metrics and the
// shutdown. The workers' loops are in cluster_server_worker.cc, request handling in
// cluster_server_http.cc and cluster_server_resp.cc.
#include "server/cluster_server.h"
#include "server/cluster_ledger.h"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "server/clock.h"
#include "server/listen.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace stockd::server {
namespace {

constexpr std::int64_t kHealthEveryMs = 1000;     // the sweeper's healthy() probe

}  // namespace

// ---- ClusterServer

ClusterServer::ClusterServer(const ServerOptions& options, std::shared_ptr<backends::ClusterShared> shared,
                             backends::ClusterStoreOptions store_options, int workers)
    : opt_(options),
      shared_(std::move(shared)),
      store_opt_(std::move(store_options)),
      worker_count_(workers),
      auth_(options.admin_token, options.channel_tokens) {
  assert(workers >= 1 && workers <= kClusterWorkersMax);
}

ClusterServer::~ClusterServer() {
  stop_threads();
  workers_.clear();  // while the counters they update still live
  for (int fd : {http_fd_, resp_fd_, signal_fd_, epoll_fd_})
    if (fd >= 0) close(fd);
}

bool ClusterServer::listen() {
  // Before any thread exists, so that every thread inherits the mask and only the signalfd sees them.
  signal_fd_ = stop_signal_fd();
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (signal_fd_ < 0 || epoll_fd_ < 0) {
    spdlog::error("event=listen_failed error=\"{}\"", std::strerror(errno));
    return false;
  }
  http_fd_ = listen_on(opt_.http);
  if (http_fd_ < 0) {
    spdlog::error("event=listen_failed proto=http addr={} error=\"{}\"", opt_.http, std::strerror(errno));
    return false;
  }
  if (opt_.resp != "off") {
    resp_fd_ = listen_on(opt_.resp);
    if (resp_fd_ < 0) {
      spdlog::error("event=listen_failed proto=resp addr={} error=\"{}\"", opt_.resp, std::strerror(errno));
      return false;
    }
  }
  for (int fd : {http_fd_, resp_fd_, signal_fd_}) {
    if (fd < 0) continue;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  // One store per worker (a ClusterStore is single-threaded) and one for the sweeper.
  std::string error;
  for (int i = 0; i <= worker_count_; ++i) {
    std::unique_ptr<backends::ClusterStore> store = backends::ClusterStore::open(store_opt_, shared_, &error);
    if (!store) {
      spdlog::error("event=cluster_open_failed store={} error=\"{}\"", opt_.store, error);
      return false;
    }
    if (i == worker_count_) {
      sweep_store_ = std::move(store);
      break;
    }
    auto w = std::make_unique<ClusterWorker>(*this, std::move(store));
    if (!w->init(&error)) {
      spdlog::error("event=listen_failed error=\"{}\"", error);
      return false;
    }
    workers_.push_back(std::move(w));
  }
  spdlog::info("event=listening store=redis-cluster http={} resp={} workers={}", opt_.http, opt_.resp,
               worker_count_);
  return true;
}

int ClusterServer::run() {
  assert(!workers_.empty() && sweep_store_);
  for (auto& w : workers_) threads_.emplace_back([w = w.get()] { w->run(); });
  sweeper_ = std::thread([this] { sweeper_main(); });
  epoll_event evs[8];
  while (!draining_.load(std::memory_order_relaxed)) {
    int n = epoll_wait(epoll_fd_, evs, 8, -1);
    if (n < 0 && errno != EINTR) {
      spdlog::error("event=epoll_failed error=\"{}\"", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == http_fd_) {
        accept_all(http_fd_, false);
      } else if (fd == resp_fd_) {
        accept_all(resp_fd_, true);
      } else if (fd == signal_fd_) {
        signalfd_siginfo si;
        while (read(signal_fd_, &si, sizeof si) == sizeof si) {
        }
        spdlog::info("event=signal action=drain");
        draining_.store(true);
      }
    }
  }
  draining_.store(true);
  for (int* fd : {&http_fd_, &resp_fd_}) {
    if (*fd >= 0) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, *fd, nullptr);
      close(*fd);
      *fd = -1;
    }
  }
  for (auto& w : workers_) w->wake();
  stop_threads();
  spdlog::info("event=drained");
  return 0;
}

void ClusterServer::accept_all(int listen_fd, bool resp) {
  for (;;) {
    int fd = accept_next(listen_fd);
    if (fd < 0) return;
    if (open_conns_.load(std::memory_order_relaxed) >= opt_.max_connections || draining_.load()) {
      refuse(fd, resp);  // the contract's answer, without reading the request
      overloaded_total_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    set_nodelay(fd);
    open_conns_.fetch_add(1, std::memory_order_relaxed);
    workers_[next_worker_]->hand_over(fd, resp, next_conn_id_++);
    next_worker_ = (next_worker_ + 1) % workers_.size();
  }
}

// Sweeps every tick_ms (measured from the start of one sweep to the start of the next, so a slow sweep
// is followed at once by the next), until stop_threads().
void ClusterServer::sweeper_main() {
  std::int64_t next_health_ms = 0;
  std::unique_lock<std::mutex> lock(sweep_mu_);
  while (!sweep_stop_) {
    lock.unlock();
    auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.tick_ms);
    std::int64_t start_us = steady_us();
    std::size_t acted = sweep_store_->sweep(wall_clock_ms());
    swept_total_.fetch_add(acted, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> g(metrics_mu_);
      sweep_latency_.observe_us(steady_us() - start_us);
    }
    if (std::int64_t now = steady_ms(); now >= next_health_ms) {
      storage_healthy_.store(sweep_store_->healthy(), std::memory_order_relaxed);
      next_health_ms = now + kHealthEveryMs;
    }
    lock.lock();
    sweep_cv_.wait_until(lock, next, [this] { return sweep_stop_; });
  }
}

void ClusterServer::stop_threads() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  {
    std::lock_guard<std::mutex> g(sweep_mu_);
    sweep_stop_ = true;
  }
  sweep_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

void ClusterServer::record(const char* route, int status, std::int64_t latency_us) {
  std::lock_guard<std::mutex> g(metrics_mu_);
  metrics_.request(route, status, latency_us);
}

void ClusterServer::render_metrics(std::string& out) {
  Prometheus p(out);
  {
    std::lock_guard<std::mutex> g(metrics_mu_);
    metrics_.render(p);
    p.family("stockd_cluster_sweep_seconds", "histogram",
             "Time of one sweep (expiry, repair, retention) of the cluster store.");
    sweep_latency_.render(p, "stockd_cluster_sweep_seconds", "");
  }
  auto d = [](auto v) { return static_cast<double>(v); };
  p.gauge("stockd_connections", "Open client connections.", d(open_conns_.load(std::memory_order_relaxed)));
  p.counter("stockd_overloaded_total", "Requests and connections refused as overloaded.",
            d(overloaded_total_.load(std::memory_order_relaxed)));
  p.gauge("stockd_storage_healthy", "1 when the cluster answers and every slot is served.",
          storage_healthy_.load(std::memory_order_relaxed) ? 1.0 : 0.0);
  p.gauge("stockd_cluster_workers", "Worker threads (one cluster store each).", d(worker_count_));
  p.counter("stockd_cluster_swept_total", "Holds expired, repaired or forgotten by sweeps.",
            d(swept_total_.load(std::memory_order_relaxed)));
  if (!ledger_) return;
  backends::LedgerStats ls = ledger_->stats();
  p.counter("stockd_ledger_entries_applied_total", "Outbox entries applied to PostgreSQL.", d(ls.entries_applied));
  p.counter("stockd_ledger_malformed_total", "Outbox entries that did not parse (acked).", d(ls.malformed));
  p.counter("stockd_ledger_rejected_total", "Outbox entries PostgreSQL refused (acked).", d(ls.rejected));
  p.counter("stockd_ledger_lost_total", "Pending entries trimmed before they were applied.", d(ls.lost));
  p.counter("stockd_ledger_errors_total", "Failed Redis or PostgreSQL calls of the ledger.", d(ls.errors));
  p.gauge("stockd_ledger_lag_seconds", "Age of the oldest entry of the last applying round.",
          static_cast<double>(ls.lag_ms) / 1000.0);
}

}  // namespace stockd::server
