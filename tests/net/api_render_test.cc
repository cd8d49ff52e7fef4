// Replies of the JSON API: error shapes, SKU/hold/channel views from a real Inventory, availability,
// events, JSON string escaping and RFC 3339 times.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/inventory.h"
#include "net/api_json.h"
#include "net/event_record.h"
#include "net/movement_json.h"
#include "core/json_writer.h"

namespace stockd::net {
namespace {

using Json = nlohmann::json;

Json parse(const std::string& s) {
  Json j = Json::parse(s, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not valid JSON: " << s;
  return j;
}

constexpr std::int64_t kNowMs = 1'795'000'000'123;  // 2026-11-18T11:06:40.123Z

class RenderTest : public ::testing::Test {
 protected:
  core::Inventory inv;
  std::vector<core::Event> events;
  core::Outcome run(const core::Command& c) {
    events.clear();
    core::Outcome o = inv.apply(c, kNowMs, &events);
    EXPECT_TRUE(o.ok()) << o.message;
    return o;
  }
  void SetUp() override {
    run(core::PutChannel{"app", 1, 900, core::ChannelState::active});
    run(core::PutChannel{"meituan", 2, 600, core::ChannelState::active});
    run(core::PutChannel{"douyin", 3, 900, core::ChannelState::frozen});
    core::PutSku s;
    s.sku = "A";
    s.on_hand = 100;
    s.safety_stock = 0;
    s.max_per_hold = 5;
    run(s);
    core::SetAllocation a;
    a.sku = "A";
    a.fences.push_back({"meituan", 200'000'000, -1});
    a.pools.push_back({"live", 30, {"douyin"}});
    a.preempt = true;
    run(a);
  }
};

TEST(RenderError, Shapes) {
  std::string out;
  render_error(out, core::Code::invalid_request, "lines[0].qty must be \"an integer\"\n");
  EXPECT_EQ(out, R"({"error":{"code":"invalid_request","message":"lines[0].qty must be \"an integer\"\n","details":{}}})");
  core::Outcome o;
  o.code = core::Code::insufficient_stock;
  o.message = "not enough A";
  o.detail_sku = "A";
  o.requested = 2;
  o.available = 1;
  out.clear();
  render_outcome_error(out, o);
  Json j = parse(out);
  EXPECT_EQ(j["error"]["code"], "insufficient_stock");
  EXPECT_EQ(j["error"]["message"], "not enough A");
  EXPECT_EQ(j["error"]["details"], Json::parse(R"({"sku":"A","requested":2,"available":1})"));
  o.code = core::Code::limit_exceeded;
  o.message.clear();
  out.clear();
  render_outcome_error(out, o);
  j = parse(out);
  EXPECT_EQ(j["error"]["details"], Json::parse(R"({"sku":"A","requested":2,"max_per_hold":1})"));
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  core::Outcome gone;
  gone.code = core::Code::hold_expired;
  gone.message = "hold h expired";
  out.clear();
  render_outcome_error(out, gone);
  EXPECT_EQ(parse(out)["error"]["details"], Json::object());
}

TEST_F(RenderTest, SkuViewHasTheContractFieldsAndAllocation) {
  std::string out;
  render_sku(out, inv.sku(inv.find_sku("A")));
  Json v = parse(out);
  for (const char* k : {"sku", "on_hand", "safety_stock", "held", "available", "channels", "version", "max_per_hold",
                        "low_stock_threshold", "allocation"})
    EXPECT_TRUE(v.contains(k)) << k << " in " << out;
  EXPECT_EQ(v["sku"], "A");
  EXPECT_EQ(v["on_hand"], 100);
  EXPECT_EQ(v["available"], 100);
  EXPECT_EQ(v["max_per_hold"], 5);
  EXPECT_EQ(v["channels"]["meituan"]["available"], 70);
  EXPECT_EQ(v["channels"]["douyin"]["available"], 0);  // frozen
  EXPECT_EQ(v["allocation"]["fences"]["meituan"]["ratio"], 0.2);
  EXPECT_EQ(v["allocation"]["fences"]["meituan"]["size"], 20);
  EXPECT_EQ(v["allocation"]["pools"]["live"]["units"], 30);
  EXPECT_EQ(v["allocation"]["pools"]["live"]["channels"], Json::parse(R"(["douyin"])"));
  EXPECT_EQ(v["allocation"]["preempt"], true);
  EXPECT_EQ(v["allocation"]["shared"], 50);
  core::PutSku clear;
  clear.sku = "A";
  clear.max_per_hold = core::kClear;
  run(clear);
  out.clear();
  render_sku(out, inv.sku(inv.find_sku("A")));
  EXPECT_TRUE(parse(out)["max_per_hold"].is_null());
  out.clear();
  render_sku_list(out, inv, 0, 10);
  Json list = parse(out);
  EXPECT_EQ(list["total"], 1);
  EXPECT_EQ(list["skus"][0]["sku"], "A");
  out.clear();
  render_sku_list(out, inv, 5, 10);
  EXPECT_EQ(out, R"({"skus":[],"total":1})");
}

TEST_F(RenderTest, HoldViewAndEvents) {
  run(core::CreateHold{"order-1", "app", {{"A", 2}}, 60, false});
  std::string out;
  render_hold(out, inv.hold(inv.find_hold("order-1")));
  EXPECT_EQ(out, R"({"id":"order-1","channel":"app","state":"held","lines":[{"sku":"A","qty":2}],)"
                 R"("expires_at":"2026-11-18T11:07:40.123Z","created_at":"2026-11-18T11:06:40.123Z"})");
  run(core::ConfirmHold{"order-1", std::nullopt});
  std::vector<EventRecord> records;
  for (const auto& e : events) records.push_back(make_event_record(e, inv));
  out.clear();
  render_hold(out, inv.hold(inv.find_hold("order-1")));
  Json h = parse(out);
  EXPECT_EQ(h["state"], "confirmed");
  EXPECT_EQ(h["finished_at"], "2026-11-18T11:06:40.123Z");

  const EventRecord* confirmed = nullptr;
  for (const auto& r : records)
    if (r.type == core::EventType::hold_confirmed) confirmed = &r;
  ASSERT_NE(confirmed, nullptr);
  EXPECT_EQ(confirmed->hold, "order-1");
  EXPECT_EQ(confirmed->channel, "app");
  out.clear();
  render_events_page(records, records.back().seq, out);
  Json page = parse(out);
  ASSERT_EQ(page["events"].size(), records.size());
  EXPECT_EQ(page["next"], records.back().seq);
  for (const auto& e : page["events"]) {
    EXPECT_TRUE(e.contains("seq") && e.contains("type") && e.contains("at")) << e;
    EXPECT_EQ(e["at"], "2026-11-18T11:06:40.123Z");
    if (e["type"] == "hold_confirmed") {
      EXPECT_EQ(e["hold"], "order-1");
    }
    if (e["type"] == "availability") {
      EXPECT_TRUE(e.contains("sku") && e.contains("channel") && e.contains("available")) << e;
    }
  }
}

TEST(RenderEvent, EveryTypeHasItsFields) {
  EventRecord r;
  r.seq = 7;
  r.at_ms = 0;
  r.sku = "A";
  r.channel = "app";
  r.available = 4;
  r.threshold = 5;
  std::string out;
  r.type = core::EventType::low_stock;
  render_event(r, out);
  EXPECT_EQ(out, R"({"seq":7,"type":"low_stock","at":"1970-01-01T00:00:00.000Z","sku":"A","available":4,"threshold":5})");
  out.clear();
  r.type = core::EventType::stock_adjusted;
  r.on_hand = 97;
  r.delta = -3;
  r.reason = "damaged";
  render_event(r, out);
  EXPECT_EQ(out, R"({"seq":7,"type":"stock_adjusted","at":"1970-01-01T00:00:00.000Z","sku":"A","on_hand":97,)"
                 R"("delta":-3,"reason":"damaged"})");
  r.ref = "ADJ-1";
  out.clear();
  render_event(r, out);
  EXPECT_EQ(parse(out)["ref"], "ADJ-1");
  out.clear();
  render_events_page({}, 42, out);
  EXPECT_EQ(out, R"({"events":[],"next":42})");
}

TEST_F(RenderTest, OutcomeErrorsFromTheCore) {
  core::Outcome o = inv.apply(core::CreateHold{"big", "app", {{"A", 6}}, std::nullopt, false}, kNowMs, nullptr);
  ASSERT_EQ(o.code, core::Code::limit_exceeded);
  std::string out;
  render_outcome_error(out, o);
  Json e = parse(out)["error"];
  EXPECT_EQ(e["code"], "limit_exceeded");
  EXPECT_EQ(e["details"], Json::parse(R"({"sku":"A","requested":6,"max_per_hold":5})"));
  o = inv.apply(core::CreateHold{"x", "meituan", {{"A", 1}}, std::nullopt, false}, kNowMs, nullptr);
  ASSERT_TRUE(o.ok());
  o = inv.apply(core::CreateHold{"y", "nope", {{"A", 1}}, std::nullopt, false}, kNowMs, nullptr);
  out.clear();
  render_outcome_error(out, o);
  EXPECT_EQ(parse(out)["error"]["code"], "unknown_channel");
}

TEST_F(RenderTest, AvailabilityListsUnknownSkusOnce) {
  std::string out;
  std::uint32_t app = inv.find_channel("app");
  render_availability(out, inv, app, {"A", "zzz", "A", "zzz", "b\"ad"});
  EXPECT_EQ(out, R"({"channel":"app","available":{"A":70},"unknown":["zzz","b\"ad"]})");
  out.clear();
  render_availability(out, inv, app, {"A"});
  EXPECT_EQ(out, R"({"channel":"app","available":{"A":70}})");
}

TEST_F(RenderTest, Channels) {
  std::string out;
  render_channel(out, inv.channel(inv.find_channel("douyin")));
  EXPECT_EQ(out, R"({"channel":"douyin","priority":3,"hold_ttl_s":900,"state":"frozen","frozen_reason":"manual",)"
                 R"("listing":null,"webhook":null})");
  core::ChannelView listed = inv.channel(inv.find_channel("douyin"));
  listed.state = core::ChannelState::active;
  listed.listing = core::Listing{50, 1, -1, 2};
  listed.webhook = core::Webhook{"http://h/x", "top-secret", 60};
  out.clear();
  render_channel(out, listed);
  EXPECT_EQ(out.find("top-secret"), std::string::npos) << out;  // the secret is never shown
  EXPECT_EQ(parse(out)["listing"]["cap"], nullptr);
  EXPECT_EQ(parse(out)["frozen_reason"], nullptr);
  EXPECT_EQ(parse(out)["webhook"]["secret"], "***");
  out.clear();
  render_channel_list(out, inv);
  EXPECT_EQ(parse(out)["channels"].size(), 3u);
}

TEST(RenderReconcile, Shapes) {
  std::string out;
  render_reconcile(out, 3, "");
  EXPECT_EQ(out, R"({"ok":true,"skus_checked":3,"drift":[]})");
  out.clear();
  render_reconcile(out, 3, "sku A: held 2 != 3");
  EXPECT_EQ(parse(out)["drift"][0], "sku A: held 2 != 3");
}

TEST(JsonOut, EscapingAlwaysGivesValidJson) {
  std::string out;
  core::json::append_string(out, std::string("a\"b\\c\n\t\x01\x1f\x7f", 10));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\x7f\"");
  const char* samples[] = {"h\xc3\xa9llo \xe4\xb8\xad\xf0\x9f\x98\x80",  // valid 2, 3 and 4 byte forms
                           "\xff\xfe", "\xc3", "\xe4\xb8", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80"};
  for (const char* s : samples) {
    out.clear();
    core::json::append_string(out, s);
    Json j = Json::parse(out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << out;
  }
  out.clear();
  core::json::append_string(out, "h\xc3\xa9llo");
  EXPECT_EQ(out, "\"h\xc3\xa9llo\"");
  out.clear();
  core::json::append_string(out, "a\xc0\xafz");
  EXPECT_EQ(out, "\"a\\ufffd\\ufffdz\"");
}

TEST(JsonOut, RatioPpb) {
  auto r = [](std::int64_t ppb) {
    std::string s;
    core::json::append_ratio_ppb(s, ppb);
    return s;
  };
  EXPECT_EQ(r(200'000'000), "0.2");
  EXPECT_EQ(r(1'000'000'000), "1");
  EXPECT_EQ(r(0), "0");
  EXPECT_EQ(r(1), "0.000000001");
  EXPECT_EQ(r(123'456'789), "0.123456789");
}

TEST(JsonOut, Rfc3339EdgeCases) {
  struct Case {
    std::int64_t ms;
    const char* text;
  } cases[] = {
      {0, "1970-01-01T00:00:00.000Z"},
      {1, "1970-01-01T00:00:00.001Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
      {951'782'400'000, "2000-02-29T00:00:00.000Z"},      // leap day of a year divisible by 400
      {951'868'800'000, "2000-03-01T00:00:00.000Z"},
      {1'709'164'800'000, "2024-02-29T00:00:00.000Z"},    // ordinary leap year
      {1'798'175'600'123, "2026-12-25T05:13:20.123Z"},
      {1'798'761'599'999, "2026-12-31T23:59:59.999Z"},
      {4'107'456'000'000, "2100-02-28T00:00:00.000Z"},    // 2100 is not a leap year
      {4'107'542'400'000, "2100-03-01T00:00:00.000Z"},
      {253'402'300'799'999, "9999-12-31T23:59:59.999Z"},
      {253'402'300'800'000, "9999-12-31T23:59:59.999Z"},  // clamped
      {INT64_MAX, "9999-12-31T23:59:59.999Z"},
      {-62'167'219'200'000, "0000-01-01T00:00:00.000Z"},
      {INT64_MIN, "0000-01-01T00:00:00.000Z"},
  };
  for (const Case& c : cases) EXPECT_EQ(core::json::rfc3339_ms(c.ms), c.text) << c.ms;
  std::string out;
  core::json::append_time(out, 0);
  EXPECT_EQ(out, "\"1970-01-01T00:00:00.000Z\"");
}

TEST(MovementJson, EveryKeyInTheContractsOrderWithNullForNone) {
  std::vector<core::MovementRecord> rows = {
      {7, kNowMs, core::MovementCause::hold, 0, 2, 0, "A", "web", "order-1", "", ""},
      {9, kNowMs, core::MovementCause::adjust, -3, 0, 0, "A", "", "", "ADJ-\"1", "damaged"}};
  std::string out;
  render_movements_page(rows, 9, out);
  EXPECT_EQ(out,
            R"({"movements":[{"seq":7,"at":"2026-11-18T11:06:40.123Z","sku":"A","on_hand_delta":0,"held_delta":2,)"
            R"("exposed_delta":0,"cause":"hold","ref":null,"reason":null,"channel":"web","hold":"order-1"},)"
            R"({"seq":9,"at":"2026-11-18T11:06:40.123Z","sku":"A","on_hand_delta":-3,"held_delta":0,)"
            R"("exposed_delta":0,"cause":"adjust","ref":"ADJ-\"1","reason":"damaged","channel":null,"hold":null}],)"
            R"("next":9})");
  parse(out);
  std::string empty;
  render_movements_page({}, 42, empty);
  EXPECT_EQ(empty, R"({"movements":[],"next":42})");
}

TEST(MovementJson, EveryCauseHasItsContractName) {
  const char* names[] = {"hold", "confirm", "release", "expire", "adjust", "set", "batch", "exposure"};
  for (std::uint8_t c = 0; c <= core::kMovementCauseMax; ++c)
    EXPECT_EQ(core::movement_cause_name(static_cast<core::MovementCause>(c)), names[c]) << int{c};
}

}  // namespace
}  // namespace stockd::net
