// HTTP/JSON API: routing, authorization, and turning requests into engine commands or read replies.
// Paths and bodies follow the contract; docs/api.md documents every route.
#include <string>

#include "core/assert.h"
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
  if (!caps_all_) {
    if (std::optional<bool> r = capability_refusal(h, who)) return *r;
  }
  if (std::optional<bool> r = http_write(h, who)) return *r;
  // Reads: never overtake this connection's requests in flight.
  if (c.inflight > 0) return false;
  if (std::optional<bool> r = http_read(h, who)) return *r;
  if (std::optional<bool> r = http_admin(h, who)) return *r;
  if (std::optional<bool> r = http_outbound(h, who)) return *r;
  http_error(c, core::Code::invalid_request, no_route_message(req, h.parts), h.ka);
  return h.done("unknown", 400);
}

// The one place that answers a route whose capability the store lacks (store.h): after the route's
// own authorization, 501 not_implemented (a snapshot: 409 invalid_state), with the capability's message.
std::optional<bool> Server::capability_refusal(HttpCall& h, const Principal& who) {
  const CapabilityRoute* cr = match_capability_route(h.req, h.parts);
  if (cr == nullptr || caps_.has(cr->capability)) return std::nullopt;
  if (h.c.inflight > 0) return false;
  bool allowed = cr->channel_part >= 0 ? who.may_act_for(h.parts[static_cast<std::size_t>(cr->channel_part)])
                                       : who.admin();
  if (!allowed) return h.forbidden(cr->route);
  const char* message = store::capability_message(cr->capability);
  if (cr->capability == store::Capability::snapshot) return h.fail(cr->route, core::Code::invalid_state, message);
  std::string body;
  net::render_error_named(body, "not_implemented", message);
  http_reply(h.c, 501, body, h.ka);
  return h.done(cr->route, 501);
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
    bool ready = store_.healthy() && !draining_;
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

namespace {

store::Want want_of(WriteView v) {
  switch (v) {
    case WriteView::channel: return store::Want::channel;
    case WriteView::sku: return store::Want::sku;
    case WriteView::hold: return store::Want::hold;
    case WriteView::batch: return store::Want::batch;
    case WriteView::ack: return store::Want::ack;
  }
  return store::Want::none;
}

// forbidden_message(req) into a reused string.
void assign_forbidden(std::string& out, const HttpRequest& req) {
  out.assign("this token may not use ");
  out.append(req.method);
  out.push_back(' ');
  out.append(req.path);
}

}  // namespace

// Writes go to the store; they are answered when they complete (http_write_done). The store checks
// the hold's owner for a channel's token (store.h, Write::acting_channel).
std::optional<bool> Server::http_write(HttpCall& h, const Principal& who) {
  HttpWrite w;
  if (!match_write_route(h.req, h.parts, who, &w)) return std::nullopt;
  if (w.forbidden) return h.forbidden(w.route);
  store::Write sw;
  sw.cmd = &w.command;
  sw.now_ms = now_ms();
  sw.stream = h.c.id;
  sw.want = want_of(w.view);
  sw.status = std::move(w.status);
  if (!who.admin() && !w.hold_id.empty()) {
    sw.hold_id = w.hold_id;
    sw.acting_channel = who.channel;
  }
  sw.queue_max = static_cast<std::size_t>(opt_.max_queue);
  std::uint32_t slot = pending_slot();
  Pending& p = pendings_[slot];
  p.conn = &h.c;
  p.route = w.route;
  p.start_us = h.start;
  p.reply = static_cast<std::uint8_t>(w.view);
  p.keep_alive = h.ka;
  p.forbidden.clear();
  if (!sw.acting_channel.empty()) assign_forbidden(p.forbidden, h.req);
  sw.tag = slot;
  core::Code code = store_.submit(sw);
  if (code == core::Code::ok) {
    ++h.c.inflight;
    return true;
  }
  release_pending(slot);
  if (code == core::Code::forbidden) return h.forbidden(w.route);
  if (code == core::Code::overloaded) {
    ++overloaded_total_;
    return h.fail(w.route, core::Code::overloaded, "write queue full, retry later");
  }
  return h.fail(w.route, sw.status.code, sw.status.message);
}

// Hands a read to the store; it is answered when it completes (http_read_done; the embedded store
// completes it inside store_.read()).
bool Server::http_store_read(HttpCall& h, const char* route, store::Read& r) {
  std::uint32_t slot = pending_slot();
  Pending& p = pendings_[slot];
  p.conn = &h.c;
  p.route = route;
  p.start_us = h.start;
  p.reply = 0;
  p.keep_alive = h.ka;
  p.forbidden.clear();
  if (!r.acting_channel.empty()) assign_forbidden(p.forbidden, h.req);
  r.tag = slot;
  r.stream = h.c.id;
  r.now_ms = now_ms();
  ++h.c.inflight;
  store_.read(r);
  return true;
}

// Reads of channels, SKUs, availability and holds.
std::optional<bool> Server::http_read(HttpCall& h, const Principal& who) {
  const HttpRequest& req = h.req;
  store::Read r;
  if (h.is("GET", {"v1", "channels"})) {
    if (!who.admin()) return h.forbidden("GET /v1/channels");
    r.kind = store::ReadKind::channels;
    return http_store_read(h, "GET /v1/channels", r);
  }
  if (h.is("GET", {"v1", "skus"})) {
    const char* route = "GET /v1/skus";
    if (!who.admin()) return h.forbidden(route);
    std::int64_t offset = 0, limit = 100;
    if (!query_int(req, "offset", 0, INT64_MAX, &offset) || !query_int(req, "limit", 1, kListLimitMax, &limit))
      return h.fail(route, core::Code::invalid_request, "offset must be >= 0 and limit 1..1000");
    r.kind = store::ReadKind::sku_list;
    r.offset = static_cast<std::size_t>(offset);
    r.limit = static_cast<std::size_t>(limit);
    return http_store_read(h, route, r);
  }
  if (h.is("GET", {"v1", "skus", "*"})) {
    const char* route = "GET /v1/skus/{sku}";
    if (!who.admin()) return h.forbidden(route);
    r.kind = store::ReadKind::sku;
    r.name = h.parts[2];
    return http_store_read(h, route, r);
  }
  if (h.is("GET", {"v1", "availability"})) {
    const char* route = "GET /v1/availability";
    const std::string* channel = query_param(req, "channel");
    if (!channel) return h.fail(route, core::Code::invalid_request, "query parameter channel is required");
    if (!who.may_act_for(*channel)) return h.forbidden(route);
    skus_asked_.clear();
    for (const auto& [k, v] : req.query)
      if (k == "sku") skus_asked_.push_back(v);
    // The store answers an unknown channel first, then none or too many SKUs (ReadKind::availability).
    r.kind = store::ReadKind::availability;
    r.name = *channel;
    r.skus = skus_asked_;
    r.limit = kListLimitMax;
    return http_store_read(h, route, r);
  }
  if (h.is("GET", {"v1", "holds", "*"})) {
    r.kind = store::ReadKind::hold;
    r.name = h.parts[2];
    if (!who.admin()) r.acting_channel = who.channel;
    return http_store_read(h, "GET /v1/holds/{id}", r);
  }
  return std::nullopt;
}

// The event feed, the movements history and the admin actions (snapshot, reconcile).
std::optional<bool> Server::http_admin(HttpCall& h, const Principal& who) {
  Conn& c = h.c;
  bool events = h.is("GET", {"v1", "events"});
  if (events || h.is("GET", {"v1", "channels", "*", "publications"})) {
    const char* r = events ? "GET /v1/events" : "GET /v1/channels/{channel}/publications";
    if (events && !who.admin()) return h.forbidden(r);
    if (!events) {
      if (!who.may_act_for(h.parts[2])) return h.forbidden(r);
      if (!store_.channel_exists(h.parts[2]))
        return h.fail(r, core::Code::unknown_channel, "unknown channel " + std::string(h.parts[2]));
    }
    std::int64_t after = 0, limit = 100, wait_s = 0;
    if (!query_int(h.req, "after", 0, INT64_MAX, &after) || !query_int(h.req, "limit", 1, kEventsLimitMax, &limit) ||
        !query_int(h.req, "wait_s", 0, kWaitSecondsMax, &wait_s))
      return h.fail(r, core::Code::invalid_request, "after >= 0, limit 1..10000, wait_s 0..60");
    if (events) c.poll_channel.clear();
    else c.poll_channel.assign(h.parts[2]);
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
    const char* route = "GET /v1/movements";
    if (!who.admin()) return h.forbidden(route);
    const std::string* sku = query_param(h.req, "sku");
    if (!sku) return h.fail(route, core::Code::invalid_request, "query parameter sku is required");
    std::int64_t after = 0, limit = kMovementsLimitDefault;
    if (!query_int(h.req, "after", 0, INT64_MAX, &after) ||
        !query_int(h.req, "limit", 1, static_cast<std::int64_t>(kListLimitMax), &limit))
      return h.fail(route, core::Code::invalid_request, "after >= 0, limit 1..1000");
    store::Read rd;
    rd.kind = store::ReadKind::movements;
    rd.name = *sku;
    rd.after = static_cast<std::uint64_t>(after);
    rd.limit = static_cast<std::size_t>(limit);
    return http_store_read(h, route, rd);
  }
  if (h.is("POST", {"v1", "admin", "snapshot"}) || h.is("POST", {"v1", "admin", "reconcile"})) {
    bool snapshot = h.req.path.ends_with("snapshot");
    const char* route = snapshot ? "POST /v1/admin/snapshot" : "POST /v1/admin/reconcile";
    if (!who.admin()) return h.forbidden(route);
    store::Read rd;
    rd.kind = snapshot ? store::ReadKind::snapshot : store::ReadKind::reconcile;
    return http_store_read(h, route, rd);
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

void Server::http_write_done(Conn& c, const Pending& p, const store::WriteDone& d) {
  const core::Outcome& o = *d.outcome;
  int status = 200;
  if (!o.ok()) {
    if (o.code == core::Code::forbidden && !p.forbidden.empty()) status = server::http_error(c, o.code, p.forbidden, p.keep_alive);
    else status = server::http_outcome_error(c, o, p.keep_alive);
    metrics_.request(p.route, status, now_us() - p.start_us);
    return;
  }
  std::string body;
  switch (static_cast<WriteView>(p.reply)) {
    case WriteView::channel: net::render_channel(body, *d.channel); break;
    case WriteView::sku: net::render_sku(body, *d.sku); break;
    case WriteView::hold:
      net::render_hold(body, *d.hold);
      if (o.created) status = 201;
      break;
    case WriteView::batch:
      net::render_batch(body, *o.batch, d.batch_skus);
      if (o.batch->failed) status = 409;
      break;
    case WriteView::ack: net::render_ack(body, *d.channel); break;
  }
  http_reply(c, status, body, p.keep_alive);
  metrics_.request(p.route, status, now_us() - p.start_us);
}

void Server::http_read_done(Conn& c, const Pending& p, const store::ReadDone& d) {
  const core::Outcome& o = *d.outcome;
  if (!o.ok()) {
    int status = o.code == core::Code::forbidden && !p.forbidden.empty()
                     ? server::http_error(c, o.code, p.forbidden, p.keep_alive)
                     : server::http_error(c, o.code, o.message, p.keep_alive);
    metrics_.request(p.route, status, now_us() - p.start_us);
    return;
  }
  std::string body;
  switch (d.kind) {
    case store::ReadKind::sku: net::render_sku(body, *d.sku); break;
    case store::ReadKind::hold: net::render_hold(body, *d.hold); break;
    case store::ReadKind::channels: net::render_channel_list(body, d.channels); break;
    case store::ReadKind::availability: {
      std::vector<net::AskedSku> asked;
      asked.reserve(d.available.size());
      for (const store::Available& a : d.available) asked.push_back({a.sku, a.units});
      net::render_availability(body, d.channel, asked);
      break;
    }
    case store::ReadKind::sku_list: net::render_sku_list(body, d.skus, d.total); break;
    case store::ReadKind::events: body.assign(d.json); break;
    case store::ReadKind::publications: net::render_publications(body, d.publications, d.next); break;
    case store::ReadKind::movements: net::render_movements_page(d.movements, d.next, body); break;
    case store::ReadKind::snapshot: net::render_snapshot(body, d.lsn); break;
    case store::ReadKind::reconcile: net::render_reconcile(body, d.skus_checked, d.drift); break;
    case store::ReadKind::avail:
    case store::ReadKind::sku_count: STOCKD_ASSERT(false);
  }
  http_reply(c, 200, body, p.keep_alive);
  metrics_.request(p.route, 200, now_us() - p.start_us);
}

bool Server::poll_ready(const Conn& c) { return store_.feed_has_after(c.poll_channel, c.poll_after); }

// A long poll's page: read from the store, answered by http_read_done.
void Server::answer_poll(Conn& c) {
  bool events = c.poll_channel.empty();
  const char* route = events ? "GET /v1/events" : "GET /v1/channels/{channel}/publications";
  c.polling = false;
  std::uint32_t slot = pending_slot();
  Pending& p = pendings_[slot];
  p.conn = &c;
  p.route = route;
  p.start_us = c.poll_start_us;
  p.reply = 0;
  p.keep_alive = c.poll_keep_alive;
  p.forbidden.clear();
  store::Read r;
  r.kind = events ? store::ReadKind::events : store::ReadKind::publications;
  r.tag = slot;
  r.stream = c.id;
  r.name = c.poll_channel;
  r.after = c.poll_after;
  r.limit = c.poll_limit;
  r.now_ms = now_ms();
  ++c.inflight;
  store_.read(r);
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
