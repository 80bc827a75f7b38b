// Every cross-key rule (common/config/cross_key_rules.h) has a config that
// breaks it, here; the default config breaks none; and the loader refuses a
// broken rule naming its key.
#include "common/config/cross_key_rules.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>

#include "common/config/toml_loader.h"
#include "common/errors.h"

namespace fsd::config {
namespace {

// A config the loader would accept alone: the default, with a partition
// that needs no file.
RunConfig Valid() {
  RunConfig config;
  config.federation.partition = PartitionKind::kIid;
  return config;
}

void Dp(RunConfig& c) {
  c.privacy.dp = DpMode::kCentral;
  c.privacy.noise_multiplier = 1.0;
  c.aggregation.weighting = ClientWeighting::kUniform;
}
void Secure(RunConfig& c) { c.secure_aggregation.enabled = true; }

// "key ← depends_on" → how to break that rule from Valid().
const std::map<std::string, std::function<void(RunConfig&)>>& Breakers() {
  static const std::map<std::string, std::function<void(RunConfig&)>> breakers = {
      {"federation.partition_file ← federation.partition",
       [](RunConfig& c) { c.federation.partition = PartitionKind::kFile; }},
      {"model.path ← model.architecture", [](RunConfig& c) { c.model.path = "net.pt"; }},
      {"model.architecture ← data.source", [](RunConfig& c) { c.data.source = DataSource::kText; }},
      {"data.source ← model.architecture",
       [](RunConfig& c) { c.model.architecture = model::Architecture::kCharGru; }},
      {"data.augment ← data.source",
       [](RunConfig& c) {
         c.data.source = DataSource::kText;
         c.data.augment = data::Augmentation::kCropFlip;
       }},
      {"data.normalize_mean ← data.source, data.normalize_std",
       [](RunConfig& c) {
         c.data.source = DataSource::kText;
         c.data.normalization.std = {0.5};
       }},
      {"data.max_train_samples ← federation.partition",
       [](RunConfig& c) {
         c.federation.partition = PartitionKind::kNatural;
         c.data.max_train_samples = 100;
       }},
      {"schedule.temperature_min ← schedule.temperature_max",
       [](RunConfig& c) { c.schedule.temperature_min = c.schedule.temperature_max + 1.0; }},
      {"pruning.end_round ← pruning.start_round, pruning.final_sparsity",
       [](RunConfig& c) {
         c.pruning.final_sparsity = 0.5;
         c.pruning.start_round = 5;
         c.pruning.end_round = 4;
       }},
      {"pruning.initial_sparsity ← pruning.final_sparsity",
       [](RunConfig& c) { c.pruning.initial_sparsity = 0.3; }},
      {"pruning.final_sparsity ← federation.mode",
       [](RunConfig& c) {
         c.federation.mode = FederationMode::kDistillation;
         c.pruning.final_sparsity = 0.5;
       }},
      {"aggregation.server_optimizer ← federation.mode",
       [](RunConfig& c) {
         c.federation.mode = FederationMode::kDistillation;
         c.aggregation.server_optimizer = ServerOptimizerKind::kAdam;
       }},
      {"aggregation.trim_fraction ← aggregation.rule",
       [](RunConfig& c) {
         c.aggregation.rule = AggregationRule::kTrimmedMean;
         c.aggregation.trim_fraction = 0.0;
       }},
      {"aggregation.trim_fraction ← aggregation.rule, federation.clients, federation.fraction",
       [](RunConfig& c) {
         c.aggregation.rule = AggregationRule::kTrimmedMean;
         c.aggregation.trim_fraction = 0.1;  // needs 10 updates
         c.federation.clients = 5;
       }},
      {"aggregation.byzantine ← aggregation.rule, federation.clients, federation.fraction",
       [](RunConfig& c) {
         c.aggregation.rule = AggregationRule::kKrum;
         c.aggregation.byzantine = 4;  // needs 11
         c.federation.clients = 10;
       }},
      {"aggregation.krum_selected ← aggregation.rule, federation.clients, federation.fraction",
       [](RunConfig& c) {
         c.aggregation.rule = AggregationRule::kMultiKrum;
         c.aggregation.krum_selected = 11;
         c.federation.clients = 10;
       }},
      {"privacy.min_survivors ← privacy.dp", [](RunConfig& c) { c.privacy.min_survivors = 3; }},
      {"aggregation.weighting ← privacy.dp",
       [](RunConfig& c) {
         Dp(c);
         c.aggregation.weighting = ClientWeighting::kCapped;
       }},
      {"aggregation.rule ← privacy.dp",
       [](RunConfig& c) {
         Dp(c);
         c.aggregation.rule = AggregationRule::kMedian;
       }},
      {"aggregation.clip_norm ← privacy.dp",
       [](RunConfig& c) {
         Dp(c);
         c.aggregation.clip_norm = 2.0;
       }},
      {"federation.over_select ← privacy.dp",
       [](RunConfig& c) {
         Dp(c);
         c.federation.over_select = 0.5;
       }},
      {"federation.checkpoint ← privacy.dp",
       [](RunConfig& c) {
         Dp(c);
         c.federation.checkpoint = false;
       }},
      {"federation.fraction ← privacy.dp, federation.clients",
       [](RunConfig& c) {
         Dp(c);
         c.federation.clients = 10;
         c.federation.fraction = 0.05;
       }},
      {"federation.mode ← privacy.dp",
       [](RunConfig& c) {
         Dp(c);
         c.privacy.dp = DpMode::kDistributed;
         c.federation.mode = FederationMode::kDistillation;
       }},
      {"privacy.min_survivors ← privacy.dp, federation.clients, federation.fraction",
       [](RunConfig& c) {
         Dp(c);
         c.privacy.dp = DpMode::kDistributed;
         c.privacy.min_survivors = 0;
       }},
      {"privacy.noise_multiplier ← privacy.dp, federation.mode",
       [](RunConfig& c) {
         Dp(c);
         c.federation.mode = FederationMode::kDistillation;
       }},
      {"privacy.summary_noise_multiplier ← privacy.dp, loss.beta, schedule.beta, "
       "schedule.temperature",
       [](RunConfig& c) {
         Dp(c);
         c.privacy.summary_noise_multiplier = 1.0;
       }},
      {"aggregation.summary_rule ← privacy.dp, loss.beta, schedule.beta, schedule.temperature",
       [](RunConfig& c) {
         Dp(c);
         c.loss.beta = 0.3;
         c.privacy.summary_noise_multiplier = 1.0;
         c.aggregation.summary_rule = SummaryRule::kMedian;
       }},
      {"privacy.noise_multiplier ← privacy.dp, privacy.target_epsilon",
       [](RunConfig& c) {
         Dp(c);
         c.privacy.noise_multiplier = 0.0;
       }},
      {"privacy.summary_noise_multiplier ← privacy.dp, privacy.target_epsilon, loss.beta",
       [](RunConfig& c) {
         Dp(c);
         c.loss.beta = 0.3;
       }},
      {"aggregation.rule ← secure_aggregation.enabled",
       [](RunConfig& c) {
         Secure(c);
         c.aggregation.rule = AggregationRule::kMedian;
       }},
      {"aggregation.clip_norm ← secure_aggregation.enabled",
       [](RunConfig& c) {
         Secure(c);
         c.aggregation.clip_median = true;
       }},
      {"aggregation.summary_rule ← secure_aggregation.enabled",
       [](RunConfig& c) {
         Secure(c);
         c.aggregation.summary_rule = SummaryRule::kTrimmedMean;
       }},
      {"aggregation.cap_per_class ← secure_aggregation.enabled",
       [](RunConfig& c) {
         Secure(c);
         c.aggregation.cap_per_class = true;
       }},
      {"federation.mode ← secure_aggregation.enabled",
       [](RunConfig& c) {
         Secure(c);
         c.federation.mode = FederationMode::kDistillation;
       }},
      {"privacy.dp ← secure_aggregation.enabled",
       [](RunConfig& c) {
         Secure(c);
         Dp(c);
       }},
      {"transport.insecure ← secure_aggregation.enabled",
       [](RunConfig& c) {
         Secure(c);
         c.transport.insecure = true;
       }},
      {"compression.uplink ← secure_aggregation.enabled, compression.error_feedback",
       [](RunConfig& c) {
         Secure(c);
         c.compression.uplink = ValueCodec::kInt8;
       }},
      {"federation.clients ← secure_aggregation.enabled",
       [](RunConfig& c) {
         Secure(c);
         c.federation.clients = 1;
       }},
      {"secure_aggregation.graph ← secure_aggregation.enabled, federation.clients, fraction",
       [](RunConfig& c) {
         Secure(c);
         c.federation.clients = 500;
       }},
      {"secure_aggregation.threshold ← secure_aggregation.enabled",
       [](RunConfig& c) {
         Secure(c);
         c.secure_aggregation.threshold = 2.5;
       }},
      {"secure_aggregation.bits ← secure_aggregation.weight_bits, federation.clients, fraction",
       [](RunConfig& c) {
         Secure(c);
         c.secure_aggregation.bits = 48;
         c.secure_aggregation.weight_bits = 16;
       }},
      {"attack.kind ← attack.clients, federation.mode",
       [](RunConfig& c) {
         c.federation.mode = FederationMode::kDistillation;
         c.attack.clients = 1;
         c.attack.kind = AttackKind::kSignFlip;
       }},
      {"attack.kind ← attack.clients, secure_aggregation.enabled",
       [](RunConfig& c) {
         c.attack.clients = 1;
         c.attack.kind = AttackKind::kBadShare;
       }},
      {"attack.clients ← federation.clients",
       [](RunConfig& c) { c.attack.clients = c.federation.clients + 1; }},
      {"heterogeneity.max_exit ← secure_aggregation.enabled, privacy.dp, federation.mode",
       [](RunConfig& c) {
         Secure(c);
         c.heterogeneity.max_exit = 1;
       }},
      {"sim.checked_in ← federation.clients",
       [](RunConfig& c) { c.sim.checked_in = c.federation.clients + 1; }},
      {"sim.checked_in ← privacy.dp, federation.clients",
       [](RunConfig& c) {
         Dp(c);
         c.sim.checked_in = c.federation.clients - 1;
       }},
  };
  return breakers;
}

std::string NameOf(const CrossKeyRule& rule) {
  return std::string(rule.key) + " ← " + std::string(rule.depends_on);
}

TEST(CrossKeyRulesTest, TheValidConfigBreaksNoRule) {
  const RunConfig config = Valid();
  for (const CrossKeyRule& rule : CrossKeyRules()) {
    EXPECT_EQ(rule.problem(config), std::nullopt) << NameOf(rule);
  }
}

TEST(CrossKeyRulesTest, EachRuleHasAConfigThatBreaksItAndTheRefusalNamesItsKey) {
  std::size_t covered = 0;
  for (const CrossKeyRule& rule : CrossKeyRules()) {
    const auto breaker = Breakers().find(NameOf(rule));
    ASSERT_NE(breaker, Breakers().end()) << "no test breaks the rule " << NameOf(rule);
    RunConfig config = Valid();
    breaker->second(config);
    const auto problem = rule.problem(config);
    ASSERT_TRUE(problem.has_value()) << NameOf(rule);
    EXPECT_FALSE(problem->empty()) << NameOf(rule);
    // The loader names a broken rule's key (or an earlier rule's, when the
    // change broke that one too: every refusal names one).
    try {
      CheckCrossKeyRules(config, "t");
      ADD_FAILURE() << NameOf(rule) << " broken, yet the config was accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("t: ", 0), 0u) << e.what();
    }
    ++covered;
  }
  EXPECT_EQ(covered, Breakers().size()) << "a test breaks a rule that does not exist";
}

TEST(CrossKeyRulesTest, TheLoaderRefusesABrokenRuleWithKeyAndReason) {
  try {
    ParseConfig("[secure_aggregation]\nenabled = true\n[aggregation]\nrule = \"median\"\n", "t");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("t: aggregation.rule: must be \"fedavg\" with "
                                          "secure_aggregation.enabled",
                                          0),
              0u)
        << e.what();
  }
}

}  // namespace
}  // namespace fsd::config
