// Failover of a Redis master under load, against the test cluster (STOCKD_TEST_CLUSTER=host:port,
// STOCKD_TEST_CLUSTER_DIR=the directory scripts/redis-cluster started it in). ctest runs it after the
// other cluster tests: it SIGKILLs a master, lets its replica take over, and restarts the killed
// node (it rejoins as a replica) before it ends.
//
// What must hold (docs/cluster.md): with --redis-wait-replicas 1 every acknowledged hold is still
// there after the replica took over; the failed master's SKUs answer `unavailable` (never a wrong
// answer) until then, while SKUs on other masters go on; afterwards reconcile repairs what the
// failover left of unacknowledged holds and then finds no drift.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backends/cluster_client.h"
#include "backends/cluster_store.h"

namespace stockd::backends {
namespace {

using namespace std::chrono_literals;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Polls `done` every 50 ms until it holds or `deadline` passes; true if it held. The deadline only
// bounds a hung test: how long the condition took is never what passes or fails it.
template <typename Condition>
bool wait_until(Condition done, std::chrono::seconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

TEST(ClusterFailover, AcknowledgedHoldsSurviveAMasterLoss) {
  if (env("STOCKD_TEST_CLUSTER").empty() || env("STOCKD_TEST_CLUSTER_DIR").empty()) {
    if (!env("STOCKD_TEST_CLUSTER_REQUIRED").empty()) FAIL() << "STOCKD_TEST_CLUSTER(_DIR) is not set";
    GTEST_SKIP() << "set STOCKD_TEST_CLUSTER and STOCKD_TEST_CLUSTER_DIR";
  }
  ClusterStoreOptions opt;
  opt.seeds = {env("STOCKD_TEST_CLUSTER")};
  opt.wait_replicas = 1;
  opt.wait_timeout_ms = 500;
  auto shared = ClusterStore::make_shared_state();
  std::string error;
  auto store = ClusterStore::open(opt, shared, &error);
  ASSERT_NE(store, nullptr) << error;
  // A unique prefix per run (the test is driven by real time and a real kill, so no seed replays it):
  // printed, so that a failure's keys can be found in the cluster.
  std::string prefix = "f" + std::to_string(std::random_device{}() % 1000000) + "-";
  std::printf("failover: names prefixed %s\n", prefix.c_str());
  SCOPED_TRACE("names prefixed " + prefix);
  StoreReply ignored;
  std::int64_t t0 = wall_ms();
  ASSERT_TRUE(store->apply(core::PutChannel{prefix + "app", 1, 900, core::ChannelState::active}, t0, &ignored).ok());
  std::vector<std::string> skus;
  for (int i = 0; i < 24; ++i) {
    skus.push_back(prefix + "S" + std::to_string(i));
    ASSERT_TRUE(store->apply(core::PutSku{skus.back(), 100000, 0, {}, {}}, t0, &ignored).ok());
  }

  ClusterOptions co;
  co.seeds = opt.seeds;
  auto cc = ClusterClient::connect(co, &error);
  ASSERT_NE(cc, nullptr) << error;
  // Every node is a seed from now on: the victim may be the seed we were given.
  for (const ClusterNode& m : cc->masters()) {
    opt.seeds.push_back(m.addr);
    opt.seeds.insert(opt.seeds.end(), m.replicas.begin(), m.replicas.end());
  }
  std::string victim = cc->master_of("{p" + std::to_string(partition_of(skus[0])) + "}");
  std::string victim_port = victim.substr(victim.rfind(':') + 1);
  std::string dir = env("STOCKD_TEST_CLUSTER_DIR") + "/" + victim_port;
  std::ifstream pidfile(dir + "/redis.pid");
  pid_t pid = 0;
  pidfile >> pid;
  ASSERT_GT(pid, 0) << "no pid in " << dir << "/redis.pid";

  std::atomic<bool> stop{false};
  std::atomic<bool> killed{false};
  std::map<std::string, std::string> acked;  // hold id -> sku; the writer's until it is joined
  std::atomic<int> acked_n{0}, unavailable{0}, other_ok_during_outage{0}, wrong{0};
  std::thread writer([&] {
    auto s = ClusterStore::open(opt, shared, &error);
    int n = 0;
    while (!stop) {
      const std::string& sku = skus[n % skus.size()];
      std::string id = prefix + "h" + std::to_string(n++);
      StoreReply r;
      core::Outcome o = s->apply(core::CreateHold{id, prefix + "app", {{sku, 1}}, 600, false}, wall_ms(), &r);
      if (o.ok()) {
        acked[id] = sku;
        ++acked_n;
        if (killed && cc->master_of("{p" + std::to_string(partition_of(sku)) + "}") != victim) ++other_ok_during_outage;
      } else if (o.code == core::Code::unavailable) {
        ++unavailable;
      } else {
        ++wrong;
        ADD_FAILURE() << "hold " << id << ": " << core::code_name(o.code) << " " << o.message;
      }
    }
  });
  // Load first (some holds on every master), then the kill.
  auto stop_writer = [&] {
    stop = true;
    writer.join();
  };
  if (!wait_until([&] { return acked_n.load() > 40 || wrong.load() > 0; }, 120s)) {
    stop_writer();
    FAIL() << "the writer did not get 40 holds acknowledged before the kill (" << acked_n.load() << ")";
  }
  if (::kill(pid, SIGKILL) != 0) {
    stop_writer();
    FAIL() << "kill " << pid << ": " << std::strerror(errno);
  }
  killed = true;
  // The replica takes over after cluster-node-timeout (2 s) plus an election: wait until a client of
  // its own (cc belongs to the writer) sees another master for the victim's slots, and until SKUs on
  // the other masters have gone on during the outage.
  ClusterOptions wo = co;
  wo.seeds = opt.seeds;  // every node: the original seed may be the victim
  std::string watch_error;
  auto watcher = ClusterClient::connect(wo, &watch_error);
  std::string promoted;
  bool failed_over = watcher != nullptr && wait_until([&] {
    if (!watcher->refresh()) return false;
    promoted = watcher->master_of("{p" + std::to_string(partition_of(skus[0])) + "}");
    return !promoted.empty() && promoted != victim && other_ok_during_outage.load() > 0;
  }, 120s);
  stop_writer();
  ASSERT_TRUE(failed_over) << "no replica took over from " << victim << " (" << watch_error << ")";
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(other_ok_during_outage.load(), 0) << "SKUs on the other masters must go on";
  ASSERT_GT(acked.size(), 20u);

  // Every acknowledged hold is there, held, on the promoted replica.
  auto after = ClusterStore::open(opt, shared, &error);
  ASSERT_NE(after, nullptr) << error;
  std::map<std::string, std::int64_t> acked_per_sku;
  for (const auto& [id, sku] : acked) {
    StoreReply r;
    core::Outcome o = after->get_hold(id, wall_ms(), &r);
    ASSERT_TRUE(o.ok()) << "acknowledged hold " << id << " on " << sku << " lost: " << o.message;
    EXPECT_EQ(r.hold.state, core::HoldState::held);
    ++acked_per_sku[sku];
  }
  for (const std::string& sku : skus) {
    StoreReply r;
    ASSERT_TRUE(after->get_sku(sku, wall_ms(), &r).ok());
    // A 503 hold may or may not have been applied (its client retries with the same id); an
    // acknowledged one must be counted.
    EXPECT_GE(r.sku.held, acked_per_sku[sku]) << sku;
    EXPECT_EQ(r.sku.on_hand, 100000) << sku;
    EXPECT_EQ(r.sku.available, r.sku.on_hand - r.sku.held) << sku;
  }
  std::printf("failover: %zu holds acknowledged, %d answered unavailable, %d on other masters during the outage\n",
              acked.size(), unavailable.load(), other_ok_during_outage.load());

  // The killed node rejoins as a replica of the promoted one (the other tests need every master to
  // have a replica for WAIT 1).
  std::string cmd = "/usr/bin/redis-server " + dir + "/redis.conf";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  bool rejoined = false;
  for (int i = 0; i < 150 && !rejoined; ++i) {
    std::this_thread::sleep_for(200ms);
    cc->refresh();
    rejoined = true;
    for (const ClusterNode& m : cc->masters()) rejoined = rejoined && !m.replicas.empty();
    RedisReply role = cc->on_node(victim, {"ROLE"});
    rejoined = rejoined && !role.elements.empty() && role.elements[0].str == "slave" &&
               role.elements.size() > 3 && role.elements[3].str == "connected";
  }
  EXPECT_TRUE(rejoined) << "the killed master did not come back as a connected replica";

  // The reconciler repairs what the failover left (a hold answered 503 whose record was lost while its
  // take survived: its units are given back), never an acknowledged hold; then it finds no drift.
  StoreReply rec;
  ASSERT_TRUE(after->reconcile(true, wall_ms(), &rec).ok());
  for (const std::string& d : rec.drift) {
    std::printf("failover: reconcile repaired: %s\n", d.c_str());
    for (const auto& [id, sku] : acked) EXPECT_EQ(d.find("hold line " + id + " "), std::string::npos) << d;
  }
  rec = StoreReply{};
  ASSERT_TRUE(after->reconcile(false, wall_ms(), &rec).ok());
  for (const std::string& d : rec.drift) EXPECT_EQ(d.find(prefix), std::string::npos) << d;
}

}  // namespace
}  // namespace stockd::backends
