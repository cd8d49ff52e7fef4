// The event loop: accept, read, submit to the store, reply as requests complete, flush; timers for the
// store's housekeeping, long-poll deadlines and idle connections; SIGTERM/SIGINT drain.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/assert.h"
#include "store/clock.h"
#include "server/conn.h"
#include "server/http_route.h"
#include "server/listen.h"
#include "server/alerts.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace stockd::server {
namespace {

constexpr int kEventsPerWait = 256;
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr int kRoundsPerWakeMax = 64;     // a bound on re-processing after batches within one wake-up
constexpr std::int64_t kLingerMs = 2000;  // how long a lingering close waits for the client's EOF

// Tags in epoll_event.data.u64 for the non-connection descriptors.
constexpr std::uint64_t kTagHttp = 1ull << 62;
constexpr std::uint64_t kTagResp = 2ull << 62;
constexpr std::uint64_t kTagSignal = 3ull << 62;
constexpr std::uint64_t kTagStore = (3ull << 62) | 1;  // the store's completion fd

}  // namespace

Server::Server(const ServerOptions& options, store::Store& store)
    : opt_(options), store_(store), caps_(store.capabilities()), auth_(options.admin_token, options.channel_tokens) {
  for (int i = 0; i < store::kCapabilityCount; ++i) caps_all_ = caps_all_ && caps_.has(static_cast<store::Capability>(i));
  store_.start(this);
}

Server::~Server() {
  for (auto& c : conns_)
    if (c && c->fd >= 0) close(c->fd);
  for (int fd : {http_fd_, resp_fd_, signal_fd_, epoll_fd_})
    if (fd >= 0) close(fd);
}

std::int64_t Server::now_ms() const { return store::wall_clock_ms(); }

std::int64_t Server::now_us() const { return store::steady_us(); }

bool Server::listen() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  http_fd_ = listen_on(opt_.http);
  if (http_fd_ < 0) {
    spdlog::error("event=listen_failed proto=http addr={} error=\"{}\"", opt_.http, std::strerror(errno));
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagHttp;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, http_fd_, &ev);
  if (opt_.resp != "off") {
    resp_fd_ = listen_on(opt_.resp);
    if (resp_fd_ < 0) {
      spdlog::error("event=listen_failed proto=resp addr={} error=\"{}\"", opt_.resp, std::strerror(errno));
      return false;
    }
    ev.data.u64 = kTagResp;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, resp_fd_, &ev);
  }
  signal_fd_ = stop_signal_fd();
  ev.data.u64 = kTagSignal;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd_, &ev);
  if (int fd = store_.completion_fd(); fd >= 0) {
    ev.data.u64 = kTagStore;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  spdlog::info("event=listening http={} resp={}", opt_.http, opt_.resp);
  return true;
}

void Server::accept_all(int listen_fd, bool resp) {
  for (;;) {
    int fd = accept_next(listen_fd);
    if (fd < 0) return;
    if (open_conns_ >= static_cast<std::size_t>(opt_.max_connections) || draining_) {
      refuse(fd, resp);  // the contract's answer, without reading the request
      ++overloaded_total_;
      continue;
    }
    set_nodelay(fd);
    if (static_cast<std::size_t>(fd) >= conns_.size()) conns_.resize(fd + 1);
    // A closed connection's object may still be listed for this round; it is freed after the round.
    if (conns_[fd]) graveyard_.push_back(std::move(conns_[fd]));
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->id = next_conn_id_++;
    c->resp = resp;
    if (!resp) c->http = std::make_unique<net::HttpParser>(http_parser_options(opt_.max_body_bytes));
    c->last_active_ms = now_ms();
    if (!auth_.enabled()) c->principal.kind = Principal::Kind::admin;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = static_cast<std::uint64_t>(fd);
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    conns_[fd] = std::move(c);
    ++open_conns_;
  }
}

// Reads until EAGAIN or until the connection's input buffer holds a full request's worth.
bool Server::read_some(Conn& c) {
  std::size_t cap = c.http ? c.http->request_bytes_max() : static_cast<std::size_t>(opt_.max_body_bytes) + 64 * 1024;
  if (c.in_pos > 0 && c.in_pos == c.in.size()) {
    c.in.clear();
    c.in_pos = 0;
  } else if (c.in_pos > c.in.size() / 2) {
    c.in.erase(0, c.in_pos);
    c.in_pos = 0;
  }
  c.more_to_read = false;
  if (c.lingering) {  // discard everything until EOF
    static char sink[kReadChunk];
    while (true) {
      ssize_t n = ::read(c.fd, sink, sizeof sink);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) c.eof = true;
      return n == 0 || errno == EAGAIN || errno == EWOULDBLOCK ? !c.eof : false;
    }
  }
  while (true) {
    if (c.in.size() - c.in_pos >= cap) {
      c.more_to_read = true;
      return true;
    }
    // Read into one scratch buffer, then append: growing c.in first would zero-fill 64 KiB per read.
    static char scratch[kReadChunk];
    ssize_t n = ::read(c.fd, scratch, kReadChunk);
    if (n > 0) {
      c.in.append(scratch, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      c.eof = true;
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    return false;
  }
}

void Server::on_readable(Conn& c) {
  if (!read_some(c)) {
    close_conn(c);
    return;
  }
  c.last_active_ms = now_ms();
  if (!c.in_ready) {
    c.in_ready = true;
    ready_.push_back(&c);
  }
}

void Server::flush(Conn& c) {
  while (c.out_pos < c.out.size()) {
    ssize_t n = ::write(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos);
    if (n > 0) {
      c.out_pos += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT (edge) will call again
    close_conn(c);
    return;
  }
  c.out.clear();
  c.out_pos = 0;
  if (c.close_after_flush && !c.resp && !c.eof && !c.lingering) {
    // Lingering close (as nginx does): an error such as 413 is answered before the client has sent its
    // body. Closing now with unread input would reset the connection and the client could lose the
    // answer; instead stop sending, read and discard what still comes, close at EOF or after a while.
    ::shutdown(c.fd, SHUT_WR);
    c.lingering = true;
    c.linger_until_ms = now_ms() + kLingerMs;
    c.in.clear();
    c.in_pos = 0;
    return;
  }
  if (c.lingering) return;
  if (c.close_after_flush || (c.eof && c.inflight == 0 && !c.polling && c.input().empty())) close_conn(c);
}

void Server::close_conn(Conn& c) {
  if (c.fd < 0) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  close(c.fd);
  c.fd = -1;
  --open_conns_;
  if (c.polling) {
    c.polling = false;
    std::erase(polls_, &c);
  }
}

void Server::parse_input(Conn& c) {
  c.waiting_batch = false;
  if (c.fd < 0 || c.polling || c.close_after_flush) return;
  if (c.pending_output() >= static_cast<std::size_t>(opt_.max_output_bytes)) return;  // slow reader
  if (c.resp)
    resp_input(c);
  else
    http_input(c);
}

std::uint32_t Server::pending_slot() {
  std::uint32_t slot;
  if (free_pendings_.empty()) {
    slot = static_cast<std::uint32_t>(pendings_.size());
    pendings_.emplace_back();
  } else {
    slot = free_pendings_.back();
    free_pendings_.pop_back();
  }
  STOCKD_ASSERT(!pendings_[slot].in_use);
  pendings_[slot].in_use = true;
  return slot;
}

void Server::release_pending(std::uint32_t slot) {
  STOCKD_ASSERT(slot < pendings_.size() && pendings_[slot].in_use);
  pendings_[slot].in_use = false;
  pendings_[slot].conn = nullptr;
  free_pendings_.push_back(slot);
}

void Server::mark_dirty(Conn& c) {
  if (c.pending_output() > 0 && !c.in_dirty) {
    c.in_dirty = true;
    dirty_.push_back(&c);
  }
}

// After a request of c completed: its reply goes out with the next flush, and requests that waited
// for this connection's requests in flight can go on.
void Server::completed(Conn& c) {
  mark_dirty(c);
  if (c.inflight == 0 && c.waiting_batch && !c.in_ready) {
    c.in_ready = true;
    ready_.push_back(&c);
  }
}

void Server::write_done(const store::WriteDone& d) {
  STOCKD_ASSERT(d.tag < pendings_.size());
  auto slot = static_cast<std::uint32_t>(d.tag);
  const Pending& p = pendings_[slot];
  Conn* c = p.conn;
  if (c != nullptr && c->fd >= 0) {  // else the client went away; the write stands
    --c->inflight;
    if (c->resp)
      resp_write_done(*c, p, d);
    else
      http_write_done(*c, p, d);
    completed(*c);
  }
  release_pending(slot);
}

void Server::read_done(const store::ReadDone& d) {
  STOCKD_ASSERT(d.tag < pendings_.size());
  auto slot = static_cast<std::uint32_t>(d.tag);
  const Pending& p = pendings_[slot];
  Conn* c = p.conn;
  if (c != nullptr && c->fd >= 0) {
    --c->inflight;
    if (c->resp)
      resp_read_done(*c, p, d);
    else
      http_read_done(*c, p, d);
    completed(*c);
  }
  release_pending(slot);
}

void Server::batch_done(std::size_t items, std::int64_t duration_us, bool events) {
  if (items > 0) metrics_.batch(items, duration_us);  // 0: no batch, the feed advanced (cluster store)
  // New publications (and alerts) start on their way now rather than at the next tick (--tick-ms).
  if (events && outbound_.deliveries) outbound_step(now_ms());
  if (events) answer_polls();
}

void Server::process() {
  round_start_us_ = now_us();
  for (int round = 0; round < kRoundsPerWakeMax && !ready_.empty(); ++round) {
    for (std::size_t i = 0; i < ready_.size(); ++i) {
      Conn& c = *ready_[i];
      if (c.more_to_read && c.fd >= 0 && !read_some(c)) close_conn(c);
      parse_input(c);
    }
    store_.pump();
    // Keep the connections that can make progress in the next round: those whose requests waited for
    // this round's batch, and those that stopped reading with input still in the socket. A connection
    // with only part of a request, or whose reader is too slow, is picked up again by epoll (more
    // input, or EPOLLOUT once its output drains).
    std::vector<Conn*> next;
    for (Conn* c : ready_) {
      // A connection waiting for its requests is queued again by completed(); one that stopped
      // reading with input left in the socket goes on now.
      bool waits = c->waiting_batch && c->inflight > 0;
      bool again = c->fd >= 0 && !c->polling && !waits && (c->waiting_batch || c->more_to_read) &&
                   c->pending_output() < static_cast<std::size_t>(opt_.max_output_bytes);
      if (again) {
        next.push_back(c);
      } else {
        c->in_ready = false;
        if (c->fd >= 0 && c->eof && c->inflight == 0 && !c->polling && c->pending_output() == 0) close_conn(*c);
      }
      if (c->fd >= 0 && c->pending_output() > 0 && !c->in_dirty) {
        c->in_dirty = true;
        dirty_.push_back(c);
      }
    }
    ready_.swap(next);
    for (Conn* c : dirty_) {
      c->in_dirty = false;
      if (c->fd >= 0) flush(*c);
    }
    dirty_.clear();
    round_start_us_ = now_us();
  }
  // Connections still in ready_ (a very long pipeline) are served first in the next loop iteration,
  // which then polls without waiting.
  for (Conn* c : dirty_) {
    c->in_dirty = false;
    if (c->fd >= 0) flush(*c);
  }
  dirty_.clear();
  // Closed connections whose slot was reused are freed once no request in flight can point at them.
  if (store_.idle()) graveyard_.clear();
}

void Server::on_timer(std::int64_t now) {
  last_tick_ms_ = now;
  store_.tick(now);    // expiry, the store's housekeeping
  outbound_step(now);  // webhook acks, freezes and unfreezes join this tick's batch
  store_.pump();
  answer_polls();
  for (Conn* c : dirty_) {
    c->in_dirty = false;
    if (c->fd >= 0) flush(*c);
  }
  dirty_.clear();
  for (auto& cp : conns_) {
    if (!cp || cp->fd < 0) continue;
    Conn& c = *cp;
    if (c.lingering && now >= c.linger_until_ms) {
      close_conn(c);
      continue;
    }
    bool idle = c.inflight == 0 && !c.polling && c.pending_output() == 0 &&
                now - c.last_active_ms > opt_.idle_timeout_s * 1000;
    if (idle) close_conn(c);
  }
}

int Server::run() {
  epoll_event evs[kEventsPerWait];
  while (!draining_) {
    std::int64_t now = now_ms();
    std::int64_t timeout_us = ready_.empty() ? std::max<std::int64_t>(0, last_tick_ms_ + opt_.tick_ms - now) * 1000 : 0;
    if (std::int64_t wake = store_.wake_at_us(); wake != 0)
      timeout_us = std::min(timeout_us, std::max<std::int64_t>(0, wake - now_us()));
    timespec ts{static_cast<time_t>(timeout_us / 1'000'000), static_cast<long>(timeout_us % 1'000'000) * 1000};
    int n = epoll_pwait2(epoll_fd_, evs, kEventsPerWait, &ts, nullptr);  // µs timeouts (Linux 5.11)
    if (n < 0 && errno == ENOSYS) n = epoll_wait(epoll_fd_, evs, kEventsPerWait, static_cast<int>((timeout_us + 999) / 1000));
    if (n < 0 && errno != EINTR) {
      spdlog::error("event=epoll_failed error=\"{}\"", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      std::uint64_t tag = evs[i].data.u64;
      if (tag == kTagHttp) {
        accept_all(http_fd_, false);
      } else if (tag == kTagResp) {
        accept_all(resp_fd_, true);
      } else if (tag == kTagStore) {
        store_.on_completion();
      } else if (tag == kTagSignal) {
        signalfd_siginfo si;
        while (read(signal_fd_, &si, sizeof si) == sizeof si) {
        }
        spdlog::info("event=signal action=drain");
        draining_ = true;
        store_.set_draining();
      } else {
        Conn* c = tag < conns_.size() ? conns_[tag].get() : nullptr;
        if (!c || c->fd < 0) continue;
        if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(*c);
        if (c->fd >= 0 && (evs[i].events & EPOLLOUT) && c->pending_output() > 0) {
          flush(*c);
          if (c->fd >= 0 && !c->input().empty() && !c->in_ready) {  // was stalled on output
            c->in_ready = true;
            ready_.push_back(c);
          }
        }
      }
    }
    process();
    if (store_.wake_at_us() != 0) store_.pump();  // the gathering wait may be over
    now = now_ms();
    if (now - last_tick_ms_ >= opt_.tick_ms) on_timer(now);
  }
  drain();
  return 0;
}

// Stop accepting, answer what was received, flush replies (bounded wait), then let the store close.
void Server::drain() {
  for (int* fd : {&http_fd_, &resp_fd_}) {
    if (*fd >= 0) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, *fd, nullptr);
      close(*fd);
      *fd = -1;
    }
  }
  for (auto& cp : conns_)
    if (cp && cp->fd >= 0 && !cp->input().empty() && !cp->in_ready) {
      cp->in_ready = true;
      ready_.push_back(cp.get());
    }
  // Everything already read is executed and answered: batches until no connection waits any more.
  store_.set_draining();
  for (int i = 0; i < 1000; ++i) {
    process();
    store_.complete_all();
    store_.pump();
    if (store_.idle() && ready_.empty()) break;
  }
  for (Conn* c : polls_) {
    c->poll_deadline_ms = 0;
  }
  answer_polls();
  std::int64_t deadline = now_ms() + 5000;
  epoll_event evs[kEventsPerWait];
  for (;;) {
    bool pending = false;
    for (auto& cp : conns_)
      if (cp && cp->fd >= 0 && cp->pending_output() > 0) {
        flush(*cp);
        pending = pending || (cp->fd >= 0 && cp->pending_output() > 0);
      }
    if (!pending || now_ms() > deadline) break;
    epoll_wait(epoll_fd_, evs, kEventsPerWait, 50);
  }
  spdlog::info("event=drained");
}

}  // namespace stockd::server
