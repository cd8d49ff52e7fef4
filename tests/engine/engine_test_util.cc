#include "engine_test_util.h"

#include <cstdlib>
#include <string>

#include "spdlog/spdlog.h"

namespace stockd::engine::testing {
namespace {

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr int kSkus = 12;
constexpr int kChannels = 3;
constexpr std::uint64_t kSetup = kSkus + kChannels;

std::string sku(std::uint64_t r) { return "sku-" + std::to_string(r % kSkus); }
std::string channel(std::uint64_t r) { return "ch-" + std::to_string(r % kChannels); }
std::string hold_id(std::uint64_t i, std::uint64_t r) { return "h-" + std::to_string(r % (i + 1)); }

}  // namespace

StreamItem stream_item(std::uint64_t seed, std::uint64_t i) {
  StreamItem it;
  std::uint64_t r = mix(seed * 1'000'003 + i);
  std::uint64_t r2 = mix(r);
  // Mostly forward in steps of up to 20 ms; 1 in 16 steps back up to 1 s.
  it.now_ms = 1'700'000'000'000 + static_cast<std::int64_t>(i) * 10 - ((r & 15) == 0 ? static_cast<std::int64_t>(r2 % 1000) : 0);
  if (i < kChannels) {
    it.cmd = core::PutChannel{"ch-" + std::to_string(i), 100 + static_cast<std::int64_t>(i), 2, core::ChannelState::active};
    return it;
  }
  if (i < kSetup) {
    core::PutSku p;
    p.sku = "sku-" + std::to_string(i - kChannels);
    p.on_hand = 200;
    it.cmd = p;
    return it;
  }
  std::uint64_t kind = r % 100;
  if (kind < 45) {
    core::CreateHold h;
    h.id = "h-" + std::to_string(i);
    h.channel = channel(r2 >> 8);
    int lines = 1 + static_cast<int>((r2 >> 16) % 3);
    for (int l = 0; l < lines; ++l) h.lines.push_back({sku((r2 >> (20 + 4 * l)) + static_cast<std::uint64_t>(l)), 1 + static_cast<std::int64_t>((r2 >> (40 + 3 * l)) % 6)});
    if ((r2 >> 60) == 0) h.ttl_s = 1;
    h.confirm = (r2 >> 59) % 8 == 0;
    // Lines of one hold must name distinct SKUs; duplicates make it invalid, which is also covered.
    it.cmd = h;
  } else if (kind < 60) {
    it.cmd = core::ConfirmHold{hold_id(i, r2), std::nullopt};
  } else if (kind < 70) {
    it.cmd = core::ReleaseHold{hold_id(i, r2)};
  } else if (kind < 75) {
    it.cmd = core::ExtendHold{hold_id(i, r2), 1 + static_cast<std::int64_t>(r2 % 5)};
  } else if (kind < 87) {
    core::Adjust a;
    a.sku = sku(r2);
    a.delta = static_cast<std::int64_t>(r2 % 40) - 10;
    if (a.delta == 0) a.delta = 7;
    a.reason = "count";
    a.ref = "r-" + std::to_string((r2 >> 10) % (i + 1));  // sometimes a ref seen before: idempotent replay
    it.cmd = a;
  } else if (kind < 92) {
    core::PutSku p;
    p.sku = sku(r2);
    p.on_hand = 50 + static_cast<std::int64_t>(r2 % 300);
    it.cmd = p;
  } else if (kind < 94) {
    core::PutChannel c;
    c.channel = channel(r2);
    c.state = (r2 >> 32) % 3 == 0 ? core::ChannelState::frozen : core::ChannelState::active;
    it.cmd = c;
  } else if (kind < 97) {
    it.cmd = core::Tick{};
  } else {
    it.cmd = core::ReleaseHold{""};  // invalid: never journaled
  }
  return it;
}

void apply_stream(core::Inventory& inv, std::uint64_t seed, std::uint64_t from, std::uint64_t to) {
  std::string message;
  for (std::uint64_t i = from; i < to; ++i) {
    StreamItem it = stream_item(seed, i);
    if (core::validate(it.cmd, &message) != core::Code::ok) continue;
    inv.apply(it.cmd, it.now_ms, nullptr);
  }
}

std::string state_bytes(const core::Inventory& inv) {
  core::Writer w;
  inv.save(w);
  return w.buffer();
}

std::uint64_t run_stream(Engine& e, std::uint64_t seed, std::uint64_t from, std::uint64_t to, std::size_t batch) {
  std::vector<BatchItem> items;
  std::uint64_t i = from;
  while (i < to) {
    items.clear();
    for (std::size_t k = 0; k < batch && i + k < to; ++k) {
      StreamItem s = stream_item(seed, i + k);
      items.push_back(BatchItem{std::move(s.cmd), s.now_ms, {}, 0});
    }
    e.execute(items, nullptr);
    if (items[0].outcome.code == core::Code::unavailable) return i - from;
    i += items.size();
  }
  return i - from;
}

std::unique_ptr<Engine> open_engine(const Options& o, Env* env, std::string* error, EventSink* sink) {
  core::Result<std::unique_ptr<Engine>> r = Engine::open(o, env, sink);
  if (!r.ok()) {
    *error = r.status().message;
    return nullptr;
  }
  return std::move(r.value());
}

bool take_snapshot(Engine& e, std::uint64_t* lsn, std::string* error) {
  core::Status s = e.snapshot(lsn);
  *error = s.message;
  return s.ok();
}

}  // namespace stockd::engine::testing

namespace {
// The engine logs every fault it survives; the tests cause thousands. STOCKD_TEST_LOG=1 shows them.
const bool kQuietLogs = [] {
  if (std::getenv("STOCKD_TEST_LOG") == nullptr) spdlog::set_level(spdlog::level::critical);
  return true;
}();
}  // namespace
