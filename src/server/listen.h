// listen.h: the listening side shared by both server modes: binding a listener, accepting, refusing a
// connection over max_connections with the contract's answer, and the stop signals.
#pragma once
#include <string>
#include <string_view>

namespace stockd::server {

// The refusals of a connection beyond max_connections (or while draining), byte for byte the contract's.
inline constexpr std::string_view kRefuseHttp =
    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n"
    "Content-Length: 77\r\n\r\n{\"error\":{\"code\":\"overloaded\",\"message\":\"too many connections\",\"details\":{}}}";
inline constexpr std::string_view kRefuseResp = "-OVERLOADED too many connections\r\n";

// A non-blocking listening socket bound to "host:port" (SO_REUSEADDR, backlog 4096); -1 with errno set
// on failure.
int listen_on(const std::string& addr);

// The next pending connection of `listen_fd`, non-blocking; -1 when there is none (a failure other
// than EAGAIN/EINTR is logged).
int accept_next(int listen_fd);

// TCP_NODELAY on an accepted connection.
void set_nodelay(int fd);

// Answers a connection that is not served (without reading its request) and closes it.
void refuse(int fd, bool resp);

// Blocks SIGTERM and SIGINT for the calling thread (and the threads it starts later), ignores SIGPIPE
// and returns a non-blocking signalfd that reads the blocked signals (-1 on failure).
// REQUIRES: called before any other thread is started.
int stop_signal_fd();

}  // namespace stockd::server
