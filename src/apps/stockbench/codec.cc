#include "apps/stockbench/codec.h"

#include <cctype>

#include "client/api_error.h"
#include "client/resp_reply.h"
#include "core/json_writer.h"

namespace stockbench {

std::string_view code_name(int code) {
  if (code == kCodeOk) return "ok";
  auto errors = stockd::client::api_errors();
  if (code >= 1 && static_cast<std::size_t>(code) <= errors.size()) return errors[static_cast<std::size_t>(code) - 1].code;
  return code == kCodeProtocol ? "protocol_error" : "other_error";
}

int code_from_name(std::string_view name) {
  auto errors = stockd::client::api_errors();
  for (std::size_t i = 0; i < errors.size(); ++i)
    if (errors[i].code == name) return static_cast<int>(i) + 1;
  return kCodeOther;
}

void encode_http(const Op& op, const Names& names, std::string_view host, std::string_view auth, std::string& out) {
  std::string body;
  std::string_view target;
  std::string path;
  switch (op.kind) {
    case OpKind::hold:
    case OpKind::sale:
      body.reserve(160);
      body += "{\"id\":";
      stockd::core::json::append_string(body, op.id);
      body += ",\"channel\":";
      stockd::core::json::append_string(body, names.channels[op.channel]);
      body += ",\"lines\":[{\"sku\":";
      stockd::core::json::append_string(body, names.skus[op.sku]);
      body += ",\"qty\":";
      stockd::core::json::append_int(body, op.qty);
      body += "}]";
      if (op.kind == OpKind::sale) {
        body += ",\"confirm\":true}";
      } else {
        body += ",\"ttl_s\":";
        stockd::core::json::append_int(body, op.ttl_s);
        body += '}';
      }
      target = "/v1/holds";
      break;
    case OpKind::confirm:
    case OpKind::release:
      path = "/v1/holds/" + op.id + (op.kind == OpKind::confirm ? "/confirm" : "/release");
      target = path;
      break;
    case OpKind::auth:
      target = "/healthz";
      break;
  }
  out += op.kind == OpKind::auth ? "GET " : "POST ";
  out += target;
  out += " HTTP/1.1\r\nHost: ";
  out += host;
  out += "\r\n";
  if (!auth.empty()) {
    out += "Authorization: ";
    out += auth;
    out += "\r\n";
  }
  if (!body.empty()) out += "Content-Type: application/json\r\n";
  if (op.kind != OpKind::auth) {
    out += "Content-Length: ";
    out += std::to_string(body.size());
    out += "\r\n";
  }
  out += "\r\n";
  out += body;
}

void encode_resp(const Op& op, const Names& names, std::string_view token, std::string& out) {
  using stockd::client::append_resp_command;
  switch (op.kind) {
    case OpKind::hold: {
      std::string ttl = std::to_string(op.ttl_s), qty = std::to_string(op.qty);
      append_resp_command(out, {"HOLD", op.id, names.channels[op.channel], ttl, names.skus[op.sku], qty});
      break;
    }
    case OpKind::sale: {
      std::string qty = std::to_string(op.qty);
      append_resp_command(out, {"SALE", op.id, names.channels[op.channel], names.skus[op.sku], qty});
      break;
    }
    case OpKind::confirm: append_resp_command(out, {"CONFIRM", op.id}); break;
    case OpKind::release: append_resp_command(out, {"RELEASE", op.id}); break;
    case OpKind::auth: append_resp_command(out, {"AUTH", token}); break;
  }
}

int http_outcome(int status, std::string_view body) {
  if (status >= 200 && status < 300) return kCodeOk;
  constexpr std::string_view kKey = "\"code\":\"";
  auto at = body.find(kKey);
  if (at == std::string_view::npos) return kCodeProtocol;
  body.remove_prefix(at + kKey.size());
  return code_from_name(body.substr(0, body.find('"')));
}

int resp_outcome(bool is_error, std::string_view error_code) {
  if (!is_error) return kCodeOk;
  if (error_code == "ERR") return kCodeProtocol;
  std::string lower(error_code);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return code_from_name(lower);
}

}  // namespace stockbench
