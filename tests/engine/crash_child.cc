// crash_child: the process crash_test SIGKILLs. Opens (recovers) the engine on a posix data
// directory with FsyncMode::always and runs the deterministic stream (engine_test_util.h) from item
// `from` on, in batches. Protocol on stdout, one line each, flushed:
//   R <last lsn>     recovered and ready
//   S <end>          about to execute items [.., end)
//   A <end>          items [.., end) acknowledged (durable and applied)
// Usage: crash_child <data dir> <seed> <from> <max items>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine_test_util.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  using namespace stockd::engine;
  if (argc != 5) {
    std::fprintf(stderr, "usage: crash_child <dir> <seed> <from> <max items>\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  Options o;
  o.data_dir = argv[1];
  o.fsync = FsyncMode::always;
  o.segment_bytes = 64 << 10;
  o.snapshot_every_records = 3000;
  std::uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  std::uint64_t i = std::strtoull(argv[3], nullptr, 10);
  std::uint64_t max = std::strtoull(argv[4], nullptr, 10);
  std::string error;
  auto e = testing::open_engine(o, Env::posix(), &error);
  if (!e) {
    std::fprintf(stderr, "open failed: %s\n", error.c_str());
    return 3;
  }
  std::printf("R %llu\n", static_cast<unsigned long long>(e->stats().last_lsn));
  std::fflush(stdout);
  std::vector<BatchItem> items;
  std::uint64_t r = seed ^ i;
  while (i < max) {
    r = r * 6364136223846793005ULL + 1442695040888963407ULL;
    std::uint64_t n = 1 + (r >> 33) % 64;
    items.clear();
    for (std::uint64_t k = 0; k < n && i + k < max; ++k) {
      testing::StreamItem s = testing::stream_item(seed, i + k);
      items.push_back(BatchItem{std::move(s.cmd), s.now_ms, {}, 0});
    }
    std::uint64_t end = i + items.size();
    std::printf("S %llu\n", static_cast<unsigned long long>(end));
    std::fflush(stdout);
    e->execute(items, nullptr);
    for (const BatchItem& it : items) {
      if (it.outcome.code == stockd::core::Code::unavailable) {
        std::fprintf(stderr, "storage unavailable: %s\n", it.outcome.message.c_str());
        return 4;
      }
    }
    std::printf("A %llu\n", static_cast<unsigned long long>(end));
    std::fflush(stdout);
    i = end;
    e->maintain(0);
  }
  return 0;
}
