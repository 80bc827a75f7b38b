// fsd-bench-attack-table: how far each aggregation rule lands from the honest
// clients' mean when f of n real client updates are hostile.
//
// Trains every client of the config's federation (default: the benchmark
// task with 20 clients on a Dirichlet(0.5) split) for one round from the same
// global model (the initial model, or --checkpoint's), turns f of them into
// each attack of sim/attack.h, and aggregates with each rule of
// aggregation/aggregate.h under capped weighting. Deviation =
// ‖agg − h‖₂ / ‖h − g‖₂, where g is the round's global model and h the
// weighted mean of the honest clients' updates: it is measured on updates
// (deltas from g), since the models themselves share g. A second table does
// the same for the soft-target summaries under each summary rule.
// Writes OUT/deviation.json and prints markdown tables.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "aggregation/aggregate.h"
#include "client/round_worker.h"
#include "common/config/toml_loader.h"
#include "common/data/loader.h"
#include "common/errors.h"
#include "common/metrics/metrics_sink.h"
#include "common/model/flat_params.h"
#include "common/run_guarded.h"
#include "common/runtime/process_setup.h"
#include "common/storage/checkpoint.h"
#include "sim/attack.h"

namespace fsd {
namespace {

using aggregation::AggregationOptions;
using aggregation::Rule;
using aggregation::SummaryRule;
using config::AttackKind;

struct NamedRule {
  const char* name;
  AggregationOptions options;
};

// The rules of the table for f hostile clients among n.
std::vector<NamedRule> RulesFor(std::size_t f, double trim_fraction) {
  std::vector<NamedRule> rules;
  AggregationOptions base;  // capped weighting, ratio 4
  base.byzantine = f;
  base.trim_fraction = trim_fraction;
  auto with = [&](const char* name, Rule rule, aggregation::ClipMode clip) {
    AggregationOptions options = base;
    options.rule = rule;
    options.clip = clip;
    rules.push_back({name, options});
  };
  with("fedavg", Rule::kFedAvg, aggregation::ClipMode::kOff);
  with("fedavg+clip", Rule::kFedAvg, aggregation::ClipMode::kMedian);
  with("median", Rule::kMedian, aggregation::ClipMode::kOff);
  with("trimmed_mean", Rule::kTrimmedMean, aggregation::ClipMode::kOff);
  with("krum", Rule::kKrum, aggregation::ClipMode::kOff);
  with("multi_krum", Rule::kMultiKrum, aggregation::ClipMode::kOff);
  return rules;
}

struct Kind {
  const char* name;
  AttackKind kind;
  double factor;
};

const Kind kKinds[] = {
    {"sign_flip", AttackKind::kSignFlip, 10},  {"scale", AttackKind::kScale, 100},
    {"gaussian", AttackKind::kGaussian, 10},   {"zero", AttackKind::kZero, 0},
    {"random", AttackKind::kRandom, 1},        {"alie", AttackKind::kAlie, 0},
    {"label_flip", AttackKind::kLabelFlip, 0}, {"logit_poison", AttackKind::kLogitPoison, 1},
};

double Deviation(std::span<const float> aggregate, std::span<const float> honest,
                 std::span<const float> global) {
  return aggregation::DeltaNorm(aggregate, honest) / aggregation::DeltaNorm(honest, global);
}

}  // namespace
}  // namespace fsd

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-bench-attack-table: deviation of every aggregation rule from the honest mean under "
      "every attack, on real client updates of one round (markdown on stdout, JSON in OUT)."};
  std::string config_path = "configs/fmnist-sd.toml";
  std::vector<std::string> overrides;
  std::string checkpoint_path;
  std::string out_dir = "runs/attack-table";
  std::vector<int> byzantine = {1, 2, 4};
  double trim_fraction = 0.2;
  app.add_option("--config", config_path, "TOML config of the federation")
      ->check(CLI::ExistingFile);
  app.add_option("--set", overrides,
                 "override a config key (section.key=value); applied after "
                 "federation.clients=20, federation.partition=dirichlet");
  app.add_option("--checkpoint", checkpoint_path,
                 "take the round's global model from this checkpoint.bin (default: the initial "
                 "model)")
      ->check(CLI::ExistingFile);
  app.add_option("--out", out_dir, "directory for deviation.json");
  app.add_option("--byzantine", byzantine, "numbers of hostile clients f");
  app.add_option("--trim-fraction", trim_fraction, "beta of trimmed_mean");
  CLI11_PARSE(app, argc, argv);

  return fsd::RunGuarded("fsd-bench-attack-table", [&] {
    using namespace fsd;
    std::vector<std::string> all = {"federation.clients=20", "federation.partition=dirichlet"};
    all.insert(all.end(), overrides.begin(), overrides.end());
    config::RunConfig cfg = config::LoadConfig(config_path, all);
    runtime::ConfigureProcess(cfg.training.threads);
    const data::Splits splits = data::LoadRunData(cfg);
    const data::Partition partition = data::BuildPartition(cfg.federation, splits);
    const data::Dataset flipped = data::WithFlippedLabels(*splits.train);
    const model::ModelSpec spec = data::ModelSpecFor(cfg.model, *splits.train);
    torch::manual_seed(cfg.model.init_seed);
    model::MultiExitNet net(spec);
    const model::FlatSchema schema = model::FlatSchema::Of(*net);
    client::LocalRound round;
    round.round = 1;
    round.temperature = cfg.loss.temperature;
    round.alpha = cfg.loss.alpha;
    round.local_epochs = static_cast<std::uint32_t>(cfg.training.epochs);
    round.global_values = model::Flatten(*net, schema);
    if (!checkpoint_path.empty()) {
      const auto checkpoint = storage::ReadCheckpoint(
          checkpoint_path, static_cast<std::uint64_t>(schema.total_numel()), 1000);
      if (checkpoint.schema_fingerprint != schema.fingerprint() || !checkpoint.mask.empty()) {
        throw ConfigError(checkpoint_path + ": not a dense checkpoint of this config's model");
      }
      round.global_values = checkpoint.global;
      round.round = checkpoint.round + 1;
    }
    const std::vector<float>& global = round.global_values;
    const std::size_t n = partition.size();
    for (const int f : byzantine) {
      if (f < 1 || 2 * static_cast<std::size_t>(f) + 3 > n) {
        throw ConfigError("--byzantine " + std::to_string(f) +
                          ": Krum needs 1 <= f and 2f + 3 <= " + std::to_string(n) + " clients");
      }
    }

    // Every client's honest round, and label-flipped rounds for the attackers.
    const int max_f = *std::max_element(byzantine.begin(), byzantine.end());
    config::AttackConfig widest;
    widest.clients = max_f;
    const sim::Attack chooser(widest, n, cfg.federation.seed);
    client::RoundWorker worker(spec, cfg.training, cfg.loss);
    std::vector<client::TrainedRound> honest(n), label_flipped(n);
    for (std::size_t k = 0; k < n; ++k) {
      std::fprintf(stderr, "\rtraining client %zu/%zu", k + 1, n);
      honest[k] = worker.Run(*splits.train, partition[k], k, round);
      if (chooser.IsAttacker(k)) label_flipped[k] = worker.Run(flipped, partition[k], k, round);
    }
    std::fprintf(stderr, "\n");
    std::vector<std::int64_t> samples;
    for (const auto& r : honest) samples.push_back(r.sample_count);
    const std::vector<double> weights =
        aggregation::ClientWeights(aggregation::Weighting::kCapped, samples, 4.0);

    nlohmann::json report = {{"clients", n},
                             {"values", global.size()},
                             {"global_round", round.round - 1},
                             {"trim_fraction", trim_fraction},
                             {"tables", nlohmann::json::array()}};
    for (const int f : byzantine) {
      config::AttackConfig attack_config;
      attack_config.clients = f;
      const sim::Attack attackers(attack_config, n, cfg.federation.seed);
      const auto rules = RulesFor(static_cast<std::size_t>(f), trim_fraction);
      // The honest reference: weighted mean of the others' updates and summaries.
      std::vector<aggregation::WeightedInput> honest_inputs;
      std::vector<const aggregation::SoftTargetSummary*> honest_summaries;
      std::vector<std::vector<std::int64_t>> honest_counts;
      std::vector<std::int64_t> honest_samples;
      std::vector<double> honest_weights;
      for (std::size_t k = 0; k < n; ++k) {
        if (attackers.IsAttacker(k)) continue;
        honest_inputs.push_back({honest[k].values, weights[k]});
        honest_summaries.push_back(&honest[k].summary);
        honest_counts.push_back(honest[k].summary.counts);
        honest_samples.push_back(samples[k]);
        honest_weights.push_back(weights[k]);
      }
      const std::vector<float> honest_mean = aggregation::WeightedMean(honest_inputs);
      const auto honest_summary = aggregation::AggregateSummaries(
          {}, honest_summaries,
          aggregation::ClassWeights(honest_counts, honest_weights, honest_samples, false, 4.0),
          static_cast<std::size_t>(cfg.data.num_classes), {});

      nlohmann::json table = {{"f", f}, {"rows", nlohmann::json::array()}};
      std::printf("\n### f = %d of n = %zu hostile (deviation of the model update)\n\n| attack |",
                  f, n);
      for (const auto& rule : rules) std::printf(" %s |", rule.name);
      std::printf("\n|---|");
      for (std::size_t r = 0; r < rules.size(); ++r) std::printf("---|");
      std::printf("\n");
      for (const Kind& kind : kKinds) {
        // The round as the coordinator would see it.
        std::vector<client::TrainedRound> sent = honest;
        std::vector<std::size_t> colluders;
        std::vector<client::TrainedRound*> colluder_rounds;
        for (std::size_t k = 0; k < n; ++k) {
          if (!attackers.IsAttacker(k)) continue;
          switch (kind.kind) {
            case AttackKind::kAlie:
              colluders.push_back(k);
              colluder_rounds.push_back(&sent[k]);
              break;
            case AttackKind::kLabelFlip:
              sent[k] = label_flipped[k];
              break;
            case AttackKind::kLogitPoison:
              sim::PoisonSummary(sent[k].summary, kind.factor);
              break;
            default:
              sent[k].values = sim::AttackedValues(kind.kind, kind.factor, global, sent[k].values,
                                                   1000003ULL + k);
          }
        }
        if (!colluders.empty()) {
          config::AttackConfig alie;
          alie.clients = f;
          alie.kind = AttackKind::kAlie;
          alie.factor = kind.factor;  // 0: the paper's z
          sim::Attack(alie, n, cfg.federation.seed).ApplyCoordinated(1, colluders, colluder_rounds);
        }
        std::vector<aggregation::WeightedInput> inputs;
        std::vector<const aggregation::SoftTargetSummary*> summaries;
        std::vector<std::vector<std::int64_t>> counts;
        for (std::size_t k = 0; k < n; ++k) {
          inputs.push_back({sent[k].values, weights[k]});
          summaries.push_back(&sent[k].summary);
          counts.push_back(sent[k].summary.counts);
        }
        const auto class_weights = aggregation::ClassWeights(counts, weights, samples, false, 4.0);
        nlohmann::json row = {{"attack", kind.name}, {"factor", kind.factor}};
        std::printf("| %s |", kind.name);
        for (const auto& rule : rules) {
          const auto aggregate = aggregation::Aggregate(rule.options, global, inputs);
          const double deviation = Deviation(aggregate, honest_mean, global);
          row["weights"][rule.name] = deviation;
          std::printf(" %.3g |", deviation);
        }
        std::printf("\n");
        for (const SummaryRule summary_rule :
             {SummaryRule::kMean, SummaryRule::kMedian, SummaryRule::kTrimmedMean,
              SummaryRule::kClippedMean}) {
          AggregationOptions options;
          options.summary_rule = summary_rule;
          options.trim_fraction = trim_fraction;
          const auto combined =
              aggregation::AggregateSummaries(options, summaries, class_weights,
                                              static_cast<std::size_t>(cfg.data.num_classes), {});
          row["summary"][aggregation::SummaryRuleName(summary_rule)] =
              aggregation::DeltaNorm(combined.mean_logits, honest_summary.mean_logits) /
              std::sqrt(std::inner_product(honest_summary.mean_logits.begin(),
                                           honest_summary.mean_logits.end(),
                                           honest_summary.mean_logits.begin(), 0.0));
        }
        table["rows"].push_back(row);
      }
      std::printf(
          "\nSoft-target summaries, f = %d: ‖agg − honest‖ / ‖honest‖ of the mean logits\n\n"
          "| attack | mean | median | trimmed_mean | clipped_mean |\n|---|---|---|---|---|\n",
          f);
      for (const auto& row : table["rows"]) {
        std::printf("| %s | %.3g | %.3g | %.3g | %.3g |\n",
                    row["attack"].get<std::string>().c_str(), row["summary"]["mean"].get<double>(),
                    row["summary"]["median"].get<double>(),
                    row["summary"]["trimmed_mean"].get<double>(),
                    row["summary"]["clipped_mean"].get<double>());
      }
      report["tables"].push_back(table);
    }
    std::filesystem::create_directories(out_dir);
    metrics::WriteJsonFile(out_dir + "/deviation.json", report);
    return 0;
  });
}
