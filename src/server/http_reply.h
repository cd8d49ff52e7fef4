// http_reply.h: appending HTTP replies to a connection's output: a reply (and the close it asks for),
// the contract's error bodies, and the answer to a request the parser rejected.
#pragma once
#include <string>
#include <string_view>

#include "core/inventory.h"  // core::Outcome
#include "core/status.h"
#include "net/http_parser.h"
#include "server/conn_base.h"

namespace stockd::server {

// Appends the response; without keep-alive the connection closes once it is flushed.
void http_reply(ConnBase& c, int status, std::string_view body, bool keep_alive);

// The contract's error body for `code`; returns its HTTP status.
int http_error(ConnBase& c, core::Code code, std::string_view message, bool keep_alive);

// The contract's error body for a failed outcome (details included); returns its HTTP status.
int http_outcome_error(ConnBase& c, const core::Outcome& o, bool keep_alive);

// A request the parser rejected (r.status == error): answers it, closes after the flush and drops the
// rest of the input.
void http_parse_error(ConnBase& c, const net::HttpParseResult& r);

}  // namespace stockd::server
