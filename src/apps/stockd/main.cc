// stockd: parse the configuration, then either open (and recover) the embedded engine or, with
// --store redis-cluster://..., serve as a stateless node over a Redis Cluster; serve until SIGTERM.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/env.h"
#include "server/alerts.h"
#include "server/delivery.h"
#include "store/event_feed.h"
#include "server/inventory_publications.h"
#include "server/options.h"
#include "server/server.h"
#include "spdlog/spdlog.h"
#include "store/clock.h"
#include "store/engine_store.h"
#ifdef STOCKD_WITH_CLUSTER
#include "backends/cluster_client.h"
#include "backends/cluster_store.h"
#include "server/cluster_alerts.h"
#include "server/cluster_publications.h"
#include "store/cluster_ledger.h"
#include "store/cluster_adapter.h"
#include <unistd.h>
#endif

namespace {

// States at start whether requests need a token, so that an operator sees at once what the config did.
void log_auth(const stockd::server::ServerOptions& opt) {
  if (!opt.auth_enabled()) {
    spdlog::warn("event=auth state=off reason=\"{}\"",
                 opt.config_file.empty() ? "no --config file" : "no [auth] in " + opt.config_file);
    return;
  }
  std::string channels;
  for (const auto& [channel, token] : opt.channel_tokens) channels += (channels.empty() ? "" : ",") + channel;
  spdlog::info("event=auth state=on admin_token={} channel_tokens={}", opt.admin_token.empty() ? "no" : "yes",
               channels.empty() ? "none" : channels);
}

// Cluster mode: no data directory, no engine; the store's settings come from the same options.
int run_cluster(const stockd::server::ServerOptions& opt) {
  using namespace stockd;
#ifdef STOCKD_WITH_CLUSTER
  backends::ClusterStoreOptions so;
  std::string error;
  if (!backends::parse_cluster_url(opt.store, &so.seeds, &error)) {
    spdlog::error("event=bad_store store={} error=\"{}\"", opt.store, error);
    return 2;
  }
  so.wait_replicas = static_cast<int>(opt.redis_wait_replicas);
  so.password = opt.redis_password;
  so.wait_timeout_ms = static_cast<int>(opt.redis_wait_timeout_ms);
  so.hold_retention_ms = opt.hold_retention_s * 1000;
  so.low_stock_permille = static_cast<std::int64_t>(opt.low_stock_ratio * 1000 + 0.5);
  std::unique_ptr<store::ClusterLedger> ledger;
  if (!opt.ledger.empty()) {
    backends::LedgerOptions lo;
    lo.conninfo = opt.ledger;
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    lo.consumer = std::string(host) + ":" + std::to_string(getpid());
    backends::ClusterOptions co;
    co.seeds = so.seeds;
    co.password = so.password;
    ledger = store::ClusterLedger::open(lo, co, &error);
    if (!ledger) {
      spdlog::error("event=ledger_open_failed error=\"{}\"", error);
      return 1;
    }
    spdlog::info("event=ledger_started consumer={}", lo.consumer);
  }
  store::ClusterAdapterOptions ao;
  ao.store = std::move(so);
  ao.workers = static_cast<int>(opt.cluster_workers);
  ao.tick_ms = opt.tick_ms;
  ao.ledger = ledger.get();
  ao.events_conninfo = opt.ledger;  // the events feed and the SKU listing read the ledger's tables
  std::unique_ptr<store::ClusterAdapter> cluster = store::ClusterAdapter::open(ao, &error);
  if (!cluster) {
    spdlog::error("event=cluster_open_failed store={} error=\"{}\"", opt.store, error);
    return 1;
  }
  // Alerts need the ledger's feed (docs/cluster.md "Alerts"): <data-dir>/alerts.json (PUT /v1/alerts)
  // wins over the config file's [alerts], as on the embedded store.
  std::unique_ptr<server::Alerter> alerter;
  std::unique_ptr<server::ClusterAlertFeed> alert_feed;
  if (!opt.ledger.empty()) {
    server::AlerterOptions alo;
    alo.data_dir = opt.data_dir;
    if (!opt.alerts_url.empty())
      alo.from_file = server::AlertConfig{opt.alerts_url, *server::parse_alert_format(opt.alerts_format)};
    alerter = std::make_unique<server::Alerter>(std::move(alo));
    if (core::Status s = alerter->open(); !s.ok()) {
      spdlog::error("event=alerts_config_failed error=\"{}\"", s.message);
      return 1;
    }
    spdlog::info("event=alerts to={} source={}", alerter->config() ? server::url_origin(alerter->config()->url) : "none",
                 alerter->config_source());
    alert_feed = std::make_unique<server::ClusterAlertFeed>(opt.ledger);
  } else if (!opt.alerts_url.empty()) {
    spdlog::warn("event=alerts state=off reason=\"the cluster store sends alerts from a node with --ledger\"");
  }
  // Webhook deliveries of listed channels, as on the embedded store, over the publications the ledger
  // numbers (docs/cluster.md "Listed channels on the cluster store"): a node with --ledger pushes.
  std::unique_ptr<server::ClusterPublications> publications;
  std::unique_ptr<server::DeliveryActionQueue> delivery_actions;
  std::unique_ptr<server::Deliveries> deliveries;
  if (!opt.ledger.empty()) {
    publications = std::make_unique<server::ClusterPublications>(*cluster);
    delivery_actions = std::make_unique<server::DeliveryActionQueue>();
    deliveries = std::make_unique<server::Deliveries>(*publications, *delivery_actions, alerter.get());
  }
  int rc = 0;
  {
    server::Server srv(opt, *cluster);
    if (alerter) {
      server::Alerter* a = alerter.get();
      server::ClusterAlertFeed* f = alert_feed.get();
      auto take = [a, f](std::vector<net::EventRecord>* out) {
        f->set_wanted(a->config().has_value());
        f->take(out);
      };
      auto metrics = [f](net::Prometheus& p) {
        p.gauge("stockd_alerts_feed_leading", "1 while this node sends the cluster's alerts (it holds the alerts lock).",
                f->leading() ? 1 : 0);
        p.counter("stockd_alerts_feed_dropped_total", "Events dropped because the loop did not take them in time.",
                  static_cast<double>(f->dropped()));
      };
      srv.set_outbound(server::Server::Outbound{a, deliveries.get(), delivery_actions.get(), server::delivery_command,
                                                take, metrics});
    }
    if (!srv.listen()) return 1;
    if (ledger) ledger->start();
    if (alert_feed) alert_feed->start();
    rc = srv.run();
    if (alert_feed) alert_feed->stop();
  }
  deliveries.reset();  // before the adapter its source reads (joins the delivery threads)
  cluster.reset();    // joins the workers, the sweeper and the watcher
  if (ledger) ledger->stop();
  spdlog::info("event=stopped");
  return rc;
#else
  spdlog::error("event=bad_store store={} error=\"this build has no cluster store (stockd_backends was not built)\"",
                opt.store);
  return 2;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  using namespace stockd;
  server::ServerOptions opt;
  if (int rc = server::parse_options(argc, argv, &opt); rc >= 0) return rc;
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(opt.log_level));
  log_auth(opt);
  if (opt.store != "embedded") return run_cluster(opt);  // parse_options admits only redis-cluster://

  engine::Options eo;
  eo.data_dir = opt.data_dir;
  eo.fsync = opt.fsync == "always" ? engine::FsyncMode::always
             : opt.fsync == "batch" ? engine::FsyncMode::batch
                                    : engine::FsyncMode::off;
  eo.fsync_batch_ms = opt.fsync_batch_ms;
  eo.segment_bytes = static_cast<std::uint64_t>(opt.segment_mb) << 20;
  eo.snapshot_every_records = static_cast<std::uint64_t>(opt.snapshot_every_records);
  eo.events_retained = static_cast<std::size_t>(opt.events_retained);
  eo.movements_retention_ms = opt.movements_retention_days * 24 * 3600 * 1000;
  eo.recover_truncate = opt.recover_truncate;
  store::EventFeed feed(eo.events_retained);
  core::Result<std::unique_ptr<engine::Engine>> opened = engine::Engine::open(eo, engine::Env::posix(), &feed);
  if (!opened.ok()) {
    spdlog::error("event=open_failed data_dir={} error=\"{}\"", opt.data_dir, opened.status().message);
    return 1;
  }
  std::unique_ptr<engine::Engine> eng = std::move(opened.value());
  // Retention and the default low-stock ratio are state (journaled), so replay uses the values that
  // were in force; a changed setting is journaled once at start.
  core::Configure conf{opt.hold_retention_s * 1000, static_cast<std::int64_t>(opt.low_stock_ratio * 1000 + 0.5)};
  const core::Inventory& inv = eng->inventory();
  if (inv.retention_ms() != conf.retention_ms || inv.low_stock_permille() != conf.low_stock_permille) {
    core::Outcome o = eng->execute_one(conf, store::wall_clock_ms(), nullptr);
    if (!o.ok()) {
      spdlog::error("event=configure_failed data_dir={} code={}", opt.data_dir, core::code_name(o.code));
      return 1;
    }
  }
  // Alerts: <data-dir>/alerts.json (PUT /v1/alerts) wins over the config file's [alerts].
  server::AlerterOptions ao;
  ao.data_dir = opt.data_dir;
  if (!opt.alerts_url.empty())
    ao.from_file = server::AlertConfig{opt.alerts_url, *server::parse_alert_format(opt.alerts_format)};
  server::Alerter alerter(std::move(ao));
  if (core::Status s = alerter.open(); !s.ok()) {
    spdlog::error("event=alerts_config_failed error=\"{}\"", s.message);
    return 1;
  }
  spdlog::info("event=alerts to={} source={}", alerter.config() ? server::url_origin(alerter.config()->url) : "none",
               alerter.config_source());
  // Webhook deliveries read the core's unacknowledged publications and write back through commands.
  server::InventoryPublications publications(eng->inventory());
  server::DeliveryActionQueue delivery_actions;
  server::Deliveries deliveries(publications, delivery_actions, &alerter);
  store::EngineStore engine_store(*eng, feed);
  // Alerts are derived from each batch's events while the inventory still matches them.
  engine_store.set_events_observer(
      [&alerter](std::span<const core::Event> events, const core::Inventory& inv) { alerter.on_events(events, inv); });
  server::Server srv(opt, engine_store);
  srv.set_outbound(server::Server::Outbound{&alerter, &deliveries, &delivery_actions, server::delivery_command, nullptr,
                                            nullptr});
  if (!srv.listen()) return 1;
  int rc = srv.run();
  eng->close();
  spdlog::info("event=stopped");
  return rc;
}
