#pragma once
// Small cryptographic helpers over OpenSSL: randomness, identifiers, digests and encodings.
// Thread-safe.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace skiff {

// Cryptographically random bytes (OpenSSL RAND_bytes). Aborts if the CSPRNG fails.
std::string RandomBytes(size_t n);
// A random RFC 4122 version-4 UUID, lower case ("3f2c...-...").
std::string NewUid();
// A random opaque token of `bytes` random bytes, base64url without padding.
std::string RandomToken(size_t bytes = 32);

std::string Sha256(std::string_view data);  // raw 32 bytes
// The same digest without an allocation (hot paths: tokens hashed on every request).
std::array<uint8_t, 32> Sha256Digest(std::string_view data);
std::string HexEncode(std::string_view bytes);
std::string Base64UrlEncode(std::string_view bytes);  // no padding
// URL alphabet, padding optional (JWT segments have none). '\r' and '\n' are ignored.
Result<std::string> Base64UrlDecode(std::string_view text);
std::string Base64Encode(std::string_view bytes);  // standard alphabet, padded
// Standard alphabet, padding required, as Go's base64.StdEncoding (Kubernetes Secret data).
// '\r' and '\n' are ignored.
Result<std::string> Base64Decode(std::string_view text);

// Compares in time that depends only on the lengths (eight bytes at a time, no branch on the
// data; an optimizer barrier keeps it from stopping at the first difference).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// SipHash-2-4 (Aumasson & Bernstein): a keyed 64-bit hash (a PRF under a secret 128-bit key).
// With a random key its values cannot be predicted, so it indexes hash tables holding
// client-chosen keys without hash flooding. Not a digest: equal values do not mean equal input.
uint64_t SipHash24(const std::array<uint64_t, 2>& key, std::string_view data);
// SipHash24 under a random key drawn once per process (RAND_bytes, at the first call).
uint64_t ProcessKeyedHash(std::string_view data);

}  // namespace skiff
