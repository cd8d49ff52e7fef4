// Unit tests of stockd_client: URL parsing, HTTP response framing, RESP replies, error mapping, and
// the blocking HTTP client's keep-alive and reconnect against an in-process loopback server.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "client/api_error.h"
#include "client/endpoint.h"
#include "client/http_client.h"
#include "client/http_response_parser.h"
#include "client/resp_reply.h"

namespace stockd::client {
namespace {

TEST(Endpoint, ParsesUrlsWithDefaultsAndPrefix) {
  Endpoint e;
  std::string err;
  ASSERT_TRUE(parse_url("http://127.0.0.1:9000", &e, &err)) << err;
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 9000);
  EXPECT_EQ(e.base_path, "");
  ASSERT_TRUE(parse_url("localhost", &e, &err)) << err;
  EXPECT_EQ(e.port, kDefaultHttpPort) << "the contract's default HTTP port";
  ASSERT_TRUE(parse_url("http://h:1/api/", &e, &err));
  EXPECT_EQ(e.base_path, "/api");
  EXPECT_FALSE(parse_url("https://h:1", &e, &err)) << "TLS is not supported and must be refused";
  EXPECT_FALSE(parse_url("http://h:0", &e, &err));
  EXPECT_FALSE(parse_url("http://h:99999", &e, &err));
  ASSERT_TRUE(parse_host_port(":7000", kDefaultRespPort, &e, &err));
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 7000);
  ASSERT_TRUE(parse_host_port("[::1]", kDefaultRespPort, &e, &err));
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, kDefaultRespPort);
}

TEST(Endpoint, EscapesAllButTheIdentifierAlphabet) {
  EXPECT_EQ(url_escape("A-z_0.9:x"), "A-z_0.9:x");
  EXPECT_EQ(url_escape("a b/c?"), "a%20b%2Fc%3F");
}

TEST(HttpResponseParser, WholeResponseSplitAnywhere) {
  std::string wire = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
  for (std::size_t cut = 0; cut < wire.size(); ++cut) {
    HttpResponse r;
    auto res = parse_http_response(std::string_view(wire).substr(0, cut), &r);
    EXPECT_EQ(res.status, HttpParseStatus::incomplete) << "cut at " << cut;
  }
  HttpResponse r;
  auto res = parse_http_response(wire + "HTTP/1.1 200", &r);
  ASSERT_EQ(res.status, HttpParseStatus::ok);
  EXPECT_EQ(res.consumed, wire.size());
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "{\"a\":1}");
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_TRUE(r.keep_alive);
}

TEST(HttpResponseParser, ConnectionCloseNoLengthAndErrors) {
  HttpResponse r;
  auto res = parse_http_response("HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 0\r\n\r\n", &r);
  ASSERT_EQ(res.status, HttpParseStatus::ok);
  EXPECT_FALSE(r.keep_alive);
  res = parse_http_response("HTTP/1.1 200 OK\r\n\r\nbody...", &r);
  EXPECT_EQ(res.status, HttpParseStatus::until_close);
  EXPECT_EQ(res.head_bytes, 19u);
  res = parse_http_response("HTTP/1.1 204 No Content\r\n\r\n", &r);
  EXPECT_EQ(res.status, HttpParseStatus::ok);
  EXPECT_EQ(parse_http_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &r).status,
            HttpParseStatus::error);
  EXPECT_EQ(parse_http_response("SMTP 220\r\n\r\n", &r).status, HttpParseStatus::error);
  EXPECT_EQ(parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", &r).status, HttpParseStatus::error);
}

TEST(RespReply, EveryTypeAndPartialInput) {
  std::string wire = "+held\r\n-INSUFFICIENT_STOCK sku A requested 2 available 1\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n$1\r\nx\r\n";
  std::vector<RespReply> got;
  std::size_t pos = 0;
  while (pos < wire.size()) {
    RespReply r;
    for (std::size_t cut = pos; cut < wire.size(); ++cut) {
      auto partial = parse_resp_reply(std::string_view(wire).substr(pos, cut - pos), &r);
      if (partial.status == RespReplyStatus::ok) break;
      ASSERT_EQ(partial.status, RespReplyStatus::incomplete);
    }
    auto res = parse_resp_reply(std::string_view(wire).substr(pos), &r);
    ASSERT_EQ(res.status, RespReplyStatus::ok) << res.error;
    pos += res.consumed;
    got.push_back(r);
  }
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0].type, RespType::simple);
  EXPECT_EQ(got[0].str, "held");
  EXPECT_TRUE(got[1].is_error());
  EXPECT_EQ(got[1].error_code(), "INSUFFICIENT_STOCK");
  EXPECT_EQ(got[2].integer, 42);
  EXPECT_EQ(got[3].str, "abc");
  EXPECT_EQ(got[4].type, RespType::null);
  ASSERT_EQ(got[5].elements.size(), 2u);
  EXPECT_EQ(got[5].elements[1].str, "x");
  RespReply r;
  EXPECT_EQ(parse_resp_reply("?what\r\n", &r).status, RespReplyStatus::error);
  EXPECT_EQ(parse_resp_reply("$3\r\nabcd\r\n", &r).status, RespReplyStatus::error);
}

TEST(RespReply, CommandsAreArraysOfBulkStrings) {
  std::string out;
  append_resp_command(out, {"HOLD", "o1", "app", "60", "A", "2"});
  EXPECT_EQ(out, "*6\r\n$4\r\nHOLD\r\n$2\r\no1\r\n$3\r\napp\r\n$2\r\n60\r\n$1\r\nA\r\n$1\r\n2\r\n");
}

TEST(ApiError, EveryContractCodeHasADistinctExitCode) {
  std::set<int> seen;
  for (const auto& e : api_errors()) {
    EXPECT_TRUE(seen.insert(e.exit_code).second) << e.code << " shares exit code " << e.exit_code;
    EXPECT_NE(e.exit_code, kExitOk);
    EXPECT_NE(e.exit_code, kExitUsage);
    EXPECT_NE(e.exit_code, kExitTransport);
    EXPECT_EQ(exit_code_for(e.code), e.exit_code);
  }
  EXPECT_EQ(api_errors().size(), 16u) << "the contract lists 16 error codes (precondition_failed: stock batches)";
  EXPECT_EQ(exit_code_for(std::string_view("precondition_failed")), 26) << "docs/stockctl.md";
  EXPECT_EQ(exit_code_for(std::string_view("no_such_code")), kExitUnknownCode);
}

TEST(ApiError, ParsesTheContractShapeAndDescribesIt) {
  HttpResponse r;
  r.status = 409;
  r.body = R"({"error":{"code":"insufficient_stock","message":"not enough","details":{"sku":"A","requested":2,"available":1}}})";
  ApiError e = parse_api_error(r);
  EXPECT_EQ(e.code, "insufficient_stock");
  EXPECT_EQ(exit_code_for(e), 14);
  std::string text = describe(e);
  EXPECT_NE(text.find("insufficient_stock (409): not enough"), std::string::npos) << text;
  EXPECT_NE(text.find("sku=A"), std::string::npos) << text;
  EXPECT_NE(text.find("requested=2"), std::string::npos) << text;
  r.status = 429;
  r.body = "busy";
  e = parse_api_error(r);
  EXPECT_EQ(e.code, "");
  EXPECT_EQ(exit_code_for(e), 23) << "a 429 without a body is still overloaded";
  r.status = 200;
  EXPECT_EQ(exit_code_for(parse_api_error(r)), kExitOk);
}

// A one-connection loopback server that answers each request with a canned reply, then closes the
// connection after `close_after` replies (to exercise the client's reconnect).
class FakeServer {
 public:
  explicit FakeServer(int close_after) : close_after_(close_after) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 8);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  int connections() const { return connections_; }

 private:
  void serve() {
    while (true) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections_;
      std::string in;
      int answered = 0;
      char buf[4096];
      while (answered < close_after_) {
        auto end = in.find("\r\n\r\n");
        if (end == std::string::npos) {
          ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          in.append(buf, static_cast<std::size_t>(n));
          continue;
        }
        in.erase(0, end + 4);  // the tests send no bodies
        std::string body = "{\"n\":" + std::to_string(++served_) + "}";
        std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
        ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
        ++answered;
      }
      ::close(c);
    }
  }
  int fd_ = -1;
  int close_after_;
  std::uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  int served_ = 0;
  std::thread thread_;
};

TEST(HttpClient, KeepsTheConnectionAliveAndReconnectsWhenTheServerClosedIt) {
  FakeServer server(2);
  HttpClient client(Endpoint{"127.0.0.1", server.port(), ""}, HttpClientOptions{"tok", 2000, 5000});
  for (int i = 1; i <= 5; ++i) {
    HttpResponse r;
    std::string err;
    ASSERT_TRUE(client.request("GET", "/healthz", "", &r, &err)) << "request " << i << ": " << err;
    EXPECT_EQ(r.body, "{\"n\":" + std::to_string(i) + "}");
  }
  EXPECT_EQ(server.connections(), 3) << "two requests per connection, then a reconnect";
}

TEST(HttpClient, FormatsRequestsWithTokenAndLength) {
  HttpClient client(Endpoint{"h", 8080, "/p"}, HttpClientOptions{"secret", 1000, 1000});
  EXPECT_EQ(client.format_request("POST", "/v1/holds/x/release", ""),
            "POST /p/v1/holds/x/release HTTP/1.1\r\nHost: h:8080\r\nAuthorization: Bearer secret\r\n"
            "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(client.format_request("GET", "/v1/skus", ""),
            "GET /p/v1/skus HTTP/1.1\r\nHost: h:8080\r\nAuthorization: Bearer secret\r\n\r\n");
}

TEST(HttpClient, ConnectionRefusedIsATransportError) {
  HttpClient client(Endpoint{"127.0.0.1", 1, ""}, HttpClientOptions{"", 1000, 1000});
  HttpResponse r;
  std::string err;
  EXPECT_FALSE(client.request("GET", "/healthz", "", &r, &err));
  EXPECT_NE(err.find("connect 127.0.0.1:1"), std::string::npos) << err;
}

}  // namespace
}  // namespace stockd::client
