// Fuzzes the HTTP/1.1 request parser. The first two bytes choose the body limit and how the rest is cut
// into reads; the rest is the byte stream of one connection. Checks: no crash or sanitizer report, the
// limits hold for every request, and feeding the stream in pieces (with the buffer compacted between
// reads, as the server does) gives exactly the requests and the error that feeding it at once gives.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "net/http_parser.h"
#include "net/net_limits.h"

namespace {

using namespace stockd::net;

struct Outcome {
  std::vector<std::string> requests;  // every field of each request, flattened
  int error_status = 0;
  bool operator==(const Outcome&) const = default;
};

std::string flatten(const HttpRequestView& r, std::size_t consumed) {
  std::string s;
  auto add = [&](std::string_view v) {
    s += std::to_string(v.size());
    s += ':';
    s += v;
  };
  add(r.method), add(r.target), add(r.path), add(r.raw_query), add(r.body);
  for (const auto& [k, v] : r.query) add(k), add(v);
  for (const auto& h : r.headers) add(h.name), add(h.value);
  s += std::to_string(r.version_minor) + (r.keep_alive ? "k" : "c") + (r.chunked ? "t" : "l") +
       (r.expect_continue ? "e" : "-") + std::to_string(r.content_length) + "/" + std::to_string(consumed);
  return s;
}

Outcome run(std::string_view input, const std::vector<std::size_t>& cuts, HttpParserOptions opt) {
  HttpParser parser(opt);
  HttpRequestView req;
  Outcome out;
  std::string buf;
  std::size_t fed = 0, pos = 0;
  for (std::size_t cut : cuts) {
    buf.append(input.substr(fed, cut - fed));
    fed = cut;
    while (out.error_status == 0) {
      std::string_view in = std::string_view(buf).substr(pos);
      HttpParseResult r = parser.parse(in, &req);
      if (r.status == HttpParseStatus::incomplete) {
        FUZZ_CHECK(in.size() <= parser.request_bytes_max());
        break;
      }
      if (r.status == HttpParseStatus::error) {
        FUZZ_CHECK(r.http_status >= 400 && !r.message.empty());
        FUZZ_CHECK((r.http_status == 413) == (r.code == stockd::core::Code::payload_too_large));
        out.error_status = r.http_status;
        break;
      }
      FUZZ_CHECK(r.consumed > 0 && r.consumed <= in.size());
      FUZZ_CHECK(r.consumed <= parser.request_bytes_max());
      FUZZ_CHECK(req.body.size() <= opt.body_bytes_max);
      FUZZ_CHECK(req.headers.size() <= kHttpHeadersMax);
      FUZZ_CHECK(!req.method.empty() && !req.path.empty());
      FUZZ_CHECK(req.version_minor == 1 || !req.chunked);
      out.requests.push_back(flatten(req, r.consumed));
      pos += r.consumed;
    }
    buf.erase(0, pos);
    pos = 0;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  HttpParserOptions opt;
  if (data[0] & 1) opt.body_bytes_max = 64;
  if (data[0] & 2) {  // one path with a larger limit (POST /v1/stock/batches)
    opt.large_body_path = "/big";
    opt.large_body_bytes_max = 256;
  }
  std::uint32_t seed = data[1] | (static_cast<std::uint32_t>(data[0]) << 8);
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  Outcome whole = run(input, {input.size()}, opt);
  std::vector<std::size_t> cuts;
  for (std::size_t at = 0; at < input.size();) {
    seed = seed * 1103515245u + 12345u;
    at += 1 + (seed >> 16) % 97;
    cuts.push_back(at < input.size() ? at : input.size());
  }
  if (cuts.empty()) cuts.push_back(0);
  Outcome pieces = run(input, cuts, opt);
  FUZZ_CHECK(pieces == whole);
  return 0;
}
