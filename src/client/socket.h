// socket.h: blocking TCP connections for the clients (TCP_NODELAY, per-call timeouts).
// A Socket owns its descriptor; moving transfers it. Not thread-safe: one thread per Socket.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "client/endpoint.h"

namespace stockd::client {

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void close();

  // Resolves and connects (blocking), sets TCP_NODELAY. `nonblocking` leaves the socket O_NONBLOCK
  // (for epoll loops). False with *error set ("connect 127.0.0.1:8080: Connection refused").
  bool connect(const Endpoint& ep, int timeout_ms, bool nonblocking, std::string* error);
  // Send and receive timeouts of the blocking calls below; 0 waits forever.
  void set_timeout_ms(int timeout_ms);
  // Writes all of `data`. False with *error on failure or timeout.
  bool write_all(std::string_view data, std::string* error);
  // Appends what one read() returns (at most max_bytes) to *buf. Returns bytes read, 0 on orderly close,
  // -1 with *error on failure or timeout.
  long read_some(std::string* buf, std::size_t max_bytes, std::string* error);

 private:
  int fd_ = -1;
};

}  // namespace stockd::client
