// Tests of the Redis Cluster client.
//
// ClusterClientUnit.*: no server (key slots, URL parsing, a seed that is not listening).
// ClusterClientLive.*: against a real cluster of 3 masters with 1 replica each, named by
// STOCKD_TEST_CLUSTER=host:port (ctest starts one with scripts/redis-cluster; by hand:
//   scripts/redis-cluster start /tmp/rc 7110 && STOCKD_TEST_CLUSTER=127.0.0.1:7110 ./cluster_client_test).
// The live tests move slots between masters by hand (CLUSTER SETSLOT) to produce MOVED and ASK, and
// put every slot back before they end, so they must not run concurrently with each other.
#include "backends/cluster_client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace stockd::backends {
namespace {

using Type = RedisReply::Type;

TEST(ClusterClientUnit, KeySlotMatchesRedis) {
  // Expected values are what CLUSTER KEYSLOT answers on Redis 7.0.
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("123456789"), 12739);  // the CRC16/XMODEM check value 0x31C3, mod 16384
  EXPECT_EQ(key_slot(""), 0);
  EXPECT_EQ(key_slot("{user1000}.following"), 3443);
  EXPECT_EQ(key_slot("{user1000}.followers"), key_slot("{user1000}.following"));
  EXPECT_EQ(key_slot("foo{}{bar}"), 8363) << "an empty first tag means: hash the whole key";
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar")) << "the tag runs from the first { to the next }";
  EXPECT_EQ(key_slot("{bar"), 4015);
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar")) << "only the first tag counts";
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("a{"), 14311) << "an unclosed tag means: hash the whole key";
  EXPECT_EQ(key_slot("}{x}"), key_slot("x"));
}

TEST(ClusterClientUnit, ParseClusterUrlAcceptsSeedLists) {
  std::vector<std::string> seeds;
  std::string error;
  ASSERT_TRUE(parse_cluster_url("redis-cluster://10.0.0.1:7000,redis-b:7001", &seeds, &error)) << error;
  EXPECT_EQ(seeds, (std::vector<std::string>{"10.0.0.1:7000", "redis-b:7001"}));
  ASSERT_TRUE(parse_cluster_url("127.0.0.1:1", &seeds, &error)) << error;
  EXPECT_EQ(seeds, (std::vector<std::string>{"127.0.0.1:1"}));
  ASSERT_TRUE(parse_cluster_url("h:65535", &seeds, &error)) << error;
  EXPECT_EQ(seeds, (std::vector<std::string>{"h:65535"}));
}

TEST(ClusterClientUnit, ParseClusterUrlRejectsBadForms) {
  for (const char* bad : {"", "redis-cluster://", "h1", "h1:", ":7000", "h1:0", "h1:65536", "h1:70000", "h1:12ab",
                          "h1:-5", "h1:7000,", ",h1:7000", "h1:7000,,h2:7001", "redis://h1:7000", "h1:+700",
                          "h1:7000/0", "h1: 7000"}) {
    std::vector<std::string> seeds = {"untouched"};
    std::string error;
    EXPECT_FALSE(parse_cluster_url(bad, &seeds, &error)) << "url '" << bad << "' was accepted";
    EXPECT_FALSE(error.empty()) << "url '" << bad << "' rejected without a message";
    EXPECT_EQ(seeds, std::vector<std::string>{"untouched"}) << "url '" << bad << "' changed the output";
  }
}

TEST(ClusterClientUnit, ConnectFailsWhenNoSeedAnswers) {
  ClusterOptions options;
  options.seeds = {"127.0.0.1:1"};  // nothing listens on port 1 (binding it needs root)
  options.connect_timeout_ms = 300;
  std::string error;
  EXPECT_EQ(ClusterClient::connect(options, &error), nullptr);
  EXPECT_NE(error.find("127.0.0.1:1"), std::string::npos) << "the error should name the seed: " << error;

  options.seeds.clear();
  error.clear();
  EXPECT_EQ(ClusterClient::connect(options, &error), nullptr);
  EXPECT_FALSE(error.empty());
}

TEST(ClusterClientUnit, ReplyErrorKinds) {
  RedisReply io = RedisReply::io_error("127.0.0.1:1: Connection refused");
  EXPECT_TRUE(io.is_error() && io.is_io_error());
  EXPECT_EQ(io.str, "IOERR 127.0.0.1:1: Connection refused");
  EXPECT_FALSE(RedisReply::error("IOERR sent by a script").is_io_error()) << "the type decides, not the text";
  EXPECT_TRUE(RedisReply::error("CLUSTERDOWN Hash slot not served").is_error());
  EXPECT_FALSE(RedisReply::error("CLUSTERDOWN Hash slot not served").is_io_error());
  EXPECT_FALSE(RedisReply{}.is_error());
}

class ClusterClientLive : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* seed = std::getenv("STOCKD_TEST_CLUSTER");
    if (seed == nullptr || *seed == '\0') {
      if (std::getenv("STOCKD_TEST_CLUSTER_REQUIRED") != nullptr) {
        FAIL() << "STOCKD_TEST_CLUSTER is not set, but ctest runs this test with a cluster fixture: "
                  "see tests/backends/CMakeLists.txt";
      }
      GTEST_SKIP() << "STOCKD_TEST_CLUSTER (host:port of a Redis Cluster node) is not set; "
                      "start a cluster with scripts/redis-cluster start DIR PORT";
    }
    std::string error;
    ASSERT_TRUE(parse_cluster_url(seed, &options_.seeds, &error)) << error;
    client_ = connect(&error);
    ASSERT_NE(client_, nullptr) << "STOCKD_TEST_CLUSTER=" << seed << ": " << error;
    masters_ = client_->masters();
    ASSERT_EQ(masters_.size(), 3u) << "the test cluster has 3 masters";
  }

  std::unique_ptr<ClusterClient> connect(std::string* error) { return ClusterClient::connect(options_, error); }

  // A key whose slot the client's map gives to `addr`.
  std::string key_on(const ClusterClient& c, const std::string& addr, const std::string& prefix) {
    for (int i = 0; i < 100000; ++i) {
      std::string key = prefix + std::to_string(i);
      if (c.master_of(key) == addr) return key;
    }
    ADD_FAILURE() << "no key with prefix " << prefix << " lands on " << addr;
    return prefix;
  }

  std::string node_id(const std::string& addr) {
    RedisReply r = client_->on_node(addr, {"CLUSTER", "MYID"});
    EXPECT_EQ(r.type, Type::string) << addr << ": CLUSTER MYID: " << r.str;
    return r.str;
  }

  void setslot(const std::string& addr, std::uint16_t slot, const std::vector<std::string>& rest) {
    std::vector<std::string> argv = {"CLUSTER", "SETSLOT", std::to_string(slot)};
    argv.insert(argv.end(), rest.begin(), rest.end());
    RedisReply r = client_->on_node(addr, argv);
    std::string text;
    for (const std::string& a : argv) text += a + " ";
    EXPECT_EQ(r.type, Type::status) << "on " << addr << ": " << text << "-> " << r.str;
  }

  // Moves an empty slot from `from` to `to` the way redis-cli --cluster reshard does, minus MIGRATE:
  // importing on the target, migrating on the source, then the new owner on every master (target first).
  void move_empty_slot(std::uint16_t slot, const std::string& from, const std::string& to) {
    std::string from_id = node_id(from);
    std::string to_id = node_id(to);
    setslot(to, slot, {"IMPORTING", from_id});
    setslot(from, slot, {"MIGRATING", to_id});
    setslot(to, slot, {"NODE", to_id});
    setslot(from, slot, {"NODE", to_id});
    for (const ClusterNode& m : masters_) {
      if (m.addr != from && m.addr != to) setslot(m.addr, slot, {"NODE", to_id});
    }
  }

  ClusterOptions options_;
  std::unique_ptr<ClusterClient> client_;
  std::vector<ClusterNode> masters_;
};

// Runs a cleanup at scope exit, so a failed assertion does not leave a slot moved or migrating.
template <class F>
struct Finally {
  F f;
  ~Finally() { f(); }
};
template <class F>
Finally(F) -> Finally<F>;

TEST_F(ClusterClientLive, SlotMapCoversEverySlot) {
  std::vector<bool> covered(16384, false);
  for (const ClusterNode& m : masters_) {
    EXPECT_EQ(m.replicas.size(), 1u) << m.addr << " should have 1 replica in CLUSTER SLOTS";
    for (auto [first, last] : m.slots) {
      ASSERT_LE(first, last);
      ASSERT_LT(last, 16384);
      for (int s = first; s <= last; ++s) {
        EXPECT_FALSE(covered[s]) << "slot " << s << " has two masters";
        covered[s] = true;
      }
    }
  }
  EXPECT_EQ(std::count(covered.begin(), covered.end(), true), 16384);
  EXPECT_EQ(client_->master_of("foo"), client_->master_of("{foo}.bar"));
  EXPECT_NE(client_->master_of("foo"), "");
}

TEST_F(ClusterClientLive, SetAndGetOnEveryMaster) {
  for (const ClusterNode& m : masters_) {
    std::string key = key_on(*client_, m.addr, "setget:");
    std::string value = "value-for-" + m.addr;
    RedisReply set = client_->command(key, {"SET", key, value});
    ASSERT_EQ(set.type, Type::status) << "SET " << key << ": " << set.str;
    EXPECT_EQ(set.str, "OK");
    RedisReply get = client_->command(key, {"GET", key}, true);
    ASSERT_EQ(get.type, Type::string) << "GET " << key << ": " << get.str;
    EXPECT_EQ(get.str, value);
    RedisReply direct = client_->on_node(m.addr, {"GET", key});
    EXPECT_EQ(direct.str, value) << key << " should live on " << m.addr;
  }
}

TEST_F(ClusterClientLive, PipelineOfMixedCallsAnswersInOrder) {
  constexpr int kCalls = 1000;
  constexpr int kCounters = 7;
  std::vector<ClusterClient::Call> calls;
  for (int c = 0; c < kCounters; ++c) {
    std::string key = "pipe:counter:" + std::to_string(c);
    calls.push_back({key, {"DEL", key}});
  }
  std::vector<RedisReply> reset = client_->pipeline(calls);
  for (const RedisReply& r : reset) ASSERT_EQ(r.type, Type::integer) << r.str;

  calls.clear();
  std::vector<RedisReply> expected;
  std::vector<std::int64_t> counts(kCounters, 0);
  for (int i = 0; i < kCalls; ++i) {
    std::string n = std::to_string(i / 4);
    std::string key = "pipe:key:" + n;
    RedisReply want;
    switch (i % 4) {
      case 0: calls.push_back({key, {"SET", key, "v" + n}}); want.type = Type::status; want.str = "OK"; break;
      case 1: calls.push_back({key, {"GET", key}, true}); want.type = Type::string; want.str = "v" + n; break;
      case 2: {
        std::string counter = "pipe:counter:" + std::to_string(i % kCounters);
        calls.push_back({counter, {"INCR", counter}});
        want.type = Type::integer;
        want.integer = ++counts[i % kCounters];
        break;
      }
      default: calls.push_back({key + ":absent", {"GET", key + ":absent"}, true}); want.type = Type::nil; break;
    }
    expected.push_back(want);
  }
  std::set<std::string> masters_used;
  for (const ClusterClient::Call& c : calls) masters_used.insert(client_->master_of(c.key));
  EXPECT_EQ(masters_used.size(), 3u) << "the batch should span every master";

  std::vector<RedisReply> replies = client_->pipeline(calls);
  ASSERT_EQ(replies.size(), calls.size());
  for (int i = 0; i < kCalls; ++i) {
    const RedisReply& got = replies[i];
    const RedisReply& want = expected[i];
    std::string what = "call " + std::to_string(i) + " (" + calls[i].argv[0] + " " + calls[i].key + ")";
    ASSERT_EQ(got.type, want.type) << what << ": got '" << got.str << "'";
    EXPECT_EQ(got.str, want.str) << what;
    EXPECT_EQ(got.integer, want.integer) << what;
  }
}

TEST_F(ClusterClientLive, StaleSlotMapFollowsMoved) {
  const std::string a = masters_[0].addr;
  const std::string b = masters_[1].addr;
  const std::string key = key_on(*client_, a, "moved:");
  const std::uint16_t slot = key_slot(key);
  ASSERT_EQ(client_->command(key, {"DEL", key}).type, Type::integer);
  RedisReply count = client_->on_node(a, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)});
  ASSERT_EQ(count.integer, 0) << "slot " << slot << " must be empty to be moved without MIGRATE";

  std::unique_ptr<ClusterClient> stale = connect(nullptr);
  ASSERT_NE(stale, nullptr);
  move_empty_slot(slot, a, b);
  Finally restore{[&] {
    client_->on_node(b, {"DEL", key});
    move_empty_slot(slot, b, a);
  }};
  ASSERT_EQ(stale->master_of(key), a) << "the second client's map should predate the move";

  RedisReply set = stale->command(key, {"SET", key, "moved"});
  ASSERT_EQ(set.type, Type::status) << "SET " << key << " (slot " << slot << ", moved " << a << " -> " << b
                                    << "): " << set.str;
  EXPECT_EQ(stale->master_of(key), b) << "MOVED should have reloaded the slot map";
  EXPECT_EQ(client_->on_node(b, {"GET", key}).str, "moved") << "the key should be on the new owner " << b;
  EXPECT_EQ(stale->command(key, {"GET", key}, true).str, "moved");
}

TEST_F(ClusterClientLive, MigratingSlotFollowsAsk) {
  const std::string a = masters_[1].addr;
  const std::string b = masters_[2].addr;
  const std::string key = key_on(*client_, a, "ask:");
  const std::string tagged = "{" + key + "}.2";  // same slot, through the hash tag
  const std::uint16_t slot = key_slot(key);
  ASSERT_EQ(key_slot(tagged), slot);
  ASSERT_EQ(client_->command(key, {"DEL", key, tagged}).type, Type::integer);

  setslot(b, slot, {"IMPORTING", node_id(a)});
  setslot(a, slot, {"MIGRATING", node_id(b)});
  Finally restore{[&] {
    client_->on_node(b, {"ASKING"});
    client_->on_node(b, {"DEL", key, tagged});
    setslot(a, slot, {"STABLE"});
    setslot(b, slot, {"STABLE"});
  }};
  RedisReply raw = client_->on_node(a, {"SET", key, "direct"});
  ASSERT_TRUE(raw.is_error() && raw.str.rfind("ASK ", 0) == 0) << "setup: expected -ASK from " << a << ", got "
                                                                << raw.str;

  RedisReply set = client_->command(key, {"SET", key, "asked"});
  ASSERT_EQ(set.type, Type::status) << "SET " << key << " during migration of slot " << slot << ": " << set.str;
  EXPECT_EQ(client_->master_of(key), a) << "ASK must not change the slot map";
  client_->on_node(b, {"ASKING"});
  EXPECT_EQ(client_->on_node(b, {"GET", key}).str, "asked") << "the key should have been created on " << b;

  // In a pipeline: both calls are asked to b, and keep their order there.
  std::vector<RedisReply> replies =
      client_->pipeline({{tagged, {"SET", tagged, "v2"}}, {tagged, {"GET", tagged}, true}});
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].str, "OK");
  EXPECT_EQ(replies[1].type, Type::string) << replies[1].str;
  EXPECT_EQ(replies[1].str, "v2");
}

TEST_F(ClusterClientLive, WaitReportsMastersShortOfReplicas) {
  const std::string a = masters_[2].addr;
  const std::string key = key_on(*client_, a, "wait:");
  EXPECT_TRUE(client_->wait(1, 1000).empty()) << "nothing written yet";

  ASSERT_EQ(client_->command(key, {"SET", key, "1"}).str, "OK");
  EXPECT_EQ(client_->wait(1, 1000), std::vector<std::string>{}) << "the replica of " << a << " should ack";

  ASSERT_EQ(client_->command(key, {"SET", key, "2"}).str, "OK");
  // WAIT 5 200 can only end by its timeout: that it returns at all, naming a, is the check.
  EXPECT_EQ(client_->wait(5, 200), std::vector<std::string>{a}) << "only 1 replica exists, 5 were asked for";

  EXPECT_EQ(client_->command(key, {"GET", key}, true).str, "2");
  EXPECT_TRUE(client_->wait(5, 200).empty()) << "a read must not make a master dirty";

  ASSERT_EQ(client_->command(key, {"SET", key, "3"}).str, "OK");
  EXPECT_TRUE(client_->wait(0, 200).empty());
  EXPECT_TRUE(client_->wait(5, 200).empty()) << "wait(0, ...) also ends the tracking of earlier writes";
}

TEST_F(ClusterClientLive, SeedsThatDoNotAnswerAreSkipped) {
  ClusterOptions options = options_;
  options.seeds.insert(options.seeds.begin(), "127.0.0.1:1");
  std::string error;
  std::unique_ptr<ClusterClient> c = ClusterClient::connect(options, &error);
  ASSERT_NE(c, nullptr) << error;
  EXPECT_EQ(c->masters().size(), 3u);
  RedisReply r = c->on_node("127.0.0.1:1", {"PING"});
  EXPECT_TRUE(r.is_io_error()) << r.str;
}

// A master that stops answering a write must cost a caller one command timeout, then an IOERR; once
// it answers again the client reconnects by itself. CLIENT PAUSE WRITE holds every write until CLIENT
// UNPAUSE (not for a time that a loaded machine could outlast), so the SET below is sent to a master
// that surely does not answer it: only the command timeout can end the call, and the IOERR shows it did.
TEST_F(ClusterClientLive, UnresponsiveMasterGivesIoErrorWithinTheTimeout) {
  const std::string a = masters_[0].addr;
  ClusterOptions options = options_;
  options.command_timeout_ms = 150;
  std::string error;
  std::unique_ptr<ClusterClient> c = ClusterClient::connect(options, &error);
  ASSERT_NE(c, nullptr) << error;
  const std::string key = key_on(*c, a, "sleepy:");
  ASSERT_EQ(c->command(key, {"SET", key, "before"}).str, "OK");

  std::unique_ptr<ClusterClient> admin = connect(&error);
  ASSERT_NE(admin, nullptr) << error;
  // The pause's own limit (60 s) only matters if this test dies before its UNPAUSE.
  ASSERT_EQ(admin->on_node(a, {"CLIENT", "PAUSE", "60000", "WRITE"}).str, "OK");
  RedisReply r = c->command(key, {"SET", key, "during"});
  RedisReply unpaused = admin->on_node(a, {"CLIENT", "UNPAUSE"});
  ASSERT_EQ(unpaused.str, "OK") << "CLIENT UNPAUSE on " << a;
  EXPECT_TRUE(r.is_io_error()) << "a non-idempotent SET to a master that does not answer: " << r.str;

  RedisReply after = c->command(key, {"SET", key, "after"});
  EXPECT_EQ(after.str, "OK") << "the client should reconnect once the master answers";
  EXPECT_EQ(c->command(key, {"GET", key}, true).str, "after");
}

}  // namespace
}  // namespace stockd::backends
