// The parser runs in three phases. `head` scans for the empty line that ends the head, resuming where
// the previous call stopped, so a head that trickles in byte by byte is scanned once. When the head is
// complete it is parsed (request line, header fields, framing) and the phase becomes `body_length` or
// `body_chunked`. A chunked body is decoded into the parser's own buffer as it arrives, again resuming
// where the previous call stopped. When the request is complete the head is parsed once more if it was
// parsed in an earlier call, because the caller's buffer may have moved since.
//
// Every decision depends only on the bytes of the request itself (limits are checked on completed lines
// or on a full window of bytes), so the result never depends on how the input was split across calls.
#include "net/http_parser.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "net/net_limits.h"

namespace stockd::net {
namespace {

using core::Code;

HttpParseResult fail(int http_status, std::string_view message, Code code = Code::invalid_request) {
  HttpParseResult r;
  r.status = HttpParseStatus::error;
  r.code = code;
  r.http_status = http_status;
  r.message = message;
  return r;
}

HttpParseResult too_large(std::string_view message) { return fail(413, message, Code::payload_too_large); }

HttpParseResult ok_so_far() { return HttpParseResult{}; }

bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Field values: HTAB, SP, visible ASCII and obs-text; no other control character.
bool is_field_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated list `list` holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    if (iequals(trim_ows(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

HttpParseResult parse_target(std::string_view target, HttpRequestView* req) {
  for (char ch : target) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '#') return fail(400, "request target holds a character that must be escaped");
  }
  std::string_view rest = target;
  if (rest.front() != '/' && rest != "*") {
    // absolute-form (RFC 9112 3.2.2): a server must accept it; drop scheme and authority.
    std::size_t skip = istarts_with(rest, "http://") ? 7 : istarts_with(rest, "https://") ? 8 : 0;
    if (skip == 0) return fail(400, "request target must be a path or an absolute http URI");
    rest.remove_prefix(skip);
    std::size_t end = rest.find_first_of("/?");
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  }
  std::size_t q = rest.find('?');
  req->path = rest.substr(0, q);
  if (req->path.empty()) req->path = "/";
  req->raw_query = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  std::string_view query = req->raw_query;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    std::pair<std::string, std::string> kv;
    if (!percent_decode(item.substr(0, eq), true, &kv.first) ||
        (eq != std::string_view::npos && !percent_decode(item.substr(eq + 1), true, &kv.second)))
      return fail(400, "query string holds a malformed percent escape");
    req->query.push_back(std::move(kv));
  }
  return ok_so_far();
}

HttpParseResult parse_request_line(std::string_view line, HttpRequestView* req) {
  std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return fail(400, "malformed request line");
  std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return fail(400, "malformed request line");
  req->method = line.substr(0, sp1);
  for (char c : req->method)
    if (!is_tchar(static_cast<unsigned char>(c))) return fail(400, "malformed request method");
  std::string_view version = line.substr(sp2 + 1);
  if (version == "HTTP/1.1") {
    req->version_minor = 1;
  } else if (version == "HTTP/1.0") {
    req->version_minor = 0;
  } else {
    bool shaped = version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[5] >= '0' &&
                  version[5] <= '9' && version[6] == '.' && version[7] >= '0' && version[7] <= '9';
    return shaped ? fail(505, "only HTTP/1.0 and HTTP/1.1 are supported") : fail(400, "malformed HTTP version");
  }
  req->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  return parse_target(req->target, req);
}

// Framing and connection handling from the header fields (RFC 9112 6, 9.3).
HttpParseResult apply_headers(HttpRequestView* req, std::size_t body_bytes_max) {
  bool have_length = false, length_too_large = false, have_te = false;
  std::int64_t length = -1;
  bool close = false, keep_alive = false;
  for (const HttpHeader& h : req->headers) {
    if (iequals(h.name, "content-length")) {
      if (h.value.empty()) return fail(400, "Content-Length is not a number");
      std::uint64_t v = 0;
      bool big = false;
      for (char c : h.value) {
        if (c < '0' || c > '9') return fail(400, "Content-Length is not a number");
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
        if (v > body_bytes_max) {  // saturate: the value stays comparable without overflowing
          big = true;
          v = body_bytes_max + 1;
        }
      }
      if (have_length && (static_cast<std::int64_t>(v) != length || big != length_too_large))
        return fail(400, "conflicting Content-Length headers");
      have_length = true;
      length = static_cast<std::int64_t>(v);
      length_too_large = big;
    } else if (iequals(h.name, "transfer-encoding")) {
      if (have_te) return fail(400, "repeated Transfer-Encoding header");
      if (req->version_minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
      if (!iequals(h.value, "chunked")) return fail(501, "only Transfer-Encoding: chunked is supported");
      have_te = true;
    } else if (iequals(h.name, "connection")) {
      close = close || has_token(h.value, "close");
      keep_alive = keep_alive || has_token(h.value, "keep-alive");
    } else if (iequals(h.name, "expect")) {
      req->expect_continue = req->version_minor == 1 && iequals(h.value, "100-continue");
    }
  }
  if (have_length && have_te) return fail(400, "both Content-Length and Transfer-Encoding");
  req->keep_alive = !close && (req->version_minor == 1 || keep_alive);
  req->chunked = have_te;
  req->content_length = have_length ? length : -1;
  if (length_too_large) return too_large("request body is larger than the limit");
  return ok_so_far();
}

// The body limit of a request to `path`.
std::size_t body_limit(const HttpParserOptions& o, std::string_view path) {
  if (!o.large_body_path.empty() && path == o.large_body_path)
    return std::max(o.body_bytes_max, o.large_body_bytes_max);
  return o.body_bytes_max;
}

// `head`: the request line and header lines, each ending in CRLF (the final empty line excluded).
HttpParseResult parse_head(std::string_view head, HttpRequestView* req, const HttpParserOptions& options) {
  req->query.clear();
  req->headers.clear();
  req->body = {};
  req->chunked = false;
  req->content_length = -1;
  req->expect_continue = false;
  std::size_t eol = head.find("\r\n");
  HttpParseResult r = parse_request_line(head.substr(0, eol), req);
  if (r.status == HttpParseStatus::error) return r;
  head.remove_prefix(eol + 2);
  while (!head.empty()) {
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    if (line.front() == ' ' || line.front() == '\t') return fail(400, "folded header lines are not accepted");
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(400, "header line without a name");
    HttpHeader h{line.substr(0, colon), trim_ows(line.substr(colon + 1))};
    for (char c : h.name)
      if (!is_tchar(static_cast<unsigned char>(c))) return fail(400, "malformed header name");
    for (char c : h.value)
      if (!is_field_char(static_cast<unsigned char>(c))) return fail(400, "control character in a header value");
    if (req->headers.size() == kHttpHeadersMax) return fail(431, "too many header fields");
    req->headers.push_back(h);
  }
  return apply_headers(req, body_limit(options, req->path));
}

}  // namespace

std::string_view HttpRequestView::header(std::string_view name) const {
  for (const HttpHeader& h : headers)
    if (iequals(h.name, name)) return h.value;
  return {};
}

bool HttpRequestView::has_header(std::string_view name) const {
  for (const HttpHeader& h : headers)
    if (iequals(h.name, name)) return true;
  return false;
}

bool percent_decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(plus_is_space && c == '+' ? ' ' : c);
    }
  }
  return true;
}

HttpParser::HttpParser(HttpParserOptions options) : options_(options) {}

void HttpParser::reset() {
  *this = HttpParser(options_);
}

// The head with leading empty lines is at most 2 * kHttpHeadBytesMax. A chunked body's framing is checked
// before each line, so it may pass its limit by one line (at most kHttpHeadBytesMax + 2, a trailer) and
// hold one more partial line when the parser asks for more input.
std::size_t HttpParser::request_bytes_max() const {
  std::size_t large = options_.large_body_path.empty() ? 0 : options_.large_body_bytes_max;
  std::size_t body = std::max(options_.body_bytes_max, large);
  return kHttpHeadBytesMax + body + kHttpChunkedOverheadBytesMax + 2 * (kHttpHeadBytesMax + 2);
}

HttpParseResult HttpParser::parse(std::string_view in, HttpRequestView* req) {
  bool head_parsed_now = false;
  if (phase_ == Phase::head) {
    HttpParseResult r = scan_head(in, req);
    if (r.status == HttpParseStatus::error) reset();
    if (phase_ == Phase::head) return r;
    head_parsed_now = true;
  }
  HttpParseResult r = parse_body(in);
  if (r.status == HttpParseStatus::error) {
    reset();
    return r;
  }
  if (r.status == HttpParseStatus::incomplete) return r;
  if (!head_parsed_now) {
    HttpParseResult again = parse_head(in.substr(head_start_, head_end_ - 2 - head_start_), req, options_);
    assert(again.status != HttpParseStatus::error);
    (void)again;
  }
  req->body = phase_ == Phase::body_chunked
                  ? std::string_view(body_)
                  : in.substr(head_end_, static_cast<std::size_t>(content_length_));
  // Start the next request from scratch, keeping body_ (req->body may point into it).
  std::string body = std::move(body_);
  *this = HttpParser(options_);
  body_ = std::move(body);
  return r;
}

HttpParseResult HttpParser::scan_head(std::string_view in, HttpRequestView* req) {
  const std::size_t n = in.size();
  while (scan_pos_ < n) {
    const void* p = std::memchr(in.data() + scan_pos_, '\n', n - scan_pos_);
    if (!p) {
      scan_pos_ = n;
      break;
    }
    std::size_t nl = static_cast<std::size_t>(static_cast<const char*>(p) - in.data());
    // Limits first, from the LF's position alone, as they are checked on a partial line below: whether
    // a read ended inside this line cannot change the answer.
    if (!in_head_ && nl - line_start_ > kHttpRequestLineBytesMax + 1) return fail(414, "request line is too long");
    if (nl + 1 - head_start_ > kHttpHeadBytesMax) return fail(431, "request head is too large");
    if (nl == line_start_ || in[nl - 1] != '\r') return fail(400, "line ends in a bare LF");
    std::size_t line_len = nl - 1 - line_start_;
    scan_pos_ = nl + 1;
    if (!in_head_) {
      if (line_len == 0) {  // empty lines before a request are ignored (RFC 9112 2.2)
        line_start_ = head_start_ = scan_pos_;
        if (head_start_ > kHttpHeadBytesMax) return fail(431, "too many empty lines before the request");
        continue;
      }
      in_head_ = true;
    } else if (line_len == 0) {
      head_end_ = scan_pos_;
      HttpParseResult r = parse_head(in.substr(head_start_, head_end_ - 2 - head_start_), req, options_);
      if (r.status == HttpParseStatus::error) return r;
      body_limit_ = body_limit(options_, req->path);
      expect_continue_ = req->expect_continue;
      if (req->chunked) {
        phase_ = Phase::body_chunked;
        wire_pos_ = head_end_;
        body_.clear();
      } else {
        phase_ = Phase::body_length;
        content_length_ = req->content_length < 0 ? 0 : req->content_length;
      }
      return r;
    }
    line_start_ = scan_pos_;
  }
  if (!in_head_ && n - line_start_ > kHttpRequestLineBytesMax + 1) return fail(414, "request line is too long");
  if (n - head_start_ > kHttpHeadBytesMax) return fail(431, "request head is too large");
  return ok_so_far();
}

HttpParseResult HttpParser::parse_body(std::string_view in) {
  HttpParseResult r;
  if (phase_ == Phase::body_length) {
    std::size_t end = head_end_ + static_cast<std::size_t>(content_length_);
    if (in.size() >= end) {
      r.status = HttpParseStatus::complete;
      r.consumed = end;
      return r;
    }
  } else {
    r = decode_chunks(in);
    if (r.status != HttpParseStatus::incomplete) return r;
  }
  if (expect_continue_ && !continue_reported_) {
    continue_reported_ = true;
    r.send_continue = true;
  }
  return r;
}

HttpParseResult HttpParser::decode_chunks(std::string_view in) {
  const std::size_t n = in.size();
  // Finds the CRLF-terminated line at wire_pos_ within `window` bytes: its length without CRLF,
  // -1 when more input is needed, -2 when malformed.
  auto line_at = [&](std::size_t window) -> std::ptrdiff_t {
    std::size_t avail = std::min(n - wire_pos_, window);
    const void* p = std::memchr(in.data() + wire_pos_, '\n', avail);
    if (!p) return avail == window ? -2 : -1;
    std::size_t nl = static_cast<std::size_t>(static_cast<const char*>(p) - in.data());
    if (nl == wire_pos_ || in[nl - 1] != '\r') return -2;
    return static_cast<std::ptrdiff_t>(nl - 1 - wire_pos_);
  };
  while (chunk_ != Chunk::done) {
    if (wire_pos_ - head_end_ - body_.size() > kHttpChunkedOverheadBytesMax)
      return too_large("chunked framing is too large");
    if (chunk_ == Chunk::data) {
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, n - wire_pos_));
      body_.append(in.data() + wire_pos_, take);
      wire_pos_ += take;
      chunk_left_ -= take;
      if (chunk_left_ > 0) break;
      chunk_ = Chunk::data_crlf;
      continue;
    }
    if (chunk_ == Chunk::data_crlf) {
      if (n - wire_pos_ < 2) break;
      if (in[wire_pos_] != '\r' || in[wire_pos_ + 1] != '\n') return fail(400, "chunk data not followed by CRLF");
      wire_pos_ += 2;
      chunk_ = Chunk::size_line;
      continue;
    }
    std::size_t window = chunk_ == Chunk::size_line ? kHttpChunkLineBytesMax : kHttpHeadBytesMax;
    std::ptrdiff_t len = line_at(window);
    if (len == -1) break;
    if (len == -2) return fail(400, "malformed chunked body");
    std::string_view line = in.substr(wire_pos_, static_cast<std::size_t>(len));
    wire_pos_ += static_cast<std::size_t>(len) + 2;
    for (char c : line)
      if (!is_field_char(static_cast<unsigned char>(c))) return fail(400, "control character in chunked framing");
    if (chunk_ == Chunk::trailers) {
      if (line.empty()) chunk_ = Chunk::done;
      continue;
    }
    std::size_t digits = 0;
    std::uint64_t size = 0;
    for (; digits < line.size() && hex_value(line[digits]) >= 0; ++digits) {
      size = size * 16 + static_cast<std::uint64_t>(hex_value(line[digits]));
      if (size > body_limit_) return too_large("request body is larger than the limit");
    }
    std::string_view ext = trim_ows(line.substr(digits));
    if (digits == 0 || (!ext.empty() && ext.front() != ';')) return fail(400, "malformed chunk size");
    if (body_.size() + size > body_limit_) return too_large("request body is larger than the limit");
    chunk_left_ = size;
    chunk_ = size == 0 ? Chunk::trailers : Chunk::data;
  }
  HttpParseResult r;
  if (chunk_ == Chunk::done) {
    r.status = HttpParseStatus::complete;
    r.consumed = wire_pos_;
  }
  return r;
}

}  // namespace stockd::net
