// resp_reply.h: RESP2 on the client side: commands out (arrays of bulk strings), replies in.
//
// parse_resp_reply is stateless and incremental like the server's parser: one reply at the start of
// `in`, or `incomplete`. Nested arrays are bounded by kRespReplyDepthMax and kRespReplyElementsMax.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stockd::client {

inline constexpr std::size_t kRespReplyDepthMax = 8;
inline constexpr std::int64_t kRespReplyElementsMax = 1 << 20;
inline constexpr std::int64_t kRespReplyBulkBytesMax = 512LL * 1024 * 1024;

enum class RespType : std::uint8_t { simple, error, integer, bulk, null, array };

struct RespReply {
  RespType type = RespType::null;
  std::string str;        // simple, error (without the '-'), bulk
  std::int64_t integer = 0;
  std::vector<RespReply> elements;  // array

  bool is_error() const { return type == RespType::error; }
  // The first word of an error ("INSUFFICIENT_STOCK", "ERR"); empty when not an error.
  std::string_view error_code() const;
};

// Appends *N\r\n$len\r\narg\r\n...
void append_resp_command(std::string& out, std::span<const std::string_view> args);
void append_resp_command(std::string& out, std::initializer_list<std::string_view> args);

enum class RespReplyStatus : std::uint8_t { ok, incomplete, error };

struct RespReplyResult {
  RespReplyStatus status = RespReplyStatus::incomplete;
  std::size_t consumed = 0;
  std::string error;
};

RespReplyResult parse_resp_reply(std::string_view in, RespReply* out);

}  // namespace stockd::client
