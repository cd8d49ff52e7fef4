// Ctx: one request to stockd and its reply on the terminal (see ctx.h).
#include "apps/stockctl/ctx.h"

#include "client/api_error.h"

namespace stockctl {

using stockd::client::kExitBadReply;
using stockd::client::kExitOk;
using stockd::client::kExitTransport;

bool Ctx::init() {
  stockd::client::Endpoint ep;
  std::string error;
  if (!stockd::client::parse_url(g_.url, &ep, &error)) {
    err_ << "stockctl: --url: " << error << "\n";
    return false;
  }
  client_ = std::make_unique<stockd::client::HttpClient>(
      ep, stockd::client::HttpClientOptions{g_.token, 5000, g_.timeout_s * 1000});
  return true;
}

int Ctx::send(std::string_view method, const std::string& target, const std::string& body, json* reply,
              std::string* raw, int* status, int timeout_ms) {
  if (g_.dry_run) {
    out_ << client_->format_request(method, target, body) << "\n";
    dry_ = true;
    return kExitOk;
  }
  stockd::client::HttpResponse r;
  std::string error;
  if (!client_->request(method, target, body, &r, &error, timeout_ms)) {
    err_ << "stockctl: cannot reach stockd at " << g_.url << ": " << error << "\n";
    return kExitTransport;
  }
  if (status) *status = r.status;
  if (raw) *raw = r.body;
  if (r.status < 200 || r.status > 299) {
    if (g_.json) out_ << r.body << (r.body.ends_with('\n') ? "" : "\n");
    auto e = stockd::client::parse_api_error(r);
    err_ << stockd::client::describe(e) << "\n";
    return stockd::client::exit_code_for(e);
  }
  *reply = json();
  if (r.content_type.find("json") != std::string::npos) {
    *reply = json::parse(r.body, nullptr, false);
    if (reply->is_discarded()) {
      err_ << "stockctl: the server's reply is not valid JSON: " << r.body.substr(0, 200) << "\n";
      return kExitBadReply;
    }
  }
  return kExitOk;
}

int Ctx::exchange(std::string_view method, const std::string& target, const std::string& body,
                  stockd::client::HttpResponse* response) {
  if (g_.dry_run) {
    out_ << client_->format_request(method, target, body) << "\n";
    dry_ = true;
    return kExitOk;
  }
  std::string error;
  if (!client_->request(method, target, body, response, &error)) {
    err_ << "stockctl: cannot reach stockd at " << g_.url << ": " << error << "\n";
    return kExitTransport;
  }
  return kExitOk;
}

int Ctx::show(std::string_view method, const std::string& target, const std::string& body, const Renderer& render) {
  json reply;
  std::string raw;
  int status = 0;
  int rc = send(method, target, body, &reply, &raw, &status);
  if (rc != kExitOk || dry_) return rc;
  if (g_.json) out_ << raw << (raw.ends_with('\n') ? "" : "\n");
  else out_ << render(reply, status);
  return kExitOk;
}

}  // namespace stockctl
