// RoundStateMachine: the coordinator's rounds as explicit phases, without a
// socket. The socket loop (coordinator.h) feeds it every frame with the
// sender's authenticated identity, calls Tick() between batches of frames,
// and sends what TakeOutgoing() returns; tests drive it the same way with a
// ManualClock (tests/coordinator/round_state_test.cc).
//
// Phases (RefusalFor lists what each accepts; anything else is REJECTed):
//   kWaiting     JOIN, HEARTBEAT, BYE. Tick(): once min_clients have joined,
//                schedule T/α/β, tighten the mask, sample and → kCollecting.
//   kCollecting  also UPDATE for the current round from the clients sampled
//                in this attempt. Tick(): close when the target count
//                reported (over-selection closes early), when every sampled
//                client reported or left, or at the deadline; then aggregate
//                if the quorum reported, evaluate, commit (metrics line, then
//                checkpoint) → kWaiting; else retry the round without
//                touching the model, leaving out the clients that missed it.
// Secure rounds (secure_aggregation.enabled, coordinator/secure_round.h):
//   kWaiting     → sample as above, ROUND_START with each member's secure
//                block → kAdvertising.
//   kAdvertising SECAGG_KEYS. Tick(): when every member present advertised,
//                or at secure_aggregation.stage_deadline_s: rosters → kSharingKeys.
//   kSharingKeys SECAGG_SHARES. Same closing rule: shares delivered → kMaskedInput.
//   kMaskedInput SECAGG_MASKED (an UPDATE is UNEXPECTED_KIND). Closes like a plain round
//                (target, everyone present, round deadline): survivors →
//                kUnmasking, or a retry below the quorum or the threshold.
//   kUnmasking   SECAGG_REVEAL. When every survivor present answered, or at
//                the stage deadline: unmask, aggregate, commit → kWaiting;
//                a round that cannot be unmasked is committed as failed,
//                model untouched, and never retried.
// Before a frame is hashed and decoded, cheap checks run on its envelope and
// sender (an UPDATE from a client that may not send one now is refused
// without hashing its bytes).
//
// Defences against one enrolled, hostile client: declarations bounded by
// federation.max_samples_per_client and fixed for a round once sampled;
// aggregation weights per aggregation.weighting (capped: at most
// max_weight_ratio × the round's median); clients that missed a deadline are
// not resampled in that round's retries; ROUND_START re-sends per client and
// round are bounded; connections per key are bounded; values, logits and
// loss are bounded (coordinator/update_validator.h).
//
// After the rule (or the secure sum), the server optimizer
// (aggregation.server_optimizer) moves the global model over its trained,
// kept coordinates, and its moments are checkpointed with the model. Each
// round announces the learning-rate factor of schedule.lr in ROUND_START.
//
// Differential privacy (privacy.dp = "central", coordinator/private_release.h):
// the cohort is a Poisson sample (possibly empty: the round then releases
// noise alone), the release is the clipped, noised mean over the expected
// cohort, every sampling draw is charged (when drawn) to an RdpAccountant
// kept in the checkpoint — released, retried or released as nothing — and
// no draw is made that would take ε past privacy.target_epsilon: the run
// stops, and stop_reason() says why.
//
// A secure round that fails after its unmask request is committed as failed
// (model untouched, never retried); clients that revealed wrong shares are
// named in the metrics and excluded for secure_aggregation.exclude_rounds.
// A committed model that is not finite or beyond limits.max_abs_value is
// rolled back, and by federation.on_divergence the run stops (stop_kind()).
//
// Determinism: sampling is seeded by (seed, round, attempt) over clients
// ordered by name, and updates are summed in name order, so a seeded run
// gives the same model whatever the arrival order. (Under DP in a
// deployment the sampling seed and the noise come from the CSPRNG.)
// Thread-safety: not thread-safe; one owner thread. Errors: nothing a peer
// sends makes a method throw; IoError/DataError from checkpoint I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "aggregation/robust.h"
#include "aggregation/server_optimizer.h"
#include "aggregation/soft_targets.h"
#include "aggregation/sparsity.h"
#include "common/codec/values.h"
#include "common/wire/frame.h"
#include "coordinator/clock.h"
#include "coordinator/cohort_sampling.h"
#include "coordinator/federation_state.h"
#include "coordinator/options.h"
#include "coordinator/registry.h"
#include "coordinator/round_release.h"
#include "coordinator/round_store.h"
#include "coordinator/secure_round.h"
#include "coordinator/update_validator.h"

namespace fsd::coordinator {

// Accuracy of every exit for a global vector (runs on the coordinator thread).
using Evaluator = std::function<std::vector<double>(std::span<const float>)>;
// Observes each round's metrics record after it is committed.
using RoundListener = std::function<void(const nlohmann::json&)>;

// Who sent a frame: the authenticated identity (ZAP User-Id; the routing id
// in plaintext mode) and the connection to answer on.
struct Peer {
  std::string identity;
  std::string routing_id;
};

// A frame to send on a connection.
struct Outgoing {
  std::string routing_id;
  std::vector<std::uint8_t> frame;
};

// kCollecting is a plain round's; kAdvertising, kSharingKeys, kMaskedInput
// and kUnmasking are a secure round's.
enum class Phase { kWaiting, kCollecting, kAdvertising, kSharingKeys, kMaskedInput, kUnmasking };
const char* PhaseName(Phase phase);

// nullopt when `phase` accepts messages of `kind` from clients; otherwise
// the REJECT code they get.
std::optional<wire::RejectCode> RefusalFor(Phase phase, wire::MessageKind kind);

class RoundStateMachine {
 public:
  // `allowed`: Z85 key → name (empty in plaintext mode). `clock` must outlive
  // the machine. Reads the checkpoint when options.resume asks for it.
  RoundStateMachine(CoordinatorOptions options, std::map<std::string, std::string> allowed,
                    std::vector<float> initial_global, Evaluator evaluator, RoundListener listener,
                    const Clock& clock);

  // One frame from `peer`: screened, decoded, validated and acted on.
  void OnFrame(const Peer& peer, std::span<const std::uint8_t> frame);
  // Refuses a message the socket loop could not hand over (e.g. a
  // multi-part message), counting it like any other REJECT.
  void Refuse(const Peer& peer, wire::RejectCode code, const std::string& text);
  // Lets time act: expire silent clients, start or close a round.
  void Tick();
  // Frames to send, in order; the machine forgets them.
  std::vector<Outgoing> TakeOutgoing();
  // BYE to every joined client (the federation is over).
  void SayGoodbye(const std::string& reason);

  bool done() const {
    return state_.committed_round >= static_cast<std::uint64_t>(options_.federation.rounds) ||
           !stop_reason_.empty();
  }
  // Why the run stopped before its last round; empty otherwise.
  enum class StopKind { kNone, kPrivacyBudget, kDiverged };
  const std::string& stop_reason() const { return stop_reason_; }
  StopKind stop_kind() const { return stop_kind_; }
  // Under privacy.dp: {"epsilon", "delta", "privacy_steps"} spent so far; null otherwise.
  nlohmann::json privacy_spent() const;
  Phase phase() const { return phase_; }
  std::uint64_t committed_round() const { return state_.committed_round; }
  std::uint64_t attempt() const { return attempt_; }
  const std::vector<float>& global() const { return state_.global; }
  const aggregation::SoftTargetSummary& soft_state() const { return state_.soft_state; }
  const aggregation::Mask& mask() const { return state_.mask; }
  const std::set<std::string>& selected() const { return selected_; }
  // Clients sampled in the attempt in progress, and how many of them have
  // reported (UPDATE; in secure rounds SECAGG_MASKED) so far.
  std::size_t sampled() const { return sampled_; }
  std::size_t reported() const;
  const CoordinatorOptions& options() const { return options_; }
  const ClientRegistry& registry() const { return registry_; }
  std::map<std::string, std::int64_t> reject_counts() const;

 private:
  struct RoundBytes {
    std::int64_t up = 0, up_weights = 0, up_summary = 0;
    std::int64_t down = 0, down_weights = 0, down_mask = 0, down_soft_targets = 0;
  };
  struct Staged {
    std::string name;
    StagedUpdate update;
    model::Subnetwork subnet;  // what the client trained (resolved)
  };
  // What a round exchanges with the clients of one sub-network.
  struct SubnetView {
    aggregation::Mask mask;               // mask_ within the sub-network (empty: dense)
    std::vector<std::uint64_t> segments;  // its kept values per tensor
    std::uint64_t kept = 0;               // their sum
    codec::Encoded values;                // the global kept values, encoded once per round
  };

  std::optional<wire::Reject> Screen(const Peer& peer, std::span<const std::uint8_t> frame) const;
  void OnJoin(const Peer& peer, const wire::Join& join);
  void OnUpdate(const Peer& peer, std::uint64_t round, const wire::Update& update,
                std::size_t frame_bytes);
  void OnSecure(const Peer& peer, wire::Body& body, std::size_t frame_bytes);
  // Secure rounds: ends the current stage when it is due (Tick).
  void AdvanceSecure();
  void SendSecure(SecureRound::Outbox outbox, Phase next);
  // Records the wall time of the secure stage that phase_ stands for.
  void CloseSecureStage();
  // A secure round that cannot go on: retried without the clients that did
  // not complete their stage, model untouched.
  void RetrySecure(const std::string& reason);
  bool StageDue() const;
  void OnClientGone(const std::string& key, const char* why);
  void StartRound();
  // The sub-network a client stating `max_exit` at JOIN trains (resolved).
  model::Subnetwork SubnetFor(std::uint32_t max_exit) const;
  // The round's views: the federation's own sub-network and those of the sampled clients.
  void BuildViews(std::uint64_t round);
  // Secure and DP rounds: every client trains the federation's sub-network
  // (OnJoin refuses the others); its view.
  const SubnetView& SharedView() const;
  void SendRoundStart(const std::string& key);
  bool ShouldClose() const;
  void CloseRound();
  // What a round's aggregation produced, for its metrics line.
  struct Aggregated {
    double loss_sum = 0.0, weight_sum = 0.0, max_weight = 0.0;
    std::string heaviest;
    std::int64_t sample_sum = 0;
    // Distributed DP: the clients withheld their sample counts and losses
    // (the metrics line then says null for both).
    bool withheld = false;
    std::size_t reported = 0;
    std::vector<std::string> names;  // aggregated clients, in summation order
    aggregation::AggregateReport report;
    nlohmann::json extra = nlohmann::json::object();  // privacy and secure-aggregation fields
  };
  Aggregated AggregatePlain();
  Aggregated AggregateSecure();
  // Leaves `key` out of the rounds after `round` for
  // secure_aggregation.exclude_rounds (0: the rest of the run), logging why.
  void Exclude(const std::string& key, std::uint64_t round, const std::string& why);
  // Both sides of every dispute of the secure round in progress excluded;
  // returns them as [{"accuser", "accused"}] for metrics.
  nlohmann::json ExcludeDisputants(std::uint64_t round);
  // Ends the round: aggregates, steps the server optimizer, evaluates and
  // writes the metrics line and checkpoint. With `failure` (a secure round
  // that failed after survivors revealed their shares) nothing is
  // aggregated and the model is untouched, but the round still counts: it
  // is never attempted again, and under distributed DP it is charged.
  void Commit(double collect_s, std::optional<std::string> failure = std::nullopt);
  void Send(const std::string& routing_id, const wire::Message& message);
  // `log`: a WARNING line per REJECT (refused updates are summed up per
  // attempt instead, in RefusalSummary()).
  void SendReject(const Peer& peer, wire::RejectCode code, const std::string& text,
                  bool log = true);
  // "; refused updates: CODE xN ... from K client(s)" for this attempt, or "".
  std::string RefusalSummary() const;
  // The clients of this attempt whose updates were refused, when every
  // refusal was for values beyond [limits] (INVALID_VALUE, NON_FINITE); 0 when
  // any refusal was for something else.
  std::size_t BeyondLimits() const;
  // Stops the run when the next round's release would exceed the budget.
  bool BudgetAllowsNextRound();
  // The fewest updates the aggregation rule accepts (Krum: 2f + 3): rounds
  // wait for that many joined clients, sample at least that many, and retry
  // below it. 0 under DP: an empty Poisson sample still releases its noise.
  std::size_t MinimumUpdates() const;
  std::size_t Quorum() const;
  bool distillation_only() const {
    return options_.federation.mode == config::FederationMode::kDistillation;
  }

  CoordinatorOptions options_;
  const Clock& clock_;
  ClientRegistry registry_;
  UpdateValidator validator_;
  wire::WireLimits limits_;
  Evaluator evaluator_;
  RoundListener listener_;
  RoundStore store_;
  std::vector<Outgoing> outgoing_;
  std::map<wire::RejectCode, std::int64_t> rejects_;

  // What survives rounds (and is checkpointed).
  FederationState state_;
  std::unique_ptr<RoundRelease> release_;  // how a round enters the model, per privacy.dp
  std::string stop_reason_;
  StopKind stop_kind_ = StopKind::kNone;

  std::uint64_t sampling_seed_ = 0;  // federation.seed, or from the CSPRNG under DP in deployments
  std::unique_ptr<CohortSampler> sampler_;  // per privacy.dp, from sampling_seed_

  // The round in progress.
  Phase phase_ = Phase::kWaiting;
  std::uint64_t attempt_ = 0;  // retries of the current round
  double temperature_ = 0.0, alpha_ = 0.0, beta_ = 0.0, lr_factor_ = 1.0;
  std::vector<float> soft_targets_;  // C×C, empty while β = 0 or nothing is aggregated
  double soft_target_entropy_ = 0.0;
  std::map<model::Subnetwork, SubnetView> views_;  // by sub-network, this attempt
  std::size_t target_ = 0;                        // updates the round wants (before over-selection)
  std::set<std::string> selected_;                // sampled in this attempt, still present
  std::size_t sampled_ = 0;                       // sampled in this attempt
  std::map<std::string, std::int64_t> declared_;  // fixed when first sampled this round
  std::map<std::string, model::Subnetwork> subnets_;  // likewise
  std::map<std::string, int> resends_;                // ROUND_START re-sends this attempt
  std::map<std::string, int> refused_updates_;        // UPDATEs refused this attempt
  std::map<wire::RejectCode, int> refusals_;          // ... by REJECT code
  std::map<std::string, Staged> staged_;              // validated, not yet aggregated
  std::set<std::string> missed_;  // sampled in an earlier attempt of this round, never reported
  std::optional<SecureRound> secure_;  // the secure round in progress
  Clock::TimePoint stage_started_{};   // the current secure stage's start
  Clock::TimePoint round_started_{};
  Clock::TimePoint run_started_{};
  // The owner thread's CPU seconds when the last round committed (after its
  // evaluation): a round's coordinator_cpu_s is the work since then.
  double cpu_mark_ = -1.0;
  // Sampled clients still expected when the committed attempt closed (spares
  // cut off by over-selection, stragglers past the deadline, silent dropouts).
  std::size_t unreported_ = 0;
  RoundBytes bytes_;
};

}  // namespace fsd::coordinator
