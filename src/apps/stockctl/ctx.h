// ctx.h: what every stockctl subcommand works with: the global options, and Ctx, which sends one
// request to stockd and prints its reply (a table, or the raw body with --json), mapping errors to
// the exit codes of client/api_error.h.
#pragma once
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "client/endpoint.h"
#include "client/http_client.h"

namespace stockctl {

using json = nlohmann::json;

struct Globals {
  std::string url = stockd::client::kDefaultUrl;
  std::string token;
  bool json = false;
  bool dry_run = false;
  int timeout_s = 30;
};

// What one request's reply turns into on a terminal.
using Renderer = std::function<std::string(const json&, int status)>;

class Ctx {
 public:
  Ctx(const Globals& g, std::ostream& out, std::ostream& err) : g_(g), out_(out), err_(err) {}

  // Parses the URL and makes the HTTP client; false (message on err) on a bad --url.
  bool init();

  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  bool json_mode() const { return g_.json; }

  // Sends one request. Returns the exit code; on 2xx *reply holds the parsed body (null when not
  // JSON), unless this is a dry run (the request is printed, nothing sent: dry() becomes true).
  int send(std::string_view method, const std::string& target, const std::string& body, json* reply,
           std::string* raw = nullptr, int* status = nullptr, int timeout_ms = 0);

  bool dry() const { return dry_; }

  // Sends one request and returns the response whatever its status (the caller reads error bodies
  // itself, e.g. a failed atomic batch's 409). kExitOk, or kExitTransport (message on err). A dry run
  // (global --dry-run) prints the request instead, as send() does, and leaves *response empty.
  int exchange(std::string_view method, const std::string& target, const std::string& body,
               stockd::client::HttpResponse* response);

  // Sends and prints: the raw body with --json, else render(reply).
  int show(std::string_view method, const std::string& target, const std::string& body, const Renderer& render);

 private:
  const Globals& g_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<stockd::client::HttpClient> client_;
  bool dry_ = false;
};

inline Renderer plain(std::string (*f)(const json&)) {
  return [f](const json& j, int) { return f(j); };
}

inline std::string sku_path(const std::string& sku) { return "/v1/skus/" + stockd::client::url_escape(sku); }
inline std::string hold_path(const std::string& id) { return "/v1/holds/" + stockd::client::url_escape(id); }

// A subcommand's action, chosen while parsing and run afterwards.
using Action = std::function<int(Ctx&)>;

}  // namespace stockctl
