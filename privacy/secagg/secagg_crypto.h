// The cryptographic primitives of secure aggregation (Bonawitz et al., CCS
// 2017), each a thin layer over OpenSSL's EVP interfaces — no cipher of our
// own:
//   - X25519 key agreement, the shared secret run through HKDF-SHA256 with a
//     context string (AgreeKey): the pairwise keys that encrypt key shares
//     and the pairwise mask seeds;
//   - AES-256-GCM with a random 96-bit nonce and associated data (Seal/Open):
//     key shares relayed by a coordinator that must not read or alter them;
//   - AES-256-CTR as the PRG that expands a 32-byte seed into a mask of
//     elements of Z_{2^bits} (ExpandMask);
//   - OpenSSL's CSPRNG for every secret (RandomSecret).
// Secrets live in SecretBytes, wiped with OPENSSL_cleanse when destroyed and
// compared in constant time.
// Thread-safety: free functions and plain values, safe from any thread.
// Errors: AuthError when a peer's key is unusable or a sealed message fails
// authentication (the message says which; never key material); IoError when
// OpenSSL itself fails (the CSPRNG, an allocation).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace fsd::privacy {

// Bytes that must not outlive their use: wiped on destruction and on
// reassignment; == compares in constant time (CRYPTO_memcmp).
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::span<const std::uint8_t> bytes);
  ~SecretBytes();
  SecretBytes(const SecretBytes& other);
  SecretBytes& operator=(const SecretBytes& other);
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;

  std::span<const std::uint8_t> bytes() const { return bytes_; }
  std::span<std::uint8_t> mutable_bytes() { return bytes_; }
  std::size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

  friend bool operator==(const SecretBytes& a, const SecretBytes& b);

 private:
  void Wipe();
  std::vector<std::uint8_t> bytes_;
};

// `size` bytes from OpenSSL's CSPRNG (RAND_bytes).
SecretBytes RandomSecret(std::size_t size);

inline constexpr std::size_t kAgreementKeyBytes = 32;  // X25519 keys and shared secrets
inline constexpr std::size_t kSymmetricKeyBytes = 32;  // AES-256 keys and PRG seeds
inline constexpr std::size_t kSealNonceBytes = 12;
inline constexpr std::size_t kSealTagBytes = 16;
using AgreementPublicKey = std::array<std::uint8_t, kAgreementKeyBytes>;

struct AgreementKeyPair {
  AgreementPublicKey public_key{};
  SecretBytes secret_key;  // 32 bytes
};

// A fresh X25519 key pair.
AgreementKeyPair GenerateAgreementKeyPair();

// The public key of an X25519 secret key (32 bytes).
AgreementPublicKey AgreementPublicKeyOf(const SecretBytes& secret_key);

// HKDF-SHA256(X25519(secret_key, peer), salt = none, info = `info`) → 32
// bytes. Both sides of a pair get the same key for the same `info`.
// AuthError when the peer's key gives an all-zero shared secret (a
// small-order point: a peer trying to force a known key).
SecretBytes AgreeKey(const SecretBytes& secret_key, const AgreementPublicKey& peer,
                     std::string_view info);

// AES-256-GCM under `key` (32 bytes): nonce (12, random) ‖ ciphertext ‖ tag
// (16); `associated` is authenticated, not encrypted (who sent it to whom,
// for which round).
std::vector<std::uint8_t> Seal(const SecretBytes& key, std::span<const std::uint8_t> associated,
                               std::span<const std::uint8_t> plaintext);

// The plaintext of Seal's output. AuthError ("authentication failed") when
// the key, the associated data or any byte differs, or the input is shorter
// than a nonce and a tag.
SecretBytes Open(const SecretBytes& key, std::span<const std::uint8_t> associated,
                 std::span<const std::uint8_t> sealed);

// The mask a seed stands for: the AES-256-CTR keystream under `seed` (32
// bytes; zero IV) read as little-endian 64-bit words, each cut to its low
// `bits` bits (1..64), one per element of `out`. The same seed always gives
// the same mask. REQUIRES: seed of 32 bytes, 1 <= bits <= 64.
void ExpandMask(const SecretBytes& seed, unsigned bits, std::span<std::uint64_t> out);

}  // namespace fsd::privacy
