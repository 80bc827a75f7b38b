#include "coordinator/round_commit.h"

#include <cmath>

#include "aggregation/weighting.h"
#include "common/log.h"

namespace fsd::coordinator {

RoundCommitter::RoundCommitter(RoundContext& context)
    : context_(context),
      kept_before_(context.distillation_only() ? std::vector<float>{} : context.state.KeptGlobal()),
      dense_before_(context.state.server_optimizer.kind() != aggregation::ServerOptimizerKind::kNone
                        ? context.state.global
                        : std::vector<float>{}),
      last_good_(context.state.Save()) {}

void RoundCommitter::Commit(const RoundAttempt& attempt, RoundResult result, double collect_s,
                            bool failed) {
  FederationState& state = context_.state;
  const std::uint64_t round = attempt.round;
  if (!failed && !dense_before_.empty()) state.StepServerOptimizer(dense_before_);
  if (auto divergence = failed ? std::nullopt : state.DivergenceOf()) {
    state.Rollback(last_good_);
    // The round is written (with the last good model, and under DP its
    // charge) either way, so a resumed run does not release it again.
    result.extra["outcome"] = "rolled_back";
    result.extra["failure"] = "diverged: " + *divergence;
    if (context_.options.federation.on_divergence == config::DivergencePolicy::kStop) {
      context_.Stop(StopKind::kDiverged,
                    "round " + std::to_string(round) + ": the global model diverged (" +
                        *divergence + "); stopped with the model of round " +
                        std::to_string(state.committed_round) +
                        " (federation.on_divergence = \"rollback\" goes on from it instead)");
      FSD_LOG(ERROR) << context_.stop_reason;
    } else {
      FSD_LOG(WARNING) << "round " << round << ": the global model diverged (" << *divergence
                       << "); rolled back to the model of round " << state.committed_round;
    }
  }
  RoundFigures figures;
  figures.collect_s = collect_s;
  // How far the global model moved: the RMS change over the kept coordinates.
  if (!kept_before_.empty()) {
    const std::vector<float> moved = state.KeptGlobal();
    double squares = 0.0;
    for (std::size_t i = 0; i < moved.size(); ++i) {
      const double d = static_cast<double>(moved[i]) - kept_before_[i];
      squares += d * d;
    }
    figures.global_change_rms = std::sqrt(squares / static_cast<double>(kept_before_.size()));
  }
  figures.cpu_s = context_.cpu_mark >= 0.0 ? ThreadCpuSeconds() - context_.cpu_mark : 0.0;
  const auto eval_start = context_.clock.Now();
  if (context_.evaluator && !context_.distillation_only())
    figures.accuracy = context_.evaluator(state.global);
  figures.eval_s = SecondsBetween(eval_start, context_.clock.Now());
  figures.wall_s = SecondsBetween(context_.run_started, context_.clock.Now());
  state.committed_round = round;
  nlohmann::json record = RoundRecord(context_, attempt, result, figures);
  if (context_.options.round_annotations) {
    record.update(context_.options.round_annotations(round, result.names));
  }
  // Metrics first, then the checkpoint commits the round (round_store.h).
  context_.store.Commit(record, state.ToCheckpoint());
  if (context_.listener) context_.listener(record);
  context_.cpu_mark = ThreadCpuSeconds();
  context_.retries = {};
}

nlohmann::json RoundRecord(const RoundContext& context, const RoundAttempt& attempt,
                           const RoundResult& result, const RoundFigures& figures) {
  const CoordinatorOptions& options = context.options;
  const FederationState& state = context.state;
  const RoundBytes& bytes = attempt.bytes;
  nlohmann::json rejects = nlohmann::json::object();
  for (const auto& [code, count] : context.rejects) rejects[wire::RejectCodeName(code)] = count;
  const bool weighed = result.weight_sum > 0.0;
  nlohmann::json record = {
      {"round", attempt.round},
      {"acc", figures.accuracy},
      {"loss", weighed && !result.withheld ? nlohmann::json(result.loss_sum / result.weight_sum)
                                           : nlohmann::json()},
      {"temperature", attempt.temperature},
      {"alpha", attempt.alpha},
      {"beta", attempt.beta},
      {"lr_factor", attempt.lr_factor},
      {"soft_target_entropy", attempt.soft_target_entropy},
      {"soft_targets_sent", !attempt.soft_targets.empty()},
      {"sparsity", aggregation::SparsityOf(state.mask, options.layout)},
      {"mask_round", state.mask_round},
      {"bytes_up", bytes.up},
      {"bytes_up_weights", bytes.up_weights},
      {"bytes_up_summary", bytes.up_summary},
      {"bytes_up_control", bytes.up - bytes.up_weights - bytes.up_summary},
      {"bytes_down", bytes.down},
      {"bytes_down_weights", bytes.down_weights},
      {"bytes_down_mask", bytes.down_mask},
      {"bytes_down_soft_targets", bytes.down_soft_targets},
      {"bytes_down_control",
       bytes.down - bytes.down_weights - bytes.down_mask - bytes.down_soft_targets},
      {"clients_selected", attempt.sampled},
      {"clients_reported", result.reported},
      {"clients_missed", context.retries.missed.size()},
      {"clients_unreported", attempt.unreported},
      {"target", attempt.target},
      {"quorum", context.Quorum(attempt.target)},
      {"samples", result.withheld ? nlohmann::json() : nlohmann::json(result.sample_sum)},
      {"weighting", aggregation::WeightingName(options.aggregation.weighting)},
      {"max_weight_share",
       weighed ? nlohmann::json(result.max_weight / result.weight_sum) : nlohmann::json()},
      {"max_weight_client", result.heaviest},
      {"rule", aggregation::RuleName(options.aggregation.rule)},
      {"summary_rule", aggregation::SummaryRuleName(options.aggregation.summary_rule)},
      {"server_optimizer", aggregation::ServerOptimizerName(state.server_optimizer.kind())},
      {"clipped", result.report.clipped},
      {"trimmed", result.report.trimmed},
      {"clip_bound", result.report.clip_bound},
      {"global_change_rms", figures.global_change_rms},
      {"attempts", context.retries.attempt + 1},
      {"collect_s", figures.collect_s},
      {"eval_s", figures.eval_s},
      {"coordinator_cpu_s", figures.cpu_s},
      {"round_s", figures.collect_s + figures.eval_s},
      {"wall_s", figures.wall_s},
      {"rejects", rejects}};
  record.update(result.extra);
  return record;
}

}  // namespace fsd::coordinator
