// http_client.h: a small blocking HTTP/1.1 client with one keep-alive connection.
//
// Connects lazily, reuses the connection for every request, and reconnects when the server closed
// it. When a reused connection fails before any byte of the reply arrived (the server timed out the
// idle connection), the request is sent once more on a new connection: every write of the contract is
// idempotent by its key (hold id, adjustment ref) or a plain PUT, so a resend cannot apply twice what
// the first attempt did not apply. Not thread-safe: one HttpClient per thread.
#pragma once
#include <string>
#include <string_view>

#include "client/endpoint.h"
#include "client/http_response_parser.h"
#include "client/socket.h"

namespace stockd::client {

struct HttpClientOptions {
  std::string token;           // sent as "Authorization: Bearer <token>" when not empty
  int connect_timeout_ms = 5000;
  int timeout_ms = 30000;      // per request, unless the call says otherwise
};

class HttpClient {
 public:
  HttpClient(Endpoint endpoint, HttpClientOptions options);

  // `target` is the path and query ("/v1/skus/A"); the endpoint's base path is put in front. A body is
  // sent with Content-Type: application/json. True with *out filled for any HTTP status; false with
  // *error for transport failures (connect, timeout, malformed reply).
  bool request(std::string_view method, std::string_view target, std::string_view body, HttpResponse* out,
               std::string* error, int timeout_ms = 0);

  // The request as it goes on the wire (for --dry-run output and tests).
  std::string format_request(std::string_view method, std::string_view target, std::string_view body) const;

  const Endpoint& endpoint() const { return endpoint_; }
  void close() { sock_.close(); }

 private:
  bool attempt(const std::string& wire, HttpResponse* out, std::string* error, int timeout_ms, bool* got_bytes);

  Endpoint endpoint_;
  HttpClientOptions options_;
  Socket sock_;
  std::string in_;
};

}  // namespace stockd::client
