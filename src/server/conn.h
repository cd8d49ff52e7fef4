// conn.h: one client connection of the event loop, and the bookkeeping of a write waiting for its batch.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <memory>

#include "net/http_parser.h"
#include "server/auth.h"

namespace stockd::server {

struct Conn {
  int fd = -1;
  std::uint64_t id = 0;
  bool resp = false;
  std::unique_ptr<net::HttpParser> http;  // HTTP connections only
  std::string in;            // received, not yet consumed: [in_pos, in.size())
  std::size_t in_pos = 0;
  std::string out;           // replies not yet written: [out_pos, out.size())
  std::size_t out_pos = 0;
  std::int64_t last_active_ms = 0;
  std::uint32_t inflight = 0;    // writes of this connection in the current batch
  bool more_to_read = false;     // stopped reading before EAGAIN (buffer full); read again later
  bool eof = false;              // peer closed its side
  bool close_after_flush = false;
  bool lingering = false;        // answered and half-closed; discarding input until EOF or linger_until_ms
  std::int64_t linger_until_ms = 0;
  bool waiting_batch = false;    // parsing stopped at a request that waits for the current batch
  bool in_ready = false;         // listed in Server::ready_
  bool in_dirty = false;         // listed in Server::dirty_
  bool want_out = false;         // EPOLLOUT armed
  // RESP: authenticated principal (HTTP authenticates each request)
  Principal principal;
  // long poll parked on GET /v1/events
  bool polling = false;
  std::uint64_t poll_after = 0;
  std::size_t poll_limit = 0;
  std::int64_t poll_deadline_ms = 0;
  std::int64_t poll_start_us = 0;
  bool poll_keep_alive = true;

  std::size_t pending_output() const { return out.size() - out_pos; }
  std::string_view input() const { return std::string_view(in).substr(in_pos); }
};

// A write request in the current batch: who to answer and how.
struct Pending {
  Conn* conn = nullptr;         // null for the server's own commands (expiry ticks)
  const char* route = "";       // metrics label
  std::int64_t start_us = 0;
  std::uint8_t reply = 0;       // protocol-specific: which view or RESP reply to render
  bool keep_alive = true;       // HTTP
};

// One parsed HTTP request, independent of the parser's own types.
struct HttpRequest {
  std::string_view method;
  std::string_view path;
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::string_view body;
  std::string_view authorization;
  bool keep_alive = true;
};

}  // namespace stockd::server
