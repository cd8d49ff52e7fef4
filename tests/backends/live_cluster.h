// live_cluster.h: the fixture of the tests that run the cluster store against a real Redis Cluster
// (STOCKD_TEST_CLUSTER=host:port; ctest starts one with scripts/redis-cluster): a store, a raw client
// beside it, and a random name prefix so that runs on one cluster never meet.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "backends/cluster_client.h"
#include "backends/cluster_store.h"

namespace stockd::backends {

// The cluster and PostgreSQL of the ledger's live tests (STOCKD_TEST_CLUSTER=host:port and
// STOCKD_TEST_PG=postgresql://..., which ctest sets with its redis_cluster and postgres fixtures) into
// *cluster and *conninfo. When either is unset the test is skipped (failed under
// STOCKD_TEST_LEDGER_REQUIRED). Call it from SetUp, then return if HasFatalFailure() || IsSkipped().
inline void ledger_env(ClusterOptions* cluster, std::string* conninfo) {
  const char* seed = std::getenv("STOCKD_TEST_CLUSTER");
  const char* pg = std::getenv("STOCKD_TEST_PG");
  if (seed == nullptr || *seed == '\0' || pg == nullptr || *pg == '\0') {
    if (std::getenv("STOCKD_TEST_LEDGER_REQUIRED") != nullptr) {
      FAIL() << "STOCKD_TEST_CLUSTER or STOCKD_TEST_PG is not set, but ctest runs this test with the "
                "redis_cluster and postgres fixtures: see tests/backends/CMakeLists.txt";
    }
    GTEST_SKIP() << "set STOCKD_TEST_CLUSTER=host:port and STOCKD_TEST_PG=postgresql://... to run these tests";
  }
  *conninfo = pg;
  std::string error;
  ASSERT_TRUE(parse_cluster_url(seed, &cluster->seeds, &error)) << error;
}

class LiveCluster : public ::testing::Test {
 protected:
  // Skips the test when no cluster is configured (fails it with STOCKD_TEST_CLUSTER_REQUIRED); else
  // opens store_ (with opt_, WAIT for 1 replica) and cc_, and picks prefix_ = stem + a random number.
  void connect(const std::string& stem) {
    const char* seed = std::getenv("STOCKD_TEST_CLUSTER");
    if (seed == nullptr) {
      if (std::getenv("STOCKD_TEST_CLUSTER_REQUIRED")) FAIL() << "STOCKD_TEST_CLUSTER is not set";
      GTEST_SKIP() << "set STOCKD_TEST_CLUSTER=host:port to run the cluster store tests";
    }
    opt_.seeds = {seed};
    opt_.wait_replicas = 1;
    std::string error;
    store_ = ClusterStore::open(opt_, ClusterStore::make_shared_state(), &error);
    ASSERT_NE(store_, nullptr) << error;
    ClusterOptions co;
    co.seeds = opt_.seeds;
    cc_ = ClusterClient::connect(co, &error);
    ASSERT_NE(cc_, nullptr) << error;
    prefix_ = stem + std::to_string(std::random_device{}() % 1000000) + "-";
  }

  core::Outcome apply(const core::Command& c, std::int64_t now = kT0, StoreReply* r = nullptr) {
    StoreReply ignored;
    return store_->apply(c, now, r ? r : &ignored);
  }

  static constexpr std::int64_t kT0 = 1'700'000'000'000;  // the tests' clock (epoch ms, 2023-11-14)
  ClusterStoreOptions opt_;
  std::unique_ptr<ClusterStore> store_;
  std::unique_ptr<ClusterClient> cc_;
  std::string prefix_;
};

}  // namespace stockd::backends
