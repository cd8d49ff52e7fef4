#include "server/http_route.h"

#include <array>
#include <charconv>

#include "core/limits.h"
#include "net/api_json.h"
#include "server/outbound_http.h"

namespace stockd::server {

void request_from_view(const net::HttpRequestView& view, HttpRequest* req) {
  req->method = view.method;
  req->path = view.path;
  req->query = view.query;
  req->body = view.body;
  req->authorization = view.header("authorization");
  req->keep_alive = view.keep_alive;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

bool route_is(const HttpRequest& req, const std::vector<std::string_view>& parts, std::string_view method,
              std::initializer_list<std::string_view> shape) {
  if (req.method != method || parts.size() != shape.size()) return false;
  std::size_t i = 0;
  for (std::string_view s : shape) {
    if (s != "*" && parts[i] != s) return false;
    if (s == "*" && parts[i].empty()) return false;
    ++i;
  }
  return true;
}

namespace {

struct CapabilityShape {
  std::string_view method;
  std::array<std::string_view, 5> shape;  // literal segments, "*" a parameter, "" past the end
  CapabilityRoute route;
};

using store::Capability;
constexpr CapabilityShape kCapabilityRoutes[] = {
    {"GET", {"v1", "skus"}, {"GET /v1/skus", Capability::sku_listing, -1}},
    {"GET", {"v1", "events"}, {"GET /v1/events", Capability::events_feed, -1}},
    {"GET", {"v1", "movements"}, {"GET /v1/movements", Capability::movements, -1}},
    {"GET", {"v1", "channels", "*", "publications"},
     {"GET /v1/channels/{channel}/publications", Capability::publications, 2}},
    {"POST", {"v1", "channels", "*", "publications", "ack"},
     {"POST /v1/channels/{channel}/publications/ack", Capability::publications, 2}},
    {"POST", {"v1", "stock", "batches"}, {"POST /v1/stock/batches", Capability::stock_batches, -1}},
    {"GET", {"v1", "alerts"}, {"GET /v1/alerts", Capability::alerts, -1}},
    {"PUT", {"v1", "alerts"}, {"PUT /v1/alerts", Capability::alerts, -1}},
    {"POST", {"v1", "alerts", "test"}, {"POST /v1/alerts/test", Capability::alerts, -1}},
    {"GET", {"v1", "deliveries"}, {"GET /v1/deliveries", Capability::outbound, -1}},
    {"POST", {"v1", "admin", "snapshot"}, {"POST /v1/admin/snapshot", Capability::snapshot, -1}},
};

bool shape_matches(const HttpRequest& req, const std::vector<std::string_view>& parts, std::string_view method,
                   const std::array<std::string_view, 5>& shape) {
  if (req.method != method) return false;
  std::size_t n = 0;
  while (n < shape.size() && !shape[n].empty()) ++n;
  if (parts.size() != n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if (shape[i] == "*" ? parts[i].empty() : parts[i] != shape[i]) return false;
  }
  return true;
}

}  // namespace

const CapabilityRoute* match_capability_route(const HttpRequest& req, const std::vector<std::string_view>& parts) {
  for (const CapabilityShape& r : kCapabilityRoutes) {
    if (shape_matches(req, parts, r.method, r.shape)) return &r.route;
  }
  return nullptr;
}

net::HttpParserOptions http_parser_options(std::int64_t max_body_bytes) {
  net::HttpParserOptions o;
  o.body_bytes_max = static_cast<std::size_t>(max_body_bytes);
  o.large_body_path = "/v1/stock/batches";
  o.large_body_bytes_max = limits::kBatchBodyBytesMax;
  return o;
}

const std::string* query_param(const HttpRequest& req, std::string_view name) {
  for (const auto& [k, v] : req.query)
    if (k == name) return &v;
  return nullptr;
}

bool query_int(const HttpRequest& req, std::string_view name, std::int64_t lo, std::int64_t hi, std::int64_t* out) {
  const std::string* v = query_param(req, name);
  if (!v) return true;
  std::int64_t x = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc() || p != v->data() + v->size() || x < lo || x > hi) return false;
  *out = x;
  return true;
}

std::string forbidden_message(const HttpRequest& req) {
  return "this token may not use " + std::string(req.method) + " " + std::string(req.path);
}

std::string no_route_message(const HttpRequest& req, const std::vector<std::string_view>& parts) {
  bool known_path = parts.size() >= 1 && (parts[0] == "v1" || parts[0] == "metrics" || parts[0] == "healthz" ||
                                          parts[0] == "readyz");
  return known_path ? "no route for " + std::string(req.method) + " " + std::string(req.path)
                    : "unknown path " + std::string(req.path);
}

bool match_write_route(const HttpRequest& req, const std::vector<std::string_view>& parts, const Principal& who,
                       HttpWrite* w) {
  auto admin_only = [&](const char* route) {
    w->route = route;
    w->forbidden = !who.admin();
    return !w->forbidden;
  };
  if (route_is(req, parts, "PUT", {"v1", "channels", "*"})) {
    w->view = WriteView::channel;
    if (admin_only("PUT /v1/channels/{channel}")) {
      w->status = net::decode_put_channel(parts[2], req.body, &w->command);
      // The core keeps any http(s) URL; the delivery client speaks http:// only (outbound_http.h).
      const auto* put = std::get_if<core::PutChannel>(&w->command);
      OutboundUrl url;
      std::string error;
      if (w->status.ok() && put && put->webhook && !parse_outbound_url(put->webhook->url, &url, &error))
        w->status = core::Status{core::Code::invalid_request, "webhook.url: " + error};
    }
  } else if (route_is(req, parts, "POST", {"v1", "channels", "*", "publications", "ack"})) {
    w->route = "POST /v1/channels/{channel}/publications/ack";
    w->view = WriteView::ack;
    w->forbidden = !who.may_act_for(parts[2]);
    if (!w->forbidden) w->status = net::decode_ack_publications(parts[2], req.body, &w->command);
  } else if (route_is(req, parts, "PUT", {"v1", "skus", "*"})) {
    if (admin_only("PUT /v1/skus/{sku}")) w->status = net::decode_put_sku(parts[2], req.body, &w->command);
  } else if (route_is(req, parts, "POST", {"v1", "skus", "*", "adjustments"})) {
    if (admin_only("POST /v1/skus/{sku}/adjustments"))
      w->status = net::decode_adjust(parts[2], req.body, &w->command);
  } else if (route_is(req, parts, "PUT", {"v1", "skus", "*", "allocation"})) {
    if (admin_only("PUT /v1/skus/{sku}/allocation"))
      w->status = net::decode_set_allocation(parts[2], req.body, &w->command);
  } else if (route_is(req, parts, "POST", {"v1", "skus", "*", "pools", "*", "close"})) {
    if (admin_only("POST /v1/skus/{sku}/pools/{pool}/close"))
      w->command = core::ClosePool{std::string(parts[2]), std::string(parts[4])};
  } else if (route_is(req, parts, "POST", {"v1", "stock", "batches"})) {
    w->view = WriteView::batch;
    if (admin_only("POST /v1/stock/batches")) w->status = net::decode_stock_batch(req.body, &w->command);
  } else if (route_is(req, parts, "POST", {"v1", "holds"})) {
    w->route = "POST /v1/holds";
    w->view = WriteView::hold;
    w->status = net::decode_create_hold(req.body, &w->command);
    w->forbidden = w->status.ok() && !who.may_act_for(std::get<core::CreateHold>(w->command).channel);
  } else if (parts.size() == 4 && req.method == "POST" && parts[0] == "v1" && parts[1] == "holds" &&
             (parts[3] == "confirm" || parts[3] == "release" || parts[3] == "extend")) {
    w->view = WriteView::hold;
    w->hold_id = parts[2];
    if (parts[3] == "confirm") {
      w->route = "POST /v1/holds/{id}/confirm";
      w->status = net::decode_confirm(w->hold_id, req.body, &w->command);
    } else if (parts[3] == "release") {
      w->route = "POST /v1/holds/{id}/release";
      w->status = net::decode_release(w->hold_id, req.body, &w->command);
    } else {
      w->route = "POST /v1/holds/{id}/extend";
      w->status = net::decode_extend(w->hold_id, req.body, &w->command);
    }
  } else {
    return false;
  }
  return true;
}

}  // namespace stockd::server
