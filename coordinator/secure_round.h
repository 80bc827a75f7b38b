// SecureRound: one attempt of a secure round on the coordinator's side —
// the cohort's ids, weights and parameters, SecAggServer's stages
// (privacy/secagg/secagg_server.h) fed from and answered with wire messages,
// and the unmasked sum read back (privacy/secagg/secure_input.h). The round state
// phases (secure_phases.h) own the stages' deadlines; this class owns
// what a secure round knows.
//
// Ids are 1..n over the cohort's keys in the order given (name order), so a
// seeded run gives the same ids. Each client's integer weight is
// max(1, round((2^weight_bits − 1) · w / max w)) from the weights the
// aggregation rule gives the cohort's declarations (uniform: all equal),
// announced in ROUND_START; the sum is decoded with the survivors' announced
// weights. Clients whose revealed shares were wrong are culprits(), whether
// or not the other shares outvoted them.
// Thread-safety: one owner thread. Errors: On* return the REJECT for a
// message that breaks the protocol and change nothing; Close*/Finish return
// false with failure_reason() when the round cannot go on.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/config/config.h"
#include "common/wire/messages.h"
#include "privacy/secagg/secagg_server.h"
#include "privacy/secagg/secure_input.h"

namespace fsd::coordinator {

struct SecureRoundSetup {
  std::uint64_t round = 0;
  std::vector<std::string> cohort;  // keys, in the order that gives ids 1..n
  std::vector<double> weights;      // the aggregation weight of each cohort member
  std::int64_t total_samples = 0;   // the cohort's declared samples
  std::size_t kept = 0;             // kept values under the round's mask
  std::size_t classes = 0;
  std::uint64_t mask_round = 0;
  double max_train_loss = 1e6;
  // Under distributed DP (wire::kWithheld* bits): the fields every masked
  // input must withhold; 0 = it must send them.
  std::uint32_t withheld = 0;
  std::uint64_t graph_seed = 0;
  config::SecureAggregationConfig config;
};

// Per-stage figures of a finished round (metrics.jsonl).
struct SecureStageFigures {
  double cpu_s = 0.0;         // the coordinator's thread CPU time in this stage's messages
  std::int64_t bytes_up = 0;  // frames received in this stage
  std::size_t clients = 0;    // clients whose message arrived
  double seconds = 0.0;       // wall time from the stage's start to its close
};

class SecureRound {
 public:
  using Stage = privacy::SecAggStage;
  static constexpr int kStages = privacy::kSecAggStages;

  explicit SecureRound(SecureRoundSetup setup);

  // ROUND_START's block for a cohort member.
  wire::SecAggStart StartFor(const std::string& key) const;
  bool member(const std::string& key) const { return ids_.contains(key); }
  Stage stage() const { return stage_; }
  // Whether a member still present owes the current stage's message.
  bool Waiting(const std::set<std::string>& present) const;
  // The exact frame size of a masked input (screened before hashing).
  std::size_t masked_frame_bytes() const;

  std::optional<wire::Reject> OnKeys(const std::string& key, const wire::SecAggKeys& keys,
                                     std::size_t frame_bytes);
  std::optional<wire::Reject> OnShares(const std::string& key, const wire::SecAggShares& shares,
                                       std::size_t frame_bytes);
  std::optional<wire::Reject> OnMasked(const std::string& key, const wire::SecAggMasked& masked,
                                       std::int64_t declared, std::size_t frame_bytes);
  std::optional<wire::Reject> OnReveal(const std::string& key, const wire::SecAggReveal& reveal,
                                       std::size_t frame_bytes);

  // Ends a stage; on success, the messages to send now (to keys).
  using Outbox = std::vector<std::pair<std::string, wire::Body>>;
  bool CloseAdvertise(Outbox& out);
  bool CloseShareKeys(Outbox& out);
  bool CloseMaskedInput(Outbox& out);
  bool Finish();

  const std::string& failure_reason() const { return failure_reason_; }
  // After Finish() (either way): the keys of clients that revealed wrong shares.
  std::vector<std::string> culprits() const;
  // The (accuser, accused) keys of every dispute so far: a survivor whose
  // copy of the accused's sealed shares failed to open (SECAGG_MASKED's
  // disputed list). The coordinator cannot tell which of the two lies.
  std::vector<std::pair<std::string, std::string>> disputes() const;
  // After Finish(): the unmasked sum, read back.
  const privacy::SecureSum& result() const { return result_; }
  // The survivors (their masked inputs are in the sum) and what they declared.
  struct Report {
    std::string key;
    std::uint32_t weight = 0;
    std::int64_t sample_count = 0;  // 0 when withheld
    double train_loss = 0.0;        // 0 when withheld
    std::uint64_t clamped = 0;
  };
  std::vector<Report> survivors() const;
  // The members that completed each stage, and the figures per stage.
  const std::array<SecureStageFigures, kStages>& figures() const { return figures_; }
  // The stage's wall time, measured by the driver that opens and closes stages.
  void SetStageSeconds(Stage stage, double seconds) {
    figures_[static_cast<int>(stage)].seconds = seconds;
  }
  std::uint32_t threshold() const { return parameters_.threshold; }
  std::uint32_t degree() const { return graph_.degree; }
  unsigned ring_bits() const { return layout_.ring_bits; }
  std::size_t cohort_size() const { return setup_.cohort.size(); }
  // The round's metrics (metrics.jsonl "secure_aggregation"): its
  // parameters, and the clients, bytes, CPU and seconds of each stage.
  nlohmann::json Record(std::size_t survivors, std::uint64_t clamped) const;

  // The round's graph: degree 0 is the complete graph.
  struct Graph {
    std::uint32_t degree = 0;
    std::uint32_t threshold = 2;
  };
  // Members that did not complete the stage they were in when the round
  // ended (for the retry's left-out list).
  std::vector<std::string> Incomplete() const;

 private:
  std::optional<wire::Reject> Guard(const std::string& key, Stage stage, std::size_t frame_bytes,
                                    const std::function<void(privacy::SecAggId)>& act);
  bool Fail(const std::string& reason);
  // Closes `stage` on the server; on success each member that completed it
  // gets make(id), and the round moves to the next stage.
  template <typename Make>
  bool EndStage(Stage stage, bool (privacy::SecAggServer::*close)(), Make make, Outbox& out);
  privacy::SecAggId IdOf(const std::string& key) const { return ids_.at(key); }

  SecureRoundSetup setup_;                        // cohort[id − 1] is the key of id
  std::map<std::string, privacy::SecAggId> ids_;  // key → id
  std::vector<std::uint32_t> weights_;            // by id − 1
  Graph graph_;
  privacy::SecureInputLayout layout_;
  privacy::SecAggParameters parameters_;
  privacy::SecAggServer server_;
  Stage stage_ = Stage::kAdvertise;
  std::array<std::set<std::string>, kStages> sent_;  // who completed each stage
  std::map<std::string, Report> reports_;            // masked inputs' metadata
  std::array<SecureStageFigures, kStages> figures_{};
  privacy::SecureSum result_;
  std::string failure_reason_;
};

// Who leaves a round's disputes over sealed key shares (accuser, accused):
// a smallest set found greedily that takes part in every dispute — the
// client in the most disputes first, both sides of a dispute that stands
// alone (ExcludeDisputants, docs/SECURE_AGGREGATION.md).
std::set<std::string> Disputants(const std::vector<std::pair<std::string, std::string>>& disputes);

}  // namespace fsd::coordinator
