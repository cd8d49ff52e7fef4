// Framing rules follow Redis's processMultibulkBuffer/processInlineBuffer (networking.c): the count and
// length lines are "*<n>\r\n" and "$<n>\r\n" with n written as Redis's string2ll accepts it (no '+',
// no leading zeros), a count <= 0 is an empty command, a bulk must be followed by CRLF. Unlike Redis we
// check that CRLF instead of skipping two bytes, and we refuse lengths above our smaller limits.
#include "net/resp_parser.h"

#include <algorithm>
#include <cstring>

#include "net/net_limits.h"

namespace stockd::net {
namespace {

RespParseResult fail(std::string message) {
  RespParseResult r;
  r.status = RespParseStatus::error;
  r.error = std::move(message);
  return r;
}

// Length of the CRLF-terminated line at `pos` (without CRLF) if it ends within `window` bytes;
// -1 when more input is needed, -2 when it cannot be a valid line.
std::ptrdiff_t line_at(std::string_view in, std::size_t pos, std::size_t window) {
  std::size_t avail = std::min(in.size() - pos, window);
  const void* p = std::memchr(in.data() + pos, '\n', avail);
  if (!p) return avail == window ? -2 : -1;
  std::size_t nl = static_cast<std::size_t>(static_cast<const char*>(p) - in.data());
  if (nl == pos || in[nl - 1] != '\r') return -2;
  return static_cast<std::ptrdiff_t>(nl - 1 - pos);
}

// Redis's string2ll: optional '-', then "0" or a digit 1-9 and more digits; fits in int64.
bool parse_ll(std::string_view s, std::int64_t* out) {
  bool neg = !s.empty() && s.front() == '-';
  if (neg) s.remove_prefix(1);
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s.front() == '0')) return false;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = neg ? -v : v;
  return true;
}

RespParseResult parse_multibulk(std::string_view in, std::vector<std::string_view>* args) {
  std::ptrdiff_t len = line_at(in, 0, kRespCountLineBytesMax);
  if (len == -1) return RespParseResult{};
  std::int64_t count = 0;
  if (len == -2 || !parse_ll(in.substr(1, static_cast<std::size_t>(len) - 1), &count) ||
      count > static_cast<std::int64_t>(kRespArgsMax))
    return fail("invalid multibulk length");
  std::size_t pos = static_cast<std::size_t>(len) + 2;
  for (std::int64_t i = 0; i < count; ++i) {
    if (pos >= in.size()) return RespParseResult{};
    if (in[pos] != '$') return fail(std::string("expected '$', got '") + in[pos] + "'");
    len = line_at(in, pos, kRespCountLineBytesMax);
    if (len == -1) return RespParseResult{};
    std::int64_t size = 0;
    if (len == -2 || !parse_ll(in.substr(pos + 1, static_cast<std::size_t>(len) - 1), &size) || size < 0 ||
        size > static_cast<std::int64_t>(kRespBulkBytesMax))
      return fail("invalid bulk length");
    pos += static_cast<std::size_t>(len) + 2;
    auto n = static_cast<std::size_t>(size);
    if (in.size() - pos < n + 2) return RespParseResult{};
    if (in[pos + n] != '\r' || in[pos + n + 1] != '\n') return fail("expected CRLF after bulk string");
    args->push_back(in.substr(pos, n));
    pos += n + 2;
  }
  RespParseResult r;
  r.status = RespParseStatus::ok;
  r.consumed = pos;
  return r;
}

RespParseResult parse_inline(std::string_view in, std::vector<std::string_view>* args) {
  std::size_t avail = std::min(in.size(), kRespInlineBytesMax);
  const void* p = std::memchr(in.data(), '\n', avail);
  if (!p) return avail == kRespInlineBytesMax ? fail("too big inline request") : RespParseResult{};
  std::size_t nl = static_cast<std::size_t>(static_cast<const char*>(p) - in.data());
  std::string_view line = in.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i == start) break;
    if (args->size() == kRespArgsMax) return fail("too many arguments in inline request");
    args->push_back(line.substr(start, i - start));
  }
  RespParseResult r;
  r.status = RespParseStatus::ok;
  r.consumed = nl + 1;
  return r;
}

}  // namespace

RespParseResult parse_resp_command(std::string_view in, std::vector<std::string_view>* args) {
  args->clear();
  if (in.empty()) return RespParseResult{};
  RespParseResult r = in.front() == '*' ? parse_multibulk(in, args) : parse_inline(in, args);
  if (r.status != RespParseStatus::ok) args->clear();
  return r;
}

}  // namespace stockd::net
