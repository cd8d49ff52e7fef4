// HTTP/1.1 request parser: framing, pipelining, keep-alive, limits, malformed input, and that feeding
// the input in any two pieces (and byte by byte) gives exactly what feeding it at once gives.
#include "net/http_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/net_limits.h"

namespace stockd::net {
namespace {

// A request copied out of the parser's views, so it can be compared after the buffer changes.
struct Got {
  std::string method, path, raw_query, body;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = false, chunked = false, expect_continue = false;
  int version_minor = 0;
  std::size_t consumed = 0;
  bool operator==(const Got&) const = default;
};

struct Fed {
  std::vector<Got> requests;
  HttpParseStatus last = HttpParseStatus::incomplete;  // incomplete at the end, or error
  int error_status = 0;
  core::Code error_code = core::Code::ok;
  int continues = 0;
  bool operator==(const Fed&) const = default;
};

// Feeds `input` in pieces ending at `cuts` (then the rest), like a server reading into its buffer and
// compacting it; parses every complete request.
Fed feed(std::string_view input, std::vector<std::size_t> cuts, HttpParserOptions opt = {}) {
  HttpParser p(opt);
  HttpRequestView req;
  Fed run;
  std::string buf;
  std::size_t pos = 0, fed = 0;
  cuts.push_back(input.size());
  for (std::size_t cut : cuts) {
    buf.append(input.substr(fed, cut - fed));
    fed = cut;
    while (run.last != HttpParseStatus::error) {
      HttpParseResult r = p.parse(std::string_view(buf).substr(pos), &req);
      if (r.send_continue) ++run.continues;
      if (r.status == HttpParseStatus::incomplete) break;
      if (r.status == HttpParseStatus::error) {
        run.last = HttpParseStatus::error;
        run.error_status = r.http_status;
        run.error_code = r.code;
        EXPECT_FALSE(r.message.empty());
        break;
      }
      Got g{std::string(req.method), std::string(req.path), std::string(req.raw_query), std::string(req.body),
            req.query, {}, req.keep_alive, req.chunked, req.expect_continue, req.version_minor, r.consumed};
      for (const auto& h : req.headers) g.headers.emplace_back(h.name, h.value);
      run.requests.push_back(std::move(g));
      EXPECT_GT(r.consumed, 0u);
      pos += r.consumed;
    }
    buf.erase(0, pos);  // compaction moves the unconsumed bytes: the parser must not hold pointers
    pos = 0;
  }
  return run;
}

Fed once(std::string_view input, HttpParserOptions opt = {}) { return feed(input, {}, opt); }

// Every split into two pieces, and byte by byte, give the same as all at once.
void expect_split_invariant(std::string_view input, HttpParserOptions opt = {}) {
  Fed whole = once(input, opt);
  for (std::size_t cut = 0; cut <= input.size(); ++cut)
    ASSERT_EQ(feed(input, {cut}, opt), whole) << "split at byte " << cut << " of:\n" << input;
  std::vector<std::size_t> bytes;
  for (std::size_t i = 1; i < input.size(); ++i) bytes.push_back(i);
  ASSERT_EQ(feed(input, bytes, opt), whole) << "byte by byte:\n" << input;
}

Fed expect_error(std::string_view input, int status) {
  Fed r = once(input);
  EXPECT_EQ(r.last, HttpParseStatus::error) << input;
  EXPECT_EQ(r.error_status, status) << input;
  return r;
}

TEST(HttpParser, SimpleGetWithQueryAndHeaders) {
  Fed r = once("GET /v1/availability?channel=app&sku=A%2FB&sku=c+d&flag HTTP/1.1\r\n"
               "Host: x\r\nAuthorization: Bearer  tok \r\n\r\n");
  ASSERT_EQ(r.requests.size(), 1u);
  const Got& g = r.requests[0];
  EXPECT_EQ(g.method, "GET");
  EXPECT_EQ(g.path, "/v1/availability");
  EXPECT_EQ(g.raw_query, "channel=app&sku=A%2FB&sku=c+d&flag");
  std::vector<std::pair<std::string, std::string>> q{{"channel", "app"}, {"sku", "A/B"}, {"sku", "c d"}, {"flag", ""}};
  EXPECT_EQ(g.query, q);
  ASSERT_EQ(g.headers.size(), 2u);
  EXPECT_EQ(g.headers[1], (std::pair<std::string, std::string>{"Authorization", "Bearer  tok"}));
  EXPECT_TRUE(g.keep_alive);
  EXPECT_EQ(g.body, "");
  EXPECT_EQ(r.last, HttpParseStatus::incomplete);
}

TEST(HttpParser, HeaderLookupIsCaseInsensitive) {
  HttpParser p;
  HttpRequestView req;
  std::string in = "POST /v1/holds HTTP/1.1\r\ncontent-LENGTH: 2\r\nX-A: 1\r\n\r\n{}";
  HttpParseResult r = p.parse(in, &req);
  ASSERT_EQ(r.status, HttpParseStatus::complete);
  EXPECT_EQ(r.consumed, in.size());
  EXPECT_EQ(req.header("Content-Length"), "2");
  EXPECT_EQ(req.header("x-a"), "1");
  EXPECT_TRUE(req.has_header("X-a"));
  EXPECT_FALSE(req.has_header("authorization"));
  EXPECT_EQ(req.header("authorization"), "");
  EXPECT_EQ(req.body, "{}");
  EXPECT_EQ(req.content_length, 2);
}

TEST(HttpParser, KeepAliveRules) {
  auto ka = [](std::string_view in) {
    Fed r = once(in);
    EXPECT_EQ(r.requests.size(), 1u) << in;
    return !r.requests.empty() && r.requests[0].keep_alive;
  };
  EXPECT_TRUE(ka("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"));
}

TEST(HttpParser, PipelinedRequestsSplitAnywhere) {
  std::string first = "\r\nPOST /v1/holds HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n{\"id\":\"a-1\"}\n";
  std::string in =
      first +
      "GET /v1/skus/A HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /v1/holds/h/confirm HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;ext=1\r\n{\"l\r\n9\r\nines\":[]}\r\n0\r\nX-Trailer: t\r\n\r\n"
      "GET /healthz HTTP/1.0\r\n\r\n";
  Fed r = once(in);
  ASSERT_EQ(r.requests.size(), 4u);
  EXPECT_EQ(r.requests[0].consumed, first.size());  // the leading empty line belongs to the request
  EXPECT_EQ(r.requests[0].body, "{\"id\":\"a-1\"}\n");
  EXPECT_EQ(r.requests[1].path, "/v1/skus/A");
  EXPECT_TRUE(r.requests[2].chunked);
  EXPECT_EQ(r.requests[2].body, "{\"lines\":[]}");
  EXPECT_FALSE(r.requests[3].keep_alive);
  expect_split_invariant(in);
}

TEST(HttpParser, ReparsingAfterCompleteGivesTheSameRequest) {
  // A server that postpones a request parses the same bytes again.
  std::string in = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n";
  HttpParser p;
  HttpRequestView req;
  for (int i = 0; i < 3; ++i) {
    HttpParseResult r = p.parse(in, &req);
    ASSERT_EQ(r.status, HttpParseStatus::complete);
    EXPECT_EQ(r.consumed, in.size());
    EXPECT_EQ(req.body, "ab");
    EXPECT_EQ(req.path, "/x");
  }
}

TEST(HttpParser, AbsoluteFormTarget) {
  Fed r = once("GET http://example.com:8080/v1/skus/A?x=1 HTTP/1.1\r\n\r\nGET HTTP://h HTTP/1.1\r\n\r\n");
  ASSERT_EQ(r.requests.size(), 2u);
  EXPECT_EQ(r.requests[0].path, "/v1/skus/A");
  EXPECT_EQ(r.requests[0].raw_query, "x=1");
  EXPECT_EQ(r.requests[1].path, "/");
}

TEST(HttpParser, ExpectContinueIsReportedOnceBeforeTheBody) {
  std::string head = "PUT /v1/skus/A HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
  Fed r = feed(head + "body", {head.size(), head.size() + 1, head.size() + 2});
  EXPECT_EQ(r.continues, 1);
  ASSERT_EQ(r.requests.size(), 1u);
  EXPECT_TRUE(r.requests[0].expect_continue);
  // the body arrived with the head: nothing to wait for, no 100
  EXPECT_EQ(once(head + "body").continues, 0);
  // HTTP/1.0 clients do not get one
  std::string old = "PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx";
  EXPECT_EQ(feed(old, {old.size() - 1}).continues, 0);
}

TEST(HttpParser, PayloadTooLargeIsKnownFromTheHeadAlone) {
  std::string head = "POST /v1/holds HTTP/1.1\r\nContent-Length: " + std::to_string(limits::kBodyBytesMax + 1) + "\r\n\r\n";
  HttpParser p;
  HttpRequestView req;
  HttpParseResult r = p.parse(head, &req);  // no body byte yet
  EXPECT_EQ(r.status, HttpParseStatus::error);
  EXPECT_EQ(r.http_status, 413);
  EXPECT_EQ(r.code, core::Code::payload_too_large);
  // a number too large for any integer type is too large, not malformed
  expect_error("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413);
  // exactly the limit is fine
  std::string at_limit = "POST / HTTP/1.1\r\nContent-Length: " + std::to_string(limits::kBodyBytesMax) + "\r\n\r\n";
  Fed ok = once(at_limit + std::string(limits::kBodyBytesMax, 'x'));
  ASSERT_EQ(ok.requests.size(), 1u);
  EXPECT_EQ(ok.requests[0].body.size(), limits::kBodyBytesMax);
}

TEST(HttpParser, BodyLimitIsConfigurable) {
  HttpParserOptions small;
  small.body_bytes_max = 10;
  EXPECT_EQ(once("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", small).error_status, 413);
  EXPECT_EQ(once("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\n", small).error_status, 413);
  EXPECT_EQ(once("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", small).error_status, 413);
  HttpParser p(small);
  EXPECT_GE(p.request_bytes_max(), 2 * kHttpHeadBytesMax + 10);
  EXPECT_LT(p.request_bytes_max(), HttpParser().request_bytes_max());
}

TEST(HttpParser, OnePathMayTakeALargerBody) {
  HttpParserOptions opt;
  opt.body_bytes_max = 10;
  opt.large_body_path = "/big";
  opt.large_body_bytes_max = 20;
  auto length = [](const char* path, int n) {
    return std::string("POST ") + path + " HTTP/1.1\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" +
           std::string(n, 'x');
  };
  EXPECT_EQ(once(length("/big", 20), opt).requests.size(), 1u);
  EXPECT_EQ(once(length("/big", 21), opt).error_status, 413);
  EXPECT_EQ(once(length("/big/x", 11), opt).error_status, 413) << "only that exact path";
  EXPECT_EQ(once(length("/other", 11), opt).error_status, 413);
  EXPECT_EQ(once(length("/big?x=1", 20), opt).requests.size(), 1u) << "the query is not part of the path";
  std::string chunked = "POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(once(chunked + "f\r\n" + std::string(15, 'x') + "\r\n5\r\nxxxxx\r\n0\r\n\r\n", opt).requests.size(), 1u);
  EXPECT_EQ(once(chunked + "f\r\n" + std::string(15, 'x') + "\r\n6\r\n", opt).error_status, 413);
  // A pipelined request after a large one gets the ordinary limit again.
  EXPECT_EQ(once(length("/big", 20) + length("/other", 11), opt).error_status, 413);
  expect_split_invariant(length("/big", 20) + length("/other", 10), opt);
  EXPECT_GE(HttpParser(opt).request_bytes_max(), 2 * kHttpHeadBytesMax + 20);
}

TEST(HttpParser, ChunkedFramingOverheadIsBounded) {
  std::string in = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  while (in.size() < kHttpChunkedOverheadBytesMax * 2) in += "1;padding-padding-padding\r\nx\r\n";
  EXPECT_EQ(once(in).error_status, 413);
}

TEST(HttpParser, HeadLimits) {
  std::string long_line = "GET /" + std::string(kHttpRequestLineBytesMax, 'a') + " HTTP/1.1\r\n\r\n";
  expect_error(long_line, 414);
  expect_error(long_line.substr(0, kHttpRequestLineBytesMax + 10), 414);  // known before the line ends
  std::string big_head = "GET / HTTP/1.1\r\n";
  while (big_head.size() <= kHttpHeadBytesMax) big_head += "X-Pad: " + std::string(100, 'p') + "\r\n";
  expect_error(big_head + "\r\n", 431);
  expect_error(big_head, 431);  // known before the head ends
  std::string many = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i <= kHttpHeadersMax; ++i) many += "A: b\r\n";
  expect_error(many + "\r\n", 431);
  // just under the limits is fine
  std::string fits = "GET /" + std::string(kHttpRequestLineBytesMax - 14, 'a') + " HTTP/1.1\r\n\r\n";
  EXPECT_EQ(once(fits).requests.size(), 1u);
}

TEST(HttpParser, MalformedRequestsAre400) {
  const char* cases[] = {
      "GET / HTTP/1.1\n\n",                                       // bare LF
      "GET / HTTP/1.1\r\nHost: x\n\r\n",                          // bare LF in a header
      "GET /\r\n\r\n",                                            // no version
      "GET  / HTTP/1.1\r\n\r\n",                                  // two spaces
      "G(T / HTTP/1.1\r\n\r\n",                                   // bad method token
      "GET / HTTP/1.1 \r\n\r\n",                                  // trailing space
      "GET / http/1.1\r\n\r\n",                                   // version is case-sensitive
      "GET /a b HTTP/1.1\r\n\r\n",                                // space in target
      "GET /a#frag HTTP/1.1\r\n\r\n",                             // fragment
      "GET /\xff HTTP/1.1\r\n\r\n",                               // raw non-ASCII in target
      "GET example.com:80 HTTP/1.1\r\n\r\n",                      // authority-form
      "GET /?a=%zz HTTP/1.1\r\n\r\n",                             // bad percent escape
      "GET /?a=%4 HTTP/1.1\r\n\r\n",                              // truncated percent escape
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n",                       // space before colon
      "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",             // obs-fold
      "GET / HTTP/1.1\r\n: x\r\n\r\n",                            // empty name
      "GET / HTTP/1.1\r\nNoColon\r\n\r\n",                        // no colon
      "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",                      // control character
      "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",                        // bare CR
      "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",            // not a number
      "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",        // bad chunk size
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",  // data longer than size
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\nab\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n",     // bare LF in chunk line
  };
  for (const char* c : cases) {
    Fed r = expect_error(c, 400);
    EXPECT_EQ(r.error_code, core::Code::invalid_request) << c;
    EXPECT_TRUE(r.requests.empty()) << c;
  }
  EXPECT_EQ(once("GET / HTTP/2.0\r\n\r\n").error_status, 505);
  EXPECT_EQ(once("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").error_status, 501);
  std::string long_chunk_line = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;" +
                                std::string(kHttpChunkLineBytesMax, 'e') + "\r\nx\r\n0\r\n\r\n";
  EXPECT_EQ(once(long_chunk_line).error_status, 400);
}

TEST(HttpParser, LimitErrorsDoNotDependOnWhereAReadEnds) {
  // A line that crosses the head limit and is also malformed: 431 however the bytes arrive.
  std::string head = "GET / HTTP/1.1\r\n";
  while (head.size() < kHttpHeadBytesMax - 40) head += "X-Pad: " + std::string(50, 'p') + "\r\n";
  std::string in = head + "X-Last: " + std::string(60, 'q') + "\n\r\n";  // bare LF past the limit
  Fed whole = once(in);
  EXPECT_EQ(whole.error_status, 431);
  for (std::size_t cut = head.size() - 2; cut <= in.size(); ++cut) ASSERT_EQ(feed(in, {cut}), whole) << cut;
  // The same for a request line that is too long and ends in a bare LF.
  std::string line = "GET /" + std::string(kHttpRequestLineBytesMax, 'a') + "\n\r\n";
  EXPECT_EQ(once(line).error_status, 414);
  for (std::size_t cut = kHttpRequestLineBytesMax - 4; cut <= line.size(); ++cut)
    ASSERT_EQ(feed(line, {cut}).error_status, 414) << cut;
}

TEST(HttpParser, ErrorsAreIndependentOfSplits) {
  expect_split_invariant("GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n");
  expect_split_invariant("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n");
  expect_split_invariant("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\n\n");
  expect_split_invariant("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab");  // incomplete at the end
}

TEST(HttpParser, EmptyChunkedBodyAndIdenticalContentLengths) {
  Fed r = once("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n"
               "POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok");
  ASSERT_EQ(r.requests.size(), 2u);
  EXPECT_EQ(r.requests[0].body, "");
  EXPECT_EQ(r.requests[1].body, "ok");
}

TEST(HttpParser, ResetForgetsAPartialRequest) {
  HttpParser p;
  HttpRequestView req;
  EXPECT_EQ(p.parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", &req).status, HttpParseStatus::incomplete);
  p.reset();
  HttpParseResult r = p.parse("GET /b HTTP/1.1\r\n\r\n", &req);
  ASSERT_EQ(r.status, HttpParseStatus::complete);
  EXPECT_EQ(req.path, "/b");
}

TEST(PercentDecode, Rules) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%41+b%2f", true, &out));
  EXPECT_EQ(out, "aA b/");
  EXPECT_TRUE(percent_decode("a+b", false, &out));
  EXPECT_EQ(out, "a+b");
  EXPECT_FALSE(percent_decode("%", true, &out));
  EXPECT_FALSE(percent_decode("%1", true, &out));
  EXPECT_FALSE(percent_decode("%g0", true, &out));
}

}  // namespace
}  // namespace stockd::net
