// Coordinator: the ROUTER side of a federation. It authenticates clients
// (CURVE + ZAP allow-list; identity = the ZAP User-Id, never the routing id),
// runs rounds — wait for `min_clients` → schedule T, α, β and soften the
// aggregated logits into global soft targets → sample → ROUND_START → collect
// UPDATEs until all sampled clients reported or the deadline passed →
// aggregate weights and soft-target summaries if the quorum reported, else
// retry the round without touching the global state → evaluate → checkpoint —
// and answers every bad message with a typed REJECT while carrying on. At the
// pruning steps of its sparsity schedule it selects a new mask from the
// magnitudes of the global weights (StartRound) and sends it, as a bitmask,
// to each client once; values travel as the kept values only, encoded with
// the configured codecs, while the global model stays exact fp32 here. In
// distillation-only mode (federation.mode) there is no global model: ROUND_START
// carries no values, UPDATEs carry only summaries, and nothing is evaluated.
//
// Round phases: kWaiting (accepts JOIN, HEARTBEAT, BYE) and kCollecting (also
// UPDATE for the current round from sampled clients). Anything else gets
// REJECT(UNEXPECTED_KIND). Rejections are counted per code in metrics.
// Thread-safety: Bind() and Run() on one thread (which then owns the socket);
// Stop() from any thread. Errors: IoError/AuthError from set-up; nothing a
// peer sends makes Run() throw.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "aggregation/schedules.h"
#include "aggregation/soft_targets.h"
#include "aggregation/sparsity.h"
#include "common/codec/values.h"
#include "common/config/config.h"
#include "common/metrics/metrics_sink.h"
#include "common/model/flat_params.h"
#include "common/wire/frame.h"
#include "privacy/curve_keys.h"
#include "privacy/zap_handler.h"

namespace fsd::coordinator {

struct CoordinatorOptions {
  config::FederationConfig federation;
  config::TransportConfig transport;
  // T, α and β announced in ROUND_START (aggregation/schedules.h).
  std::shared_ptr<const aggregation::TemperatureSchedule> temperature =
      std::make_shared<aggregation::ConstantTemperature>(3.0);
  aggregation::Ramp alpha = aggregation::Ramp::Constant(0.5);
  aggregation::Ramp beta = aggregation::Ramp::Constant(0.0);
  std::size_t num_classes = 10;  // classes of the model: soft-target summaries are C×C
  int local_epochs = 1;
  std::uint64_t schema_fingerprint = 0;
  // The model's tensors in the flat vector (which ones may be pruned; the
  // int8 codec's segments). Empty: one unprunable tensor of the initial size.
  model::ModelLayout layout;
  codec::EncodeOptions downlink;  // how ROUND_START values and masks are encoded
  aggregation::SparsitySchedule sparsity;  // default: never prunes
  aggregation::MaskScope mask_scope = aggregation::MaskScope::kGlobal;
  double min_keep = 0.05;  // share of every prunable tensor a mask keeps
  std::string out_dir;  // metrics.jsonl and checkpoint.bin go here
  bool resume = false;  // continue from out_dir/checkpoint.bin
};

// The options a run's config implies (the one place they are mapped).
CoordinatorOptions OptionsFromConfig(const config::RunConfig& config,
                                     const model::FlatSchema& schema, std::string out_dir,
                                     bool resume);

// Accuracy of every exit for a global vector (runs on the coordinator thread).
using Evaluator = std::function<std::vector<double>(std::span<const float>)>;
// Observes each round's metrics record after it is written.
using RoundListener = std::function<void(const nlohmann::json&)>;

class Coordinator {
 public:
  // `context` must outlive the coordinator. `allowed_keys`: Z85 client public keys.
  Coordinator(zmq::context_t& context, CoordinatorOptions options,
              privacy::CurveKeyPair server_keys, std::set<std::string> allowed_keys,
              std::vector<float> initial_global, Evaluator evaluator, RoundListener listener = {});
  ~Coordinator();

  // Starts the ZAP handler (unless insecure), binds, returns the bound endpoint.
  std::string Bind();
  // Runs rounds until federation.rounds are committed or Stop() is called.
  void Run();
  void Stop() { stop_ = true; }

  // Valid after Run() returns (or between rounds on the Run() thread).
  const std::vector<float>& global() const { return global_; }
  const aggregation::SoftTargetSummary& soft_state() const { return soft_state_; }
  const aggregation::Mask& mask() const { return mask_; }  // empty: dense
  std::uint64_t committed_round() const { return committed_round_; }
  std::map<std::string, std::int64_t> reject_counts() const;

 private:
  struct ClientRecord {
    std::string routing_id;
    std::int64_t declared_samples = 0;
    std::string name;  // JOIN.client_name: orders the aggregation sum reproducibly
    std::chrono::steady_clock::time_point last_seen;
    std::uint64_t mask_round_sent = 0;  // the client has the mask of this round
  };
  // A validated update, decoded.
  struct StagedUpdate {
    std::int64_t sample_count = 0;
    double train_loss = 0.0;
    std::vector<float> kept;  // kept values in flat order; empty in distillation-only mode
    aggregation::SoftTargetSummary summary;
  };
  // Wire bytes of one round, by what they carried.
  struct RoundBytes {
    std::int64_t up = 0, up_weights = 0, up_summary = 0;
    std::int64_t down = 0, down_weights = 0, down_mask = 0, down_soft_targets = 0;
  };
  enum class Phase { kWaiting, kCollecting };

  void HandleFrame(const std::string& routing_id, const std::string& user_id,
                   std::span<const std::uint8_t> frame);
  void OnJoin(const std::string& routing_id, const std::string& user_id, const wire::Join& join);
  void OnUpdate(const std::string& routing_id, const std::string& user_id, std::uint64_t round,
                wire::Update update, std::size_t frame_bytes);
  void StartRound();
  void UpdateMask(std::uint64_t round);
  void SendRoundStart(const std::string& user_id);
  void FinishRound();
  void DropSilentClients();
  void Send(const std::string& routing_id, const wire::Message& message);
  void SendReject(const std::string& routing_id, wire::RejectCode code, const std::string& text);
  std::size_t Quorum() const;

  zmq::context_t& context_;
  CoordinatorOptions options_;
  privacy::CurveKeyPair server_keys_;
  std::set<std::string> allowed_keys_;
  std::unique_ptr<privacy::ZapHandler> zap_;
  zmq::socket_t router_;
  wire::WireLimits limits_;
  Evaluator evaluator_;
  RoundListener listener_;
  std::unique_ptr<metrics::MetricsSink> metrics_;
  std::atomic<bool> stop_{false};

  bool distillation_only() const {
    return options_.federation.mode == config::FederationMode::kDistillation;
  }

  std::vector<float> global_;                     // empty in distillation-only mode
  aggregation::SoftTargetSummary soft_state_;     // aggregated logits so far
  aggregation::Mask mask_;                        // in force; empty: dense
  std::uint64_t mask_round_ = 0;                  // round that chose mask_ (0: none)
  std::vector<std::uint64_t> segments_;           // kept values per tensor under mask_
  std::uint64_t committed_round_ = 0;
  // What the current round announces (set by StartRound).
  double temperature_ = 0.0, alpha_ = 0.0, beta_ = 0.0;
  std::vector<float> soft_targets_;  // C×C, empty while β = 0 or nothing is aggregated
  double soft_target_entropy_ = 0.0;
  codec::Encoded round_values_;  // global kept values, encoded once per round
  codec::Encoded round_mask_;    // mask_ as a bitmask
  std::map<std::string, ClientRecord> clients_;  // by authenticated key
  Phase phase_ = Phase::kWaiting;
  std::uint64_t attempt_ = 0;  // retries of the current round
  std::set<std::string> selected_;
  std::map<std::string, StagedUpdate> staged_;  // validated, not yet aggregated
  std::chrono::steady_clock::time_point round_started_;
  std::chrono::steady_clock::time_point run_started_;
  RoundBytes bytes_;
  std::map<wire::RejectCode, std::int64_t> rejects_;
};

}  // namespace fsd::coordinator
