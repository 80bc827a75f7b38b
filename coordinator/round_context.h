// RoundContext: what every phase of a round (round_phase.h) reads and acts
// through — the options, the clock, the clients, the state between rounds
// (FederationState) and the two strategies chosen once from the options
// (how a cohort is drawn, how a round enters the model), the messages to
// send, the REJECTs counted so far and why the run stopped — and what a
// round carries from one of its attempts to the next (RoundRetries).
//
// The round state machine (round_state.h) owns one context and hands it to
// each phase; a phase owns only what its own stage collects.
// Thread-safety: one owner thread. Errors: IoError/DataError from the
// checkpoint read at construction (options.resume).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/model/layout.h"
#include "common/wire/frame.h"
#include "coordinator/clock.h"
#include "coordinator/cohort_sampling.h"
#include "coordinator/federation_state.h"
#include "coordinator/options.h"
#include "coordinator/registry.h"
#include "coordinator/round_release.h"
#include "coordinator/round_store.h"
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

// Why a run stopped before its last round.
enum class StopKind { kNone, kPrivacyBudget, kDiverged };

// What a round keeps across its attempts; cleared when it commits.
struct RoundRetries {
  std::uint64_t attempt = 0;  // attempts that did not commit
  // A client's declared samples and sub-network, fixed the first time it is
  // sampled in the round.
  std::map<std::string, std::int64_t> declared;
  std::map<std::string, model::Subnetwork> subnets;
  // Sampled in an earlier attempt and never reported: not sampled again.
  std::set<std::string> missed;
};

struct RoundContext {
  // `allowed`: Z85 key → name (empty in plaintext mode). `clock` must
  // outlive the context. Reads the checkpoint when options.resume asks for it.
  RoundContext(CoordinatorOptions options, std::map<std::string, std::string> allowed,
               std::vector<float> initial_global, Evaluator evaluator, RoundListener listener,
               const Clock& clock);
  // The strategies and the state hold references into the context.
  RoundContext(const RoundContext&) = delete;
  RoundContext& operator=(const RoundContext&) = delete;

  // The round in progress, or the next one.
  std::uint64_t round() const { return state.committed_round + 1; }
  bool distillation_only() const {
    return options.federation.mode == config::FederationMode::kDistillation;
  }
  // The fewest updates a round may aggregate (Krum: 2f + 3; secure
  // aggregation: 2 to hide one; central DP: 0, an empty Poisson sample
  // still releases its noise): rounds wait for that many joined clients,
  // sample at least that many, and retry below it.
  std::size_t MinimumUpdates() const;
  // The reports a round of `target` needs to commit (federation.quorum).
  std::size_t Quorum(std::size_t target) const;
  // The setting under which every client trains the whole network (secure
  // aggregation, DP, distillation-only mode); nullptr when clients may train
  // a shallower sub-network (heterogeneity).
  const char* WholeNetworkRequiredBy() const;
  // The sub-network a client stating `max_exit` at JOIN trains (resolved).
  model::Subnetwork SubnetFor(std::uint32_t max_exit) const;

  void Send(const std::string& routing_id, const wire::Message& message);
  // Counts the REJECT and logs it (`log` false: at DEBUG level; refused
  // updates are summed up per attempt instead).
  void SendReject(const Peer& peer, wire::RejectCode code, const std::string& text,
                  bool log = true);
  // Ends the run after this round (done()); `reason` is its stop_reason.
  void Stop(StopKind kind, std::string reason);
  // Leaves `key` out of the rounds after `round` for
  // secure_aggregation.exclude_rounds (0: the rest of the run), logging why.
  void Exclude(const std::string& key, std::uint64_t round, const std::string& why);

  CoordinatorOptions options;  // with min_clients and layout resolved
  const Clock& clock;
  ClientRegistry registry;
  UpdateValidator validator;
  wire::WireLimits limits;
  Evaluator evaluator;
  RoundListener listener;
  RoundStore store;
  FederationState state;                   // what survives rounds (and is checkpointed)
  std::unique_ptr<RoundRelease> release;   // how a round enters the model, per privacy.dp
  std::uint64_t sampling_seed = 0;         // federation.seed; the CSPRNG's under DP in deployments
  std::unique_ptr<CohortSampler> sampler;  // per privacy.dp, from sampling_seed
  RoundRetries retries;
  std::vector<Outgoing> outgoing;
  std::map<wire::RejectCode, std::int64_t> rejects;
  std::string stop_reason;
  StopKind stop_kind = StopKind::kNone;
  Clock::TimePoint run_started{};
  // The owner thread's CPU seconds when the last round committed (after its
  // evaluation): a round's coordinator_cpu_s is the work since then.
  double cpu_mark = -1.0;
};

}  // namespace fsd::coordinator
