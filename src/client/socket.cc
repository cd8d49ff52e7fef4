#include "client/socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace stockd::client {
namespace {

std::string where(const Endpoint& ep) { return ep.host + ":" + std::to_string(ep.port); }

// Connects `fd` (already O_NONBLOCK) within timeout_ms.
bool connect_within(int fd, const sockaddr* addr, socklen_t len, int timeout_ms, std::string* error) {
  if (::connect(fd, addr, len) == 0) return true;
  if (errno != EINPROGRESS) {
    *error = std::strerror(errno);
    return false;
  }
  pollfd p{fd, POLLOUT, 0};
  int n = ::poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
  if (n == 0) {
    *error = "timed out";
    return false;
  }
  int err = 0;
  socklen_t elen = sizeof err;
  if (n < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
    *error = std::strerror(n < 0 ? errno : err);
    return false;
  }
  return true;
}

}  // namespace

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Socket::connect(const Endpoint& ep, int timeout_ms, bool nonblocking, std::string* error) {
  close();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(ep.port);
  if (int rc = ::getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    *error = "resolve " + ep.host + ": " + ::gai_strerror(rc);
    return false;
  }
  std::string last = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    if (!connect_within(fd, a->ai_addr, a->ai_addrlen, timeout_ms, &last)) {
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!nonblocking) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    fd_ = fd;
    break;
  }
  ::freeaddrinfo(res);
  if (fd_ < 0) {
    *error = "connect " + where(ep) + ": " + last;
    return false;
  }
  return true;
}

void Socket::set_timeout_ms(int timeout_ms) {
  timeval tv{};
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool Socket::write_all(std::string_view data, std::string* error) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = (errno == EAGAIN || errno == EWOULDBLOCK) ? std::string("write timed out") : std::strerror(errno);
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

long Socket::read_some(std::string* buf, std::size_t max_bytes, std::string* error) {
  std::size_t old = buf->size();
  buf->resize(old + max_bytes);
  while (true) {
    ssize_t n = ::recv(fd_, buf->data() + old, max_bytes, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = (errno == EAGAIN || errno == EWOULDBLOCK) ? std::string("read timed out") : std::strerror(errno);
      buf->resize(old);
      return -1;
    }
    buf->resize(old + static_cast<std::size_t>(n));
    return static_cast<long>(n);
  }
}

}  // namespace stockd::client
