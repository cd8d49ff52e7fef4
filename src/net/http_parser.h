// http_parser.h: an incremental, zero-copy HTTP/1.1 request parser for a server that reads into its
// own buffer. No sockets, no allocation per byte: feed the unconsumed input, get complete requests.
//
// Why hand-written: Debian 12 packages no llhttp (nor the old http-parser in a form we can pin), and
// Boost.Beast's parser ties the server to Asio buffers and Beast's allocation model. A request parser
// for one JSON API is small: this one is a few hundred lines, strict (RFC 9112 framing, no request
// smuggling ambiguities: Content-Length with Transfer-Encoding, bare LF, obs-fold are all refused),
// bounded by named limits (net_limits.h) and fuzzed (fuzz/fuzz_http_parser.cc), including a check that
// feeding a request in pieces gives exactly what feeding it at once gives.
//
// Usage (one HttpParser per connection):
//   HttpRequestView req;
//   while (true) {
//     HttpParseResult r = parser.parse(conn_input, &req);
//     if (r.status == HttpParseStatus::incomplete) { if (r.send_continue) append_continue(out); break; }
//     if (r.status == HttpParseStatus::error) { answer r.http_status / r.code / r.message with
//                                               Connection: close, stop reading, close; break; }
//     handle(req);   // req.keep_alive false: answer with Connection: close, then close
//     conn_input.remove_prefix(r.consumed);
//   }
//
// REQUIRES: after a call that returned `incomplete`, the next call's `in` starts with the same bytes
// (the server may have moved, compacted or grown its buffer: the parser keeps offsets, not pointers).
// After `complete` or `error` the next call starts a new request at in[0]; calling parse() again on the
// same bytes after `complete` (a server that postpones a request) yields the same request again.
// A fresh parser per call is also correct, only slower (it rescans what it had already scanned).
// The parser never needs more than request_bytes_max() bytes of input for one request: by then it has
// returned `complete` or `error`. Size the connection's input buffer to at least that.
// Not thread-safe; one parser serves one connection.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/limits.h"
#include "core/status.h"

namespace stockd::net {

struct HttpHeader {
  std::string_view name;   // as sent (compare case-insensitively)
  std::string_view value;  // without surrounding whitespace
};

// One parsed request. Every string_view points into the caller's input, except `body` of a chunked
// request, which points into the parser. All of it is valid until the next parse() or reset() call
// and as long as the input buffer is not changed.
struct HttpRequestView {
  std::string_view method;  // case-sensitive token, e.g. "GET"
  std::string_view target;  // request-target as sent
  std::string_view path;    // "/v1/skus/A": target without scheme, authority and query. NOT percent-decoded
                            // (identifiers never contain '%'; use percent_decode() if a route needs it)
  std::string_view raw_query;                              // after '?', as sent
  std::vector<std::pair<std::string, std::string>> query;  // decoded ('+' and %XX), in order, repeats kept
  int version_minor = 1;                                   // HTTP/1.0 or HTTP/1.1
  std::vector<HttpHeader> headers;                         // in order, at most kHttpHeadersMax
  std::string_view body;
  std::int64_t content_length = -1;  // -1 when absent
  bool chunked = false;              // Transfer-Encoding: chunked (body is the decoded data)
  bool keep_alive = true;            // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with keep-alive
  bool expect_continue = false;      // Expect: 100-continue

  // First header of that name, case-insensitive; empty when absent.
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

enum class HttpParseStatus : std::uint8_t { complete, incomplete, error };

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::incomplete;
  // complete: bytes of this request, leading empty lines included. Remove them before the next call.
  std::size_t consumed = 0;
  // incomplete: the head is complete, asks for 100-continue and the body has not arrived. True in one
  // result per request: answer "HTTP/1.1 100 Continue" (append_continue) once.
  bool send_continue = false;
  // error: what to answer before closing. code is invalid_request (http_status 400, or 414 for a long
  // request line, 431 for a large head, 505 for another HTTP version) or payload_too_large (413,
  // known from Content-Length as soon as the head is complete, before any of the body is read).
  core::Code code = core::Code::ok;
  int http_status = 0;
  std::string_view message;  // static text for the error body
};

struct HttpParserOptions {
  std::size_t body_bytes_max = limits::kBodyBytesMax;  // larger bodies: 413
  // One route may take a larger body (POST /v1/stock/batches: 10,000 rows do not fit in 1 MiB): a
  // request whose path is exactly `large_body_path` may send max(body_bytes_max, large_body_bytes_max).
  std::string_view large_body_path;  // must outlive the parser (a string literal)
  std::size_t large_body_bytes_max = 0;
};

class HttpParser {
 public:
  explicit HttpParser(HttpParserOptions options = {});

  // Parses the request at the start of `in`. On `complete` fills *req (its previous contents are
  // replaced; its vectors' capacity is reused). On `incomplete` and `error` *req is unspecified.
  HttpParseResult parse(std::string_view in, HttpRequestView* req);

  // Forgets a partly parsed request (e.g. the connection's input was discarded).
  void reset();

  // Most input bytes one request can need before parse() returns complete or error.
  std::size_t request_bytes_max() const;

 private:
  enum class Phase : std::uint8_t { head, body_length, body_chunked };
  enum class Chunk : std::uint8_t { size_line, data, data_crlf, trailers, done };

  HttpParseResult scan_head(std::string_view in, HttpRequestView* req);
  HttpParseResult parse_body(std::string_view in);
  HttpParseResult decode_chunks(std::string_view in);

  HttpParserOptions options_;
  std::size_t body_limit_ = 0;  // of the request being parsed, once its head is parsed
  Phase phase_ = Phase::head;
  // head phase
  std::size_t scan_pos_ = 0;    // next byte to look at
  std::size_t line_start_ = 0;  // start of the line being scanned
  std::size_t head_start_ = 0;  // first byte of the request line (after leading empty lines)
  bool in_head_ = false;        // a non-empty line has been seen
  // body phases
  std::size_t head_end_ = 0;    // first byte after the head's empty line
  std::int64_t content_length_ = 0;
  bool expect_continue_ = false;
  bool continue_reported_ = false;
  // chunked
  Chunk chunk_ = Chunk::size_line;
  std::size_t wire_pos_ = 0;    // next undecoded byte of the chunked body
  std::uint64_t chunk_left_ = 0;
  std::string body_;            // decoded chunked body
};

// "%41+b" -> "A b" when plus_is_space, else "A+b". False on a malformed escape.
bool percent_decode(std::string_view in, bool plus_is_space, std::string* out);

}  // namespace stockd::net
