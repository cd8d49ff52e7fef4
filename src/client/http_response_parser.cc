#include "client/http_response_parser.h"

#include <charconv>
#include <strings.h>

namespace stockd::client {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool contains_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

HttpParseResult fail(std::string e) {
  HttpParseResult r;
  r.status = HttpParseStatus::error;
  r.error = std::move(e);
  return r;
}

}  // namespace

HttpParseResult parse_http_response(std::string_view in, HttpResponse* out, bool body) {
  HttpParseResult r;
  auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (in.size() > kResponseHeadBytesMax) return fail("response head over 64 KiB");
    return r;
  }
  std::string_view head = in.substr(0, end);
  std::size_t head_bytes = end + 4;
  auto eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // "HTTP/1.1 200 OK"
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/" || status_line[8] != ' ')
    return fail("bad status line '" + std::string(status_line.substr(0, 80)) + "'");
  bool http10 = status_line.substr(5, 3) == "1.0";
  int status = 0;
  auto [p, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, status);
  if (ec != std::errc() || p != status_line.data() + 12 || status < 100 || status > 999)
    return fail("bad status code in '" + std::string(status_line.substr(0, 80)) + "'");
  out->status = status;
  out->content_type.clear();
  out->keep_alive = !http10;
  out->body.clear();
  bool have_length = false;
  std::size_t length = 0;
  std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  while (!rest.empty()) {
    auto next = rest.find("\r\n");
    std::string_view line = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return fail("bad header line");
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      auto [q, e2] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (value.empty() || e2 != std::errc() || q != value.data() + value.size()) return fail("bad Content-Length");
      if (length > kResponseBodyBytesMax) return fail("response body too large");
      have_length = true;
    } else if (iequals(name, "Content-Type")) {
      out->content_type = std::string(value);
    } else if (iequals(name, "Connection")) {
      if (contains_token(value, "close")) out->keep_alive = false;
      else if (contains_token(value, "keep-alive")) out->keep_alive = true;
    } else if (iequals(name, "Transfer-Encoding")) {
      if (!iequals(value, "identity")) return fail("chunked responses are not supported");
    }
  }
  if (!have_length) {
    if (status < 200 || status == 204 || status == 304) {
      r.status = HttpParseStatus::ok;
      r.consumed = head_bytes;
      return r;
    }
    out->keep_alive = false;
    r.status = HttpParseStatus::until_close;
    r.head_bytes = head_bytes;
    return r;
  }
  if (in.size() - head_bytes < length) return r;
  if (body) out->body.assign(in.substr(head_bytes, length));
  r.status = HttpParseStatus::ok;
  r.consumed = head_bytes + length;
  return r;
}

}  // namespace stockd::client
