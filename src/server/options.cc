// Options in three steps: the flags (which also read STOCKD_* variables), then the config file, walked
// whole so that nothing in it is ignored, then one check of every value's range. A value from the file
// that is out of range is reported at its line in the file, a value from a flag under the flag's name.
#include "server/options.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>
#include <vector>

#include "CLI/CLI.hpp"
#include "core/command.h"
#include "server/alert.h"
#include "server/outbound_http.h"
#include "toml++/toml.h"

#ifndef STOCKD_VERSION
#error "STOCKD_VERSION is defined by src/server/CMakeLists.txt from the CMake project version"
#endif

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

constexpr int kExitUsage = 2;

// Checks a config file value's type and, with store, assigns it to its setting. Returns nullptr, or the
// kind of value the setting wants (no conversion between types: `max_queue = "10"` is a mistake).
using FromToml = std::function<const char*(const toml::node&, bool store)>;

// One setting: its flag, its TOML key and where its value came from.
struct Key {
  std::string flag;       // "--max-queue"
  std::string toml_name;  // "max_queue"
  CLI::Option* opt;
  FromToml from_toml;
  std::uint32_t file_line = 0;  // the config file line that set it; 0 when the file did not
};

template <typename T>
FromToml assign(T* target) {
  return [target](const toml::node& n, bool store) -> const char* {
    if constexpr (std::is_same_v<T, bool>) {
      if (!n.is_boolean()) return "true or false";
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!n.is_string()) return "a string";
    } else if constexpr (std::is_same_v<T, double>) {
      if (!n.is_number()) return "a number";
    } else {
      static_assert(std::is_same_v<T, std::int64_t>);
      if (!n.is_integer()) return "an integer";
    }
    if (store) *target = *n.value<T>();
    return nullptr;
  };
}

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    default: return "a date or time";
  }
}

// "stockd: config FILE:LINE: message" (line 0: a fault of the whole file, such as a missing one).
int config_error(const std::string& file, std::uint32_t line, const std::string& message) {
  std::string where = line > 0 ? file + ":" + std::to_string(line) : file;
  std::fprintf(stderr, "stockd: config %s: %s\n", where.c_str(), message.c_str());
  return kExitUsage;
}

// The flags, each readable from STOCKD_<FLAG> and from the config file as <flag> with _ for -.
void add_flags(CLI::App& app, ServerOptions* o, std::vector<Key>* keys) {
  auto add = [&](const std::string& flag, auto* target, const std::string& help) {
    std::string env = "STOCKD_", toml_name;
    for (char c : flag.substr(2)) {
      env += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      toml_name += c == '-' ? '_' : c;
    }
    CLI::Option* opt;
    if constexpr (std::is_same_v<std::remove_pointer_t<decltype(target)>, bool>)
      opt = app.add_flag(flag, *target, help);
    else
      opt = app.add_option(flag, *target, help)->capture_default_str();
    opt->envname(env);
    keys->push_back({flag, toml_name, opt, assign(target)});
  };
  add("--data-dir", &o->data_dir, "data directory (journal, snapshots); locked while stockd runs");
  add("--http", &o->http, "HTTP listen address");
  add("--resp", &o->resp, "RESP listen address, or off");
  add("--fsync", &o->fsync, "always (default: nothing acknowledged before it is on disk) | batch | off");
  add("--fsync-batch-ms", &o->fsync_batch_ms, "with --fsync batch: longest time between syncs");
  add("--segment-mb", &o->segment_mb, "journal segment size before rotation");
  add("--snapshot-every-records", &o->snapshot_every_records, "take a snapshot after this many journal records");
  add("--events-retained", &o->events_retained, "events kept for GET /v1/events");
  add("--movements-retention-days", &o->movements_retention_days,
      "days of GET /v1/movements history kept (whole files older than this are removed)");
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
}

// [auth]: admin_token (a string) and [auth.channel_tokens] (channel = "token"). Tokens guard
// everything, so this fails closed: any other key, any other type, an empty or shared token, or an
// [auth] that configures no token at all stops stockd rather than leave it open.
int read_auth(const std::string& file, const toml::key& name, const toml::node& node, ServerOptions* o) {
  const toml::table* auth = node.as_table();
  if (!auth)
    return config_error(file, name.source().begin.line, std::string("auth must be a table, not ") + type_name(node));
  std::set<std::string> tokens;
  auto take = [&](const std::string& key, const toml::node& v, std::string* out) {
    std::uint32_t line = v.source().begin.line;
    if (!v.is_string()) return config_error(file, line, key + " must be a string, not " + type_name(v));
    *out = *v.value<std::string>();
    if (out->empty()) return config_error(file, line, key + " must not be empty");
    if (!tokens.insert(*out).second) return config_error(file, line, key + " is the same token as another one");
    return -1;
  };
  for (const auto& [k, v] : *auth) {
    std::string key = "auth." + std::string(k.str());
    if (k.str() == "admin_token") {
      if (int rc = take(key, v, &o->admin_token); rc >= 0) return rc;
    } else if (k.str() == "channel_tokens" && v.is_table()) {
      for (const auto& [ch, tok] : *v.as_table()) {
        std::string ch_key = key + "." + std::string(ch.str());
        if (!core::is_identifier(ch.str()))
          return config_error(file, ch.source().begin.line,
                              ch_key + ": not a channel name (1 to 128 characters of A-Z a-z 0-9 . _ : -)");
        if (int rc = take(ch_key, tok, &o->channel_tokens[std::string(ch.str())]); rc >= 0) return rc;
      }
    } else if (k.str() == "channel_tokens") {
      return config_error(file, v.source().begin.line,
                          key + " must be a table of channel = \"token\", not " + type_name(v));
    } else {
      return config_error(file, k.source().begin.line,
                          "unknown key " + key + " (expected admin_token or [auth.channel_tokens])");
    }
  }
  if (!o->auth_enabled())
    return config_error(file, name.source().begin.line, "[auth] configures no token (authentication would be off)");
  return -1;
}

// [alerts]: url (an http:// URL) and format (json, dingtalk, slack or feishu; default json). Fails
// closed like [auth]: any other key, a wrong type or a bad value stops stockd.
int read_alerts(const std::string& file, const toml::key& name, const toml::node& node, ServerOptions* o) {
  const toml::table* alerts = node.as_table();
  if (!alerts)
    return config_error(file, name.source().begin.line, std::string("alerts must be a table, not ") + type_name(node));
  for (const auto& [k, v] : *alerts) {
    std::string key = "alerts." + std::string(k.str());
    std::uint32_t line = v.source().begin.line;
    if (k.str() != "url" && k.str() != "format")
      return config_error(file, k.source().begin.line, "unknown key " + key + " (expected url, format)");
    if (!v.is_string()) return config_error(file, line, key + " must be a string, not " + type_name(v));
    std::string value = *v.value<std::string>();
    if (k.str() == "url") {
      OutboundUrl u;
      std::string error;
      if (!parse_outbound_url(value, &u, &error)) return config_error(file, line, key + ": " + error);
      o->alerts_url = value;
    } else {
      if (!parse_alert_format(value)) return config_error(file, line, key + " must be json, dingtalk, slack or feishu");
      o->alerts_format = value;
    }
  }
  if (o->alerts_url.empty()) return config_error(file, name.source().begin.line, "[alerts] needs a url");
  return -1;
}

// Walks every key of the file. A key already given by a flag or the environment keeps that value,
// but its file value is still checked.
int read_config_file(const std::string& file, std::vector<Key>& keys, ServerOptions* o) {
  toml::table tbl;
  try {
    tbl = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    return config_error(file, e.source().begin.line, std::string(e.description()));
  }
  for (auto& [k, v] : tbl) {
    std::string name(k.str());
    if (name == "auth") {
      if (int rc = read_auth(file, k, v, o); rc >= 0) return rc;
      continue;
    }
    if (name == "alerts") {
      if (int rc = read_alerts(file, k, v, o); rc >= 0) return rc;
      continue;
    }
    auto key = std::find_if(keys.begin(), keys.end(), [&](const Key& x) { return x.toml_name == name; });
    if (key == keys.end()) return config_error(file, k.source().begin.line, "unknown key " + name);
    bool from_file = key->opt->count() == 0;
    if (const char* want = key->from_toml(v, from_file))
      return config_error(file, v.source().begin.line, name + " must be " + want + ", not " + type_name(v));
    if (from_file) key->file_line = v.source().begin.line;
  }
  return -1;
}

// Names a setting in a message: its place in the config file when the value came from there.
struct Namer {
  const std::string& file;
  const std::vector<Key>& keys;
  std::string operator()(const std::string& flag) const {
    for (const Key& k : keys)
      if (k.flag == flag && k.file_line > 0)
        return "config " + file + ":" + std::to_string(k.file_line) + ": " + k.toml_name;
    return flag;
  }
};

int value_error(const std::string& where, const std::string& message) {
  std::fprintf(stderr, "stockd: %s %s\n", where.c_str(), message.c_str());
  return kExitUsage;
}

// Ranges and forms of the values, whichever source they came from.
int check_values(const ServerOptions& o, const Namer& name) {
  std::string host;
  int port = 0;
  if (!split_host_port(o.http, &host, &port)) return value_error(name("--http"), o.http + ": expected ADDR:PORT");
  if (o.resp != "off" && !split_host_port(o.resp, &host, &port))
    return value_error(name("--resp"), o.resp + ": expected ADDR:PORT or off");
  // The contract promises that finished holds (and adjustment refs) are remembered at least 24 h.
  if (o.hold_retention_s < 24 * 3600 || o.hold_retention_s > 365 * 24 * 3600)
    return value_error(name("--hold-retention-s"), "must be 86400 (24 h) .. 31536000 (365 days)");
  struct Range {
    const char* flag;
    std::int64_t value, lo, hi;
  };
  for (const Range& r : {Range{"--max-connections", o.max_connections, 1, 1'000'000},
                         Range{"--max-body-bytes", o.max_body_bytes, 1024, 64 << 20},
                         Range{"--max-queue", o.max_queue, 1, 1'000'000},
                         Range{"--max-output-bytes", o.max_output_bytes, 64 << 10, 1 << 30},
                         Range{"--idle-timeout-s", o.idle_timeout_s, 1, 86'400},
                         Range{"--tick-ms", o.tick_ms, 1, 1000},
                         Range{"--events-retained", o.events_retained, 1, 100'000'000},
                         Range{"--movements-retention-days", o.movements_retention_days, 30, 3650},
                         Range{"--segment-mb", o.segment_mb, 1, 4096},
                         Range{"--fsync-batch-ms", o.fsync_batch_ms, 1, 10'000},
                         Range{"--snapshot-every-records", o.snapshot_every_records, 0, INT64_MAX},
                         Range{"--redis-wait-replicas", o.redis_wait_replicas, 0, 5},
                         Range{"--redis-wait-timeout-ms", o.redis_wait_timeout_ms, 10, 60'000},
                         Range{"--cluster-workers", o.cluster_workers, 1, 256}}) {
    if (r.value < r.lo || r.value > r.hi)
      return value_error(name(r.flag), "must be " + std::to_string(r.lo) + " .. " + std::to_string(r.hi));
  }
  if (o.low_stock_ratio < 0 || o.low_stock_ratio > 1) return value_error(name("--low-stock-ratio"), "must be 0 .. 1");
  if (o.fsync != "always" && o.fsync != "batch" && o.fsync != "off")
    return value_error(name("--fsync"), "must be always, batch or off");
  if (o.log_level != "trace" && o.log_level != "debug" && o.log_level != "info" && o.log_level != "warn" &&
      o.log_level != "error")
    return value_error(name("--log-level"), "must be trace, debug, info, warn or error");
  if (o.store != "embedded" && o.store.rfind("redis-cluster://", 0) != 0)
    return value_error(name("--store"), o.store + ": expected embedded or redis-cluster://HOST:PORT[,HOST:PORT...]");
  return -1;
}

}  // namespace

int parse_options(int argc, char** argv, ServerOptions* o) {
  CLI::App app{"stockd: the inventory server (HTTP/JSON and RESP over an embedded durable store or a Redis Cluster)"};
  app.set_version_flag("--version", std::string("stockd ") + STOCKD_VERSION, "print the version and exit");
  app.add_option("--config", o->config_file, "TOML config file (keys as the flags, with _ for -)")
      ->envname("STOCKD_CONFIG");
  std::vector<Key> keys;
  add_flags(app, o, &keys);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!o->config_file.empty())
    if (int rc = read_config_file(o->config_file, keys, o); rc >= 0) return rc;
  return check_values(*o, Namer{o->config_file, keys});
}

}  // namespace stockd::server
