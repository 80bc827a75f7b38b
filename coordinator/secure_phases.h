// The four phases of a secure round (secure_aggregation.enabled), over one
// SecureRound (secure_round.h) that they hand on to each other:
//
//   AdvertisingPhase   SECAGG_KEYS. Closes when every member still present
//                      advertised, or at secure_aggregation.stage_deadline_s:
//                      rosters → SharingKeysPhase.
//   SharingKeysPhase   SECAGG_SHARES. Same closing rule: shares delivered →
//                      MaskedInputPhase.
//   MaskedInputPhase   SECAGG_MASKED (an UPDATE is UNEXPECTED_KIND). Closes
//                      like a plain round (target, everyone present, the
//                      round deadline): unmask requests → UnmaskingPhase.
//   UnmaskingPhase     SECAGG_REVEAL. When every survivor present answered,
//                      or at the stage deadline: unmask, release, commit.
//
// Before the unmask requests go out, a round that cannot go on (too few
// members, below the quorum or the threshold) is retried without the clients
// that did not complete their stage, model untouched. After them, the round
// is never attempted again (a second sum over the same updates minus one
// client would be that client's update): one that cannot be unmasked is
// committed as failed, model untouched. Clients that revealed wrong shares,
// and both sides of every dispute, sit out secure_aggregation.exclude_rounds.
// Thread-safety: one owner thread. Errors: none from peers.
#pragma once

#include <memory>
#include <string>

#include "coordinator/round_attempt.h"
#include "coordinator/round_commit.h"
#include "coordinator/round_phase.h"
#include "coordinator/secure_round.h"

namespace fsd::coordinator {

// A secure round's attempt as it moves through its phases.
struct SecureAttempt {
  std::unique_ptr<RoundAttempt> attempt;
  SecureRound round;
  Clock::TimePoint stage_started{};  // when the current stage opened
};

// What the four phases share: the screening and handling of SECAGG_*
// messages, dropouts, and how a stage ends.
class SecurePhase : public RoundPhase {
 public:
  SecurePhase(RoundContext& context, std::unique_ptr<SecureAttempt> secure)
      : RoundPhase(context), secure_(std::move(secure)) {}

  std::optional<wire::Reject> Screen(const Peer& peer, wire::MessageKind kind,
                                     std::size_t frame_bytes) const override;
  void OnMessage(const Peer& peer, wire::Body& body, std::size_t frame_bytes) override;
  void OnClientGone(const std::string& key) override { secure_->attempt->Drop(context_, key); }
  const std::set<std::string>& selected() const override { return secure_->attempt->selected; }
  std::size_t sampled() const override { return secure_->attempt->sampled; }
  std::size_t reported() const override;

 protected:
  // The SecureRound stage this phase stands for.
  virtual SecureRound::Stage stage() const = 0;
  // Every member still present sent this stage's message, or its deadline passed.
  bool StageDue() const;
  // Records this stage's wall time in the round's figures.
  void CloseStage();
  // Sends `outbox`, closes this stage and opens phase Next's.
  template <typename Next>
  std::unique_ptr<RoundPhase> Advance(SecureRound::Outbox outbox);
  // The attempt cannot go on: retried without the clients that did not
  // complete their stage, model untouched.
  std::unique_ptr<RoundPhase> Retry(const std::string& reason);
  // Both sides of every dispute so far excluded; [{"accuser", "accused"}].
  nlohmann::json ExcludeDisputants();

  std::unique_ptr<SecureAttempt> secure_;
};

class AdvertisingPhase final : public SecurePhase {
 public:
  // Sets up the attempt's secure round and sends each member its ROUND_START.
  static std::unique_ptr<RoundPhase> Open(RoundContext& context,
                                          std::unique_ptr<RoundAttempt> attempt);
  using SecurePhase::SecurePhase;
  Phase phase() const override { return Phase::kAdvertising; }
  std::unique_ptr<RoundPhase> Tick() override;

 private:
  SecureRound::Stage stage() const override { return SecureRound::Stage::kAdvertise; }
};

class SharingKeysPhase final : public SecurePhase {
 public:
  using SecurePhase::SecurePhase;
  Phase phase() const override { return Phase::kSharingKeys; }
  std::unique_ptr<RoundPhase> Tick() override;

 private:
  SecureRound::Stage stage() const override { return SecureRound::Stage::kShareKeys; }
};

class MaskedInputPhase final : public SecurePhase {
 public:
  using SecurePhase::SecurePhase;
  Phase phase() const override { return Phase::kMaskedInput; }
  std::optional<wire::Reject> Screen(const Peer& peer, wire::MessageKind kind,
                                     std::size_t frame_bytes) const override;
  std::unique_ptr<RoundPhase> Tick() override;

 private:
  SecureRound::Stage stage() const override { return SecureRound::Stage::kMaskedInput; }
};

class UnmaskingPhase final : public SecurePhase {
 public:
  using SecurePhase::SecurePhase;
  Phase phase() const override { return Phase::kUnmasking; }
  std::unique_ptr<RoundPhase> Tick() override;

 private:
  SecureRound::Stage stage() const override { return SecureRound::Stage::kUnmask; }
  // The survivors' unmasked sum released into the model.
  RoundResult Release();
};

}  // namespace fsd::coordinator
