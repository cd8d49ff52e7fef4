// api_error.h: the contract's error codes as the clients see them: what the server said, a line that
// explains it to a person, and a distinct process exit code per code (stockctl's exit status).
//
// Exit codes (docs/stockctl.md):  0 ok, 2 usage, 3 cannot reach the server, 4 unexpected reply,
//   10 invalid_request, 11 unknown_sku, 12 unknown_channel, 13 unknown_hold, 14 insufficient_stock,
//   15 idempotency_conflict, 16 limit_exceeded, 17 invalid_state, 18 hold_expired, 19 channel_frozen,
//   20 unauthorized, 21 forbidden, 22 payload_too_large, 23 overloaded, 24 unavailable,
//   25 an error code this client does not know, 26 precondition_failed, 30 reconcile found drift.
#pragma once
#include <string>
#include <span>
#include <string_view>

#include <nlohmann/json.hpp>

#include "client/http_response_parser.h"

namespace stockd::client {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitTransport = 3;
inline constexpr int kExitBadReply = 4;
inline constexpr int kExitUnknownCode = 25;
inline constexpr int kExitDrift = 30;

struct ApiErrorInfo {
  std::string_view code;
  int status;      // the HTTP status the contract gives it
  int exit_code;
  std::string_view hint;  // what it means for the person at the terminal
};

// Every error code of the contract, in the contract's order.
std::span<const ApiErrorInfo> api_errors();
// nullptr for a code the contract does not list.
const ApiErrorInfo* find_api_error(std::string_view code);
// The exit code for `code` (kExitUnknownCode when unknown).
int exit_code_for(std::string_view code);

struct ApiError {
  int status = 0;
  std::string code;     // "insufficient_stock"; "" when the body was not the contract's error shape
  std::string message;
  nlohmann::json details = nlohmann::json::object();
};

// Reads the error of a non-2xx response. A body that is not {"error":{...}} gives code "" and the
// body's first bytes as message.
ApiError parse_api_error(const HttpResponse& r);
// "insufficient_stock (409): not enough stock: sku A requested 2 available 1 [sku=A requested=2 available=1]"
// followed by the hint on the next line.
std::string describe(const ApiError& e);
// The exit code for a response: 0 for 2xx, else by its error code (by status when the code is missing).
int exit_code_for(const ApiError& e);

}  // namespace stockd::client
