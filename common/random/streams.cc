#include "common/random/streams.h"

#include <openssl/evp.h>

#include <array>
#include <cstring>
#include <memory>
#include <vector>

#include "common/errors.h"

namespace fsd::random {
namespace {

constexpr std::string_view kDomain = "fsd random stream v1";
constexpr std::size_t kMaxName = 64;

struct DigestContext {
  DigestContext() : md(EVP_MD_fetch(nullptr, "SHA256", nullptr)), ctx(EVP_MD_CTX_new()) {
    FSD_CHECK(md != nullptr && ctx != nullptr) << "OpenSSL: no SHA-256";
  }
  ~DigestContext() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
  DigestContext(const DigestContext&) = delete;
  DigestContext& operator=(const DigestContext&) = delete;
  EVP_MD* md;
  EVP_MD_CTX* ctx;
};

void PutU64(std::uint8_t* out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

std::uint64_t Digest64(std::span<const std::uint8_t> message) {
  thread_local DigestContext digest;
  std::array<std::uint8_t, 32> out{};
  unsigned int length = 0;
  FSD_CHECK(EVP_DigestInit_ex2(digest.ctx, digest.md, nullptr) == 1 &&
            EVP_DigestUpdate(digest.ctx, message.data(), message.size()) == 1 &&
            EVP_DigestFinal_ex(digest.ctx, out.data(), &length) == 1)
      << "OpenSSL: SHA-256 failed";
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<std::uint64_t>(out[i]) << (8 * i);
  return value;
}

}  // namespace

std::uint64_t DeriveSeed(std::uint64_t seed, const StreamId& id) {
  FSD_CHECK(id.name.size() <= kMaxName) << "random stream name of " << id.name.size() << " bytes";
  // domain ‖ seed ‖ |name| ‖ name ‖ round ‖ client ‖ epoch ‖ attempt: every
  // field fixed-width or length-prefixed, so distinct ids never encode alike.
  std::array<std::uint8_t, kDomain.size() + 8 + 1 + kMaxName + 32> message{};
  std::size_t at = 0;
  std::memcpy(message.data(), kDomain.data(), kDomain.size());
  at += kDomain.size();
  PutU64(message.data() + at, seed);
  at += 8;
  message[at++] = static_cast<std::uint8_t>(id.name.size());
  std::memcpy(message.data() + at, id.name.data(), id.name.size());
  at += id.name.size();
  for (const std::uint64_t field : {id.round, id.client, id.epoch, id.attempt}) {
    PutU64(message.data() + at, field);
    at += 8;
  }
  return Digest64(std::span(message.data(), at));
}

std::uint64_t ClientNumber(std::string_view name) {
  constexpr std::string_view kClientDomain = "fsd client number v1";
  std::vector<std::uint8_t> message(kClientDomain.begin(), kClientDomain.end());
  message.insert(message.end(), name.begin(), name.end());
  return Digest64(message);
}

std::uint64_t UniformBelow(Engine& engine, std::uint64_t n) {
  FSD_CHECK(n > 0) << "UniformBelow(0)";
  // Values below 2^64 mod n would make small results likelier: redraw them.
  const std::uint64_t threshold = (0 - n) % n;
  std::uint64_t x = engine();
  while (x < threshold) x = engine();
  return x % n;
}

double Uniform01(Engine& engine) { return static_cast<double>(engine() >> 11) * 0x1.0p-53; }

}  // namespace fsd::random
