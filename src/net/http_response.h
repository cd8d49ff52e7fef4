// http_response.h: HTTP/1.1 responses appended to a connection's output buffer.
// Many responses can be appended to one buffer and written with one syscall (pipelining, batches).
// The caller guarantees that `content_type` and `extra_headers` hold no CR/LF except that every line of
// `extra_headers` ends in CRLF ("Retry-After: 1\r\n").
#pragma once
#include <string>
#include <string_view>

namespace stockd::net {

inline constexpr std::string_view kJsonContentType = "application/json";

// "OK", "Created", "Bad Request", ... ("Unknown" for a status without a phrase here).
std::string_view reason_phrase(int status);

// Appends status line, Content-Type, Content-Length, Connection: keep-alive|close, then the body.
// `keep_alive` false also tells the caller to close after writing (the response says Connection: close).
void append_response(std::string& out, int status, std::string_view body, bool keep_alive,
                     std::string_view content_type = kJsonContentType, std::string_view extra_headers = {});

// "HTTP/1.1 100 Continue\r\n\r\n": the interim answer to Expect: 100-continue.
void append_continue(std::string& out);

}  // namespace stockd::net
