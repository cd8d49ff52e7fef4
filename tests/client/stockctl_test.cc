// Unit tests of stockctl without a server: argument languages, tables, renderers, and the requests
// commands turn into (--dry-run), usage errors and the transport error's exit code.
#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "apps/stockctl/args.h"
#include "apps/stockctl/raw_json.h"
#include "apps/stockctl/render.h"
#include "apps/stockctl/stockctl.h"
#include "apps/stockctl/table.h"

namespace stockctl {
namespace {

using json = nlohmann::json;

struct CliRun {
  int rc;
  std::string out, err;
};

CliRun run_args(std::vector<std::string> args) {
  args.insert(args.begin(), "stockctl");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  int rc = run(static_cast<int>(argv.size()), argv.data(), out, err);
  return {rc, out.str(), err.str()};
}

TEST(Args, Lines) {
  json l;
  std::string err;
  ASSERT_TRUE(parse_line("A:2", &l, &err));
  EXPECT_EQ(l, (json{{"sku", "A"}, {"qty", 2}}));
  ASSERT_TRUE(parse_line("ns:sku-1:3", &l, &err)) << "a SKU may contain ':'; the last one separates the qty";
  EXPECT_EQ(l["sku"], "ns:sku-1");
  EXPECT_FALSE(parse_line("A", &l, &err));
  EXPECT_FALSE(parse_line("A:x", &l, &err));
  EXPECT_FALSE(parse_line(":2", &l, &err));
}

TEST(Args, FencesAndPools) {
  std::string ch, err;
  json f;
  ASSERT_TRUE(parse_fence("app=ratio:0.2", &ch, &f, &err));
  EXPECT_EQ(ch, "app");
  EXPECT_EQ(f, (json{{"ratio", 0.2}}));
  ASSERT_TRUE(parse_fence("app=0.5", &ch, &f, &err));
  EXPECT_EQ(f, (json{{"ratio", 0.5}}));
  ASSERT_TRUE(parse_fence("web=50", &ch, &f, &err));
  EXPECT_EQ(f, (json{{"units", 50}}));
  ASSERT_TRUE(parse_fence("web=units:7", &ch, &f, &err));
  EXPECT_EQ(f, (json{{"units", 7}}));
  EXPECT_FALSE(parse_fence("web=ratio:1.5", &ch, &f, &err));
  EXPECT_FALSE(parse_fence("=5", &ch, &f, &err));
  json p;
  ASSERT_TRUE(parse_pool("live=500:douyin,tiktok", &ch, &p, &err));
  EXPECT_EQ(ch, "live");
  EXPECT_EQ(p, (json{{"units", 500}, {"channels", {"douyin", "tiktok"}}}));
  EXPECT_FALSE(parse_pool("live=500", &ch, &p, &err));
  EXPECT_FALSE(parse_pool("live=500:", &ch, &p, &err));
}

TEST(Table, AlignsNumbersRightAndTextLeft) {
  Table t({"SKU", "ON_HAND", "STATE"});
  t.add({"A", "100", "active"});
  t.add({"longer", "5", "-"});
  EXPECT_EQ(t.render(),
            "SKU     ON_HAND  STATE\n"
            "A           100  active\n"
            "longer        5  -\n");
  Table empty({"A", "B"});
  EXPECT_EQ(empty.render(), "A  B\n");
  EXPECT_EQ(render_fields({{"id", "o1"}, {"state", "held"}}), "id:    o1\nstate: held\n");
}

TEST(Render, HoldAvailabilityEventsTolerateMissingFields) {
  json hold = json::parse(R"({"id":"o1","channel":"app","state":"held","lines":[{"sku":"A","qty":2}],
                               "expires_at":"2026-01-01T00:00:00.000Z","created_at":"2026-01-01T00:00:00.000Z"})");
  std::string h = render_hold(hold);
  EXPECT_NE(h.find("state:      held"), std::string::npos) << h;
  EXPECT_NE(h.find("A      2"), std::string::npos) << h;
  EXPECT_EQ(h.find("finished_at"), std::string::npos);
  std::string a = render_availability(json::parse(R"({"channel":"C","available":{"A":10},"unknown":["X"]})"));
  EXPECT_NE(a.find("A           10"), std::string::npos) << a;
  EXPECT_NE(a.find("unknown: X"), std::string::npos) << a;
  EXPECT_EQ(render_event_line(json::parse(R"({"seq":3,"type":"low_stock","at":"T","sku":"A"})")),
            "#3 T low_stock sku=A\n");
  EXPECT_NE(render_sku(json::object()).find("on_hand:             -"), std::string::npos);
  EXPECT_EQ(render_reconcile(json::parse(R"({"ok":false,"skus_checked":2,"drift":["A: held 3 != 2"]})")),
            "ok:           false\nskus_checked: 2\ndrift: A: held 3 != 2\n");
}

TEST(RawJson, ArrayItemsAreTheServersBytes) {
  // Keys out of alphabetical order, spaces, nesting, and brackets and quotes inside strings.
  std::string body = R"({"note":"[{\"x\"]", "events" : [ {"seq":2,"type":"a]b","at":1.50} ,{"z":[1,{"y":2}],"a":"}"},7, "s"],"next":9})";
  std::vector<std::string_view> items;
  ASSERT_TRUE(raw_array_items(body, "events", &items)) << body;
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0], R"({"seq":2,"type":"a]b","at":1.50})");
  EXPECT_EQ(items[1], R"({"z":[1,{"y":2}],"a":"}"})");
  EXPECT_EQ(items[2], "7");
  EXPECT_EQ(items[3], R"("s")");
  ASSERT_TRUE(raw_array_items(R"({"events":[]})", "events", &items));
  EXPECT_TRUE(items.empty());
  EXPECT_FALSE(raw_array_items(R"({"next":1})", "events", &items));
  EXPECT_FALSE(raw_array_items(R"({"events":{"a":1}})", "events", &items));
  EXPECT_FALSE(raw_array_items(R"([{"events":[1]}])", "events", &items));
}

TEST(Stockctl, VersionAndOptionHelp) {
  CliRun r = run_args({"--version"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "stockctl 0.1.0\n") << "the CMake project version";
  r = run_args({"holds", "create", "--help"});
  EXPECT_EQ(r.rc, 0);
  std::size_t at = r.out.find("--channel");
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  EXPECT_NE(line.find("sales channel"), std::string::npos) << "--channel has a help text: " << line;
}

TEST(Stockctl, DryRunShowsTheContractRequest) {
  CliRun r = run_args({"--dry-run", "--url", "http://h:9", "holds", "create", "o1", "-c", "app", "-l", "A:2", "--confirm"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("POST /v1/holds HTTP/1.1\r\nHost: h:9"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"({"channel":"app","confirm":true,"id":"o1","lines":[{"qty":2,"sku":"A"}]})"), std::string::npos)
      << r.out;
  r = run_args({"--dry-run", "skus", "adjust", "A", "--delta", "-3", "--ref", "R1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find(R"({"delta":-3,"ref":"R1"})"), std::string::npos) << r.out;
  r = run_args({"--dry-run", "channels", "freeze", "web"});
  EXPECT_NE(r.out.find("PUT /v1/channels/web"), std::string::npos);
  EXPECT_NE(r.out.find(R"({"state":"frozen"})"), std::string::npos);
  r = run_args({"--dry-run", "availability", "-c", "app", "A", "B"});
  EXPECT_NE(r.out.find("GET /v1/availability?channel=app&sku=A&sku=B"), std::string::npos) << r.out;
  r = run_args({"--dry-run", "watch", "--after", "7", "--wait", "5"});
  EXPECT_NE(r.out.find("GET /v1/events?after=7&limit=100&wait_s=5"), std::string::npos) << r.out;
  r = run_args({"--dry-run", "pools", "close", "A", "live"});
  EXPECT_NE(r.out.find("POST /v1/skus/A/pools/live/close"), std::string::npos) << r.out;
  r = run_args({"--dry-run", "snapshot"});
  EXPECT_NE(r.out.find("POST /v1/admin/snapshot"), std::string::npos) << r.out;
  r = run_args({"--dry-run", "--token", "t0k", "skus", "get", "A"});
  EXPECT_NE(r.out.find("Authorization: Bearer t0k"), std::string::npos) << r.out;
}

TEST(Stockctl, MovementsAskForOneSkuAndPrintATable) {
  CliRun r = run_args({"--dry-run", "movements", "A B", "--after", "12", "--limit", "5"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("GET /v1/movements?sku=A%20B&after=12&limit=5 HTTP/1.1"), std::string::npos) << r.out;
  EXPECT_EQ(run_args({"--dry-run", "movements"}).rc, 2) << "the SKU is required";
  EXPECT_EQ(run_args({"--dry-run", "movements", "A", "--limit", "1001"}).rc, 2);
  std::string t = render_movements(json::parse(R"({"movements":[
      {"seq":7,"at":"T1","sku":"A","on_hand_delta":0,"held_delta":2,"exposed_delta":0,"cause":"hold",
       "ref":null,"reason":null,"channel":"web","hold":"h1"},
      {"seq":9,"at":"T2","sku":"A","on_hand_delta":-3,"held_delta":0,"exposed_delta":0,"cause":"adjust",
       "ref":"ADJ-1","reason":"damaged","channel":null,"hold":null}],"next":9})"));
  EXPECT_EQ(t,
            "SEQ  AT  CAUSE   ON_HAND  HELD  EXPOSED  CHANNEL  HOLD  REF    REASON\n"
            "  7  T1  hold          0     2        0  web      h1    -      -\n"
            "  9  T2  adjust       -3     0        0  -        -     ADJ-1  damaged\n"
            "next: 9\n");
}

TEST(Stockctl, AlertsAndDeliveriesRequests) {
  CliRun r = run_args({"--dry-run", "alerts", "set", "http://127.0.0.1:9/robot", "--format", "dingtalk"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("PUT /v1/alerts HTTP/1.1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"({"format":"dingtalk","url":"http://127.0.0.1:9/robot"})"), std::string::npos) << r.out;
  r = run_args({"--dry-run", "alerts"});
  EXPECT_NE(r.out.find("GET /v1/alerts HTTP/1.1"), std::string::npos) << r.out;
  r = run_args({"--dry-run", "alerts", "test"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("GET /v1/alerts HTTP/1.1"), std::string::npos) << "reads sent_total first: " << r.out;
  r = run_args({"--dry-run", "deliveries"});
  EXPECT_NE(r.out.find("GET /v1/deliveries HTTP/1.1"), std::string::npos) << r.out;
  EXPECT_EQ(run_args({"alerts", "set", "http://h/x", "--format", "teams"}).rc, 2);
  EXPECT_EQ(run_args({"alerts", "set"}).rc, 2);
}

TEST(Stockctl, UsageErrorsExitWithTwo) {
  EXPECT_EQ(run_args({}).rc, 2) << "a subcommand is required";
  EXPECT_EQ(run_args({"holds", "create", "o1"}).rc, 2) << "--channel and --line are required";
  EXPECT_EQ(run_args({"holds", "create", "o1", "-c", "app", "-l", "A"}).rc, 2) << "a line is SKU:QTY";
  EXPECT_EQ(run_args({"--url", "https://x", "health"}).rc, 2);
  EXPECT_EQ(run_args({"channels", "put", "c", "--state", "sleeping"}).rc, 2);
  EXPECT_EQ(run_args({"--help"}).rc, 0);
}

// A CSV file for import, removed at the end of the test. Named after the process and a counter: ctest
// runs the tests of this binary as parallel processes.
struct CsvFile {
  std::string path;
  explicit CsvFile(const std::string& text) {
    static int n = 0;
    path = ::testing::TempDir() + "stockctl_import_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".csv";
    std::ofstream(path) << text;
  }
  ~CsvFile() { std::remove(path.c_str()); }
};

TEST(Stockctl, ImportSendsBatchesOfTenThousandRows) {
  std::string text = "sku,delta\n";
  for (int i = 0; i < 10'001; ++i) text += "S" + std::to_string(i) + ",-1\n";
  CsvFile f(text);
  CliRun r = run_args({"--dry-run", "import", f.path, "--reason", "damaged", "--ref", "R", "--atomic"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find(R"({"ref":"R-1","reason":"damaged","atomic":true,"rows":[{"sku":"S0","delta":-1},)"),
            std::string::npos);
  EXPECT_NE(r.out.find(R"({"ref":"R-2","reason":"damaged","atomic":true,"rows":[{"sku":"S10000","delta":-1}]})"),
            std::string::npos) << "10,001 rows: a second batch of one";
  CsvFile cas("sku , on_hand , expect_on_hand\r\nA,5,4\n\nB,6,\n");
  r = run_args({"--dry-run", "import", cas.path, "--reason", "cycle_count", "--ref", "C"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find(R"("rows":[{"sku":"A","on_hand":5,"expect_on_hand":4},{"sku":"B","on_hand":6}]})"),
            std::string::npos) << r.out;
}

TEST(Stockctl, ImportRefusesBadFilesAndReasons) {
  CsvFile f("sku,on_hand\nA,5\n");
  EXPECT_EQ(run_args({"import", f.path}).rc, 2) << "--reason is required";
  EXPECT_EQ(run_args({"import", f.path, "--reason", "stolen"}).rc, 2);
  EXPECT_EQ(run_args({"import", f.path, "--reason", "other", "--batch-size", "10001"}).rc, 2);
  EXPECT_EQ(run_args({"import", "/nonexistent/x.csv", "--reason", "other"}).rc, 2);
  for (const char* bad : {"sku,qty\nA,1\n", "sku,on_hand\nA,x\n", "sku,delta\nA,1,2\n", "sku,on_hand\n,1\n", ""}) {
    CsvFile b(bad);
    CliRun r = run_args({"import", b.path, "--reason", "other"});
    EXPECT_EQ(r.rc, 2) << bad;
    EXPECT_NE(r.err.find("stockctl import:"), std::string::npos) << r.err;
  }
}

TEST(Stockctl, UnreachableServerExitsWithThree) {
  CliRun r = run_args({"--url", "http://127.0.0.1:1", "health"});
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("cannot reach stockd"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace stockctl
