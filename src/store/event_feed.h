// event_feed.h: the events feed behind GET /v1/events: the newest `retained` events as records (names,
// not indexes), kept in a ring. It is the engine's EventSink: it sees every applied command's events,
// live and during recovery replay, and its contents are saved in every snapshot, so the feed and its
// sequence numbers survive restarts (docs/operations.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>

#include "engine/engine.h"
#include "net/event_record.h"

namespace stockd::store {

class EventFeed final : public engine::EventSink {
 public:
  explicit EventFeed(std::size_t retained) : retained_(retained == 0 ? 1 : retained) {}

  void on_events(std::span<const core::Event> events, const core::Inventory& inv) override;
  void save(std::string* out) const override;
  bool load(std::string_view in) override;

  // Sequence number of the newest event ever produced (0 when none).
  std::uint64_t last_seq() const { return last_seq_; }
  std::uint64_t first_retained_seq() const { return ring_.empty() ? last_seq_ + 1 : ring_.front().seq; }
  std::size_t size() const { return ring_.size(); }
  // {"events":[up to `limit` retained events with seq > after],"next":N}. `next` is the seq of the last
  // event returned, or `after` when none is (events older than the retained window are gone: a client
  // that fell behind resumes at the oldest retained event).
  void render_page(std::uint64_t after, std::size_t limit, std::string& out) const;

 private:
  std::size_t retained_;
  std::uint64_t last_seq_ = 0;
  std::deque<net::EventRecord> ring_;
};

}  // namespace stockd::store
