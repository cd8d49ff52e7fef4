// HTTP/JSON API: routing, authorization, and turning requests into engine commands or read replies.
// Paths and bodies follow the contract; docs/api.md documents every route.
#include <string>

#include "core/inventory.h"
#include "core/limits.h"
#include "net/api_json.h"
#include "net/http_parser.h"
#include "net/http_response.h"
#include "net/movement_json.h"
#include "server/alerts.h"
#include "server/conn.h"
#include "server/delivery.h"
#include "server/http_reply.h"
#include "server/http_route.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace stockd::server {
namespace {

constexpr std::int64_t kWaitSecondsMax = 60;
constexpr std::size_t kEventsLimitMax = 10'000;
constexpr std::int64_t kMovementsLimitDefault = 100;

}  // namespace

void Server::http_reply(Conn& c, int status, const std::string& body, bool keep_alive) {
  server::http_reply(c, status, body, keep_alive);
}

void Server::http_error(Conn& c, core::Code code, const std::string& message, bool keep_alive) {
  server::http_error(c, code, message, keep_alive);
}

// One HTTP request being handled: what every route needs to answer it and to count it.
struct Server::HttpCall {
  Server& s;
  Conn& c;
  const HttpRequest& req;
  std::vector<std::string_view> parts;
  std::int64_t start;
  bool ka;

  bool is(std::string_view method, std::initializer_list<std::string_view> shape) const {
    return route_is(req, parts, method, shape);
  }
  bool done(const char* route, int status) {
    s.metrics_.request(route, status, s.now_us() - start);
    return true;
  }
  // An error answered now must not overtake this connection's writes waiting in the batch (HTTP
  // pipelining): then the request waits (returns false) and is answered after the batch, in order.
  bool fail(const char* route, core::Code code, const std::string& msg) {
    if (c.inflight > 0) return false;
    s.http_error(c, code, msg, ka);
    return done(route, core::http_status(code));
  }
  bool forbidden(const char* route) { return fail(route, core::Code::forbidden, forbidden_message(req)); }
  bool reply(const char* route, const std::string& body) {
    s.http_reply(c, 200, body, ka);
    return done(route, 200);
  }
};

bool Server::http_request(Conn& c, const HttpRequest& req) {
  HttpCall h{*this, c, req, split_path(req.path), round_start_us_, req.keep_alive};
  if (std::optional<bool> r = http_ops(h)) return *r;

  Principal who = c.principal;
  if (auth_.enabled()) {
    who = auth_.identify_header(req.authorization);
    if (who.kind == Principal::Kind::none) {
      if (c.inflight > 0) return false;
      http_error(c, core::Code::unauthorized,
                 req.authorization.empty() ? "send Authorization: Bearer <token>" : "invalid token", h.ka);
      return h.done("unauthorized", 401);
    }
  }
  if (std::optional<bool> r = http_write(h, who)) return *r;
  // Reads: never overtake this connection's writes in the current batch.
  if (c.inflight > 0) return false;
  if (std::optional<bool> r = http_read(h, who)) return *r;
  if (std::optional<bool> r = http_admin(h, who)) return *r;
  if (std::optional<bool> r = http_outbound(h, who)) return *r;
  http_error(c, core::Code::invalid_request, no_route_message(req, h.parts), h.ka);
  return h.done("unknown", 400);
}

// Unauthenticated operational endpoints.
std::optional<bool> Server::http_ops(HttpCall& h) {
  Conn& c = h.c;
  if (h.is("GET", {"healthz"})) {
    if (c.inflight > 0) return false;
    std::string body;
    net::render_status(body, "ok");
    return h.reply("GET /healthz", body);
  }
  if (h.is("GET", {"readyz"})) {
    if (c.inflight > 0) return false;
    bool ready = engine_.healthy() && !draining_;
    std::string body;
    net::render_status(body, "ready");
    if (ready) http_reply(c, 200, body, h.ka);
    else http_error(c, core::Code::unavailable, draining_ ? "draining" : "storage unavailable", h.ka);
    return h.done("GET /readyz", ready ? 200 : 503);
  }
  if (h.is("GET", {"metrics"})) {
    if (c.inflight > 0) return false;
    std::string body;
    render_metrics(body);
    net::append_response(c.out, 200, body, h.ka, "text/plain; version=0.0.4");
    if (!h.ka) c.close_after_flush = true;
    return h.done("GET /metrics", 200);
  }
  return std::nullopt;
}

// Writes join the current batch; they are answered when it is durable (http_deliver).
std::optional<bool> Server::http_write(HttpCall& h, const Principal& who) {
  HttpWrite w;
  if (!match_write_route(h.req, h.parts, who, &w)) return std::nullopt;
  const core::Inventory& inv = engine_.inventory();
  if (w.forbidden) return h.forbidden(w.route);
  if (!w.hold_id.empty() && !who.admin()) {
    std::uint32_t hold = inv.find_hold(w.hold_id);
    if (hold != core::kNoIndex && !who.may_act_for(inv.channel_name(inv.hold_channel(hold)))) {
      return h.forbidden(w.route);
    }
  }
  // The decoders' commands pass core::validate(); the engine checks again (ClosePool's path names).
  if (!w.status.ok()) return h.fail(w.route, w.status.code, w.status.message);
  if (batch_.size() >= static_cast<std::size_t>(opt_.max_queue) ) {
    ++overloaded_total_;
    return h.fail(w.route, core::Code::overloaded, "write queue full, retry later");
  }
  auto reply = static_cast<std::uint8_t>(w.view);
  batch_.push_back(engine::BatchItem{std::move(w.command), now_ms(), {}, 0});
  pending_.push_back(Pending{&h.c, w.route, h.start, reply, h.ka});
  ++h.c.inflight;
  return true;
}

// Reads of channels, SKUs, availability and holds, answered from memory.
std::optional<bool> Server::http_read(HttpCall& h, const Principal& who) {
  const core::Inventory& inv = engine_.inventory();
  const HttpRequest& req = h.req;
  std::string body;
  if (h.is("GET", {"v1", "channels"})) {
    if (!who.admin()) return h.forbidden("GET /v1/channels");
    net::render_channel_list(body, inv);
    return h.reply("GET /v1/channels", body);
  }
  if (h.is("GET", {"v1", "skus"})) {
    const char* r = "GET /v1/skus";
    if (!who.admin()) return h.forbidden(r);
    std::int64_t offset = 0, limit = 100;
    if (!query_int(req, "offset", 0, INT64_MAX, &offset) || !query_int(req, "limit", 1, kListLimitMax, &limit))
      return h.fail(r, core::Code::invalid_request, "offset must be >= 0 and limit 1..1000");
    net::render_sku_list(body, inv, static_cast<std::size_t>(offset), static_cast<std::size_t>(limit));
    return h.reply(r, body);
  }
  if (h.is("GET", {"v1", "skus", "*"})) {
    const char* r = "GET /v1/skus/{sku}";
    if (!who.admin()) return h.forbidden(r);
    std::uint32_t sku = inv.find_sku(h.parts[2]);
    if (sku == core::kNoIndex) return h.fail(r, core::Code::unknown_sku, "unknown sku " + std::string(h.parts[2]));
    net::render_sku(body, inv.sku(sku));
    return h.reply(r, body);
  }
  if (h.is("GET", {"v1", "availability"})) {
    const char* r = "GET /v1/availability";
    const std::string* channel = query_param(req, "channel");
    if (!channel) return h.fail(r, core::Code::invalid_request, "query parameter channel is required");
    if (!who.may_act_for(*channel)) return h.forbidden(r);
    std::uint32_t ch = inv.find_channel(*channel);
    if (ch == core::kNoIndex) return h.fail(r, core::Code::unknown_channel, "unknown channel " + *channel);
    std::vector<std::string_view> skus;
    for (const auto& [k, v] : req.query)
      if (k == "sku") skus.push_back(v);
    if (skus.empty()) return h.fail(r, core::Code::invalid_request, "name at least one sku=");
    if (skus.size() > kListLimitMax) return h.fail(r, core::Code::invalid_request, "at most 1000 skus per request");
    net::render_availability(body, inv, ch, skus);
    return h.reply(r, body);
  }
  if (h.is("GET", {"v1", "holds", "*"})) {
    const char* r = "GET /v1/holds/{id}";
    std::uint32_t hold = inv.find_hold(h.parts[2]);
    if (hold == core::kNoIndex) return h.fail(r, core::Code::unknown_hold, "unknown hold " + std::string(h.parts[2]));
    if (!who.may_act_for(inv.channel_name(inv.hold_channel(hold)))) return h.forbidden(r);
    net::render_hold(body, inv.hold(hold));
    return h.reply(r, body);
  }
  return std::nullopt;
}

// The event feed and the admin actions (snapshot, reconcile).
std::optional<bool> Server::http_admin(HttpCall& h, const Principal& who) {
  Conn& c = h.c;
  bool events = h.is("GET", {"v1", "events"});
  if (events || h.is("GET", {"v1", "channels", "*", "publications"})) {
    const char* r = events ? "GET /v1/events" : "GET /v1/channels/{channel}/publications";
    std::uint32_t ch = core::kNoIndex;
    if (events && !who.admin()) return h.forbidden(r);
    if (!events) {
      if (!who.may_act_for(h.parts[2])) return h.forbidden(r);
      ch = engine_.inventory().find_channel(h.parts[2]);
      if (ch == core::kNoIndex)
        return h.fail(r, core::Code::unknown_channel, "unknown channel " + std::string(h.parts[2]));
    }
    std::int64_t after = 0, limit = 100, wait_s = 0;
    if (!query_int(h.req, "after", 0, INT64_MAX, &after) || !query_int(h.req, "limit", 1, kEventsLimitMax, &limit) ||
        !query_int(h.req, "wait_s", 0, kWaitSecondsMax, &wait_s))
      return h.fail(r, core::Code::invalid_request, "after >= 0, limit 1..10000, wait_s 0..60");
    c.poll_channel = ch;
    c.poll_after = static_cast<std::uint64_t>(after);
    c.poll_limit = static_cast<std::size_t>(limit);
    c.poll_keep_alive = h.ka;
    c.poll_start_us = h.start;
    if (poll_ready(c) || wait_s == 0) {
      answer_poll(c);
    } else {
      c.polling = true;
      c.poll_deadline_ms = now_ms() + wait_s * 1000;
      polls_.push_back(&c);
    }
    return true;
  }
  if (h.is("GET", {"v1", "movements"})) {
    const char* r = "GET /v1/movements";
    if (!who.admin()) return h.forbidden(r);
    const std::string* sku = query_param(h.req, "sku");
    if (!sku) return h.fail(r, core::Code::invalid_request, "query parameter sku is required");
    std::int64_t after = 0, limit = kMovementsLimitDefault;
    if (!query_int(h.req, "after", 0, INT64_MAX, &after) ||
        !query_int(h.req, "limit", 1, static_cast<std::int64_t>(kListLimitMax), &limit))
      return h.fail(r, core::Code::invalid_request, "after >= 0, limit 1..1000");
    if (engine_.inventory().find_sku(*sku) == core::kNoIndex)
      return h.fail(r, core::Code::unknown_sku, "unknown sku " + *sku);
    if (core::Status st = engine_.movements(*sku, static_cast<std::uint64_t>(after), static_cast<std::size_t>(limit),
                                            &movements_page_);
        !st.ok())
      return h.fail(r, st.code, st.message);
    std::string body;
    std::uint64_t next = movements_page_.empty() ? static_cast<std::uint64_t>(after) : movements_page_.back().seq;
    net::render_movements_page(movements_page_, next, body);
    return h.reply(r, body);
  }
  if (h.is("POST", {"v1", "admin", "snapshot"})) {
    const char* r = "POST /v1/admin/snapshot";
    if (!who.admin()) return h.forbidden(r);
    std::uint64_t lsn = 0;
    if (engine_.in_flight()) {  // the snapshot is taken between batches: finish the one in flight
      engine_.wait();
      finish_batch();
    }
    if (core::Status s = engine_.snapshot(&lsn); !s.ok()) {
      return h.fail(r, core::Code::unavailable, "snapshot failed: " + s.message);
    }
    std::string body;
    net::render_snapshot(body, lsn);
    return h.reply(r, body);
  }
  if (h.is("POST", {"v1", "admin", "reconcile"})) {
    const char* r = "POST /v1/admin/reconcile";
    if (!who.admin()) return h.forbidden(r);
    // The embedded store has one copy of the truth: reconciling means checking that every SKU's
    // buckets, held totals and holds agree (the core's invariants). Cluster stores compare stores.
    std::string body;
    net::render_reconcile(body, engine_.inventory().sku_count(), engine_.inventory().check_invariants());
    return h.reply(r, body);
  }
  return std::nullopt;
}

// /v1/alerts and /v1/deliveries (docs/api.md "Alerts and deliveries"), all admin.
std::optional<bool> Server::http_outbound(HttpCall& h, const Principal& who) {
  std::string body;
  if (h.is("GET", {"v1", "alerts"}) || h.is("PUT", {"v1", "alerts"})) {
    bool put = h.req.method == "PUT";
    const char* r = put ? "PUT /v1/alerts" : "GET /v1/alerts";
    if (!who.admin()) return h.forbidden(r);
    if (!outbound_.alerts) return h.fail(r, core::Code::invalid_state, "alerts are not available on this server");
    if (put) {
      AlertConfig conf;
      if (core::Status s = decode_alert_config(h.req.body, &conf); !s.ok()) return h.fail(r, s.code, s.message);
      if (core::Status s = outbound_.alerts->put(conf); !s.ok()) return h.fail(r, s.code, s.message);
      spdlog::info("event=alerts_configured to={} format={}", url_origin(conf.url), alert_format_name(conf.format));
    }
    outbound_.alerts->render(body);
    return h.reply(r, body);
  }
  if (h.is("POST", {"v1", "alerts", "test"})) {
    const char* r = "POST /v1/alerts/test";
    if (!who.admin()) return h.forbidden(r);
    if (!outbound_.alerts || !outbound_.alerts->send_test(now_ms()))
      return h.fail(r, core::Code::invalid_state, "no alert url is configured (PUT /v1/alerts)");
    outbound_.alerts->step(now_ms());  // start it now rather than at the next tick
    outbound_.alerts->render(body);
    return h.reply(r, body);
  }
  if (h.is("GET", {"v1", "deliveries"})) {
    const char* r = "GET /v1/deliveries";
    if (!who.admin()) return h.forbidden(r);
    if (outbound_.deliveries) outbound_.deliveries->render(body, now_ms());
    else body = "{\"deliveries\":[]}";
    return h.reply(r, body);
  }
  return std::nullopt;
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
        break;
      case WriteView::batch:
        net::render_batch(body, *o.batch, inv);
        if (o.batch->failed) status = 409;
        break;
      case WriteView::ack: net::render_ack(body, inv.channel(o.index)); break;
    }
  }
  http_reply(c, status, body, p.keep_alive);
  metrics_.request(p.route, status, now_us() - p.start_us);
}

bool Server::poll_ready(const Conn& c) const {
  if (c.poll_channel == core::kNoIndex) return feed_.last_seq() > c.poll_after;
  const core::Inventory& inv = engine_.inventory();
  return inv.last_publication_seq(c.poll_channel) > c.poll_after &&
         !inv.publications(c.poll_channel, c.poll_after, 1).empty();
}

void Server::answer_poll(Conn& c) {
  std::string body;
  const char* route = "GET /v1/events";
  if (c.poll_channel == core::kNoIndex) {
    feed_.render_page(c.poll_after, c.poll_limit, body);
  } else {
    route = "GET /v1/channels/{channel}/publications";
    std::vector<core::PublicationView> pubs =
        engine_.inventory().publications(c.poll_channel, c.poll_after, c.poll_limit);
    net::render_publications(body, pubs, pubs.empty() ? c.poll_after : pubs.back().seq);
  }
  http_reply(c, 200, body, c.poll_keep_alive);
  metrics_.request(route, 200, now_us() - c.poll_start_us);
  c.polling = false;
}

void Server::answer_polls() {
  if (polls_.empty()) return;
  std::int64_t now = now_ms();
  std::vector<Conn*> still;
  for (Conn* c : polls_) {
    if (c->fd < 0) continue;
    if (poll_ready(*c) || now >= c->poll_deadline_ms) {
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
