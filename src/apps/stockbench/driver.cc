#include "apps/stockbench/driver.h"

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <deque>
#include <thread>

#include "apps/stockbench/codec.h"
#include "client/http_response_parser.h"
#include "client/resp_reply.h"
#include "client/socket.h"

namespace stockbench {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

constexpr std::size_t kReadChunkBytes = 64 * 1024;
constexpr int kEpollEventsMax = 256;
constexpr std::int64_t kIdleWaitNs = 50'000'000;
// With --rate a thread sleeps until its next request is due and is woken by the kernel's timer. The
// default timer slack (50 us) lets that wake-up come up to 50 us late, and the lateness counts in the
// request's latency (it is measured from the due time); 1 ns asks for the most precise wake-up.
constexpr unsigned long kTimerSlackNs = 1;

struct Conn {
  stockd::client::Socket sock;
  std::string out;
  std::size_t out_off = 0;
  std::string in;
  std::deque<Op> inflight;
  bool finished = false;
  bool want_write = false;
  int reconnects = 0;
  std::int64_t next_due_ns = 0;
  std::int64_t free_ns = 0;  // when its last answer was parsed (a request due before waited for it)
};

class Worker {
 public:
  Worker(const Options& opt, const Names& names, const stockd::client::Endpoint& ep, RunShared& shared,
         std::uint32_t index, std::uint32_t conns)
      : opt_(opt), names_(names), ep_(ep), shared_(shared), index_(index), conns_(conns),
        workload_(opt, names, shared, index, conns) {
    host_ = ep.host + ":" + std::to_string(ep.port);
    if (!opt.token.empty()) auth_ = "Bearer " + opt.token;
    if (opt.rate > 0) interval_ns_ = static_cast<std::int64_t>(1e9 * opt.connections / opt.rate);
  }
  ~Worker() {
    if (epfd_ >= 0) ::close(epfd_);
  }

  bool open(std::string* error);
  void run();
  Stats& stats() { return stats_; }

 private:
  bool connect(std::uint32_t i, std::string* error);
  void encode(const Op& op, std::string& out) {
    if (opt_.protocol == Protocol::http) encode_http(op, names_, host_, auth_, out);
    else encode_resp(op, names_, opt_.token, out);
  }
  void fill(std::uint32_t i, std::int64_t now);
  void flush(std::uint32_t i);
  void readable(std::uint32_t i);
  bool parse(Conn& c, std::uint32_t i, bool* close_after);
  void drop(std::uint32_t i);
  void finish(std::uint32_t i);
  void watch(std::uint32_t i);
  std::int64_t wait_ns(std::int64_t now) const;

  const Options& opt_;
  const Names& names_;
  const stockd::client::Endpoint& ep_;
  RunShared& shared_;
  std::uint32_t index_;
  std::vector<Conn> conns_;
  Workload workload_;
  Stats stats_;
  std::string host_, auth_;
  std::int64_t interval_ns_ = 0;
  int epfd_ = -1;
  std::uint32_t active_ = 0;
};

bool Worker::connect(std::uint32_t i, std::string* error) {
  Conn& c = conns_[i];
  if (!c.sock.connect(ep_, 5000, true, error)) return false;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = i;
  c.want_write = false;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, c.sock.fd(), &ev);
  c.in.clear();
  c.out.clear();
  c.out_off = 0;
  if (opt_.protocol == Protocol::resp && !opt_.token.empty()) {
    Op auth;
    auth.kind = OpKind::auth;
    encode(auth, c.out);
    c.inflight.push_front(auth);
  }
  return true;
}

bool Worker::open(std::string* error) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  for (std::uint32_t i = 0; i < conns_.size(); ++i)
    if (!connect(i, error)) return false;
  active_ = static_cast<std::uint32_t>(conns_.size());
  std::int64_t t = now_ns();
  for (std::uint32_t i = 0; i < conns_.size(); ++i)  // spread the due times of --rate over one interval
    conns_[i].next_due_ns = t + interval_ns_ * (index_ + i * opt_.threads) / std::max<std::uint32_t>(opt_.connections, 1);
  return true;
}

void Worker::watch(std::uint32_t i) {
  Conn& c = conns_[i];
  bool want = c.out_off < c.out.size();
  if (want == c.want_write) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.u32 = i;
  ::epoll_ctl(epfd_, EPOLL_CTL_MOD, c.sock.fd(), &ev);
  c.want_write = want;
}

void Worker::flush(std::uint32_t i) {
  Conn& c = conns_[i];
  while (c.out_off < c.out.size()) {
    ssize_t n = ::send(c.sock.fd(), c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) return drop(i);
    c.out_off += static_cast<std::size_t>(n);
  }
  if (c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
  }
  watch(i);
}

// Sends the next batch when nothing is in flight: up to --pipeline requests (with --rate, only
// those already due).
void Worker::fill(std::uint32_t i, std::int64_t now) {
  Conn& c = conns_[i];
  if (c.finished || !c.inflight.empty()) return;
  bool exhausted = false;
  for (std::uint32_t k = 0; k < opt_.pipeline; ++k) {
    std::int64_t t0 = now;
    if (interval_ns_ > 0) {
      if (c.next_due_ns > now) break;
      t0 = c.next_due_ns;
    }
    Op op;
    if (workload_.next(i, &op) == Next::done) {
      exhausted = true;
      break;
    }
    if (interval_ns_ > 0) {
      c.next_due_ns += interval_ns_;
      // Only the client's own delay: a request due while its connection still waited for an answer
      // waited for the server, which the latency shows anyway.
      stats_.send_lag_ns.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - std::max(t0, c.free_ns))));
    }
    op.t0_ns = t0;
    encode(op, c.out);
    c.inflight.push_back(std::move(op));
  }
  if (c.inflight.empty()) {
    if (exhausted) finish(i);
    return;
  }
  flush(i);
}

void Worker::finish(std::uint32_t i) {
  Conn& c = conns_[i];
  if (c.finished) return;
  if (c.sock.valid()) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c.sock.fd(), nullptr);
  c.finished = true;
  c.sock.close();
  --active_;
}

bool Worker::parse(Conn& c, std::uint32_t i, bool* close_after) {
  std::size_t pos = 0;
  std::int64_t now = now_ns();
  while (!c.inflight.empty()) {
    std::string_view in = std::string_view(c.in).substr(pos);
    int code = kCodeOk;
    if (opt_.protocol == Protocol::http) {
      stockd::client::HttpResponse r;
      auto res = stockd::client::parse_http_response(in, &r);
      if (res.status == stockd::client::HttpParseStatus::incomplete) break;
      if (res.status != stockd::client::HttpParseStatus::ok) return false;
      pos += res.consumed;
      code = http_outcome(r.status, r.body);
      if (!r.keep_alive) *close_after = true;
    } else {
      stockd::client::RespReply r;
      auto res = stockd::client::parse_resp_reply(in, &r);
      if (res.status == stockd::client::RespReplyStatus::incomplete) break;
      if (res.status != stockd::client::RespReplyStatus::ok) return false;
      pos += res.consumed;
      code = resp_outcome(r.is_error(), r.error_code());
    }
    Op op = std::move(c.inflight.front());
    c.inflight.pop_front();
    if (op.kind != OpKind::auth) stats_.latency_ns.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - op.t0_ns)));
    workload_.done(i, op, code, stats_);
    if (c.inflight.empty()) c.free_ns = now;
    if (*close_after) break;
  }
  c.in.erase(0, pos);
  return true;
}

void Worker::readable(std::uint32_t i) {
  Conn& c = conns_[i];
  std::string error;
  while (true) {
    long n = c.sock.read_some(&c.in, kReadChunkBytes, &error);
    if (n > 0) {
      if (static_cast<std::size_t>(n) < kReadChunkBytes) break;
      continue;
    }
    if (n < 0 && error == "read timed out") break;  // EAGAIN on a non-blocking socket
    return drop(i);
  }
  bool close_after = false;
  if (!parse(c, i, &close_after)) return drop(i);
  if (close_after) return drop(i);
  if (c.inflight.empty()) fill(i, now_ns());
}

// The connection broke (or the server closed it): open a new one and send what is unanswered again.
void Worker::drop(std::uint32_t i) {
  Conn& c = conns_[i];
  if (c.sock.valid()) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c.sock.fd(), nullptr);
  c.sock.close();
  std::deque<Op> resend;
  for (auto& op : c.inflight)
    if (op.kind != OpKind::auth) resend.push_back(std::move(op));
  c.inflight.clear();
  std::string error;
  while (++c.reconnects <= kReconnectsPerConnectionMax) {
    ++stats_.reconnects;
    if (!connect(i, &error)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    for (auto& op : resend) {
      encode(op, c.out);
      c.inflight.push_back(std::move(op));
    }
    if (c.inflight.empty()) fill(i, now_ns());
    else flush(i);
    return;
  }
  stats_.unanswered += resend.size();
  c.finished = true;
  --active_;
}

// How long the loop may sleep: until the soonest due request of a connection that can send (with
// --rate), at most kIdleWaitNs. Nanoseconds, not milliseconds: a timeout rounded down to whole
// milliseconds is 0 whenever the next request is due within 1 ms, which at any useful rate is always,
// and the thread then spins in epoll_wait, taking a core from the server on a small machine (issue
// 14: that spinning made most of the p99 of 21 ms at half load; docs/benchmarks.md).
std::int64_t Worker::wait_ns(std::int64_t now) const {
  if (interval_ns_ == 0) return kIdleWaitNs;
  std::int64_t soonest = INT64_MAX;
  for (const auto& c : conns_)
    if (!c.finished && c.inflight.empty()) soonest = std::min(soonest, c.next_due_ns);
  if (soonest == INT64_MAX) return kIdleWaitNs;
  return std::clamp<std::int64_t>(soonest - now, 0, kIdleWaitNs);
}

void Worker::run() {
  if (interval_ns_ > 0) ::prctl(PR_SET_TIMERSLACK, kTimerSlackNs, 0, 0, 0);
  std::int64_t now = now_ns();
  for (std::uint32_t i = 0; i < conns_.size(); ++i) fill(i, now);
  epoll_event events[kEpollEventsMax];
  std::int64_t stop_seen_ns = 0;
  while (active_ > 0) {
    std::int64_t wait = wait_ns(now_ns());
    timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
    int n = ::epoll_pwait2(epfd_, events, kEpollEventsMax, &ts, nullptr);  // ns timeouts (Linux 5.11)
    if (n < 0 && errno == ENOSYS) n = ::epoll_wait(epfd_, events, kEpollEventsMax, static_cast<int>((wait + 999'999) / 1'000'000));
    for (int k = 0; k < n; ++k) {
      std::uint32_t i = events[k].data.u32;
      if (conns_[i].finished) continue;
      if (events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) readable(i);
      if (!conns_[i].finished && (events[k].events & EPOLLOUT)) flush(i);
    }
    now = now_ns();
    bool stopping = shared_.stop.load(std::memory_order_relaxed);
    if (stopping && stop_seen_ns == 0) stop_seen_ns = now;
    for (std::uint32_t i = 0; i < conns_.size(); ++i)
      if (!conns_[i].finished && conns_[i].inflight.empty() && (interval_ns_ > 0 || stopping)) fill(i, now);
    if (stopping && now - stop_seen_ns > kDrainTimeoutNs) {
      for (auto& c : conns_) {
        if (c.finished) continue;
        stats_.unanswered += c.inflight.size();
        c.finished = true;
        c.sock.close();
      }
      active_ = 0;
    }
  }
}

}  // namespace

DriverResult run_driver(const Options& opt, const Names& names, const stockd::client::Endpoint& target,
                        RunShared& shared) {
  DriverResult result;
  std::vector<std::unique_ptr<Worker>> workers;
  for (std::uint32_t t = 0; t < opt.threads; ++t) {
    std::uint32_t conns = opt.connections / opt.threads + (t < opt.connections % opt.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(opt, names, target, shared, t, conns));
    if (!workers.back()->open(&result.error)) return result;
  }
  std::vector<std::thread> threads;
  result.start_ns = now_ns();  // the connections are open: the load starts now
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  for (auto& t : threads) t.join();
  result.end_ns = now_ns();
  for (auto& w : workers) result.per_thread.push_back(std::move(w->stats()));
  return result;
}

}  // namespace stockbench
