#include "client/resp_reply.h"

#include <charconv>

namespace stockd::client {
namespace {

struct Cursor {
  std::string_view in;
  std::size_t pos = 0;
};

// Reads "<digits>\r\n" as an integer from c.pos. incomplete when no CRLF yet.
RespReplyStatus read_line(Cursor& c, std::string_view* line) {
  auto eol = c.in.find("\r\n", c.pos);
  if (eol == std::string_view::npos) return RespReplyStatus::incomplete;
  *line = c.in.substr(c.pos, eol - c.pos);
  c.pos = eol + 2;
  return RespReplyStatus::ok;
}

bool to_int(std::string_view s, std::int64_t* v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

RespReplyStatus parse_at(Cursor& c, RespReply* out, std::size_t depth, std::string* error) {
  if (c.pos >= c.in.size()) return RespReplyStatus::incomplete;
  char kind = c.in[c.pos++];
  std::string_view line;
  if (read_line(c, &line) != RespReplyStatus::ok) return RespReplyStatus::incomplete;
  out->elements.clear();
  out->str.clear();
  switch (kind) {
    case '+':
      out->type = RespType::simple;
      out->str = std::string(line);
      return RespReplyStatus::ok;
    case '-':
      out->type = RespType::error;
      out->str = std::string(line);
      return RespReplyStatus::ok;
    case ':':
      out->type = RespType::integer;
      if (!to_int(line, &out->integer)) break;
      return RespReplyStatus::ok;
    case '$': {
      std::int64_t n = 0;
      if (!to_int(line, &n) || n < -1 || n > kRespReplyBulkBytesMax) break;
      if (n == -1) {
        out->type = RespType::null;
        return RespReplyStatus::ok;
      }
      auto len = static_cast<std::size_t>(n);
      if (c.in.size() - c.pos < len + 2) return RespReplyStatus::incomplete;
      if (c.in.substr(c.pos + len, 2) != "\r\n") break;
      out->type = RespType::bulk;
      out->str = std::string(c.in.substr(c.pos, len));
      c.pos += len + 2;
      return RespReplyStatus::ok;
    }
    case '*': {
      std::int64_t n = 0;
      if (!to_int(line, &n) || n < -1 || n > kRespReplyElementsMax || depth >= kRespReplyDepthMax) break;
      if (n == -1) {
        out->type = RespType::null;
        return RespReplyStatus::ok;
      }
      out->type = RespType::array;
      out->elements.resize(static_cast<std::size_t>(n));
      for (auto& e : out->elements) {
        RespReplyStatus s = parse_at(c, &e, depth + 1, error);
        if (s != RespReplyStatus::ok) return s;
      }
      return RespReplyStatus::ok;
    }
    default:
      break;
  }
  *error = "bad RESP reply line '" + std::string(1, kind) + std::string(line.substr(0, 60)) + "'";
  return RespReplyStatus::error;
}

}  // namespace

std::string_view RespReply::error_code() const {
  if (type != RespType::error) return {};
  std::string_view s = str;
  return s.substr(0, s.find(' '));
}

void append_resp_command(std::string& out, std::span<const std::string_view> args) {
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (std::string_view a : args) {
    out += '$';
    out += std::to_string(a.size());
    out += "\r\n";
    out += a;
    out += "\r\n";
  }
}

void append_resp_command(std::string& out, std::initializer_list<std::string_view> args) {
  append_resp_command(out, std::span<const std::string_view>(args.begin(), args.size()));
}

RespReplyResult parse_resp_reply(std::string_view in, RespReply* out) {
  RespReplyResult r;
  Cursor c{in, 0};
  r.status = parse_at(c, out, 0, &r.error);
  if (r.status == RespReplyStatus::ok) r.consumed = c.pos;
  return r;
}

}  // namespace stockd::client
