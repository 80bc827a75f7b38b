// CollectingPhase: a plain round's attempt collecting UPDATEs from the
// clients sampled for it. An UPDATE is screened on its envelope (sampled in
// this attempt, first of its client, the round not yet full), validated
// (update_validator.h) and staged. The attempt closes when the target
// count reported (over-selection closes early), when every sampled client
// reported or left, or at federation.round_deadline_s; then, with the
// quorum, the staged updates are released into the model (RoundRelease) and
// the round commits (RoundCommitter); below it, the round is retried
// without the clients that missed it, model untouched. A sampled client that
// rejoins mid-round gets its ROUND_START again, a bounded number of times.
// Thread-safety: one owner thread. Errors: none from peers.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "coordinator/round_attempt.h"
#include "coordinator/round_commit.h"
#include "coordinator/round_phase.h"

namespace fsd::coordinator {

class CollectingPhase final : public RoundPhase {
 public:
  // Sends ROUND_START to the attempt's cohort and collects its updates.
  static std::unique_ptr<RoundPhase> Open(RoundContext& context,
                                          std::unique_ptr<RoundAttempt> attempt);
  CollectingPhase(RoundContext& context, std::unique_ptr<RoundAttempt> attempt);

  Phase phase() const override { return Phase::kCollecting; }
  std::optional<wire::Reject> Screen(const Peer& peer, wire::MessageKind kind,
                                     std::size_t frame_bytes) const override;
  void OnMessage(const Peer& peer, wire::Body& body, std::size_t frame_bytes) override;
  void OnRejoin(const Peer& peer) override;
  void OnClientGone(const std::string& key) override;
  std::unique_ptr<RoundPhase> Tick() override;
  const std::set<std::string>& selected() const override { return attempt_->selected; }
  std::size_t sampled() const override { return attempt_->sampled; }
  std::size_t reported() const override { return staged_.size(); }

 private:
  struct Staged {
    std::string name;
    StagedUpdate update;
    model::Subnetwork subnet;  // what the client trained (resolved)
  };

  bool ShouldClose() const;
  // Commits the round, retries it, or stops the run; the next phase.
  std::unique_ptr<RoundPhase> Close();
  // The staged updates released into the model, in (name, key) order.
  RoundResult Release();
  // "; refused updates: CODE xN ... from K client(s)" for this attempt, or "".
  std::string RefusalSummary() const;
  // The clients of this attempt whose updates were refused, when every
  // refusal was for values beyond [limits] (INVALID_VALUE, NON_FINITE); 0 when
  // any refusal was for something else.
  std::size_t BeyondLimits() const;

  std::unique_ptr<RoundAttempt> attempt_;
  std::map<std::string, Staged> staged_;        // validated, not yet aggregated
  std::map<std::string, int> resends_;          // ROUND_START re-sends
  std::map<std::string, int> refused_updates_;  // UPDATEs refused, per client
  std::map<wire::RejectCode, int> refusals_;    // ... by REJECT code
};

}  // namespace fsd::coordinator
