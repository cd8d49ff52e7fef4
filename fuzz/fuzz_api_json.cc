// Fuzzes the JSON API: every body decoder on the input, then for what decodes, the round trip through
// encode_command_body (decode -> encode -> decode -> encode gives the same body) and the renderers on
// views built from it; for what does not decode, the error reply. Every rendered reply must be valid JSON.
// Also the string escaper (valid JSON for any bytes, exact for valid UTF-8) and the RFC 3339 formatter.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz_check.h"
#include "net/api_json.h"
#include "net/event_record.h"
#include "core/json_writer.h"

namespace {

using namespace stockd;
using core::Code;
using Decoder = core::Status (*)(std::string_view body, core::Command*);

const Decoder kDecoders[] = {
    [](std::string_view b, core::Command* c) { return net::decode_put_channel("app", b, c); },
    [](std::string_view b, core::Command* c) { return net::decode_put_sku("A", b, c); },
    [](std::string_view b, core::Command* c) { return net::decode_adjust("A", b, c); },
    [](std::string_view b, core::Command* c) { return net::decode_set_allocation("A", b, c); },
    [](std::string_view b, core::Command* c) { return net::decode_create_hold(b, c); },
    [](std::string_view b, core::Command* c) { return net::decode_confirm("h-1", b, c); },
    [](std::string_view b, core::Command* c) { return net::decode_release("h-1", b, c); },
    [](std::string_view b, core::Command* c) { return net::decode_extend("h-1", b, c); },
    [](std::string_view b, core::Command* c) { return net::decode_stock_batch(b, c); },
};

bool valid_json(const std::string& s) { return nlohmann::json::accept(s); }

// A hold view of a decoded CreateHold, rendered: the lines must come back as they went in.
void render_hold_of(const core::CreateHold& h, std::int64_t t) {
  core::HoldView v;
  v.id = h.id;
  v.channel = h.channel;
  v.state = h.confirm ? core::HoldState::confirmed : core::HoldState::held;
  for (const auto& l : h.lines) v.lines.push_back({l.sku, l.qty});
  v.created_at_ms = t;
  v.expires_at_ms = t + 1000 * h.ttl_s.value_or(0);
  v.finished_at_ms = t;
  std::string out;
  net::render_hold(out, v);
  auto j = nlohmann::json::parse(out, nullptr, false);
  FUZZ_CHECK(!j.is_discarded());
  FUZZ_CHECK(j["lines"].size() == h.lines.size());
  for (std::size_t i = 0; i < h.lines.size(); ++i) FUZZ_CHECK(j["lines"][i]["qty"] == h.lines[i].qty);
}

void check_decoder(Decoder d, std::string_view body, std::int64_t t) {
  core::Command cmd;
  core::Status st = d(body, &cmd);
  if (!st.ok()) {
    FUZZ_CHECK(st.code == Code::invalid_request && !st.message.empty());
    std::string out;
    net::render_error(out, st.code, st.message);
    FUZZ_CHECK(valid_json(out));
    return;
  }
  FUZZ_CHECK(core::validate(cmd, nullptr) == Code::ok);
  std::string enc;
  net::encode_command_body(cmd, enc);
  core::Command again;
  FUZZ_CHECK(d(enc, &again).ok());
  std::string enc2;
  net::encode_command_body(again, enc2);
  FUZZ_CHECK(enc == enc2);
  if (const auto* h = std::get_if<core::CreateHold>(&cmd)) render_hold_of(*h, t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  std::int64_t t = 0;
  std::memcpy(&t, data, size < sizeof t ? size : sizeof t);
  for (Decoder d : kDecoders) check_decoder(d, body, t);
  // a path parameter taken from the input
  core::Command cmd;
  if (net::decode_put_sku(body.substr(0, 8), "{}", &cmd).ok())
    FUZZ_CHECK(std::get<core::PutSku>(cmd).sku == body.substr(0, 8));

  std::string out;
  core::json::append_string(out, body);
  auto j = nlohmann::json::parse(out, nullptr, false);
  FUZZ_CHECK(!j.is_discarded());
  if (out.find("\\ufffd") == std::string::npos) FUZZ_CHECK(j.get<std::string>() == body);

  char buf[core::json::kRfc3339Bytes];
  core::json::format_rfc3339_ms(t, buf);
  FUZZ_CHECK(buf[4] == '-' && buf[7] == '-' && buf[10] == 'T' && buf[13] == ':' && buf[16] == ':' &&
             buf[19] == '.' && buf[23] == 'Z');

  net::EventRecord r;
  r.seq = static_cast<std::uint64_t>(t);
  r.type = static_cast<core::EventType>(size % 8);
  r.at_ms = t;
  r.sku = r.channel = r.hold = r.reason = r.ref = std::string(body.substr(0, 64));
  out.clear();
  net::render_event(r, out);
  FUZZ_CHECK(valid_json(out));
  return 0;
}
