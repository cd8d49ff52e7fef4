#include "server/outbound_http.h"

#include <memory>
#include <random>

#include <pthread.h>
#include <signal.h>

#include <charconv>
#include <chrono>

#include "client/socket.h"
#include "core/assert.h"
#include "store/clock.h"

namespace stockd::server {
namespace {

constexpr std::size_t kReplyHeadBytesMax = 64 * 1024;

// "HTTP/1.1 204 No Content\r\n..." -> 204; 0 when the line is not a status line.
int status_of(std::string_view head) {
  if (!head.starts_with("HTTP/1.") || head.size() < 12 || head[8] != ' ') return 0;
  int status = 0;
  auto [p, ec] = std::from_chars(head.data() + 9, head.data() + 12, status);
  return ec == std::errc() && p == head.data() + 12 && status >= 100 && status <= 599 ? status : 0;
}

}  // namespace

bool parse_outbound_url(std::string_view url, OutboundUrl* out, std::string* error) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() > kOutboundUrlBytesMax) {
    *error = "url longer than 2048 bytes";
    return false;
  }
  if (url.starts_with("https://")) {
    *error = "https:// is not supported: stockd sends plain http://; put a TLS-terminating proxy in between";
    return false;
  }
  if (!url.starts_with(kScheme)) {
    *error = "url must start with http://";
    return false;
  }
  std::string_view rest = url.substr(kScheme.size());
  std::size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  // "/" then the path and query ("?q" alone becomes "/?q"). Built by appending: GCC 12's -O3
  // -Wrestrict misfires on insert(0, ...) and on assigning a literal here.
  std::string target;
  if (slash == std::string_view::npos || rest[slash] == '?') target.push_back('/');
  if (slash != std::string_view::npos) target.append(rest.substr(slash));
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      *error = "url must not contain spaces or control characters";
      return false;
    }
  if (authority.find('@') != std::string_view::npos || authority.find('#') != std::string_view::npos) {
    *error = "url must not contain user information";
    return false;
  }
  OutboundUrl u;
  u.target = std::move(target);
  std::size_t colon = authority.rfind(':');
  bool bracketed = authority.starts_with('[');
  if (colon != std::string_view::npos && (!bracketed || colon > authority.find(']'))) {
    std::string_view port = authority.substr(colon + 1);
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) {
      *error = "bad port in url";
      return false;
    }
    u.port = static_cast<std::uint16_t>(value);
    authority = authority.substr(0, colon);
  }
  if (bracketed && authority.size() > 2 && authority.back() == ']') authority = authority.substr(1, authority.size() - 2);
  if (authority.empty()) {
    *error = "url has no host";
    return false;
  }
  u.host = std::string(authority);
  *out = std::move(u);
  return true;
}

std::string url_origin(std::string_view url) {
  OutboundUrl u;
  std::string error;
  if (!parse_outbound_url(url, &u, &error)) return "(invalid url)";
  return "http://" + (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) + ":" + std::to_string(u.port);
}

OutboundResult http_post(const OutboundRequest& req, const OutboundTimeouts& t) {
  OutboundResult r;
  OutboundUrl u;
  if (!parse_outbound_url(req.url, &u, &r.error)) return r;
  std::string host_header = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  if (u.port != 80) host_header += ":" + std::to_string(u.port);
  std::string wire = "POST " + u.target + " HTTP/1.1\r\nHost: " + host_header +
                     "\r\nUser-Agent: stockd\r\nContent-Type: application/json\r\nConnection: close\r\n";
  for (const auto& [k, v] : req.headers) wire += k + ": " + v + "\r\n";
  wire += "Content-Length: " + std::to_string(req.body.size()) + "\r\n\r\n";
  wire += req.body;

  client::Socket sock;
  client::Endpoint ep{u.host, u.port, ""};
  if (!sock.connect(ep, t.connect_ms, false, &r.error)) return r;
  std::int64_t deadline = store::steady_ms() + t.response_ms;
  sock.set_timeout_ms(t.response_ms);
  if (!sock.write_all(wire, &r.error)) return r;
  std::string in;
  while (in.find("\r\n\r\n") == std::string::npos) {
    std::int64_t left = deadline - store::steady_ms();
    if (left <= 0 || in.size() > kReplyHeadBytesMax) {
      r.error = left <= 0 ? "no reply within " + std::to_string(t.response_ms) + " ms" : "reply head too large";
      return r;
    }
    sock.set_timeout_ms(static_cast<int>(left));
    long n = sock.read_some(&in, 16 * 1024, &r.error);
    if (n < 0) return r;
    if (n == 0) break;  // closed: whatever arrived must hold the status line
  }
  r.status = status_of(in);
  if (r.status == 0) {
    r.error = in.empty() ? "connection closed without a reply" : "malformed reply";
  } else if (!r.ok()) {
    r.error = "HTTP " + std::to_string(r.status);
  } else {
    r.error.clear();
  }
  return r;
}

// The thread starts with every signal blocked (set around its creation, so there is no window): SIGTERM
// and SIGINT must reach the event loop's signalfd, never kill the process through this thread.
OutboundWorker::OutboundWorker(PostFn post) : post_(std::move(post)) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  thread_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

OutboundWorker::~OutboundWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool OutboundWorker::busy() const {
  std::lock_guard lock(mu_);
  return submitted_;
}

void OutboundWorker::submit(OutboundRequest req) {
  {
    std::lock_guard lock(mu_);
    STOCKD_ASSERT(!submitted_);
    submitted_ = true;
    request_ = std::move(req);
  }
  cv_.notify_all();
}

std::optional<OutboundResult> OutboundWorker::take() {
  std::lock_guard lock(mu_);
  if (!result_) return std::nullopt;
  std::optional<OutboundResult> r = std::move(result_);
  result_.reset();
  submitted_ = false;
  return r;
}

void OutboundWorker::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || request_.has_value(); });
    if (stop_) return;
    OutboundRequest req = std::move(*request_);
    request_.reset();
    lock.unlock();
    OutboundResult r = post_(req);
    lock.lock();
    result_ = std::move(r);
  }
}

PostFn default_post(const OutboundTimeouts& t) {
  return [t](const OutboundRequest& r) { return http_post(r, t); };
}

std::function<double()> seeded_uniform01() {
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
}

}  // namespace stockd::server
