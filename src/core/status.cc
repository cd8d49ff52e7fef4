#include "core/status.h"

namespace stockd::core {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::ok: return "ok";
    case Code::invalid_request: return "invalid_request";
    case Code::unknown_sku: return "unknown_sku";
    case Code::unknown_channel: return "unknown_channel";
    case Code::unknown_hold: return "unknown_hold";
    case Code::insufficient_stock: return "insufficient_stock";
    case Code::idempotency_conflict: return "idempotency_conflict";
    case Code::limit_exceeded: return "limit_exceeded";
    case Code::invalid_state: return "invalid_state";
    case Code::hold_expired: return "hold_expired";
    case Code::channel_frozen: return "channel_frozen";
    case Code::unauthorized: return "unauthorized";
    case Code::forbidden: return "forbidden";
    case Code::payload_too_large: return "payload_too_large";
    case Code::overloaded: return "overloaded";
    case Code::unavailable: return "unavailable";
    case Code::precondition_failed: return "precondition_failed";
  }
  return "internal";
}

int http_status(Code code) {
  switch (code) {
    case Code::ok: return 200;
    case Code::invalid_request: return 400;
    case Code::unknown_sku:
    case Code::unknown_channel:
    case Code::unknown_hold: return 404;
    case Code::insufficient_stock:
    case Code::idempotency_conflict:
    case Code::limit_exceeded:
    case Code::invalid_state:
    case Code::precondition_failed: return 409;
    case Code::hold_expired: return 410;
    case Code::channel_frozen: return 423;
    case Code::unauthorized: return 401;
    case Code::forbidden: return 403;
    case Code::payload_too_large: return 413;
    case Code::overloaded: return 429;
    case Code::unavailable: return 503;
  }
  return 500;
}

}  // namespace stockd::core
