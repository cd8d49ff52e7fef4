// conn.h: one client connection of the event loop, and the bookkeeping of a request in flight in the store.
#pragma once
#include <cstdint>
#include <string>

#include "server/conn_base.h"
#include "server/http_route.h"  // HttpRequest

namespace stockd::server {

// The event loop's connection: the common part (conn_base.h) plus the in-flight and long-poll state.
struct Conn : ConnBase {
  std::uint32_t inflight = 0;    // requests of this connection in flight in the store
  bool more_to_read = false;     // stopped reading before EAGAIN (buffer full); read again later
  bool waiting_batch = false;    // parsing stopped at a request that waits for those in flight
  bool in_dirty = false;         // listed in Server::dirty_
  bool want_out = false;         // EPOLLOUT armed
  // long poll parked on GET /v1/events, or on GET /v1/channels/{c}/publications (poll_channel set)
  bool polling = false;
  std::string poll_channel;      // empty: the events feed
  std::uint64_t poll_after = 0;
  std::size_t poll_limit = 0;
  std::int64_t poll_deadline_ms = 0;
  std::int64_t poll_start_us = 0;
  bool poll_keep_alive = true;
};

// A request in flight in the store: who to answer and how. Slots are reused (Server::pendings_).
struct Pending {
  Conn* conn = nullptr;         // null for the server's own commands (expiry ticks, delivery acks)
  const char* route = "";       // metrics label
  std::int64_t start_us = 0;
  std::uint8_t reply = 0;       // protocol-specific: which view or RESP reply to render
  bool keep_alive = true;       // HTTP
  bool in_use = false;
  // The forbidden answer's message when the store may refuse the request for a hold of another
  // channel (a channel's token acting on a hold by id); assigned into a reused string.
  std::string forbidden;
};

}  // namespace stockd::server
