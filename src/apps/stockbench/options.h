// options.h: stockbench's command line (docs/stockbench.md), parsed into one plain struct so that
// tests can check defaults and validation without running anything.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>

namespace stockbench {

enum class Mode : std::uint8_t { flash_sale, mixed };
enum class Protocol : std::uint8_t { http, resp };

struct Options {
  Mode mode = Mode::mixed;
  Protocol protocol = Protocol::http;  // resp when --resp is given
  std::string url = "http://127.0.0.1:8080";  // HTTP API: setup, invariant check, and the load over http
  std::string resp;                           // host:port: the load goes over RESP
  std::string token;
  std::uint32_t connections = 50;
  std::uint32_t threads = 2;
  double duration_s = 0;      // 0: no time limit (mixed defaults to 10 s when --requests is not given)
  std::uint64_t requests = 0;  // mixed: operations; flash-sale: buyers (default 2 x units)
  std::uint32_t pipeline = 1;
  double rate = 0;             // operations per second over all connections; 0: as fast as possible
  bool json = false;
  bool progress = true;
  bool check = true;           // run the invariant check at the end
  std::string run_id;          // prefix of the hold ids this run creates (default: from time and pid)
  // prefix of the channels and SKUs: fixed names, so that runs reuse them instead of piling up
  // channels and SKUs in the server (the API cannot delete either); concurrent runs need their own
  std::string name_space = "sb";
  bool cleanup = true;         // flash-sale: release this run's holds at the end

  // flash-sale
  std::int64_t units = 100;
  bool sale = false;           // hold and confirm in one step (confirm:true / SALE)

  // mixed
  std::uint32_t skus = 1000;
  std::uint32_t channels = 3;
  double zipf_s = 0.99;
  std::int64_t on_hand = 10000;
  std::int64_t safety_stock = 10;
  std::int64_t qty_max = 2;
  double confirm_ratio = 0.6;
  double release_ratio = 0.3;  // the rest is left to expire
  std::int64_t hold_ttl_s = 60;
  std::int64_t expire_ttl_s = 2;
  double fence_ratio = 0.1;    // channel 0's fence on every SKU
  std::int64_t pool_units = 0; // channel 1's pool on every SKU; 0: 5 % of on_hand
};

// Parses argv. Returns -1 when the program should go on, else the exit code to leave with
// (0 after --help, 2 after a usage error, with the message written to `err`).
int parse_options(int argc, const char* const* argv, Options* out, std::ostream& out_stream, std::ostream& err);

}  // namespace stockbench
