// outbound_http.h: stockd's outbound HTTP: one POST at a time to a webhook or an alert URL, in a
// thread of its own so that a slow or dead endpoint never holds up the event loop.
//
// Plain http:// only (no TLS, as the rest of stockd): an https:// endpoint (a chat robot) is reached
// through a TLS-terminating forward proxy on the same host (docs/operations.md). Each request opens a
// connection, sends `Connection: close`, and waits for the status line and headers; the reply body is
// not read. Timeouts: connecting, and the whole request-to-headers exchange.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace stockd::server {

// The longest outbound URL and the largest body sent (a webhook batch is far below).
inline constexpr std::size_t kOutboundUrlBytesMax = 2048;

struct OutboundUrl {
  std::string host;
  std::uint16_t port = 80;
  std::string target = "/";  // path and query, as sent in the request line
};

// "http://host[:port][/path][?query]". False with *error for anything else (https:// included, with
// a message naming the proxy workaround).
bool parse_outbound_url(std::string_view url, OutboundUrl* out, std::string* error);

// "http://host:port" of a URL, for logs: robot URLs carry their secret in the path or query.
std::string url_origin(std::string_view url);

struct OutboundRequest {
  std::string url;
  std::string body;  // sent as application/json
  std::vector<std::pair<std::string, std::string>> headers;
};

struct OutboundResult {
  int status = 0;     // 0: no HTTP reply (see error)
  std::string error;  // why the attempt failed: transport error or "HTTP 503"
  bool ok() const { return status >= 200 && status < 300; }
};

struct OutboundTimeouts {
  int connect_ms = 2000;
  int response_ms = 5000;  // from the first byte sent to the end of the reply's headers
};

// One blocking POST. Never throws.
OutboundResult http_post(const OutboundRequest& req, const OutboundTimeouts& t);

using PostFn = std::function<OutboundResult(const OutboundRequest&)>;

// The defaults of the alert sender and the webhook deliveries: http_post with `t`, and a uniform
// [0, 1) source seeded from the system (the backoff's jitter).
PostFn default_post(const OutboundTimeouts& t);
std::function<double()> seeded_uniform01();

// A thread that performs one request at a time. The owner (one thread, the event loop) submits a
// request when the worker is idle and later takes its result; it never waits for the network.
// Destroying the worker waits for a request in flight (at most the timeouts).
class OutboundWorker {
 public:
  explicit OutboundWorker(PostFn post);
  ~OutboundWorker();
  OutboundWorker(const OutboundWorker&) = delete;
  OutboundWorker& operator=(const OutboundWorker&) = delete;

  // A request was submitted and its result not taken yet.
  bool busy() const;
  // REQUIRES: !busy().
  void submit(OutboundRequest req);
  // The result of the submitted request once it is done (then the worker is idle again).
  std::optional<OutboundResult> take();

 private:
  void run();

  PostFn post_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool submitted_ = false;  // a request is in the worker's hands or its result waits
  std::optional<OutboundRequest> request_;
  std::optional<OutboundResult> result_;
  std::thread thread_;
};

}  // namespace stockd::server
