// Tests of the ledger writer (src/backends/ledger.h).
//
// LedgerEntry.*: parsing and checking of outbox entries, their JSON form; no server.
// LedgerLive.*: against a real Redis Cluster (STOCKD_TEST_CLUSTER=host:port) and PostgreSQL
// (STOCKD_TEST_PG=postgresql://...); ctest starts both with scripts/redis-cluster and scripts/postgres.
// By hand:
//   scripts/redis-cluster start /tmp/rc 7150 && scripts/postgres start /tmp/pg 7170 &&
//   STOCKD_TEST_CLUSTER=127.0.0.1:7150 STOCKD_TEST_PG=postgresql://postgres@127.0.0.1:7170/postgres
//   ./ledger_test --gtest_filter='LedgerLive.*'       (both variables in the environment of this command)
// The live tests TRUNCATE the ledger's tables and share the consumer group "ledger", so they run in one
// process, one after the other. Their SKU names carry a random suffix (printed), so a rerun against the
// same cluster does not see an earlier run's entries as its own.
#include "backends/ledger.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "backends/ledger_entry.h"
#include "backends/ledger_impl.h"
#include "backends/outbox.h"
#include "fmt/format.h"

#include "live_cluster.h"

namespace stockd::backends {
namespace {

StreamFields sku_fields(const std::string& sku, std::int64_t ver) {
  return {{"t", "sku"}, {"sku", sku},   {"ver", std::to_string(ver)}, {"kind", "adjust"}, {"d_oh", "5"},
          {"d_hd", "0"}, {"ref", "r1"}, {"reason", "count"},         {"at", "1700000000000"},
          {"oh", "15"},  {"ss", "2"},   {"hd", "3"}};
}

StreamFields without(StreamFields f, const std::string& name) {
  std::erase_if(f, [&](const auto& kv) { return kv.first == name; });
  return f;
}

StreamFields with(StreamFields f, const std::string& name, const std::string& value) {
  for (auto& [k, v] : f) {
    if (k == name) v = value;
  }
  return f;
}

TEST(LedgerEntry, ParsesSkuHoldAndChannelEntries) {
  OutboxChange c;
  std::string error;
  ASSERT_TRUE(parse_outbox_entry(sku_fields("apple", 7), &c, &error)) << error;
  const auto& s = std::get<SkuChange>(c);
  EXPECT_EQ(s.sku, "apple");
  EXPECT_EQ(s.version, 7);
  EXPECT_EQ(s.kind, "adjust");
  EXPECT_EQ(s.delta_on_hand, 5);
  EXPECT_EQ(s.on_hand, 15);
  EXPECT_EQ(s.safety_stock, 2);
  EXPECT_EQ(s.held, 3);
  EXPECT_EQ(s.at_ms, 1700000000000);
  EXPECT_EQ(s.reason, "count");
  EXPECT_EQ(s.channel, "") << "no ch: an adjustment, or an entry of library version 4";
  StreamFields with_ch = sku_fields("apple", 8);
  with_ch.push_back({"ch", "web"});
  ASSERT_TRUE(parse_outbox_entry(with_ch, &c, &error)) << error;
  EXPECT_EQ(std::get<SkuChange>(c).channel, "web");

  const StreamFields hold = {{"t", "hold"},  {"id", "h1"}, {"ch", "web"}, {"st", "held"},
                             {"lines", "apple:2,pear:x:1"}, {"cat", "1"}, {"exp", "2"}, {"fin", "0"}, {"hver", "1"}};
  ASSERT_TRUE(parse_outbox_entry(hold, &c, &error)) << error;
  const auto& h = std::get<HoldChange>(c);
  ASSERT_EQ(h.lines.size(), 2u);
  EXPECT_EQ(h.lines[0], (std::pair<std::string, std::int64_t>("apple", 2)));
  EXPECT_EQ(h.lines[1], (std::pair<std::string, std::int64_t>("pear:x", 1))) << "the quantity follows the last ':'";

  const StreamFields ch = {{"t", "ch"}, {"ch", "web"}, {"prio", "10"}, {"ttl", "900"}, {"st", "active"}, {"at", "5"}};
  ASSERT_TRUE(parse_outbox_entry(ch, &c, &error)) << error;
  EXPECT_EQ(std::get<ChannelChange>(c).hold_ttl_s, 900);
}

// A take entry of a call that made several holds on one SKU (library version 7, outbox.h): the takes
// before the last one ride in `parts`, and each becomes a movement row of its own.
TEST(LedgerEntry, PartsAreTheEarlierTakesOfTheCallEachAChangeOfItsOwn) {
  StreamFields f = with(with(sku_fields("apple", 9), "kind", "hold"), "ref", "h3");
  f = with(with(f, "d_oh", "0"), "d_hd", "1");
  f.push_back({"ch", "web"});
  f.push_back({"parts", "7|h1|web|2|1700000000001;8|h2|app|1|1700000000002"});
  OutboxChange c;
  std::string error;
  ASSERT_TRUE(parse_outbox_entry(f, &c, &error)) << error;
  const auto& s = std::get<SkuChange>(c);
  ASSERT_EQ(s.parts.size(), 2u);
  EXPECT_EQ(s.parts[0].version, 7);
  EXPECT_EQ(s.parts[0].ref, "h1");
  EXPECT_EQ(s.parts[0].channel, "web");
  EXPECT_EQ(s.parts[0].delta_held, 2);
  EXPECT_EQ(s.parts[1].at_ms, 1700000000002);
  EXPECT_EQ(s.parts[1].channel, "app");
  const std::string json = sku_changes_json({&s});
  EXPECT_EQ(json.substr(0, json.find("},") + 1),
            R"([{"sku":"apple","ver":7,"kind":"hold","d_oh":0,"d_hd":2,"ref":"h1","reason":"count","at":1700000000001,)"
            R"("oh":15,"ss":2,"hd":3,"ch":"web"})")
      << "a part is a row with its own version, ref, held delta, time and channel";
  EXPECT_NE(json.find(R"("ver":8,"kind":"hold","d_oh":0,"d_hd":1,"ref":"h2")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("ver":9,"kind":"hold","d_oh":0,"d_hd":1,"ref":"h3")"), std::string::npos) << json;

  for (const char* bad : {"9|h1|web|1|1", "7|h1|web|1", "8|h1|web|1|1;7|h2|web|1|1", "x|h1|web|1|1", "7|h1|web|1|-1"}) {
    StreamFields g = f;
    g.back().second = bad;
    EXPECT_FALSE(parse_outbox_entry(g, &c, &error)) << bad << ": a part's version is below the entry's, ascending, "
                                                          "with 5 fields and a time";
    EXPECT_NE(error.find("field parts"), std::string::npos) << error;
    error.clear();
  }
}

// The new holds of one hold_create_many call (library version 7, outbox.h): the last one's entry carries
// the others in `more`, each a held hold of its own.
TEST(LedgerEntry, MoreIsTheOtherNewHoldsOfTheCall) {
  StreamFields f = {{"t", "hold"}, {"id", "h3"}, {"ch", "web"}, {"st", "held"}, {"lines", "apple:1"}, {"cat", "10"},
                    {"exp", "20"},  {"fin", "0"},  {"hver", "2"},
                    {"more", "h1|app|apple:2,pear:1|11|21|2;h2|web|pear:3|12|22|2"}};
  OutboxChange c;
  std::string error;
  ASSERT_TRUE(parse_outbox_entry(f, &c, &error)) << error;
  const auto& h = std::get<HoldChange>(c);
  ASSERT_EQ(h.more.size(), 2u);
  EXPECT_EQ(h.more[0].id, "h1");
  EXPECT_EQ(h.more[0].channel, "app");
  EXPECT_EQ(h.more[0].state, "held");
  ASSERT_EQ(h.more[0].lines.size(), 2u);
  EXPECT_EQ(h.more[0].lines[1], (std::pair<std::string, std::int64_t>("pear", 1)));
  EXPECT_EQ(h.more[1].created_at_ms, 12);
  EXPECT_EQ(h.more[1].expires_at_ms, 22);
  EXPECT_EQ(h.more[1].version, 2);
  EXPECT_EQ(hold_changes_json({&h}),
            R"([{"id":"h1","ch":"app","st":"held","lines":[{"sku":"apple","qty":2},{"sku":"pear","qty":1}],)"
            R"("cat":11,"exp":21,"fin":0,"hver":2},{"id":"h2","ch":"web","st":"held","lines":[{"sku":"pear","qty":3}],)"
            R"("cat":12,"exp":22,"fin":0,"hver":2},{"id":"h3","ch":"web","st":"held","lines":[{"sku":"apple","qty":1}],)"
            R"("cat":10,"exp":20,"fin":0,"hver":2}])");
  for (const char* bad : {"h1|app|apple:2|11|21", "|app|apple:2|11|21|2", "h1|app|apple:2|11|x|2", "h1|app|apple|11|21|2"}) {
    StreamFields g = f;
    g.back().second = bad;
    EXPECT_FALSE(parse_outbox_entry(g, &c, &error)) << bad;
    EXPECT_TRUE(error.find("field more") != std::string::npos || error.find("field lines") != std::string::npos) << error;
    error.clear();
  }
}

// Listed channels (library version 9, outbox.h): t=pub, and t=ch's lst.
TEST(LedgerEntry, ParsesPublicationsAndWhetherAChannelIsListed) {
  const StreamFields pub = {{"t", "pub"}, {"ch", "tmall"}, {"sku", "apple"}, {"q", "37"}, {"v", "4"},
                            {"at", "1700000000000"}};
  OutboxChange c;
  std::string error;
  ASSERT_TRUE(parse_outbox_entry(pub, &c, &error)) << error;
  const auto& p = std::get<PubChange>(c);
  EXPECT_EQ(p.channel, "tmall");
  EXPECT_EQ(p.sku, "apple");
  EXPECT_EQ(p.quantity, 37);
  EXPECT_EQ(p.version, 4);
  EXPECT_EQ(p.at_ms, 1700000000000);
  EXPECT_EQ(pub_changes_json({&p}), R"([{"ch":"tmall","sku":"apple","q":37,"v":4,"at":1700000000000,"i":0}])")
      << "i: the entry's place in the batch, the order new seqs are given in";
  for (const auto& [field, value, want] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"v", "0", "field v: out of range"},        // versions start at 1
           {"q", "x", "field q: not a 64-bit integer"},
           {"ch", "", "field ch: empty"},
           {"sku", "", "field sku: empty"}}) {
    EXPECT_FALSE(parse_outbox_entry(with(pub, field, value), &c, &error)) << field << "=" << value;
    EXPECT_NE(error.find(want), std::string::npos) << error;
  }
  EXPECT_FALSE(parse_outbox_entry(without(pub, "v"), &c, &error));
  EXPECT_NE(error.find("field v: missing"), std::string::npos) << error;

  const StreamFields ch = {{"t", "ch"}, {"ch", "web"}, {"prio", "10"}, {"ttl", "900"}, {"st", "active"}, {"at", "5"}};
  ASSERT_TRUE(parse_outbox_entry(ch, &c, &error)) << error;
  EXPECT_FALSE(std::get<ChannelChange>(c).listed) << "no lst (an older library): direct";
  StreamFields listed = ch;
  listed.push_back({"lst", "1"});
  ASSERT_TRUE(parse_outbox_entry(listed, &c, &error)) << error;
  EXPECT_TRUE(std::get<ChannelChange>(c).listed);
  EXPECT_NE(channel_changes_json({&std::get<ChannelChange>(c)}).find(R"("lst":1,)"), std::string::npos);
  listed.back().second = "0";
  ASSERT_TRUE(parse_outbox_entry(listed, &c, &error)) << error;
  EXPECT_FALSE(std::get<ChannelChange>(c).listed);
  listed.back().second = "2";
  EXPECT_FALSE(parse_outbox_entry(listed, &c, &error));
  EXPECT_NE(error.find("field lst: out of range"), std::string::npos) << error;
  listed.back().second = "1";
  listed.push_back({"why", "delivery_failing"});
  ASSERT_TRUE(parse_outbox_entry(listed, &c, &error)) << error;
  EXPECT_EQ(std::get<ChannelChange>(c).frozen_reason, "delivery_failing");

  const StreamFields dfc = {{"t", "dfc"}, {"sku", "apple"}, {"ch", "tmall"}, {"cut", "3"}, {"left", "2"},
                            {"oh", "6"},  {"at", "1700000000000"}};
  ASSERT_TRUE(parse_outbox_entry(dfc, &c, &error)) << error;
  const auto& d = std::get<DeficitChange>(c);
  EXPECT_EQ(d.sku, "apple");
  EXPECT_EQ(d.channel, "tmall");
  EXPECT_EQ(d.cut, 3);
  EXPECT_EQ(d.left, 2);
  EXPECT_EQ(d.on_hand, 6);
  EXPECT_FALSE(parse_outbox_entry(without(dfc, "cut"), &c, &error));
}

TEST(LedgerEntry, RejectsWhatPostgresWouldFailOn) {
  struct Case {
    StreamFields fields;
    std::string want;  // part of the error
  };
  const std::vector<Case> cases = {
      {{{"sku", "a"}}, "field t: missing"},
      {with(sku_fields("a", 1), "t", "bogus"), "unknown entry type"},
      {without(sku_fields("a", 1), "oh"), "field oh: missing"},
      {with(sku_fields("a", 1), "ver", "x1"), "field ver: not a 64-bit integer"},
      {with(sku_fields("a", 1), "ver", "0"), "field ver: out of range"},
      {with(sku_fields("a", 1), "oh", "99999999999999999999"), "field oh: not a 64-bit integer"},
      {with(sku_fields("a", 1), "oh", ""), "field oh: not a 64-bit integer"},
      {with(sku_fields("a", 1), "at", "-1"), "field at: out of range"},
      {with(sku_fields("a", 1), "at", "253402300800000"), "field at: out of range"},
      {with(sku_fields("a", 1), "sku", ""), "field sku: empty"},
      {with(sku_fields("a", 1), "sku", std::string("a\0b", 3)), "field sku: not UTF-8"},
      {with(sku_fields("a", 1), "sku", "\xC3\x28"), "field sku: not UTF-8"},
      {with(sku_fields("a", 1), "reason", "\xED\xA0\x80"), "field reason: not UTF-8"},  // a surrogate
      {with(sku_fields("a", 1), "sku", std::string(132, 'x')), "field sku: longer than"},  // 128 + "#15"
  };
  for (const Case& k : cases) {
    OutboxChange c;
    std::string error;
    EXPECT_FALSE(parse_outbox_entry(k.fields, &c, &error)) << "should fail with: " << k.want;
    EXPECT_NE(error.find(k.want), std::string::npos) << "error '" << error << "', wanted '" << k.want << "'";
  }
  const StreamFields bad_lines = {{"t", "hold"}, {"id", "h1"}, {"ch", "web"}, {"st", "held"}, {"lines", "a:1,"},
                                  {"cat", "1"},  {"exp", "2"}, {"fin", "0"},  {"hver", "1"}};
  OutboxChange c;
  std::string error;
  EXPECT_FALSE(parse_outbox_entry(bad_lines, &c, &error));
  EXPECT_NE(error.find("field lines"), std::string::npos) << error;
}

TEST(LedgerEntry, ValidTextAndJson) {
  EXPECT_TRUE(valid_text(""));
  EXPECT_TRUE(valid_text("caf\xC3\xA9 \xF0\x9F\x8D\x8E"));
  EXPECT_FALSE(valid_text("\xC0\xAF")) << "overlong '/'";
  EXPECT_FALSE(valid_text("\xF4\x90\x80\x80")) << "above U+10FFFF";
  EXPECT_FALSE(valid_text("\xE2\x82")) << "truncated";
  SkuChange ctl;
  ctl.sku = "a\"b\\c\n\x01";
  EXPECT_EQ(sku_changes_json({&ctl}).substr(0, 25), R"([{"sku":"a\"b\\c\n\u0001")")
      << "quotes, backslashes and control characters are escaped (core/json_writer.h)";
  SkuChange s;
  s.sku = "x\"y";
  s.version = 2;
  s.kind = "set";
  EXPECT_EQ(sku_changes_json({&s}),
            R"([{"sku":"x\"y","ver":2,"kind":"set","d_oh":0,"d_hd":0,"ref":"","reason":"","at":0,"oh":0,"ss":0,"hd":0}])");
  EXPECT_EQ(sku_changes_json({}), "[]");
  s.kind = "hold";
  s.channel = "web";  // a hold kind's channel (GET /v1/movements on the cluster store)
  EXPECT_EQ(sku_changes_json({&s}),
            R"([{"sku":"x\"y","ver":2,"kind":"hold","d_oh":0,"d_hd":0,"ref":"","reason":"","at":0,"oh":0,"ss":0,"hd":0,"ch":"web"}])");
  HoldChange h;
  h.id = "h";
  h.version = 1;
  h.lines = {{"a", 1}, {"b", 2}};
  EXPECT_NE(hold_changes_json({&h}).find(R"("lines":[{"sku":"a","qty":1},{"sku":"b","qty":2}])"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------------
// Live tests.

struct Row {
  std::int64_t on_hand = -1, safety_stock = -1, held = -1, version = -1;
};

class LedgerLive : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger_env(&cluster_, &conninfo_);
    if (HasFatalFailure() || IsSkipped()) return;
    std::string error;
    redis_ = ClusterClient::connect(cluster_, &error);
    ASSERT_NE(redis_, nullptr) << error;
    ledger_ = open("test-a");  // creates the schema
    ASSERT_NE(ledger_, nullptr);
    pg_.reset(PQconnectdb(conninfo_.c_str()));
    ASSERT_EQ(PQstatus(pg_.get()), CONNECTION_OK) << PQerrorMessage(pg_.get());
    exec("TRUNCATE stock_levels, stock_movements, holds, channels");
    suffix_ = fmt::format("-{:08x}", std::random_device{}());
    std::printf("SKU suffix of this test: %s\n", suffix_.c_str());
  }

  void TearDown() override {
    for (const std::string& key : keys_) redis_->command(key, {"DEL", key});
  }

  std::unique_ptr<Ledger> open(const std::string& consumer, std::int64_t claim_idle_ms = 30000) {
    LedgerOptions o;
    o.conninfo = conninfo_;
    o.consumer = consumer;
    o.claim_idle_ms = claim_idle_ms;
    std::string error;
    std::unique_ptr<Ledger> l = Ledger::open(o, cluster_, &error);
    EXPECT_NE(l, nullptr) << error;
    return l;
  }

  std::string sku(const std::string& base) const { return base + suffix_; }
  static std::string stream_of(const std::string& name) { return outbox_key(partition_of(name)); }

  std::string xadd(const std::string& stream, const StreamFields& fields) {
    std::vector<std::string> argv = {"XADD", stream, "*"};
    for (const auto& [f, v] : fields) {
      argv.push_back(f);
      argv.push_back(v);
    }
    RedisReply r = redis_->command(stream, argv);
    EXPECT_EQ(r.type, RedisReply::Type::string) << "XADD " << stream << ": " << r.str;
    return r.str;
  }

  // A well-formed t=sku entry: on_hand = oh, held = hd, safety_stock 1.
  std::string add_sku(const std::string& name, std::int64_t ver, std::int64_t oh, std::int64_t hd,
                      const std::string& kind = "adjust") {
    return xadd(stream_of(name), {{"t", "sku"}, {"sku", name}, {"ver", std::to_string(ver)}, {"kind", kind},
                                  {"d_oh", std::to_string(oh)}, {"d_hd", std::to_string(hd)}, {"ref", ""},
                                  {"reason", ""}, {"at", std::to_string(now_ms())}, {"oh", std::to_string(oh)},
                                  {"ss", "1"}, {"hd", std::to_string(hd)}});
  }

  std::size_t poll_all(Ledger& l) {
    std::size_t total = 0;
    for (int i = 0; i < 100; ++i) {
      const std::size_t n = l.poll_once();
      if (n == 0) break;
      total += n;
    }
    return total;
  }

  PgResult exec(const std::string& sql, const std::vector<std::string>& params = {}) {
    PgResult r = pg_exec(pg_.get(), sql.c_str(), params);
    EXPECT_TRUE(pg_ok(r.get())) << sql << ": " << pg_error(pg_.get(), r.get());
    return r;
  }

  std::string scalar(const std::string& sql, const std::vector<std::string>& params = {}) {
    PgResult r = exec(sql, params);
    if (PQntuples(r.get()) != 1) return "<" + std::to_string(PQntuples(r.get())) + " rows>";
    return PQgetisnull(r.get(), 0, 0) ? "<null>" : PQgetvalue(r.get(), 0, 0);
  }

  Row level(const std::string& name) {
    PgResult r = exec("SELECT on_hand, safety_stock, held, version FROM stock_levels WHERE sku = $1", {name});
    Row row;
    if (PQntuples(r.get()) == 1) {
      row = {pg_int(r.get(), 0, 0), pg_int(r.get(), 0, 1), pg_int(r.get(), 0, 2), pg_int(r.get(), 0, 3)};
    }
    return row;
  }

  std::string movements(const std::string& name) {
    PgResult r = exec(
        "SELECT string_agg(format('v%s %s %s/%s', version, kind, delta_on_hand, delta_held), '; ' ORDER BY version) "
        "FROM stock_movements WHERE sku = $1",
        {name});
    return PQgetisnull(r.get(), 0, 0) ? "" : PQgetvalue(r.get(), 0, 0);
  }

  // Every row of the four tables that belongs to this test (its names end in suffix_; other tests may
  // be writing to the same cluster), as text: what "nothing changed" compares.
  std::string dump() {
    return scalar(
        "SELECT concat_ws(E'\\n', "
        "(SELECT string_agg(l::text, E'\\n' ORDER BY sku) FROM stock_levels l WHERE right(sku, length($1)) = $1), "
        "(SELECT string_agg(m::text, E'\\n' ORDER BY sku, version) FROM stock_movements m "
        " WHERE right(sku, length($1)) = $1), "
        "(SELECT string_agg(h::text, E'\\n' ORDER BY id) FROM holds h WHERE right(id, length($1)) = $1), "
        "(SELECT string_agg(c::text, E'\\n' ORDER BY channel) FROM channels c WHERE right(channel, length($1)) = $1))",
        {suffix_});
  }

  std::int64_t pending(const std::string& stream, const std::string& consumer) {
    RedisReply r = redis_->command(stream, {"XPENDING", stream, kLedgerGroup, "-", "+", "1000", consumer}, true);
    EXPECT_EQ(r.type, RedisReply::Type::array) << "XPENDING " << stream << ": " << r.str;
    return static_cast<std::int64_t>(r.elements.size());
  }

  // A SKU hash as the cluster store keeps it (only the fields the reconciler reads).
  void put_redis_sku(const std::string& name, std::int64_t oh, std::int64_t ss, std::int64_t hd, std::int64_t ver) {
    const std::string key = partition_tag(partition_of(name)) + ":s:" + name;
    keys_.push_back(key);
    RedisReply r = redis_->command(key, {"HSET", key, "oh", std::to_string(oh), "ss", std::to_string(ss), "hd",
                                         std::to_string(hd), "ver", std::to_string(ver)});
    EXPECT_FALSE(r.is_error()) << "HSET " << key << ": " << r.str;
  }

  // The lines of a reconcile report that name `name` (other SKUs in the shared cluster are not ours).
  static std::vector<std::string> about(const std::vector<std::string>& lines, const std::string& name) {
    std::vector<std::string> out;
    for (const std::string& l : lines) {
      if (l.rfind("sku " + name + ":", 0) == 0 || l.rfind("reconcile incomplete", 0) == 0) out.push_back(l);
    }
    return out;
  }

  // reconcile(true) until no line about `names` says "run it again" (another test may be writing to
  // the same partitions, which are then not settled); the last line seen for each name.
  std::map<std::string, std::string> repair(Ledger& l, const std::vector<std::string>& names) {
    std::map<std::string, std::string> last;
    for (int attempt = 0; attempt < 50; ++attempt) {
      const std::vector<std::string> lines = l.reconcile(true, nullptr);
      bool again = false;
      for (const std::string& line : lines) {
        if (line.rfind("reconcile incomplete", 0) == 0) again = true;
        for (const std::string& n : names) {
          if (line.rfind("sku " + n + ":", 0) != 0) continue;
          last[n] = line;
          again = again || line.find("run it again") != std::string::npos;
        }
      }
      if (!again) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return last;
  }

  std::string conninfo_;
  ClusterOptions cluster_;
  std::unique_ptr<ClusterClient> redis_;
  std::unique_ptr<Ledger> ledger_;
  PgConn pg_;
  std::string suffix_;
  std::vector<std::string> keys_;
};

TEST_F(LedgerLive, AppliesSkuHoldAndChannelEntries) {
  const std::string a = sku("apple"), hold = "h" + suffix_, ch = "web" + suffix_;
  add_sku(a, 1, 10, 0, "set");
  add_sku(a, 2, 10, 4, "hold");
  xadd(stream_of(hold), {{"t", "hold"}, {"id", hold}, {"ch", ch}, {"st", "held"}, {"lines", a + ":4"},
                         {"cat", "1700000000000"}, {"exp", "1700000900000"}, {"fin", "0"}, {"hver", "1"}});
  xadd(outbox_key(0), {{"t", "ch"}, {"ch", ch}, {"prio", "5"}, {"ttl", "900"}, {"st", "active"},
                       {"at", "1700000000000"}});
  const LedgerStats before = ledger_->stats();
  EXPECT_GE(poll_all(*ledger_), 4u);
  EXPECT_GE(ledger_->stats().entries_applied - before.entries_applied, 4u);
  const std::set<std::string> streams = {stream_of(a), stream_of(hold), outbox_key(0)};
  EXPECT_EQ(ledger_->stats().batches, before.batches + 1)
      << "one transaction for the round's " << streams.size() << " partitions";

  const Row r = level(a);
  EXPECT_EQ(r.on_hand, 10);
  EXPECT_EQ(r.safety_stock, 1);
  EXPECT_EQ(r.held, 4);
  EXPECT_EQ(r.version, 2);
  EXPECT_EQ(movements(a), "v1 set 10/0; v2 hold 10/4");
  EXPECT_EQ(scalar("SELECT format('%s %s %s %s %s', channel, state, lines, version, finished_at IS NULL) "
                   "FROM holds WHERE id = $1",
                   {hold}),
            fmt::format("{} held [{{\"qty\": 4, \"sku\": \"{}\"}}] 1 t", ch, a));
  EXPECT_EQ(scalar("SELECT expires_at - created_at FROM holds WHERE id = $1", {hold}), "00:15:00");
  EXPECT_EQ(scalar("SELECT format('%s %s %s', priority, hold_ttl_s, state) FROM channels WHERE channel = $1", {ch}),
            "5 900 active");
  EXPECT_EQ(pending(stream_of(a), "test-a"), 0) << "applied entries are acked";

  // A later hold state and channel put win; an older one does not.
  xadd(stream_of(hold), {{"t", "hold"}, {"id", hold}, {"ch", ch}, {"st", "confirmed"}, {"lines", a + ":4"},
                         {"cat", "1700000000000"}, {"exp", "1700000900000"}, {"fin", "1700000100000"}, {"hver", "3"}});
  xadd(stream_of(hold), {{"t", "hold"}, {"id", hold}, {"ch", ch}, {"st", "released"}, {"lines", a + ":4"},
                         {"cat", "1700000000000"}, {"exp", "1700000900000"}, {"fin", "1700000050000"}, {"hver", "2"}});
  xadd(outbox_key(0), {{"t", "ch"}, {"ch", ch}, {"prio", "6"}, {"ttl", "60"}, {"st", "frozen"}, {"at", "1700000000001"}});
  xadd(outbox_key(0), {{"t", "ch"}, {"ch", ch}, {"prio", "7"}, {"ttl", "60"}, {"st", "active"}, {"at", "1699999999999"}});
  poll_all(*ledger_);
  EXPECT_EQ(scalar("SELECT format('%s %s', state, version) FROM holds WHERE id = $1", {hold}), "confirmed 3");
  EXPECT_EQ(scalar("SELECT format('%s %s', priority, state) FROM channels WHERE channel = $1", {ch}), "6 frozen")
      << "channels: last writer by `at`";
}

TEST_F(LedgerLive, RepeatedDeliveryChangesNothing) {
  const std::string a = sku("pear"), b = sku("plum");
  const std::string stream = stream_of(a);
  RedisReply last = redis_->command(stream, {"XINFO", "STREAM", stream}, true);
  ASSERT_EQ(last.type, RedisReply::Type::array) << last.str;
  std::string before_id = "0-0";
  for (std::size_t i = 0; i + 1 < last.elements.size(); i += 2) {
    if (last.elements[i].str == "last-generated-id") before_id = last.elements[i + 1].str;
  }
  add_sku(a, 1, 10, 0);
  add_sku(a, 2, 12, 1);
  add_sku(b, 1, 3, 0);
  poll_all(*ledger_);
  const std::string once = dump();
  ASSERT_NE(once.find(a), std::string::npos) << once;

  // A crash between COMMIT and XACK: the group's position goes back, the same entries come again.
  RedisReply setid = redis_->command(stream, {"XGROUP", "SETID", stream, kLedgerGroup, before_id});
  ASSERT_FALSE(setid.is_error()) << setid.str;
  EXPECT_GE(poll_all(*ledger_), 2u) << "the entries of " << a << " are delivered again";
  EXPECT_EQ(dump(), once) << "a second delivery must change nothing";

  // The same changes appended again (another writer's retry), in another order.
  add_sku(b, 1, 3, 0);
  add_sku(a, 2, 12, 1);
  add_sku(a, 1, 10, 0);
  EXPECT_GE(poll_all(*ledger_), 3u);
  EXPECT_EQ(dump(), once) << "entries repeated by content must change nothing";
  EXPECT_EQ(movements(a), "v1 adjust 10/0; v2 adjust 12/1");
}

TEST_F(LedgerLive, OutOfOrderVersionsKeepTheNewestLevels) {
  const std::string a = sku("fig"), b = sku("kiwi");
  add_sku(a, 3, 30, 3);
  poll_all(*ledger_);
  add_sku(a, 2, 20, 2);
  poll_all(*ledger_);
  Row r = level(a);
  EXPECT_EQ(r.version, 3) << "ver 3 then ver 2 (separate transactions)";
  EXPECT_EQ(r.on_hand, 30);
  EXPECT_EQ(r.held, 3);
  EXPECT_EQ(movements(a), "v2 adjust 20/2; v3 adjust 30/3") << "both movements are recorded";

  add_sku(b, 3, 30, 3);  // both in one batch
  add_sku(b, 2, 20, 2);
  poll_all(*ledger_);
  r = level(b);
  EXPECT_EQ(r.version, 3) << "ver 3 then ver 2 (one transaction)";
  EXPECT_EQ(r.on_hand, 30);
  EXPECT_EQ(movements(b), "v2 adjust 20/2; v3 adjust 30/3");
}

TEST_F(LedgerLive, MalformedEntryIsAckedCountedAndSkipped) {
  const std::string a = sku("lime");
  const std::string stream = stream_of(a);
  const LedgerStats before = ledger_->stats();
  add_sku(a, 1, 5, 0);
  xadd(stream, {{"t", "sku"}, {"sku", a}, {"ver", "two"}});         // not an integer, fields missing
  xadd(stream, {{"t", "bogus"}, {"sku", a}});                         // unknown type
  xadd(stream, {{"x", "y"}});                                         // no type at all
  add_sku(a, 2, 6, 0);
  poll_all(*ledger_);
  const LedgerStats after = ledger_->stats();
  EXPECT_EQ(after.malformed - before.malformed, 3u);
  EXPECT_EQ(after.rejected, before.rejected);
  EXPECT_EQ(level(a).version, 2) << "entries after the malformed ones are applied";
  EXPECT_EQ(level(a).on_hand, 6);
  EXPECT_EQ(pending(stream, "test-a"), 0) << "malformed entries are acked too";
}

TEST_F(LedgerLive, SecondLedgerClaimsWhatADeadConsumerLeftPending) {
  const std::string a = sku("date");
  const std::string stream = stream_of(a);
  poll_all(*ledger_);  // whatever earlier runs left is applied first
  add_sku(a, 1, 8, 0);
  add_sku(a, 2, 9, 1);
  // "dead" reads them and never acks.
  RedisReply r = redis_->command(stream, {"XREADGROUP", "GROUP", kLedgerGroup, "dead", "COUNT", "1000", "STREAMS",
                                          stream, ">"});
  ASSERT_EQ(r.type, RedisReply::Type::array) << r.str;
  ASSERT_GE(pending(stream, "dead"), 2);

  ledger_->poll_once();
  EXPECT_EQ(level(a).version, -1) << "entries pending at a consumer not yet idle long enough are not claimed";

  std::unique_ptr<Ledger> b = open("test-b", 50);
  ASSERT_NE(b, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  poll_all(*b);
  EXPECT_EQ(level(a).version, 2);
  EXPECT_EQ(level(a).on_hand, 9);
  EXPECT_EQ(movements(a), "v1 adjust 8/0; v2 adjust 9/1");
  EXPECT_GE(b->stats().claimed, 2u);
  EXPECT_EQ(pending(stream, "dead"), 0);
  EXPECT_EQ(pending(stream, "test-b"), 0) << "claimed entries are acked once applied";
}

TEST_F(LedgerLive, PostgresFailureLeavesEntriesPendingUntilApplied) {
  const std::string a = sku("cherry");
  const std::string stream = stream_of(a);
  poll_all(*ledger_);
  add_sku(a, 1, 4, 0);
  // The ledger's connection dies under it: the batch fails, nothing is acked.
  PgResult killed = exec("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE application_name = 'stockd-ledger'");
  ASSERT_GE(pg_int(killed.get(), 0, 0), 1);
  const LedgerStats before = ledger_->stats();
  EXPECT_EQ(ledger_->poll_once(), 0u);
  EXPECT_GT(ledger_->stats().errors, before.errors);
  EXPECT_EQ(level(a).version, -1);
  EXPECT_GE(pending(stream, "test-a"), 1) << "an entry that was not committed is not acked";
  // The next rounds reconnect and read this consumer's pending entries again.
  EXPECT_GE(poll_all(*ledger_), 1u);
  EXPECT_EQ(level(a).version, 1);
  EXPECT_EQ(pending(stream, "test-a"), 0);
  EXPECT_GE(ledger_->stats().lag_ms, 0);
}

TEST_F(LedgerLive, EntryPostgresRefusesIsRejectedAloneAndTheRestApplied) {
  const std::string a = sku("olive"), b = sku("peach");
  poll_all(*ledger_);
  exec("ALTER TABLE stock_movements ADD CONSTRAINT ledger_test_poison CHECK (kind <> 'poison')");
  add_sku(a, 1, 1, 0);
  add_sku(a, 2, 2, 0, "poison");
  add_sku(b, 1, 3, 0);
  const LedgerStats before = ledger_->stats();
  poll_all(*ledger_);
  exec("ALTER TABLE stock_movements DROP CONSTRAINT ledger_test_poison");
  EXPECT_EQ(ledger_->stats().rejected - before.rejected, 1u);
  EXPECT_EQ(movements(a), "v1 adjust 1/0") << "the refused entry alone is left out";
  EXPECT_EQ(level(a).version, 1);
  EXPECT_EQ(level(b).version, 1);
  EXPECT_EQ(pending(stream_of(a), "test-a"), 0) << "a refused entry is acked (it cannot block its stream)";
}

TEST_F(LedgerLive, EntryTrimmedWhilePendingIsCountedLost) {
  const std::string a = sku("apricot");
  const std::string stream = stream_of(a);
  poll_all(*ledger_);
  add_sku(a, 1, 1, 0);
  const std::string id = add_sku(a, 2, 2, 0);
  RedisReply r = redis_->command(stream, {"XREADGROUP", "GROUP", kLedgerGroup, "dead", "COUNT", "1000", "STREAMS",
                                          stream, ">"});
  ASSERT_EQ(r.type, RedisReply::Type::array) << r.str;
  r = redis_->command(stream, {"XDEL", stream, id});
  ASSERT_EQ(r.integer, 1) << r.str;
  std::unique_ptr<Ledger> b = open("test-b", 1);
  ASSERT_NE(b, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  poll_all(*b);
  EXPECT_GE(b->stats().lost, 1u);
  EXPECT_EQ(level(a).version, 1);
  EXPECT_EQ(pending(stream, "dead"), 0);
  EXPECT_EQ(pending(stream, "test-b"), 0);
}

TEST_F(LedgerLive, ReconcileFindsAndRepairsDrift) {
  const std::string a = sku("melon"), lag = sku("grape"), only_redis = sku("quince"), only_pg = sku("medlar");
  add_sku(a, 1, 10, 2);
  poll_all(*ledger_);
  put_redis_sku(a, 10, 1, 2, 1);
  std::size_t checked = 0;
  std::vector<std::string> lines = ledger_->reconcile(false, &checked);
  EXPECT_EQ(about(lines, a), std::vector<std::string>{}) << "same levels, same version: no drift";
  EXPECT_GE(checked, 1u);

  // A change that is in the outbox but not yet applied is lag, not drift: reconcile drains first.
  put_redis_sku(lag, 4, 1, 0, 1);
  add_sku(lag, 1, 4, 0);
  lines = ledger_->reconcile(false, nullptr);
  EXPECT_EQ(about(lines, lag), std::vector<std::string>{});
  EXPECT_EQ(level(lag).version, 1);

  // Drift: Redis changed without an outbox entry.
  redis_->command(keys_.front(), {"HSET", keys_.front(), "oh", "7"});
  lines = ledger_->reconcile(false, nullptr);
  ASSERT_EQ(about(lines, a).size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_EQ(about(lines, a)[0], "sku " + a +
                                    ": postgres on_hand=10 safety_stock=1 held=2 version=1 vs redis on_hand=7 "
                                    "safety_stock=1 held=2 version=1");
  EXPECT_EQ(level(a).on_hand, 10) << "without repair nothing is written";

  // A SKU only in Redis, and one only in PostgreSQL.
  put_redis_sku(only_redis, 5, 0, 1, 4);
  exec("INSERT INTO stock_levels VALUES ($1, 3, 0, 0, 2, now())", {only_pg});

  std::map<std::string, std::string> fixed = repair(*ledger_, {a, only_redis, only_pg});
  EXPECT_NE(fixed[a].find("; repaired (no 'reconcile' movement: version 1 already has one)"), std::string::npos)
      << fixed[a];
  const Row r = level(a);
  EXPECT_EQ(r.on_hand, 7);
  EXPECT_EQ(r.version, 1);
  EXPECT_EQ(fixed[only_redis],
            "sku " + only_redis + ": missing in postgres vs redis on_hand=5 safety_stock=0 held=1 version=4; repaired");
  EXPECT_EQ(level(only_redis).version, 4);
  EXPECT_EQ(movements(only_redis), "v4 reconcile 5/1");
  EXPECT_NE(fixed[only_pg].find("but missing in redis; not repaired"), std::string::npos) << fixed[only_pg];

  // Redis moves on past a repair: the repaired row takes the next entries.
  put_redis_sku(a, 9, 1, 2, 2);
  add_sku(a, 2, 9, 2);
  exec("DELETE FROM stock_levels WHERE sku = $1", {only_pg});
  lines = ledger_->reconcile(false, &checked);
  EXPECT_EQ(about(lines, a), std::vector<std::string>{});
  EXPECT_EQ(about(lines, only_redis), std::vector<std::string>{});
  EXPECT_EQ(about(lines, only_pg), std::vector<std::string>{});
  EXPECT_EQ(level(a).on_hand, 9);
  EXPECT_GE(checked, 3u);
}

TEST_F(LedgerLive, ReconcileRepairsAPostgresRowThatIsBehindOnlyWhenNothingIsInFlight) {
  const std::string a = sku("lemon");
  const std::string stream = stream_of(a);
  add_sku(a, 1, 10, 0);
  poll_all(*ledger_);
  // Version 2 is in flight: read by a consumer that has not committed it (and is not idle long enough
  // to be claimed). Version 3 never reached the outbox (trimmed, say).
  add_sku(a, 2, 12, 0);
  RedisReply r = redis_->command(stream, {"XREADGROUP", "GROUP", kLedgerGroup, "slow", "COUNT", "1000", "STREAMS",
                                          stream, ">"});
  ASSERT_EQ(r.type, RedisReply::Type::array) << r.str;
  put_redis_sku(a, 13, 1, 0, 3);
  std::vector<std::string> lines = ledger_->reconcile(true, nullptr);
  ASSERT_EQ(about(lines, a).size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_EQ(about(lines, a)[0], "sku " + a +
                                    ": postgres on_hand=10 safety_stock=1 held=0 version=1 vs redis on_hand=13 "
                                    "safety_stock=1 held=0 version=3; not repaired: " + stream +
                                    " has 1 entries pending in group ledger, run it again");
  EXPECT_EQ(level(a).version, 1);

  std::unique_ptr<Ledger> b = open("test-b", 1);  // claims what "slow" holds
  ASSERT_NE(b, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(repair(*b, {a})[a], "sku " + a +
                                    ": postgres on_hand=12 safety_stock=1 held=0 version=2 vs redis on_hand=13 "
                                    "safety_stock=1 held=0 version=3; repaired");
  EXPECT_EQ(movements(a), "v1 adjust 10/0; v2 adjust 12/0; v3 reconcile 1/0");
  EXPECT_EQ(level(a).on_hand, 13);
  EXPECT_EQ(about(ledger_->reconcile(false, nullptr), a), std::vector<std::string>{});
}

}  // namespace
}  // namespace stockd::backends
