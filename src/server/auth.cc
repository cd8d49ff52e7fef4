#include "server/auth.h"

namespace stockd::server {
namespace {
// Constant-time comparison so that response timing does not reveal how much of a token matched.
bool same(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}
}  // namespace

Auth::Auth(std::string admin_token, const std::map<std::string, std::string>& channel_tokens)
    : admin_(std::move(admin_token)) {
  for (const auto& [ch, tok] : channel_tokens)
    if (!tok.empty()) by_token_[tok] = ch;
  enabled_ = !admin_.empty() || !by_token_.empty();
}

Principal Auth::identify(std::string_view token) const {
  Principal p;
  if (token.empty()) return p;
  if (!admin_.empty() && same(token, admin_)) {
    p.kind = Principal::Kind::admin;
    return p;
  }
  for (const auto& [tok, ch] : by_token_) {
    if (same(token, tok)) {
      p.kind = Principal::Kind::channel;
      p.channel = ch;
    }
  }
  return p;
}

Principal Auth::identify_header(std::string_view header) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size()) return {};
  for (std::size_t i = 0; i < kBearer.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != std::tolower(static_cast<unsigned char>(kBearer[i])))
      return {};
  return identify(header.substr(kBearer.size()));
}

}  // namespace stockd::server
