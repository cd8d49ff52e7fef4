// The commands of stockctl: each subcommand of the CLI maps to one request of the contract (watch to
// a loop of long polls), its reply rendered as a table or passed through raw with --json.
#include "apps/stockctl/stockctl.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "apps/stockctl/args.h"
#include "apps/stockctl/ctx.h"
#include "apps/stockctl/import.h"
#include "apps/stockctl/outbound.h"
#include "apps/stockctl/raw_json.h"
#include "apps/stockctl/render.h"
#include "client/api_error.h"
#include "client/endpoint.h"
#include "client/http_client.h"

namespace stockctl {
namespace {

using json = nlohmann::json;
using stockd::client::kExitBadReply;
using stockd::client::kExitOk;
using stockd::client::kExitTransport;
using stockd::client::kExitUsage;
using stockd::client::url_escape;

constexpr int kWatchRetryDelayMs = 1000;
constexpr std::int64_t kPageLimitMax = 1000;  // the server's GET /v1/skus limit

void add_health(CLI::App& app, Action& action) {
  app.add_subcommand("health", "GET /healthz: is the server alive")->callback([&] {
    action = [](Ctx& c) { return c.show("GET", "/healthz", "", [](const json&, int) { return std::string("ok\n"); }); };
  });
  app.add_subcommand("ready", "GET /readyz: is the server ready to serve")->callback([&] {
    action = [](Ctx& c) { return c.show("GET", "/readyz", "", [](const json&, int) { return std::string("ready\n"); }); };
  });
  auto* m = app.add_subcommand("metrics", "GET /metrics: Prometheus text");
  auto grep = std::make_shared<std::string>();
  m->add_option("--grep", *grep, "only lines containing this text");
  m->callback([&, grep] {
    action = [grep](Ctx& c) {
      json reply;
      std::string raw;
      int rc = c.send("GET", "/metrics", "", &reply, &raw);
      if (rc != kExitOk || c.dry()) return rc;
      std::size_t pos = 0;
      while (pos < raw.size()) {
        auto eol = raw.find('\n', pos);
        std::string line = raw.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
        if (grep->empty() || line.find(*grep) != std::string::npos) c.out() << line << "\n";
        if (eol == std::string::npos) break;
        pos = eol + 1;
      }
      return kExitOk;
    };
  });
}

void add_channels(CLI::App& app, Action& action) {
  auto* ch = app.add_subcommand("channels", "sales channels")->require_subcommand(1);
  ch->add_subcommand("list", "GET /v1/channels")->callback([&] {
    action = [](Ctx& c) { return c.show("GET", "/v1/channels", "", plain(render_channel_list)); };
  });
  struct Get { std::string name; };
  auto get = std::make_shared<Get>();
  auto* g = ch->add_subcommand("get", "one channel (from GET /v1/channels)");
  g->add_option("channel", get->name, "the channel name")->required();
  g->callback([&, get] {
    action = [get](Ctx& c) {
      json reply;
      int rc = c.send("GET", "/v1/channels", "", &reply);
      if (rc != kExitOk || c.dry()) return rc;
      for (const auto& chan : reply.value("channels", json::array())) {
        if (chan.value("channel", "") != get->name) continue;
        c.out() << (c.json_mode() ? chan.dump() + "\n" : render_channel(chan));
        return kExitOk;
      }
      c.err() << "error: unknown_channel: no channel " << get->name << "\n";
      return stockd::client::exit_code_for(std::string_view("unknown_channel"));
    };
  });
  struct Put {
    std::string name;
    std::optional<std::int64_t> priority, ttl;
    std::optional<std::string> state;
  };
  auto put = std::make_shared<Put>();
  auto* p = ch->add_subcommand("put", "PUT /v1/channels/{channel}: create or change a channel");
  p->add_option("channel", put->name, "the channel name (created if new)")->required();
  p->add_option("--priority", put->priority, "1 = highest");
  p->add_option("--hold-ttl", put->ttl, "default hold lifetime in seconds");
  p->add_option("--state", put->state, "active, or frozen: no new holds")->check(CLI::IsMember({"active", "frozen"}));
  p->callback([&, put] {
    action = [put](Ctx& c) {
      json body = json::object();
      if (put->priority) body["priority"] = *put->priority;
      if (put->ttl) body["hold_ttl_s"] = *put->ttl;
      if (put->state) body["state"] = *put->state;
      return c.show("PUT", "/v1/channels/" + url_escape(put->name), body.dump(), plain(render_channel));
    };
  });
  for (const char* verb : {"freeze", "unfreeze"}) {
    auto name = std::make_shared<std::string>();
    bool freeze = std::string_view(verb) == "freeze";
    auto* f = ch->add_subcommand(verb, freeze ? "stop a channel making new holds" : "let a frozen channel hold again");
    f->add_option("channel", *name, "the channel name")->required();
    f->callback([&, name, freeze] {
      action = [name, freeze](Ctx& c) {
        json body = {{"state", freeze ? "frozen" : "active"}};
        return c.show("PUT", "/v1/channels/" + url_escape(*name), body.dump(), plain(render_channel));
      };
    });
  }
}

int list_all_skus(Ctx& c) {
  json all = {{"skus", json::array()}, {"total", 0}};
  for (std::int64_t offset = 0;; offset += kPageLimitMax) {
    json page;
    int rc = c.send("GET", "/v1/skus?offset=" + std::to_string(offset) + "&limit=" + std::to_string(kPageLimitMax), "",
                    &page);
    if (rc != kExitOk || c.dry()) return rc;
    auto skus = page.value("skus", json::array());
    for (auto& s : skus) all["skus"].push_back(std::move(s));
    all["total"] = page.value("total", 0);
    if (skus.empty() || static_cast<std::int64_t>(all["skus"].size()) >= all["total"].get<std::int64_t>()) break;
  }
  c.out() << (c.json_mode() ? all.dump() + "\n" : render_sku_list(all));
  return kExitOk;
}

void add_skus(CLI::App& app, Action& action) {
  auto* sk = app.add_subcommand("skus", "SKUs: stock, adjustments")->require_subcommand(1);
  struct List { std::int64_t offset = 0, limit = 100; bool all = false; };
  auto list = std::make_shared<List>();
  auto* l = sk->add_subcommand("list", "GET /v1/skus (one page, or --all)");
  l->add_option("--offset", list->offset, "SKUs to skip (paging)")->check(CLI::NonNegativeNumber);
  l->add_option("--limit", list->limit, "SKUs per page")->check(CLI::Range(1, 1000));
  l->add_flag("--all", list->all, "every page");
  l->callback([&, list] {
    action = [list](Ctx& c) {
      if (list->all) return list_all_skus(c);
      return c.show("GET", "/v1/skus?offset=" + std::to_string(list->offset) + "&limit=" + std::to_string(list->limit),
                    "", plain(render_sku_list));
    };
  });
  auto gname = std::make_shared<std::string>();
  auto* g = sk->add_subcommand("get", "GET /v1/skus/{sku}");
  g->add_option("sku", *gname, "the SKU")->required();
  g->callback([&, gname] { action = [gname](Ctx& c) { return c.show("GET", sku_path(*gname), "", plain(render_sku)); }; });

  struct Put {
    std::string name;
    std::optional<std::int64_t> on_hand, safety, max_per_hold, threshold, split;
    bool clear_threshold = false;
  };
  auto put = std::make_shared<Put>();
  auto* p = sk->add_subcommand("put", "PUT /v1/skus/{sku}: create a SKU or set its stock");
  p->add_option("sku", put->name, "the SKU (created if new)")->required();
  p->add_option("--on-hand", put->on_hand, "physical sellable units");
  p->add_option("--safety-stock", put->safety, "units never offered to any channel");
  p->add_option("--max-per-hold", put->max_per_hold, "purchase limit per line (0: none)");
  auto* thr = p->add_option("--low-stock-threshold", put->threshold, "low_stock fires below this");
  p->add_flag("--clear-low-stock-threshold", put->clear_threshold, "back to 10 % of on_hand")->excludes(thr);
  p->add_option("--split", put->split, "cluster store: shards to split the shared stock over (1: none)");
  p->callback([&, put] {
    action = [put](Ctx& c) {
      json body = json::object();
      if (put->on_hand) body["on_hand"] = *put->on_hand;
      if (put->safety) body["safety_stock"] = *put->safety;
      if (put->max_per_hold) body["max_per_hold"] = *put->max_per_hold;
      if (put->threshold) body["low_stock_threshold"] = *put->threshold;
      if (put->clear_threshold) body["low_stock_threshold"] = nullptr;
      if (put->split) body["split"] = *put->split;
      return c.show("PUT", sku_path(put->name), body.dump(), plain(render_sku));
    };
  });

  struct Adjust { std::string name, reason, ref; std::int64_t delta = 0; };
  auto adj = std::make_shared<Adjust>();
  auto* a = sk->add_subcommand("adjust", "POST /v1/skus/{sku}/adjustments: change on_hand by a delta");
  a->add_option("sku", adj->name, "the SKU")->required();
  a->add_option("--delta", adj->delta, "units to add (negative to remove)")->required();
  a->add_option("--reason", adj->reason, "why (e.g. damaged, recount)");
  a->add_option("--ref", adj->ref, "idempotency reference: a repeated ref is applied once");
  a->callback([&, adj] {
    action = [adj](Ctx& c) {
      json body = {{"delta", adj->delta}};
      if (!adj->reason.empty()) body["reason"] = adj->reason;
      if (!adj->ref.empty()) body["ref"] = adj->ref;
      return c.show("POST", sku_path(adj->name) + "/adjustments", body.dump(), plain(render_sku));
    };
  });
}

void add_allocation(CLI::App& app, Action& action) {
  auto* al = app.add_subcommand("allocation", "fences, pools and preemption of a SKU")->require_subcommand(1);
  struct Set { std::string sku, body; std::vector<std::string> fences, pools; bool preempt = false; };
  auto set = std::make_shared<Set>();
  auto* s = al->add_subcommand("set", "PUT /v1/skus/{sku}/allocation (replaces the whole allocation)");
  s->add_option("sku", set->sku, "the SKU")->required();
  s->add_option("--fence", set->fences, "CHANNEL=ratio:0.2 or CHANNEL=units:50 (repeatable)");
  s->add_option("--pool", set->pools, "NAME=UNITS:CH1,CH2 (repeatable)");
  s->add_flag("--preempt", set->preempt, "higher-priority channels may take lower fences");
  s->add_option("--body", set->body, "the JSON body itself instead of --fence/--pool/--preempt");
  s->callback([&, set] {
    action = [set](Ctx& c) {
      std::string body = set->body;
      if (body.empty()) {
        json j = {{"fences", json::object()}, {"pools", json::object()}, {"preempt", set->preempt}};
        std::string error, name;
        for (const auto& f : set->fences) {
          json v;
          if (!parse_fence(f, &name, &v, &error)) return c.err() << "stockctl: " << error << "\n", kExitUsage;
          j["fences"][name] = v;
        }
        for (const auto& p : set->pools) {
          json v;
          if (!parse_pool(p, &name, &v, &error)) return c.err() << "stockctl: " << error << "\n", kExitUsage;
          j["pools"][name] = v;
        }
        body = j.dump();
      }
      return c.show("PUT", sku_path(set->sku) + "/allocation", body, plain(render_sku));
    };
  });
  auto gsku = std::make_shared<std::string>();
  auto* g = al->add_subcommand("get", "the allocation part of GET /v1/skus/{sku}");
  g->add_option("sku", *gsku, "the SKU")->required();
  g->callback([&, gsku] {
    action = [gsku](Ctx& c) {
      json reply;
      int rc = c.send("GET", sku_path(*gsku), "", &reply);
      if (rc != kExitOk || c.dry()) return rc;
      if (c.json_mode()) c.out() << reply.value("allocation", json::object()).dump() << "\n";
      else c.out() << render_sku(reply);
      return kExitOk;
    };
  });
  auto csku = std::make_shared<std::string>();
  auto* cl = al->add_subcommand("clear", "PUT an empty allocation: no fences, pools closed, no preempt");
  cl->add_option("sku", *csku, "the SKU")->required();
  cl->callback([&, csku] {
    action = [csku](Ctx& c) {
      json body = {{"fences", json::object()}, {"pools", json::object()}, {"preempt", false}};
      return c.show("PUT", sku_path(*csku) + "/allocation", body.dump(), plain(render_sku));
    };
  });

  auto* pools = app.add_subcommand("pools", "event pools")->require_subcommand(1);
  struct Close { std::string sku, pool; };
  auto close = std::make_shared<Close>();
  auto* pc = pools->add_subcommand("close", "POST /v1/skus/{sku}/pools/{pool}/close: leftover returns to shared");
  pc->add_option("sku", close->sku, "the SKU")->required();
  pc->add_option("pool", close->pool, "the pool name")->required();
  pc->callback([&, close] {
    action = [close](Ctx& c) {
      return c.show("POST", sku_path(close->sku) + "/pools/" + url_escape(close->pool) + "/close", "",
                    plain(render_sku));
    };
  });
}

void add_availability(CLI::App& app, Action& action) {
  struct Av { std::string channel; std::vector<std::string> skus; };
  auto av = std::make_shared<Av>();
  auto* a = app.add_subcommand("availability", "GET /v1/availability: what a channel could hold now");
  a->add_option("--channel,-c", av->channel, "the sales channel asking")->required();
  a->add_option("skus", av->skus, "one or more SKUs")->required();
  a->callback([&, av] {
    action = [av](Ctx& c) {
      std::string target = "/v1/availability?channel=" + url_escape(av->channel);
      for (const auto& s : av->skus) target += "&sku=" + url_escape(s);
      return c.show("GET", target, "", plain(render_availability));
    };
  });
}

void add_holds(CLI::App& app, Action& action) {
  auto* h = app.add_subcommand("holds", "holds (reservations)")->require_subcommand(1);
  struct Create { std::string id, channel; std::vector<std::string> lines; std::optional<std::int64_t> ttl; bool confirm = false; };
  auto cr = std::make_shared<Create>();
  auto* c1 = h->add_subcommand("create", "POST /v1/holds: reserve lines, all or nothing");
  c1->add_option("id", cr->id, "the hold id, also its idempotency key")->required();
  c1->add_option("--channel,-c", cr->channel, "the sales channel the hold is for (a channel token: its own)")
      ->required();
  c1->add_option("--line,-l", cr->lines, "SKU:QTY (repeatable)")->required();
  c1->add_option("--ttl", cr->ttl, "seconds (default: the channel's hold_ttl_s)");
  c1->add_flag("--confirm", cr->confirm, "reserve and confirm in one step (a sale)");
  c1->callback([&, cr] {
    action = [cr](Ctx& c) {
      json lines;
      std::string error;
      if (!parse_lines(cr->lines, &lines, &error)) return c.err() << "stockctl: " << error << "\n", kExitUsage;
      json body = {{"id", cr->id}, {"channel", cr->channel}, {"lines", lines}};
      if (cr->ttl) body["ttl_s"] = *cr->ttl;
      if (cr->confirm) body["confirm"] = true;
      return c.show("POST", "/v1/holds", body.dump(), [](const json& j, int status) {
        return std::string(status == 201 ? "created\n" : "replayed (the hold as it is now)\n") + render_hold(j);
      });
    };
  });
  auto gid = std::make_shared<std::string>();
  auto* g = h->add_subcommand("get", "GET /v1/holds/{id}");
  g->add_option("id", *gid, "the hold id")->required();
  g->callback([&, gid] { action = [gid](Ctx& c) { return c.show("GET", hold_path(*gid), "", plain(render_hold)); }; });
  struct Confirm { std::string id; std::vector<std::string> lines; };
  auto cf = std::make_shared<Confirm>();
  auto* c2 = h->add_subcommand("confirm", "POST /v1/holds/{id}/confirm (payment succeeded)");
  c2->add_option("id", cf->id, "the hold id")->required();
  c2->add_option("--line,-l", cf->lines, "SKU:QTY to confirm only part; the rest is released");
  c2->callback([&, cf] {
    action = [cf](Ctx& c) {
      std::string body;
      if (!cf->lines.empty()) {
        json lines;
        std::string error;
        if (!parse_lines(cf->lines, &lines, &error)) return c.err() << "stockctl: " << error << "\n", kExitUsage;
        body = json{{"lines", lines}}.dump();
      }
      return c.show("POST", hold_path(cf->id) + "/confirm", body, plain(render_hold));
    };
  });
  auto rid = std::make_shared<std::string>();
  auto* r = h->add_subcommand("release", "POST /v1/holds/{id}/release (cancel)");
  r->add_option("id", *rid, "the hold id")->required();
  r->callback([&, rid] {
    action = [rid](Ctx& c) { return c.show("POST", hold_path(*rid) + "/release", "", plain(render_hold)); };
  });
  struct Extend { std::string id; std::int64_t ttl = 0; };
  auto ex = std::make_shared<Extend>();
  auto* e = h->add_subcommand("extend", "POST /v1/holds/{id}/extend: expires_at = now + ttl");
  e->add_option("id", ex->id, "the hold id")->required();
  e->add_option("--ttl", ex->ttl, "seconds from now")->required();
  e->callback([&, ex] {
    action = [ex](Ctx& c) {
      return c.show("POST", hold_path(ex->id) + "/extend", json{{"ttl_s", ex->ttl}}.dump(), plain(render_hold));
    };
  });
}

std::string events_target(std::int64_t after, std::int64_t limit, std::int64_t wait_s) {
  std::string t = "/v1/events?after=" + std::to_string(after) + "&limit=" + std::to_string(limit);
  if (wait_s > 0) t += "&wait_s=" + std::to_string(wait_s);
  return t;
}

// Follows the feed: long polls from `after`, printing each event as it comes, until `count` events
// (0: forever). A lost connection is retried every second; an API error ends the watch.
int watch(Ctx& c, std::int64_t after, std::int64_t limit, std::int64_t wait_s, std::int64_t count,
          const std::vector<std::string>& types) {
  std::int64_t shown = 0;
  while (true) {
    json page;
    std::string body;
    int rc = c.send("GET", events_target(after, limit, wait_s), "", &page, &body, nullptr,
                    static_cast<int>((wait_s + 15) * 1000));
    if (c.dry()) return rc;
    if (rc == kExitTransport) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kWatchRetryDelayMs));
      continue;
    }
    if (rc != kExitOk) return rc;
    // --json prints each event's bytes as the server sent them; the parsed page only picks them.
    json events = page.value("events", json::array());
    std::vector<std::string_view> raw;
    if (!events.is_array() || !raw_array_items(body, "events", &raw) || raw.size() != events.size()) {
      c.err() << "stockctl: the events page has no events array: " << body.substr(0, 200) << "\n";
      return kExitBadReply;
    }
    for (std::size_t i = 0; i < raw.size(); ++i) {
      const json& e = events[i];
      std::string type = e.is_object() ? e.value("type", "") : "";
      if (types.empty() || std::find(types.begin(), types.end(), type) != types.end()) {
        if (c.json_mode()) c.out() << raw[i] << "\n" << std::flush;
        else c.out() << render_event_line(e) << std::flush;
        if (count > 0 && ++shown >= count) return kExitOk;
      }
    }
    if (page.contains("next") && page["next"].is_number_integer()) after = page["next"].get<std::int64_t>();
  }
}

void add_events(CLI::App& app, Action& action) {
  struct Ev { std::int64_t after = 0, limit = 100, wait = 0, count = 0; std::vector<std::string> types; };
  auto ev = std::make_shared<Ev>();
  auto* e = app.add_subcommand("events", "GET /v1/events: one page of the events feed");
  e->add_option("--after", ev->after, "sequence number to start after (exclusive)")->check(CLI::NonNegativeNumber);
  e->add_option("--limit", ev->limit, "events per page")->check(CLI::Range(1, 10000));
  e->add_option("--wait", ev->wait, "long poll: wait up to S seconds for an event")->check(CLI::Range(0, 60));
  e->callback([&, ev] {
    action = [ev](Ctx& c) { return c.show("GET", events_target(ev->after, ev->limit, ev->wait), "", plain(render_events)); };
  });
  auto wt = std::make_shared<Ev>();
  wt->wait = 30;
  auto* w = app.add_subcommand("watch", "follow the events feed by long poll (Ctrl-C to stop)");
  w->add_option("--after", wt->after, "start after this sequence number")->check(CLI::NonNegativeNumber);
  w->add_option("--limit", wt->limit, "events per poll")->check(CLI::Range(1, 10000));
  w->add_option("--wait", wt->wait, "seconds per long poll")->check(CLI::Range(1, 60));
  w->add_option("--type", wt->types, "only events of this type (repeatable)");
  w->add_option("--count", wt->count, "stop after this many events (0: never)")->check(CLI::NonNegativeNumber);
  w->callback([&, wt] {
    action = [wt](Ctx& c) { return watch(c, wt->after, wt->limit, wt->wait, wt->count, wt->types); };
  });
}

void add_movements(CLI::App& app, Action& action) {
  struct Mv { std::string sku; std::int64_t after = 0, limit = 100; };
  auto mv = std::make_shared<Mv>();
  auto* m = app.add_subcommand("movements", "GET /v1/movements: one page of a SKU's movements history");
  m->add_option("sku", mv->sku, "the SKU")->required();
  m->add_option("--after", mv->after, "movement seq to start after (exclusive)")->check(CLI::NonNegativeNumber);
  m->add_option("--limit", mv->limit, "movements per page")->check(CLI::Range(1, 1000));
  m->callback([&, mv] {
    action = [mv](Ctx& c) {
      std::string target = "/v1/movements?sku=" + url_escape(mv->sku) + "&after=" + std::to_string(mv->after) +
                           "&limit=" + std::to_string(mv->limit);
      return c.show("GET", target, "", plain(render_movements));
    };
  });
}

void add_admin(CLI::App& app, Action& action) {
  app.add_subcommand("snapshot", "POST /v1/admin/snapshot: write a durable snapshot now")->callback([&] {
    action = [](Ctx& c) { return c.show("POST", "/v1/admin/snapshot", "", plain(render_snapshot)); };
  });
  app.add_subcommand("reconcile", "POST /v1/admin/reconcile: check the store for drift")->callback([&] {
    action = [](Ctx& c) {
      json reply;
      std::string raw;
      int rc = c.send("POST", "/v1/admin/reconcile", "", &reply, &raw);
      if (rc != kExitOk || c.dry()) return rc;
      c.out() << (c.json_mode() ? raw + (raw.ends_with('\n') ? "" : "\n") : render_reconcile(reply));
      bool ok = reply.is_object() && reply.value("ok", true);
      if (!ok) c.err() << "stockctl: reconcile found drift\n";
      return ok ? kExitOk : stockd::client::kExitDrift;
    };
  });
  struct Raw { std::string method, path, body; };
  auto raw = std::make_shared<Raw>();
  auto* r = app.add_subcommand("request", "any request: METHOD PATH [BODY] (raw reply)");
  r->add_option("method", raw->method, "GET, PUT, POST, ...")->required();
  r->add_option("path", raw->path, "the target, e.g. /v1/skus?limit=5")->required();
  r->add_option("body", raw->body, "the JSON body, if any");
  r->callback([&, raw] {
    action = [raw](Ctx& c) {
      json reply;
      std::string body;
      int rc = c.send(raw->method, raw->path, raw->body, &reply, &body);
      if (rc == kExitOk && !c.dry()) c.out() << body << (body.ends_with('\n') ? "" : "\n");
      return rc;
    };
  });
}

}  // namespace

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"stockctl: command-line client for stockd's HTTP API (docs/stockctl.md)", "stockctl"};
  app.set_version_flag("--version", std::string("stockctl ") + STOCKD_VERSION, "print the version and exit");
  Globals g;
  app.add_option("--url", g.url, "stockd's HTTP address")->envname("STOCKD_URL")->capture_default_str();
  app.add_option("--token", g.token, "bearer token")->envname("STOCKD_TOKEN");
  app.add_flag("--json", g.json, "print the server's JSON as is (for scripts)");
  app.add_flag("--dry-run", g.dry_run, "print the HTTP request instead of sending it");
  app.add_option("--timeout", g.timeout_s, "seconds per request")->check(CLI::Range(1, 3600));
  app.require_subcommand(1);
  Action action;
  add_health(app, action);
  add_channels(app, action);
  add_skus(app, action);
  add_allocation(app, action);
  add_availability(app, action);
  add_holds(app, action);
  add_events(app, action);
  add_movements(app, action);
  add_admin(app, action);
  add_import_export(app, action);
  add_outbound(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e, out, err);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (!action) {
    err << app.help();
    return kExitUsage;
  }
  Ctx ctx(g, out, err);
  if (!ctx.init()) return kExitUsage;
  return action(ctx);
}

}  // namespace stockctl
