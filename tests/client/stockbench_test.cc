// Unit tests of stockbench's parts: the histogram's percentiles and error bound, the Zipf draw,
// option defaults and validation, the wire encoding of ops and the mapping of replies to outcomes.
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "apps/stockbench/codec.h"
#include "apps/stockbench/histogram.h"
#include "apps/stockbench/options.h"
#include "apps/stockbench/report.h"
#include "apps/stockbench/setup.h"
#include "apps/stockbench/workload.h"
#include "apps/stockbench/zipf.h"

namespace stockbench {
namespace {

TEST(Histogram, ExactBelowTheSubBucketCount) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.percentile(50), 50u);
  EXPECT_EQ(h.percentile(99), 99u);
  EXPECT_EQ(h.percentile(100), 100u);
  EXPECT_EQ(h.percentile(0), 1u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(Histogram, RelativeErrorBoundedAndNeverBelowTheTruth) {
  const std::uint64_t seed = 12345;
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> values;
  Histogram h;
  for (int i = 0; i < 100000; ++i) {
    std::uint64_t v = 1 + rng() % 50'000'000;  // up to 50 ms in ns
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    std::uint64_t truth = values[static_cast<std::size_t>(std::ceil(p / 100 * values.size())) - 1];
    std::uint64_t got = h.percentile(p);
    EXPECT_GE(got, truth) << "p" << p << " seed " << seed;
    EXPECT_LE(static_cast<double>(got), static_cast<double>(truth) * (1 + 1.0 / 128) + 1) << "p" << p << " seed " << seed;
  }
  EXPECT_EQ(h.percentile(100), values.back());
}

TEST(Histogram, BucketsAreContiguousAndMergeAdds) {
  for (std::uint64_t v : {0ULL, 255ULL, 256ULL, 257ULL, 511ULL, 512ULL, 1ULL << 40, ~0ULL}) {
    std::size_t i = Histogram::index_of(v);
    ASSERT_LT(i, Histogram::kBuckets) << v;
    EXPECT_GE(Histogram::highest_in_bucket(i), v) << v;
    if (i > 0) {
      EXPECT_LT(Histogram::highest_in_bucket(i - 1), v) << v;
    }
  }
  Histogram a, b;
  a.record(10);
  b.record(1000);
  b.record(5);
  a.merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.min(), 5u);
  EXPECT_EQ(a.max(), 1000u);
  EXPECT_EQ(Histogram().percentile(99), 0u);
}

TEST(Zipf, RankZeroIsMostLikelyAndUniformWhenSIsZero) {
  Zipf z(100, 0.99);
  EXPECT_GT(z.probability(0), z.probability(1));
  EXPECT_GT(z.probability(1), z.probability(99));
  std::mt19937_64 rng(7);
  std::vector<int> hits(100);
  for (int i = 0; i < 20000; ++i) ++hits[z(rng)];
  EXPECT_GT(hits[0], hits[50] * 10) << "seed 7";
  Zipf u(4, 0.0);
  for (std::uint32_t r = 0; r < 4; ++r) EXPECT_NEAR(u.probability(r), 0.25, 1e-12);
}

int parse(std::vector<std::string> args, Options* o, std::string* err_text = nullptr) {
  args.insert(args.begin(), "stockbench");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  int rc = parse_options(static_cast<int>(argv.size()), argv.data(), o, out, err);
  if (err_text) *err_text = err.str();
  return rc;
}

TEST(Options, Version) {
  Options o;
  std::vector<std::string> args{"stockbench", "--version"};
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  EXPECT_EQ(parse_options(static_cast<int>(argv.size()), argv.data(), &o, out, err), 0);
  EXPECT_EQ(out.str(), "stockbench 0.1.0\n") << "the CMake project version";
}

TEST(Options, DefaultsPerMode) {
  Options o;
  ASSERT_EQ(parse({"flash-sale", "-c", "200", "--units", "100"}, &o), -1);
  EXPECT_EQ(o.mode, Mode::flash_sale);
  EXPECT_EQ(o.protocol, Protocol::http);
  EXPECT_EQ(o.requests, 200u) << "demand defaults to twice the units";
  EXPECT_EQ(o.connections, 200u);
  EXPECT_FALSE(o.run_id.empty());
  Options m;
  ASSERT_EQ(parse({"mixed", "--resp", "127.0.0.1:6380", "-P", "16", "-c", "1"}, &m), -1);
  EXPECT_EQ(m.mode, Mode::mixed);
  EXPECT_EQ(m.protocol, Protocol::resp);
  EXPECT_EQ(m.pipeline, 16u);
  EXPECT_EQ(m.duration_s, 10.0) << "mixed runs 10 s unless told";
  EXPECT_EQ(m.threads, 1u) << "never more threads than connections";
}

TEST(Options, Validation) {
  Options o;
  std::string err;
  EXPECT_EQ(parse({"mixed", "--confirm-ratio", "0.8", "--release-ratio", "0.5"}, &o, &err), 2);
  EXPECT_NE(err.find("at most 1"), std::string::npos) << err;
  EXPECT_EQ(parse({"mixed", "--pipeline", "0"}, &o), 2);
  EXPECT_EQ(parse({"flash-sale", "--units", "0"}, &o), 2);
  EXPECT_EQ(parse({}, &o), 2);
  EXPECT_EQ(parse({"--help"}, &o), 0);
}

// docs/stockbench.md: channels and SKUs are named <namespace>-..., default "sb"; a namespace is made
// of the contract's identifier characters (A-Z a-z 0-9 . _ : -).
TEST(Options, NamespaceAndCleanup) {
  Options o;
  ASSERT_EQ(parse({"flash-sale"}, &o), -1);
  EXPECT_EQ(o.name_space, "sb");
  EXPECT_TRUE(o.cleanup);
  Options k;
  ASSERT_EQ(parse({"flash-sale", "--namespace", "a.b_c:d-9", "--no-cleanup"}, &k), -1);
  EXPECT_EQ(k.name_space, "a.b_c:d-9");
  EXPECT_FALSE(k.cleanup);
  for (const char* bad : {"", "a/b", "a b", "sb%"}) {
    Options b;
    EXPECT_EQ(parse({"mixed", "--namespace", bad}, &b), 2) << "--namespace '" << bad << "'";
  }
}

// A flash-sale remembers the buyers whose hold succeeded (not sales, not refusals), and the cleanup
// hands out exactly one release per remembered buyer, with that buyer's hold id.
TEST(Workload, FlashSaleRemembersHoldsAndCleanupReleasesThem) {
  Options o;
  ASSERT_EQ(parse({"flash-sale", "--units", "5", "--run-id", "r1"}, &o), -1);
  Names n{{"sb-hot"}, {"sb-fs"}};
  RunShared shared;
  Workload w(o, n, shared, 0, 1);
  Stats st;
  std::vector<Op> ops(3);
  for (auto& op : ops) ASSERT_EQ(w.next(0, &op), Next::op);
  EXPECT_EQ(ops[2].id, "r1-buyer-2");
  w.done(0, ops[0], kCodeOk, st);
  w.done(0, ops[1], code_from_name("insufficient_stock"), st);
  w.done(0, ops[2], kCodeOk, st);
  ASSERT_EQ(st.held_buyers, (std::vector<std::uint64_t>{0, 2}));
  Op sale = ops[1];
  sale.kind = OpKind::sale;
  w.done(0, sale, kCodeOk, st);
  EXPECT_EQ(st.held_buyers.size(), 2u) << "a sale leaves nothing held";

  RunShared cleanup;
  cleanup.release_buyers = &st.held_buyers;
  Workload c(o, n, cleanup, 0, 1);
  Op op;
  ASSERT_EQ(c.next(0, &op), Next::op);
  EXPECT_EQ(op.kind, OpKind::release);
  EXPECT_EQ(op.id, "r1-buyer-0");
  ASSERT_EQ(c.next(0, &op), Next::op);
  EXPECT_EQ(op.id, "r1-buyer-2");
  EXPECT_EQ(c.next(0, &op), Next::done);
}

TEST(Codec, EncodesHoldsForBothProtocols) {
  Names n{{"A"}, {"app"}};
  Op op;
  op.id = "o1";
  op.qty = 2;
  op.ttl_s = 60;
  std::string http;
  encode_http(op, n, "h:1", "Bearer t", http);
  const std::string body = R"({"id":"o1","channel":"app","lines":[{"sku":"A","qty":2}],"ttl_s":60})";
  EXPECT_EQ(http, "POST /v1/holds HTTP/1.1\r\nHost: h:1\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\n"
                  "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  std::string resp;
  encode_resp(op, n, "", resp);
  EXPECT_EQ(resp, "*6\r\n$4\r\nHOLD\r\n$2\r\no1\r\n$3\r\napp\r\n$2\r\n60\r\n$1\r\nA\r\n$1\r\n2\r\n");
  op.kind = OpKind::confirm;
  http.clear();
  encode_http(op, n, "h:1", "", http);
  EXPECT_EQ(http, "POST /v1/holds/o1/confirm HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\n\r\n");
}

TEST(Codec, OutcomesFromRepliesOfBothProtocols) {
  EXPECT_EQ(http_outcome(201, "{}"), kCodeOk);
  EXPECT_EQ(code_name(http_outcome(409, R"({"error":{"code":"insufficient_stock","message":"m","details":{}}})")),
            "insufficient_stock");
  EXPECT_EQ(http_outcome(500, "oops"), kCodeProtocol);
  EXPECT_EQ(code_name(resp_outcome(true, "OVERLOADED")), "overloaded");
  EXPECT_EQ(resp_outcome(true, "ERR"), kCodeProtocol);
  EXPECT_EQ(resp_outcome(true, "WHATEVER"), kCodeOther);
  EXPECT_EQ(resp_outcome(false, ""), kCodeOk);
}

TEST(Checks, ExpectedAvailableFollowsTheContract) {
  EXPECT_EQ(expected_available(100, 5, 10, 0), 85);
  EXPECT_EQ(expected_available(100, 5, 10, 20), 65) << "exposed units are not available to others";
  EXPECT_EQ(expected_available(10, 5, 10, 0), 0) << "never negative";
}

TEST(Report, LatencyFormatting) {
  EXPECT_EQ(format_latency(812), "0.8 us");
  EXPECT_EQ(format_latency(81'200), "81 us");
  EXPECT_EQ(format_latency(2'310'000), "2.31 ms");
  EXPECT_EQ(format_latency(1'200'000'000), "1.20 s");
}

}  // namespace
}  // namespace stockbench
