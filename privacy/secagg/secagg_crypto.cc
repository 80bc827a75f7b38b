#include "privacy/secagg/secagg_crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>
#include <string>

#include "common/errors.h"

namespace fsd::privacy {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
struct KdfFree {
  void operator()(EVP_KDF* kdf) const { EVP_KDF_free(kdf); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

[[noreturn]] void OpenSslFailed(const char* what) {
  throw IoError(std::string("OpenSSL: ") + what + " failed");
}

Pkey PrivateKey(const SecretBytes& secret_key) {
  FSD_CHECK(secret_key.size() == kAgreementKeyBytes) << "X25519 secret of " << secret_key.size();
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret_key.bytes().data(),
                                        secret_key.size()));
  if (!key) OpenSslFailed("X25519 private key");
  return key;
}

CipherCtx NewCipher() {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) OpenSslFailed("EVP_CIPHER_CTX_new");
  return ctx;
}

int CheckedInt(std::size_t size) {
  FSD_CHECK(size <= static_cast<std::size_t>(1) << 30) << "buffer of " << size << " bytes";
  return static_cast<int>(size);
}

}  // namespace

SecretBytes::SecretBytes(std::span<const std::uint8_t> bytes)
    : bytes_(bytes.begin(), bytes.end()) {}
SecretBytes::~SecretBytes() { Wipe(); }
SecretBytes::SecretBytes(const SecretBytes& other) : bytes_(other.bytes_) {}
SecretBytes& SecretBytes::operator=(const SecretBytes& other) {
  if (this != &other) {
    Wipe();
    bytes_ = other.bytes_;
  }
  return *this;
}
SecretBytes::SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {
  other.bytes_.clear();
}
SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

void SecretBytes::Wipe() {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
}

bool operator==(const SecretBytes& a, const SecretBytes& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.bytes_.data(), b.bytes_.data(), a.size()) == 0;
}

SecretBytes RandomSecret(std::size_t size) {
  std::vector<std::uint8_t> buffer(size);
  if (size > 0 && RAND_bytes(buffer.data(), CheckedInt(size)) != 1) OpenSslFailed("RAND_bytes");
  SecretBytes secret(buffer);
  OPENSSL_cleanse(buffer.data(), buffer.size());
  return secret;
}

AgreementKeyPair GenerateAgreementKeyPair() {
  AgreementKeyPair pair;
  pair.secret_key = RandomSecret(kAgreementKeyBytes);
  pair.public_key = AgreementPublicKeyOf(pair.secret_key);
  return pair;
}

AgreementPublicKey AgreementPublicKeyOf(const SecretBytes& secret_key) {
  const Pkey key = PrivateKey(secret_key);
  AgreementPublicKey public_key{};
  std::size_t length = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length) != 1 ||
      length != public_key.size()) {
    OpenSslFailed("X25519 public key");
  }
  return public_key;
}

SecretBytes AgreeKey(const SecretBytes& secret_key, const AgreementPublicKey& peer,
                     std::string_view info) {
  const Pkey own = PrivateKey(secret_key);
  const Pkey peer_key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()));
  if (!peer_key) throw AuthError("secure aggregation: a peer's X25519 public key is invalid");
  const PkeyCtx ctx(EVP_PKEY_CTX_new(own.get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) OpenSslFailed("X25519 derive init");
  std::array<std::uint8_t, kAgreementKeyBytes> shared{};
  std::size_t length = shared.size();
  const bool derived = EVP_PKEY_derive_set_peer(ctx.get(), peer_key.get()) == 1 &&
                       EVP_PKEY_derive(ctx.get(), shared.data(), &length) == 1 &&
                       length == shared.size();
  const bool all_zero = std::all_of(shared.begin(), shared.end(), [](auto b) { return b == 0; });
  if (!derived || all_zero) {
    OPENSSL_cleanse(shared.data(), shared.size());
    throw AuthError(
        "secure aggregation: a peer's X25519 public key gives no shared secret (small-order "
        "point)");
  }
  std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> kdf_ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  if (!kdf_ctx) OpenSslFailed("HKDF fetch");
  char digest[] = "SHA256";
  std::string info_copy(info);
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared.data(), shared.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info_copy.data(), info_copy.size()),
      OSSL_PARAM_construct_end()};
  std::vector<std::uint8_t> out(kSymmetricKeyBytes);
  const bool ok = EVP_KDF_derive(kdf_ctx.get(), out.data(), out.size(), params) == 1;
  OPENSSL_cleanse(shared.data(), shared.size());
  if (!ok) OpenSslFailed("HKDF-SHA256");
  SecretBytes key(out);
  OPENSSL_cleanse(out.data(), out.size());
  return key;
}

std::vector<std::uint8_t> Seal(const SecretBytes& key, std::span<const std::uint8_t> associated,
                               std::span<const std::uint8_t> plaintext) {
  FSD_CHECK(key.size() == kSymmetricKeyBytes) << "AES-256 key of " << key.size();
  std::vector<std::uint8_t> sealed(kSealNonceBytes + plaintext.size() + kSealTagBytes);
  if (RAND_bytes(sealed.data(), kSealNonceBytes) != 1) OpenSslFailed("RAND_bytes");
  const CipherCtx ctx = NewCipher();
  int length = 0;
  std::uint8_t* body = sealed.data() + kSealNonceBytes;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes().data(),
                         sealed.data()) != 1 ||
      (!associated.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &length, associated.data(),
                                                CheckedInt(associated.size())) != 1) ||
      (!plaintext.empty() && EVP_EncryptUpdate(ctx.get(), body, &length, plaintext.data(),
                                               CheckedInt(plaintext.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx.get(), body + plaintext.size(), &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kSealTagBytes,
                          body + plaintext.size()) != 1) {
    OpenSslFailed("AES-256-GCM encrypt");
  }
  return sealed;
}

SecretBytes Open(const SecretBytes& key, std::span<const std::uint8_t> associated,
                 std::span<const std::uint8_t> sealed) {
  FSD_CHECK(key.size() == kSymmetricKeyBytes) << "AES-256 key of " << key.size();
  if (sealed.size() < kSealNonceBytes + kSealTagBytes) {
    throw AuthError("secure aggregation: sealed message of " + std::to_string(sealed.size()) +
                    " bytes is shorter than a nonce and a tag");
  }
  const std::size_t body_size = sealed.size() - kSealNonceBytes - kSealTagBytes;
  std::vector<std::uint8_t> plain(body_size);
  std::array<std::uint8_t, kSealTagBytes> tag{};
  std::copy_n(sealed.end() - kSealTagBytes, kSealTagBytes, tag.begin());
  const CipherCtx ctx = NewCipher();
  int length = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes().data(),
                         sealed.data()) != 1 ||
      (!associated.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &length, associated.data(),
                                                CheckedInt(associated.size())) != 1) ||
      (body_size > 0 &&
       EVP_DecryptUpdate(ctx.get(), plain.data(), &length, sealed.data() + kSealNonceBytes,
                         CheckedInt(body_size)) != 1) ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kSealTagBytes, tag.data()) != 1) {
    OpenSslFailed("AES-256-GCM decrypt");
  }
  std::array<std::uint8_t, 16> final_block{};
  const bool authentic = EVP_DecryptFinal_ex(ctx.get(), final_block.data(), &length) == 1;
  if (!authentic) {
    OPENSSL_cleanse(plain.data(), plain.size());
    throw AuthError(
        "secure aggregation: sealed message failed authentication (tampered, or "
        "not sealed for this pair and round)");
  }
  SecretBytes opened(plain);
  OPENSSL_cleanse(plain.data(), plain.size());
  return opened;
}

void ExpandMask(const SecretBytes& seed, unsigned bits, std::span<std::uint64_t> out) {
  FSD_CHECK(seed.size() == kSymmetricKeyBytes) << "PRG seed of " << seed.size();
  FSD_CHECK(bits >= 1 && bits <= 64) << "mask of " << bits << " bits";
  const CipherCtx ctx = NewCipher();
  const std::array<std::uint8_t, 16> iv{};
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ctr(), nullptr, seed.bytes().data(), iv.data()) !=
      1) {
    OpenSslFailed("AES-256-CTR init");
  }
  const std::uint64_t keep = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
  // The keystream is AES-CTR over zeros, in chunks to bound the buffer.
  constexpr std::size_t kChunk = 4096;
  std::vector<std::uint8_t> zeros(kChunk * 8, 0), stream(kChunk * 8);
  for (std::size_t start = 0; start < out.size(); start += kChunk) {
    const std::size_t count = std::min(kChunk, out.size() - start);
    int length = 0;
    if (EVP_EncryptUpdate(ctx.get(), stream.data(), &length, zeros.data(),
                          static_cast<int>(count * 8)) != 1) {
      OpenSslFailed("AES-256-CTR");
    }
    for (std::size_t i = 0; i < count; ++i) {
      std::uint64_t word = 0;
      for (int b = 7; b >= 0; --b) word = (word << 8) | stream[i * 8 + static_cast<std::size_t>(b)];
      out[start + i] = word & keep;
    }
  }
  OPENSSL_cleanse(stream.data(), stream.size());
}

}  // namespace fsd::privacy
