// Configuration structs for fsd runs: plain values with defaults, one comment
// per field (meaning, unit, default, trade-off). Loaded from TOML by
// common/config/toml_loader.h; every key is documented in configs/README.md
// (a unit test keeps the two in step).
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/data/augment.h"
#include "common/data/cifar_file.h"
#include "common/data/image_arrays.h"
#include "common/data/npy_file.h"
#include "common/data/text_file.h"
#include "common/model/multi_exit_net.h"

namespace fsd::config {

enum class DataSource { kIdx, kSynthetic, kCifar, kNpy, kText };
enum class LrSchedule { kConstant, kCosine };
enum class Teacher { kDeepest, kEnsemble };
enum class TrainedExits { kAll, kMain };

// [data]: where samples come from (docs/DATA.md).
struct DataConfig {
  // "idx" reads MNIST-format files, "cifar" the CIFAR-10/100 binary files,
  // "npy" NumPy arrays, "text" plain text (next-character samples), all
  // from `dir`; "synthetic" generates a class-conditional dataset (fast
  // tests, no files needed).
  DataSource source = DataSource::kIdx;
  // The directory holding the source's files.
  std::string dir = "/usr/share/datasets/fashion-mnist";
  // CIFAR-100's label: "fine" (100 classes) or "coarse" (20 superclasses).
  data::CifarLabels cifar_labels = data::CifarLabels::kFine;
  // How 4-dimensional NumPy images are laid out: N×H×W×C or N×C×H×W.
  data::NpyLayout npy_layout = data::NpyLayout::kNhwc;
  // Number of classes; labels must lie in [0, num_classes). 0: from the files
  // (CIFAR's format, else the largest label + 1); synthetic data: 10.
  int num_classes = 0;
  // Per-channel normalization (intensity − mean[c]) / std[c]; empty lists are
  // computed from the training split.
  data::Normalization normalization;
  // Training-time augmentation: "none" or "crop_flip" (random crop of the
  // image padded by 4 pixels, horizontal flip). Not set: crop_flip for
  // 3-channel images, none otherwise (data::AdoptFromData decides).
  std::optional<data::Augmentation> augment;
  // Text source only: symbols per sample and between windows' starts.
  int text_window = 80;
  int text_stride = 8;
  // Keep only the first N training / test samples (0 = all). For quick runs.
  std::int64_t max_train_samples = 0;
  std::int64_t max_test_samples = 0;
  // Synthetic source only: sample counts, image side (square, 1 channel) and
  // noise level (higher is harder).
  std::int64_t synthetic_train_samples = 4000;
  std::int64_t synthetic_test_samples = 1000;
  int synthetic_side = 28;
  double synthetic_noise = 1.0;
};

// [model]
struct ModelConfig {
  model::Architecture architecture = model::Architecture::kCnn3S;
  // architecture "torchscript": the TorchScript file (docs/MODELS.md).
  std::string path;
  // Seed of the initial weights; the same seed gives the same initial model.
  std::uint64_t init_seed = 0;
};

// [training]: local optimisation (the same for centralized and federated runs).
struct TrainingConfig {
  int epochs = 1;       // passes over the local data per run (per round when federated)
  int batch_size = 32;  // samples per SGD step; the last partial batch is kept
  double lr = 0.05;     // SGD learning rate
  LrSchedule lr_schedule = LrSchedule::kConstant;  // cosine decays per step to 0 over the run
  double momentum = 0.9;       // SGD momentum (state reset at the start of a run)
  double weight_decay = 5e-4;  // L2 penalty added to gradients
  // FedProx (Li et al. 2020): μ of the proximal term μ/2·‖w − w_round‖² toward
  // the weights the round started from, on the trained, kept coordinates; 0 = off.
  double proximal_mu = 0.0;
  std::uint64_t seed = 0;  // shuffling seed; same seed, same batches
  int threads = 1;         // torch intra-op threads; parallelism comes from workers
  int eval_batch_size =
      128;  // samples per evaluation pass (activations stay under the 32 MiB mmap threshold)
};

// [loss]: self-distillation (DESIGN.md, SelfDistillationLoss).
struct LossConfig {
  // "all": CE on the main exit + per aux exit alpha*CE + (1-alpha)*T^2*KL(teacher||aux).
  // "main": CE on the main exit only (the plain fedavg variant; aux exits untrained).
  TrainedExits exits = TrainedExits::kAll;
  // Weight of an aux exit's CE; 1 - alpha goes to distillation. 1.0 = no distillation.
  double alpha = 0.5;
  // Softmax temperature of the distillation term; T^2 keeps gradient scale.
  double temperature = 3.0;
  // "deepest": the main exit teaches; "ensemble": the mean logits of all exits teach.
  Teacher teacher = Teacher::kDeepest;
  // Weight of the KL toward externally supplied per-class soft targets (0 = off).
  double beta = 0.0;
};

enum class PartitionKind { kFile, kIid, kDirichlet, kShards, kNatural };

// What a round whose new global model diverged does (federation.on_divergence).
enum class DivergencePolicy { kStop, kRollback };

// What clients share each round.
enum class FederationMode {
  kWeights,       // weights and soft-target summaries (fedsd, fedavg)
  kDistillation,  // summaries only: each client keeps its own weights (federated distillation)
};

// [federation]: who takes part and how rounds run (fsd-sim, fsd-coordinator).
struct FederationConfig {
  int rounds = 20;   // rounds to run
  int clients = 10;  // simulated clients (fsd-sim); must match a partition file's lines
  // Clients that must have joined before the first round starts (0 = `clients`).
  int min_clients = 0;
  // The cohort: ceil(fraction × enrolled clients), sampled each round
  // (seeded) among those joined — checked in — and at most all of them.
  double fraction = 1.0;
  // Share of the sampled clients whose updates must arrive for the round to be
  // aggregated; otherwise it is retried without touching the global model.
  double quorum = 1.0;
  double round_deadline_s = 600.0;  // a round stops waiting for updates after this
  // How the training set is split: "file" reads `partition_file`; "iid",
  // "dirichlet" (over labels, `dirichlet_alpha`) and "shards"
  // (`shards_per_client` label shards each) are generated with `seed`;
  // "natural": data.dir holds one folder per client (docs/DATA.md), and
  // `clients` must be their number.
  PartitionKind partition = PartitionKind::kDirichlet;
  std::string partition_file;
  double dirichlet_alpha = 0.5;
  int shards_per_client = 2;
  std::uint64_t seed = 42;  // partition and client sampling
  bool checkpoint = true;   // write DIR/checkpoint.bin after every round (for --resume)
  // "weights": clients upload weights + soft-target summary and train from the
  // global model; "distillation": summaries only, clients keep their own
  // weights between rounds (persisted per client) and learn from each other
  // through the global soft targets alone (set schedule.beta > 0).
  FederationMode mode = FederationMode::kWeights;
  // The most local samples a client may declare at JOIN (a larger
  // declaration is refused with LIMIT_EXCEEDED). A declaration is fixed for
  // a round once the client is sampled; with aggregation.weighting =
  // "samples" it is the client's weight, so keep this tight in deployments.
  std::int64_t max_samples_per_client = 1'000'000'000;
  // Over-selection: sample ceil(k × (1 + over_select)) clients, where k is
  // the fraction-based count, and close the round as soon as k reported
  // (the slowest are not waited for). 0 = sample exactly k.
  double over_select = 0.0;
  // What a round whose committed model is not finite or leaves
  // limits.max_abs_value does: "stop" the run (exit code 6, summary.json's
  // stop_reason names the round; the checkpoint keeps the last good model),
  // or "rollback" to the last good model and go on with the next round.
  DivergencePolicy on_divergence = DivergencePolicy::kStop;
};

enum class AggregationRule { kFedAvg, kMedian, kTrimmedMean, kKrum, kMultiKrum };
enum class ServerOptimizerKind { kNone, kMomentum, kAdam, kYogi, kAdagrad };
enum class ClientWeighting { kSamples, kUniform, kCapped };
enum class SummaryRule { kMean, kMedian, kTrimmedMean, kClippedMean };
enum class RobustVotes { kOnePerClient, kByWeight };

// [aggregation]: how the coordinator combines the round's updates
// (aggregation/aggregate.h, aggregation/weighting.h).
struct AggregationConfig {
  // "fedavg" (weighted mean), "median" (coordinate-wise weighted median),
  // "trimmed_mean" (coordinate-wise, trim_fraction from each side),
  // "krum" (the one update closest to its n − f − 2 neighbours; unweighted),
  // "multi_krum" (the weighted mean of the krum_selected best).
  AggregationRule rule = AggregationRule::kFedAvg;
  // How much a client counts, for weights and soft-target summaries alike:
  // "samples" (its declared samples: classic FedAvg, but one client that
  // declares 10^9 samples owns the aggregate), "uniform" (all the same),
  // "capped" (samples, at most max_weight_ratio × the round's median).
  ClientWeighting weighting = ClientWeighting::kCapped;
  double max_weight_ratio = 4.0;  // "capped" only; >= 1
  // "median" and "trimmed_mean": "one_per_client" (every client counts once:
  // their breakdown point is a share of the clients) or "by_weight" (the
  // weighting above: a weighted median falls to half of the weight).
  RobustVotes robust_votes = RobustVotes::kOnePerClient;
  // Soft targets: also cap each class's weight at max_weight_ratio × that
  // class's median weight, so a client cannot concentrate its weight on one
  // class; off by default, because on a non-IID split it also caps the
  // honest client that holds most of a class.
  bool cap_per_class = false;
  double trim_fraction = 0.1;  // β in [0, 0.5): share trimmed from each side
  // f, the hostile clients Krum must tolerate: a round needs >= 2f + 3 updates.
  int byzantine = 0;
  int krum_selected = 0;  // m for "multi_krum"; 0 = n − f
  // Before the rule, clip every client's delta from the global model to an
  // L2 bound: 0 = off, a number = that bound, "median" (clip_median) = the
  // round's median delta norm × clip_factor.
  double clip_norm = 0.0;
  bool clip_median = false;
  double clip_factor = 1.0;
  // Soft-target summaries, per class and logit over the clients that report
  // the class: "mean", "median", "trimmed_mean" (with trim_fraction),
  // "clipped_mean" (rows clipped to summary_clip_factor × their median
  // distance from the median row, then a mean with capped class weights).
  SummaryRule summary_rule = SummaryRule::kMean;
  double summary_clip_factor = 2.0;
  // After the rule, how the global model moves (aggregation/server_optimizer.h):
  // "none" (to the rule's output), "momentum" (FedAvgM), "adam", "yogi",
  // "adagrad" (Reddi et al. 2021), with server_lr η, server_momentum μ,
  // beta1, beta2 and tau.
  ServerOptimizerKind server_optimizer = ServerOptimizerKind::kNone;
  double server_lr = 1.0;
  double server_momentum = 0.9;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double tau = 1e-3;
};

// [limits]: what one enrolled client may send or cost (coordinator).
struct PeerLimitsConfig {
  // Largest |value| of an uploaded model value; a larger one is refused
  // (INVALID_VALUE) before it reaches the aggregate.
  double max_abs_value = 1e5;
  double max_abs_logit = 1e4;   // largest |mean logit| in a soft-target summary
  double max_train_loss = 1e4;  // largest reported training loss (>= 0)
  // ROUND_START re-sends to one client in one round (it asks by re-JOINing);
  // more JOINs are answered with WELCOME only.
  int max_round_start_resends = 3;
  // UPDATEs of one client refused in one attempt (each costs a hash and a
  // decode) before the client is left out of that round.
  int max_refused_updates = 3;
  // Live connections (routing ids) one key may hold; messages from more are
  // refused (BUSY) until an older connection has been silent for
  // transport.client_timeout_s.
  int max_connections_per_key = 2;
};

enum class AttackKind {
  kSignFlip,
  kScale,
  kGaussian,
  kZero,
  kRandom,
  kAlie,
  kLabelFlip,
  kLogitPoison,
  kBadShare,   // secure aggregation: one wrong Shamir share in the unmask reveal
  kBadWeight,  // secure aggregation: masks with its announced weight + factor
  kBadSeal,    // secure aggregation: one sealed key share its recipient cannot open
};

// [attack]: hostile enrolled clients in fsd-sim (robustness experiments).
// `clients` of the N are chosen from federation.seed; they use the real
// protocol and keys, train honestly, then send the attack (sim/attack.h).
struct AttackConfig {
  int clients = 0;  // 0 = no attack
  // "sign_flip" global − factor·delta; "scale" global + factor·delta;
  // "gaussian" global + N(0, (factor·std(delta))²); "zero" the global model
  // unchanged; "random" uniform values in [−factor, factor]; "alie" mean −
  // factor·std of the attackers' honest deltas (0 = the z of Baruch et al.);
  // "label_flip" trains on labels c → C−1−c; "logit_poison" honest weights,
  // summary rows with class c's logit swapped with class (c+1) mod C's,
  // scaled by factor. delta = honestly trained − global.
  AttackKind kind = AttackKind::kSignFlip;
  double factor = 1.0;
  int start_round = 1;  // the first round that attackers attack (before it: honest)
  // Samples the attacker declares at JOIN and claims in every UPDATE (its
  // summary counts scaled to match); 0 = its true count.
  double declared_samples = 0.0;
};

enum class DpMode { kOff, kCentral, kDistributed };

// [privacy]: client-level differential privacy (DP-FedAvg, McMahan et al.
// 2018) with a Rényi-DP accountant (privacy/dp/rdp_accountant.h,
// coordinator/private_release.h). "central": the coordinator (trusted)
// samples clients by Poisson sampling with rate federation.fraction, clips
// each client's delta to clip_norm, adds Gaussian noise to the sum and
// divides by the expected cohort federation.fraction × federation.clients.
// "distributed": the coordinator is not trusted with the noise; every client
// clips its own delta and adds 1/min_survivors of the noise variance, and a
// round is released only when at least min_survivors clients reported
// (model weights only; privacy/dp/dp_release.h).
struct PrivacyConfig {
  DpMode dp = DpMode::kOff;
  double clip_norm = 1.0;  // S: L2 bound of one client's model delta
  // z: noise std = z·S per coordinate; 0 = computed from target_epsilon for
  // federation.rounds rounds.
  double noise_multiplier = 0.0;
  // The budget: no round is released whose ε at `delta` would exceed it
  // (the run stops); 0 = no budget (then noise_multiplier is required).
  double target_epsilon = 0.0;
  double delta = 1e-5;
  // Soft-target summaries (one record per client): per-class mean logit rows
  // clipped jointly to summary_clip_norm, counts replaced by 0/1 presence.
  double summary_clip_norm = 10.0;
  // Their noise multiplier; 0 = from target_epsilon (required when summaries
  // are released and noise_multiplier is given).
  double summary_noise_multiplier = 0.0;
  // t (distributed only, required there): the fewest reports a round is
  // released with; each client adds N(0, (z·S)²/t).
  int min_survivors = 0;
};

enum class SecAggGraphKind { kComplete, kSparse };

// [secure_aggregation]: the coordinator learns only the sum of a round's
// updates (Bonawitz et al. 2017, with Bell et al.'s sparse graph;
// docs/SECURE_AGGREGATION.md). Each client masks, in Z_{2^B}, its weighted
// delta w·(x − global) over the kept values, w itself, and its soft-target
// summary (per-class counts, class weights and weighted logit rows), all in
// fixed point with `bits` of resolution.
struct SecureAggregationConfig {
  bool enabled = false;
  SecAggGraphKind graph = SecAggGraphKind::kComplete;
  // Shares that reconstruct a secret: a fraction in (0, 1] of a client's
  // neighbourhood (the cohort, or its k + 1 neighbours), or a count > 1;
  // 0: more than half of the cohort (complete), Bell et al.'s t (sparse).
  double threshold = 0.0;
  int bits = 16;              // fixed-point resolution of a delta or logit
  double range = 1.0;         // deltas are clamped to ±range (counted)
  double logit_range = 64.0;  // summary logits are clamped to ±logit_range (counted)
  int weight_bits = 8;        // integer weights 1..2^weight_bits − 1 (0 with uniform weighting)
  // Sparse graph sizing (Bell et al.): the fraction of clients expected to
  // drop out and the fraction that may collude with the coordinator.
  double dropout_rate = 0.1;
  double adversarial_rate = 0.05;
  // The key stages and the unmask stage close after this long (the masked
  // inputs wait for federation.round_deadline_s, as updates do).
  double stage_deadline_s = 30.0;
  // A client's own floor on the threshold it accepts (same forms as
  // threshold); 0: its config's threshold when set, else more than half of
  // a complete graph's cohort (client/secure_client_round.h).
  double min_threshold = 0.0;
  // A client that revealed a wrong share is left out of this many of the
  // following rounds; 0: of the rest of the run.
  int exclude_rounds = 0;
};

enum class TemperatureScheduleKind { kConstant, kLinear, kCosine, kStep, kAdaptive };
enum class RampKind { kConstant, kLinear };
enum class RoundLrScheduleKind { kConstant, kLinear, kCosine, kStep };

// [schedule]: the T, alpha and beta the coordinator announces each round
// (aggregation/schedules.h). "constant" uses the [loss] value.
struct ScheduleConfig {
  // constant: loss.temperature. linear / cosine: temperature_start at round 1
  // to temperature_end at the last round. step: temperature_start multiplied
  // by step_factor every step_rounds rounds, clamped to [temperature_min,
  // temperature_max]. adaptive: each round, the T in [temperature_min,
  // temperature_max] at which the global soft targets' mean entropy is
  // target_entropy × log C (bisection on the aggregated logits); round 1,
  // which has no logits yet, uses loss.temperature.
  TemperatureScheduleKind temperature = TemperatureScheduleKind::kConstant;
  double temperature_start = 4.0;
  double temperature_end = 1.0;
  int step_rounds = 5;
  double step_factor = 0.5;
  double temperature_min = 1.0;
  double temperature_max = 10.0;
  double target_entropy = 0.5;  // fraction of log C, in (0, 1)
  // alpha / beta: "constant" (loss.alpha / loss.beta) or "linear" from *_start
  // at round 1 to *_end at the last round.
  RampKind alpha = RampKind::kConstant;
  double alpha_start = 0.5;
  double alpha_end = 0.5;
  RampKind beta = RampKind::kConstant;
  double beta_start = 0.0;
  double beta_end = 0.0;
  // lr: the factor of training.lr announced each round (ROUND_START
  // lr_factor; aggregation::LearningRateSchedule): "constant" (1), "linear"
  // or "cosine" from 1 after lr_warmup_rounds to lr_end at the end of the
  // run, "step" (× lr_step_factor every lr_step_rounds rounds). Warm-up
  // rounds ramp up as r / (lr_warmup_rounds + 1).
  RoundLrScheduleKind lr = RoundLrScheduleKind::kConstant;
  int lr_warmup_rounds = 0;
  double lr_end = 0.0;
  int lr_step_rounds = 5;
  double lr_step_factor = 0.5;
};

enum class ValueCodec { kFp32, kFp16, kInt8 };

// [compression]: how model values travel (common/codec/values.h).
struct CompressionConfig {
  // Client → coordinator values: "fp32", "fp16" or "int8" (one symmetric
  // scale per model tensor).
  ValueCodec uplink = ValueCodec::kFp32;
  // Coordinator → client values; the coordinator's own copy stays fp32.
  ValueCodec downlink = ValueCodec::kFp32;
  bool zstd = false;                 // zstd over every encoded value section and mask
  int zstd_level = 3;                // 1 (fast) .. 19 (small)
  bool stochastic_rounding = false;  // int8: unbiased rounding instead of nearest
  // Quantized uploads: keep each client's quantization error and add it to
  // its next upload, so errors do not accumulate in the global model.
  bool error_feedback = false;
};

enum class PruneScope { kGlobal, kLayer };

// [pruning]: progressive magnitude pruning owned by the coordinator
// (DESIGN.md, SparsitySchedule). Sparsity counts the prunable values: the
// weights of convolutions and linear layers (BatchNorm parameters, biases and
// running statistics are never pruned).
struct PruningConfig {
  double final_sparsity = 0.0;    // s_f; 0 = no pruning
  double initial_sparsity = 0.0;  // s_0, applied at start_round
  int start_round = 1;            // t_0: first pruning step
  int end_round = 15;             // s_f is reached here
  int every = 1;                  // Δt: rounds between pruning steps
  // "global": one magnitude threshold over all prunable weights; "layer":
  // the same sparsity in every layer.
  PruneScope scope = PruneScope::kGlobal;
  double min_keep = 0.05;  // every layer keeps at least this share of its weights
};

// [transport]: sockets and their limits.
struct TransportConfig {
  // Coordinator bind address; fsd-sim binds tcp://127.0.0.1:* (a free port).
  std::string bind = "tcp://127.0.0.1:*";
  // Plaintext instead of CURVE: debugging only, prints a warning.
  bool insecure = false;
  int heartbeat_ms = 1000;         // a client pings when idle this long
  double client_timeout_s = 30.0;  // a silent client is dropped from its round after this
  int max_message_mb = 80;         // ZMQ_MAXMSGSIZE and the decoder's frame limit
  int handshake_ms = 5000;         // ZMQ_HANDSHAKE_IVL
  // Coordinator: inbound frames queued per connection (ZMQ_RCVHWM); a round
  // needs a handful, so a flooding client fills its own queue and loses
  // messages, not the coordinator's memory. (Outbound replies: 1000.)
  int queue_messages = 16;
  // Coordinator: the receive loop handles messages for at most this long
  // before it checks deadlines and timeouts again (bounded under a flood).
  int poll_budget_ms = 50;
};

// [faults]: faults fsd-sim injects into its clients (seeded; counted per
// round in metrics.jsonl).
struct FaultsConfig {
  // Dropout, per client and delivery of a round (drawn from the seed, the
  // client, the round and how often the client received it): the client
  // abandons the round at one of three points — no upload, no answer to its
  // secure-aggregation messages — and the coordinator learns of it from the
  // deadline, quorum and over-selection. It stays connected for later
  // rounds; with check-in (sim.checked_in) it leaves without a word. In
  // secure rounds these are the stages after advertising keys, after
  // sharing them, and after the masked input (no unmask answer).
  double dropout_before_train = 0.0;  // on receiving ROUND_START
  double dropout_during_train = 0.0;  // instead of uploading its result
  double dropout_after_upload = 0.0;  // right after its upload
  // With check-in: a client that dropped out (or checked out) of round r
  // checks in again once r committed, or this long after it left if that
  // comes first.
  double offline_s = 10.0;
  // Stragglers: this share of the clients (fixed from the seed) take
  // straggler_factor times their training time before they upload.
  double straggler_fraction = 0.0;
  double straggler_factor = 5.0;
  // Crash and restart: per client and delivery, the probability that the
  // client process dies after training, before uploading, and starts again
  // (a new connection, JOIN) restart_after_s later.
  double crash_rate = 0.0;
  double restart_after_s = 1.0;
  // Per client and delivery: the probability that the client sends a
  // garbage frame (random bytes) before its upload.
  double garbage_rate = 0.0;
};

// Whether `faults` injects anything.
bool InjectsFaults(const FaultsConfig& faults);

// [sim]: the one-machine simulation.
struct SimConfig {
  // Worker threads that train clients (one torch thread each); 0 = number of cores.
  int workers = 0;
  // Cross-device check-in: how many of the federation.clients registered
  // clients are connected at a time. A client that uploaded leaves, and a
  // client drawn at random from those offline checks in; the coordinator
  // samples among those checked in. 0 = all of them when there are at most
  // 1,000 or privacy.dp is on, else twice the round's cohort with its spares.
  int checked_in = 0;
};

// One [[heterogeneity.profile]] table: this share of fsd-sim's clients
// trains the sub-network of exit max_exit (0: the whole network).
struct ExitProfile {
  double share = 0.0;
  int max_exit = 0;
};

// [heterogeneity]: clients that can afford only part of the network train
// the sub-network of their deepest affordable exit (common/model/layout.h).
struct HeterogeneityConfig {
  // fsd-client: the deepest exit this client trains, stated at JOIN; 0 = the whole network.
  int max_exit = 0;
  // Coordinator: JOINs stating a shallower max_exit are refused; 0 = every exit is welcome.
  int min_exit = 0;
  // fsd-sim: the clients' profiles, shares summing to 1, assigned from
  // federation.seed; empty: every client trains the whole network.
  std::vector<ExitProfile> profiles;
};

// Everything an fsd executable reads; each uses the sections it needs.
struct RunConfig {
  DataConfig data;
  ModelConfig model;
  TrainingConfig training;
  LossConfig loss;
  FederationConfig federation;
  AggregationConfig aggregation;
  PeerLimitsConfig limits;
  ScheduleConfig schedule;
  CompressionConfig compression;
  PruningConfig pruning;
  TransportConfig transport;
  SimConfig sim;
  FaultsConfig faults;
  AttackConfig attack;
  PrivacyConfig privacy;
  SecureAggregationConfig secure_aggregation;
  HeterogeneityConfig heterogeneity;
};

// The clients fsd-sim keeps checked in (sim.checked_in, with 0 resolved).
int CheckedInClients(const RunConfig& config);

// Whether the coordinator aggregates and releases soft-target summaries:
// distillation-only mode, β > 0 in some round, or the adaptive temperature
// schedule (it reads the aggregated logits).
bool ReleasesSummaries(const RunConfig& config);

}  // namespace fsd::config
