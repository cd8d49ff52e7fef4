// hmac.h: the webhook signature: HMAC-SHA256 of the exact body bytes with a channel's secret, as
// lowercase hex (OpenSSL libcrypto's one-shot HMAC(), not deprecated in OpenSSL 3).
#pragma once
#include <string>
#include <string_view>

namespace stockd::server {

// 64 lowercase hex digits.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// The X-Stockd-Signature header's value: "sha256=" + hmac_sha256_hex(secret, body).
std::string webhook_signature(std::string_view secret, std::string_view body);

}  // namespace stockd::server
