#include "client/api_error.h"

#include <array>

namespace stockd::client {
namespace {

constexpr std::array<ApiErrorInfo, 16> kErrors{{
    {"invalid_request", 400, 10, "the request was malformed: check identifiers, quantities and JSON fields"},
    {"unknown_sku", 404, 11, "no such SKU: create it with `stockctl skus put`"},
    {"unknown_channel", 404, 12, "no such channel: create it with `stockctl channels put`"},
    {"unknown_hold", 404, 13, "no such hold (never created, or forgotten after retention)"},
    {"insufficient_stock", 409, 14, "not enough stock available to this channel; nothing was held"},
    {"idempotency_conflict", 409, 15, "this id or ref was already used with a different request"},
    {"limit_exceeded", 409, 16, "a line asks for more than the SKU's max_per_hold; nothing was held"},
    {"invalid_state", 409, 17, "not allowed in the current state (e.g. release a confirmed hold, stock below held)"},
    {"hold_expired", 410, 18, "the hold expired; its units went back to stock"},
    {"channel_frozen", 423, 19, "the channel is frozen and cannot make new holds (`stockctl channels unfreeze`)"},
    {"unauthorized", 401, 20, "a token is required or the token is wrong (--token or STOCKD_TOKEN)"},
    {"forbidden", 403, 21, "this token may not do that (channel tokens act only for their channel)"},
    {"payload_too_large", 413, 22, "the request body is over the server's limit"},
    {"overloaded", 429, 23, "the server's queue is full; nothing was applied, retry later"},
    {"unavailable", 503, 24, "the server's storage failed; nothing was applied"},
    {"precondition_failed", 409, 26, "expect_on_hand differs from the SKU's on_hand (someone else changed it)"},
}};

}  // namespace

std::span<const ApiErrorInfo> api_errors() { return kErrors; }

const ApiErrorInfo* find_api_error(std::string_view code) {
  for (const auto& e : kErrors)
    if (e.code == code) return &e;
  return nullptr;
}

int exit_code_for(std::string_view code) {
  const ApiErrorInfo* e = find_api_error(code);
  return e ? e->exit_code : kExitUnknownCode;
}

ApiError parse_api_error(const HttpResponse& r) {
  ApiError e;
  e.status = r.status;
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& err = j["error"];
    if (err.contains("code") && err["code"].is_string()) e.code = err["code"].get<std::string>();
    if (err.contains("message") && err["message"].is_string()) e.message = err["message"].get<std::string>();
    if (err.contains("details") && err["details"].is_object()) e.details = err["details"];
    return e;
  }
  e.message = r.body.substr(0, 200);
  return e;
}

int exit_code_for(const ApiError& e) {
  if (e.status >= 200 && e.status < 300) return kExitOk;
  if (!e.code.empty()) return exit_code_for(std::string_view(e.code));
  for (const auto& info : kErrors)  // no code in the body: the status alone, when only one code has it
    if (info.status == e.status && (e.status != 404 && e.status != 409)) return info.exit_code;
  return kExitUnknownCode;
}

std::string describe(const ApiError& e) {
  std::string s = "error: ";
  s += e.code.empty() ? "HTTP" : e.code;
  s += " (" + std::to_string(e.status) + ")";
  if (!e.message.empty()) s += ": " + e.message;
  if (!e.details.empty()) {
    s += " [";
    bool first = true;
    for (const auto& [k, v] : e.details.items()) {
      if (!first) s += ' ';
      first = false;
      s += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    }
    s += "]";
  }
  if (const ApiErrorInfo* info = find_api_error(e.code)) {
    s += "\n  ";
    s += info->hint;
  }
  return s;
}

}  // namespace stockd::client
