// HTTP responses: exact bytes, appending several to one buffer.
#include "net/http_response.h"

#include <gtest/gtest.h>

namespace stockd::net {
namespace {

TEST(HttpResponse, ExactBytesAndAppending) {
  std::string out = "previous";
  append_response(out, 201, "{\"id\":\"a\"}", true);
  append_response(out, 413, "{}", false);
  append_response(out, 200, "ok\n", true, "text/plain; version=0.0.4", "Retry-After: 1\r\n");
  EXPECT_EQ(out,
            "previous"
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 10\r\n"
            "Connection: keep-alive\r\n\r\n{\"id\":\"a\"}"
            "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            "Connection: close\r\n\r\n{}"
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 3\r\n"
            "Connection: keep-alive\r\nRetry-After: 1\r\n\r\nok\n");
}

TEST(HttpResponse, ReasonPhrasesOfEveryContractStatus) {
  for (int s : {200, 201, 400, 401, 403, 404, 409, 410, 413, 414, 423, 429, 431, 503, 505})
    EXPECT_NE(reason_phrase(s), "Unknown") << s;
  EXPECT_EQ(reason_phrase(423), "Locked");
  EXPECT_EQ(reason_phrase(299), "Unknown");
  std::string out;
  append_continue(out);
  EXPECT_EQ(out, "HTTP/1.1 100 Continue\r\n\r\n");
}

}  // namespace
}  // namespace stockd::net
