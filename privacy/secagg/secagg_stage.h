// The stages of a secure-aggregation round, in order — the one enum both
// halves of the protocol and the wire driving them use: the server's stage
// in progress (SecAggServer, the coordinator's SecureRound and its phases),
// and a client's, the stage whose message it owes next (SecAggClient,
// client::SecureClientRound). kDone: the round's work is over (the server
// has the sum; the client revealed its shares). kFailed: the server found
// fewer than `threshold` clients left, and nothing of the round is released.
// Thread-safety: plain values. Errors: none.
#pragma once

namespace fsd::privacy {

enum class SecAggStage {
  kAdvertise = 0,
  kShareKeys = 1,
  kMaskedInput = 2,
  kUnmask = 3,
  kDone,
  kFailed
};

// Stages that exchange messages (kAdvertise .. kUnmask).
inline constexpr int kSecAggStages = 4;

}  // namespace fsd::privacy
