// Cluster mode's HTTP/JSON API: the embedded server's routes, authorization and replies
// (server_http.cc), executed synchronously through the worker's ClusterStore. Paths and bodies follow
// docs/api.md; the differences of cluster mode are listed in cluster_server.h.
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/command.h"
#include "net/api_json.h"
#include "net/http_parser.h"
#include "net/http_response.h"
#include "server/clock.h"
#include "server/cluster_ledger.h"
#include "server/cluster_server.h"
#include "server/http_reply.h"
#include "server/http_route.h"
#include "server/server.h"

namespace stockd::server {
namespace {

// 501 with the error shape of the contract; "not_implemented" is not one of the contract's codes
// because these routes are not in it (or, for the events feed, not on this store).
int not_implemented(ClusterConn& c, std::string_view message, bool keep_alive) {
  std::string body;
  net::render_error_named(body, "not_implemented", message);
  http_reply(c, 501, body, keep_alive);
  return 501;
}

}  // namespace

bool ClusterWorker::http_input(ClusterConn& c, std::size_t max) {
  const std::size_t out_max = static_cast<std::size_t>(srv_.opt_.max_output_bytes);
  net::HttpRequestView view;
  HttpRequest req;
  std::size_t served = 0;
  while (c.fd >= 0 && !c.close_after_flush) {
    std::string_view in = c.input();
    if (in.empty()) return true;
    if (served >= max || c.pending_output() >= out_max) return false;
    std::int64_t start = steady_us();
    net::HttpParseResult r = c.http->parse(in, &view);
    if (r.status == net::HttpParseStatus::incomplete) {
      if (r.send_continue) net::append_continue(c.out);
      return true;
    }
    if (r.status == net::HttpParseStatus::error) {
      http_parse_error(c, r);
      srv_.record("malformed", r.http_status, 0);
      return true;
    }
    request_from_view(view, &req);
    http_request(c, req, start);
    c.in_pos += r.consumed;
    ++served;
  }
  return true;
}

void ClusterWorker::http_request(ClusterConn& c, const HttpRequest& req, std::int64_t start_us) {
  const bool ka = req.keep_alive;
  const auto parts = split_path(req.path);
  auto done = [&](const char* route, int status) { srv_.record(route, status, steady_us() - start_us); };

  // Unauthenticated operational endpoints.
  if (route_is(req, parts, "GET", {"healthz"})) {
    std::string body;
    net::render_status(body, "ok");
    http_reply(c, 200, body, ka);
    return done("GET /healthz", 200);
  }
  if (route_is(req, parts, "GET", {"readyz"})) {
    bool draining = srv_.draining_.load(std::memory_order_relaxed);
    bool ready = !draining && store_->healthy();
    std::string body;
    net::render_status(body, "ready");
    if (ready) http_reply(c, 200, body, ka);
    else http_error(c, core::Code::unavailable, draining ? "draining" : "storage unavailable", ka);
    return done("GET /readyz", ready ? 200 : 503);
  }
  if (route_is(req, parts, "GET", {"metrics"})) {
    std::string body;
    srv_.render_metrics(body);
    net::append_response(c.out, 200, body, ka, "text/plain; version=0.0.4");
    if (!ka) c.close_after_flush = true;
    return done("GET /metrics", 200);
  }

  Principal who = c.principal;
  if (srv_.auth_.enabled()) {
    who = srv_.auth_.identify_header(req.authorization);
    if (who.kind == Principal::Kind::none) {
      http_error(c, core::Code::unauthorized,
            req.authorization.empty() ? "send Authorization: Bearer <token>" : "invalid token", ka);
      return done("unauthorized", 401);
    }
  }
  if (http_write(c, req, who, parts, start_us)) return;
  if (http_read(c, req, who, parts, start_us)) return;
  http_error(c, core::Code::invalid_request, no_route_message(req, parts), ka);
  done("unknown", 400);
}

// The write routes: decoded exactly as the embedded server does, checked with core::validate (the
// embedded engine's check, with its code and message), then applied. False when no write route matched.
bool ClusterWorker::http_write(ClusterConn& c, const HttpRequest& req, const Principal& who,
                               const std::vector<std::string_view>& parts, std::int64_t start_us) {
  const bool ka = req.keep_alive;
  HttpWrite w;
  if (!match_write_route(req, parts, who, &w)) return false;
  auto finish = [&](int status) {
    srv_.record(w.route, status, steady_us() - start_us);
    return true;
  };
  auto forbidden = [&] { return finish(http_error(c, core::Code::forbidden, forbidden_message(req), ka)); };
  if (w.forbidden) return forbidden();
  if (w.view == WriteView::batch) {  // docs/cluster.md: stock batches are on the embedded store only
    return finish(not_implemented(c, "stock batches are not supported by the cluster store", ka));
  }
  // Listed channels live in the embedded store's core only (docs/channels.md): no second copy here.
  if (std::holds_alternative<core::AckPublications>(w.command) && w.status.ok())
    return finish(not_implemented(c, "publications are not available on the cluster store yet", ka));
  if (const auto* pc = std::get_if<core::PutChannel>(&w.command);
      pc && w.status.ok() && (pc->listing || pc->clear_listing || pc->webhook || pc->clear_webhook))
    return finish(http_error(c, core::Code::invalid_request,
                             "listing and webhook are not available on the cluster store yet (embedded store only)", ka));
  core::Outcome unknown_hold;  // ok unless a non-admin's hold was looked up and is unknown
  if (!w.hold_id.empty()) {
    bool other_channel = false;
    check_hold_owner(w.hold_id, who, &other_channel, &unknown_hold);
    if (other_channel) return forbidden();
  }
  std::string err;
  if (!w.status.ok()) return finish(http_error(c, w.status.code, w.status.message, ka));
  if (core::validate(w.command, &err) != core::Code::ok) {
    return finish(http_error(c, core::Code::invalid_request, err, ka));
  }
  if (!unknown_hold.ok()) return finish(http_outcome_error(c, unknown_hold, ka));

  backends::StoreReply r;
  core::Outcome o = store_->apply(w.command, wall_clock_ms(), &r);
  if (!o.ok()) return finish(http_outcome_error(c, o, ka));
  std::string body;
  int status = 200;
  switch (w.view) {
    case WriteView::channel: net::render_channel(body, r.channel.view()); break;
    case WriteView::sku: net::render_sku(body, r.sku.view()); break;
    case WriteView::hold:
      net::render_hold(body, r.hold.view());
      if (o.created) status = 201;
      break;
    case WriteView::batch:  // answered 501 above
    case WriteView::ack: break;
  }
  std::size_t begin = c.out.size();
  http_reply(c, status, body, ka);
  unacked_.push_back({begin, c.out.size(), ka});
  return finish(status);
}

// The read and admin routes. False when no route matched.
bool ClusterWorker::http_read(ClusterConn& c, const HttpRequest& req, const Principal& who,
                              const std::vector<std::string_view>& parts, std::int64_t start_us) {
  const bool ka = req.keep_alive;
  const char* route = nullptr;
  auto finish = [&](int status) {
    srv_.record(route, status, steady_us() - start_us);
    return true;
  };
  auto forbidden = [&] { return finish(http_error(c, core::Code::forbidden, forbidden_message(req), ka)); };
  std::string body;
  backends::StoreReply r;
  if (route_is(req, parts, "GET", {"v1", "channels"})) {
    route = "GET /v1/channels";
    if (!who.admin()) return forbidden();
    core::Outcome o = store_->list_channels(&r);
    if (!o.ok()) return finish(http_outcome_error(c, o, ka));
    std::vector<core::ChannelView> views;
    for (const backends::ChannelRecord& ch : r.channels) views.push_back(ch.view());
    net::render_channel_list(body, views);
    http_reply(c, 200, body, ka);
    return finish(200);
  }
  if (route_is(req, parts, "GET", {"v1", "skus", "*"})) {
    route = "GET /v1/skus/{sku}";
    if (!who.admin()) return forbidden();
    std::string unknown = "unknown sku " + std::string(parts[2]);
    if (!core::is_identifier(parts[2])) return finish(http_error(c, core::Code::unknown_sku, unknown, ka));
    core::Outcome o = store_->get_sku(parts[2], wall_clock_ms(), &r);
    if (o.code == core::Code::unknown_sku) return finish(http_error(c, o.code, unknown, ka));
    if (!o.ok()) return finish(http_outcome_error(c, o, ka));
    net::render_sku(body, r.sku.view());
    http_reply(c, 200, body, ka);
    return finish(200);
  }
  if (route_is(req, parts, "GET", {"v1", "availability"})) {
    http_availability(c, req, who, start_us);
    return true;
  }
  if (route_is(req, parts, "GET", {"v1", "holds", "*"})) {
    route = "GET /v1/holds/{id}";
    std::string unknown = "unknown hold " + std::string(parts[2]);
    if (!core::is_identifier(parts[2])) return finish(http_error(c, core::Code::unknown_hold, unknown, ka));
    core::Outcome o = store_->get_hold(parts[2], wall_clock_ms(), &r);
    if (o.code == core::Code::unknown_hold) return finish(http_error(c, o.code, unknown, ka));
    if (!o.ok()) return finish(http_outcome_error(c, o, ka));
    if (!who.may_act_for(r.hold.channel)) return forbidden();
    net::render_hold(body, r.hold.view());
    http_reply(c, 200, body, ka);
    return finish(200);
  }
  if (const EmbeddedOnlyRoute* only = match_embedded_only_route(req, parts)) {  // docs/cluster.md
    route = only->route;
    const bool allowed = only->channel_part < 0 ? who.admin() : who.may_act_for(parts[only->channel_part]);
    if (!allowed) return forbidden();
    return finish(not_implemented(c, only->message, ka));
  }
  if (route_is(req, parts, "POST", {"v1", "admin", "snapshot"})) {
    route = "POST /v1/admin/snapshot";
    if (!who.admin()) return forbidden();
    return finish(http_error(c, core::Code::invalid_state, "snapshots belong to the embedded store", ka));
  }
  if (route_is(req, parts, "POST", {"v1", "admin", "reconcile"})) {
    route = "POST /v1/admin/reconcile";
    if (!who.admin()) return forbidden();
    core::Outcome o = store_->reconcile(true, wall_clock_ms(), &r);
    if (!o.ok()) return finish(http_outcome_error(c, o, ka));
    if (srv_.ledger_) {
      for (std::string& d : srv_.ledger_->reconcile(true, nullptr)) r.drift.push_back("ledger: " + std::move(d));
    }
    net::render_reconcile(body, r.skus_checked, r.drift);
    http_reply(c, 200, body, ka);
    return finish(200);
  }
  return false;
}

// GET /v1/availability?channel=C&sku=A&sku=B, with the embedded server's checks in its order.
void ClusterWorker::http_availability(ClusterConn& c, const HttpRequest& req, const Principal& who,
                                      std::int64_t start_us) {
  const bool ka = req.keep_alive;
  const char* route = "GET /v1/availability";
  auto finish = [&](int status) { srv_.record(route, status, steady_us() - start_us); };
  const std::string* channel = query_param(req, "channel");
  if (!channel) return finish(http_error(c, core::Code::invalid_request, "query parameter channel is required", ka));
  if (!who.may_act_for(*channel)) {
    return finish(http_error(c, core::Code::forbidden, forbidden_message(req), ka));
  }
  const std::string unknown_channel = "unknown channel " + *channel;
  if (!core::is_identifier(*channel)) return finish(http_error(c, core::Code::unknown_channel, unknown_channel, ka));
  std::vector<std::string_view> skus;
  for (const auto& [k, v] : req.query)
    if (k == "sku") skus.push_back(v);
  backends::StoreReply r;
  // Where the store is not asked, the channel is looked up on its own: the embedded server answers an
  // unknown channel before anything about the SKUs.
  auto channel_known = [&](bool* known) {
    backends::StoreReply lr;
    core::Outcome o = store_->list_channels(&lr);
    if (!o.ok()) return o;
    *known = false;
    for (const backends::ChannelRecord& ch : lr.channels) *known = *known || ch.name == *channel;
    return o;
  };
  if (skus.empty() || skus.size() > kListLimitMax) {
    bool known = false;
    if (core::Outcome o = channel_known(&known); !o.ok()) return finish(http_outcome_error(c, o, ka));
    if (!known) return finish(http_error(c, core::Code::unknown_channel, unknown_channel, ka));
    return finish(http_error(c, core::Code::invalid_request,
                        skus.empty() ? "name at least one sku=" : "at most 1000 skus per request", ka));
  }
  // Each name once, in the order asked; only identifiers go to the store (others are unknown).
  std::vector<std::string_view> asked;
  std::vector<std::string_view> valid;
  std::unordered_set<std::string_view> seen;
  for (std::string_view s : skus) {
    if (!seen.insert(s).second) continue;
    asked.push_back(s);
    if (core::is_identifier(s)) valid.push_back(s);
  }
  std::unordered_map<std::string_view, std::int64_t> available;
  if (!valid.empty()) {
    core::Outcome o = store_->availability(*channel, valid, wall_clock_ms(), &r);
    if (o.code == core::Code::unknown_channel) return finish(http_error(c, o.code, unknown_channel, ka));
    if (!o.ok()) return finish(http_outcome_error(c, o, ka));
    for (const auto& [name, n] : r.available) available.emplace(name, n);
  } else {
    bool known = false;
    if (core::Outcome o = channel_known(&known); !o.ok()) return finish(http_outcome_error(c, o, ka));
    if (!known) return finish(http_error(c, core::Code::unknown_channel, unknown_channel, ka));
  }
  // `available` keys point into r; render before r goes.
  std::vector<net::AskedSku> rows;
  for (std::string_view name : asked) {
    auto it = available.find(name);
    rows.push_back({name, it == available.end() ? std::nullopt : std::optional(it->second)});
  }
  std::string body;
  net::render_availability(body, *channel, rows);
  http_reply(c, 200, body, ka);
  finish(200);
}

void ClusterWorker::check_hold_owner(std::string_view id, const Principal& who, bool* forbidden,
                                     core::Outcome* unknown) {
  *forbidden = false;
  *unknown = core::Outcome{};
  if (who.admin() || !core::is_identifier(id)) return;
  backends::StoreReply r;
  core::Outcome o = store_->get_hold(id, wall_clock_ms(), &r);
  if (o.ok()) *forbidden = !who.may_act_for(r.hold.channel);
  else if (o.code == core::Code::unknown_hold) *unknown = std::move(o);
}

}  // namespace stockd::server
