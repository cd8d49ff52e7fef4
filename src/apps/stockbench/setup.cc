#include "apps/stockbench/setup.h"

#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "client/http_client.h"

namespace stockbench {
namespace {

using json = nlohmann::json;
constexpr std::uint32_t kSetupConnections = 8;
constexpr std::int64_t kPageLimit = 1000;

stockd::client::HttpClient make_client(const Options& opt, const stockd::client::Endpoint& api) {
  return stockd::client::HttpClient(api, stockd::client::HttpClientOptions{opt.token, 5000, 60000});
}

bool put(stockd::client::HttpClient& c, const std::string& method, const std::string& target, const json& body,
         std::string* error) {
  stockd::client::HttpResponse r;
  std::string e;
  if (!c.request(method, target, body.dump(), &r, &e)) {
    *error = method + " " + target + ": " + e;
    return false;
  }
  if (r.status / 100 != 2) {
    *error = method + " " + target + ": HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300);
    return false;
  }
  return true;
}

// Units held on `sku` now (0 when it does not exist yet).
bool held_now(stockd::client::HttpClient& c, const std::string& sku, std::int64_t* held, std::string* error) {
  stockd::client::HttpResponse r;
  std::string e;
  std::string target = "/v1/skus/" + sku;
  if (!c.request("GET", target, "", &r, &e)) {
    *error = "GET " + target + ": " + e;
    return false;
  }
  *held = 0;
  if (r.status == 404) return true;
  json view = json::parse(r.body, nullptr, false);
  if (r.status != 200 || view.is_discarded() || !view.contains("held") || !view["held"].is_number_integer()) {
    *error = "GET " + target + ": HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300);
    return false;
  }
  *held = view["held"].get<std::int64_t>();
  return true;
}

}  // namespace

std::int64_t expected_available(std::int64_t on_hand, std::int64_t safety_stock, std::int64_t held,
                                std::int64_t exposed) {
  return std::max<std::int64_t>(0, on_hand - safety_stock - held - exposed);
}

bool setup_run(const Options& opt, const stockd::client::Endpoint& api, Names* names, std::string* error) {
  auto client = make_client(opt, api);
  if (opt.mode == Mode::flash_sale) {
    names->channels = {opt.name_space + "-fs"};
    names->skus = {opt.name_space + "-hot"};
    std::int64_t held = 0;
    return put(client, "PUT", "/v1/channels/" + names->channels[0],
               {{"priority", 1}, {"hold_ttl_s", 3600}, {"state", "active"}}, error) &&
           held_now(client, names->skus[0], &held, error) &&
           put(client, "PUT", "/v1/skus/" + names->skus[0], {{"on_hand", held + opt.units}, {"safety_stock", 0}}, error);
  }
  for (std::uint32_t i = 0; i < opt.channels; ++i) {
    names->channels.push_back(opt.name_space + "-ch" + std::to_string(i));
    json body = {{"priority", i + 1}, {"hold_ttl_s", opt.hold_ttl_s}, {"state", "active"}};
    if (!put(client, "PUT", "/v1/channels/" + names->channels.back(), body, error)) return false;
  }
  for (std::uint32_t i = 0; i < opt.skus; ++i) names->skus.push_back(opt.name_space + "-sku" + std::to_string(i));
  std::int64_t pool = opt.pool_units > 0 ? opt.pool_units : opt.on_hand / 20;
  json alloc = {{"fences", {{names->channels[0], {{"ratio", opt.fence_ratio}}}}},
                {"pools", {{"live", {{"units", pool}, {"channels", {names->channels[1]}}}}}},
                {"preempt", true}};
  std::atomic<std::uint32_t> next{0};
  std::mutex mu;
  std::string first_error;
  auto work = [&] {
    auto c = make_client(opt, api);
    std::string e;
    for (std::uint32_t i = next++; i < opt.skus; i = next++) {
      const std::string& sku = names->skus[i];
      if (put(c, "PUT", "/v1/skus/" + sku, {{"on_hand", opt.on_hand}, {"safety_stock", opt.safety_stock}}, &e) &&
          (pool == 0 && opt.fence_ratio == 0 ? true : put(c, "PUT", "/v1/skus/" + sku + "/allocation", alloc, &e)))
        continue;
      std::lock_guard lock(mu);
      if (first_error.empty()) first_error = e;
      next = opt.skus;
      return;
    }
  };
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < std::min(kSetupConnections, opt.skus); ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  *error = first_error;
  return first_error.empty();
}

CheckResult check_invariants(const Options& opt, const stockd::client::Endpoint& api, const Names& names) {
  CheckResult res;
  auto client = make_client(opt, api);
  std::unordered_map<std::string, std::size_t> mine;
  for (std::size_t i = 0; i < names.skus.size(); ++i) mine.emplace(names.skus[i], i);
  res.run_skus.resize(names.skus.size());
  for (std::int64_t offset = 0;; offset += kPageLimit) {
    stockd::client::HttpResponse r;
    std::string target = "/v1/skus?offset=" + std::to_string(offset) + "&limit=" + std::to_string(kPageLimit);
    if (!client.request("GET", target, "", &r, &res.error)) return res;
    if (r.status != 200) {
      res.error = "GET " + target + ": HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300);
      return res;
    }
    json page = json::parse(r.body, nullptr, false);
    if (page.is_discarded() || !page.contains("skus") || !page["skus"].is_array()) {
      res.error = "GET " + target + ": not a SKU page: " + r.body.substr(0, 300);
      return res;
    }
    for (const auto& s : page["skus"]) {
      SkuRow row{s.value("sku", ""), s.value("on_hand", std::int64_t{-1}), s.value("safety_stock", std::int64_t{0}),
                 s.value("held", std::int64_t{-1}), s.value("available", std::int64_t{-1}),
                 s.value("exposed", std::int64_t{0})};
      ++res.skus_checked;
      auto fail = [&](const std::string& rule) {
        res.violations.push_back(row.sku + ": " + rule + " (on_hand " + std::to_string(row.on_hand) + ", safety_stock " +
                                 std::to_string(row.safety_stock) + ", held " + std::to_string(row.held) +
                                 ", exposed " + std::to_string(row.exposed) + ", available " +
                                 std::to_string(row.available) + ")");
      };
      if (row.held < 0 || row.on_hand < 0) fail("negative held or on_hand");
      if (row.held > row.on_hand) fail("held <= on_hand broken");
      if (row.exposed < 0) fail("negative exposed");
      if (row.available != expected_available(row.on_hand, row.safety_stock, row.held, row.exposed))
        fail("available != max(0, on_hand - safety_stock - held - exposed)");
      if (auto it = mine.find(row.sku); it != mine.end()) res.run_skus[it->second] = row;
    }
    std::int64_t total = page.value("total", std::int64_t{0});
    if (page["skus"].empty() || offset + kPageLimit >= total) break;
  }
  return res;
}

}  // namespace stockbench
