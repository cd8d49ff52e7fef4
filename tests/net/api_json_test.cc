// Strict decoding of every request body of the contract into core commands, and the round trip
// body -> command -> encode_command_body -> the same command.
#include "net/api_json.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>

namespace stockd::net {
namespace {

using core::Code;
using core::Command;

using Decoder = std::function<core::Status(std::string_view body, Command*)>;

Decoder channel_put(std::string_view ch = "app") {
  return [ch](std::string_view b, Command* c) { return decode_put_channel(ch, b, c); };
}
Decoder sku_put(std::string_view sku = "A") {
  return [sku](std::string_view b, Command* c) { return decode_put_sku(sku, b, c); };
}
Decoder adjust() { return [](std::string_view b, Command* c) { return decode_adjust("A", b, c); }; }
Decoder allocation() { return [](std::string_view b, Command* c) { return decode_set_allocation("A", b, c); }; }
Decoder hold() { return [](std::string_view b, Command* c) { return decode_create_hold(b, c); }; }
Decoder confirm(std::string_view id = "h-1") {
  return [id](std::string_view b, Command* c) { return decode_confirm(id, b, c); };
}
Decoder release() { return [](std::string_view b, Command* c) { return decode_release("h-1", b, c); }; }
Decoder extend() { return [](std::string_view b, Command* c) { return decode_extend("h-1", b, c); }; }

std::string encode(const Command& c) {
  std::string out;
  encode_command_body(c, out);
  return out;
}

// Decodes, checks the round trip through encode_command_body, returns the command.
template <typename T>
T ok(const Decoder& d, std::string_view body) {
  Command cmd;
  core::Status st = d(body, &cmd);
  EXPECT_EQ(st.code, Code::ok) << body << " -> " << st.message;
  EXPECT_TRUE(std::holds_alternative<T>(cmd)) << body;
  Command again;
  std::string body2 = encode(cmd);
  st = d(body2, &again);
  EXPECT_EQ(st.code, Code::ok) << body2 << " -> " << st.message;
  EXPECT_EQ(encode(again), body2) << "round trip of " << body;
  return std::holds_alternative<T>(cmd) ? std::get<T>(cmd) : T{};
}

// The body is refused as invalid_request with a message that contains `names`.
void bad(const Decoder& d, std::string_view body, std::string_view names) {
  Command cmd;
  core::Status st = d(body, &cmd);
  const std::string& err = st.message;
  EXPECT_EQ(st.code, Code::invalid_request) << body;
  EXPECT_NE(err.find(names), std::string::npos) << "body " << body << "\nmessage \"" << err
                                                << "\" should name \"" << names << "\"";
}

std::string lines_json(std::size_t n) {
  std::string s = "[";
  for (std::size_t i = 0; i < n; ++i) s += (i ? "," : "") + std::string("{\"sku\":\"S") + std::to_string(i) + "\",\"qty\":1}";
  return s + "]";
}

TEST(DecodePutChannel, Fields) {
  auto c = ok<core::PutChannel>(channel_put(), R"({"priority":3,"hold_ttl_s":600,"state":"frozen"})");
  EXPECT_EQ(c.channel, "app");
  EXPECT_EQ(c.priority, 3);
  EXPECT_EQ(c.hold_ttl_s, 600);
  EXPECT_EQ(c.state, core::ChannelState::frozen);
  auto d = ok<core::PutChannel>(channel_put(), " {} ");
  EXPECT_FALSE(d.priority || d.hold_ttl_s || d.state);
  bad(channel_put(), R"({"state":"paused"})", "state");
  bad(channel_put(), R"({"priority":0})", "priority");
  bad(channel_put(), R"({"hold_ttl_s":"900"})", "hold_ttl_s");
  bad(channel_put("bad channel"), "{}", "channel in the path");
  bad(channel_put(), "", "body");
}

TEST(DecodePutChannel, ListingAndWebhook) {
  auto c = ok<core::PutChannel>(
      channel_put(), R"({"listing":{"percent":80,"buffer":2,"cap":null,"min":1},"webhook":{"url":"http://h/x","secret":"s"}})");
  ASSERT_TRUE(c.listing && c.webhook);
  EXPECT_EQ(*c.listing, (core::Listing{80, 2, -1, 1}));
  EXPECT_EQ(c.webhook->freeze_after_s, 60);  // the documented default
  auto d = ok<core::PutChannel>(channel_put(), R"({"listing":{"cap":5},"webhook":null})");
  EXPECT_EQ(*d.listing, (core::Listing{100, 0, 5, 0}));
  EXPECT_TRUE(d.clear_webhook);
  auto e = ok<core::PutChannel>(channel_put(), R"({"listing":null})");
  EXPECT_TRUE(e.clear_listing);
  bad(channel_put(), R"({"listing":{"percent":101}})", "listing.percent");
  bad(channel_put(), R"({"listing":{"colour":1}})", "listing.colour");
  bad(channel_put(), R"({"webhook":{"url":"http://h"}})", "secret");
  bad(channel_put(), R"({"webhook":{"url":"mailto:x","secret":"s"}})", "webhook.url");
  bad(channel_put(), R"({"webhook":{"url":"http://h","secret":"s","freeze_after_s":0}})", "freeze_after_s");
}

TEST(DecodeAckPublications, Seq) {
  auto ack = [](std::string_view b, Command* c) { return decode_ack_publications("tmall", b, c); };
  auto a = ok<core::AckPublications>(ack, R"({"seq":12})");
  EXPECT_EQ(a.channel, "tmall");
  EXPECT_EQ(a.seq, 12u);
  bad(ack, "{}", "seq");
  bad(ack, R"({"seq":-1})", "seq");
}

TEST(DecodePutSku, ClearingFields) {
  auto s = ok<core::PutSku>(sku_put(), R"({"on_hand":100,"safety_stock":5,"max_per_hold":2,"low_stock_threshold":7})");
  EXPECT_EQ(s.sku, "A");
  EXPECT_EQ(s.on_hand, 100);
  EXPECT_EQ(s.safety_stock, 5);
  EXPECT_EQ(s.max_per_hold, 2);
  EXPECT_EQ(s.low_stock_threshold, 7);
  s = ok<core::PutSku>(sku_put(), R"({"max_per_hold":null,"low_stock_threshold":null})");
  EXPECT_EQ(s.max_per_hold, core::kClear);
  EXPECT_EQ(s.low_stock_threshold, core::kClear);
  EXPECT_FALSE(s.on_hand);
  EXPECT_EQ(ok<core::PutSku>(sku_put(), R"({"max_per_hold":0})").max_per_hold, core::kClear);
  bad(sku_put(), R"({"on_hand":-1})", "on_hand");
  bad(sku_put(), R"({"on_hand":1000000000000000001})", "on_hand");  // 10^18 + 1: far past the limit
  bad(sku_put(), R"({"on_hand":9223372036854775808})", "on_hand");       // overflows int64
  bad(sku_put(), R"({"on_hand":18446744073709551616})", "on_hand");      // overflows uint64
  bad(sku_put(), R"({"on_hand":1e3})", "on_hand");
  bad(sku_put(), R"({"on_hand":10.0})", "on_hand");
  bad(sku_put(), R"({"max_per_hold":-1})", "max_per_hold");
  bad(sku_put(), R"({"low_stock_threshold":true})", "low_stock_threshold");
  bad(sku_put(), R"({"on_hand":1,"pad":"x"})", "unknown field \"pad\"");
  bad(sku_put("bad%20sku"), R"({"on_hand":1})", "sku in the path");
}

TEST(DecodePutSku, SplitIsOneToSixteen) {
  EXPECT_EQ(ok<core::PutSku>(sku_put(), R"({"split":4})").split, 4);
  EXPECT_EQ(ok<core::PutSku>(sku_put(), R"({"split":1})").split, 1);
  EXPECT_FALSE(ok<core::PutSku>(sku_put(), R"({"on_hand":3})").split.has_value());
  bad(sku_put(), R"({"split":0})", "split");
  bad(sku_put(), R"({"split":17})", "split");
  bad(sku_put(), R"({"split":"4"})", "split");
  core::PutSku s{"A", {}, {}, {}, {}};
  s.split = 8;
  EXPECT_EQ(encode(s), R"({"split":8})");
}

TEST(DecodeAdjust, Fields) {
  auto a = ok<core::Adjust>(adjust(), R"({"delta":-3,"reason":"damaged","ref":"ADJ-17"})");
  EXPECT_EQ(a.delta, -3);
  EXPECT_EQ(a.reason, "damaged");
  EXPECT_EQ(a.ref, "ADJ-17");
  EXPECT_EQ(ok<core::Adjust>(adjust(), R"({"delta":5})").ref, "");
  bad(adjust(), R"({"reason":"x"})", "delta is required");
  bad(adjust(), R"({"delta":0})", "delta must not be 0");
  bad(adjust(), R"({"delta":-9223372036854775809})", "delta");
  bad(adjust(), R"({"delta":1,"ref":""})", "ref");
  bad(adjust(), R"({"delta":1,"ref":"a b"})", "ref");
  bad(adjust(), R"({"delta":1,"reason":")" + std::string(257, 'r') + "\"}", "reason");
  bad(adjust(), R"({"delta":1,"reason":5})", "reason");
}

Decoder batch() { return [](std::string_view b, Command* c) { return decode_stock_batch(b, c); }; }

TEST(DecodeStockBatch, FieldsAndRows) {
  auto b = ok<core::StockBatch>(batch(), R"({"ref":"IMPORT-1","reason":"cycle_count","atomic":true,"rows":[
      {"sku":"A","on_hand":10,"expect_on_hand":12},{"sku":"B","delta":-2}]})");
  EXPECT_EQ(b.ref, "IMPORT-1");
  EXPECT_EQ(b.reason, core::StockReason::cycle_count);
  EXPECT_TRUE(b.atomic);
  ASSERT_EQ(b.rows.size(), 2u);
  EXPECT_EQ(b.rows[0], (core::BatchRow{"A", true, 10, 12}));
  EXPECT_EQ(b.rows[1], (core::BatchRow{"B", false, -2, std::nullopt}));
  for (const char* reason : {"received", "cycle_count", "damaged", "returned", "correction", "other"})
    ok<core::StockBatch>(batch(), std::string(R"({"reason":")") + reason + R"(","rows":[{"sku":"A","delta":1}]})");
  // A row's values are the row's: bad ones decode and become row errors in the core.
  auto rows = ok<core::StockBatch>(batch(), R"({"reason":"other","rows":[{"sku":"a b","on_hand":-1,"expect_on_hand":-5}]})");
  EXPECT_EQ(rows.rows[0], (core::BatchRow{"a b", true, -1, -5}));
}

TEST(DecodeStockBatch, BodyErrorsNameTheField) {
  const std::string row = R"({"sku":"A","delta":1})";
  bad(batch(), R"({"rows":[)" + row + "]}", "reason is required");
  bad(batch(), R"({"reason":"stolen","rows":[)" + row + "]}", "reason must be one of");
  bad(batch(), R"({"reason":"other"})", "rows is required");
  bad(batch(), R"({"reason":"other","rows":[]})", "rows must be an array of 1 to 10000");
  std::string many = R"({"reason":"other","rows":[)" + row;
  for (int i = 1; i < 10'001; ++i) many += "," + row;  // docs/api.md: at most 10,000 rows
  bad(batch(), many + "]}", "rows must be an array of 1 to 10000");
  bad(batch(), R"({"reason":"other","rows":[5]})", "rows[0] must be an object");
  bad(batch(), R"({"reason":"other","rows":[{"sku":"A"}]})", "rows[0] must have exactly one of on_hand and delta");
  bad(batch(), R"({"reason":"other","rows":[{"sku":"A","on_hand":1,"delta":1}]})", "exactly one of");
  bad(batch(), R"({"reason":"other","rows":[{"delta":1}]})", "rows[0].sku is required");
  bad(batch(), R"({"reason":"other","rows":[{"sku":1,"delta":1}]})", "rows[0].sku must be a string");
  bad(batch(), R"({"reason":"other","rows":[{"sku":")" + std::string(1025, 's') + R"(","delta":1}]})", "1024 bytes");
  bad(batch(), R"({"reason":"other","rows":[{"sku":"A","delta":"1"}]})", "rows[0].delta");
  bad(batch(), R"({"reason":"other","rows":[{"sku":"A","delta":1,"x":1}]})", "rows[0]: unknown field");
  bad(batch(), R"({"reason":"other","rows":[{"sku":"A","delta":1,"delta":2}]})", "names a field twice");
  bad(batch(), R"({"reason":"other","ref":"a b","rows":[)" + row + "]}", "ref");
  bad(batch(), R"({"reason":"other","atomic":1,"rows":[)" + row + "]}", "atomic");
}

TEST(DecodeSetAllocation, FencesPoolsPreempt) {
  auto a = ok<core::SetAllocation>(allocation(), R"({"fences":{"meituan":{"ratio":0.2},"tmall":{"units":50},
      "full":{"ratio":1}},"pools":{"live":{"units":500,"channels":["douyin","app"]}},"preempt":true})");
  EXPECT_EQ(a.sku, "A");
  ASSERT_EQ(a.fences.size(), 3u);
  std::map<std::string, core::FenceSpec> f;
  for (const auto& x : a.fences) f[x.channel] = x;
  EXPECT_EQ(f["meituan"].ratio_ppb, 200'000'000);
  EXPECT_EQ(f["meituan"].units, -1);
  EXPECT_EQ(f["tmall"].units, 50);
  EXPECT_EQ(f["tmall"].ratio_ppb, -1);
  EXPECT_EQ(f["full"].ratio_ppb, 1'000'000'000);
  ASSERT_EQ(a.pools.size(), 1u);
  EXPECT_EQ(a.pools[0].name, "live");
  EXPECT_EQ(a.pools[0].units, 500);
  EXPECT_EQ(a.pools[0].channels, (std::vector<std::string>{"douyin", "app"}));
  EXPECT_TRUE(a.preempt);
  EXPECT_EQ(ok<core::SetAllocation>(allocation(), R"({"fences":{"a":{"ratio":0.123456789}}})").fences[0].ratio_ppb,
            123'456'789);
  EXPECT_TRUE(ok<core::SetAllocation>(allocation(), "{}").fences.empty());
  bad(allocation(), R"({"fences":{"m":{"ratio":1.5}}})", "fences.m.ratio");
  bad(allocation(), R"({"fences":{"m":{"ratio":-0.1}}})", "fences.m.ratio");
  bad(allocation(), R"({"fences":{"m":{"ratio":"0.2"}}})", "fences.m.ratio");
  bad(allocation(), R"({"fences":{"m":{"ratio":0.2,"units":1}}})", "exactly one");
  bad(allocation(), R"({"fences":{"m":{}}})", "exactly one");
  bad(allocation(), R"({"fences":{"m":{"units":2.5}}})", "fences.m.units");
  bad(allocation(), R"({"fences":{"m":{"size":1}}})", "fences.m.size");
  bad(allocation(), R"({"fences":{"bad name":{"units":1}}})", "fences");
  bad(allocation(), R"({"fences":[]})", "fences");
  bad(allocation(), R"({"pools":{"live":{"units":5}}})", "pools.live");
  bad(allocation(), R"({"pools":{"live":{"units":5,"channels":[]}}})", "pools.live.channels");
  bad(allocation(), R"({"pools":{"live":{"units":5,"channels":["a","a"]}}})", "pools.live.channels");
  bad(allocation(), R"({"pools":{"live":{"units":5,"channels":["a",1]}}})", "pools.live.channels[1]");
  bad(allocation(), R"({"preempt":"yes"})", "preempt");
  std::string many = "{\"fences\":{";
  for (int i = 0; i < 65; ++i) many += (i ? ",\"c" : "\"c") + std::to_string(i) + "\":{\"units\":1}";
  bad(allocation(), many + "}}", "fences");
}

TEST(DecodeCreateHold, Fields) {
  auto h = ok<core::CreateHold>(hold(), R"({"id":"order-1","channel":"app","lines":[{"sku":"A","qty":2},
      {"qty":1000000000,"sku":"B"}],"ttl_s":900,"confirm":false})");
  EXPECT_EQ(h.id, "order-1");
  EXPECT_EQ(h.channel, "app");
  EXPECT_EQ(h.lines, (std::vector<core::HoldLine>{{"A", 2}, {"B", 1'000'000'000}}));
  EXPECT_EQ(h.ttl_s, 900);
  EXPECT_FALSE(h.confirm);
  auto sale = ok<core::CreateHold>(hold(), R"({"id":"p","channel":"pos","lines":[{"sku":"A","qty":1}],"confirm":true})");
  EXPECT_TRUE(sale.confirm);
  EXPECT_FALSE(sale.ttl_s);
  EXPECT_EQ(ok<core::CreateHold>(hold(), R"({"id":"x","channel":"c","lines":)" + lines_json(100) + "}").lines.size(),
            100u);
}

// Every numeric and length limit of the contract at its edge, with the numbers of docs/api.md ("Conventions")
// written out (not read from limits.h, which could be wrong the same way as the code): the limit is
// accepted, one past it is refused, and the message says the limit in full.
TEST(DecodeLimits, EdgesFromTheDocs) {
  const std::string e15 = "1000000000000000", e15_1 = "1000000000000001";
  const std::string range = "must be an integer between 0 and 1000000000000000";
  for (const char* field : {"on_hand", "safety_stock", "low_stock_threshold"}) {
    std::string f = field;
    ok<core::PutSku>(sku_put(), "{\"" + f + "\":" + e15 + "}");
    bad(sku_put(), "{\"" + f + "\":" + e15_1 + "}", f + " " + range);
  }
  EXPECT_EQ(ok<core::PutSku>(sku_put(), "{\"on_hand\":" + e15 + "}").on_hand, 1'000'000'000'000'000);
  EXPECT_EQ(ok<core::Adjust>(adjust(), "{\"delta\":" + e15 + "}").delta, 1'000'000'000'000'000);
  EXPECT_EQ(ok<core::Adjust>(adjust(), "{\"delta\":-" + e15 + "}").delta, -1'000'000'000'000'000);
  bad(adjust(), "{\"delta\":" + e15_1 + "}", "delta");
  bad(adjust(), "{\"delta\":-" + e15_1 + "}", "delta");
  EXPECT_EQ(ok<core::SetAllocation>(allocation(), "{\"fences\":{\"m\":{\"units\":" + e15 + "}}}").fences[0].units,
            1'000'000'000'000'000);
  bad(allocation(), "{\"fences\":{\"m\":{\"units\":" + e15_1 + "}}}", "fences.m.units " + range);
  EXPECT_EQ(ok<core::SetAllocation>(allocation(), "{\"pools\":{\"p\":{\"units\":" + e15 + ",\"channels\":[\"a\"]}}}")
                .pools[0].units,
            1'000'000'000'000'000);
  bad(allocation(), "{\"pools\":{\"p\":{\"units\":" + e15_1 + ",\"channels\":[\"a\"]}}}", "pools.p.units " + range);

  const std::string id128(128, 'x'), id129(129, 'x');
  auto body = [](const std::string& id, const std::string& lines, const std::string& rest) {
    return "{\"id\":\"" + id + "\",\"channel\":\"app\",\"lines\":" + lines + rest + "}";
  };
  const std::string one = R"([{"sku":"A","qty":1}])";
  EXPECT_EQ(ok<core::CreateHold>(hold(), body(id128, one, "")).id.size(), 128u);
  bad(hold(), body(id129, one, ""), "id");
  EXPECT_EQ(ok<core::CreateHold>(hold(), body("h", R"([{"sku":"A","qty":1000000000}])", "")).lines[0].qty, 1'000'000'000);
  EXPECT_EQ(ok<core::CreateHold>(hold(), body("h", one, "")).lines[0].qty, 1);
  bad(hold(), body("h", R"([{"sku":"A","qty":1000000001}])", ""), "lines[0].qty");
  bad(hold(), body("h", R"([{"sku":"A","qty":0}])", ""), "lines[0].qty");
  EXPECT_EQ(ok<core::CreateHold>(hold(), body("h", one, R"(,"ttl_s":1)")).ttl_s, 1);
  EXPECT_EQ(ok<core::CreateHold>(hold(), body("h", one, R"(,"ttl_s":2592000)")).ttl_s, 2'592'000);
  bad(hold(), body("h", one, R"(,"ttl_s":2592001)"), "ttl_s");
  EXPECT_EQ(ok<core::CreateHold>(hold(), body("h", lines_json(100), "")).lines.size(), 100u);
  bad(hold(), body("h", lines_json(101), ""), "lines");
  EXPECT_EQ(ok<core::ExtendHold>(extend(), R"({"ttl_s":2592000})").ttl_s, 2'592'000);
  bad(extend(), R"({"ttl_s":2592001})", "ttl_s");

  EXPECT_EQ(ok<core::PutChannel>(channel_put(), R"({"priority":1000000,"hold_ttl_s":2592000})").priority, 1'000'000);
  EXPECT_EQ(ok<core::PutChannel>(channel_put(), R"({"priority":1,"hold_ttl_s":1})").hold_ttl_s, 1);
  bad(channel_put(), R"({"priority":1000001})", "priority");
  bad(channel_put(), R"({"hold_ttl_s":2592001})", "hold_ttl_s");
  EXPECT_EQ(ok<core::PutChannel>(channel_put(std::string(128, 'c')), "{}").channel.size(), 128u);
  bad(channel_put(std::string(129, 'c')), "{}", "channel");
}

TEST(DecodeCreateHold, EveryRuleNamesTheField) {
  const std::string line = R"("lines":[{"sku":"A","qty":1}])";
  bad(hold(), "{not json", "malformed JSON");
  bad(hold(), "{} x", "malformed JSON");
  bad(hold(), "\"text\"", "JSON object");
  bad(hold(), "[]", "JSON object");
  bad(hold(), "", "body");
  bad(hold(), " \r\n", "body");
  bad(hold(), R"({"id":"bad id!","channel":"app",)" + line + "}", "id must be");
  bad(hold(), R"({"id":")" + std::string(129, 'x') + R"(","channel":"app",)" + line + "}", "id");
  bad(hold(), R"({"channel":"app",)" + line + "}", "id is required");
  bad(hold(), R"({"id":"a",)" + line + "}", "channel is required");
  bad(hold(), R"({"id":"a","channel":"app"})", "lines is required");
  bad(hold(), R"({"id":"a","channel":7,)" + line + "}", "channel");
  bad(hold(), R"({"id":"a","channel":"app","lines":[{"sku":"A","qty":0}]})", "lines[0].qty");
  bad(hold(), R"({"id":"a","channel":"app","lines":[{"sku":"A","qty":1000000001}]})", "lines[0].qty");
  bad(hold(), R"({"id":"a","channel":"app","lines":[{"sku":"A","qty":1},{"sku":"B","qty":"2"}]})", "lines[1].qty");
  bad(hold(), R"({"id":"a","channel":"app","lines":[{"sku":"A","qty":2.5}]})", "lines[0].qty");
  bad(hold(), R"({"id":"a","channel":"app","lines":[{"sku":"A","qty":true}]})", "lines[0].qty");
  bad(hold(), R"({"id":"a","channel":"app","lines":[{"sku":"A","qty":1.0}]})", "lines[0].qty");
  bad(hold(), R"({"id":"a","channel":"app","lines":[{"sku":"A"}]})", "lines[0]");
  bad(hold(), R"({"id":"a","channel":"app","lines":[{"sku":"A","qty":1,"price":5}]})", "lines[0].price");
  bad(hold(), R"({"id":"a","channel":"app","lines":["A"]})", "lines[0]");
  bad(hold(), R"({"id":"a","channel":"app","lines":[]})", "lines");
  bad(hold(), R"({"id":"a","channel":"app","lines":{}})", "lines");
  bad(hold(), R"({"id":"a","channel":"app","lines":)" + lines_json(101) + "}", "lines");
  bad(hold(), R"({"id":"a","channel":"app","lines":[{"sku":"A","qty":1},{"sku":"A","qty":2}]})", "sku \"A\" twice");
  bad(hold(), R"({"id":"a","channel":"app",)" + line + R"(,"ttl_s":0})", "ttl_s");
  bad(hold(), R"({"id":"a","channel":"app",)" + line + R"(,"ttl_s":null})", "ttl_s");
  bad(hold(), R"({"id":"a","channel":"app",)" + line + R"(,"confirm":1})", "confirm");
  bad(hold(), R"({"id":"a","channel":"app",)" + line + R"(,"pad":"x"})", "unknown field \"pad\"");
  bad(hold(), R"({"id":"a","id":"b","channel":"app",)" + line + "}", "twice");
  bad(hold(), R"({"id":"a","channel":"app","lines":[{"sku":"A","qty":1,"qty":2}]})", "twice");
  bad(hold(), "{\"id\":\"a\xff\",\"channel\":\"app\"," + line + "}", "malformed JSON");  // invalid UTF-8
  bad(hold(), std::string(40, '[') + std::string(40, ']'), "deeper");
  bad(hold(), R"({"id":"a","channel":"app",)" + line + R"(,")" + std::string(1000, 'k') + R"(":1})", "unknown field");
}

TEST(DecodeConfirmReleaseExtend, OptionalBodies) {
  for (std::string_view empty : {"", "  ", "{}", "\n{ }\n"}) {
    EXPECT_FALSE(ok<core::ConfirmHold>(confirm(), empty).lines.has_value()) << empty;
    EXPECT_EQ(ok<core::ReleaseHold>(release(), empty).id, "h-1") << empty;
  }
  auto c = ok<core::ConfirmHold>(confirm(), R"({"lines":[{"sku":"A","qty":1}]})");
  ASSERT_TRUE(c.lines.has_value());
  EXPECT_EQ(*c.lines, (std::vector<core::HoldLine>{{"A", 1}}));
  bad(confirm(), R"({"lines":[]})", "lines");
  bad(confirm(), R"({"line":[]})", "unknown field \"line\"");
  bad(confirm("bad/id"), "", "hold id in the path");
  bad(release(), R"({"reason":"x"})", "unknown field \"reason\"");
  bad(release(), "nope", "malformed JSON");
  EXPECT_EQ(ok<core::ExtendHold>(extend(), R"({"ttl_s":300})").ttl_s, 300);
  bad(extend(), "", "body");
  bad(extend(), "{}", "ttl_s is required");
  bad(extend(), R"({"ttl_s":2592001})", "ttl_s");
  bad(extend(), R"({"ttl_s":300,"x":1})", "unknown field \"x\"");
}

TEST(EncodeCommandBody, BodiesOfCommandsWithoutOne) {
  EXPECT_EQ(encode(core::Tick{}), "{}");
  EXPECT_EQ(encode(core::ReleaseHold{"h"}), "{}");
  EXPECT_EQ(encode(core::ConfirmHold{"h", std::nullopt}), "{}");
  core::PutSku s;
  s.sku = "A";
  s.max_per_hold = core::kClear;
  EXPECT_EQ(encode(s), R"({"max_per_hold":null})");
}

}  // namespace
}  // namespace stockd::net
