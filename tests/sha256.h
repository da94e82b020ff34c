#pragma once
// SHA-256 hex digests (OpenSSL's EVP), to compare with the digests the preprocessing fixtures
// record.
#include <openssl/evp.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace hae::test {

inline std::string sha256Hex(const void* data, size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data, size, digest, &length, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("EVP_Digest(sha256) failed");
  std::string hex;
  char byte[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

}  // namespace hae::test
