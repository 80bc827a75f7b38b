// Secure aggregation, the coordinator's stages (privacy/secagg/secagg_client.h has
// the protocol and the client's side): it relays keys and sealed shares it
// cannot read, collects masked vectors, and from the survivors' unmask
// shares reconstructs exactly what it needs to remove the masks — the
// self-mask seeds of the survivors and the mask keys of the clients that
// dropped after sharing keys — and nothing more.
//
// Clients work with their neighbours in the round's graph only
// (privacy/secagg/secagg_graph.h): each gets the roster of its neighbours, shares
// with them, and its secrets are reconstructed from its neighbours' answers.
// Stages, in order; each Accept* takes one client's message, each Close*
// ends the stage and says whether the round can go on (at least `threshold`
// clients are left; otherwise failure_reason() says why and the round is
// over — nothing of it is released):
//   AcceptKeys / CloseAdvertise     → roster U1 (everyone who advertised)
//   AcceptShares / CloseShareKeys   → U2 (everyone who sent its shares) and
//                                     the shares to deliver to each of them
//   AcceptMaskedInput / CloseMaskedInput → survivors U3
//   AcceptUnmask / Finish           → the ring sum of U3's inputs
// Thread-safety: one owner thread. Errors: a message that breaks the
// protocol (not a member, twice, wrong stage, wrong size, shares that do not
// fit the stage's sets) throws DataError naming the client and the problem
// and changes nothing, so the caller can REJECT it and go on; stages called
// out of order are InternalError (a bug in the caller).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "privacy/secagg/secagg_client.h"

namespace fsd::privacy {

class SecAggServer {
 public:
  // The cohort is the graph's ids.
  SecAggServer(SecAggParameters parameters, SecAggGraph graph,
               std::set<SecAggId> cohort);

  // `self_mask_commitment`: the client's commitment to its self-mask seed.
  void AcceptKeys(const AdvertisedKeys& keys,
                  const SelfMaskCommitment& self_mask_commitment);
  bool CloseAdvertise();
  // The advertised keys of `id`'s neighbours (itself included).
  std::vector<AdvertisedKeys> RosterFor(SecAggId id) const;

  // Every share `from` sends, one for each other member of its roster.
  void AcceptShares(SecAggId from, std::vector<SealedShares> shares);
  bool CloseShareKeys();
  // The shares addressed to a member of U2, from the other members of U2.
  std::vector<SealedShares> SharesFor(SecAggId to) const;

  // `disputed`: the neighbours in U2 whose sealed shares failed to open at
  // `from` (SecAggClient::disputed); it reveals nothing for them.
  void AcceptMaskedInput(SecAggId from, std::vector<std::uint64_t> masked,
                         const std::set<SecAggId>& disputed = {});
  bool CloseMaskedInput();
  const std::vector<SecAggId>& survivors() const { return survivors_; }

  void AcceptUnmask(const UnmaskShares& shares);
  // Reconstructs and removes the masks: true and sum() when at least
  // `threshold` survivors answered and every secret reconstructs to what its
  // owner advertised (the mask key's public key, the self-mask seed's
  // commitment) — from the shares that lie on one polynomial when some do
  // not (CombineVerified). Either way culprits() names the clients
  // whose revealed shares were wrong.
  bool Finish();
  const std::vector<std::uint64_t>& sum() const { return sum_; }
  const std::vector<SecAggId>& culprits() const { return culprits_; }
  // Survivors and the senders whose shares they dispute: the coordinator
  // relayed the sealed bytes and cannot open them, so it cannot tell which
  // of the two lies.
  const std::map<SecAggId, std::set<SecAggId>>& disputes() const {
    return disputes_;
  }

  const std::string& failure_reason() const { return failure_reason_; }

 private:
  using Stage = SecAggStage;
  void Expect(Stage stage, const char* what) const;
  [[noreturn]] void Refuse(SecAggId from, const std::string& problem) const;
  bool Fail(const std::string& reason);
  bool EnoughLeft(std::size_t left, const char* stage);

  SecAggParameters parameters_;
  SecAggGraph graph_;
  std::set<SecAggId> cohort_;
  Stage stage_ = Stage::kAdvertise;
  std::map<SecAggId, AdvertisedKeys> roster_;             // U1
  std::map<SecAggId, SelfMaskCommitment> commitments_;    // of U1
  std::map<SecAggId, std::vector<SealedShares>> shares_;  // by sender
  std::set<SecAggId> sharers_;                                     // U2
  std::map<SecAggId, std::vector<std::uint64_t>> masked_;          // by sender
  std::map<SecAggId, std::set<SecAggId>> disputes_;       // accuser → accused
  std::vector<SecAggId> survivors_;                                // U3
  std::map<SecAggId, UnmaskShares> unmasked_;             // by responder
  std::vector<std::uint64_t> sum_;
  std::vector<SecAggId> culprits_;  // holders of wrong revealed shares
  std::string failure_reason_;
};

}  // namespace fsd::privacy
