// endpoint.h: where a client connects: "http://127.0.0.1:8080" (HTTP) or "127.0.0.1:6380" (RESP).
// Only plain TCP: stockd serves no TLS (put a proxy in front of it for that).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace stockd::client {

inline constexpr std::uint16_t kDefaultHttpPort = 8080;  // docs/api.md: --http default 127.0.0.1:8080
inline constexpr std::uint16_t kDefaultRespPort = 6380;  // docs/api.md: --resp default 127.0.0.1:6380
inline constexpr const char* kDefaultUrl = "http://127.0.0.1:8080";

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string base_path;  // "" or "/prefix" (no trailing slash), prepended to every request target
};

// "http://host[:port][/prefix]" (the scheme may be left out). False with *error set for anything else
// ("https://..." included).
bool parse_url(std::string_view url, Endpoint* out, std::string* error);
// "host:port" or ":port" (host 127.0.0.1), for RESP.
bool parse_host_port(std::string_view s, std::uint16_t default_port, Endpoint* out, std::string* error);

// "%XX"-escapes everything but the identifier alphabet of the contract (A-Z a-z 0-9 . _ : -).
std::string url_escape(std::string_view s);

}  // namespace stockd::client
