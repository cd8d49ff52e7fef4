// auth.h: bearer tokens from the config file. An admin token may do everything; a channel's token may
// only create, confirm, release and extend holds of its own channel and read availability (and its own
// holds). With no token configured, everything is allowed.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace stockd::server {

struct Principal {
  enum class Kind : std::uint8_t { none, admin, channel } kind = Kind::none;
  std::string channel;  // kind == channel
  bool admin() const { return kind == Kind::admin; }
  bool may_act_for(std::string_view ch) const { return kind == Kind::admin || (kind == Kind::channel && channel == ch); }
};

class Auth {
 public:
  Auth(std::string admin_token, const std::map<std::string, std::string>& channel_tokens);
  bool enabled() const { return enabled_; }
  // The principal for a token; Kind::none when it matches nothing. Compares in constant time.
  Principal identify(std::string_view token) const;
  // From an HTTP Authorization header value ("Bearer <token>").
  Principal identify_header(std::string_view header) const;

 private:
  bool enabled_ = false;
  std::string admin_;
  std::map<std::string, std::string> by_token_;  // token -> channel
};

}  // namespace stockd::server
