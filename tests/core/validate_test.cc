// invalid_request: every syntactic limit of the contract, checked by the core itself (a command from
// any source is safe), and the boundary values that must still be accepted.
#include <string>

#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

class ValidateTest : public CoreTest {
 protected:
  void SetUp() override {
    channel("app", 1);
    set("A", 2'000'000'000);
    set("B", 10);
  }
  void expect_invalid(const Command& c, const char* what) {
    Writer before;
    inv.save(before);
    Outcome out = run(c);
    EXPECT_EQ(out.code, Code::invalid_request) << what;
    EXPECT_FALSE(out.message.empty()) << what;
    EXPECT_FALSE(out.changed) << what;
    EXPECT_TRUE(events.empty()) << what;
    Writer after;
    inv.save(after);
    EXPECT_EQ(before.buffer(), after.buffer()) << what << ": a rejected command changed the state";
    std::string message;
    EXPECT_EQ(validate(c, &message), Code::invalid_request) << what;
  }
};

// The numbers below are the contract's (docs/api.md, "Conventions"), written out: a test that read limits.h
// could not notice a wrong constant there.
const std::string kLongId(129, 'x');
const std::string kMaxId(128, 'x');

std::vector<HoldLine> many_lines(std::size_t n) {
  std::vector<HoldLine> lines;
  for (std::size_t i = 0; i < n; ++i) lines.push_back({"s" + std::to_string(i), 1});
  return lines;
}

TEST_F(ValidateTest, IdentifiersAreOneTo128SafeCharacters) {
  EXPECT_TRUE(is_identifier("aZ09._:-"));
  EXPECT_TRUE(is_identifier(kMaxId));
  EXPECT_FALSE(is_identifier(""));
  EXPECT_FALSE(is_identifier(kLongId));
  for (const std::string& bad : std::vector<std::string>{"a b", "a/b", "a\"", "\xc3\xa9", std::string("a\0b", 3), "a\n", "a,b", "a+b"})
    EXPECT_FALSE(is_identifier(bad)) << bad;
}

TEST_F(ValidateTest, BadHoldsAreInvalidRequests) {
  expect_invalid(CreateHold{"", "app", {{"A", 1}}, std::nullopt, false}, "empty id");
  expect_invalid(CreateHold{kLongId, "app", {{"A", 1}}, std::nullopt, false}, "id of 129 chars");
  expect_invalid(CreateHold{"a b", "app", {{"A", 1}}, std::nullopt, false}, "id with a space");
  expect_invalid(CreateHold{"h", "a/p", {{"A", 1}}, std::nullopt, false}, "bad channel");
  expect_invalid(CreateHold{"h", "app", {}, std::nullopt, false}, "no lines");
  expect_invalid(CreateHold{"h", "app", many_lines(101), std::nullopt, false}, "101 lines");
  expect_invalid(CreateHold{"h", "app", {{"A", 0}}, std::nullopt, false}, "qty 0");
  expect_invalid(CreateHold{"h", "app", {{"A", -1}}, std::nullopt, false}, "qty -1");
  expect_invalid(CreateHold{"h", "app", {{"A", 1'000'000'001}}, std::nullopt, false}, "qty 1e9+1");
  expect_invalid(CreateHold{"h", "app", {{"A", 1}, {"A", 1}}, std::nullopt, false}, "the same sku twice");
  expect_invalid(CreateHold{"h", "app", {{"", 1}}, std::nullopt, false}, "empty sku");
  expect_invalid(CreateHold{"h", "app", {{"A", 1}}, 0, false}, "ttl 0");
  expect_invalid(CreateHold{"h", "app", {{"A", 1}}, 2'592'001, false}, "ttl over 30 days");
  EXPECT_EQ(inv.find_hold("h"), kNoIndex);
}

TEST_F(ValidateTest, BoundaryHoldsAreAccepted) {
  EXPECT_EQ(hold(kMaxId, "app", {{"A", 1'000'000'000}}, 2'592'000).code, Code::ok) << "id 128, qty 1e9, ttl 30 days";
  EXPECT_EQ(hold("h1", "app", {{"A", 1}}, 1).code, Code::ok) << "qty 1, ttl 1 s";
  for (const HoldLine& l : many_lines(100)) set(l.sku, 1);
  Outcome out = hold("h100", "app", many_lines(100));
  EXPECT_EQ(out.code, Code::ok) << "100 lines";
  EXPECT_EQ(hold_view("h100").lines.size(), 100u);
}

TEST_F(ValidateTest, BadConfirmReleaseExtendAreInvalidRequests) {
  ASSERT_EQ(hold("h", "app", {{"A", 5}, {"B", 5}}).code, Code::ok);
  expect_invalid(ConfirmHold{"", std::nullopt}, "confirm empty id");
  expect_invalid(ConfirmHold{"h", std::vector<HoldLine>{}}, "confirm with an empty line list");
  expect_invalid(ConfirmHold{"h", std::vector<HoldLine>{{"A", 1}, {"A", 1}}}, "confirm the same sku twice");
  expect_invalid(ConfirmHold{"h", std::vector<HoldLine>{{"A", 0}}}, "confirm qty 0");
  expect_invalid(ReleaseHold{kLongId}, "release long id");
  expect_invalid(ExtendHold{"h", 0}, "extend ttl 0");
  expect_invalid(ExtendHold{"h", 2'592'001}, "extend over 30 days");
  expect_invalid(ExtendHold{"", 5}, "extend empty id");
  EXPECT_EQ(state_of("h"), HoldState::held);
}

TEST_F(ValidateTest, BadStockCommandsAreInvalidRequests) {
  PutSku s;
  s.sku = "bad sku";
  expect_invalid(s, "sku with a space");
  s.sku = "A";
  s.on_hand = -1;
  expect_invalid(s, "on_hand -1");
  s.on_hand = 1'000'000'000'000'001;
  expect_invalid(s, "on_hand over 10^15");
  s.on_hand.reset();
  s.safety_stock = -1;
  expect_invalid(s, "safety -1");
  s.safety_stock.reset();
  s.max_per_hold = 1'000'000'001;
  expect_invalid(s, "max_per_hold over 1e9");
  s.max_per_hold = -2;
  expect_invalid(s, "max_per_hold -2");
  s.max_per_hold.reset();
  s.low_stock_threshold = -2;
  expect_invalid(s, "threshold -2");
  expect_invalid(Adjust{"A", 0, "", ""}, "delta 0");
  expect_invalid(Adjust{"A", 1'000'000'000'000'001, "", ""}, "delta over 10^15");
  expect_invalid(Adjust{"A", -1'000'000'000'000'001, "", ""}, "delta under -10^15");
  expect_invalid(Adjust{"A", 1, std::string(257, 'r'), ""}, "reason of 257 bytes");
  expect_invalid(Adjust{"A", 1, "", "bad ref"}, "bad ref");
  expect_invalid(Adjust{"", 1, "", ""}, "empty sku");
  EXPECT_EQ(adjust("A", 1, "", std::string(256, 'r')).code, Code::ok) << "256 bytes is fine";
  expect_invalid(PutChannel{"", 1, 1, ChannelState::active}, "empty channel");
  expect_invalid(PutChannel{"c", 0, 1, ChannelState::active}, "priority 0");
  expect_invalid(PutChannel{"c", 1'000'001, 1, ChannelState::active}, "priority over 1e6");
  expect_invalid(PutChannel{"c", 1, 0, ChannelState::active}, "ttl 0");
  expect_invalid(PutChannel{"c", 1, 2'592'001, ChannelState::active}, "ttl over 30 days");
  EXPECT_EQ(inv.find_channel("c"), kNoIndex);
}

TEST_F(ValidateTest, BadAllocationsAreInvalidRequests) {
  SetAllocation a;
  a.sku = "A";
  a.fences = {FenceSpec{"app", -1, -1}};
  expect_invalid(a, "fence with neither ratio nor units");
  a.fences = {FenceSpec{"app", 1, 1}};
  expect_invalid(a, "fence with both");
  a.fences = {FenceSpec{"app", 1'000'000'001, -1}};
  expect_invalid(a, "ratio above 1");
  a.fences = {FenceSpec{"app", -1, 1'000'000'000'000'001}};
  expect_invalid(a, "units above 10^15");
  a.fences = {FenceSpec{"app", -1, 1}, FenceSpec{"app", -1, 2}};
  expect_invalid(a, "two fences for one channel");
  a.fences.clear();
  for (int i = 0; i < 65; ++i) a.fences.push_back({"c" + std::to_string(i), -1, 1});
  expect_invalid(a, "65 fences");
  a.fences.clear();
  a.pools = {PoolSpec{"p", 1, {}}};
  expect_invalid(a, "pool without channels");
  a.pools = {PoolSpec{"p", -1, {"app"}}};
  expect_invalid(a, "pool units -1");
  a.pools = {PoolSpec{"p", 1, {"app"}}, PoolSpec{"p", 2, {"app"}}};
  expect_invalid(a, "two pools with one name");
  a.pools = {PoolSpec{"bad pool", 1, {"app"}}};
  expect_invalid(a, "bad pool name");
  a.pools = {PoolSpec{"p", 1, {"bad channel"}}};
  expect_invalid(a, "bad pool channel");
  a.pools.clear();
  for (int i = 0; i < 65; ++i) a.pools.push_back({"p" + std::to_string(i), 1, {"app"}});
  expect_invalid(a, "65 pools");
  a.pools = {PoolSpec{"p", 1, std::vector<std::string>(65, "app")}};
  expect_invalid(a, "a pool listing 65 channels");
  expect_invalid(ClosePool{"A", "bad pool"}, "close: bad pool name");
  expect_invalid(ClosePool{"", "p"}, "close: empty sku");
  a.pools = {PoolSpec{"p", 1, {"app"}}};
  a.fences = {FenceSpec{"app", 1'000'000'000, -1}};
  EXPECT_EQ(run(a).code, Code::ok) << "ratio 1 is allowed";
}

// The stock figures' limit is 10^15 (docs/api.md): the limit itself is accepted everywhere it applies,
// one more is refused, and the message says the number in full.
TEST_F(ValidateTest, StockFiguresUpTo10To15AreAccepted) {
  constexpr std::int64_t kMax = 1'000'000'000'000'000;
  PutSku s;
  s.sku = "Z";
  s.on_hand = kMax;
  s.safety_stock = kMax;
  s.low_stock_threshold = kMax;
  ASSERT_EQ(run(s).code, Code::ok) << "on_hand, safety_stock and low_stock_threshold of 10^15";
  EXPECT_EQ(view("Z").on_hand, kMax);
  EXPECT_EQ(view("Z").safety_stock, kMax);
  EXPECT_EQ(view("Z").low_stock_threshold, kMax);
  EXPECT_EQ(adjust("Z", -kMax).code, Code::ok) << "delta -10^15";
  EXPECT_EQ(view("Z").on_hand, 0);
  EXPECT_EQ(adjust("Z", kMax).code, Code::ok) << "delta +10^15";
  EXPECT_EQ(view("Z").on_hand, kMax);
  SetAllocation a;
  a.sku = "Z";
  a.fences = {FenceSpec{"app", -1, kMax}};
  a.pools = {PoolSpec{"p", kMax, {"app"}}};
  EXPECT_EQ(run(a).code, Code::ok) << "fence and pool units of 10^15";
  EXPECT_EQ(run(PutChannel{"c", 1'000'000, 2'592'000, ChannelState::active}).code, Code::ok)
      << "priority 1,000,000 and hold_ttl_s of 30 days";

  std::string message;
  s.on_hand = kMax + 1;
  EXPECT_EQ(validate(s, &message), Code::invalid_request);
  EXPECT_EQ(message, "on_hand must be between 0 and 1000000000000000");
  EXPECT_EQ(validate(Adjust{"Z", -kMax - 1, "", ""}, &message), Code::invalid_request);
  EXPECT_EQ(message, "delta must be between -1000000000000000 and 1000000000000000");
}

TEST_F(ValidateTest, ConfigureIsBounded) {
  expect_invalid(Configure{-1, 100}, "negative retention");
  expect_invalid(Configure{366LL * 24 * 3600 * 1000, 100}, "retention over a year");
  expect_invalid(Configure{1000, -1}, "negative permille");
  expect_invalid(Configure{1000, 1001}, "permille over 1000");
}

TEST_F(ValidateTest, EveryErrorCodeHasAStatusAndAName) {
  for (int c = 0; c <= static_cast<int>(Code::precondition_failed); ++c) {
    Code code = static_cast<Code>(c);
    EXPECT_NE(code_name(code), "internal");
    EXPECT_GE(http_status(code), 200);
  }
  EXPECT_EQ(http_status(Code::insufficient_stock), 409);
  EXPECT_EQ(http_status(Code::hold_expired), 410);
  EXPECT_EQ(http_status(Code::channel_frozen), 423);
  EXPECT_EQ(code_name(Code::idempotency_conflict), "idempotency_conflict");
}

}  // namespace
}  // namespace stockd::core::testing
