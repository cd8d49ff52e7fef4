// engine_test_util.h: a deterministic command stream for the engine's tests and the crash harness.
// Command i depends only on (seed, i), so any process can recompute the stream and replay a prefix
// of it on a fresh core::Inventory: the expected state after any number of acknowledged commands.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/command.h"
#include "core/inventory.h"
#include "engine/engine.h"

namespace stockd::engine::testing {

struct StreamItem {
  std::int64_t now_ms = 0;
  core::Command cmd;
};

// The i-th command of stream `seed`: a few channel and SKU puts first, then holds, confirms,
// releases, extends, adjustments (with refs, some repeated), SKU and channel changes, and a few
// invalid commands. Times mostly advance, sometimes step back (the engine clamps them).
StreamItem stream_item(std::uint64_t seed, std::uint64_t i);

// Applies items [from, to) of the stream to `inv` the way the engine does (invalid ones skipped).
void apply_stream(core::Inventory& inv, std::uint64_t seed, std::uint64_t from, std::uint64_t to);

// The inventory's snapshot bytes: two inventories are equal when these are.
std::string state_bytes(const core::Inventory& inv);

// Runs items [from, to) through the engine in batches of `batch` items; returns how many items were
// acknowledged (stops at the first batch answered `unavailable`).
std::uint64_t run_stream(Engine& e, std::uint64_t seed, std::uint64_t from, std::uint64_t to, std::size_t batch);

// Engine::open for tests that look at the engine or at why it did not open: the engine, or nullptr
// with the Status's message in *error.
std::unique_ptr<Engine> open_engine(const Options& o, Env* env, std::string* error, EventSink* sink = nullptr);
// Engine::snapshot: true, or false with the Status's message in *error.
bool take_snapshot(Engine& e, std::uint64_t* lsn, std::string* error);

}  // namespace stockd::engine::testing
