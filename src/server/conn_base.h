// conn_base.h: what every client connection has (the Server's Conn adds its in-flight state): the
// socket, the input and output buffers, the closing state and the RESP principal. The request helpers
// (resp_reply.h, http_reply.h) work on this part.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/http_parser.h"
#include "server/auth.h"

namespace stockd::server {

struct ConnBase {
  int fd = -1;
  std::uint64_t id = 0;
  bool resp = false;
  std::unique_ptr<net::HttpParser> http;  // HTTP connections only
  std::string in;                         // received, not yet consumed: [in_pos, in.size())
  std::size_t in_pos = 0;
  std::string out;                        // replies not yet written: [out_pos, out.size())
  std::size_t out_pos = 0;
  std::int64_t last_active_ms = 0;
  bool eof = false;                       // the peer closed its side
  bool close_after_flush = false;
  bool lingering = false;                 // answered and half-closed: discard input until EOF or linger_until_ms
  std::int64_t linger_until_ms = 0;
  bool in_ready = false;                  // listed in the loop's ready list (input left after its turn)
  Principal principal;                    // RESP: authenticated principal (HTTP authenticates each request)

  std::size_t pending_output() const { return out.size() - out_pos; }
  std::string_view input() const { return std::string_view(in).substr(in_pos); }
};

}  // namespace stockd::server
