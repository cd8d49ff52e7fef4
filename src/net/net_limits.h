// net_limits.h: the named maxima of the protocol layer (HTTP framing, RESP framing, JSON shape).
// The contract's own limits (ids, quantities, body size) live in core/limits.h; these are the ones only
// the wire formats need. Parsers, tests and fuzzers use these constants; none repeats a literal.
#pragma once
#include <cstddef>

#include "core/limits.h"

namespace stockd::net {

// HTTP/1.1 request head (request line + header lines + the empty line), -> 431.
inline constexpr std::size_t kHttpHeadBytesMax = 16 * 1024;
// The request line alone, -> 414.
inline constexpr std::size_t kHttpRequestLineBytesMax = 8 * 1024;
// Header fields per request, -> 431.
inline constexpr std::size_t kHttpHeadersMax = 100;
// One chunk-size line of a chunked body, extensions included, -> 400.
inline constexpr std::size_t kHttpChunkLineBytesMax = 1024;
// Framing bytes of a chunked body beyond its data (size lines, CRLFs, trailers), -> 413.
// Real clients send chunks of kilobytes; this only stops a body of one-byte chunks from using
// several times the body limit of input buffer.
inline constexpr std::size_t kHttpChunkedOverheadBytesMax = 64 * 1024;

// RESP2 requests (limits as in Redis, smaller where stockd's commands need less).
inline constexpr std::size_t kRespArgsMax = 1024;
inline constexpr std::size_t kRespBulkBytesMax = 1024 * 1024;
inline constexpr std::size_t kRespInlineBytesMax = 64 * 1024;
// "*1024\r\n", "$1048576\r\n": a count line longer than this is a protocol error.
inline constexpr std::size_t kRespCountLineBytesMax = 32;

// JSON request bodies: stockd's bodies nest at most 4 deep; anything deeper is refused before parsing.
inline constexpr std::size_t kJsonDepthMax = 16;
// Client-supplied text quoted back in an error message (an unknown field name) is cut to this.
inline constexpr std::size_t kEchoBytesMax = 64;

}  // namespace stockd::net
