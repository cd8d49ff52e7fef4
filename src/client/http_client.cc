#include "client/http_client.h"

namespace stockd::client {
namespace {
constexpr std::size_t kReadChunkBytes = 64 * 1024;
}

HttpClient::HttpClient(Endpoint endpoint, HttpClientOptions options)
    : endpoint_(std::move(endpoint)), options_(std::move(options)) {}

std::string HttpClient::format_request(std::string_view method, std::string_view target,
                                       std::string_view body) const {
  std::string wire;
  wire.reserve(256 + body.size());
  wire.append(method).append(" ").append(endpoint_.base_path).append(target).append(" HTTP/1.1\r\nHost: ");
  wire.append(endpoint_.host).append(":").append(std::to_string(endpoint_.port)).append("\r\n");
  if (!options_.token.empty()) wire.append("Authorization: Bearer ").append(options_.token).append("\r\n");
  bool has_body = !body.empty() || method == "POST" || method == "PUT";
  if (!body.empty()) wire.append("Content-Type: application/json\r\n");
  if (has_body) wire.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  wire.append("\r\n").append(body);
  return wire;
}

bool HttpClient::request(std::string_view method, std::string_view target, std::string_view body,
                         HttpResponse* out, std::string* error, int timeout_ms) {
  std::string wire = format_request(method, target, body);
  if (timeout_ms <= 0) timeout_ms = options_.timeout_ms;
  bool reused = sock_.valid();
  bool got_bytes = false;
  if (attempt(wire, out, error, timeout_ms, &got_bytes)) return true;
  if (!reused || got_bytes) return false;
  return attempt(wire, out, error, timeout_ms, &got_bytes);
}

bool HttpClient::attempt(const std::string& wire, HttpResponse* out, std::string* error, int timeout_ms,
                         bool* got_bytes) {
  *got_bytes = false;
  if (!sock_.valid()) {
    if (!sock_.connect(endpoint_, options_.connect_timeout_ms, false, error)) return false;
    in_.clear();
  }
  sock_.set_timeout_ms(timeout_ms);
  if (!sock_.write_all(wire, error)) {
    sock_.close();
    return false;
  }
  while (true) {
    HttpParseResult r = parse_http_response(in_, out);
    if (r.status == HttpParseStatus::ok) {
      in_.erase(0, r.consumed);
      if (!out->keep_alive) sock_.close();
      return true;
    }
    if (r.status == HttpParseStatus::error) {
      *error = "bad response: " + r.error;
      sock_.close();
      return false;
    }
    long n = sock_.read_some(&in_, kReadChunkBytes, error);
    if (n > 0) {
      *got_bytes = true;
      continue;
    }
    if (n == 0 && r.status == HttpParseStatus::until_close) {
      out->body = in_.substr(r.head_bytes);
      in_.clear();
      sock_.close();
      return true;
    }
    if (n == 0) *error = in_.empty() ? "connection closed by server" : "connection closed mid-response";
    sock_.close();
    return false;
  }
}

}  // namespace stockd::client
