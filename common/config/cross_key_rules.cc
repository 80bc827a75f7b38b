#include "common/config/cross_key_rules.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>

#include "common/config/cohort_size.h"
#include "common/errors.h"

namespace fsd::config {
namespace {

using Problem = std::optional<std::string>;

bool Dp(const RunConfig& c) { return c.privacy.dp != DpMode::kOff; }
bool Secure(const RunConfig& c) { return c.secure_aggregation.enabled; }
bool Weights(const RunConfig& c) { return c.federation.mode == FederationMode::kWeights; }
bool Distillation(const RunConfig& c) { return c.federation.mode == FederationMode::kDistillation; }
bool Krum(const RunConfig& c) {
  return c.aggregation.rule == AggregationRule::kKrum ||
         c.aggregation.rule == AggregationRule::kMultiKrum;
}

// The updates a round waits for (common/config/cohort_size.h).
std::int64_t Cohort(const RunConfig& c) {
  const auto clients = static_cast<std::size_t>(c.federation.clients);
  return static_cast<std::int64_t>(
      PlannedCohort(c.federation.fraction, c.federation.over_select, clients, 0, clients).target);
}
// The clients a secure round samples: at least 2 (one cannot hide among none).
std::int64_t SecureCohort(const RunConfig& c) {
  const auto clients = static_cast<std::size_t>(c.federation.clients);
  return static_cast<std::int64_t>(
      PlannedCohort(c.federation.fraction, c.federation.over_select, clients, 2, clients).sampled);
}
// ⌊β·n⌋ ≥ 1 and n ≥ 3: a trimmed mean that trims nothing is the mean.
std::int64_t TrimmedMeanNeeds(const RunConfig& c) {
  return std::max<std::int64_t>(3, static_cast<std::int64_t>(std::ceil(
                                       1.0 / std::max(c.aggregation.trim_fraction, 1e-9) - 1e-9)));
}
bool ProtocolAttack(const RunConfig& c) {
  return c.attack.kind == AttackKind::kBadShare || c.attack.kind == AttackKind::kBadWeight ||
         c.attack.kind == AttackKind::kBadSeal;
}
bool PartialClients(const RunConfig& c) {
  const auto& h = c.heterogeneity;
  return h.max_exit > 0 || std::any_of(h.profiles.begin(), h.profiles.end(),
                                       [](const auto& p) { return p.max_exit > 0; });
}
// A client's list of sealed shares (~130 bytes each) must fit the 64 KiB payload.
constexpr std::int64_t kMaxNeighbourhood = 400;

template <typename... Parts>
std::string Join(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

constexpr char kSecureWhy[] = " with secure_aggregation.enabled: the coordinator sees only the sum";

const std::vector<CrossKeyRule> kRules = {
    // What a file names must exist.
    {"federation.partition_file", "federation.partition",
     [](const RunConfig& c) -> Problem {
       if (c.federation.partition == PartitionKind::kFile && c.federation.partition_file.empty())
         return Problem("required when federation.partition = \"file\"");
       return std::nullopt;
     }},
    {"model.path", "model.architecture",
     [](const RunConfig& c) -> Problem {
       const bool scripted = c.model.architecture == model::Architecture::kTorchScript;
       if (scripted && c.model.path.empty())
         return Problem(
             "required when model.architecture = \"torchscript\" (the TorchScript file)");
       if (!scripted && !c.model.path.empty())
         return Problem("only with model.architecture = \"torchscript\"");
       return std::nullopt;
     }},
    // The text source and the sequence model need each other (a window of
    // symbols is no image); its symbols are indices, neither augmented nor
    // normalized. A natural partition is the folders' samples, all of them.
    {"model.architecture", "data.source",
     [](const RunConfig& c) -> Problem {
       if (c.data.source == DataSource::kText &&
           c.model.architecture != model::Architecture::kCharGru) {
         return Problem(
             "must be \"char-gru\" with data.source = \"text\" (its samples are windows "
             "of symbols, not images)");
       }
       return std::nullopt;
     }},
    {"data.source", "model.architecture",
     [](const RunConfig& c) -> Problem {
       if (c.model.architecture == model::Architecture::kCharGru &&
           c.data.source != DataSource::kText) {
         return Problem(
             "must be \"text\" with model.architecture = \"char-gru\" (the model embeds "
             "symbol indices)");
       }
       return std::nullopt;
     }},
    {"data.augment", "data.source",
     [](const RunConfig& c) -> Problem {
       if (c.data.source == DataSource::kText &&
           c.data.augment.value_or(data::Augmentation::kNone) != data::Augmentation::kNone)
         return Problem("must be \"none\" with data.source = \"text\"");
       return std::nullopt;
     }},
    {"data.normalize_mean", "data.source, data.normalize_std",
     [](const RunConfig& c) -> Problem {
       if (c.data.source == DataSource::kText &&
           (!c.data.normalization.mean.empty() || !c.data.normalization.std.empty())) {
         return Problem(
             "data.normalize_mean and data.normalize_std are not taken with data.source "
             "= \"text\" (its samples are symbol indices, never normalized)");
       }
       return std::nullopt;
     }},
    {"data.max_train_samples", "federation.partition",
     [](const RunConfig& c) -> Problem {
       if (c.federation.partition == PartitionKind::kNatural && c.data.max_train_samples > 0) {
         return Problem(
             "must be 0 with federation.partition = \"natural\" (it would drop the last "
             "folders' clients)");
       }
       return std::nullopt;
     }},
    // Schedules and pruning.
    {"schedule.temperature_min", "schedule.temperature_max",
     [](const RunConfig& c) -> Problem {
       if (c.schedule.temperature_min > c.schedule.temperature_max) {
         return Join("must not exceed schedule.temperature_max (", c.schedule.temperature_min,
                     " > ", c.schedule.temperature_max, ")");
       }
       return std::nullopt;
     }},
    {"pruning.end_round", "pruning.start_round, pruning.final_sparsity",
     [](const RunConfig& c) -> Problem {
       if (c.pruning.final_sparsity > 0.0 && c.pruning.end_round < c.pruning.start_round) {
         return Join("(", c.pruning.end_round, ") must not be before pruning.start_round (",
                     c.pruning.start_round, ")");
       }
       return std::nullopt;
     }},
    {"pruning.initial_sparsity", "pruning.final_sparsity",
     [](const RunConfig& c) -> Problem {
       if (c.pruning.initial_sparsity > c.pruning.final_sparsity)
         return Problem("must not exceed pruning.final_sparsity");
       return std::nullopt;
     }},
    {"pruning.final_sparsity", "federation.mode",
     [](const RunConfig& c) -> Problem {
       if (Distillation(c) && c.pruning.final_sparsity > 0.0)
         return Problem(
             "must be 0 with federation.mode = \"distillation\" (no global model to prune)");
       return std::nullopt;
     }},
    // Aggregation: what each rule needs.
    {"aggregation.server_optimizer", "federation.mode",
     [](const RunConfig& c) -> Problem {
       if (c.aggregation.server_optimizer != ServerOptimizerKind::kNone && Distillation(c)) {
         return Problem(
             "must be \"none\" with federation.mode = \"distillation\": there is no "
             "global model to step");
       }
       return std::nullopt;
     }},
    {"aggregation.trim_fraction", "aggregation.rule",
     [](const RunConfig& c) -> Problem {
       if (c.aggregation.rule == AggregationRule::kTrimmedMean &&
           c.aggregation.trim_fraction <= 0.0) {
         return Problem(
             "must be > 0 with aggregation.rule = \"trimmed_mean\" (0 trims nothing: "
             "that is fedavg)");
       }
       return std::nullopt;
     }},
    {"aggregation.trim_fraction", "aggregation.rule, federation.clients, federation.fraction",
     [](const RunConfig& c) -> Problem {
       if (c.aggregation.rule != AggregationRule::kTrimmedMean) return std::nullopt;
       if (Cohort(c) >= TrimmedMeanNeeds(c)) return std::nullopt;
       return Join("trimmed_mean with trim_fraction ", c.aggregation.trim_fraction,
                   " trims one update from each side only among at least ", TrimmedMeanNeeds(c),
                   " updates, but federation.clients × federation.fraction gives ", Cohort(c),
                   "; raise aggregation.trim_fraction or sample more clients");
     }},
    {"aggregation.byzantine", "aggregation.rule, federation.clients, federation.fraction",
     [](const RunConfig& c) -> Problem {
       const std::int64_t needed = 2 * static_cast<std::int64_t>(c.aggregation.byzantine) + 3;
       if (!Krum(c) || Cohort(c) >= needed) return std::nullopt;
       return Join("krum and multi_krum tolerate f = ", c.aggregation.byzantine,
                   " hostile clients only with at least 2f + 3 = ", needed,
                   " updates per round, but federation.clients × federation.fraction gives ",
                   Cohort(c), "; lower aggregation.byzantine or sample more clients");
     }},
    {"aggregation.krum_selected", "aggregation.rule, federation.clients, federation.fraction",
     [](const RunConfig& c) -> Problem {
       if (!Krum(c) || c.aggregation.krum_selected <= Cohort(c)) return std::nullopt;
       return Join("must be at most the round's ", Cohort(c), " updates, got ",
                   c.aggregation.krum_selected);
     }},
    // DP-FedAvg's guarantee needs every client to count the same, one
    // release per round from a Poisson sample, and the mean of clipped deltas.
    {"privacy.min_survivors", "privacy.dp",
     [](const RunConfig& c) -> Problem {
       if (c.privacy.dp != DpMode::kDistributed && c.privacy.min_survivors > 0)
         return Problem("only applies with privacy.dp = \"distributed\"");
       return std::nullopt;
     }},
    {"aggregation.weighting", "privacy.dp",
     [](const RunConfig& c) -> Problem {
       if (Dp(c) && c.aggregation.weighting != ClientWeighting::kUniform) {
         return Problem(
             "must be \"uniform\" with privacy.dp on: the noise is calibrated to one "
             "client's clipped delta, and a client weighted by its declared samples "
             "would count more");
       }
       return std::nullopt;
     }},
    {"aggregation.rule", "privacy.dp",
     [](const RunConfig& c) -> Problem {
       if (Dp(c) && c.aggregation.rule != AggregationRule::kFedAvg) {
         return Problem(
             "must be \"fedavg\" with privacy.dp on: the robust rules are not the "
             "clipped mean whose sensitivity the noise is calibrated to");
       }
       return std::nullopt;
     }},
    {"aggregation.clip_norm", "privacy.dp",
     [](const RunConfig& c) -> Problem {
       if (Dp(c) && (c.aggregation.clip_norm > 0.0 || c.aggregation.clip_median))
         return Problem("must be 0 with privacy.dp on: privacy.clip_norm clips");
       return std::nullopt;
     }},
    {"federation.over_select", "privacy.dp",
     [](const RunConfig& c) -> Problem {
       if (Dp(c) && c.federation.over_select > 0.0) {
         return Problem(
             "must be 0 with privacy.dp on: the cohort is a Poisson sample with rate "
             "federation.fraction");
       }
       return std::nullopt;
     }},
    {"federation.checkpoint", "privacy.dp",
     [](const RunConfig& c) -> Problem {
       if (Dp(c) && !c.federation.checkpoint) {
         return Problem(
             "must be true with privacy.dp on: the privacy account lives in the "
             "checkpoint, and a restarted coordinator without it would start counting "
             "epsilon from 0");
       }
       return std::nullopt;
     }},
    {"federation.fraction", "privacy.dp, federation.clients",
     [](const RunConfig& c) -> Problem {
       if (Dp(c) && c.federation.fraction * c.federation.clients < 1.0) {
         return Problem(
             "federation.fraction × federation.clients (the expected cohort, the "
             "release's denominator) must be at least 1 with privacy.dp on");
       }
       return std::nullopt;
     }},
    {"federation.mode", "privacy.dp",
     [](const RunConfig& c) -> Problem {
       if (c.privacy.dp == DpMode::kDistributed && !Weights(c)) {
         return Problem(
             "must be \"weights\" with privacy.dp = \"distributed\" (use privacy.dp = "
             "\"central\" for distillation mode)");
       }
       return std::nullopt;
     }},
    {"privacy.min_survivors", "privacy.dp, federation.clients, federation.fraction",
     [](const RunConfig& c) -> Problem {
       if (c.privacy.dp != DpMode::kDistributed || !Weights(c)) return std::nullopt;
       const double expected_cohort = c.federation.fraction * c.federation.clients;
       if (c.privacy.min_survivors >= 1 && c.privacy.min_survivors <= expected_cohort + 1e-9)
         return std::nullopt;
       return Join(
           "required with privacy.dp = \"distributed\": an integer from 1 to the "
           "expected cohort federation.fraction × federation.clients (",
           std::to_string(expected_cohort), "), got ", c.privacy.min_survivors);
     }},
    {"privacy.noise_multiplier", "privacy.dp, federation.mode",
     [](const RunConfig& c) -> Problem {
       if (Dp(c) && !Weights(c) && c.privacy.noise_multiplier > 0.0) {
         return Problem(
             "must be 0 with federation.mode = \"distillation\": no weights are released "
             "(set privacy.summary_noise_multiplier)");
       }
       return std::nullopt;
     }},
    {"privacy.summary_noise_multiplier",
     "privacy.dp, loss.beta, schedule.beta, schedule.temperature",
     [](const RunConfig& c) -> Problem {
       if (Dp(c) && !ReleasesSummaries(c) && c.privacy.summary_noise_multiplier > 0.0) {
         return Problem(
             "must be 0: no soft-target summaries are released (loss.beta and "
             "schedule.beta are 0, the temperature schedule is not adaptive)");
       }
       return std::nullopt;
     }},
    {"aggregation.summary_rule", "privacy.dp, loss.beta, schedule.beta, schedule.temperature",
     [](const RunConfig& c) -> Problem {
       if (Dp(c) && ReleasesSummaries(c) && c.aggregation.summary_rule != SummaryRule::kMean) {
         return Problem(
             "must be \"mean\" with privacy.dp on: summaries are released as noisy sums "
             "over noisy presence counts");
       }
       return std::nullopt;
     }},
    {"privacy.noise_multiplier", "privacy.dp, privacy.target_epsilon",
     [](const RunConfig& c) -> Problem {
       if (Dp(c) && Weights(c) && c.privacy.noise_multiplier == 0.0 &&
           c.privacy.target_epsilon == 0.0)
         return Problem("set it, or privacy.target_epsilon to compute it");
       return std::nullopt;
     }},
    // Summaries are a release of their own: their noise is given, or both
    // multipliers come from the budget.
    {"privacy.summary_noise_multiplier", "privacy.dp, privacy.target_epsilon, loss.beta",
     [](const RunConfig& c) -> Problem {
       if (!Dp(c) || !ReleasesSummaries(c) || c.privacy.summary_noise_multiplier != 0.0)
         return std::nullopt;
       if (c.privacy.target_epsilon > 0.0 && (c.privacy.noise_multiplier == 0.0 || !Weights(c)))
         return std::nullopt;
       return Problem(
           "required: soft-target summaries are released (loss.beta or schedule.beta > "
           "0, the adaptive temperature schedule, or distillation mode) and privacy.dp "
           "is on; set it, or leave both multipliers to privacy.target_epsilon");
     }},
    // What secure aggregation cannot work with: anything that needs one
    // client's update in the clear, and payload lists larger than the wire carries.
    {"aggregation.rule", "secure_aggregation.enabled",
     [](const RunConfig& c) -> Problem {
       if (Secure(c) && c.aggregation.rule != AggregationRule::kFedAvg) {
         return Join("must be \"fedavg\"", kSecureWhy,
                     ", and the robust rules need every client's update");
       }
       return std::nullopt;
     }},
    {"aggregation.clip_norm", "secure_aggregation.enabled",
     [](const RunConfig& c) -> Problem {
       if (Secure(c) && (c.aggregation.clip_norm > 0.0 || c.aggregation.clip_median))
         return Join("must be 0", kSecureWhy, ", so it cannot clip one client's delta");
       return std::nullopt;
     }},
    {"aggregation.summary_rule", "secure_aggregation.enabled",
     [](const RunConfig& c) -> Problem {
       if (Secure(c) && c.aggregation.summary_rule != SummaryRule::kMean)
         return Join("must be \"mean\"", kSecureWhy);
       return std::nullopt;
     }},
    {"aggregation.cap_per_class", "secure_aggregation.enabled",
     [](const RunConfig& c) -> Problem {
       if (Secure(c) && c.aggregation.cap_per_class)
         return Join("must be false", kSecureWhy, " of the class weights");
       return std::nullopt;
     }},
    {"federation.mode", "secure_aggregation.enabled",
     [](const RunConfig& c) -> Problem {
       if (Secure(c) && !Weights(c))
         return Problem("must be \"weights\" with secure_aggregation.enabled");
       return std::nullopt;
     }},
    {"privacy.dp", "secure_aggregation.enabled",
     [](const RunConfig& c) -> Problem {
       if (Secure(c) && c.privacy.dp == DpMode::kCentral) {
         return Problem(
             "\"central\" clips and noises each client's delta at the coordinator, which "
             "secure aggregation hides: use \"distributed\"");
       }
       return std::nullopt;
     }},
    {"transport.insecure", "secure_aggregation.enabled",
     [](const RunConfig& c) -> Problem {
       if (Secure(c) && c.transport.insecure) {
         return Problem(
             "must be false with secure_aggregation.enabled: clients advertise their "
             "keys over the authenticated CURVE channel");
       }
       return std::nullopt;
     }},
    {"compression.uplink", "secure_aggregation.enabled, compression.error_feedback",
     [](const RunConfig& c) -> Problem {
       if (Secure(c) &&
           (c.compression.uplink != ValueCodec::kFp32 || c.compression.error_feedback)) {
         return Problem(
             "must be \"fp32\" without error_feedback with secure_aggregation.enabled: "
             "the masked input is fixed point at secure_aggregation.bits, and the uplink "
             "codecs and error feedback apply to the non-secure path only");
       }
       return std::nullopt;
     }},
    {"federation.clients", "secure_aggregation.enabled",
     [](const RunConfig& c) -> Problem {
       if (Secure(c) && SecureCohort(c) < 2) {
         return Join("secure aggregation needs a cohort of at least 2 clients, got ",
                     c.federation.clients, " client(s)");
       }
       return std::nullopt;
     }},
    {"secure_aggregation.graph", "secure_aggregation.enabled, federation.clients, fraction",
     [](const RunConfig& c) -> Problem {
       if (Secure(c) && c.secure_aggregation.graph == SecAggGraphKind::kComplete &&
           SecureCohort(c) > kMaxNeighbourhood) {
         return Join("\"complete\" shares with the whole cohort, at most ", kMaxNeighbourhood,
                     " clients; this run samples ", SecureCohort(c), ": use \"sparse\"");
       }
       return std::nullopt;
     }},
    {"secure_aggregation.threshold", "secure_aggregation.enabled",
     [](const RunConfig& c) -> Problem {
       const double t = c.secure_aggregation.threshold;
       if (Secure(c) && t > 1.0 && t != std::floor(t)) {
         return Join("must be a fraction in (0, 1] or a whole count, got ", std::to_string(t));
       }
       return std::nullopt;
     }},
    {"secure_aggregation.bits", "secure_aggregation.weight_bits, federation.clients, fraction",
     [](const RunConfig& c) -> Problem {
       if (!Secure(c)) return std::nullopt;
       unsigned cohort_bits = 0;
       while ((std::int64_t{1} << cohort_bits) < SecureCohort(c)) ++cohort_bits;
       const int width = c.secure_aggregation.bits + c.secure_aggregation.weight_bits +
                         static_cast<int>(cohort_bits);
       if (width <= 62) return std::nullopt;
       return Join("bits + weight_bits + log2(cohort) must be at most 62 (the ring's width), got ",
                   width);
     }},
    // Hostile clients and heterogeneous ones.
    {"attack.kind", "attack.clients, federation.mode",
     [](const RunConfig& c) -> Problem {
       if (c.attack.clients > 0 && Distillation(c) && c.attack.kind != AttackKind::kLabelFlip &&
           c.attack.kind != AttackKind::kLogitPoison) {
         return Problem(
             "with federation.mode = \"distillation\" no weights travel; only label_flip "
             "and logit_poison apply");
       }
       return std::nullopt;
     }},
    {"attack.kind", "attack.clients, secure_aggregation.enabled",
     [](const RunConfig& c) -> Problem {
       if (c.attack.clients > 0 && ProtocolAttack(c) && !Secure(c)) {
         return Problem(
             "bad_share, bad_weight and bad_seal attack secure aggregation; set "
             "secure_aggregation.enabled = true");
       }
       return std::nullopt;
     }},
    {"attack.clients", "federation.clients",
     [](const RunConfig& c) -> Problem {
       if (c.attack.clients > c.federation.clients) {
         return Join("must be at most federation.clients (", c.federation.clients, "), got ",
                     c.attack.clients);
       }
       return std::nullopt;
     }},
    {"heterogeneity.max_exit", "secure_aggregation.enabled, privacy.dp, federation.mode",
     [](const RunConfig& c) -> Problem {
       if (!PartialClients(c)) return std::nullopt;
       const char* needs_whole = Secure(c)         ? "secure_aggregation.enabled"
                                 : Dp(c)           ? "privacy.dp"
                                 : Distillation(c) ? "federation.mode = \"distillation\""
                                                   : nullptr;
       if (needs_whole == nullptr) return std::nullopt;
       return Join(
           "clients that train part of the network (max_exit > 0, here or in a "
           "heterogeneity.profile) are not supported with ",
           needs_whole, "; every client must train the whole network (max_exit = 0)");
     }},
    // The simulated population.
    {"sim.checked_in", "federation.clients",
     [](const RunConfig& c) -> Problem {
       if (c.sim.checked_in > c.federation.clients) {
         return Join("must be at most federation.clients (", c.federation.clients, "), got ",
                     c.sim.checked_in);
       }
       return std::nullopt;
     }},
    // The accountant assumes each registered client is sampled on its own
    // with probability federation.fraction; only checked-in ones could be.
    {"sim.checked_in", "privacy.dp, federation.clients",
     [](const RunConfig& c) -> Problem {
       if (Dp(c) && CheckedInClients(c) < c.federation.clients) {
         return Join(
             "with privacy.dp every client must stay checked in (Poisson sampling over "
             "all of them); set it to federation.clients (",
             c.federation.clients, ")");
       }
       return std::nullopt;
     }},
};

}  // namespace

const std::vector<CrossKeyRule>& CrossKeyRules() { return kRules; }

void CheckCrossKeyRules(const RunConfig& config, const std::string& origin) {
  for (const CrossKeyRule& rule : kRules) {
    if (auto problem = rule.problem(config)) {
      throw ConfigError(origin + ": " + std::string(rule.key) + ": " + *problem);
    }
  }
}

}  // namespace fsd::config
