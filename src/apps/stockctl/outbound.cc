#include "apps/stockctl/outbound.h"

#include <chrono>
#include <memory>
#include <thread>

#include "apps/stockctl/render.h"
#include "apps/stockctl/table.h"
#include "client/api_error.h"

namespace stockctl {
namespace {

using stockd::client::kExitOk;
constexpr int kPollMs = 200;

std::string render_alerts(const json& a) {
  return render_fields({{"url", cell(a, "url")},
                        {"format", cell(a, "format")},
                        {"source", cell(a, "source")},
                        {"queued", cell(a, "queued")},
                        {"sent_total", cell(a, "sent_total")},
                        {"failures_total", cell(a, "failures_total")},
                        {"dropped_total", cell(a, "dropped_total")},
                        {"last_error", cell(a, "last_error")},
                        {"last_sent_at", cell(a, "last_sent_at")},
                        {"next_attempt_at", cell(a, "next_attempt_at")}});
}

std::string render_deliveries(const json& d) {
  Table t({"CHANNEL", "STATE", "BACKLOG", "LAG_S", "FAILURES", "DELIVERED_SEQ", "LAST_ERROR", "URL"});
  const json& list = d.is_object() && d.contains("deliveries") && d["deliveries"].is_array() ? d["deliveries"]
                                                                                                  : json::array();
  for (const auto& c : list)
    t.add({cell(c, "channel"), cell(c, "state"), cell(c, "backlog"), cell(c, "lag_s"), cell(c, "failures_total"),
           cell(c, "delivered_seq"), cell(c, "last_error"), cell(c, "url")});
  if (t.rows() == 0) return "no channel has a webhook\n";
  return t.render();
}

std::uint64_t sent_of(const json& a) {
  return a.is_object() && a.contains("sent_total") && a["sent_total"].is_number_unsigned()
             ? a["sent_total"].get<std::uint64_t>()
             : 0;
}

// POST /v1/alerts/test, then GET /v1/alerts until one more alert was sent or `wait_s` passed.
int alerts_test(Ctx& c, int wait_s) {
  json before;
  int rc = c.send("GET", "/v1/alerts", "", &before);
  if (rc != kExitOk || c.dry()) return rc;
  json queued;
  rc = c.send("POST", "/v1/alerts/test", "", &queued);
  if (rc != kExitOk) return rc;
  json now = queued;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  while (sent_of(now) <= sent_of(before) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    rc = c.send("GET", "/v1/alerts", "", &now);
    if (rc != kExitOk) return rc;
  }
  bool sent = sent_of(now) > sent_of(before);
  if (c.json_mode()) {
    c.out() << now.dump() << "\n";
  } else if (sent) {
    c.out() << "test alert delivered to " << cell(now, "url") << " (" << cell(now, "format") << ")\n";
  } else {
    c.out() << "test alert queued, not delivered within " << wait_s << " s; last_error: " << cell(now, "last_error")
            << "\n";
  }
  return sent ? kExitOk : kExitNotDelivered;
}

}  // namespace

void add_outbound(CLI::App& app, Action& action) {
  auto* al = app.add_subcommand("alerts", "alerts to a chat robot or URL: GET /v1/alerts (show), set, test");
  al->callback([&, al] {
    if (!al->get_subcommands().empty()) return;  // a subcommand chose the action
    action = [](Ctx& c) { return c.show("GET", "/v1/alerts", "", plain(render_alerts)); };
  });
  struct Set { std::string url, format = "json"; };
  auto set = std::make_shared<Set>();
  auto* s = al->add_subcommand("set", "PUT /v1/alerts: where alerts go (kept across restarts)");
  s->add_option("url", set->url, "http://... (a chat robot's https URL needs a TLS-terminating proxy)")->required();
  s->add_option("--format", set->format, "json | dingtalk | slack | feishu")
      ->check(CLI::IsMember({"json", "dingtalk", "slack", "feishu"}))
      ->capture_default_str();
  s->callback([&, set] {
    action = [set](Ctx& c) {
      json body = {{"url", set->url}, {"format", set->format}};
      return c.show("PUT", "/v1/alerts", body.dump(), plain(render_alerts));
    };
  });
  auto wait_s = std::make_shared<int>(10);
  auto* t = al->add_subcommand("test", "POST /v1/alerts/test: send a sample alert and wait for its delivery");
  t->add_option("--wait", *wait_s, "seconds to wait for the delivery")->check(CLI::Range(0, 300))->capture_default_str();
  t->callback([&, wait_s] { action = [wait_s](Ctx& c) { return alerts_test(c, *wait_s); }; });

  app.add_subcommand("deliveries", "GET /v1/deliveries: webhook channels' lag, failures, last error")->callback([&] {
    action = [](Ctx& c) { return c.show("GET", "/v1/deliveries", "", plain(render_deliveries)); };
  });
}

}  // namespace stockctl
