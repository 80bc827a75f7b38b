// ClientSession: the client's side of the wire dialog (docs/PROTOCOL.md),
// without a socket, so fsd-client and fsd-sim drive it the same way:
// JoinFrame() → feed every received frame to OnFrame() → train the LocalRound
// it returns → send UpdateFrame(). A REJECT that says the session is unknown
// (NOT_AUTHORIZED, UNEXPECTED_KIND) asks the owner to rejoin, which is how a
// client survives a coordinator restart. One that refuses the JOIN for good
// (SCHEMA_MISMATCH: another model; UNSUPPORTED_VERSION), or a WELCOME for
// another model, tells the owner to stop (Step::refused): retrying cannot help.
//
// The session owns what the wire needs beyond one round: the sparsity mask
// in force (received as a bitmask only when it changes), the codecs, and for
// quantized uploads with error feedback the residual of the last upload, and
// under distributed DP the global values each upload is privatized against. It
// decodes ROUND_START into dense values (pruned positions 0) and encodes the
// kept values of an UPDATE — of the sub-network ROUND_START names, which
// must not be deeper than the max_exit this client stated at JOIN. A
// ROUND_START whose T, α, β, sub-network, sizes, codec bytes or mask do not
// fit this client is logged and dropped (the coordinator's
// deadline then moves on without it); one that refers to a mask this client
// never received makes it rejoin, and the coordinator resends the mask.
// In a secure round (ROUND_START carries a secure-aggregation block) the
// session answers the SECAGG_* messages itself (Step::replies) while the
// round trains, and UpdateFrame() returns the masked input once the shares
// addressed to this client are in (else nothing yet: OnFrame() replies with
// it when they arrive); see client/secure_client_round.h. A client whose
// config enables secure aggregation drops any ROUND_START that is not secure,
// and a client reveals unmask shares for at most one attempt of a round: it
// drops a secure ROUND_START for a round it (or a later one) revealed for.
// Thread-safety: one owner thread. Errors: OnFrame never throws on peer input.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "aggregation/soft_targets.h"
#include "aggregation/sparsity.h"
#include "client/privacy_ledger.h"
#include "client/secure_client_round.h"
#include "common/codec/values.h"
#include "common/config/config.h"
#include "common/model/flat_params.h"
#include "common/model/layout.h"
#include "common/wire/frame.h"
#include "privacy/dp/dp_release.h"

namespace fsd::client {

// A round to train, decoded from ROUND_START.
struct LocalRound {
  std::uint64_t round = 0;
  double temperature = 3.0;
  double alpha = 0.5;
  double beta = 0.0;
  std::uint32_t local_epochs = 1;
  double lr_factor = 1.0;  // × training.lr for this round
  // Dense global values (pruned positions 0); empty in distillation-only mode.
  std::vector<float> global_values;
  std::vector<float> soft_targets;  // C×C or empty
  std::uint64_t mask_round = 0;
  std::shared_ptr<const aggregation::Mask> mask;  // null: dense
  // The sub-network to train (exit resolved, ≥ 1), and the coordinates the
  // round exchanges: the mask's kept values within it (empty: every value).
  model::Subnetwork subnet;
  aggregation::Mask values_mask;
  // A secure round: the result leaves only masked (never as a plain UPDATE,
  // even when this client dropped out of the round's protocol).
  bool secure = false;
};

// What local training produced.
struct TrainedRound {
  std::int64_t sample_count = 0;
  double train_loss = 0.0;
  std::vector<float> values;  // dense, after training; empty in distillation-only mode
  aggregation::SoftTargetSummary summary;
};

// Distributed DP (privacy.dp = "distributed"): nothing exact leaves the
// client. It clips the delta of its kept values from the round's global
// values to clip_norm and adds N(0, noise_std²) to each
// (privacy::PrivatizeUpdate) before encoding; when the run releases
// soft-target summaries it sends its summary as a private record
// (privacy::PrivatizeSummary: rows clipped to summary_clip_norm, presence
// 0/1, N(0, summary_noise_std²) on each), else no summary; it withholds its
// sample count and training loss, and declares 1 sample at JOIN (weights
// are uniform under DP).
struct LocalDp {
  double clip_norm = 1.0;
  double noise_std = 0.0;  // z·S/√t: t reports together carry the noise z·S
  // Simulation: noise seeded from (seed, client name, round), reproducible;
  // nullopt (deployments): drawn from OpenSSL's CSPRNG.
  std::optional<std::uint64_t> seed;
  std::uint32_t min_survivors = 1;  // t
  double summary_clip_norm = 0.0;   // S₂; 0: the run releases no summaries
  double summary_noise_std = 0.0;   // z₂·sqrt(S₂² + C)/√t
};

struct ClientSessionOptions {
  std::string name;  // JOIN.client_name
  std::int64_t num_samples = 0;
  std::uint32_t max_exit = 0;  // JOIN.max_exit: the deepest exit it trains; 0 = all
  std::uint64_t schema_fingerprint = 0;
  model::ModelLayout layout;  // the model's tensors in the flat vector
  std::size_t num_classes = 10;
  codec::EncodeOptions uplink;  // how UPDATE values are encoded
  bool error_feedback = false;  // carry quantization error into the next upload
  std::optional<LocalDp> local_dp;
  // Under any DP: the client's own ledger (client/privacy_ledger.h); every
  // ROUND_START must carry a privacy block it admits.
  std::optional<LedgerOptions> ledger;
  bool require_secure = false;             // take part only in secure rounds
  SecureRequirements secure_requirements;  // what it requires of a secure round
  wire::WireLimits limits;
};

// The session options a run's config implies for a client `name` with
// `num_samples` local samples and the model `schema` describes (the one
// place they are mapped; fsd-client and fsd-sim both use it).
// REQUIRES: config.data.num_classes resolved (data::AdoptFromData).
ClientSessionOptions SessionOptionsFromConfig(const config::RunConfig& config, std::string name,
                                              std::int64_t num_samples,
                                              const model::FlatSchema& schema);

class ClientSession {
 public:
  explicit ClientSession(ClientSessionOptions options);

  struct Step {
    std::optional<LocalRound> train;  // train this round, then UpdateFrame()
    bool rejoin = false;              // send JoinFrame() again
    bool finished = false;            // the coordinator said BYE
    std::string reason;               // ... and why (at most 200 bytes of its text)
    std::string refused;              // non-empty: the coordinator will not admit this client; why
    std::vector<std::vector<std::uint8_t>> replies;  // frames to send now (secure rounds)
  };

  std::vector<std::uint8_t> JoinFrame() const;
  std::vector<std::uint8_t> HeartbeatFrame() const;
  std::vector<std::uint8_t> ByeFrame(const std::string& reason) const;
  // Encodes the kept values of `trained` (privatized under distributed DP,
  // then adding and updating the error-feedback residual) and the summary,
  // for `round`. Nothing (and a
  // logged error) when training diverged to NaN/Inf: the round goes on
  // without this client. In a secure round: the masked input, or nothing
  // until the shares arrive (or when the secure round failed).
  std::optional<std::vector<std::uint8_t>> UpdateFrame(const LocalRound& round,
                                                       TrainedRound trained);

  Step OnFrame(std::span<const std::uint8_t> frame);

  bool welcomed() const { return welcomed_; }
  // Under DP: ε by this client's own ledger after the last round it admitted.
  std::optional<double> privacy_epsilon() const {
    return ledger_ ? std::optional<double>(ledger_->epsilon()) : std::nullopt;
  }
  std::int64_t rejects_received() const { return rejects_received_; }
  std::uint64_t num_values() const { return num_values_; }
  // How far this client got in the current secure round (nullopt: none).
  std::optional<privacy::SecAggStage> secure_stage() const;
  std::optional<std::uint64_t> secure_round() const;
  // Secure rounds this session has started (a retried round counts again).
  std::uint64_t secure_rounds_started() const { return secure_rounds_started_; }
  // Leaves the current secure round: nothing more is answered in it (fsd-sim
  // injects dropouts this way).
  void AbandonSecureRound() { secure_.reset(); }

 private:
  // Distributed DP (options_.local_dp), against the global values this
  // session decoded for `round`: clips and noises `kept` against the round's global
  // values, and returns the private summary record when the run releases
  // summaries (an empty optional inside when it does not); nullopt when the
  // round cannot be privatized (logged).
  std::optional<std::optional<privacy::PrivateSummary>> Privatize(
      std::uint64_t round, std::vector<float>& kept, const aggregation::SoftTargetSummary& summary);
  // Elements the private summary record adds to a secure round's vector
  // (C² + C under distributed DP with summaries released, else 0).
  std::size_t PrivateRecordLength() const;
  // The decoded round, or why this client cannot train on `start`.
  std::variant<LocalRound, std::string> Decode(std::uint64_t round, wire::RoundStart start);
  // The answer to a SECAGG_* message of the current secure round, if any.
  std::optional<std::vector<std::uint8_t>> OnSecure(std::uint64_t round, wire::Body& body);
  std::vector<std::uint8_t> MaskedFrame(wire::SecAggMasked masked) const;

  ClientSessionOptions options_;
  std::uint64_t num_values_ = 0;
  bool welcomed_ = false;
  std::int64_t rejects_received_ = 0;
  std::uint64_t mask_round_ = 0;
  std::shared_ptr<const aggregation::Mask> mask_;
  std::vector<float> residual_;  // dense quantization error of the last upload (error feedback)
  std::map<std::uint64_t, std::vector<float>> dp_references_;  // round → global kept values
  std::optional<SecureClientRound> secure_;                    // the secure round in progress
  std::uint64_t secure_rounds_started_ = 0;
  // The latest round this client revealed unmask shares for (0: none): no
  // secure round up to it is taken part in again.
  std::uint64_t revealed_round_ = 0;
  std::optional<PrivacyLedger> ledger_;
  std::vector<float> secure_reference_;  // its global kept values (deltas are from them)
};

}  // namespace fsd::client
