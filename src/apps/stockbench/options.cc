#include "apps/stockbench/options.h"

#include <unistd.h>

#include <chrono>
#include <map>

#include <CLI/CLI.hpp>

namespace stockbench {
namespace {

constexpr std::uint32_t kConnectionsMax = 10000;
constexpr std::uint32_t kThreadsMax = 64;
constexpr std::uint32_t kPipelineMax = 1024;
constexpr const char* kIdChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";  // identifiers, docs/api.md

void common(CLI::App* app, Options* o) {
  app->add_option("--url", o->url, "stockd's HTTP API (setup, checks, and the load unless --resp)")
      ->envname("STOCKD_URL")
      ->capture_default_str();
  app->add_option("--resp", o->resp, "host:port: send the load over RESP instead of HTTP");
  app->add_option("--token", o->token, "bearer token (admin)")->envname("STOCKD_TOKEN");
  app->add_option("--connections,-c", o->connections)->check(CLI::Range(1u, kConnectionsMax))->capture_default_str();
  app->add_option("--threads,-t", o->threads, "client threads (each runs an epoll loop)")
      ->check(CLI::Range(1u, kThreadsMax))
      ->capture_default_str();
  app->add_option("--duration,-d", o->duration_s, "seconds to run")->check(CLI::NonNegativeNumber);
  app->add_option("--requests,-n", o->requests, "operations to send (flash-sale: buyers)");
  app->add_option("--pipeline,-P", o->pipeline, "requests written at once per connection")
      ->check(CLI::Range(1u, kPipelineMax))
      ->capture_default_str();
  app->add_option("--rate", o->rate, "operations per second in total (latency at a fixed throughput)")
      ->check(CLI::NonNegativeNumber);
  app->add_flag("--json", o->json, "print the summary as JSON on stdout");
  app->add_flag("!--no-progress", o->progress, "no progress line each second");
  app->add_flag("!--no-check", o->check, "skip the invariant check at the end");
  app->add_option("--run-id", o->run_id, "prefix of the hold ids this run creates");
  app->add_option("--namespace", o->name_space, "prefix of the channels and SKUs (reused by every run with it)")
      ->check(CLI::Validator(
          [](std::string& v) {
            bool ok = !v.empty() && v.size() <= 64 && v.find_first_not_of(kIdChars) == std::string::npos;
            return ok ? std::string() : std::string("1 to 64 characters of A-Z a-z 0-9 . _ : -");
          },
          "ID"))
      ->capture_default_str();
  app->add_flag("!--no-cleanup", o->cleanup, "flash-sale: leave this run's holds held (they expire after 3600 s)");
}

}  // namespace

int parse_options(int argc, const char* const* argv, Options* o, std::ostream& out, std::ostream& err) {
  CLI::App app{"stockbench: load generator and correctness checker for stockd (docs/stockbench.md)", "stockbench"};
  app.set_version_flag("--version", std::string("stockbench ") + STOCKD_VERSION, "print the version and exit");
  app.require_subcommand(1);
  auto* fs = app.add_subcommand("flash-sale", "one hot SKU with --units units, buyers racing for one unit each");
  common(fs, o);
  fs->add_option("--units,-k", o->units, "units on sale")->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000000}))->capture_default_str();
  fs->add_flag("--sale", o->sale, "hold and confirm in one step instead of holding");
  auto* mx = app.add_subcommand("mixed", "Zipf SKUs, several channels, a fence and a pool; holds then confirm/release/expire");
  common(mx, o);
  mx->add_option("--skus", o->skus)->check(CLI::Range(1u, 1000000u))->capture_default_str();
  mx->add_option("--channels", o->channels)->check(CLI::Range(2u, 100u))->capture_default_str();
  mx->add_option("--zipf", o->zipf_s, "Zipf exponent (0: uniform)")->check(CLI::Range(0.0, 10.0))->capture_default_str();
  mx->add_option("--on-hand", o->on_hand)->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000000}))->capture_default_str();
  mx->add_option("--safety-stock", o->safety_stock)->check(CLI::NonNegativeNumber)->capture_default_str();
  mx->add_option("--qty-max", o->qty_max, "each hold asks for 1..qty-max units")->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}))->capture_default_str();
  mx->add_option("--confirm-ratio", o->confirm_ratio)->check(CLI::Range(0.0, 1.0))->capture_default_str();
  mx->add_option("--release-ratio", o->release_ratio)->check(CLI::Range(0.0, 1.0))->capture_default_str();
  mx->add_option("--hold-ttl", o->hold_ttl_s, "TTL of holds that are confirmed or released")->check(CLI::Range(std::int64_t{1}, std::int64_t{86400}))->capture_default_str();
  mx->add_option("--expire-ttl", o->expire_ttl_s, "TTL of holds left to expire")->check(CLI::Range(std::int64_t{1}, std::int64_t{86400}))->capture_default_str();
  mx->add_option("--fence-ratio", o->fence_ratio, "channel 0's fence on every SKU")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  mx->add_option("--pool-units", o->pool_units, "channel 1's pool on every SKU (0: 5 % of on-hand)")->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e, out, err);
    return rc == 0 ? 0 : 2;
  }
  o->mode = fs->parsed() ? Mode::flash_sale : Mode::mixed;
  o->protocol = o->resp.empty() ? Protocol::http : Protocol::resp;
  if (o->mode == Mode::mixed && o->confirm_ratio + o->release_ratio > 1.0 + 1e-9) {
    err << "stockbench: --confirm-ratio + --release-ratio must be at most 1\n";
    return 2;
  }
  if (o->mode == Mode::mixed && o->duration_s == 0 && o->requests == 0) o->duration_s = 10;
  if (o->mode == Mode::flash_sale && o->requests == 0) o->requests = static_cast<std::uint64_t>(o->units) * 2;
  if (o->threads > o->connections) o->threads = o->connections;
  if (o->run_id.empty()) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    o->run_id = "b" + std::to_string(now.count() % 100000000) + "-" + std::to_string(::getpid() % 100000);
  }
  return -1;
}

}  // namespace stockbench
