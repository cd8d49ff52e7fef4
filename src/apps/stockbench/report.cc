#include "apps/stockbench/report.h"

#include <cstdio>

#include "apps/stockbench/op.h"

namespace stockbench {
namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

const char* mode_name(Mode m) { return m == Mode::flash_sale ? "flash-sale" : "mixed"; }

}  // namespace

std::string format_latency(std::uint64_t ns) {
  if (ns < 10'000) return std::to_string(ns / 1000) + "." + std::to_string(ns / 100 % 10) + " us";
  if (ns < 1'000'000) return std::to_string(ns / 1000) + " us";
  if (ns < 1'000'000'000) return fixed(static_cast<double>(ns) / 1e6, 2) + " ms";
  return fixed(static_cast<double>(ns) / 1e9, 2) + " s";
}

std::string progress_line(double t_s, std::uint64_t done, std::uint64_t done_before, double interval_s,
                          std::uint64_t failed, std::uint64_t sold, const Options& opt) {
  double rate = interval_s > 0 ? static_cast<double>(done - done_before) / interval_s : 0;
  std::string s = "[";  // appended, not "[" + std::string: that trips GCC 12's -Wrestrict at -O3
  s += fixed(t_s, 0);
  s += "s] " + std::to_string(done) + " requests, " + fixed(rate, 0) + " req/s";
  if (opt.mode == Mode::flash_sale) s += ", sold " + std::to_string(sold) + "/" + std::to_string(opt.units);
  s += ", errors " + std::to_string(failed);
  return s;
}

std::string render_text(const Summary& s) {
  const Options& o = *s.opt;
  const Stats& st = s.stats;
  std::uint64_t total = st.total();
  std::string out = std::string("stockbench ") + mode_name(o.mode) + " over " +
                    (o.protocol == Protocol::http ? "http" : "resp") + " to " + s.target + ": " +
                    std::to_string(o.connections) + " connections, " + std::to_string(o.threads) + " threads, pipeline " +
                    std::to_string(o.pipeline) + (o.rate > 0 ? ", rate " + fixed(o.rate, 0) + "/s" : "") + "\n";
  out += "  requests    " + std::to_string(total) + " in " + fixed(s.elapsed_s, 2) + " s = " +
         fixed(s.elapsed_s > 0 ? static_cast<double>(total) / s.elapsed_s : 0, 0) + " req/s\n";
  for (std::size_t k = 0; k < kOpKinds; ++k) {
    std::string line;
    for (int c = 0; c < kCodes; ++c)
      if (auto n = st.counts[k][static_cast<std::size_t>(c)]; n > 0)
        line += "  " + std::string(code_name(c)) + " " + std::to_string(n);
    if (!line.empty()) out += "  " + std::string(kOpKindNames[k]) + std::string(10 - kOpKindNames[k].size(), ' ') + line + "\n";
  }
  const Histogram& h = st.latency_ns;
  out += "  latency     p50 " + format_latency(h.percentile(50)) + "  p99 " + format_latency(h.percentile(99)) +
         "  p99.9 " + format_latency(h.percentile(99.9)) + "  max " + format_latency(h.max()) + "  (mean " +
         format_latency(static_cast<std::uint64_t>(h.mean())) + ")\n";
  if (st.reconnects || st.unanswered || st.retried_overloaded)
    out += "  connection  reconnects " + std::to_string(st.reconnects) + ", unanswered " + std::to_string(st.unanswered) +
           ", overloaded retried " + std::to_string(st.retried_overloaded) + "\n";
  if (o.mode == Mode::flash_sale)
    out += "  flash-sale  sold " + std::to_string(s.sold) + " of " + std::to_string(o.units) + " units, rejected " +
           std::to_string(s.rejected) + " buyers (expected sold " + std::to_string(s.expected_sold) + ")\n";
  if (s.checked)
    out += "  invariants  " + std::to_string(s.invariants.skus_checked) + " SKUs checked: " +
           (s.invariants.ok() ? "ok" : "FAILED") + "\n";
  for (const auto& n : s.notes) out += "  note: " + n + "\n";
  for (const auto& f : s.failures) out += "  FAILED: " + f + "\n";
  out += s.failures.empty() ? "result: OK\n" : "result: FAILED\n";
  return out;
}

nlohmann::json render_json(const Summary& s) {
  const Options& o = *s.opt;
  const Stats& st = s.stats;
  const Histogram& h = st.latency_ns;
  std::uint64_t total = st.total();
  nlohmann::json ops = nlohmann::json::object();
  for (std::size_t k = 0; k < kOpKinds; ++k)
    for (int c = 0; c < kCodes; ++c)
      if (auto n = st.counts[k][static_cast<std::size_t>(c)]; n > 0) ops[std::string(kOpKindNames[k])][std::string(code_name(c))] = n;
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  nlohmann::json j = {
      {"mode", mode_name(o.mode)},
      {"protocol", o.protocol == Protocol::http ? "http" : "resp"},
      {"target", s.target},
      {"connections", o.connections},
      {"threads", o.threads},
      {"pipeline", o.pipeline},
      {"rate", o.rate},
      {"run_id", o.run_id},
      {"elapsed_s", s.elapsed_s},
      {"requests", total},
      {"throughput_rps", s.elapsed_s > 0 ? static_cast<double>(total) / s.elapsed_s : 0.0},
      {"latency_us",
       {{"p50", us(h.percentile(50))}, {"p99", us(h.percentile(99))}, {"p99_9", us(h.percentile(99.9))},
        {"max", us(h.max())}, {"mean", h.mean() / 1000.0}}},
      {"ops", ops},
      {"reconnects", st.reconnects},
      {"unanswered", st.unanswered},
      {"overloaded_retried", st.retried_overloaded},
      {"failures", s.failures},
      {"notes", s.notes},
      {"ok", s.failures.empty()},
  };
  if (o.rate > 0) {
    const Histogram& lag = st.send_lag_ns;
    j["send_lag_us"] = {{"p50", us(lag.percentile(50))}, {"p99", us(lag.percentile(99))}, {"max", us(lag.max())}};
  }
  if (o.mode == Mode::flash_sale)
    j["flash_sale"] = {{"units", o.units}, {"sold", s.sold}, {"rejected", s.rejected}, {"expected_sold", s.expected_sold}};
  if (s.checked)
    j["invariants"] = {{"skus_checked", s.invariants.skus_checked}, {"ok", s.invariants.ok()},
                       {"violations", s.invariants.violations}, {"error", s.invariants.error}};
  return j;
}

}  // namespace stockbench
