// HTTP/JSON API: routing, authorization, and turning requests into engine commands or read replies.
// Paths and bodies follow ../shared/CONTRACT.md; docs/api.md documents every route.
#include <string>

#include "core/inventory.h"
#include "core/limits.h"
#include "net/api_json.h"
#include "net/http_parser.h"
#include "net/http_response.h"
#include "server/conn.h"
#include "server/http_reply.h"
#include "server/http_route.h"
#include "server/server.h"

namespace stockd::server {
namespace {

constexpr std::int64_t kWaitSecondsMax = 60;
constexpr std::size_t kEventsLimitMax = 10'000;

}  // namespace

void Server::http_reply(Conn& c, int status, const std::string& body, bool keep_alive) {
  server::http_reply(c, status, body, keep_alive);
}

void Server::http_error(Conn& c, core::Code code, const std::string& message, bool keep_alive) {
  server::http_error(c, code, message, keep_alive);
}

bool Server::http_request(Conn& c, const HttpRequest& req) {
  std::int64_t start = round_start_us_;
  bool ka = req.keep_alive;
  auto parts = split_path(req.path);
  auto is = [&](std::string_view method, std::initializer_list<std::string_view> shape) {
    return route_is(req, parts, method, shape);
  };
  auto done = [&](const char* route, int status) {
    metrics_.request(route, status, now_us() - start);
    return true;
  };
  // An error answered now must not overtake this connection's writes waiting in the batch (HTTP
  // pipelining): then the request waits (returns false) and is answered after the batch, in order.
  auto fail = [&](const char* route, core::Code code, const std::string& msg) {
    if (c.inflight > 0) return false;
    http_error(c, code, msg, ka);
    return done(route, core::http_status(code));
  };

  // Unauthenticated operational endpoints.
  if (is("GET", {"healthz"})) {
    if (c.inflight > 0) return false;
    http_reply(c, 200, "{\"status\":\"ok\"}", ka);
    return done("GET /healthz", 200);
  }
  if (is("GET", {"readyz"})) {
    if (c.inflight > 0) return false;
    bool ready = engine_.healthy() && !draining_;
    if (ready) http_reply(c, 200, "{\"status\":\"ready\"}", ka);
    else http_error(c, core::Code::unavailable, draining_ ? "draining" : "storage unavailable", ka);
    return done("GET /readyz", ready ? 200 : 503);
  }
  if (is("GET", {"metrics"})) {
    if (c.inflight > 0) return false;
    std::string body;
    render_metrics(body);
    net::append_response(c.out, 200, body, ka, "text/plain; version=0.0.4");
    if (!ka) c.close_after_flush = true;
    return done("GET /metrics", 200);
  }

  Principal who = c.principal;
  if (auth_.enabled()) {
    who = auth_.identify_header(req.authorization);
    if (who.kind == Principal::Kind::none) {
      if (c.inflight > 0) return false;
      http_error(c, core::Code::unauthorized,
                 req.authorization.empty() ? "send Authorization: Bearer <token>" : "invalid token", ka);
      return done("unauthorized", 401);
    }
  }
  const core::Inventory& inv = engine_.inventory();
  auto forbidden = [&](const char* route) { return fail(route, core::Code::forbidden, forbidden_message(req)); };

  // Writes.
  HttpWrite w;
  if (match_write_route(req, parts, who, &w)) {
    if (w.forbidden) return forbidden(w.route);
    if (!w.hold_id.empty() && !who.admin()) {
      std::uint32_t h = inv.find_hold(w.hold_id);
      if (h != core::kNoIndex && !who.may_act_for(inv.channel_name(inv.hold_channel(h)))) return forbidden(w.route);
    }
    // The decoders' commands pass core::validate(); the engine checks again (ClosePool's path names).
    if (w.code != core::Code::ok) return fail(w.route, w.code, w.error);
    if (batch_.size() >= static_cast<std::size_t>(opt_.max_queue) ) {
      ++overloaded_total_;
      return fail(w.route, core::Code::overloaded, "write queue full, retry later");
    }
    auto reply = static_cast<std::uint8_t>(w.view);
    batch_.push_back(engine::BatchItem{std::move(w.command), now_ms(), {}, 0});
    pending_.push_back(Pending{&c, w.route, start, reply, ka});
    ++c.inflight;
    return true;
  }

  // Reads: never overtake this connection's writes in the current batch.
  if (c.inflight > 0) return false;
  std::string body;
  if (is("GET", {"v1", "channels"})) {
    if (!who.admin()) return forbidden("GET /v1/channels");
    net::render_channel_list(body, inv);
    http_reply(c, 200, body, ka);
    return done("GET /v1/channels", 200);
  }
  if (is("GET", {"v1", "skus"})) {
    const char* r = "GET /v1/skus";
    if (!who.admin()) return forbidden(r);
    std::int64_t offset = 0, limit = 100;
    if (!query_int(req, "offset", 0, INT64_MAX, &offset) || !query_int(req, "limit", 1, kListLimitMax, &limit))
      return fail(r, core::Code::invalid_request, "offset must be >= 0 and limit 1..1000");
    net::render_sku_list(body, inv, static_cast<std::size_t>(offset), static_cast<std::size_t>(limit));
    http_reply(c, 200, body, ka);
    return done(r, 200);
  }
  if (is("GET", {"v1", "skus", "*"})) {
    const char* r = "GET /v1/skus/{sku}";
    if (!who.admin()) return forbidden(r);
    std::uint32_t sku = inv.find_sku(parts[2]);
    if (sku == core::kNoIndex) return fail(r, core::Code::unknown_sku, "unknown sku " + std::string(parts[2]));
    net::render_sku(body, inv.sku(sku));
    http_reply(c, 200, body, ka);
    return done(r, 200);
  }
  if (is("GET", {"v1", "availability"})) {
    const char* r = "GET /v1/availability";
    const std::string* channel = query_param(req, "channel");
    if (!channel) return fail(r, core::Code::invalid_request, "query parameter channel is required");
    if (!who.may_act_for(*channel)) return forbidden(r);
    std::uint32_t ch = inv.find_channel(*channel);
    if (ch == core::kNoIndex) return fail(r, core::Code::unknown_channel, "unknown channel " + *channel);
    std::vector<std::string_view> skus;
    for (const auto& [k, v] : req.query)
      if (k == "sku") skus.push_back(v);
    if (skus.empty()) return fail(r, core::Code::invalid_request, "name at least one sku=");
    if (skus.size() > kListLimitMax) return fail(r, core::Code::invalid_request, "at most 1000 skus per request");
    net::render_availability(body, inv, ch, skus);
    http_reply(c, 200, body, ka);
    return done(r, 200);
  }
  if (is("GET", {"v1", "holds", "*"})) {
    const char* r = "GET /v1/holds/{id}";
    std::uint32_t h = inv.find_hold(parts[2]);
    if (h == core::kNoIndex) return fail(r, core::Code::unknown_hold, "unknown hold " + std::string(parts[2]));
    if (!who.may_act_for(inv.channel_name(inv.hold_channel(h)))) return forbidden(r);
    net::render_hold(body, inv.hold(h));
    http_reply(c, 200, body, ka);
    return done(r, 200);
  }
  if (is("GET", {"v1", "events"})) {
    const char* r = "GET /v1/events";
    if (!who.admin()) return forbidden(r);
    std::int64_t after = 0, limit = 100, wait_s = 0;
    if (!query_int(req, "after", 0, INT64_MAX, &after) ||
        !query_int(req, "limit", 1, kEventsLimitMax, &limit) ||
        !query_int(req, "wait_s", 0, kWaitSecondsMax, &wait_s))
      return fail(r, core::Code::invalid_request, "after >= 0, limit 1..10000, wait_s 0..60");
    c.poll_after = static_cast<std::uint64_t>(after);
    c.poll_limit = static_cast<std::size_t>(limit);
    c.poll_keep_alive = ka;
    c.poll_start_us = start;
    if (feed_.last_seq() > c.poll_after || wait_s == 0) {
      answer_poll(c);
    } else {
      c.polling = true;
      c.poll_deadline_ms = now_ms() + wait_s * 1000;
      polls_.push_back(&c);
    }
    return true;
  }
  if (is("POST", {"v1", "admin", "snapshot"})) {
    const char* r = "POST /v1/admin/snapshot";
    if (!who.admin()) return forbidden(r);
    std::string error;
    std::uint64_t lsn = 0;
    if (engine_.in_flight()) {  // the snapshot is taken between batches: finish the one in flight
      engine_.wait();
      finish_batch();
    }
    if (!engine_.snapshot(&lsn, &error)) return fail(r, core::Code::unavailable, "snapshot failed: " + error);
    http_reply(c, 200, "{\"snapshot\":{\"lsn\":" + std::to_string(lsn) + "}}", ka);
    return done(r, 200);
  }
  if (is("POST", {"v1", "admin", "reconcile"})) {
    const char* r = "POST /v1/admin/reconcile";
    if (!who.admin()) return forbidden(r);
    // The embedded store has one copy of the truth: reconciling means checking that every SKU's
    // buckets, held totals and holds agree (the core's invariants). Cluster stores compare stores.
    std::string problem = inv.check_invariants();
    net::render_reconcile(body, inv.sku_count(), problem);
    http_reply(c, 200, body, ka);
    return done(r, 200);
  }
  http_error(c, core::Code::invalid_request, no_route_message(req, parts), ka);
  return done("unknown", 400);
}

void Server::http_deliver(Conn& c, const Pending& p, const core::Outcome& o) {
  std::string body;
  int status = 200;
  if (!o.ok()) {
    status = core::http_status(o.code);
    net::render_outcome_error(body, o);
  } else {
    const core::Inventory& inv = engine_.inventory();
    switch (static_cast<WriteView>(p.reply)) {
      case WriteView::channel: net::render_channel(body, inv.channel(o.index)); break;
      case WriteView::sku: net::render_sku(body, inv.sku(o.index)); break;
      case WriteView::hold:
        net::render_hold(body, inv.hold(o.index));
        if (o.created) status = 201;
    }
  }
  http_reply(c, status, body, p.keep_alive);
  metrics_.request(p.route, status, now_us() - p.start_us);
}

void Server::answer_poll(Conn& c) {
  std::string body;
  feed_.render_page(c.poll_after, c.poll_limit, body);
  http_reply(c, 200, body, c.poll_keep_alive);
  metrics_.request("GET /v1/events", 200, now_us() - c.poll_start_us);
  c.polling = false;
}

void Server::answer_polls() {
  if (polls_.empty()) return;
  std::int64_t now = now_ms();
  std::uint64_t last = feed_.last_seq();
  std::vector<Conn*> still;
  for (Conn* c : polls_) {
    if (c->fd < 0) continue;
    if (last > c->poll_after || now >= c->poll_deadline_ms) {
      answer_poll(*c);
      if (c->pending_output() > 0 && !c->in_dirty) {
        c->in_dirty = true;
        dirty_.push_back(c);
      }
      if (!c->input().empty() && !c->in_ready) {
        c->in_ready = true;
        ready_.push_back(c);
      }
    } else {
      still.push_back(c);
    }
  }
  polls_.swap(still);
}

}  // namespace stockd::server

namespace stockd::server {

void Server::http_input(Conn& c) {
  net::HttpRequestView view;
  HttpRequest req;
  while (c.fd >= 0 && !c.close_after_flush && !c.polling) {
    std::string_view in = c.input();
    if (in.empty()) break;
    net::HttpParseResult r = c.http->parse(in, &view);
    if (r.status == net::HttpParseStatus::incomplete) {
      if (r.send_continue) net::append_continue(c.out);
      break;
    }
    if (r.status == net::HttpParseStatus::error) {
      http_parse_error(c, r);
      metrics_.request("malformed", r.http_status, 0);
      break;
    }
    request_from_view(view, &req);
    if (!http_request(c, req)) {
      c.waiting_batch = true;
      break;
    }  // waits for this connection's writes in the batch
    c.in_pos += r.consumed;
  }
}

}  // namespace stockd::server
