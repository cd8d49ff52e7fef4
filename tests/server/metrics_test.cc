// The Prometheus text writer (server/metrics.h): exact lines, as a scraper reads them.
#include <gtest/gtest.h>

#include <string>

#include "engine/engine.h"
#include "server/metrics.h"
#include "store/engine_store.h"

namespace stockd::server {
namespace {

TEST(Prometheus, CounterAndGaugeAreHelpTypeAndOneSample) {
  std::string out;
  Prometheus p(out);
  p.counter("x_total", "Things done.", 3);
  p.gauge("y", "A level.", 0.5);
  EXPECT_EQ(out,
            "# HELP x_total Things done.\n# TYPE x_total counter\nx_total 3\n"
            "# HELP y A level.\n# TYPE y gauge\ny 0.5\n");
}

TEST(Prometheus, LabelledSamplesFollowTheirFamily) {
  std::string out;
  Prometheus p(out);
  p.family("h", "gauge", "By state.");
  p.sample("h", "state=\"held\"", std::uint64_t{18446744073709551615u});
  p.sample("h", "", 2.0);
  EXPECT_EQ(out, "# HELP h By state.\n# TYPE h gauge\nh{state=\"held\"} 18446744073709551615\nh 2\n")
      << "a uint64 sample is written exactly, an empty label set writes no braces";
}

TEST(Prometheus, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  std::string out;
  Prometheus p(out);
  Histogram h;
  h.observe_us(0);          // first bucket (le 5e-05)
  h.observe_us(2'000'000);  // 2 s: le 5
  h.observe_us(9'000'000);  // 9 s: only +Inf
  h.render(p, "lat_seconds", "route=\"r\"");
  EXPECT_NE(out.find("lat_seconds_bucket{route=\"r\",le=\"5e-05\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("lat_seconds_bucket{route=\"r\",le=\"1\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("lat_seconds_bucket{route=\"r\",le=\"5\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("lat_seconds_bucket{route=\"r\",le=\"+Inf\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("lat_seconds_sum{route=\"r\"} 11\n"), std::string::npos) << out;
  EXPECT_NE(out.find("lat_seconds_count{route=\"r\"} 3\n"), std::string::npos) << out;
}

TEST(Prometheus, EngineStatsBecomeJournalAndSnapshotMetrics) {
  engine::EngineStats s;
  s.last_lsn = 1234;
  s.snapshot_lsn = 1000;
  s.snapshot_in_progress = true;
  std::string out;
  Prometheus p(out);
  store::render_engine_metrics(p, s);
  EXPECT_NE(out.find("# TYPE stockd_journal_last_lsn gauge\nstockd_journal_last_lsn 1234\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("\nstockd_snapshot_lsn 1000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nstockd_snapshot_in_progress 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("# TYPE stockd_journal_batches_total counter\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace stockd::server
