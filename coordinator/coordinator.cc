#include "coordinator/coordinator.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "aggregation/fedavg.h"
#include "common/config/codec_options.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/storage/checkpoint.h"
#include "privacy/curve_socket.h"

namespace fsd::coordinator {
namespace {

using Clock = std::chrono::steady_clock;
using wire::RejectCode;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Drops metrics lines of rounds after `round` (written before a crash, not committed).
void KeepMetricsUpTo(const std::string& path, std::uint64_t round) {
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!record.is_discarded() && record.contains("round") &&
        record["round"].get<std::uint64_t>() <= round) {
      kept += line + "\n";
    }
  }
  in.close();
  std::ofstream out(path, std::ios::trunc);
  out << kept;
}

std::string Short(const std::string& key) { return key.empty() ? "(plaintext)" : key.substr(0, 8); }

std::shared_ptr<const aggregation::TemperatureSchedule> MakeTemperatureSchedule(
    const config::ScheduleConfig& schedule, const config::LossConfig& loss) {
  using Kind = config::TemperatureScheduleKind;
  switch (schedule.temperature) {
    case Kind::kConstant:
      return std::make_shared<aggregation::ConstantTemperature>(loss.temperature);
    case Kind::kLinear:
      return std::make_shared<aggregation::LinearTemperature>(schedule.temperature_start,
                                                              schedule.temperature_end);
    case Kind::kCosine:
      return std::make_shared<aggregation::CosineTemperature>(schedule.temperature_start,
                                                              schedule.temperature_end);
    case Kind::kStep:
      return std::make_shared<aggregation::StepTemperature>(
          schedule.temperature_start, schedule.step_factor, schedule.step_rounds,
          schedule.temperature_min, schedule.temperature_max);
    case Kind::kAdaptive:
      return std::make_shared<aggregation::AdaptiveTemperature>(
          schedule.target_entropy, schedule.temperature_min, schedule.temperature_max,
          loss.temperature);
  }
  throw InternalError("unknown temperature schedule");
}

aggregation::Ramp MakeRamp(config::RampKind kind, double constant, double start, double end) {
  return kind == config::RampKind::kLinear ? aggregation::Ramp(start, end)
                                           : aggregation::Ramp::Constant(constant);
}

// Bytes of an UPDATE's soft-target summary on the wire: the count list in the
// payload (u64 size + C × i64) and tensor section 1 (header + C² × f32).
std::int64_t SummaryWireBytes(const wire::Update& update) {
  return static_cast<std::int64_t>(8 + update.summary_counts.size() * 8 +
                                   wire::kTensorHeaderBytes + update.summary_logits.size() * 4);
}

// Bytes of an encoded section on the wire (header + stored bytes).
std::int64_t SectionWireBytes(const codec::Encoded& encoded) {
  return static_cast<std::int64_t>(wire::kTensorHeaderBytes + encoded.bytes.size());
}

}  // namespace

CoordinatorOptions OptionsFromConfig(const config::RunConfig& config,
                                     const model::FlatSchema& schema, std::string out_dir,
                                     bool resume) {
  CoordinatorOptions options;
  options.federation = config.federation;
  options.transport = config.transport;
  options.temperature = MakeTemperatureSchedule(config.schedule, config.loss);
  options.alpha = MakeRamp(config.schedule.alpha, config.loss.alpha, config.schedule.alpha_start,
                           config.schedule.alpha_end);
  options.beta = MakeRamp(config.schedule.beta, config.loss.beta, config.schedule.beta_start,
                          config.schedule.beta_end);
  options.num_classes = static_cast<std::size_t>(config.data.num_classes);
  options.local_epochs = config.training.epochs;
  options.schema_fingerprint = schema.fingerprint();
  options.layout = model::LayoutOf(schema);
  options.downlink = config::EncodeOptionsFor(config.compression.downlink, config.compression);
  const auto& pruning = config.pruning;
  if (pruning.final_sparsity > 0.0) {
    options.sparsity = aggregation::SparsitySchedule(pruning.initial_sparsity,
                                                     pruning.final_sparsity, pruning.start_round,
                                                     pruning.end_round, pruning.every);
  }
  options.mask_scope = pruning.scope == config::PruneScope::kLayer
                           ? aggregation::MaskScope::kPerLayer
                           : aggregation::MaskScope::kGlobal;
  options.min_keep = pruning.min_keep;
  options.out_dir = std::move(out_dir);
  options.resume = resume;
  return options;
}

Coordinator::Coordinator(zmq::context_t& context, CoordinatorOptions options,
                         privacy::CurveKeyPair server_keys, std::set<std::string> allowed_keys,
                         std::vector<float> initial_global, Evaluator evaluator,
                         RoundListener listener)
    : context_(context),
      options_(std::move(options)),
      server_keys_(std::move(server_keys)),
      allowed_keys_(std::move(allowed_keys)),
      router_(context, zmq::socket_type::router),
      evaluator_(std::move(evaluator)),
      listener_(std::move(listener)),
      global_(std::move(initial_global)) {
  limits_.max_message_bytes = static_cast<std::uint64_t>(options_.transport.max_message_mb) << 20;
  limits_.max_values = std::max<std::uint64_t>(limits_.max_values, global_.size());
  if (options_.federation.min_clients == 0)
    options_.federation.min_clients = options_.federation.clients;
  if (options_.layout.empty()) options_.layout = {{0, global_.size(), false}};
  if (distillation_only()) global_.clear();
  const std::string checkpoint_path = options_.out_dir + "/checkpoint.bin";
  if (options_.resume && std::filesystem::exists(checkpoint_path)) {
    storage::Checkpoint checkpoint =
        storage::ReadCheckpoint(checkpoint_path, limits_.max_values, limits_.max_classes);
    if (checkpoint.schema_fingerprint != options_.schema_fingerprint ||
        checkpoint.global.size() != global_.size()) {
      throw DataError(checkpoint_path + ": checkpoint is for a different model or mode");
    }
    if (!checkpoint.class_counts.empty() &&
        checkpoint.class_counts.size() != options_.num_classes) {
      throw DataError(checkpoint_path + ": checkpoint is for a different number of classes");
    }
    global_ = std::move(checkpoint.global);
    soft_state_ = {std::move(checkpoint.class_counts), std::move(checkpoint.mean_logits)};
    mask_ = std::move(checkpoint.mask);
    mask_round_ = checkpoint.mask_round;
    if (!mask_.empty()) {
      round_mask_ = codec::EncodeBitmask(mask_, options_.downlink.zstd, options_.downlink.zstd_level);
    }
    committed_round_ = checkpoint.round;
    KeepMetricsUpTo(options_.out_dir + "/metrics.jsonl", committed_round_);
    FSD_LOG(INFO) << "resuming after round " << committed_round_;
  }
  segments_ = aggregation::KeptPerTensor(options_.layout, mask_);
  metrics_ = std::make_unique<metrics::MetricsSink>(options_.out_dir + "/metrics.jsonl",
                                                    /*append=*/options_.resume);
}

Coordinator::~Coordinator() = default;

std::string Coordinator::Bind() {
  privacy::SocketLimits socket_limits;
  socket_limits.max_message_bytes = static_cast<std::int64_t>(limits_.max_message_bytes);
  socket_limits.handshake_ms = options_.transport.handshake_ms;
  socket_limits.high_water_mark = 10'000;
  if (options_.transport.insecure) {
    FSD_LOG(WARNING) << "--insecure: plaintext transport, no authentication";
    privacy::ConfigureInsecure(router_, socket_limits);
  } else {
    // The handler must answer before the socket binds: libzmq admits any CURVE
    // client when no ZAP handler is running.
    zap_ = std::make_unique<privacy::ZapHandler>(context_, allowed_keys_);
    zap_->Start();
    privacy::ConfigureCurveServer(router_, server_keys_, socket_limits);
  }
  router_.set(zmq::sockopt::router_mandatory, false);
  router_.bind(options_.transport.bind);
  return router_.get(zmq::sockopt::last_endpoint);
}

void Coordinator::Run() {
  run_started_ = Clock::now();
  const auto rounds = static_cast<std::uint64_t>(options_.federation.rounds);
  while (!stop_ && committed_round_ < rounds) {
    zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) throw;
      continue;  // a signal: Stop() may have been called
    }
    // Drain what arrived; each message is [routing id, frame].
    while (!stop_) {
      zmq::message_t routing_id;
      if (!router_.recv(routing_id, zmq::recv_flags::dontwait)) break;
      std::vector<zmq::message_t> parts;
      while (routing_id.more() || (!parts.empty() && parts.back().more())) {
        zmq::message_t part;
        if (!router_.recv(part, zmq::recv_flags::dontwait)) break;
        parts.push_back(std::move(part));
        if (!parts.back().more()) break;
      }
      const std::string routing = routing_id.to_string();
      if (parts.size() != 1) {
        ++rejects_[RejectCode::kMalformed];
        SendReject(routing, RejectCode::kMalformed, "expected exactly one frame per message");
        continue;
      }
      const char* user = parts[0].gets("User-Id");
      const std::string user_id = user != nullptr ? user : "";
      // Plaintext mode has no authenticated identity; fall back to the routing id.
      const std::string identity = options_.transport.insecure ? routing : user_id;
      HandleFrame(routing, identity, {parts[0].data<std::uint8_t>(), parts[0].size()});
    }
    DropSilentClients();
    if (phase_ == Phase::kWaiting &&
        clients_.size() >= static_cast<std::size_t>(options_.federation.min_clients)) {
      StartRound();
    }
    if (phase_ == Phase::kCollecting) {
      const bool all_in = staged_.size() == selected_.size();
      const bool deadline = SecondsSince(round_started_) > options_.federation.round_deadline_s;
      if (all_in || deadline) FinishRound();
    }
  }
  for (const auto& [key, client] : clients_)
    Send(client.routing_id, {committed_round_, wire::Bye{"federation finished"}});
}

void Coordinator::HandleFrame(const std::string& routing_id, const std::string& user_id,
                              std::span<const std::uint8_t> frame) {
  auto decoded = wire::DecodeFrame(frame, limits_);
  if (!decoded.ok()) {
    ++rejects_[decoded.reject().code];
    FSD_LOG(WARNING) << "rejected frame from " << Short(user_id) << ": "
                     << wire::RejectCodeName(decoded.reject().code) << " " << decoded.reject().text;
    SendReject(routing_id, decoded.reject().code, decoded.reject().text);
    return;
  }
  wire::Message& message = decoded.value();
  if (auto it = clients_.find(user_id); it != clients_.end()) {
    it->second.last_seen = Clock::now();
    it->second.routing_id = routing_id;
  }
  switch (wire::KindOf(message.body)) {
    case wire::MessageKind::kJoin:
      OnJoin(routing_id, user_id, std::get<wire::Join>(message.body));
      return;
    case wire::MessageKind::kUpdate:
      OnUpdate(routing_id, user_id, message.round, std::move(std::get<wire::Update>(message.body)),
               frame.size());
      return;
    case wire::MessageKind::kHeartbeat:
      if (!clients_.contains(user_id)) {
        SendReject(routing_id, RejectCode::kNotAuthorized, "unknown session: JOIN first");
        ++rejects_[RejectCode::kNotAuthorized];
      }
      return;
    case wire::MessageKind::kBye:
      clients_.erase(user_id);
      if (selected_.erase(user_id) > 0) staged_.erase(user_id);
      FSD_LOG(INFO) << "client " << Short(user_id) << " left";
      return;
    default:
      ++rejects_[RejectCode::kUnexpectedKind];
      SendReject(routing_id, RejectCode::kUnexpectedKind,
                 std::string(wire::MessageKindName(wire::KindOf(message.body))) +
                     " is not accepted by a coordinator");
      return;
  }
}

void Coordinator::OnJoin(const std::string& routing_id, const std::string& user_id,
                         const wire::Join& join) {
  const auto reject = [&](RejectCode code, const std::string& text) {
    ++rejects_[code];
    SendReject(routing_id, code, text);
  };
  if (join.min_version > wire::kProtocolVersion || join.max_version < wire::kProtocolVersion) {
    return reject(RejectCode::kUnsupportedVersion,
                  "client speaks " + std::to_string(join.min_version) + ".." +
                      std::to_string(join.max_version) + ", coordinator " +
                      std::to_string(wire::kProtocolVersion));
  }
  if (join.schema_fingerprint != options_.schema_fingerprint) {
    return reject(RejectCode::kSchemaMismatch,
                  "client model layout differs from the coordinator's");
  }
  if (join.num_samples <= 0 || join.num_samples > 1'000'000'000) {
    return reject(RejectCode::kLimitExceeded, "num_samples must be in 1..1e9");
  }
  ClientRecord& record = clients_[user_id];
  record.routing_id = routing_id;
  record.declared_samples = join.num_samples;
  record.name = join.client_name;
  record.mask_round_sent = 0;  // a (re)joined client gets the mask again
  FSD_LOG(INFO) << "client " << Short(user_id) << " joined with " << join.num_samples << " samples";
  record.last_seen = Clock::now();
  Send(routing_id,
       {committed_round_, wire::Welcome{wire::kProtocolVersion, options_.schema_fingerprint,
                                        static_cast<std::uint32_t>(options_.federation.rounds)}});
  // A client that rejoins during a round it was sampled for gets the round again.
  if (phase_ == Phase::kCollecting && selected_.contains(user_id) && !staged_.contains(user_id)) {
    SendRoundStart(user_id);
  }
}

void Coordinator::OnUpdate(const std::string& routing, const std::string& user_id,
                           std::uint64_t round, wire::Update update, std::size_t frame_bytes) {
  const auto client = clients_.find(user_id);
  const auto reject = [&](RejectCode code, const std::string& text) {
    ++rejects_[code];
    FSD_LOG(WARNING) << "UPDATE from " << Short(user_id)
                     << " rejected: " << wire::RejectCodeName(code) << " " << text;
    SendReject(routing, code, text);
  };
  const std::uint64_t current = committed_round_ + 1;
  if (client == clients_.end())
    return reject(RejectCode::kNotAuthorized, "unknown session: JOIN first");
  if (round != current) {
    return reject(RejectCode::kStaleRound, "update for round " + std::to_string(round) +
                                               ", current round is " + std::to_string(current));
  }
  if (phase_ != Phase::kCollecting)
    return reject(RejectCode::kRoundClosed, "round is not collecting");
  // A late update from an earlier attempt of this round: the round moved on.
  if (!selected_.contains(user_id))
    return reject(RejectCode::kRoundClosed, "client not sampled in this attempt of the round");
  if (staged_.contains(user_id))
    return reject(RejectCode::kDuplicate, "second update in this round");
  if (update.sample_count <= 0 || update.sample_count > client->second.declared_samples) {
    return reject(RejectCode::kLimitExceeded,
                  "sample_count " + std::to_string(update.sample_count) + " outside 1.." +
                      std::to_string(client->second.declared_samples) + " declared at JOIN");
  }
  if (update.mask_round != mask_round_) {
    return reject(RejectCode::kSchemaMismatch,
                  "trained with the mask of round " + std::to_string(update.mask_round) +
                      ", the mask in force is of round " + std::to_string(mask_round_));
  }
  StagedUpdate staged;
  staged.sample_count = update.sample_count;
  staged.train_loss = update.train_loss;
  if (distillation_only()) {
    if (update.values.count != 0) {
      return reject(RejectCode::kSchemaMismatch,
                    "update carries " + std::to_string(update.values.count) +
                        " values; distillation-only mode shares summaries only");
    }
  } else {
    auto kept = codec::DecodeValues(update.values, segments_);
    if (!kept.ok()) return reject(kept.reject().code, "UPDATE values: " + kept.reject().text);
    const std::uint64_t expected = aggregation::KeptCount(mask_, global_.size());
    if (kept.value().size() != expected) {
      return reject(RejectCode::kSchemaMismatch,
                    "update has " + std::to_string(kept.value().size()) +
                        " values, the model keeps " + std::to_string(expected));
    }
    staged.kept = std::move(kept.value());
  }
  staged.summary = {update.summary_counts, update.summary_logits};
  if (auto problem =
          aggregation::CheckSummary(staged.summary, options_.num_classes, update.sample_count)) {
    using Kind = aggregation::SummaryProblem::Kind;
    switch (problem->kind) {
      case Kind::kClassCount:
        return reject(RejectCode::kSchemaMismatch, problem->text);
      case Kind::kNegativeCount:
        return reject(RejectCode::kInvalidValue, problem->text);
      case Kind::kTooManySamples:
        return reject(RejectCode::kLimitExceeded, problem->text);
      case Kind::kNonFinite:
        return reject(RejectCode::kNonFinite, problem->text);
    }
  }
  bytes_.up += static_cast<std::int64_t>(frame_bytes);
  bytes_.up_summary += SummaryWireBytes(update);
  bytes_.up_weights += SectionWireBytes(update.values);
  staged_.emplace(user_id, std::move(staged));
}

std::size_t Coordinator::Quorum() const {
  return std::max<std::size_t>(
      1, static_cast<std::size_t>(std::ceil(options_.federation.quorum * selected_.size() - 1e-9)));
}

void Coordinator::StartRound() {
  const std::uint64_t round = committed_round_ + 1;
  std::vector<std::string> candidates;
  for (const auto& [key, record] : clients_) candidates.push_back(key);
  const auto wanted = static_cast<std::size_t>(
      std::max(1.0, std::ceil(options_.federation.fraction * candidates.size() - 1e-9)));
  // Seeded by (seed, round, attempt): a resumed or retried run samples the same way.
  std::mt19937_64 rng(options_.federation.seed * 1000003ULL + round * 1009ULL + attempt_);
  std::shuffle(candidates.begin(), candidates.end(), rng);
  candidates.resize(std::min(wanted, candidates.size()));
  selected_ = std::set<std::string>(candidates.begin(), candidates.end());
  staged_.clear();
  bytes_ = RoundBytes{};
  UpdateMask(round);
  if (!distillation_only()) {
    codec::EncodeOptions downlink = options_.downlink;
    downlink.seed = round;
    round_values_ = codec::EncodeValues(aggregation::Gather(global_, mask_), segments_, downlink);
  }
  // The schedules see the logits aggregated up to the previous round.
  const aggregation::RoundContext context{round,
                                          static_cast<std::uint64_t>(options_.federation.rounds),
                                          soft_state_.empty() ? nullptr : &soft_state_};
  temperature_ = options_.temperature->At(context);
  alpha_ = options_.alpha.At(context);
  beta_ = options_.beta.At(context);
  soft_targets_.clear();
  soft_target_entropy_ = 0.0;
  if (!soft_state_.empty()) {
    soft_target_entropy_ = aggregation::MeanEntropy(soft_state_, temperature_);
    if (beta_ > 0.0) soft_targets_ = aggregation::SoftenRows(soft_state_, temperature_);
  }
  phase_ = Phase::kCollecting;
  round_started_ = Clock::now();
  for (const auto& key : selected_) SendRoundStart(key);
}

void Coordinator::UpdateMask(std::uint64_t round) {
  const double target = options_.sparsity.At(round);
  const double current = mask_round_ > 0 ? options_.sparsity.At(mask_round_) : 0.0;
  if (distillation_only() || target <= current) return;
  // Magnitudes of the aggregated global weights choose; pruned values become
  // exact zeros in the global model and stay pruned (they have the smallest
  // magnitude at every later step).
  mask_ = aggregation::SelectMask(global_, options_.layout, target, options_.mask_scope,
                                  options_.min_keep);
  aggregation::ApplyMask(mask_, global_);
  mask_round_ = round;
  segments_ = aggregation::KeptPerTensor(options_.layout, mask_);
  round_mask_ = codec::EncodeBitmask(mask_, options_.downlink.zstd, options_.downlink.zstd_level);
  FSD_LOG(INFO) << "round " << round << ": mask at sparsity "
                << aggregation::SparsityOf(mask_, options_.layout) << " (target " << target << ")";
}

void Coordinator::SendRoundStart(const std::string& user_id) {
  wire::RoundStart start;
  start.temperature = temperature_;
  start.alpha = alpha_;
  start.beta = beta_;
  start.local_epochs = static_cast<std::uint32_t>(options_.local_epochs);
  start.mask_round = mask_round_;
  if (!distillation_only()) start.global_values = round_values_;
  start.soft_targets = soft_targets_;
  ClientRecord& record = clients_.at(user_id);
  if (mask_round_ != 0 && record.mask_round_sent != mask_round_) {
    start.mask = round_mask_;
    record.mask_round_sent = mask_round_;
  }
  bytes_.down_weights += SectionWireBytes(start.global_values);
  bytes_.down_mask += start.mask.count > 0 ? SectionWireBytes(start.mask) : 0;
  bytes_.down_soft_targets +=
      static_cast<std::int64_t>(wire::kTensorHeaderBytes + start.soft_targets.size() * 4);
  const auto frame = wire::EncodeFrame({committed_round_ + 1, std::move(start)});
  bytes_.down += static_cast<std::int64_t>(frame.size());
  const auto& routing = record.routing_id;
  router_.send(zmq::buffer(routing), zmq::send_flags::sndmore);
  router_.send(zmq::buffer(frame), zmq::send_flags::none);
}

void Coordinator::DropSilentClients() {
  const auto now = Clock::now();
  for (auto it = clients_.begin(); it != clients_.end();) {
    if (std::chrono::duration<double>(now - it->second.last_seen).count() >
        options_.transport.client_timeout_s) {
      FSD_LOG(WARNING) << "client " << Short(it->first) << " timed out";
      if (phase_ == Phase::kCollecting && !staged_.contains(it->first)) selected_.erase(it->first);
      it = clients_.erase(it);
    } else {
      ++it;
    }
  }
}

void Coordinator::FinishRound() {
  const std::uint64_t round = committed_round_ + 1;
  const double collect_s = SecondsSince(round_started_);
  if (staged_.empty() || staged_.size() < Quorum()) {
    FSD_LOG(WARNING) << "round " << round << ": " << staged_.size() << " of " << selected_.size()
                     << " updates, quorum " << Quorum() << "; retrying the round";
    ++attempt_;
    phase_ = Phase::kWaiting;
    return;
  }
  // Sum in (name, key) order so the result depends neither on arrival order nor
  // on freshly generated keys: a resumed simulation reproduces the same bits.
  std::vector<std::pair<std::string, const StagedUpdate*>> ordered;
  for (const auto& [key, update] : staged_) {
    const auto client = clients_.find(key);
    ordered.emplace_back((client != clients_.end() ? client->second.name : "") + "\n" + key,
                         &update);
  }
  std::sort(ordered.begin(), ordered.end());
  // FedAvg over the kept coordinates; pruned ones stay exactly zero.
  aggregation::FedAvgAggregator aggregator(aggregation::KeptCount(mask_, global_.size()));
  aggregation::SoftTargetAggregator summaries(options_.num_classes);
  double loss_sum = 0.0;
  std::int64_t samples = 0;
  for (const auto& [order_key, update_ptr] : ordered) {
    const StagedUpdate& update = *update_ptr;
    if (!distillation_only()) aggregator.Accumulate(update.kept, update.sample_count);
    summaries.Accumulate(update.summary);
    loss_sum += update.train_loss * static_cast<double>(update.sample_count);
    samples += update.sample_count;
  }
  if (!distillation_only()) aggregation::Scatter(std::move(aggregator).Finalize(), mask_, global_);
  soft_state_ = std::move(summaries).Finalize(soft_state_);
  const auto eval_start = Clock::now();
  const std::vector<double> accuracy =
      evaluator_ && !distillation_only() ? evaluator_(global_) : std::vector<double>{};
  const double eval_s = SecondsSince(eval_start);
  committed_round_ = round;
  nlohmann::json rejects = nlohmann::json::object();
  for (const auto& [code, count] : rejects_) rejects[wire::RejectCodeName(code)] = count;
  nlohmann::json record = {{"round", round},
                           {"acc", accuracy},
                           {"loss", loss_sum / static_cast<double>(samples)},
                           {"temperature", temperature_},
                           {"alpha", alpha_},
                           {"beta", beta_},
                           {"soft_target_entropy", soft_target_entropy_},
                           {"soft_targets_sent", !soft_targets_.empty()},
                           {"sparsity", aggregation::SparsityOf(mask_, options_.layout)},
                           {"mask_round", mask_round_},
                           {"bytes_up", bytes_.up},
                           {"bytes_up_weights", bytes_.up_weights},
                           {"bytes_up_summary", bytes_.up_summary},
                           {"bytes_up_control", bytes_.up - bytes_.up_weights - bytes_.up_summary},
                           {"bytes_down", bytes_.down},
                           {"bytes_down_weights", bytes_.down_weights},
                           {"bytes_down_mask", bytes_.down_mask},
                           {"bytes_down_soft_targets", bytes_.down_soft_targets},
                           {"bytes_down_control", bytes_.down - bytes_.down_weights -
                                                      bytes_.down_mask - bytes_.down_soft_targets},
                           {"clients_selected", selected_.size()},
                           {"clients_reported", staged_.size()},
                           {"samples", samples},
                           {"attempts", attempt_ + 1},
                           {"collect_s", collect_s},
                           {"eval_s", eval_s},
                           {"round_s", collect_s + eval_s},
                           {"wall_s", SecondsSince(run_started_)},
                           {"rejects", rejects}};
  // Metrics first, then the checkpoint commits the round: a crash in between
  // leaves a metrics line that resume drops and the round is run again.
  metrics_->Record(record);
  if (options_.federation.checkpoint) {
    storage::WriteCheckpoint(options_.out_dir + "/checkpoint.bin",
                             {committed_round_, options_.schema_fingerprint, global_,
                              soft_state_.counts, soft_state_.mean_logits, mask_round_, mask_});
  }
  if (listener_) listener_(record);
  attempt_ = 0;
  staged_.clear();
  selected_.clear();
  phase_ = Phase::kWaiting;
}

void Coordinator::Send(const std::string& routing_id, const wire::Message& message) {
  const auto frame = wire::EncodeFrame(message);
  router_.send(zmq::buffer(routing_id), zmq::send_flags::sndmore);
  router_.send(zmq::buffer(frame), zmq::send_flags::none);
}

void Coordinator::SendReject(const std::string& routing_id, RejectCode code,
                             const std::string& text) {
  Send(routing_id, {committed_round_ + 1, wire::Reject{code, text}});
}

std::map<std::string, std::int64_t> Coordinator::reject_counts() const {
  std::map<std::string, std::int64_t> counts;
  for (const auto& [code, count] : rejects_) counts[wire::RejectCodeName(code)] = count;
  return counts;
}

}  // namespace fsd::coordinator
