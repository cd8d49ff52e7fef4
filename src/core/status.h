// status.h: the contract's error codes, their HTTP statuses and their RESP spelling.
// Errors are values: every request path returns a Code, nothing is thrown.
#pragma once
#include <cstdint>
#include <string_view>

namespace stockd::core {

enum class Code : std::uint8_t {
  ok = 0,
  invalid_request,
  unknown_sku,
  unknown_channel,
  unknown_hold,
  insufficient_stock,
  idempotency_conflict,
  limit_exceeded,
  invalid_state,
  hold_expired,
  channel_frozen,
  unauthorized,
  forbidden,
  payload_too_large,
  overloaded,
  unavailable,
};

// "insufficient_stock", ...: the contract's spelling.
std::string_view code_name(Code code);
// 400, 404, 409, ...; 200 for ok.
int http_status(Code code);

}  // namespace stockd::core
