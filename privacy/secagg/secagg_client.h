// Secure aggregation, the client's side (Bonawitz et al., CCS 2017, for an
// honest-but-curious coordinator): the coordinator learns the sum of the
// survivors' ring vectors and nothing else about any one of them, as long as
// at least `threshold` clients stay honest.
//
// One SecAggClient per client and round, driven through four stages in
// order; each takes what the coordinator relayed and returns what to send.
// A client works with its neighbours only (privacy/secagg/secagg_graph.h: everyone
// in the complete graph, k of them under SecAgg+); below, "roster", U2 and
// the survivors mean the client's neighbours among them, itself included:
//   AdvertiseKeys  two fresh X25519 public keys: one to encrypt key shares
//                  between clients (c), one to agree pairwise masks (s);
//                  and a fresh self-mask seed b, committed to (SHA-256,
//                  self_mask_commitment()) so that the coordinator can tell
//                  a wrong share of b from a right one.
//   ShareKeys      given the roster U1 (everyone who advertised): Shamir
//                  t-of-|U1| shares of b and of
//                  the s secret key, one pair per roster member (x = its id),
//                  each sealed with AES-256-GCM under HKDF(X25519(c_self,
//                  c_peer)) and bound to (round, from, to).
//   MaskInput      given the sealed shares addressed to it (their senders
//                  and itself are U2): y = x + PRG(b) + Σ_{u∈U2, u≠self}
//                  ±PRG(HKDF(X25519(s_self, s_u))) in Z_{2^B}, + for u > self,
//                  − for u < self, so the pairwise masks cancel in the sum.
//                  A share that fails authentication (or holds the wrong
//                  number of bytes) is disputed, not fatal: its sender is
//                  still masked with (its peers did), this client holds no
//                  share of its secrets, and disputed() names it — so one
//                  hostile client cannot knock its neighbours out of a round.
//   Unmask         given the survivors U3 (who sent masked inputs): the
//                  b share of every survivor and the s-key share of every
//                  member of U2 that is not a survivor — never both for one
//                  client (nothing for a disputed sender). A second request that would reveal the
//                  other share of anyone is refused; the same request again gets the same answer.
// Thread-safety: one owner thread. Errors: DataError naming the problem for
// anything the coordinator or a peer sent that breaks the protocol (stage
// out of order, fewer than threshold members, unknown or duplicate ids,
// keys reused, inconsistent unmask requests). After an error the round is
// over for this client.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "privacy/secagg/secagg_crypto.h"
#include "privacy/secagg/secagg_graph.h"
#include "privacy/secagg/secagg_stage.h"
#include "privacy/secagg/shamir.h"

namespace fsd::privacy {

using SecAggId = std::uint32_t;  // a cohort member's id for the round, 1..n

// What every participant of a round agrees on (the coordinator announces it).
struct SecAggParameters {
  std::uint64_t round = 0;
  int threshold = 2;        // t: shares that reconstruct a secret; the fewest survivors
  unsigned ring_bits = 32;  // B
  std::size_t length = 0;   // elements of the masked vector
};

struct AdvertisedKeys {
  SecAggId id = 0;
  AgreementPublicKey encryption_key{};  // c: seals key shares
  AgreementPublicKey mask_key{};        // s: agrees pairwise masks
  bool operator==(const AdvertisedKeys&) const = default;
};

struct SealedShares {
  SecAggId from = 0;
  SecAggId to = 0;
  std::vector<std::uint8_t> sealed;  // Seal(self-mask share ‖ mask-key share)
  bool operator==(const SealedShares&) const = default;
};

// Shamir shares revealed for unmasking, by the id of the client they belong to.
struct UnmaskShares {
  SecAggId from = 0;
  std::map<SecAggId, ShamirShare> self_mask;  // of survivors
  std::map<SecAggId, ShamirShare> mask_key;   // of U2 members that dropped
  bool operator==(const UnmaskShares&) const = default;
};

// The pairwise mask seed of a and b (the same from both sides), and the sign
// with which `self` adds PRG(seed) for `peer`.
SecretBytes PairwiseMaskSeed(const SecretBytes& own_mask_secret, const AgreementPublicKey& peer,
                             std::uint64_t round);
inline bool AddsPairwiseMask(SecAggId self, SecAggId peer) { return peer > self; }

// The commitment to a self-mask seed b of client `id` in `round`:
// SHA-256(tag ‖ round ‖ id ‖ b). b is 32 random bytes, so the commitment
// reveals nothing of it; a reconstruction of b is checked against it.
using SelfMaskCommitment = std::array<std::uint8_t, 32>;
SelfMaskCommitment CommitToSelfMask(const SecretBytes& seed, std::uint64_t round, SecAggId id);

// The associated data a sealed share is bound to.
std::vector<std::uint8_t> ShareAssociatedData(std::uint64_t round, SecAggId from, SecAggId to);

class SecAggClient {
 public:
  // `neighbours`: this client's neighbours in the round's graph, itself
  // included (SecAggGraph::Neighbours).
  SecAggClient(SecAggParameters parameters, SecAggId self, std::vector<SecAggId> neighbours);

  AdvertisedKeys AdvertiseKeys();
  // After AdvertiseKeys: the commitment to this round's self-mask seed.
  const SelfMaskCommitment& self_mask_commitment() const { return self_mask_commitment_; }
  std::vector<SealedShares> ShareKeys(std::span<const AdvertisedKeys> roster);
  std::vector<std::uint64_t> MaskInput(std::span<const std::uint64_t> input,
                                       std::span<const SealedShares> received);
  UnmaskShares Unmask(std::span<const SecAggId> survivors);
  // After MaskInput: the senders whose sealed shares failed to open.
  const std::set<SecAggId>& disputed() const { return disputed_; }

 private:
  using Stage = SecAggStage;
  void Expect(Stage stage, const char* what) const;

  SecAggParameters parameters_;
  SecAggId self_;
  std::set<SecAggId> neighbours_;
  Stage stage_ = Stage::kAdvertise;
  AgreementKeyPair encryption_keys_, mask_keys_;
  SecretBytes self_mask_seed_;
  SelfMaskCommitment self_mask_commitment_{};
  std::map<SecAggId, AdvertisedKeys> roster_;  // U1
  std::map<SecAggId, std::pair<ShamirShare, ShamirShare>>
      held_;                                              // from U2: (self-mask, key) shares
  std::set<SecAggId> disputed_;                           // in U2, but their shares did not open
  std::optional<std::set<SecAggId>> answered_survivors_;  // the one unmask request answered
};

}  // namespace fsd::privacy
