// cluster_client.h: a small synchronous Redis Cluster client over hiredis.
//
// Why by hand: Debian 12 has hiredis 0.14 (single-node connections only) and no maintained C/C++
// Redis Cluster client package (hiredis-cluster, redis-plus-plus are not in Debian 12). What a
// cluster client must add is small and well specified (https://redis.io/docs/reference/cluster-spec/):
// the key -> slot function (CRC16/XMODEM of the hash tag, mod 16384), a slot -> master map from
// CLUSTER SLOTS, and following MOVED (refresh the map, retry at the new owner) and ASK (retry once at
// the named node, prefixed by ASKING).
//
// REQUIRES: external synchronization; one ClusterClient per thread. It owns one connection per
// master it has talked to, opened lazily and reopened after an error.
//
// Errors are replies: a command that cannot be delivered (no connection, timeout, too many
// redirects) yields a RedisReply of type error with `io_failed` set (no connection or a broken one:
// the command may or may not have been executed; its text says why, after "IOERR "), or the error
// Redis sent ("CLUSTERDOWN", "TRYAGAIN", a function's error). Callers test io_failed, never the
// text. Nothing throws.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stockd::backends {

// A reply copied out of hiredis.
struct RedisReply {
  enum class Type : std::uint8_t { nil, status, error, integer, string, array };
  Type type = Type::nil;
  std::int64_t integer = 0;
  std::string str;                  // status, error and string replies
  std::vector<RedisReply> elements;  // array replies
  bool io_failed = false;  // an error of the client (not delivered or not answered), not of Redis
  bool is_error() const { return type == Type::error; }
  bool is_io_error() const { return io_failed; }
  // An error reply as Redis would send it.
  static RedisReply error(std::string text);
  // The client's own error: type error, io_failed, text "IOERR <why>".
  static RedisReply io_error(std::string_view why);
};

// The Redis Cluster slot of a key: CRC16 of the hash tag ({...}, the first non-empty one) or of the
// whole key, mod 16384.
std::uint16_t key_slot(std::string_view key);

struct ClusterOptions {
  std::vector<std::string> seeds;  // "host:port", at least one
  int connect_timeout_ms = 1000;
  int command_timeout_ms = 2000;  // per read/write on a connection
  int max_redirects = 5;          // MOVED/ASK hops per command
  std::string password;           // AUTH, when the cluster has requirepass (empty: none)
};

// Parses "redis-cluster://h1:p1,h2:p2" (the scheme is optional) into seeds. False on a bad form.
bool parse_cluster_url(std::string_view url, std::vector<std::string>* seeds, std::string* error);

struct ClusterNode {
  std::string addr;  // "host:port"
  std::vector<std::pair<std::uint16_t, std::uint16_t>> slots;  // [first, last] ranges it serves
  std::vector<std::string> replicas;                           // "host:port"
};

class ClusterClient {
 public:
  // Connects to the first reachable seed and loads the slot map. nullptr and *error on failure.
  static std::unique_ptr<ClusterClient> connect(const ClusterOptions& options, std::string* error);
  ~ClusterClient();
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  // One command, sent to the master of key_slot(key). Follows MOVED and ASK; after a connection
  // error it refreshes the slot map and retries once (only for commands that are safe to repeat:
  // the caller says so with `idempotent`; otherwise an io_error reply comes back at once).
  RedisReply command(std::string_view key, const std::vector<std::string>& argv, bool idempotent = false);

  // A batch of commands: grouped by master, written to each master as one pipeline, then read back;
  // replies in the order of `calls`. A call answered MOVED/ASK is redirected on its own. Commands to
  // different masters are not ordered with respect to each other; commands to the same master keep
  // the order of `calls`.
  struct Call {
    std::string key;  // routes the call (its slot)
    std::vector<std::string> argv;
    bool idempotent = false;
  };
  std::vector<RedisReply> pipeline(const std::vector<Call>& calls);

  // WAIT numreplicas timeout_ms on every master that executed a write through this client since the
  // last wait() (pipeline() and command() mark the master that answered). Returns the masters whose
  // WAIT answered fewer than `replicas` (or failed); empty = every write reached `replicas`.
  // `replicas` == 0 returns empty at once.
  std::vector<std::string> wait(int replicas, int timeout_ms);

  // The master serving `key` now ("host:port"), from the slot map.
  std::string master_of(std::string_view key) const;

  // The same command on every master (FUNCTION LOAD, SCRIPT FLUSH, ...); replies in masters() order.
  std::vector<RedisReply> on_all_masters(const std::vector<std::string>& argv);
  // A command on one node by address (for sweeps and tests).
  RedisReply on_node(const std::string& addr, const std::vector<std::string>& argv);

  // Reloads the slot map (CLUSTER SLOTS) from any reachable known node or seed. False if none answered.
  bool refresh(std::string* error = nullptr);
  std::vector<ClusterNode> masters() const;  // from the current slot map

 private:
  ClusterClient();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stockd::backends
