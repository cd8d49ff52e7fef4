#include "server/hmac.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/assert.h"

namespace stockd::server {

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // An empty key is legal HMAC (zero-padded block); OpenSSL wants a non-null pointer for it.
  static const char kEmpty = 0;
  const unsigned char* out = HMAC(EVP_sha256(), key.empty() ? &kEmpty : key.data(), static_cast<int>(key.size()),
                                  reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  STOCKD_ASSERT(out != nullptr && len == 32);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * len, '0');
  for (unsigned int i = 0; i < len; ++i) {
    hex[2 * i] = kHex[md[i] >> 4];
    hex[2 * i + 1] = kHex[md[i] & 15];
  }
  return hex;
}

std::string webhook_signature(std::string_view secret, std::string_view body) {
  return "sha256=" + hmac_sha256_hex(secret, body);
}

}  // namespace stockd::server
