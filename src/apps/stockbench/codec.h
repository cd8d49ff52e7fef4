// codec.h: an Op on the wire (HTTP/1.1 request or RESP command) and its reply's outcome code.
#pragma once
#include <string>
#include <string_view>

#include "apps/stockbench/names.h"
#include "apps/stockbench/op.h"

namespace stockbench {

// Appends the HTTP request for `op`; `host` is "host:port", `auth` "" or "Bearer <token>".
void encode_http(const Op& op, const Names& names, std::string_view host, std::string_view auth, std::string& out);
void encode_resp(const Op& op, const Names& names, std::string_view token, std::string& out);

// The outcome of an HTTP reply: kCodeOk for 2xx, else the contract's "code" of the error body.
int http_outcome(int status, std::string_view body);
// The outcome of a RESP reply: kCodeOk unless it is an error; "-INSUFFICIENT_STOCK ..." -> its code.
int resp_outcome(bool is_error, std::string_view error_code);

}  // namespace stockbench
