// Attack: hostile enrolled clients of fsd-sim ([attack] in the config), for
// robustness experiments. An attacker is an ordinary simulated client — same
// keys, same wire, same training — chosen from federation.seed; from round
// attack.start_round on, its update is replaced after honest local training
// (or, for label_flip, it trains on flipped labels). The coordinator can tell
// it apart only by what it sends. Kinds (delta = trained − global):
//   sign_flip     global − factor·delta
//   scale         global + factor·delta
//   gaussian      global + i.i.d. noise with std factor × std(delta) (one std
//                 over all of the delta's coordinates)
//   zero          the global values unchanged (a free rider)
//   random        uniform values in [−factor, factor]
//   alie          "a little is enough" (Baruch et al., NeurIPS 2019): every
//                 attacker of the round uploads mean − z·std (per coordinate)
//                 of the attackers' honestly trained values, z = factor or,
//                 when factor is 0, the paper's z_max(N, f) with N the
//                 federation's clients and f = attack.clients; coordinated
//                 (ApplyCoordinated) among the attackers that started the
//                 round, which know only their own data
//   label_flip    trains on labels c → C − 1 − c (data poisoning)
//   logit_poison  honest weights; every summary row c has its logits for c and
//                 (c + 1) mod C exchanged and scaled by factor
//   bad_share     (secure aggregation) trains honestly, then reveals one
//                 wrong Shamir share when asked to unmask (a colluding
//                 client trying to make the round fail and be retried)
//   bad_weight    (secure aggregation) masks its input with its announced
//                 weight + factor
//   bad_seal      (secure aggregation) trains honestly, but the sealed key
//                 shares it sends its first neighbour do not open (one
//                 ciphertext byte flipped): a dispute, both sides excluded
// Attackers may also declare attack.declared_samples at JOIN and claim them
// in every UPDATE (from round 1, whatever start_round). Every injected attack
// is logged per round (InjectedIn) for metrics.jsonl. In distillation-only
// mode only label_flip and logit_poison apply (no weights travel; the config
// loader refuses the others). The pure functions below are shared with
// bench/attack-table. Thread-safety: const methods and the log are safe from
// any thread. Errors: InternalError on inconsistent sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "aggregation/soft_targets.h"
#include "client/client_node.h"
#include "client/client_session.h"
#include "common/config/config.h"

namespace fsd::sim {

// The attacked values of kinds sign_flip, scale, gaussian, zero and random
// (`seed` drives gaussian and random). REQUIRES: global and trained of equal
// size; kind not alie, label_flip or logit_poison (those leave values alone
// or need several clients).
std::vector<float> AttackedValues(config::AttackKind kind, double factor,
                                  std::span<const float> global, std::span<const float> trained,
                                  std::uint64_t seed);

// ALIE: mean − z·std (population std) per coordinate of `honest` (>= 1 vectors).
std::vector<float> AlieValues(std::span<const std::vector<float>> honest, double z);

// The z of Baruch et al. for n clients of which f attack: s = ⌊n/2 + 1⌋ − f
// supporters needed, z = Φ⁻¹((n − s) / n).
double AlieZ(std::size_t n, std::size_t f);

// logit_poison: swaps row c's logits for classes c and (c + 1) mod C and scales the row.
void PoisonSummary(aggregation::SoftTargetSummary& summary, double factor);

class Attack {
 public:
  // `num_clients`: the federation's N; attackers are drawn from `seed`.
  Attack(config::AttackConfig config, std::size_t num_clients, std::uint64_t seed);

  bool IsAttacker(std::size_t client) const { return attackers_.contains(client); }
  const std::set<std::size_t>& attackers() const { return attackers_; }
  // Whether `client` attacks in `round`.
  bool Attacks(std::size_t client, std::uint64_t round) const;
  // Whether the attackers of a round act together (alie): their honest
  // results are collected and passed to ApplyCoordinated.
  bool coordinated() const { return config_.kind == config::AttackKind::kAlie; }
  // Whether `client` trains on flipped labels in `round`.
  bool FlipsLabels(std::size_t client, std::uint64_t round) const;
  // What client `client` with `true_samples` declares at JOIN.
  std::int64_t DeclaredSamples(std::size_t client, std::int64_t true_samples) const;
  // Replaces an attacker's honestly trained round by its attack (every kind
  // but alie; label_flip only claims its declared samples here).
  void Apply(std::size_t client, const client::LocalRound& round,
             client::TrainedRound& trained) const;
  // bad_share, bad_weight and bad_seal deviate from the secure-aggregation protocol
  // itself: the frame editors an attacker's node runs (nothing for other
  // kinds or honest clients).
  void InstallFrameEditors(std::size_t client, client::ClientNodeOptions& node) const;
  // alie: replaces the round's attackers' results (all of the same round) by
  // the coordinated attack; `clients` names them.
  void ApplyCoordinated(std::uint64_t round, std::span<const std::size_t> clients,
                        std::span<client::TrainedRound* const> trained) const;
  // The clients among `aggregated` (names of the round's aggregated updates)
  // that sent an attack in `round`, as {"attack": kind, "attackers": [names]}.
  // `client_names`: every client's, by index (sim::ClientNames).
  nlohmann::json InjectedIn(std::uint64_t round, const std::vector<std::string>& aggregated,
                            const std::vector<std::string>& client_names) const;

 private:
  void ClaimDeclaredSamples(std::size_t client, client::TrainedRound& trained) const;
  void Log(std::uint64_t round, std::size_t client) const;

  config::AttackConfig config_;
  std::size_t num_clients_;
  std::uint64_t seed_;  // the run's: attackers and their values draw from its streams
  std::set<std::size_t> attackers_;
  mutable std::mutex log_mutex_;
  mutable std::map<std::uint64_t, std::set<std::size_t>> log_;
};

}  // namespace fsd::sim
