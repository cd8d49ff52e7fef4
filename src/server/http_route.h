// http_route.h: the HTTP front end's routing (server_http.cc), the same for every store: one parsed
// request, path splitting and matching, query parameters, and the write routes decoded into commands.
// Paths and bodies follow the contract; docs/api.md documents every route.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/command.h"
#include "core/status.h"
#include "net/http_parser.h"
#include "server/auth.h"
#include "store/store.h"

namespace stockd::server {

// The most SKUs one GET /v1/availability names, and the largest page of GET /v1/skus.
inline constexpr std::size_t kListLimitMax = 1000;

// One parsed HTTP request, independent of the parser's own types. Views into the connection's input.
struct HttpRequest {
  std::string_view method;
  std::string_view path;
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::string_view body;
  std::string_view authorization;
  bool keep_alive = true;
};

// The parser options of both front ends: `max_body_bytes` (--max-body-bytes) for every route, and
// for POST /v1/stock/batches at least limits::kBatchBodyBytesMax (10,000 rows).
net::HttpParserOptions http_parser_options(std::int64_t max_body_bytes);

// The request of a complete parse. *req keeps its query vector's capacity between calls.
void request_from_view(const net::HttpRequestView& view, HttpRequest* req);

// "/v1/holds/abc/confirm" -> {"v1","holds","abc","confirm"}; empty segments are kept (and rejected).
std::vector<std::string_view> split_path(std::string_view path);

// The route shape: literal segments, "*" for a non-empty parameter.
bool route_is(const HttpRequest& req, const std::vector<std::string_view>& parts, std::string_view method,
              std::initializer_list<std::string_view> shape);

// The first value of query parameter `name`, or null.
const std::string* query_param(const HttpRequest& req, std::string_view name);

// Query parameter `name` as an integer in [lo, hi] into *out; absent leaves *out. False when present
// but not such an integer.
bool query_int(const HttpRequest& req, std::string_view name, std::int64_t lo, std::int64_t hi, std::int64_t* out);

// The forbidden answer's message: "this token may not use METHOD PATH".
std::string forbidden_message(const HttpRequest& req);

// The invalid_request message of a request no route matched ("no route for ..." or "unknown path ...").
std::string no_route_message(const HttpRequest& req, const std::vector<std::string_view>& parts);

// A route that needs a capability a store may lack (store.h): the one table of them (http_route.cc).
// The front end answers it from capability_refusal() when its store lacks the capability.
struct CapabilityRoute {
  const char* route;            // metrics label, e.g. "GET /v1/events"
  store::Capability capability;
  int channel_part;             // index of the path part naming a channel whose token may call it; -1: admin only
};

// The capability route `req` is, or null.
const CapabilityRoute* match_capability_route(const HttpRequest& req, const std::vector<std::string_view>& parts);

// What a successful write answers with.
enum class WriteView : std::uint8_t { channel, sku, hold, batch, ack };  // batch: core::Outcome::batch;
                                                                         // ack: the channel's publication seqs

// A write route decoded.
struct HttpWrite {
  const char* route = nullptr;  // metrics label
  WriteView view = WriteView::sku;
  core::Command command;
  core::Status status;          // the decoder's verdict; when not ok, answer it
  bool forbidden = false;       // the principal may not use the route: answer forbidden_message()
  // POST /v1/holds/{id}/confirm|release|extend: the hold acted on. The caller checks that a non-admin
  // principal may act on it (and answers forbidden when not) before answering `status`.
  std::string_view hold_id;
};

// False when the request is none of the write routes. Admin routes are marked forbidden for other
// principals before decoding; POST /v1/holds after decoding (the channel is in the body).
bool match_write_route(const HttpRequest& req, const std::vector<std::string_view>& parts, const Principal& who,
                       HttpWrite* w);

}  // namespace stockd::server
