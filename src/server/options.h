// options.h: stockd's configuration: flags, a TOML file (--config FILE) and STOCKD_* environment.
// Precedence: command line > environment > config file > defaults. docs/operations.md lists every key.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace stockd::server {

struct ServerOptions {
  std::string data_dir = "./stockd-data";
  std::string http = "127.0.0.1:8080";
  std::string resp = "127.0.0.1:6380";  // "off" disables RESP
  std::string fsync = "always";         // always | batch | off
  std::int64_t fsync_batch_ms = 10;
  std::int64_t segment_mb = 64;
  std::int64_t snapshot_every_records = 1'000'000;
  std::int64_t events_retained = 100'000;
  std::int64_t movements_retention_days = 30;  // GET /v1/movements history; the contract promises >= 30
  bool recover_truncate = false;
  std::int64_t hold_retention_s = 24 * 3600;
  double low_stock_ratio = 0.10;  // default low-stock threshold: this share of on_hand
  std::int64_t max_connections = 10'000;
  std::int64_t max_body_bytes = 1 << 20;
  std::int64_t max_queue = 16'384;   // write requests admitted per loop round; beyond: 429 overloaded
  std::int64_t max_output_bytes = 8 << 20;  // per connection: stop reading a client that does not read
  std::int64_t idle_timeout_s = 300;
  std::int64_t tick_ms = 100;        // expiry sweep period
  std::string log_level = "info";
  std::string store = "embedded";  // or "redis-cluster://host:port[,host:port...]"
  // Cluster store only: replicas that must confirm a write before it is acknowledged (WAIT), how long
  // to wait for them, and the worker threads of the front end (one cluster connection set each).
  std::int64_t redis_wait_replicas = 1;
  std::int64_t redis_wait_timeout_ms = 1000;
  std::int64_t cluster_workers = 64;
  std::string ledger;  // cluster store: PostgreSQL connection for the ledger writer ("" = none)
  std::string redis_password;  // cluster store: AUTH for every Redis node ("" = none)
  std::string admin_token;
  std::map<std::string, std::string> channel_tokens;  // channel -> token
  // [alerts] of the config file only (url, format): where alerts go until PUT /v1/alerts stores its own
  // choice in <data-dir>/alerts.json, which then wins (docs/operations.md). "" = none.
  std::string alerts_url;
  std::string alerts_format = "json";
  std::string config_file;
  bool auth_enabled() const { return !admin_token.empty() || !channel_tokens.empty(); }
};

// Parses argv, STOCKD_* and the config file. Returns -1 to go on, or an exit code (0 for --help and
// --version, 2 for a usage or config error, message already printed). Every key of the config file is
// checked, [auth] included: an unknown key, a wrong type or a bad value is an error naming the file,
// the line and the key, never a setting silently left at its default.
int parse_options(int argc, char** argv, ServerOptions* out);

// "127.0.0.1:8080" -> host, port. False when malformed.
bool split_host_port(const std::string& addr, std::string* host, int* port);

}  // namespace stockd::server
