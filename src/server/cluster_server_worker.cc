// A cluster-mode worker's event loop: the connections handed to it, read, answered in order through its
// own ClusterStore (cluster_server_http.cc, cluster_server_resp.cc), written; idle and lingering
// closes; the drain at shutdown. The design is in cluster_server.h.
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "net/resp_writer.h"
#include "server/clock.h"
#include "server/cluster_server.h"
#include "server/http_reply.h"
#include "server/http_route.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace stockd::server {
namespace {

constexpr int kEventsPerWait = 256;
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kRequestsPerTurnMax = 64;  // per connection before the worker's others get a turn
constexpr std::int64_t kLingerMs = 2000;          // how long a lingering close waits for the client's EOF
constexpr int kTimerMs = 250;                     // idle and linger checks
constexpr std::int64_t kDrainFlushMs = 5000;      // longest wait for replies to drain at shutdown
constexpr std::size_t kRespInputSlackBytes = 64 * 1024;  // RESP input beyond max_body_bytes (framing)

}  // namespace

ClusterWorker::ClusterWorker(ClusterServer& server, std::unique_ptr<backends::ClusterStore> store)
    : srv_(server), store_(std::move(store)) {}

ClusterWorker::~ClusterWorker() {
  for (auto& c : conns_)
    if (c->fd >= 0) {
      close(c->fd);
      srv_.connection_closed();
    }
  {
    std::lock_guard<std::mutex> g(mu_);
    for (const Incoming& x : incoming_) {
      close(x.fd);
      srv_.connection_closed();
    }
  }
  for (int fd : {wake_fd_, epoll_fd_})
    if (fd >= 0) close(fd);
}

bool ClusterWorker::init(std::string* error) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    *error = std::strerror(errno);
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the wake-up eventfd; connections carry their ClusterConn*
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  return true;
}

void ClusterWorker::hand_over(int fd, bool resp, std::uint64_t id) {
  {
    std::lock_guard<std::mutex> g(mu_);
    incoming_.push_back(Incoming{fd, resp, id});
  }
  wake();
}

void ClusterWorker::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

void ClusterWorker::adopt() {
  std::uint64_t count = 0;
  [[maybe_unused]] ssize_t n = read(wake_fd_, &count, sizeof count);
  std::vector<Incoming> got;
  {
    std::lock_guard<std::mutex> g(mu_);
    got.swap(incoming_);
  }
  const ServerOptions& opt = srv_.opt_;
  for (const Incoming& x : got) {
    auto c = std::make_unique<ClusterConn>();
    c->fd = x.fd;
    c->id = x.id;
    c->resp = x.resp;
    if (!x.resp)
      c->http = std::make_unique<net::HttpParser>(http_parser_options(opt.max_body_bytes));
    if (!srv_.auth_.enabled()) c->principal.kind = Principal::Kind::admin;
    c->last_active_ms = wall_clock_ms();
    c->interest = EPOLLIN | EPOLLRDHUP;
    epoll_event ev{};
    ev.events = c->interest;
    ev.data.ptr = c.get();
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, x.fd, &ev) != 0) {
      spdlog::warn("event=epoll_add_failed error=\"{}\"", std::strerror(errno));
      close(x.fd);
      srv_.connection_closed();
      continue;
    }
    c->slot = conns_.size();
    conns_.push_back(std::move(c));
  }
}

void ClusterWorker::run() {
  epoll_event evs[kEventsPerWait];
  last_timer_ms_ = wall_clock_ms();
  while (!srv_.draining_.load(std::memory_order_relaxed)) {
    int n = epoll_wait(epoll_fd_, evs, kEventsPerWait, ready_.empty() ? kTimerMs : 0);
    if (n < 0 && errno != EINTR) {
      spdlog::error("event=epoll_failed error=\"{}\"", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<ClusterConn*>(evs[i].data.ptr);
      if (!c) {
        adopt();
        continue;
      }
      if (c->fd >= 0) on_event(*c, evs[i].events);
    }
    // Connections whose turn ended with requests left: one more turn each.
    std::vector<ClusterConn*> again;
    again.swap(ready_);
    for (ClusterConn* c : again) {
      c->in_ready = false;
      if (c->fd >= 0) serve(*c, false);
    }
    if (std::int64_t now = wall_clock_ms(); now - last_timer_ms_ >= kTimerMs) on_timer(now);
    graveyard_.clear();
  }
  drain();
}

void ClusterWorker::on_event(ClusterConn& c, std::uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    if (!read_some(c)) {
      close_conn(c);
      return;
    }
    if (c.fd < 0) return;
  }
  if ((events & EPOLLOUT) && c.pending_output() > 0) {
    flush(c);
    if (c.fd < 0) return;
  }
  serve(c, false);
}

// Answers the complete requests in c's input (kRequestsPerTurnMax of them unless `all`), writes the
// replies, closes a connection that is finished, and sets what epoll should watch.
void ClusterWorker::serve(ClusterConn& c, bool all) {
  const std::size_t out_max = static_cast<std::size_t>(srv_.opt_.max_output_bytes);
  bool done = true;  // no complete request left to answer now
  while (c.fd >= 0) {
    done = true;
    if (!c.lingering && !c.close_after_flush && c.pending_output() < out_max) {
      done = answer_batch(c, all ? SIZE_MAX : kRequestsPerTurnMax);
    }
    flush(c);
    if (c.fd < 0) return;
    if (done || c.pending_output() >= out_max) break;  // a slow reader resumes on EPOLLOUT
    if (!all) {
      if (!c.in_ready) {
        c.in_ready = true;
        ready_.push_back(&c);
      }
      break;
    }
  }
  if (done && c.eof && !c.lingering && c.pending_output() == 0) {
    close_conn(c);
    return;
  }
  update_interest(c);
}

bool ClusterWorker::answer_batch(ClusterConn& c, std::size_t max) {
  unacked_.clear();
  store_->defer_acknowledgement(true);
  bool done = c.resp ? resp_input(c, max) : http_input(c, max);
  store_->defer_acknowledgement(false);
  if (unacked_.empty()) return done;
  core::Outcome ack = store_->acknowledge();
  if (ack.ok()) return done;
  // Rebuild the batch's output with 503 in place of each write's reply.
  std::string out = c.out.substr(0, unacked_.front().begin);
  for (std::size_t i = 0; i < unacked_.size(); ++i) {
    const Unacked& u = unacked_[i];
    std::string saved = std::move(c.out);
    c.out.clear();
    if (c.resp) net::resp::error(c.out, ack.code, ack.message);
    else http_error(c, ack.code, ack.message, u.keep_alive);
    out += c.out;
    c.out = std::move(saved);
    std::size_t next = i + 1 < unacked_.size() ? unacked_[i + 1].begin : c.out.size();
    out.append(c.out, u.end, next - u.end);
  }
  c.out = std::move(out);
  return done;
}

std::size_t ClusterWorker::input_cap(const ClusterConn& c) const {
  return c.http ? c.http->request_bytes_max()
                : static_cast<std::size_t>(srv_.opt_.max_body_bytes) + kRespInputSlackBytes;
}

// Reads until EAGAIN, EOF or until the input holds input_cap() bytes. False on a read error.
bool ClusterWorker::read_some(ClusterConn& c) {
  if (c.in_pos > 0 && c.in_pos == c.in.size()) {
    c.in.clear();
    c.in_pos = 0;
  } else if (c.in_pos > c.in.size() / 2) {
    c.in.erase(0, c.in_pos);
    c.in_pos = 0;
  }
  char scratch[kReadChunk];  // per call: the workers run in parallel
  const std::size_t cap = input_cap(c);
  while (true) {
    if (!c.lingering && c.in.size() - c.in_pos >= cap) return true;
    ssize_t n = ::read(c.fd, scratch, sizeof scratch);
    if (n > 0) {
      if (!c.lingering) c.in.append(scratch, static_cast<std::size_t>(n));  // lingering: discard
      c.last_active_ms = wall_clock_ms();
      continue;
    }
    if (n == 0) {
      c.eof = true;
      if (c.lingering) close_conn(c);  // the client has seen the answer and closed
      return true;
    }
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

void ClusterWorker::flush(ClusterConn& c) {
  while (c.out_pos < c.out.size()) {
    ssize_t n = ::write(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos);
    if (n > 0) {
      c.out_pos += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT calls again
    close_conn(c);
    return;
  }
  c.out.clear();
  c.out_pos = 0;
  if (!c.close_after_flush || c.lingering) return;
  if (!c.resp && !c.eof) {
    // Lingering close (as the embedded server and nginx): an error such as 413 may be answered before
    // the client has sent its body; closing with unread input would reset the connection and the
    // client could lose the answer. Stop sending, discard what still comes, close at EOF or later.
    ::shutdown(c.fd, SHUT_WR);
    c.lingering = true;
    c.linger_until_ms = wall_clock_ms() + kLingerMs;
    c.in.clear();
    c.in_pos = 0;
    update_interest(c);
    return;
  }
  close_conn(c);
}

void ClusterWorker::update_interest(ClusterConn& c) {
  if (c.fd < 0) return;
  std::uint32_t want = 0;
  if (c.lingering) {
    want = EPOLLIN | EPOLLRDHUP;
  } else {
    if (!c.eof && !c.close_after_flush && c.input().size() < input_cap(c) &&
        c.pending_output() < static_cast<std::size_t>(srv_.opt_.max_output_bytes))
      want |= EPOLLIN | EPOLLRDHUP;
    if (c.pending_output() > 0) want |= EPOLLOUT;
  }
  if (want == c.interest) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.ptr = &c;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.interest = want;
}

void ClusterWorker::close_conn(ClusterConn& c) {
  if (c.fd < 0) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  close(c.fd);
  c.fd = -1;
  srv_.connection_closed();
  if (c.in_ready) {
    std::erase(ready_, &c);
    c.in_ready = false;
  }
  // The object lives on in the graveyard until the end of this wake-up: events already returned by
  // epoll_wait and the caller's reference may still point at it.
  std::size_t slot = c.slot;
  assert(slot < conns_.size() && conns_[slot].get() == &c);
  graveyard_.push_back(std::move(conns_[slot]));
  if (slot + 1 != conns_.size()) {
    conns_[slot] = std::move(conns_.back());
    conns_[slot]->slot = slot;
  }
  conns_.pop_back();
}

void ClusterWorker::on_timer(std::int64_t now) {
  last_timer_ms_ = now;
  const std::int64_t idle_ms = srv_.opt_.idle_timeout_s * 1000;
  std::vector<ClusterConn*> all;
  all.reserve(conns_.size());
  for (auto& c : conns_) all.push_back(c.get());
  for (ClusterConn* c : all) {
    if (c->fd < 0) continue;
    if (c->lingering) {
      if (now >= c->linger_until_ms) close_conn(*c);
    } else if (!c->in_ready && c->pending_output() == 0 && now - c->last_active_ms > idle_ms) {
      close_conn(*c);
    }
  }
}

// Answers everything already received (what is in the sockets included), flushes for at most
// kDrainFlushMs, closes.
void ClusterWorker::drain() {
  adopt();
  auto snapshot = [this] {
    std::vector<ClusterConn*> all;
    all.reserve(conns_.size());
    for (auto& c : conns_) all.push_back(c.get());
    return all;
  };
  for (ClusterConn* c : snapshot()) {
    if (c->fd < 0) continue;
    if (!c->lingering && !c->eof && !read_some(*c)) {
      close_conn(*c);
      continue;
    }
    if (c->fd >= 0) serve(*c, true);
  }
  const std::int64_t deadline = steady_ms() + kDrainFlushMs;
  epoll_event evs[kEventsPerWait];
  while (steady_ms() < deadline) {
    bool pending = false;
    for (ClusterConn* c : snapshot()) {
      if (c->fd < 0 || c->lingering || c->pending_output() == 0) continue;
      serve(*c, true);  // flushes, and answers what a full output backlog held back
      pending = pending || (c->fd >= 0 && c->pending_output() > 0);
    }
    graveyard_.clear();
    if (!pending) break;
    epoll_wait(epoll_fd_, evs, kEventsPerWait, 50);
  }
  for (ClusterConn* c : snapshot()) close_conn(*c);
  graveyard_.clear();
}

}  // namespace stockd::server
