// The Store contract (store/store.h) on EngineStore over an in-memory engine (FaultEnv, fsync off, so
// that pump() completes a batch at once).
#include "store/engine_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine_test_util.h"
#include "fault_env.h"

namespace stockd::store {
namespace {

using engine::testing::FaultEnv;

// Records what completed, in order, with the figures of the views it was handed.
struct Recorder final : Completions {
  struct Done {
    Tag tag = kNoTag;
    core::Code code = core::Code::ok;
    std::int64_t on_hand = -1;  // Want::sku
    std::string hold_state;     // Want::hold
  };
  std::vector<Done> writes;
  std::vector<Done> reads;
  std::size_t batches = 0;

  void write_done(const WriteDone& d) override {
    Done x;
    x.tag = d.tag;
    x.code = d.outcome->code;
    if (d.sku) x.on_hand = d.sku->on_hand;
    if (d.hold) x.hold_state = core::hold_state_name(d.hold->state);
    writes.push_back(x);
  }
  void read_done(const ReadDone& d) override {
    Done x;
    x.tag = d.tag;
    x.code = d.outcome->code;
    if (d.sku) x.on_hand = d.sku->on_hand;
    if (d.kind == ReadKind::avail) x.on_hand = d.count;
    reads.push_back(x);
  }
  void batch_done(std::size_t, std::int64_t, bool) override { ++batches; }
};

class EngineStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine::Options o;
    o.data_dir = "/db";
    o.fsync = engine::FsyncMode::off;
    o.snapshot_every_records = 0;
    o.segment_bytes = 64 * 1024;
    std::string error;
    eng_ = engine::testing::open_engine(o, &env_, &error, &feed_);
    ASSERT_TRUE(eng_) << error;
    store_ = std::make_unique<EngineStore>(*eng_, feed_);
    store_->start(&rec_);
  }

  core::Code submit(core::Command cmd, Tag tag, Want want = Want::none, std::string_view hold_id = {},
                    std::string_view acting = {}, std::size_t queue_max = SIZE_MAX) {
    Write w;
    w.cmd = &cmd;
    w.now_ms = 1'000'000;
    w.tag = tag;
    w.want = want;
    w.hold_id = hold_id;
    w.acting_channel = acting;
    w.queue_max = queue_max;
    return store_->submit(w);
  }

  void setup_two_channels() {
    for (const char* name : {"a", "b"}) {
      core::PutChannel ch;
      ch.channel = name;
      ASSERT_EQ(submit(ch, 1), core::Code::ok);
    }
    core::PutSku sku;
    sku.sku = "S";
    sku.on_hand = 10;
    ASSERT_EQ(submit(sku, 3), core::Code::ok);
    core::CreateHold h;
    h.id = "h1";
    h.channel = "a";
    h.lines = {core::HoldLine{"S", 2}};
    ASSERT_EQ(submit(h, 4), core::Code::ok);
    store_->pump();
    ASSERT_EQ(rec_.writes.size(), 4u);
    rec_.writes.clear();
  }

  FaultEnv env_;
  EventFeed feed_{1000};
  std::unique_ptr<engine::Engine> eng_;
  std::unique_ptr<EngineStore> store_;
  Recorder rec_;
};

// Each write's completion shows the state right after that write, not after its whole batch.
TEST_F(EngineStoreTest, EachWriteCompletesWithTheStateRightAfterIt) {
  setup_two_channels();
  for (Tag t = 10; t < 13; ++t) {
    core::Adjust adj;
    adj.sku = "S";
    adj.delta = 5;
    ASSERT_EQ(submit(adj, t, Want::sku), core::Code::ok);
  }
  EXPECT_EQ(store_->queued(), 3u);
  store_->pump();  // one batch of three
  ASSERT_EQ(rec_.writes.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rec_.writes[i].tag, 10 + i) << "completions out of submission order";
    EXPECT_EQ(rec_.writes[i].on_hand, 15 + 5 * static_cast<std::int64_t>(i)) << "write " << i;
  }
  EXPECT_EQ(store_->queued(), 0u);
  EXPECT_TRUE(store_->idle());
}

// A channel's token may not act on another channel's hold: refused at submit, nothing queued; the
// refusal wins over the decoder's verdict; the owner's token and an admin are accepted.
TEST_F(EngineStoreTest, HoldOwnershipIsCheckedByTheStore) {
  setup_two_channels();
  EXPECT_EQ(submit(core::ReleaseHold{"h1"}, 20, Want::hold, "h1", "b"), core::Code::forbidden);
  Write bad;
  core::Command cmd = core::ExtendHold{"h1", 0};
  bad.cmd = &cmd;
  bad.tag = 21;
  bad.hold_id = "h1";
  bad.acting_channel = "b";
  bad.status = core::Status{core::Code::invalid_request, "ttl_s must be 1..86400"};
  EXPECT_EQ(store_->submit(bad), core::Code::forbidden);
  bad.acting_channel = "a";
  EXPECT_EQ(store_->submit(bad), core::Code::invalid_request);
  EXPECT_EQ(store_->queued(), 0u);
  EXPECT_EQ(submit(core::ExtendHold{"h1", 60}, 22, Want::hold, "h1", "a"), core::Code::ok);
  EXPECT_EQ(submit(core::ReleaseHold{"h1"}, 23, Want::hold), core::Code::ok);  // admin: no check
  store_->pump();
  ASSERT_EQ(rec_.writes.size(), 2u);
  EXPECT_EQ(rec_.writes[0].hold_state, "held");
  EXPECT_EQ(rec_.writes[1].hold_state, "released");
}

TEST_F(EngineStoreTest, QueueBoundRefusesOverloadedWithNothingQueued) {
  setup_two_channels();
  core::Adjust adj;
  adj.sku = "S";
  adj.delta = 1;
  EXPECT_EQ(submit(adj, 30, Want::sku, {}, {}, 2), core::Code::ok);
  EXPECT_EQ(submit(adj, 31, Want::sku, {}, {}, 2), core::Code::ok);
  EXPECT_EQ(submit(adj, 32, Want::sku, {}, {}, 2), core::Code::overloaded);
  EXPECT_EQ(store_->queued(), 2u);
}

// Reads complete inside read(), from the state after the writes completed so far.
TEST_F(EngineStoreTest, ReadsCompleteAtOnce) {
  setup_two_channels();
  Read r;
  r.kind = ReadKind::sku;
  r.tag = 40;
  r.name = "S";
  store_->read(r);
  r.tag = 41;
  r.name = "nope";
  store_->read(r);
  Read avail;
  avail.kind = ReadKind::avail;
  avail.tag = 42;
  avail.name = "S";
  store_->read(avail);
  Read hold;
  hold.kind = ReadKind::hold;
  hold.tag = 43;
  hold.name = "h1";
  hold.acting_channel = "b";
  store_->read(hold);
  ASSERT_EQ(rec_.reads.size(), 4u);
  EXPECT_EQ(rec_.reads[0].code, core::Code::ok);
  EXPECT_EQ(rec_.reads[0].on_hand, 10);
  EXPECT_EQ(rec_.reads[1].code, core::Code::unknown_sku);
  EXPECT_EQ(rec_.reads[2].on_hand, 8);  // 10 on hand, 2 held
  EXPECT_EQ(rec_.reads[3].code, core::Code::forbidden);
}

TEST(Capabilities, AllAndWithout) {
  Capabilities all = Capabilities::all();
  for (int i = 0; i < kCapabilityCount; ++i) {
    auto c = static_cast<Capability>(i);
    EXPECT_TRUE(all.has(c));
    EXPECT_FALSE(all.without(c).has(c));
    EXPECT_NE(std::string(capability_message(c)), "");
  }
  EXPECT_TRUE(all.without(Capability::events_feed).has(Capability::sku_listing));
}

}  // namespace
}  // namespace stockd::store
