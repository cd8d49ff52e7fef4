// status.h: the contract's error codes, their HTTP statuses and their RESP spelling, and Status, the
// one error value of stockd (docs/architecture.md, "Errors").
// Errors are values: every path returns a Status (or a Result<T>, or an Outcome, which is a Status
// plus a command's result); nothing is thrown across layers.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

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
  precondition_failed,  // 409: a batch row's expect_on_hand differs from on_hand (details: actual)
};

// Ok, or one of the contract's codes with a message for the client or the operator (names the field,
// id or file at fault). I/O failures are Code::unavailable.
struct Status {
  Code code = Code::ok;
  std::string message;  // errors only

  bool ok() const { return code == Code::ok; }
  static Status error(Code code, std::string message) { return Status{code, std::move(message)}; }
};

// A value or the Status saying why there is none. Both REQUIRES are checked in every build (abort).
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // implicit: `return value;`
  // REQUIRES: !status.ok().
  Result(Status status) : status_(std::move(status)) {  // implicit: `return Status::error(...);`
    if (status_.ok()) std::abort();
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok().
  T& value() {
    if (!value_) std::abort();
    return *value_;
  }

 private:
  std::optional<T> value_;
  Status status_;
};

// "insufficient_stock", ...: the contract's spelling.
std::string_view code_name(Code code);
// 400, 404, 409, ...; 200 for ok.
int http_status(Code code);

}  // namespace stockd::core
