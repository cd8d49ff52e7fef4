// resp_writer.h: RESP2 replies appended to a connection's output buffer.
// Text written as a simple string or error has any CR or LF replaced by a space (it cannot hold them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace stockd::net::resp {

void simple_string(std::string& out, std::string_view s);  // +s\r\n
// -PREFIX message\r\n (just -PREFIX\r\n when message is empty). PREFIX: "ERR", "WRONGTYPE", ...
void error(std::string& out, std::string_view prefix, std::string_view message);
// The contract's code in upper case: -INSUFFICIENT_STOCK message\r\n
void error(std::string& out, core::Code code, std::string_view message);
void integer(std::string& out, std::int64_t v);           // :v\r\n
void bulk_string(std::string& out, std::string_view s);   // $len\r\ns\r\n (binary-safe)
void null_bulk(std::string& out);                          // $-1\r\n
void array_header(std::string& out, std::size_t count);    // *count\r\n, then `count` replies
void null_array(std::string& out);                         // *-1\r\n

}  // namespace stockd::net::resp
