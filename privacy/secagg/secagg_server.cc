#include "privacy/secagg/secagg_server.h"

#include <algorithm>

#include "common/errors.h"
#include "privacy/secagg/ring_vector.h"

namespace fsd::privacy {


SecAggServer::SecAggServer(SecAggParameters parameters, SecAggGraph graph,
                           std::set<SecAggId> cohort)
    : parameters_(parameters), graph_(std::move(graph)), cohort_(std::move(cohort)) {
  FSD_CHECK(parameters_.threshold >= 1 && parameters_.ring_bits >= 1 &&
            parameters_.ring_bits <= 64 && !cohort_.contains(0))
      << "secure aggregation parameters";
}

void SecAggServer::Expect(Stage stage, const char* what) const {
  FSD_CHECK(stage_ == stage) << "secure aggregation: " << what << " in stage "
                             << static_cast<int>(stage_);
}

void SecAggServer::Refuse(SecAggId from, const std::string& problem) const {
  throw DataError("secure aggregation, round " + std::to_string(parameters_.round) + ", client " +
                  std::to_string(from) + ": " + problem);
}

bool SecAggServer::Fail(const std::string& reason) {
  failure_reason_ =
      "secure aggregation, round " + std::to_string(parameters_.round) + ": " + reason;
  stage_ = Stage::kFailed;
  return false;
}

bool SecAggServer::EnoughLeft(std::size_t left, const char* stage) {
  if (left >= static_cast<std::size_t>(parameters_.threshold)) return true;
  return Fail(std::to_string(left) + " clients " + stage + ", fewer than the threshold " +
              std::to_string(parameters_.threshold));
}

void SecAggServer::AcceptKeys(const AdvertisedKeys& keys,
                              const SelfMaskCommitment& self_mask_commitment) {
  Expect(Stage::kAdvertise, "AcceptKeys");
  if (!cohort_.contains(keys.id)) Refuse(keys.id, "not in this round's cohort");
  if (roster_.contains(keys.id)) Refuse(keys.id, "advertised keys twice");
  for (const auto& [id, other] : roster_) {
    const bool reused = other.encryption_key == keys.encryption_key ||
                        other.mask_key == keys.mask_key || other.encryption_key == keys.mask_key ||
                        other.mask_key == keys.encryption_key;
    if (reused)
      Refuse(keys.id, "advertised a public key that client " + std::to_string(id) + " uses");
  }
  if (keys.encryption_key == keys.mask_key) Refuse(keys.id, "advertised one key for both uses");
  roster_[keys.id] = keys;
  commitments_[keys.id] = self_mask_commitment;
}

bool SecAggServer::CloseAdvertise() {
  Expect(Stage::kAdvertise, "CloseAdvertise");
  stage_ = Stage::kShareKeys;
  return EnoughLeft(roster_.size(), "advertised keys");
}

void SecAggServer::AcceptShares(SecAggId from, std::vector<SealedShares> shares) {
  Expect(Stage::kShareKeys, "AcceptShares");
  if (!roster_.contains(from)) Refuse(from, "sent shares without advertising keys");
  if (shares_.contains(from)) Refuse(from, "sent its shares twice");
  std::set<SecAggId> recipients;
  for (const auto& share : shares) {
    if (share.from != from)
      Refuse(from, "sent a share labelled as from " + std::to_string(share.from));
    if (share.to == from || !roster_.contains(share.to) || !graph_.AreNeighbours(from, share.to) ||
        !recipients.insert(share.to).second) {
      Refuse(from, "sent a share for " + std::to_string(share.to) +
                       ", not another member of its roster or twice");
    }
  }
  const std::size_t roster = RosterFor(from).size();
  if (recipients.size() + 1 != roster) {
    Refuse(from, "sent " + std::to_string(recipients.size()) + " shares for a roster of " +
                     std::to_string(roster));
  }
  shares_[from] = std::move(shares);
}

bool SecAggServer::CloseShareKeys() {
  Expect(Stage::kShareKeys, "CloseShareKeys");
  for (const auto& [id, shares] : shares_) sharers_.insert(id);
  stage_ = Stage::kMaskedInput;
  return EnoughLeft(sharers_.size(), "shared keys");
}

std::vector<AdvertisedKeys> SecAggServer::RosterFor(SecAggId id) const {
  std::vector<AdvertisedKeys> roster;
  for (const auto neighbour : graph_.Neighbours(id)) {
    const auto keys = roster_.find(neighbour);
    if (keys != roster_.end()) roster.push_back(keys->second);
  }
  return roster;
}

std::vector<SealedShares> SecAggServer::SharesFor(SecAggId to) const {
  std::vector<SealedShares> out;
  if (!sharers_.contains(to)) return out;
  for (const auto& [from, shares] : shares_) {
    for (const auto& share : shares) {
      if (share.to == to) out.push_back(share);
    }
  }
  return out;
}

void SecAggServer::AcceptMaskedInput(SecAggId from, std::vector<std::uint64_t> masked,
                                     const std::set<SecAggId>& disputed) {
  Expect(Stage::kMaskedInput, "AcceptMaskedInput");
  if (!sharers_.contains(from)) Refuse(from, "sent a masked input without sharing keys");
  if (masked_.contains(from)) Refuse(from, "sent its masked input twice");
  if (masked.size() != parameters_.length) {
    Refuse(from, "sent " + std::to_string(masked.size()) + " masked values, the round has " +
                     std::to_string(parameters_.length));
  }
  const unsigned bits = parameters_.ring_bits;
  if (bits < 64 && std::any_of(masked.begin(), masked.end(),
                               [&](std::uint64_t v) { return (v >> bits) != 0; })) {
    Refuse(from, "sent a value outside the ring of " + std::to_string(bits) + " bits");
  }
  for (const auto id : disputed) {
    if (id == from || !sharers_.contains(id) || !graph_.AreNeighbours(from, id)) {
      Refuse(from, "disputes the shares of client " + std::to_string(id) +
                       ", who sent it none (not a neighbour in U2)");
    }
  }
  masked_[from] = std::move(masked);
  if (!disputed.empty()) disputes_[from] = disputed;
}

bool SecAggServer::CloseMaskedInput() {
  Expect(Stage::kMaskedInput, "CloseMaskedInput");
  for (const auto& [id, masked] : masked_) survivors_.push_back(id);
  stage_ = Stage::kUnmask;
  return EnoughLeft(survivors_.size(), "sent masked inputs");
}

void SecAggServer::AcceptUnmask(const UnmaskShares& shares) {
  Expect(Stage::kUnmask, "AcceptUnmask");
  const SecAggId from = shares.from;
  if (!masked_.contains(from)) Refuse(from, "sent unmask shares without a masked input");
  if (unmasked_.contains(from)) Refuse(from, "sent its unmask shares twice");
  // Exactly, over its neighbours in U2: a self-mask share of every survivor,
  // a key share of every one that is not.
  std::size_t self_mask = 0, mask_key = 0;
  const auto disputed = disputes_.find(from);
  for (const auto id : graph_.Neighbours(from)) {
    if (!sharers_.contains(id)) continue;
    if (disputed != disputes_.end() && disputed->second.contains(id)) continue;  // holds none
    const bool survived = masked_.contains(id);
    const auto& wanted = survived ? shares.self_mask : shares.mask_key;
    const auto& unwanted = survived ? shares.mask_key : shares.self_mask;
    const auto share = wanted.find(id);
    if (share == wanted.end() || unwanted.contains(id)) {
      Refuse(from, std::string("unmask shares for client ") + std::to_string(id) +
                       " are missing or of the wrong kind");
    }
    if (share->second.x != from) Refuse(from, "sent a share that is not its own");
    ++(survived ? self_mask : mask_key);
  }
  if (self_mask != shares.self_mask.size() || mask_key != shares.mask_key.size()) {
    Refuse(from, "sent unmask shares for clients outside the round");
  }
  unmasked_[from] = shares;
}

bool SecAggServer::Finish() {
  Expect(Stage::kUnmask, "Finish");
  if (!EnoughLeft(unmasked_.size(), "answered the unmask request")) return false;
  const int threshold = parameters_.threshold;
  const unsigned bits = parameters_.ring_bits;
  sum_.assign(parameters_.length, 0);
  for (const auto& [id, masked] : masked_) RingAdd(sum_, masked, bits);
  std::vector<std::uint64_t> mask(parameters_.length);
  std::set<SecAggId> culprits;
  std::string unreconstructed;  // the first secret that could not be reconstructed
  for (const auto& [owner, keys] : roster_) {
    if (!sharers_.contains(owner)) continue;
    const bool survived = masked_.contains(owner);
    // The shares its neighbours that answered hold (a share's x is its holder's id).
    std::vector<ShamirShare> shares;
    for (const auto& [responder, answer] : unmasked_) {
      const auto& held = survived ? answer.self_mask : answer.mask_key;
      const auto share = held.find(owner);
      if (share != held.end()) shares.push_back(share->second);
    }
    if (shares.size() < static_cast<std::size_t>(threshold)) {
      sum_.clear();
      return Fail("only " + std::to_string(shares.size()) + " neighbours of client " +
                  std::to_string(owner) + " answered, fewer than the threshold " +
                  std::to_string(threshold));
    }
    // A survivor's self-mask seed must match its commitment; a dropped
    // client's mask key the public key it advertised. Shares off the
    // verified secret's polynomial name their holders.
    const auto verify = [&](const SecretBytes& secret) {
      return survived ? CommitToSelfMask(secret, parameters_.round, owner) ==
                            commitments_.at(owner)
                      : AgreementPublicKeyOf(secret) == keys.mask_key;
    };
    VerifiedSecret secret = CombineVerified(shares, threshold, 32, verify);
    culprits.insert(secret.wrong.begin(), secret.wrong.end());
    if (!secret.secret) {
      if (unreconstructed.empty()) {
        unreconstructed = std::string(survived ? "the self-mask seed" : "the mask key") +
                          " of client " + std::to_string(owner) +
                          " does not reconstruct from its neighbours' shares";
      }
      continue;
    }
    if (survived) {
      ExpandMask(*secret.secret, bits, mask);
      RingSubtract(sum_, mask, bits);
      continue;
    }
    // A client that dropped after sharing keys: every survivor's pairwise
    // mask with it goes.
    for (const auto survivor : survivors_) {
      if (!graph_.AreNeighbours(owner, survivor) || survivor == owner) continue;
      ExpandMask(PairwiseMaskSeed(*secret.secret, roster_.at(survivor).mask_key,
                                                    parameters_.round),
                          bits, mask);
      if (AddsPairwiseMask(survivor, owner)) {
        RingSubtract(sum_, mask, bits);
      } else {
        RingAdd(sum_, mask, bits);
      }
    }
  }
  culprits_.assign(culprits.begin(), culprits.end());
  if (!unreconstructed.empty()) {
    sum_.clear();
    std::string named;
    for (const auto id : culprits_) named += (named.empty() ? "" : ", ") + std::to_string(id);
    return Fail(unreconstructed +
                (named.empty() ? std::string() : " (wrong shares from clients " + named + ")"));
  }
  stage_ = Stage::kDone;
  return true;
}

}  // namespace fsd::privacy
