#include "server/alert.h"

#include "core/json_writer.h"

namespace stockd::server {

namespace json = core::json;

std::string_view alert_format_name(AlertFormat f) {
  switch (f) {
    case AlertFormat::json: return "json";
    case AlertFormat::dingtalk: return "dingtalk";
    case AlertFormat::slack: return "slack";
    case AlertFormat::feishu: return "feishu";
  }
  return "json";
}

std::optional<AlertFormat> parse_alert_format(std::string_view name) {
  for (AlertFormat f : {AlertFormat::json, AlertFormat::dingtalk, AlertFormat::slack, AlertFormat::feishu})
    if (alert_format_name(f) == name) return f;
  return std::nullopt;
}

namespace {

std::string chat_text(const Alert& a) { return "[stockd] " + a.message + " (at " + json::rfc3339_ms(a.at_ms) + ")"; }

void json_body(const Alert& a, std::string& out) {
  out += '{';
  json::append_key(out, "alert");
  json::append_string(out, a.kind);
  if (!a.sku.empty()) {
    out += ',';
    json::append_key(out, "sku");
    json::append_string(out, a.sku);
  }
  if (!a.channel.empty()) {
    out += ',';
    json::append_key(out, "channel");
    json::append_string(out, a.channel);
  }
  out += ',';
  json::append_key(out, "at");
  json::append_time(out, a.at_ms);
  out += ',';
  json::append_key(out, "message");
  json::append_string(out, a.message);
  for (const auto& [k, v] : a.figures) {
    out += ',';
    json::append_key(out, k);
    json::append_int(out, v);
  }
  for (const auto& [k, v] : a.notes) {
    out += ',';
    json::append_key(out, k);
    json::append_string(out, v);
  }
  out += '}';
}

}  // namespace

std::string alert_body(const Alert& a, AlertFormat f) {
  std::string out;
  switch (f) {
    case AlertFormat::json:
      json_body(a, out);
      break;
    case AlertFormat::dingtalk:
      out += "{\"msgtype\":\"text\",\"text\":{\"content\":";
      json::append_string(out, chat_text(a));
      out += "}}";
      break;
    case AlertFormat::slack:
      out += "{\"text\":";
      json::append_string(out, chat_text(a));
      out += '}';
      break;
    case AlertFormat::feishu:
      out += "{\"msg_type\":\"text\",\"content\":{\"text\":";
      json::append_string(out, chat_text(a));
      out += "}}";
      break;
  }
  return out;
}

std::string AlertLatch::key_of(std::string_view kind, std::string_view key) {
  std::string k(kind);
  k += '\0';
  k += key;
  return k;
}

bool AlertLatch::fire(std::string_view kind, std::string_view key) { return fired_.insert(key_of(kind, key)).second; }

bool AlertLatch::clear(std::string_view kind, std::string_view key) { return fired_.erase(key_of(kind, key)) > 0; }

bool AlertLatch::fired(std::string_view kind, std::string_view key) const { return fired_.contains(key_of(kind, key)); }

bool AlertLatch::any(std::string_view kind) const {
  std::string prefix = key_of(kind, "");
  auto it = fired_.lower_bound(prefix);
  return it != fired_.end() && it->starts_with(prefix);
}

}  // namespace stockd::server
