#include "server/http_reply.h"

#include "net/api_json.h"
#include "net/http_response.h"

namespace stockd::server {

void http_reply(ConnBase& c, int status, std::string_view body, bool keep_alive) {
  net::append_response(c.out, status, body, keep_alive);
  if (!keep_alive) c.close_after_flush = true;
}

int http_error(ConnBase& c, core::Code code, std::string_view message, bool keep_alive) {
  std::string body;
  net::render_error(body, code, message);
  http_reply(c, core::http_status(code), body, keep_alive);
  return core::http_status(code);
}

int http_outcome_error(ConnBase& c, const core::Outcome& o, bool keep_alive) {
  std::string body;
  net::render_outcome_error(body, o);
  http_reply(c, core::http_status(o.code), body, keep_alive);
  return core::http_status(o.code);
}

void http_parse_error(ConnBase& c, const net::HttpParseResult& r) {
  std::string body;
  net::render_error(body, r.code, std::string(r.message));
  net::append_response(c.out, r.http_status, body, false);
  c.close_after_flush = true;
  c.in_pos = c.in.size();
}

}  // namespace stockd::server
