// Command codec (journal records): every command round-trips field for field; truncated, extended and
// garbage payloads are rejected and never crash the decoder.
#include <random>
#include <string>

#include "core/codec.h"
#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

// Field-by-field equality of commands (the structs have no operator==).
bool same(const PutChannel& a, const PutChannel& b) {
  return a.channel == b.channel && a.priority == b.priority && a.hold_ttl_s == b.hold_ttl_s && a.state == b.state &&
         a.reason == b.reason && a.listing == b.listing && a.clear_listing == b.clear_listing &&
         a.webhook == b.webhook && a.clear_webhook == b.clear_webhook;
}
bool same(const AckPublications& a, const AckPublications& b) { return a.channel == b.channel && a.seq == b.seq; }
bool same(const PutSku& a, const PutSku& b) {
  return a.sku == b.sku && a.on_hand == b.on_hand && a.safety_stock == b.safety_stock &&
         a.max_per_hold == b.max_per_hold && a.low_stock_threshold == b.low_stock_threshold;
}
bool same(const Adjust& a, const Adjust& b) {
  return a.sku == b.sku && a.delta == b.delta && a.reason == b.reason && a.ref == b.ref;
}
bool same(const SetAllocation& a, const SetAllocation& b) {
  if (a.sku != b.sku || a.preempt != b.preempt || a.fences.size() != b.fences.size() ||
      a.pools.size() != b.pools.size())
    return false;
  for (std::size_t i = 0; i < a.fences.size(); ++i)
    if (a.fences[i].channel != b.fences[i].channel || a.fences[i].ratio_ppb != b.fences[i].ratio_ppb ||
        a.fences[i].units != b.fences[i].units)
      return false;
  for (std::size_t i = 0; i < a.pools.size(); ++i)
    if (a.pools[i].name != b.pools[i].name || a.pools[i].units != b.pools[i].units ||
        a.pools[i].channels != b.pools[i].channels)
      return false;
  return true;
}
bool same(const ClosePool& a, const ClosePool& b) { return a.sku == b.sku && a.pool == b.pool; }
bool same(const CreateHold& a, const CreateHold& b) {
  return a.id == b.id && a.channel == b.channel && a.lines == b.lines && a.ttl_s == b.ttl_s && a.confirm == b.confirm;
}
bool same(const ConfirmHold& a, const ConfirmHold& b) { return a.id == b.id && a.lines == b.lines; }
bool same(const ReleaseHold& a, const ReleaseHold& b) { return a.id == b.id; }
bool same(const ExtendHold& a, const ExtendHold& b) { return a.id == b.id && a.ttl_s == b.ttl_s; }
bool same(const Tick&, const Tick&) { return true; }
bool same(const Configure& a, const Configure& b) {
  return a.retention_ms == b.retention_ms && a.low_stock_permille == b.low_stock_permille;
}
bool same(const StockBatch& a, const StockBatch& b) {
  return a.ref == b.ref && a.reason == b.reason && a.atomic == b.atomic && a.rows == b.rows;
}
bool same(const Command& a, const Command& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        return same(x, std::get<T>(b));
      },
      a);
}

std::vector<Command> every_command() {
  std::vector<Command> all;
  all.push_back(PutChannel{"app", 1, 900, ChannelState::active});
  all.push_back(PutChannel{"app", std::nullopt, std::nullopt, ChannelState::frozen});
  all.push_back(PutChannel{"app", std::nullopt, std::nullopt, std::nullopt});
  PutSku s;
  s.sku = "SKU-1";
  all.push_back(s);
  s.on_hand = limits::kOnHandMax;
  s.safety_stock = 0;
  s.max_per_hold = kClear;
  s.low_stock_threshold = 42;
  all.push_back(s);
  all.push_back(Adjust{"SKU-1", -limits::kDeltaMax, "damaged in transit", "ADJ-17"});
  all.push_back(Adjust{"SKU-1", 1, "", ""});
  SetAllocation a;
  a.sku = "SKU-1";
  all.push_back(a);
  a.fences = {{"app", 200'000'000, -1}, {"tmall", -1, 50}};
  a.pools = {{"live", 500, {"douyin", "app"}}, {"p2", 0, {"x"}}};
  a.preempt = true;
  all.push_back(a);
  all.push_back(ClosePool{"SKU-1", "live"});
  all.push_back(CreateHold{"order-1", "app", {{"A", 2}, {"B", limits::kQtyMax}}, 900, false});
  all.push_back(CreateHold{"order-2", "app", {{"A", 1}}, std::nullopt, true});
  all.push_back(ConfirmHold{"order-1", std::nullopt});
  all.push_back(ConfirmHold{"order-1", std::vector<HoldLine>{{"A", 1}}});
  all.push_back(ReleaseHold{"order-1"});
  all.push_back(ExtendHold{"order-1", 300});
  all.push_back(Tick{});
  all.push_back(Configure{limits::kDefaultRetentionMs, 100});
  StockBatch b;
  b.reason = StockReason::cycle_count;
  b.rows = {{"A", true, 10, 12}, {"B", false, -limits::kDeltaMax, std::nullopt}, {"bad sku!", true, -1, -5}};
  all.push_back(b);
  b.ref = "IMPORT-1";
  b.reason = StockReason::other;
  b.atomic = true;
  all.push_back(b);
  PutChannel listed{"tmall", 2, 900, ChannelState::frozen};
  listed.reason = FrozenReason::delivery_failing;
  listed.listing = Listing{80, 2, 40, 1};
  listed.webhook = Webhook{"https://example.com/hook?x=1", "k", 5};
  all.push_back(listed);
  PutChannel cleared{"tmall", std::nullopt, std::nullopt, std::nullopt};
  cleared.clear_listing = true;
  cleared.clear_webhook = true;
  all.push_back(cleared);
  all.push_back(AckPublications{"tmall", 1'000'000'000'000ULL});
  return all;
}

TEST(CodecTest, EveryCommandRoundTrips) {
  std::vector<Command> all = every_command();
  // Every alternative of the variant is covered.
  std::vector<bool> seen(std::variant_size_v<Command>, false);
  for (const Command& c : all) seen[c.index()] = true;
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_TRUE(seen[i]) << "no round trip for alternative " << i;

  for (std::int64_t now : {std::int64_t{0}, std::int64_t{1'700'000'000'123}, std::int64_t{-5}}) {
    for (const Command& c : all) {
      Writer w;
      encode_command(now, c, w);
      std::int64_t got_now = 0;
      Command got;
      ASSERT_TRUE(decode_command(w.buffer(), &got_now, &got)) << "alternative " << c.index();
      EXPECT_EQ(got_now, now);
      EXPECT_TRUE(same(c, got)) << "alternative " << c.index() << " changed in a round trip";
      Writer again;
      encode_command(got_now, got, again);
      EXPECT_EQ(again.buffer(), w.buffer());
    }
  }
}

TEST(CodecTest, PayloadStartsWithVersionTimeAndTag) {
  Writer w;
  encode_command(3, ReleaseHold{"h"}, w);
  const std::string& b = w.buffer();
  ASSERT_GE(b.size(), 3u);
  EXPECT_EQ(static_cast<std::uint8_t>(b[0]), kCommandFormatVersion);
  EXPECT_EQ(static_cast<std::uint8_t>(b[1]), 6) << "zigzag(3)";
  EXPECT_EQ(static_cast<std::uint8_t>(b[2]), 8) << "ReleaseHold is alternative 7, tag 8";
}

TEST(CodecTest, EveryTruncationIsRejected) {
  for (const Command& c : every_command()) {
    Writer w;
    encode_command(1'700'000'000'000, c, w);
    const std::string& full = w.buffer();
    for (std::size_t n = 0; n < full.size(); ++n) {
      std::int64_t now = 0;
      Command got;
      EXPECT_FALSE(decode_command(std::string_view(full).substr(0, n), &now, &got))
          << "alternative " << c.index() << " truncated to " << n << " of " << full.size() << " bytes";
    }
  }
}

TEST(CodecTest, TrailingBytesAreRejected) {
  for (const Command& c : every_command()) {
    Writer w;
    encode_command(7, c, w);
    w.u8(0);
    std::int64_t now = 0;
    Command got;
    EXPECT_FALSE(decode_command(w.buffer(), &now, &got)) << "alternative " << c.index();
  }
}

std::string payload(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

TEST(CodecTest, MalformedPayloadsAreRejected) {
  struct Case {
    const char* what;
    std::string bytes;
  };
  std::vector<Case> cases = {
      {"empty", ""},
      {"unknown version", payload({3, 0, 10})},
      {"version 0", payload({0, 0, 10})},
      {"tag 0", payload({1, 0, 0})},
      {"tag past the last command", payload({1, 0, 14})},
      {"tag 255", payload({1, 0, 255})},
      {"varint of 11 bytes", payload({1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 10})},
      {"string longer than the payload", payload({1, 0, 8, 5, 'a', 'b'})},
      {"string over 128 bytes", std::string(payload({1, 0, 8, 0x81, 0x01})) + std::string(129, 'a')},
      {"channel state 3", payload({1, 0, 1, 1, 'c', 0, 0, 3})},
      {"optional flag 2", payload({1, 0, 1, 1, 'c', 2, 2, 0, 0})},
      {"bool 2 (confirm)", payload({1, 0, 6, 1, 'h', 1, 'c', 1, 1, 'A', 2, 0, 2})},
      {"101 lines", payload({1, 0, 6, 1, 'h', 1, 'c', 101})},
      {"65 fences", payload({1, 0, 4, 1, 'A', 65})},
      {"65 pools", payload({1, 0, 4, 1, 'A', 0, 65})},
      {"pool with 65 channels", payload({1, 0, 4, 1, 'A', 0, 1, 1, 'p', 2, 65})},
      {"reason over 256 bytes", std::string(payload({1, 0, 3, 1, 'A', 2, 0x81, 0x02})) + std::string(257, 'r')},
  };
  for (const Case& c : cases) {
    std::int64_t now = 0;
    Command got;
    EXPECT_FALSE(decode_command(c.bytes, &now, &got)) << c.what;
  }
}

TEST(CodecTest, RandomGarbageNeverCrashesTheDecoder) {
  std::mt19937_64 rng(12345);
  std::vector<std::string> seeds;
  for (const Command& c : every_command()) {
    Writer w;
    encode_command(99, c, w);
    seeds.push_back(w.buffer());
  }
  int accepted = 0;
  for (int i = 0; i < 200'000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      // Mutations of valid payloads: the most dangerous garbage.
      bytes = seeds[rng() % seeds.size()];
      int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips && !bytes.empty(); ++f) bytes[rng() % bytes.size()] ^= static_cast<char>(1 + rng() % 255);
    } else {
      bytes.resize(rng() % 40);
      for (char& ch : bytes) ch = static_cast<char>(rng());
    }
    std::int64_t now = 0;
    Command got;
    if (decode_command(bytes, &now, &got)) {
      ++accepted;
      // Whatever decodes is a well-formed command: the core validates it and it encodes again.
      Writer w;
      encode_command(now, got, w);
      std::int64_t now2 = 0;
      Command again;
      EXPECT_TRUE(decode_command(w.buffer(), &now2, &again));
      EXPECT_TRUE(same(got, again));
    }
  }
  RecordProperty("accepted", accepted);
}

}  // namespace
}  // namespace stockd::core::testing
