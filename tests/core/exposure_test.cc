// Listed channels: exposures and publications (docs/allocation.md, "Listed channels"). One rule per
// test: targets, priority order, raise at once, lower after ack, sales from the exposure, deficits,
// frozen reasons, removing a listing, and replay/snapshot.
#include <map>

#include "core/codec.h"
#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

class ExposureTest : public CoreTest {
 protected:
  Outcome list(const std::string& ch, std::int64_t priority, std::int64_t percent, std::int64_t buffer = 0,
               std::int64_t cap = -1, std::int64_t min = 0) {
    PutChannel c;
    c.channel = ch;
    c.priority = priority;
    c.listing = Listing{percent, buffer, cap, min};
    return run(c);
  }
  Outcome ack(const std::string& ch, std::uint64_t seq) { return run(AckPublications{ch, seq}); }
  // The channel's unacknowledged publications after `after`, as sku -> quantity.
  std::map<std::string, std::int64_t> pubs(const std::string& ch, std::uint64_t after = 0) const {
    std::map<std::string, std::int64_t> out;
    for (const PublicationView& p : inv.publications(inv.find_channel(ch), after, 1000))
      out[std::string(p.sku)] = p.quantity;
    return out;
  }
  std::uint64_t last(const std::string& ch) const { return inv.last_publication_seq(inv.find_channel(ch)); }
  std::int64_t published(const std::string& sku, const std::string& ch) const {
    for (const auto& c : view(sku).channels)
      if (c.channel == ch) return c.published;
    return -2;
  }
  std::int64_t exposed(const std::string& sku, const std::string& ch) const {
    for (const auto& c : view(sku).channels)
      if (c.channel == ch) return c.exposed;
    return -2;
  }
};

TEST_F(ExposureTest, BecomingListedPublishesEverySkuOnceZeroIncluded) {
  channel("app", 1);
  set("A", 100);
  set("B", 0);
  ASSERT_EQ(list("tmall", 2, 100).code, Code::ok);
  EXPECT_EQ(pubs("tmall"), (std::map<std::string, std::int64_t>{{"A", 100}, {"B", 0}}));
  EXPECT_EQ(last("tmall"), 2u);
  EXPECT_EQ(view("A").exposed, 100);
  EXPECT_EQ(avail("A", "app"), 0);      // exposed units are nobody else's
  EXPECT_EQ(avail("A", "tmall"), 100);  // its own exposure
  EXPECT_EQ(total("A"), 0);
  set("C", 7);  // a new SKU is published too
  EXPECT_EQ(pubs("tmall", 2), (std::map<std::string, std::int64_t>{{"C", 7}}));
  EXPECT_EQ(published("A", "app"), -1);  // a direct channel has no publication
}

// The worked example of docs/allocation.md: three marketplaces and a direct channel share 100 units.
TEST_F(ExposureTest, TargetsPercentBufferCapMinInPriorityOrder) {
  channel("app", 4);
  set("TEA", 100);
  list("tmall", 1, 50);            // floor(50 % of 100) = 50
  list("jd", 2, 50, 5);            // d = 50: floor(25) - 5 = 20
  list("douyin", 3, 100, 0, 20);   // d = 30: 30, cap 20
  EXPECT_EQ(exposed("TEA", "tmall"), 50);
  EXPECT_EQ(exposed("TEA", "jd"), 20);
  EXPECT_EQ(exposed("TEA", "douyin"), 20);
  EXPECT_EQ(view("TEA").exposed, 90);
  EXPECT_EQ(avail("TEA", "app"), 10);
  // min: a target below min is 0 (a marketplace that should not show a nearly empty shelf).
  list("douyin", 3, 100, 0, 20, 25);
  EXPECT_EQ(published("TEA", "douyin"), 0);
  EXPECT_EQ(exposed("TEA", "douyin"), 20);  // lowered: the units wait for the ack
  ack("douyin", last("douyin"));
  EXPECT_EQ(exposed("TEA", "douyin"), 0);
  EXPECT_EQ(avail("TEA", "app"), 30);
}

TEST_F(ExposureTest, RaiseIsImmediate) {
  set("A", 10);
  list("tmall", 1, 100);
  std::uint64_t before = last("tmall");
  adjust("A", 5, "RCV-1");
  EXPECT_EQ(exposed("A", "tmall"), 15);
  EXPECT_EQ(published("A", "tmall"), 15);
  EXPECT_EQ(pubs("tmall", before), (std::map<std::string, std::int64_t>{{"A", 15}}));
}

TEST_F(ExposureTest, LowerWaitsForTheAck) {
  channel("app", 1);
  set("A", 100);
  list("tmall", 2, 50);  // d = 100: 50 exposed, 50 shared
  ASSERT_EQ(exposed("A", "tmall"), 50);
  ASSERT_EQ(hold("h1", "app", {{"A", 40}}).code, Code::ok);  // shared 50 -> 10: tmall's d = 60 -> 30
  EXPECT_EQ(published("A", "tmall"), 30);
  EXPECT_EQ(exposed("A", "tmall"), 50);  // the marketplace may still sell 50 until it acknowledges
  EXPECT_EQ(avail("A", "app"), 10);
  std::uint64_t seq = last("tmall");
  ASSERT_EQ(ack("tmall", seq - 1).code, Code::ok);  // an older seq releases nothing of the newer one
  EXPECT_EQ(exposed("A", "tmall"), 50);
  ASSERT_EQ(ack("tmall", seq).code, Code::ok);
  EXPECT_EQ(exposed("A", "tmall"), 30);
  EXPECT_EQ(avail("A", "app"), 30);
  EXPECT_EQ(ack("tmall", seq).code, Code::ok);  // idempotent
  EXPECT_FALSE(ack("tmall", seq).changed);
  EXPECT_EQ(ack("tmall", last("tmall") + 1).code, Code::invalid_request);
  EXPECT_TRUE(pubs("tmall", 0).empty());  // everything acknowledged
}

TEST_F(ExposureTest, SaleOfPublishedUnitsNeverFails) {
  channel("app", 1);
  set("A", 10);
  list("tmall", 2, 100);
  ASSERT_EQ(exposed("A", "tmall"), 10);
  // app would want everything, but tmall's 10 are set aside: app may take none of them.
  EXPECT_EQ(hold("h1", "app", {{"A", 1}}).code, Code::insufficient_stock);
  EXPECT_EQ(sale("s1", "tmall", {{"A", 4}}).code, Code::ok);
  EXPECT_EQ(view("A").on_hand, 6);
  EXPECT_EQ(exposed("A", "tmall"), 6);
  EXPECT_EQ(published("A", "tmall"), 6);
  EXPECT_EQ(sale("s2", "tmall", {{"A", 6}}).code, Code::ok);
  EXPECT_EQ(view("A").on_hand, 0);
}

TEST_F(ExposureTest, AHoldTakesTheExposureFirstThenTheNormalOrder) {
  set("A", 10);
  list("tmall", 1, 50);  // 5 exposed, 5 shared
  ASSERT_EQ(ack("tmall", last("tmall")).code, Code::ok);  // the marketplace shows 5
  ASSERT_EQ(hold("h1", "tmall", {{"A", 7}}).code, Code::ok);  // 5 from its exposure, 2 from shared
  EXPECT_EQ(view("A").held, 7);
  EXPECT_EQ(exposed("A", "tmall"), 1);  // d = 3 + 0: floor(1.5) = 1, raised at once
  ASSERT_EQ(release("h1").code, Code::ok);
  EXPECT_EQ(published("A", "tmall"), 5);
}

// A pushed publication not yet acknowledged may still be applied after a sale (a webhook batch in
// flight): the marketplace then shows it again and may sell all of it. Found by
// tests/server/test_marketplaces.py. So while it is unacknowledged, a webhook channel's sale takes
// free units first; a pulling channel keeps the contract's order (exposure first).
TEST_F(ExposureTest, WhileItsPushedPublicationIsUnacknowledgedASaleTakesFreeUnitsFirst) {
  channel("app", 2);
  set("A", 10);
  list("tmall", 1, 50);  // 5 exposed and published (not acknowledged), 5 shared
  PutChannel hook;
  hook.channel = "tmall";
  hook.webhook = Webhook{"http://127.0.0.1:9/hook", "k", 60};
  ASSERT_EQ(inv.apply(hook, now, nullptr).code, Code::ok);
  ASSERT_EQ(sale("s1", "tmall", {{"A", 2}}).code, Code::ok);  // sold against an older number
  EXPECT_EQ(exposed("A", "tmall"), 5);    // still backs the 5 in flight
  EXPECT_EQ(published("A", "tmall"), 4);  // d = 3 free + 5: a lower publication, released at its ack
  ASSERT_EQ(hold("h1", "app", {{"A", 3}}).code, Code::ok);  // app takes every free unit
  EXPECT_EQ(sale("s2", "tmall", {{"A", 5}}).code, Code::ok);  // the 5 it was shown, applied late
  EXPECT_EQ(view("A").on_hand, 3);
  EXPECT_EQ(view("A").held, 3);
  EXPECT_EQ(view("A").exposed, 0);
}

TEST_F(ExposureTest, APullingChannelsSaleTakesItsExposureFirstEvenUnacknowledged) {
  channel("app", 2);
  set("A", 10);
  list("tmall", 1, 50);  // 5 exposed and published (not acknowledged), 5 shared
  ASSERT_EQ(sale("s1", "tmall", {{"A", 2}}).code, Code::ok);
  // 3 left of the exposure, raised at once to floor(50 % of (5 free + 3)) = 4 from the shared units,
  // so app keeps 4 (taking free units first would have left it 3, with 5 exposed until the ack).
  EXPECT_EQ(exposed("A", "tmall"), 4);
  EXPECT_EQ(view("A").channels[0].available, 4);
}

TEST_F(ExposureTest, StockAdjustedBelowTheExposureIsADeficit) {
  set("A", 10);
  list("tmall", 1, 100);
  list("jd", 2, 100);  // nothing left for jd
  ASSERT_EQ(exposed("A", "tmall"), 10);
  ASSERT_EQ(adjust("A", -4, "DMG-1", "damaged").code, Code::ok);
  std::vector<Event> deficit = of_type(EventType::exposure_deficit);
  ASSERT_EQ(deficit.size(), 1u);
  EXPECT_EQ(deficit[0].channel, inv.find_channel("tmall"));
  EXPECT_EQ(deficit[0].delta, -4);
  EXPECT_EQ(deficit[0].available, 6);
  EXPECT_EQ(event_type_name(EventType::exposure_deficit), "exposure_deficit");
  EXPECT_EQ(view("A").exposed, 6);
  EXPECT_EQ(published("A", "tmall"), 6);
  // Safety stock raised above what is exposed cuts too; the lowest priority first.
  set("A", 20);
  list("tmall", 1, 50);
  ack("tmall", last("tmall"));
  EXPECT_EQ(exposed("A", "tmall"), 10);
  EXPECT_EQ(exposed("A", "jd"), 10);
  ASSERT_EQ(safety("A", 5).code, Code::ok);
  deficit = of_type(EventType::exposure_deficit);
  ASSERT_EQ(deficit.size(), 1u);
  EXPECT_EQ(deficit[0].channel, inv.find_channel("jd"));
  EXPECT_EQ(exposed("A", "jd"), 5);
}

TEST_F(ExposureTest, AutomaticFreezeNeverOverridesAManualOne) {
  list("tmall", 1, 100);
  auto put = [&](ChannelState st, std::optional<FrozenReason> why) {
    PutChannel c;
    c.channel = "tmall";
    c.state = st;
    c.reason = why;
    return run(c);
  };
  auto reason = [&] { return inv.channel(inv.find_channel("tmall")).frozen_reason; };
  put(ChannelState::frozen, FrozenReason::delivery_failing);
  EXPECT_EQ(reason(), FrozenReason::delivery_failing);
  put(ChannelState::active, FrozenReason::delivery_failing);
  EXPECT_EQ(inv.channel(inv.find_channel("tmall")).state, ChannelState::active);
  EXPECT_EQ(reason(), FrozenReason::none);
  put(ChannelState::frozen, std::nullopt);  // by hand
  EXPECT_EQ(reason(), FrozenReason::manual);
  put(ChannelState::frozen, FrozenReason::delivery_failing);
  EXPECT_EQ(reason(), FrozenReason::manual);
  put(ChannelState::active, FrozenReason::delivery_failing);  // the first success does not undo it
  EXPECT_EQ(inv.channel(inv.find_channel("tmall")).state, ChannelState::frozen);
  put(ChannelState::active, std::nullopt);
  EXPECT_EQ(inv.channel(inv.find_channel("tmall")).state, ChannelState::active);
}

TEST_F(ExposureTest, AFrozenListedChannelGetsNoNewExposureButSellsItsOwn) {
  set("A", 10);
  list("tmall", 1, 50);
  ASSERT_EQ(exposed("A", "tmall"), 5);
  freeze("tmall");
  adjust("A", 10);  // d = 15: target 7, but a frozen channel is not raised
  EXPECT_EQ(exposed("A", "tmall"), 5);
  EXPECT_EQ(sale("s1", "tmall", {{"A", 5}}).code, Code::ok);
  EXPECT_EQ(sale("s2", "tmall", {{"A", 1}}).code, Code::channel_frozen);
  freeze("tmall", false);
  EXPECT_EQ(exposed("A", "tmall"), 7);  // floor(50 % of 15)
}

TEST_F(ExposureTest, ListingNullMakesTheChannelDirectAndReleasesItsExposure) {
  channel("app", 1);
  set("A", 10);
  list("tmall", 2, 100);
  ASSERT_EQ(avail("A", "app"), 0);
  PutChannel c;
  c.channel = "tmall";
  c.clear_listing = true;
  ASSERT_EQ(run(c).code, Code::ok);
  EXPECT_EQ(view("A").exposed, 0);
  EXPECT_EQ(avail("A", "app"), 10);
  EXPECT_TRUE(pubs("tmall").empty());
  EXPECT_EQ(published("A", "tmall"), -1);
}

TEST_F(ExposureTest, ExposuresDrawFencesPoolsSharedInTheChannelsOrder) {
  channel("app", 1);
  channel("tmall", 2);
  set("A", 100);
  allocate("A", {{"tmall", -1, 30}, {"app", -1, 20}}, {PoolSpec{"live", 10, {"tmall"}}});
  list("tmall", 2, 100);  // its fence 30, the pool 10, shared 40: 80; app keeps its fence
  EXPECT_EQ(exposed("A", "tmall"), 80);
  EXPECT_EQ(avail("A", "app"), 20);
  EXPECT_EQ(view("A").shared_free, 0);
}

// Journal replay and snapshot+replay give the same state, byte for byte.
TEST_F(ExposureTest, ReplayAndSnapshotAreIdentical) {
  std::vector<std::pair<std::int64_t, Command>> log;
  auto apply = [&](Command c) {
    Writer w;
    encode_command(now, c, w);
    std::int64_t at = 0;
    Command decoded;
    ASSERT_TRUE(decode_command(w.buffer(), &at, &decoded));
    log.emplace_back(at, decoded);
    run(decoded);
    now += 10;
  };
  PutChannel listed;
  listed.channel = "tmall";
  listed.priority = 2;
  listed.listing = Listing{60, 1, 50, 2};
  listed.webhook = Webhook{"http://127.0.0.1:9/hook", "s3cret", 30};
  apply(PutChannel{"app", 1, 60, ChannelState::active});
  apply(PutSku{"A", 100, 5, std::nullopt, std::nullopt});
  apply(listed);
  apply(CreateHold{"h1", "app", {{"A", 20}}, std::nullopt, false});
  apply(CreateHold{"s1", "tmall", {{"A", 3}}, std::nullopt, true});
  apply(AckPublications{"tmall", 2});
  apply(Adjust{"A", -60, "damaged", "D1"});
  Writer mid;
  inv.save(mid);
  apply(AckPublications{"tmall", inv.last_publication_seq(inv.find_channel("tmall"))});
  apply(ReleaseHold{"h1"});
  Writer full;
  inv.save(full);

  Inventory replayed;
  for (const auto& [at, c] : log) replayed.apply(c, at, nullptr);
  Writer again;
  replayed.save(again);
  EXPECT_EQ(again.buffer(), full.buffer());

  Inventory restored;
  ASSERT_TRUE(restored.load(mid.buffer()));
  for (std::size_t i = 7; i < log.size(); ++i) restored.apply(log[i].second, log[i].first, nullptr);
  Writer after;
  restored.save(after);
  EXPECT_EQ(after.buffer(), full.buffer());
  ChannelView v = restored.channel(restored.find_channel("tmall"));
  ASSERT_TRUE(v.webhook.has_value());
  EXPECT_EQ(v.webhook->secret, "s3cret");
  EXPECT_EQ(v.listing, (Listing{60, 1, 50, 2}));
}

}  // namespace
}  // namespace stockd::core::testing
