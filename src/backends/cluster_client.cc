// A synchronous Redis Cluster client over hiredis 0.14 (see cluster_client.h for the why).
//
// Routing: key -> slot (CRC16/XMODEM of the hash tag, mod 16384) -> master, from a table of 16384
// entries filled from CLUSTER SLOTS. The table is only a cache: Redis is the authority and says so
// with -MOVED (the slot has a new owner: reload the table, send again to the node it names) or -ASK
// (the slot is being migrated and this key is already gone: send once to the named node, prefixed by
// ASKING, without touching the table).
//
// Every send goes through one engine, execute(): the calls still to be answered are grouped by the
// node they go to; each group is written as one pipeline and read back in order (every group is written
// before any is read, so several nodes cost one round trip); calls answered with
// a redirect (or TRYAGAIN, or a broken connection that allows a retry) go into the next round. Each
// round does at most one slot-map reload and one TRYAGAIN pause for all its calls, and each call has
// a bounded number of hops, so the loop ends. command() is a pipeline of one.
//
// Retrying after a broken connection: a call that was never written (the connection could not be
// opened, or its pipeline chunk was not reached) is retried once after a reload whatever its kind,
// since nothing can have executed. A call that was written but not answered may have executed, so it
// is retried only when the caller declared it idempotent; otherwise it gets RedisReply::io_error.
#include "backends/cluster_client.h"

#include "backends/cluster_slots.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <charconv>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

namespace stockd::backends {
namespace {

constexpr int kTryAgainDelayMs = 20;
// Commands per round trip on one connection: bounds the client's write buffer and the server's
// query buffer for a huge pipeline() (larger batches are split into chunks of this size).
constexpr std::size_t kPipelineDepthMax = 1024;

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

RedisReply convert(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::string; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::status; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::error; break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::integer; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::array; break;
    default: out.type = RedisReply::Type::nil; break;
  }
  out.integer = r.integer;
  if (r.str != nullptr) out.str.assign(r.str, r.len);
  out.elements.reserve(r.elements);
  for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(convert(*r.element[i]));
  return out;
}

timeval to_timeval(int ms) {
  ms = std::max(ms, 1);  // a zero timeval would make every connect/read time out at once
  return timeval{ms / 1000, (ms % 1000) * 1000};
}

bool has_prefix(const std::string& s, std::string_view word) { return s.rfind(word, 0) == 0; }

bool equals_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'a' && a[i] <= 'z' ? static_cast<char>(a[i] - 32) : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

// Commands that never write. Everything else counts as a write for wait(): a false "dirty" costs one
// WAIT, a false "clean" would report a write as replicated when it may not be.
bool is_read_only(std::string_view cmd) {
  static constexpr std::array<std::string_view, 16> kReadOnly = {
      "GET", "HGET", "HGETALL", "HMGET", "EXISTS", "ZRANGEBYSCORE", "ZRANGE", "XRANGE",
      "XREAD", "PING", "CLUSTER", "FCALL_RO", "INFO", "TYPE", "SCAN", "KEYS"};
  return std::any_of(kReadOnly.begin(), kReadOnly.end(), [&](std::string_view r) { return equals_nocase(cmd, r); });
}

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381" -> the address. Redis 7 may send ":6381"
// when the node's endpoint is unknown: that means the host of the node that answered.
bool redirect_target(const std::string& error, const std::string& from, std::string* addr) {
  auto first = error.find(' ');
  auto second = first == std::string::npos ? first : error.find(' ', first + 1);
  if (second == std::string::npos || second + 1 >= error.size()) return false;
  *addr = error.substr(second + 1);
  if ((*addr)[0] == ':') *addr = host_of(from) + *addr;
  return true;
}

// One call on its way through execute().
struct Pending {
  std::size_t index = 0;  // into the caller's calls and replies
  std::uint16_t slot = 0;
  const std::vector<std::string>* argv = nullptr;
  bool idempotent = false;
  std::string target;   // node to send to; empty: the slot map's owner of `slot`
  bool asking = false;  // prefix with ASKING (this hop follows an ASK)
  int hops = 0;         // MOVED/ASK/TRYAGAIN retries so far, at most max_redirects
  bool io_retried = false;
};

// What a round found that must happen before the next one (once, whatever the number of calls).
struct RoundNeeds {
  bool refresh = false;
  bool pause = false;  // TRYAGAIN
};

}  // namespace

RedisReply RedisReply::error(std::string text) {
  RedisReply r;
  r.type = Type::error;
  r.str = std::move(text);
  return r;
}

RedisReply RedisReply::io_error(std::string_view why) {
  RedisReply r = error(fmt::format("IOERR {}", why));
  r.io_failed = true;
  return r;
}

struct ClusterClient::Impl {
  ClusterOptions options;
  SlotMap map;
  std::unordered_map<std::string, ContextPtr> conns;  // by "host:port"
  std::set<std::string> dirty;                        // masters that executed a write since wait()
  std::vector<const char*> arg_ptrs;                  // scratch for redisAppendCommandArgv
  std::vector<std::size_t> arg_lens;

  redisContext* conn(const std::string& addr, std::string* error);
  void drop(const std::string& addr) { conns.erase(addr); }
  void append(redisContext* c, const std::vector<std::string>& argv);
  bool read(redisContext* c, ReplyPtr* reply);
  bool roundtrip(const std::string& addr, const std::vector<std::string>& argv, RedisReply* reply);
  bool load_slots_from(const std::string& addr, std::string* error);
  bool refresh(std::string* error);

  void execute(std::vector<Pending> todo, std::vector<RedisReply>* out);
  void route(std::vector<Pending>* todo, std::vector<RedisReply>* out, bool* refreshed);
  // written: execute() already wrote the group's calls (one chunk), only their replies are read here.
  void run_group(const std::string& addr, const std::vector<Pending*>& group, std::vector<RedisReply>* out,
                 std::vector<Pending>* next, RoundNeeds* needs, bool written);
  void fail(Pending* p, bool written, const std::string& why, std::vector<RedisReply>* out, std::vector<Pending>* next);
  void answer(const std::string& addr, Pending* p, RedisReply reply, std::vector<RedisReply>* out,
              std::vector<Pending>* next, RoundNeeds* needs);
};

// Lazily opened; a context that failed is dropped, so the next use reconnects.
redisContext* ClusterClient::Impl::conn(const std::string& addr, std::string* error) {
  if (auto it = conns.find(addr); it != conns.end()) return it->second.get();
  std::string host;
  int port = 0;
  if (!split_addr(addr, &host, &port)) {
    *error = fmt::format("{}: not a host:port address", addr);
    return nullptr;
  }
  ContextPtr c(redisConnectWithTimeout(host.c_str(), port, to_timeval(options.connect_timeout_ms)));
  if (c == nullptr || c->err != 0) {
    *error = fmt::format("{}: connect: {}", addr, c == nullptr ? "out of memory" : c->errstr);
    return nullptr;
  }
  // Without a read/write timeout a node that stops answering (SIGSTOP, network partition) would hang
  // every call on it forever.
  if (redisSetTimeout(c.get(), to_timeval(options.command_timeout_ms)) != REDIS_OK) {
    *error = fmt::format("{}: setting the command timeout: {}", addr, c->errstr);
    return nullptr;
  }
  redisContext* raw = conns.emplace(addr, std::move(c)).first->second.get();
  if (!options.password.empty()) {
    RedisReply reply;
    if (!roundtrip(addr, {"AUTH", options.password}, &reply) || reply.is_error()) {
      *error = fmt::format("{}: AUTH: {}", addr, reply.str);
      drop(addr);
      return nullptr;
    }
  }
  return raw;
}

// An append only fails on out-of-memory, which hiredis records in c->err: the next read then fails
// and the call is handled like any broken connection.
void ClusterClient::Impl::append(redisContext* c, const std::vector<std::string>& argv) {
  arg_ptrs.clear();
  arg_lens.clear();
  for (const std::string& a : argv) {
    arg_ptrs.push_back(a.data());
    arg_lens.push_back(a.size());
  }
  (void)redisAppendCommandArgv(c, static_cast<int>(argv.size()), arg_ptrs.data(), arg_lens.data());
}

bool ClusterClient::Impl::read(redisContext* c, ReplyPtr* reply) {
  void* raw = nullptr;
  if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) return false;
  reply->reset(static_cast<redisReply*>(raw));
  return true;
}

// One command on one node; false (and an io_error in *reply) when the connection failed.
bool ClusterClient::Impl::roundtrip(const std::string& addr, const std::vector<std::string>& argv, RedisReply* reply) {
  std::string why;
  redisContext* c = conn(addr, &why);
  if (c == nullptr) {
    *reply = RedisReply::io_error(why);
    return false;
  }
  append(c, argv);
  ReplyPtr r;
  if (!read(c, &r)) {
    *reply = RedisReply::io_error(fmt::format("{}: {}", addr, c->errstr));
    drop(addr);
    return false;
  }
  *reply = convert(*r);
  return true;
}

bool ClusterClient::Impl::load_slots_from(const std::string& addr, std::string* error) {
  RedisReply reply;
  if (!roundtrip(addr, {"CLUSTER", "SLOTS"}, &reply)) {
    *error = reply.str.substr(6);  // without "IOERR "
    return false;
  }
  SlotMap fresh;
  if (!parse_cluster_slots(reply, addr, &fresh, error)) return false;
  map = std::move(fresh);
  // Connections to nodes that are no longer masters (a seed that is a replica, a demoted master) are
  // closed so their number stays bounded by the number of masters.
  std::erase_if(conns, [&](const auto& entry) {
    return std::none_of(map.masters.begin(), map.masters.end(), [&](const ClusterNode& n) { return n.addr == entry.first; });
  });
  return true;
}

// Known masters first (the usual case: one of them knows the new layout), then their replicas, then
// the seeds (every known node may be gone after a restart of the whole cluster).
bool ClusterClient::Impl::refresh(std::string* error) {
  std::vector<std::string> candidates;
  for (const ClusterNode& n : map.masters) candidates.push_back(n.addr);
  for (const ClusterNode& n : map.masters) candidates.insert(candidates.end(), n.replicas.begin(), n.replicas.end());
  candidates.insert(candidates.end(), options.seeds.begin(), options.seeds.end());
  std::string failures;
  std::set<std::string> tried;
  for (const std::string& addr : candidates) {
    if (!tried.insert(addr).second) continue;
    std::string why;
    if (load_slots_from(addr, &why)) return true;
    failures += (failures.empty() ? "" : "; ") + why;
  }
  if (error != nullptr) *error = "no node answered CLUSTER SLOTS: " + failures;
  return false;
}

void ClusterClient::Impl::execute(std::vector<Pending> todo, std::vector<RedisReply>* out) {
  bool refreshed_for_unrouted = false;
  while (!todo.empty()) {
    route(&todo, out, &refreshed_for_unrouted);
    // std::map: groups in a stable order; a group keeps the order of `calls` (same-node ordering).
    std::map<std::string, std::vector<Pending*>> groups;
    for (Pending& p : todo) groups[p.target].push_back(&p);
    std::vector<Pending> next;
    RoundNeeds needs;
    // Several nodes: each one's calls are written before any node's replies are read, so the nodes
    // work in parallel (one round trip, not one per node). A group larger than one pipeline chunk is
    // written by run_group chunk by chunk instead.
    std::set<std::string> written;
    if (groups.size() > 1) {
      for (const auto& [addr, group] : groups) {
        std::string why;
        redisContext* c = group.size() <= kPipelineDepthMax ? conn(addr, &why) : nullptr;
        if (c == nullptr) continue;  // run_group connects (or fails the calls) as usual
        for (const Pending* p : group) {
          if (p->asking) append(c, {"ASKING"});
          append(c, *p->argv);
        }
        // A write error leaves the context failed: run_group's reads then fail and count the calls
        // as written (they may have executed), which is what they may be.
        for (int done = 0; done == 0;)
          if (redisBufferWrite(c, &done) != REDIS_OK) break;
        written.insert(addr);
      }
    }
    for (const auto& [addr, group] : groups) run_group(addr, group, out, &next, &needs, written.count(addr) > 0);
    if (needs.refresh) refresh(nullptr);
    if (needs.pause) std::this_thread::sleep_for(std::chrono::milliseconds(kTryAgainDelayMs));
    todo = std::move(next);
  }
}

// Gives every call without a target the owner of its slot. A slot nobody owns in our map is worth
// one reload per execute(); if still unowned, the call gets the reply Redis itself would give.
void ClusterClient::Impl::route(std::vector<Pending>* todo, std::vector<RedisReply>* out, bool* refreshed) {
  auto unowned = [&](const Pending& p) { return p.target.empty() && map.owner[p.slot] == kNoOwner; };
  if (!*refreshed && std::any_of(todo->begin(), todo->end(), unowned)) {
    *refreshed = true;
    refresh(nullptr);
  }
  std::erase_if(*todo, [&](const Pending& p) {
    if (!unowned(p)) return false;
    (*out)[p.index] = RedisReply::error("CLUSTERDOWN Hash slot not served");
    return true;
  });
  for (Pending& p : *todo) {
    assert(p.hops <= options.max_redirects);
    if (p.target.empty()) p.target = map.masters[map.owner[p.slot]].addr;
  }
}

// Writes a node's calls as pipelines of at most kPipelineDepthMax, reading each back before the next.
void ClusterClient::Impl::run_group(const std::string& addr, const std::vector<Pending*>& group,
                                    std::vector<RedisReply>* out, std::vector<Pending>* next, RoundNeeds* needs,
                                    bool written) {
  std::string why;
  redisContext* c = conn(addr, &why);
  if (c == nullptr) {
    for (Pending* p : group) fail(p, false, why, out, next);
    needs->refresh = true;
    return;
  }
  for (std::size_t begin = 0; begin < group.size(); begin += kPipelineDepthMax) {
    std::size_t end = std::min(group.size(), begin + kPipelineDepthMax);
    for (std::size_t i = begin; i < end && !written; ++i) {
      if (group[i]->asking) append(c, {"ASKING"});
      append(c, *group[i]->argv);
    }
    for (std::size_t i = begin; i < end; ++i) {
      ReplyPtr asking;
      ReplyPtr reply;
      // The ASKING reply itself carries nothing: if it failed, the command's reply says so (MOVED).
      if ((group[i]->asking && !read(c, &asking)) || !read(c, &reply)) {
        why = fmt::format("{}: {}", addr, c->errstr);
        drop(addr);
        for (std::size_t j = i; j < group.size(); ++j) fail(group[j], j < end, why, out, next);
        needs->refresh = true;
        return;
      }
      answer(addr, group[i], convert(*reply), out, next, needs);
    }
  }
}

void ClusterClient::Impl::fail(Pending* p, bool written, const std::string& why, std::vector<RedisReply>* out,
                               std::vector<Pending>* next) {
  if (!p->io_retried && (!written || p->idempotent)) {
    p->io_retried = true;
    p->target.clear();  // to the owner after the reload (a failover may have named a new master)
    p->asking = false;
    next->push_back(*p);
    return;
  }
  // It may have executed on that master: wait() must ask it (and will report it if it stays unreachable).
  if (written && !is_read_only((*p->argv)[0])) dirty.insert(p->target);
  (*out)[p->index] = RedisReply::io_error(why);
}

void ClusterClient::Impl::answer(const std::string& addr, Pending* p, RedisReply reply, std::vector<RedisReply>* out,
                                 std::vector<Pending>* next, RoundNeeds* needs) {
  if (reply.is_error()) {
    bool moved = has_prefix(reply.str, "MOVED ");
    bool ask = has_prefix(reply.str, "ASK ");
    bool try_again = has_prefix(reply.str, "TRYAGAIN");
    std::string target = addr;
    if ((moved || ask) && !redirect_target(reply.str, addr, &target)) {
      (*out)[p->index] = std::move(reply);  // malformed: nothing to follow
      return;
    }
    if (moved || ask || try_again) {
      if (p->hops >= options.max_redirects) {
        (*out)[p->index] = try_again ? std::move(reply) : RedisReply::io_error("too many redirects, last: " + reply.str);
        return;
      }
      ++p->hops;
      if (!try_again) p->asking = ask;  // TRYAGAIN repeats the same hop, ASKING included
      p->target = std::move(target);
      needs->refresh = needs->refresh || moved;
      needs->pause = needs->pause || try_again;
      next->push_back(*p);
      return;
    }
    if (has_prefix(reply.str, "CLUSTERDOWN")) {
      (*out)[p->index] = std::move(reply);
      return;
    }
  }
  // Any other reply, errors included (a script can write and then fail), means the master ran it.
  if (!is_read_only((*p->argv)[0])) dirty.insert(addr);
  (*out)[p->index] = std::move(reply);
}

ClusterClient::ClusterClient() : impl_(std::make_unique<Impl>()) {}
ClusterClient::~ClusterClient() = default;

std::unique_ptr<ClusterClient> ClusterClient::connect(const ClusterOptions& options, std::string* error) {
  std::string why;
  if (options.seeds.empty()) {
    why = "no seed nodes given";
  } else if (options.connect_timeout_ms <= 0 || options.command_timeout_ms <= 0 || options.max_redirects < 0) {
    why = "timeouts must be positive and max_redirects not negative";
  }
  std::unique_ptr<ClusterClient> client(new ClusterClient());
  client->impl_->options = options;
  if (why.empty() && client->impl_->refresh(&why)) return client;
  if (error != nullptr) *error = why;
  return nullptr;
}

RedisReply ClusterClient::command(std::string_view key, const std::vector<std::string>& argv, bool idempotent) {
  if (argv.empty()) return RedisReply::error("ERR empty command");
  std::vector<RedisReply> out(1);
  std::vector<Pending> todo(1);
  todo[0].slot = key_slot(key);
  todo[0].argv = &argv;
  todo[0].idempotent = idempotent;
  impl_->execute(std::move(todo), &out);
  return std::move(out[0]);
}

std::vector<RedisReply> ClusterClient::pipeline(const std::vector<Call>& calls) {
  std::vector<RedisReply> out(calls.size());
  std::vector<Pending> todo;
  todo.reserve(calls.size());
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (calls[i].argv.empty()) {
      out[i] = RedisReply::error("ERR empty command");
      continue;
    }
    Pending p;
    p.index = i;
    p.slot = key_slot(calls[i].key);
    p.argv = &calls[i].argv;
    p.idempotent = calls[i].idempotent;
    todo.push_back(std::move(p));
  }
  impl_->execute(std::move(todo), &out);
  assert(out.size() == calls.size());
  return out;
}

// All WAITs are written before any is read, so the masters wait in parallel: the whole call takes
// about one timeout, not one per master. The socket timeout is raised meanwhile, since WAIT itself
// blocks up to timeout_ms (0 = forever on the server: then the command timeout ends it here).
std::vector<std::string> ClusterClient::wait(int replicas, int timeout_ms) {
  Impl& im = *impl_;
  std::set<std::string> dirty = std::exchange(im.dirty, {});
  if (replicas <= 0) return {};
  std::vector<std::string> failed;
  std::vector<std::pair<std::string, redisContext*>> sent;
  const std::vector<std::string> argv = {"WAIT", std::to_string(replicas), std::to_string(timeout_ms)};
  for (const std::string& addr : dirty) {
    std::string why;
    redisContext* c = im.conn(addr, &why);
    if (c == nullptr) {
      failed.push_back(addr);
      continue;
    }
    redisSetTimeout(c, to_timeval(std::max(timeout_ms, 0) + im.options.command_timeout_ms));
    im.append(c, argv);
    sent.emplace_back(addr, c);
  }
  for (const auto& [addr, c] : sent) {
    ReplyPtr reply;
    if (!im.read(c, &reply)) {
      failed.push_back(addr);
      im.drop(addr);
      continue;
    }
    redisSetTimeout(c, to_timeval(im.options.command_timeout_ms));
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer < replicas) failed.push_back(addr);
  }
  std::sort(failed.begin(), failed.end());
  return failed;
}

std::string ClusterClient::master_of(std::string_view key) const {
  std::uint16_t owner = impl_->map.owner[key_slot(key)];
  return owner == kNoOwner ? std::string() : impl_->map.masters[owner].addr;
}

std::vector<RedisReply> ClusterClient::on_all_masters(const std::vector<std::string>& argv) {
  std::vector<RedisReply> out;
  for (const ClusterNode& n : masters()) out.push_back(on_node(n.addr, argv));
  return out;
}

RedisReply ClusterClient::on_node(const std::string& addr, const std::vector<std::string>& argv) {
  if (argv.empty()) return RedisReply::error("ERR empty command");
  RedisReply reply;
  impl_->roundtrip(addr, argv, &reply);
  return reply;
}

bool ClusterClient::refresh(std::string* error) { return impl_->refresh(error); }

std::vector<ClusterNode> ClusterClient::masters() const { return impl_->map.masters; }

}  // namespace stockd::backends
