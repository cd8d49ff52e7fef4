// alert.h: what an alert is, how each format renders it, and the rule that an alert fires at most
// once per SKU or channel per state change.
//
// Kinds (the contract's "Alerts"): low_stock, out_of_stock, channel_frozen, delivery_failing,
// exposure_deficit; plus "test" for `stockctl alerts test`. Bodies:
//   json      {"alert":"<kind>","sku"?,"channel"?,"at","message",<the alert's figures>...}
//   dingtalk  {"msgtype":"text","text":{"content":"<text>"}}        (DingTalk custom robot)
//   slack     {"text":"<text>"}                                      (Slack incoming webhook)
//   feishu    {"msg_type":"text","content":{"text":"<text>"}}       (Feishu/Lark custom bot)
// where <text> is "[stockd] <message> (at <time>)": the chat formats carry the same facts as text.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stockd::server {

enum class AlertFormat : std::uint8_t { json, dingtalk, slack, feishu };

std::string_view alert_format_name(AlertFormat f);
std::optional<AlertFormat> parse_alert_format(std::string_view name);

struct Alert {
  std::string kind;     // "low_stock", ...
  std::string sku;      // empty when the alert names no SKU
  std::string channel;  // empty when it names no channel
  std::int64_t at_ms = 0;
  std::string message;  // one line for humans
  std::vector<std::pair<std::string, std::int64_t>> figures;  // e.g. {"available",3}, {"threshold",10}
  std::vector<std::pair<std::string, std::string>> notes;     // e.g. {"error","HTTP 503"}
};

// The request body of `a` in format `f`.
std::string alert_body(const Alert& a, AlertFormat f);

// Deduplication: a (kind, key) pair is armed until it fires; then it stays fired, and fire() refuses
// it, until clear() re-arms it (the state that caused it went away). Keys are SKU or channel names.
// Memory: one entry per pair currently fired (bounded by SKUs and channels).
class AlertLatch {
 public:
  // True when the pair was armed (the alert should be sent); it is now fired.
  bool fire(std::string_view kind, std::string_view key);
  // Re-arms the pair. True when it was fired.
  bool clear(std::string_view kind, std::string_view key);
  bool fired(std::string_view kind, std::string_view key) const;
  bool any(std::string_view kind) const;
  std::size_t size() const { return fired_.size(); }

 private:
  static std::string key_of(std::string_view kind, std::string_view key);
  std::set<std::string> fired_;  // kind '\0' key
};

}  // namespace stockd::server
