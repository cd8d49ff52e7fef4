// conn.h: one client connection of the event loop, and the bookkeeping of a write waiting for its batch.
#pragma once
#include <cstdint>

#include "server/conn_base.h"
#include "server/http_route.h"  // HttpRequest

namespace stockd::server {

// The embedded event loop's connection: the common part (conn_base.h) plus the batch and long-poll state.
struct Conn : ConnBase {
  std::uint32_t inflight = 0;    // writes of this connection in the current batch
  bool more_to_read = false;     // stopped reading before EAGAIN (buffer full); read again later
  bool waiting_batch = false;    // parsing stopped at a request that waits for the current batch
  bool in_dirty = false;         // listed in Server::dirty_
  bool want_out = false;         // EPOLLOUT armed
  // long poll parked on GET /v1/events, or on GET /v1/channels/{c}/publications (poll_channel set)
  bool polling = false;
  std::uint32_t poll_channel = 0xffffffffu;  // core::kNoIndex: the events feed
  std::uint64_t poll_after = 0;
  std::size_t poll_limit = 0;
  std::int64_t poll_deadline_ms = 0;
  std::int64_t poll_start_us = 0;
  bool poll_keep_alive = true;
};

// A write request in the current batch: who to answer and how.
struct Pending {
  Conn* conn = nullptr;         // null for the server's own commands (expiry ticks)
  const char* route = "";       // metrics label
  std::int64_t start_us = 0;
  std::uint8_t reply = 0;       // protocol-specific: which view or RESP reply to render
  bool keep_alive = true;       // HTTP
};

}  // namespace stockd::server
