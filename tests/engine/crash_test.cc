// The crash harness: runs crash_child on a real data directory, SIGKILLs it at a random moment,
// recovers, and checks that the recovered state is exactly the stream's state after some K items
// with (last acknowledged) <= K <= (last sent): every acknowledged command is there and nothing
// unacknowledged is half-applied. The next cycle continues from K. `--cycles N` (default 100) and
// `--seed S` for long runs; the seed is printed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include "engine/engine.h"
#include "engine_test_util.h"
#include "spdlog/spdlog.h"

namespace {
int g_cycles = 100;
std::uint64_t g_seed = 0;
}  // namespace

namespace stockd::engine::testing {
namespace {

struct ChildRun {
  std::uint64_t acked = 0;
  std::uint64_t sent = 0;
  bool ready = false;
  int status = 0;
};

// Starts crash_child, waits `delay_us` after it is ready (or kills it before), SIGKILLs it and
// collects what it reported.
ChildRun run_child(const std::string& dir, std::uint64_t seed, std::uint64_t from, std::int64_t delay_us,
                   bool kill_early) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::string s = std::to_string(seed), f = std::to_string(from), m = std::to_string(from + 1'000'000);
    execl(STOCKD_CRASH_CHILD, "crash_child", dir.c_str(), s.c_str(), f.c_str(), m.c_str(), nullptr);
    _exit(127);
  }
  close(fds[1]);
  ChildRun run;
  run.acked = run.sent = from;
  std::string out;
  char buf[4096];
  auto parse = [&] {
    std::size_t nl;
    while ((nl = out.find('\n')) != std::string::npos) {
      std::string line = out.substr(0, nl);
      out.erase(0, nl + 1);
      if (line.size() < 3) continue;
      std::uint64_t v = std::strtoull(line.c_str() + 2, nullptr, 10);
      if (line[0] == 'R') run.ready = true;
      if (line[0] == 'S') run.sent = v;
      if (line[0] == 'A') run.acked = v;
    }
  };
  if (kill_early) {
    usleep(static_cast<useconds_t>(delay_us));
  } else {
    while (!run.ready) {  // wait for "R", then let it run
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
      parse();
    }
    usleep(static_cast<useconds_t>(delay_us));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &run.status, 0);
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  parse();
  return run;
}

TEST(CrashHarness, EveryAcknowledgedCommandSurvivesSigkill) {
  std::uint64_t seed = g_seed ? g_seed : static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::printf("crash harness: seed %llu, %d cycles\n", static_cast<unsigned long long>(seed), g_cycles);
  std::mt19937_64 rng(seed);
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/stockd-crash-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl + "/data";
  Options o;
  o.data_dir = dir;
  o.segment_bytes = 64 << 10;
  o.snapshot_every_records = 3000;

  core::Inventory expected;
  std::uint64_t k = 0;  // expected = the stream's state after k items
  std::uint64_t total_acked = 0;
  for (int cycle = 0; cycle < g_cycles; ++cycle) {
    bool early = rng() % 10 == 0;
    std::int64_t delay_us = early ? static_cast<std::int64_t>(rng() % 5000) : static_cast<std::int64_t>(rng() % 20000);
    ChildRun run = run_child(dir, seed, k, delay_us, early);
    ASSERT_TRUE(WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGKILL)
        << "cycle " << cycle << ": the child ended on its own (status " << run.status << "), seed " << seed;
    total_acked += run.acked - k;
    std::string error;
    auto e = open_engine(o, Env::posix(), &error);
    ASSERT_TRUE(e) << "cycle " << cycle << ": recovery refused: " << error << " (seed " << seed << ")";
    ASSERT_EQ(e->inventory().check_invariants(), "") << "cycle " << cycle << ", seed " << seed;
    std::string got = state_bytes(e->inventory());
    apply_stream(expected, seed, k, run.acked);
    std::uint64_t kk = run.acked;
    while (state_bytes(expected) != got && kk < run.sent) {
      apply_stream(expected, seed, kk, kk + 1);
      ++kk;
    }
    ASSERT_EQ(state_bytes(expected), got)
        << "cycle " << cycle << ": recovered state is not the state after any K in [acked " << run.acked
        << ", sent " << run.sent << "] (seed " << seed << ")";
    k = kk;
  }
  std::printf("crash harness: %d kills, %llu acknowledged items, %llu items in the final state\n", g_cycles,
              static_cast<unsigned long long>(total_acked), static_cast<unsigned long long>(k));
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace stockd::engine::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--cycles") == 0 && i + 1 < argc) g_cycles = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) g_seed = std::strtoull(argv[++i], nullptr, 10);
  }
  if (const char* c = getenv("STOCKD_CRASH_CYCLES")) g_cycles = std::atoi(c);
  spdlog::set_level(spdlog::level::warn);
  return RUN_ALL_TESTS();
}
