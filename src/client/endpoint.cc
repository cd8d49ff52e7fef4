#include "client/endpoint.h"

#include <charconv>

namespace stockd::client {
namespace {

bool parse_port(std::string_view s, std::uint16_t* port) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return false;
  *port = static_cast<std::uint16_t>(v);
  return true;
}

}  // namespace

bool parse_host_port(std::string_view s, std::uint16_t default_port, Endpoint* out, std::string* error) {
  Endpoint e;
  e.port = default_port;
  std::string_view host = s;
  if (!s.empty() && s.front() == '[') {  // [::1]:6380
    auto close = s.find(']');
    if (close == std::string_view::npos) {
      *error = "unterminated [ in address '" + std::string(s) + "'";
      return false;
    }
    host = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || !parse_port(rest.substr(1), &e.port)) {
        *error = "bad port in address '" + std::string(s) + "'";
        return false;
      }
    }
  } else if (auto colon = s.rfind(':'); colon != std::string_view::npos) {
    host = s.substr(0, colon);
    if (!parse_port(s.substr(colon + 1), &e.port)) {
      *error = "bad port in address '" + std::string(s) + "'";
      return false;
    }
  }
  e.host = host.empty() ? "127.0.0.1" : std::string(host);
  *out = std::move(e);
  return true;
}

bool parse_url(std::string_view url, Endpoint* out, std::string* error) {
  std::string_view rest = url;
  if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    if (rest.substr(0, scheme) != "http") {
      *error = "only http:// URLs are supported, got '" + std::string(url) + "'";
      return false;
    }
    rest.remove_prefix(scheme + 3);
  }
  std::string_view authority = rest.substr(0, rest.find('/'));
  std::string_view path = rest.substr(authority.size());
  if (authority.empty()) {
    *error = "no host in URL '" + std::string(url) + "'";
    return false;
  }
  if (!parse_host_port(authority, kDefaultHttpPort, out, error)) return false;
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out->base_path = std::string(path);
  return true;
}

std::string url_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == ':' || c == '-';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace stockd::client
