#include "server/options.h"

#include <cstdio>
#include <functional>
#include <vector>

#include "CLI/CLI.hpp"
#include "toml++/toml.h"

namespace stockd::server {

bool split_host_port(const std::string& addr, std::string* host, int* port) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = addr.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  try {
    std::size_t used = 0;
    *port = std::stoi(addr.substr(colon + 1), &used);
    return used == addr.size() - colon - 1 && *port >= 0 && *port <= 65535;
  } catch (...) {
    return false;
  }
}

namespace {

// One configurable key: its flag/env/toml names and how to assign it from TOML.
struct Key {
  CLI::Option* opt;
  std::string toml_name;
  std::function<bool(const toml::node&)> from_toml;
};

template <typename T>
std::function<bool(const toml::node&)> assign(T* target) {
  return [target](const toml::node& n) {
    if constexpr (std::is_same_v<T, bool>) {
      if (auto v = n.value<bool>()) { *target = *v; return true; }
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = n.value<std::string>()) { *target = *v; return true; }
    } else if constexpr (std::is_same_v<T, double>) {
      if (auto v = n.value<double>()) { *target = *v; return true; }
    } else {
      if (auto v = n.value<std::int64_t>()) { *target = *v; return true; }
    }
    return false;
  };
}

}  // namespace

int parse_options(int argc, char** argv, ServerOptions* o) {
  CLI::App app{"stockd: the inventory server (HTTP/JSON and RESP over an embedded durable store or a Redis Cluster)"};
  std::vector<Key> keys;
  auto add = [&](const std::string& flag, auto* target, const std::string& help) {
    std::string name = flag.substr(2);
    std::string env = "STOCKD_";
    std::string toml_name;
    for (char c : name) {
      env += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      toml_name += c == '-' ? '_' : c;
    }
    CLI::Option* opt;
    if constexpr (std::is_same_v<std::remove_pointer_t<decltype(target)>, bool>)
      opt = app.add_flag(flag, *target, help);
    else
      opt = app.add_option(flag, *target, help)->capture_default_str();
    opt->envname(env);
    keys.push_back({opt, toml_name, assign(target)});
  };
  app.add_option("--config", o->config_file, "TOML config file (keys as the flags, with _ for -)")
      ->envname("STOCKD_CONFIG");
  add("--data-dir", &o->data_dir, "data directory (journal, snapshots); locked while stockd runs");
  add("--http", &o->http, "HTTP listen address");
  add("--resp", &o->resp, "RESP listen address, or off");
  add("--fsync", &o->fsync, "always (default: nothing acknowledged before it is on disk) | batch | off");
  add("--fsync-batch-ms", &o->fsync_batch_ms, "with --fsync batch: longest time between syncs");
  add("--segment-mb", &o->segment_mb, "journal segment size before rotation");
  add("--snapshot-every-records", &o->snapshot_every_records, "take a snapshot after this many journal records");
  add("--events-retained", &o->events_retained, "events kept for GET /v1/events");
  add("--recover-truncate", &o->recover_truncate, "cut the journal at the first damaged record (operator decision)");
  add("--hold-retention-s", &o->hold_retention_s, "how long finished holds and adjustment refs are remembered");
  add("--low-stock-ratio", &o->low_stock_ratio, "default low-stock threshold as a share of on_hand");
  add("--max-connections", &o->max_connections, "connections beyond this are refused");
  add("--max-body-bytes", &o->max_body_bytes, "largest HTTP body");
  add("--max-queue", &o->max_queue, "write requests admitted per loop round; beyond it 429 overloaded");
  add("--max-output-bytes", &o->max_output_bytes, "per-connection reply backlog before stockd stops reading it");
  add("--idle-timeout-s", &o->idle_timeout_s, "close connections idle this long");
  add("--tick-ms", &o->tick_ms, "hold expiry sweep period");
  add("--log-level", &o->log_level, "trace|debug|info|warn|error");
  add("--store", &o->store, "embedded (default) | redis-cluster://HOST:PORT[,HOST:PORT...]");
  add("--redis-wait-replicas", &o->redis_wait_replicas,
      "cluster store: replicas that must have a write before it is acknowledged (WAIT)");
  add("--redis-wait-timeout-ms", &o->redis_wait_timeout_ms,
      "cluster store: longest wait for those replicas; then 503 unavailable");
  add("--cluster-workers", &o->cluster_workers, "cluster store: worker threads of the front end");
  add("--redis-password", &o->redis_password, "cluster store: password of the Redis nodes (requirepass)");
  add("--ledger", &o->ledger, "cluster store: postgresql://... the ledger writer applies the outbox to (docs/ledger.md)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!o->config_file.empty()) {
    toml::table tbl;
    try {
      tbl = toml::parse_file(o->config_file);
    } catch (const toml::parse_error& e) {
      std::fprintf(stderr, "stockd: config %s: %s\n", o->config_file.c_str(), std::string(e.description()).c_str());
      return 2;
    }
    for (auto& [k, v] : tbl) {
      std::string name(k.str());
      if (name == "auth") continue;
      auto key = std::find_if(keys.begin(), keys.end(), [&](const Key& x) { return x.toml_name == name; });
      if (key == keys.end()) {
        std::fprintf(stderr, "stockd: config %s: unknown key %s\n", o->config_file.c_str(), name.c_str());
        return 2;
      }
      if (key->opt->count() > 0) continue;  // flag or environment wins
      if (!key->from_toml(v)) {
        std::fprintf(stderr, "stockd: config %s: %s has the wrong type\n", o->config_file.c_str(), name.c_str());
        return 2;
      }
    }
    if (auto admin = tbl["auth"]["admin_token"].value<std::string>()) o->admin_token = *admin;
    if (auto* chans = tbl["auth"]["channel_tokens"].as_table())
      for (auto& [ch, tok] : *chans)
        if (auto t = tok.value<std::string>()) o->channel_tokens[std::string(ch.str())] = *t;
  }
  std::string host;
  int port = 0;
  if (!split_host_port(o->http, &host, &port)) {
    std::fprintf(stderr, "stockd: --http %s: expected ADDR:PORT\n", o->http.c_str());
    return 2;
  }
  if (o->resp != "off" && !split_host_port(o->resp, &host, &port)) {
    std::fprintf(stderr, "stockd: --resp %s: expected ADDR:PORT or off\n", o->resp.c_str());
    return 2;
  }
  if (o->hold_retention_s < 24 * 3600 || o->hold_retention_s > 365 * 24 * 3600) {
    // The contract promises that finished holds (and adjustment refs) are remembered at least 24 h.
    std::fprintf(stderr, "stockd: --hold-retention-s must be 86400 (24 h) .. 31536000 (365 days)\n");
    return 2;
  }
  struct Range {
    const char* flag;
    std::int64_t value, lo, hi;
  };
  for (const Range& r : {Range{"--max-connections", o->max_connections, 1, 1'000'000},
                         Range{"--max-body-bytes", o->max_body_bytes, 1024, 64 << 20},
                         Range{"--max-queue", o->max_queue, 1, 1'000'000},
                         Range{"--max-output-bytes", o->max_output_bytes, 64 << 10, 1 << 30},
                         Range{"--idle-timeout-s", o->idle_timeout_s, 1, 86'400},
                         Range{"--tick-ms", o->tick_ms, 1, 1000},
                         Range{"--events-retained", o->events_retained, 1, 100'000'000},
                         Range{"--segment-mb", o->segment_mb, 1, 4096},
                         Range{"--fsync-batch-ms", o->fsync_batch_ms, 1, 10'000},
                         Range{"--snapshot-every-records", o->snapshot_every_records, 0, INT64_MAX},
                         Range{"--redis-wait-replicas", o->redis_wait_replicas, 0, 5},
                         Range{"--redis-wait-timeout-ms", o->redis_wait_timeout_ms, 10, 60'000},
                         Range{"--cluster-workers", o->cluster_workers, 1, 256}}) {
    if (r.value < r.lo || r.value > r.hi) {
      std::fprintf(stderr, "stockd: %s must be %lld .. %lld\n", r.flag, static_cast<long long>(r.lo),
                   static_cast<long long>(r.hi));
      return 2;
    }
  }
  if (o->low_stock_ratio < 0 || o->low_stock_ratio > 1) {
    std::fprintf(stderr, "stockd: --low-stock-ratio must be 0 .. 1\n");
    return 2;
  }
  if (o->fsync != "always" && o->fsync != "batch" && o->fsync != "off") {
    std::fprintf(stderr, "stockd: --fsync must be always, batch or off\n");
    return 2;
  }
  if (o->store != "embedded" && o->store.rfind("redis-cluster://", 0) != 0) {
    std::fprintf(stderr, "stockd: --store %s: expected embedded or redis-cluster://HOST:PORT[,HOST:PORT...]\n",
                 o->store.c_str());
    return 2;
  }
  return -1;
}

}  // namespace stockd::server
