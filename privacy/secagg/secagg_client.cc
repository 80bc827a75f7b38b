#include "privacy/secagg/secagg_client.h"

#include <openssl/crypto.h>

#include <string>

#include "common/errors.h"
#include "common/wire/sha256.h"
#include "privacy/secagg/ring_vector.h"

namespace fsd::privacy {
namespace {

constexpr std::string_view kShareKeyInfo = "fsd secagg share key";
constexpr std::size_t kSecretBytes = 32;  // b and the s secret key
constexpr std::size_t kShareValues = (kSecretBytes + kShamirChunkBytes - 1) / kShamirChunkBytes;

void AppendLittleEndian(std::vector<std::uint8_t>& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

std::uint64_t ReadLittleEndian(std::span<const std::uint8_t> in, std::size_t at) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | in[at + static_cast<std::size_t>(i)];
  return value;
}

[[noreturn]] void Violation(SecAggId self, const std::string& problem) {
  throw DataError("secure aggregation, client " + std::to_string(self) + ": " + problem);
}

}  // namespace

SecretBytes PairwiseMaskSeed(const SecretBytes& own_mask_secret, const AgreementPublicKey& peer,
                             std::uint64_t round) {
  return AgreeKey(own_mask_secret, peer,
                  "fsd secagg pairwise mask, round " + std::to_string(round));
}

SelfMaskCommitment CommitToSelfMask(const SecretBytes& seed, std::uint64_t round, SecAggId id) {
  const std::string tag = "fsd secagg self-mask commitment";
  std::vector<std::uint8_t> header(tag.begin(), tag.end());
  AppendLittleEndian(header, round, 8);
  AppendLittleEndian(header, id, 4);
  return wire::Sha256({header, seed.bytes()});
}

std::vector<std::uint8_t> ShareAssociatedData(std::uint64_t round, SecAggId from, SecAggId to) {
  const std::string tag = "fsd secagg share";
  std::vector<std::uint8_t> data(tag.begin(), tag.end());
  AppendLittleEndian(data, round, 8);
  AppendLittleEndian(data, from, 4);
  AppendLittleEndian(data, to, 4);
  return data;
}

SecAggClient::SecAggClient(SecAggParameters parameters, SecAggId self,
                           std::vector<SecAggId> neighbours)
    : parameters_(parameters), self_(self), neighbours_(neighbours.begin(), neighbours.end()) {
  FSD_CHECK(self_ != 0 && neighbours_.contains(self_) && parameters_.threshold >= 1 &&
            parameters_.ring_bits >= 1 && parameters_.ring_bits <= 64)
      << "secure aggregation parameters";
}

void SecAggClient::Expect(Stage stage, const char* what) const {
  if (stage_ != stage) Violation(self_, std::string(what) + " requested out of order");
}

AdvertisedKeys SecAggClient::AdvertiseKeys() {
  Expect(Stage::kAdvertise, "AdvertiseKeys");
  encryption_keys_ = GenerateAgreementKeyPair();
  mask_keys_ = GenerateAgreementKeyPair();
  self_mask_seed_ = RandomSecret(kSecretBytes);
  self_mask_commitment_ = CommitToSelfMask(self_mask_seed_, parameters_.round, self_);
  stage_ = Stage::kShareKeys;
  return {self_, encryption_keys_.public_key, mask_keys_.public_key};
}

std::vector<SealedShares> SecAggClient::ShareKeys(std::span<const AdvertisedKeys> roster) {
  Expect(Stage::kShareKeys, "ShareKeys");
  std::set<AgreementPublicKey> keys;
  for (const auto& member : roster) {
    if (!neighbours_.contains(member.id)) {
      Violation(self_, "the roster lists client " + std::to_string(member.id) +
                           ", not a neighbour of this client");
    }
    if (!roster_.emplace(member.id, member).second) {
      Violation(self_, "the roster lists client " + std::to_string(member.id) + " twice");
    }
    if (!keys.insert(member.encryption_key).second || !keys.insert(member.mask_key).second) {
      Violation(self_,
                "the roster repeats a public key (client " + std::to_string(member.id) + ")");
    }
  }
  const auto own = roster_.find(self_);
  if (own == roster_.end() ||
      !(own->second == AdvertisedKeys{self_, encryption_keys_.public_key, mask_keys_.public_key})) {
    Violation(self_, "the roster does not hold this client's own keys");
  }
  if (roster_.size() < static_cast<std::size_t>(parameters_.threshold)) {
    Violation(self_, "the roster has " + std::to_string(roster_.size()) + " members, fewer than " +
                         "the threshold " + std::to_string(parameters_.threshold));
  }
  std::vector<std::uint32_t> points;
  for (const auto& [id, member] : roster_) points.push_back(id);
  const auto seed_shares = ShamirSplit(self_mask_seed_.bytes(), parameters_.threshold, points);
  const auto key_shares = ShamirSplit(mask_keys_.secret_key.bytes(), parameters_.threshold, points);
  std::vector<SealedShares> out;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const SecAggId to = points[i];
    if (to == self_) {
      held_[self_] = {seed_shares[i], key_shares[i]};
      continue;
    }
    std::vector<std::uint8_t> plain;
    for (const auto y : seed_shares[i].y) AppendLittleEndian(plain, y, 8);
    for (const auto y : key_shares[i].y) AppendLittleEndian(plain, y, 8);
    const SecretBytes key =
        AgreeKey(encryption_keys_.secret_key, roster_.at(to).encryption_key, kShareKeyInfo);
    out.push_back({self_, to, Seal(key, ShareAssociatedData(parameters_.round, self_, to), plain)});
    OPENSSL_cleanse(plain.data(), plain.size());
  }
  stage_ = Stage::kMaskedInput;
  return out;
}

std::vector<std::uint64_t> SecAggClient::MaskInput(std::span<const std::uint64_t> input,
                                                   std::span<const SealedShares> received) {
  Expect(Stage::kMaskedInput, "MaskInput");
  FSD_CHECK(input.size() == parameters_.length)
      << input.size() << " values for a vector of " << parameters_.length;
  for (const auto& shares : received) {
    if (shares.to != self_)
      Violation(self_, "received shares addressed to " + std::to_string(shares.to));
    if (shares.from == self_ || !roster_.contains(shares.from) || held_.contains(shares.from) ||
        disputed_.contains(shares.from)) {
      Violation(self_, "received shares from client " + std::to_string(shares.from) +
                           ", who is not a roster member or sent twice");
    }
    const SecretBytes key = AgreeKey(encryption_keys_.secret_key,
                                     roster_.at(shares.from).encryption_key, kShareKeyInfo);
    SecretBytes plain;
    try {
      plain = Open(key, ShareAssociatedData(parameters_.round, shares.from, self_), shares.sealed);
    } catch (const AuthError&) {
      // Its sender (or whoever altered it) broke the seal: disputed, not fatal.
    }
    if (plain.size() != 2 * kShareValues * 8) {
      disputed_.insert(shares.from);
      continue;
    }
    ShamirShare seed_share{self_, {}}, key_share{self_, {}};
    for (std::size_t i = 0; i < kShareValues; ++i) {
      seed_share.y.push_back(ReadLittleEndian(plain.bytes(), 8 * i));
      key_share.y.push_back(ReadLittleEndian(plain.bytes(), 8 * (kShareValues + i)));
    }
    held_[shares.from] = {std::move(seed_share), std::move(key_share)};
  }
  if (held_.size() < static_cast<std::size_t>(parameters_.threshold)) {
    Violation(self_, "shares from " + std::to_string(held_.size()) +
                         " clients (itself included), fewer than the threshold " +
                         std::to_string(parameters_.threshold));
  }
  const unsigned bits = parameters_.ring_bits;
  std::vector<std::uint64_t> masked(input.begin(), input.end());
  std::vector<std::uint64_t> mask(input.size());
  ExpandMask(self_mask_seed_, bits, mask);
  RingAdd(masked, mask, bits);
  // Every sender in U2 — a disputed one too, since it masked with this client.
  std::set<SecAggId> masked_with = disputed_;
  for (const auto& [peer, shares] : held_) masked_with.insert(peer);
  for (const auto peer : masked_with) {
    if (peer == self_) continue;
    ExpandMask(
        PairwiseMaskSeed(mask_keys_.secret_key, roster_.at(peer).mask_key, parameters_.round), bits,
        mask);
    if (AddsPairwiseMask(self_, peer)) {
      RingAdd(masked, mask, bits);
    } else {
      RingSubtract(masked, mask, bits);
    }
  }
  // The secrets are in the shares now; nothing here needs them again.
  self_mask_seed_ = SecretBytes();
  mask_keys_.secret_key = SecretBytes();
  encryption_keys_.secret_key = SecretBytes();
  stage_ = Stage::kUnmask;
  return masked;
}

UnmaskShares SecAggClient::Unmask(std::span<const SecAggId> survivors) {
  // The survivors among this client's neighbours that shared keys with it.
  std::set<SecAggId> survived;
  for (const auto id : survivors) {
    if (!neighbours_.contains(id)) continue;
    if (!held_.contains(id) && !disputed_.contains(id)) {
      Violation(self_, "survivor " + std::to_string(id) + " never shared keys with this client");
    }
    if (!survived.insert(id).second) Violation(self_, "the survivors list repeats an id");
  }
  if (answered_survivors_) {
    if (*answered_survivors_ != survived) {
      Violation(self_,
                "a second unmask request names other survivors: answering it would reveal "
                "both shares of some client");
    }
  } else {
    Expect(Stage::kUnmask, "Unmask");
  }
  if (!survived.contains(self_)) Violation(self_, "the survivors list leaves this client out");
  if (survived.size() < static_cast<std::size_t>(parameters_.threshold)) {
    Violation(self_, std::to_string(survived.size()) + " survivors, fewer than the threshold " +
                         std::to_string(parameters_.threshold));
  }
  UnmaskShares answer;
  answer.from = self_;
  for (const auto& [id, shares] : held_) {
    if (survived.contains(id)) {
      answer.self_mask[id] = shares.first;
    } else {
      answer.mask_key[id] = shares.second;
    }
  }
  answered_survivors_ = survived;
  stage_ = Stage::kDone;
  return answer;
}

}  // namespace fsd::privacy
