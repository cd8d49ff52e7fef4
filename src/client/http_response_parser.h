// http_response_parser.h: incremental HTTP/1.1 response framing for the clients.
//
// Stateless, like the server's request parser: each call looks at the start of `in` and either finds
// one whole response (status line, headers, Content-Length body) or says it needs more bytes. The
// blocking HttpClient and stockbench's epoll loop share it. Bodies are delimited by Content-Length
// only (stockd never sends chunked replies); a response with neither is empty when its status has no
// body (1xx, 204, 304) and otherwise runs to the end of the connection (`until_close`).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace stockd::client {

inline constexpr std::size_t kResponseHeadBytesMax = 64 * 1024;
inline constexpr std::size_t kResponseBodyBytesMax = 256 * 1024 * 1024;

struct HttpResponse {
  int status = 0;
  std::string content_type;
  bool keep_alive = true;  // false after "Connection: close" (or HTTP/1.0 without keep-alive)
  std::string body;
};

enum class HttpParseStatus : std::uint8_t { ok, incomplete, until_close, error };

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::incomplete;
  std::size_t consumed = 0;  // ok: bytes of this response
  std::size_t head_bytes = 0;  // until_close: the body starts here
  std::string error;
};

// Parses one response at the start of `in`. `ok`: *out filled. `until_close`: the head is in *out and
// the body is everything after head_bytes once the peer closes. `body` false skips copying the body
// (stockbench only needs status and, for errors, the code).
HttpParseResult parse_http_response(std::string_view in, HttpResponse* out, bool body = true);

}  // namespace stockd::client
