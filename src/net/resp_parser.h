// resp_parser.h: RESP2 request framing, as Redis reads it: arrays of bulk strings
// ("*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n"), and inline commands ("PING hi\r\n", space or tab separated,
// "\n" alone also ends a line; no quoting: stockd's arguments never hold spaces).
//
// Stateless and zero-copy: every call parses one command at the start of `in`; the arguments are
// string_views into `in`, valid while `in` is. Pipelined commands are parsed one call at a time.
// A partial command costs a rescan of its framing (not of its bulk data) on the next call; the limits
// (net_limits.h: kRespArgsMax, kRespBulkBytesMax, kRespInlineBytesMax) bound that work.
//
// On `error` the caller answers "-ERR Protocol error: <error>\r\n" and closes the connection, as Redis
// does: the framing is lost, nothing after the error can be trusted.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stockd::net {

enum class RespParseStatus : std::uint8_t { ok, incomplete, error };

struct RespParseResult {
  RespParseStatus status = RespParseStatus::incomplete;
  std::size_t consumed = 0;  // ok: bytes of this command; remove them before the next call
  std::string error;         // error: e.g. "invalid bulk length" (Redis's wording)
};

// Parses one command at the start of `in` into *args (cleared first). `ok` with no args is an empty
// command ("\r\n", "*0\r\n"): consume it and go on. The result never depends on how much of the
// input after this command has arrived.
RespParseResult parse_resp_command(std::string_view in, std::vector<std::string_view>* args);

}  // namespace stockd::net
