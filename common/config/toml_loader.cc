#include "common/config/toml_loader.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "common/config/cohort_size.h"
#include "common/config/cross_key_rules.h"
#include "common/errors.h"
#include "common/log.h"

namespace fsd::config {
namespace {

std::string Describe(const toml::node& node) {
  std::ostringstream out;
  node.visit([&](const auto& value) { out << value; });
  return out.str();
}

// Reads the keys of one [section], remembering which were consumed so that
// leftovers (typos, retired keys) are reported by Finish().
class SectionReader {
 public:
  SectionReader(const toml::table* root, std::string section, std::string origin,
                std::vector<std::string>* known_keys)
      : section_(std::move(section)), origin_(std::move(origin)), known_keys_(known_keys) {
    if (root == nullptr) return;
    if (const toml::node* node = root->get(section_)) {
      table_ = node->as_table();
      if (table_ == nullptr) Fail(section_, "must be a table ([" + section_ + "])");
    }
  }

  void Integer(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max) {
    if (const toml::node* node = Find(key)) {
      const auto value = node->value<std::int64_t>();
      if (!node->is_integer() || !value || *value < min || *value > max) {
        Fail(Name(key), "must be an integer in [" + std::to_string(min) + ", " +
                            std::to_string(max) + "], got " + Describe(*node));
      }
      out = *value;
    }
  }

  void Integer(std::string_view key, int& out, int min, int max) {
    std::int64_t wide = out;
    Integer(key, wide, min, max);
    out = static_cast<int>(wide);
  }

  void Seed(std::string_view key, std::uint64_t& out) {
    std::int64_t wide = static_cast<std::int64_t>(out);
    Integer(key, wide, 0, std::numeric_limits<std::int64_t>::max());
    out = static_cast<std::uint64_t>(wide);
  }

  // `min_open` excludes the lower bound (e.g. temperature > 0).
  void Real(std::string_view key, double& out, double min, double max, bool min_open = false) {
    if (const toml::node* node = Find(key)) {
      const auto value = node->value<double>();  // integers convert
      const bool in_range = value && std::isfinite(*value) &&
                            (min_open ? *value > min : *value >= min) && *value <= max;
      if (!in_range) {
        Fail(Name(key), std::string("must be a number in ") + (min_open ? "(" : "[") + Number(min) +
                            ", " + Number(max) + "], got " + Describe(*node));
      }
      out = *value;
    }
  }

  // A number, or an array of 1..max_count numbers, each in [min, max]
  // (`min_open` excludes min): a list of one value per channel, say.
  void RealList(std::string_view key, std::vector<double>& out, double min, double max,
                bool min_open, std::size_t max_count) {
    const toml::node* node = Find(key);
    if (node == nullptr) return;
    std::vector<const toml::node*> items;
    if (const toml::array* array = node->as_array()) {
      for (const toml::node& item : *array) items.push_back(&item);
    } else {
      items.push_back(node);
    }
    std::vector<double> values;
    for (const toml::node* item : items) {
      const auto value = item->value<double>();
      if (!value || !std::isfinite(*value) || (min_open ? *value <= min : *value < min) ||
          *value > max || items.empty() || items.size() > max_count) {
        break;
      }
      values.push_back(*value);
    }
    if (values.empty() || values.size() != items.size()) {
      Fail(Name(key), std::string("must be a number or a list of 1..") + std::to_string(max_count) +
                          " numbers, each in " + (min_open ? "(" : "[") + Number(min) + ", " +
                          Number(max) + "], got " + Describe(*node));
    }
    out = std::move(values);
  }

  // A number in [min, max], or the one word `word` (then `is_word` is set).
  void RealOrWord(std::string_view key, double& out, double min, double max, std::string_view word,
                  bool& is_word) {
    if (const toml::node* node = Find(key)) {
      if (node->is_string() && *node->value<std::string>() == word) {
        is_word = true;
        return;
      }
      const auto value = node->value<double>();
      if (!value || !std::isfinite(*value) || *value < min || *value > max) {
        Fail(Name(key), "must be a number in [" + Number(min) + ", " + Number(max) + "] or \"" +
                            std::string(word) + "\", got " + Describe(*node));
      }
      is_word = false;
      out = *value;
    }
  }

  void String(std::string_view key, std::string& out) {
    if (const toml::node* node = Find(key)) {
      if (!node->is_string()) Fail(Name(key), "must be a string, got " + Describe(*node));
      out = *node->value<std::string>();
    }
  }

  void Bool(std::string_view key, bool& out) {
    if (const toml::node* node = Find(key)) {
      if (!node->is_boolean()) Fail(Name(key), "must be true or false, got " + Describe(*node));
      out = *node->value<bool>();
    }
  }

  // `choices`: (name, value) pairs, a braced list or any range of them.
  // `given`, if not null, is set when the key is present.
  template <typename Enum,
            typename Choices = std::initializer_list<std::pair<std::string_view, Enum>>>
  void Choice(std::string_view key, Enum& out, const Choices& choices, bool* given = nullptr) {
    if (const toml::node* node = Find(key)) {
      const auto value = node->value<std::string>();
      for (const auto& [name, choice] : choices) {
        if (value && *value == name) {
          out = choice;
          if (given != nullptr) *given = true;
          return;
        }
      }
      std::string allowed;
      for (const auto& [name, choice] : choices)
        allowed += (allowed.empty() ? "" : ", ") + std::string(name);
      Fail(Name(key), "must be one of: " + allowed + "; got " + Describe(*node));
    }
  }

  // An array of tables ([[section.key]]): `read_one` reads each with a
  // reader named section.key[i] and returns its value; the element keys are
  // listed (and documented) as section.key.*.
  template <typename T, typename ReadOne>
  void Tables(std::string_view key, std::vector<T>& out, ReadOne read_one) {
    const toml::node* node = Find(key);
    SectionReader blank(nullptr, Name(key), origin_, known_keys_, /*element=*/true);
    read_one(blank);  // lists the element keys
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    if (array == nullptr || !array->is_array_of_tables())
      Fail(Name(key), "must be an array of tables ([[" + Name(key) + "]])");
    out.clear();
    for (std::size_t i = 0; i < array->size(); ++i) {
      SectionReader element(array->get(i)->as_table(), Name(key) + "[" + std::to_string(i) + "]",
                            origin_, nullptr, /*element=*/true);
      out.push_back(read_one(element));
      element.Finish();
    }
  }

  // Every key present must have been read.
  void Finish() const {
    if (table_ == nullptr) return;
    for (const auto& [key, node] : *table_) {
      if (!read_.contains(std::string(key.str()))) {
        std::string allowed;
        for (const auto& k : asked_) allowed += (allowed.empty() ? "" : ", ") + k;
        Fail(Name(key.str()), "unknown key; allowed in [" + section_ + "]: " + allowed);
      }
    }
  }

 private:
  // A reader over `table` itself (an element of an array of tables).
  SectionReader(const toml::table* table, std::string name, std::string origin,
                std::vector<std::string>* known_keys, bool)
      : table_(table),
        section_(std::move(name)),
        origin_(std::move(origin)),
        known_keys_(known_keys) {}

  const toml::node* Find(std::string_view key) {
    asked_.emplace_back(key);
    if (known_keys_ != nullptr) known_keys_->push_back(Name(key));
    if (table_ == nullptr) return nullptr;
    const toml::node* node = table_->get(key);
    if (node != nullptr) read_.insert(std::string(key));
    return node;
  }

  std::string Name(std::string_view key) const { return section_ + "." + std::string(key); }

  static std::string Number(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  }

  [[noreturn]] void Fail(const std::string& key, const std::string& problem) const {
    throw ConfigError(origin_ + ": " + key + ": " + problem);
  }

  const toml::table* table_ = nullptr;
  std::string section_;
  std::string origin_;
  std::vector<std::string>* known_keys_;
  std::vector<std::string> asked_;
  std::set<std::string> read_;
};

void ApplyOverride(toml::table& root, const std::string& assignment) {
  const auto equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw ConfigError("override '" + assignment + "' must look like section.key=value");
  }
  const std::string path = assignment.substr(0, equals);
  const std::string text = assignment.substr(equals + 1);
  toml::table* table = &root;
  std::size_t start = 0;
  for (std::size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', start)) {
    const std::string part = path.substr(start, dot - start);
    if (!table->contains(part)) table->insert(part, toml::table{});
    table = (*table)[part].as_table();
    if (table == nullptr)
      throw ConfigError("override '" + assignment + "': " + part + " is not a table");
    start = dot + 1;
  }
  const std::string key = path.substr(start);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + text);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", text}};  // a bare word is a string
  }
  parsed.get("v")->visit([&](const auto& value) { table->insert_or_assign(key, value); });
}

// A server optimizer needs a global model. Krum tolerates f hostile clients
// only among at least 2f + 3 updates: a cohort that can never be that large
// is a config error, not a stalled run.
// The deepest max_exit a config may name (the network itself bounds it further).
constexpr int kMaxExits = 16;

RunConfig Read(const toml::table* root, const std::string& origin,
               std::vector<std::string>* known_keys) {
  RunConfig config;
  const std::set<std::string> sections = {
      "data",   "model",    "training",           "loss",    "federation",   "aggregation",
      "limits", "schedule", "compression",        "pruning", "transport",    "sim",
      "attack", "privacy",  "secure_aggregation", "faults",  "heterogeneity"};
  if (root != nullptr) {
    for (const auto& [key, node] : *root) {
      if (!sections.contains(std::string(key.str()))) {
        throw ConfigError(
            origin + ": unknown section or key '" + std::string(key.str()) +
            "'; allowed sections: data, model, training, loss, federation, aggregation, limits, "
            "schedule, compression, pruning, transport, sim, attack, privacy, "
            "secure_aggregation, faults, heterogeneity");
      }
    }
  }

  SectionReader data(root, "data", origin, known_keys);
  auto& d = config.data;
  data.Choice("source", d.source,
              {{"idx", DataSource::kIdx},
               {"synthetic", DataSource::kSynthetic},
               {"cifar", DataSource::kCifar},
               {"npy", DataSource::kNpy},
               {"text", DataSource::kText}});
  data.String("dir", d.dir);
  data.Choice("cifar_labels", d.cifar_labels,
              {{"fine", data::CifarLabels::kFine}, {"coarse", data::CifarLabels::kCoarse}});
  data.Choice("npy_layout", d.npy_layout,
              {{"nhwc", data::NpyLayout::kNhwc}, {"nchw", data::NpyLayout::kNchw}});
  data::Augmentation augment = data::Augmentation::kNone;
  bool augment_given = false;
  data.Choice("augment", augment,
              {{"none", data::Augmentation::kNone}, {"crop_flip", data::Augmentation::kCropFlip}},
              &augment_given);
  if (augment_given) d.augment = augment;
  data.Integer("num_classes", d.num_classes, 0, data::ImageLimits{}.max_classes);
  if (d.num_classes == 1) {
    throw ConfigError(origin + ": data.num_classes: must be 0 (from the files) or 2.." +
                      std::to_string(data::ImageLimits{}.max_classes) + ", got 1");
  }
  const auto max_channels = static_cast<std::size_t>(data::ImageLimits{}.max_channels);
  data.RealList("normalize_mean", d.normalization.mean, -1e3, 1e3, false, max_channels);
  data.RealList("normalize_std", d.normalization.std, 0.0, 1e3, /*min_open=*/true, max_channels);
  data.Integer("text_window", d.text_window, 1, 10'000);
  data.Integer("text_stride", d.text_stride, 1, 10'000);
  data.Integer("max_train_samples", d.max_train_samples, 0, 100'000'000);
  data.Integer("max_test_samples", d.max_test_samples, 0, 100'000'000);
  data.Integer("synthetic_train_samples", d.synthetic_train_samples, 1, 10'000'000);
  data.Integer("synthetic_test_samples", d.synthetic_test_samples, 1, 10'000'000);
  data.Integer("synthetic_side", d.synthetic_side, 4, 512);
  data.Real("synthetic_noise", d.synthetic_noise, 0.0, 100.0);
  data.Finish();

  SectionReader model(root, "model", origin, known_keys);
  model.Choice("architecture", config.model.architecture, model::ArchitectureNames());
  model.String("path", config.model.path);
  model.Seed("init_seed", config.model.init_seed);
  model.Finish();

  SectionReader training(root, "training", origin, known_keys);
  auto& t = config.training;
  training.Integer("epochs", t.epochs, 1, 100'000);
  training.Integer("batch_size", t.batch_size, 1, 1'000'000);
  training.Real("lr", t.lr, 0.0, 100.0, /*min_open=*/true);
  training.Choice("lr_schedule", t.lr_schedule,
                  {{"constant", LrSchedule::kConstant}, {"cosine", LrSchedule::kCosine}});
  training.Real("momentum", t.momentum, 0.0, 0.9999);
  training.Real("weight_decay", t.weight_decay, 0.0, 1.0);
  training.Real("proximal_mu", t.proximal_mu, 0.0, 1e3);
  training.Seed("seed", t.seed);
  training.Integer("threads", t.threads, 1, 256);
  training.Integer("eval_batch_size", t.eval_batch_size, 1, 1'000'000);
  training.Finish();

  SectionReader loss(root, "loss", origin, known_keys);
  auto& l = config.loss;
  loss.Choice("exits", l.exits, {{"all", TrainedExits::kAll}, {"main", TrainedExits::kMain}});
  loss.Real("alpha", l.alpha, 0.0, 1.0);
  loss.Real("temperature", l.temperature, 0.0, 100.0, /*min_open=*/true);
  loss.Choice("teacher", l.teacher,
              {{"deepest", Teacher::kDeepest}, {"ensemble", Teacher::kEnsemble}});
  loss.Real("beta", l.beta, 0.0, 100.0);
  loss.Finish();

  SectionReader federation(root, "federation", origin, known_keys);
  auto& f = config.federation;
  federation.Integer("rounds", f.rounds, 1, 100'000);
  federation.Integer("clients", f.clients, 1, 100'000);
  federation.Integer("min_clients", f.min_clients, 0, 100'000);
  federation.Real("fraction", f.fraction, 0.0, 1.0, /*min_open=*/true);
  federation.Real("quorum", f.quorum, 0.0, 1.0, /*min_open=*/true);
  federation.Real("round_deadline_s", f.round_deadline_s, 0.0, 1e6, /*min_open=*/true);
  federation.Choice("partition", f.partition,
                    {{"file", PartitionKind::kFile},
                     {"iid", PartitionKind::kIid},
                     {"dirichlet", PartitionKind::kDirichlet},
                     {"shards", PartitionKind::kShards},
                     {"natural", PartitionKind::kNatural}});
  federation.String("partition_file", f.partition_file);
  federation.Real("dirichlet_alpha", f.dirichlet_alpha, 0.0, 1e6, /*min_open=*/true);
  federation.Integer("shards_per_client", f.shards_per_client, 1, 1000);
  federation.Seed("seed", f.seed);
  federation.Bool("checkpoint", f.checkpoint);
  federation.Choice(
      "mode", f.mode,
      {{"weights", FederationMode::kWeights}, {"distillation", FederationMode::kDistillation}});
  federation.Integer("max_samples_per_client", f.max_samples_per_client, 1, 1'000'000'000);
  federation.Real("over_select", f.over_select, 0.0, 10.0);
  federation.Choice("on_divergence", f.on_divergence,
                    {{"stop", DivergencePolicy::kStop}, {"rollback", DivergencePolicy::kRollback}});
  federation.Finish();

  SectionReader aggregation(root, "aggregation", origin, known_keys);
  auto& a = config.aggregation;
  aggregation.Choice("rule", a.rule,
                     {{"fedavg", AggregationRule::kFedAvg},
                      {"median", AggregationRule::kMedian},
                      {"trimmed_mean", AggregationRule::kTrimmedMean},
                      {"krum", AggregationRule::kKrum},
                      {"multi_krum", AggregationRule::kMultiKrum}});
  bool weighting_given = false;
  aggregation.Choice("weighting", a.weighting,
                     {{"samples", ClientWeighting::kSamples},
                      {"uniform", ClientWeighting::kUniform},
                      {"capped", ClientWeighting::kCapped}},
                     &weighting_given);
  aggregation.Real("max_weight_ratio", a.max_weight_ratio, 1.0, 1e9);
  aggregation.Choice(
      "robust_votes", a.robust_votes,
      {{"one_per_client", RobustVotes::kOnePerClient}, {"by_weight", RobustVotes::kByWeight}});
  aggregation.Bool("cap_per_class", a.cap_per_class);
  aggregation.Real("trim_fraction", a.trim_fraction, 0.0, 0.499);
  aggregation.Integer("byzantine", a.byzantine, 0, 100'000);
  aggregation.Integer("krum_selected", a.krum_selected, 0, 100'000);
  aggregation.RealOrWord("clip_norm", a.clip_norm, 0.0, 1e30, "median", a.clip_median);
  aggregation.Real("clip_factor", a.clip_factor, 0.0, 1e6, /*min_open=*/true);
  aggregation.Choice("summary_rule", a.summary_rule,
                     {{"mean", SummaryRule::kMean},
                      {"median", SummaryRule::kMedian},
                      {"trimmed_mean", SummaryRule::kTrimmedMean},
                      {"clipped_mean", SummaryRule::kClippedMean}});
  aggregation.Real("summary_clip_factor", a.summary_clip_factor, 0.0, 1e6, /*min_open=*/true);
  aggregation.Choice("server_optimizer", a.server_optimizer,
                     {{"none", ServerOptimizerKind::kNone},
                      {"momentum", ServerOptimizerKind::kMomentum},
                      {"adam", ServerOptimizerKind::kAdam},
                      {"yogi", ServerOptimizerKind::kYogi},
                      {"adagrad", ServerOptimizerKind::kAdagrad}});
  aggregation.Real("server_lr", a.server_lr, 0.0, 1e3, /*min_open=*/true);
  aggregation.Real("server_momentum", a.server_momentum, 0.0, 0.9999);
  aggregation.Real("beta1", a.beta1, 0.0, 0.9999);
  aggregation.Real("beta2", a.beta2, 0.0, 0.9999);
  aggregation.Real("tau", a.tau, 0.0, 1e3, /*min_open=*/true);
  aggregation.Finish();

  SectionReader limits(root, "limits", origin, known_keys);
  auto& li = config.limits;
  limits.Real("max_abs_value", li.max_abs_value, 0.0, 1e30, /*min_open=*/true);
  limits.Real("max_abs_logit", li.max_abs_logit, 0.0, 1e30, /*min_open=*/true);
  limits.Real("max_train_loss", li.max_train_loss, 0.0, 1e30, /*min_open=*/true);
  limits.Integer("max_round_start_resends", li.max_round_start_resends, 0, 1000);
  limits.Integer("max_connections_per_key", li.max_connections_per_key, 1, 1000);
  limits.Integer("max_refused_updates", li.max_refused_updates, 1, 1000);
  limits.Finish();

  SectionReader schedule(root, "schedule", origin, known_keys);
  auto& sc = config.schedule;
  schedule.Choice("temperature", sc.temperature,
                  {{"constant", TemperatureScheduleKind::kConstant},
                   {"linear", TemperatureScheduleKind::kLinear},
                   {"cosine", TemperatureScheduleKind::kCosine},
                   {"step", TemperatureScheduleKind::kStep},
                   {"adaptive", TemperatureScheduleKind::kAdaptive}});
  schedule.Real("temperature_start", sc.temperature_start, 0.0, 100.0, /*min_open=*/true);
  schedule.Real("temperature_end", sc.temperature_end, 0.0, 100.0, /*min_open=*/true);
  schedule.Integer("step_rounds", sc.step_rounds, 1, 100'000);
  schedule.Real("step_factor", sc.step_factor, 0.0, 100.0, /*min_open=*/true);
  schedule.Real("temperature_min", sc.temperature_min, 0.0, 100.0, /*min_open=*/true);
  schedule.Real("temperature_max", sc.temperature_max, 0.0, 100.0, /*min_open=*/true);
  schedule.Real("target_entropy", sc.target_entropy, 0.0, 1.0, /*min_open=*/true);
  const std::initializer_list<std::pair<std::string_view, RampKind>> ramps = {
      {"constant", RampKind::kConstant}, {"linear", RampKind::kLinear}};
  schedule.Choice("alpha", sc.alpha, ramps);
  schedule.Real("alpha_start", sc.alpha_start, 0.0, 1.0);
  schedule.Real("alpha_end", sc.alpha_end, 0.0, 1.0);
  schedule.Choice("beta", sc.beta, ramps);
  schedule.Real("beta_start", sc.beta_start, 0.0, 100.0);
  schedule.Real("beta_end", sc.beta_end, 0.0, 100.0);
  schedule.Choice("lr", sc.lr,
                  {{"constant", RoundLrScheduleKind::kConstant},
                   {"linear", RoundLrScheduleKind::kLinear},
                   {"cosine", RoundLrScheduleKind::kCosine},
                   {"step", RoundLrScheduleKind::kStep}});
  schedule.Integer("lr_warmup_rounds", sc.lr_warmup_rounds, 0, 100'000);
  schedule.Real("lr_end", sc.lr_end, 0.0, 1.0);
  schedule.Integer("lr_step_rounds", sc.lr_step_rounds, 1, 100'000);
  schedule.Real("lr_step_factor", sc.lr_step_factor, 0.0, 1.0, /*min_open=*/true);
  schedule.Finish();

  SectionReader compression(root, "compression", origin, known_keys);
  auto& co = config.compression;
  const std::initializer_list<std::pair<std::string_view, ValueCodec>> codecs = {
      {"fp32", ValueCodec::kFp32}, {"fp16", ValueCodec::kFp16}, {"int8", ValueCodec::kInt8}};
  compression.Choice("uplink", co.uplink, codecs);
  compression.Choice("downlink", co.downlink, codecs);
  compression.Bool("zstd", co.zstd);
  compression.Integer("zstd_level", co.zstd_level, 1, 19);
  compression.Bool("stochastic_rounding", co.stochastic_rounding);
  compression.Bool("error_feedback", co.error_feedback);
  compression.Finish();

  SectionReader pruning(root, "pruning", origin, known_keys);
  auto& pr = config.pruning;
  pruning.Real("final_sparsity", pr.final_sparsity, 0.0, 0.999);
  pruning.Real("initial_sparsity", pr.initial_sparsity, 0.0, 0.999);
  pruning.Integer("start_round", pr.start_round, 1, 100'000);
  pruning.Integer("end_round", pr.end_round, 1, 100'000);
  pruning.Integer("every", pr.every, 1, 100'000);
  pruning.Choice("scope", pr.scope,
                 {{"global", PruneScope::kGlobal}, {"layer", PruneScope::kLayer}});
  pruning.Real("min_keep", pr.min_keep, 0.0, 1.0, /*min_open=*/true);
  pruning.Finish();

  SectionReader transport(root, "transport", origin, known_keys);
  auto& tr = config.transport;
  transport.String("bind", tr.bind);
  transport.Bool("insecure", tr.insecure);
  transport.Integer("heartbeat_ms", tr.heartbeat_ms, 10, 3'600'000);
  transport.Real("client_timeout_s", tr.client_timeout_s, 0.0, 1e6, /*min_open=*/true);
  transport.Integer("max_message_mb", tr.max_message_mb, 1, 2000);
  transport.Integer("handshake_ms", tr.handshake_ms, 100, 3'600'000);
  transport.Integer("queue_messages", tr.queue_messages, 2, 100'000);
  transport.Integer("poll_budget_ms", tr.poll_budget_ms, 1, 60'000);
  transport.Finish();

  SectionReader sim(root, "sim", origin, known_keys);
  sim.Integer("workers", config.sim.workers, 0, 1024);
  sim.Integer("checked_in", config.sim.checked_in, 0, 100'000);
  sim.Finish();

  SectionReader attack(root, "attack", origin, known_keys);
  auto& at = config.attack;
  attack.Integer("clients", at.clients, 0, 100'000);
  attack.Choice("kind", at.kind,
                {{"sign_flip", AttackKind::kSignFlip},
                 {"scale", AttackKind::kScale},
                 {"gaussian", AttackKind::kGaussian},
                 {"zero", AttackKind::kZero},
                 {"random", AttackKind::kRandom},
                 {"alie", AttackKind::kAlie},
                 {"label_flip", AttackKind::kLabelFlip},
                 {"logit_poison", AttackKind::kLogitPoison},
                 {"bad_share", AttackKind::kBadShare},
                 {"bad_weight", AttackKind::kBadWeight},
                 {"bad_seal", AttackKind::kBadSeal}});
  attack.Real("factor", at.factor, 0.0, 1e6);
  attack.Integer("start_round", at.start_round, 1, 1'000'000);
  attack.Real("declared_samples", at.declared_samples, 0.0, 1e9);
  attack.Finish();
  SectionReader privacy(root, "privacy", origin, known_keys);
  auto& pv = config.privacy;
  privacy.Choice("dp", pv.dp,
                 {{"off", DpMode::kOff},
                  {"central", DpMode::kCentral},
                  {"distributed", DpMode::kDistributed}});
  privacy.Real("clip_norm", pv.clip_norm, 0.0, 1e9, /*min_open=*/true);
  privacy.Real("noise_multiplier", pv.noise_multiplier, 0.0, 1e4);
  privacy.Real("target_epsilon", pv.target_epsilon, 0.0, 1e4);
  privacy.Real("delta", pv.delta, 0.0, 0.1, /*min_open=*/true);
  privacy.Real("summary_clip_norm", pv.summary_clip_norm, 0.0, 1e9, /*min_open=*/true);
  privacy.Real("summary_noise_multiplier", pv.summary_noise_multiplier, 0.0, 1e4);
  privacy.Integer("min_survivors", pv.min_survivors, 0, 1'000'000);
  privacy.Finish();
  // A default that privacy.dp makes invalid follows it (configs/README.md);
  // a value set explicitly is left to CheckPrivacy, which refuses it.
  if (pv.dp != DpMode::kOff && !weighting_given && a.weighting != ClientWeighting::kUniform) {
    a.weighting = ClientWeighting::kUniform;
    FSD_LOG(INFO) << origin
                  << ": aggregation.weighting = \"uniform\", which privacy.dp needs (its default "
                     "\"capped\" applies without privacy.dp)";
  }
  SectionReader secure(root, "secure_aggregation", origin, known_keys);
  auto& sa = config.secure_aggregation;
  secure.Bool("enabled", sa.enabled);
  secure.Choice("graph", sa.graph,
                {{"complete", SecAggGraphKind::kComplete}, {"sparse", SecAggGraphKind::kSparse}});
  secure.Real("threshold", sa.threshold, 0.0, 1e6);
  secure.Integer("bits", sa.bits, 1, 48);
  secure.Real("range", sa.range, 0.0, 1e6, /*min_open=*/true);
  secure.Real("logit_range", sa.logit_range, 0.0, 1e6, /*min_open=*/true);
  secure.Integer("weight_bits", sa.weight_bits, 0, 16);
  secure.Real("dropout_rate", sa.dropout_rate, 0.0, 0.9);
  secure.Real("adversarial_rate", sa.adversarial_rate, 0.0, 0.5);
  secure.Real("stage_deadline_s", sa.stage_deadline_s, 0.0, 86400.0, /*min_open=*/true);
  secure.Integer("exclude_rounds", sa.exclude_rounds, 0, 1'000'000);
  secure.Real("min_threshold", sa.min_threshold, 0.0, 1e6);
  secure.Finish();
  SectionReader faults(root, "faults", origin, known_keys);
  auto& fc = config.faults;
  faults.Real("dropout_before_train", fc.dropout_before_train, 0.0, 1.0);
  faults.Real("dropout_during_train", fc.dropout_during_train, 0.0, 1.0);
  faults.Real("dropout_after_upload", fc.dropout_after_upload, 0.0, 1.0);
  faults.Real("offline_s", fc.offline_s, 0.0, 86400.0);
  faults.Real("straggler_fraction", fc.straggler_fraction, 0.0, 1.0);
  faults.Real("straggler_factor", fc.straggler_factor, 1.0, 1000.0);
  faults.Real("crash_rate", fc.crash_rate, 0.0, 1.0);
  faults.Real("restart_after_s", fc.restart_after_s, 0.0, 3600.0);
  faults.Real("garbage_rate", fc.garbage_rate, 0.0, 1.0);
  faults.Finish();
  SectionReader heterogeneity(root, "heterogeneity", origin, known_keys);
  auto& hc = config.heterogeneity;
  heterogeneity.Integer("max_exit", hc.max_exit, 0, kMaxExits);
  heterogeneity.Integer("min_exit", hc.min_exit, 0, kMaxExits);
  heterogeneity.Tables("profile", hc.profiles, [](SectionReader& profile) {
    ExitProfile p;
    profile.Real("share", p.share, 0.0, 1.0, /*min_open=*/true);
    profile.Integer("max_exit", p.max_exit, 0, kMaxExits);
    return p;
  });
  heterogeneity.Finish();
  double shares = 0.0;
  for (const auto& profile : hc.profiles) shares += profile.share;
  if (!hc.profiles.empty() && std::fabs(shares - 1.0) > 1e-6) {
    throw ConfigError(origin + ": heterogeneity.profile: the shares must sum to 1, got " +
                      std::to_string(shares));
  }
  // Every key read: the rules between keys (cross_key_rules.h).
  if (root != nullptr) CheckCrossKeyRules(config, origin);
  return config;
}

}  // namespace

RunConfig ParseConfig(const std::string& toml_text, const std::string& origin,
                      const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& error) {
    std::ostringstream message;
    message << origin << ":" << error.source().begin.line
            << ": TOML syntax error: " << error.description();
    throw ConfigError(message.str());
  }
  for (const auto& assignment : overrides) ApplyOverride(root, assignment);
  return Read(&root, origin, nullptr);
}

RunConfig LoadConfig(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) throw IoError(path + ": cannot open config file");
  std::ostringstream text;
  text << in.rdbuf();
  RunConfig config = ParseConfig(text.str(), path, overrides);
  // Paths inside a config file are relative to the file, so it works from any directory.
  auto& partition_file = config.federation.partition_file;
  if (!partition_file.empty() && std::filesystem::path(partition_file).is_relative()) {
    partition_file = (std::filesystem::path(path).parent_path() / partition_file).string();
  }
  return config;
}

int CheckedInClients(const RunConfig& config) {
  const int clients = config.federation.clients;
  if (config.sim.checked_in > 0) return std::min(config.sim.checked_in, clients);
  if (clients <= 1000 || config.privacy.dp != DpMode::kOff) return clients;
  const auto all = static_cast<std::size_t>(clients);
  const auto sampled = static_cast<int>(
      PlannedCohort(config.federation.fraction, config.federation.over_select, all, 0, all)
          .sampled);
  return std::min(clients, std::max(2, 2 * sampled));
}

bool InjectsFaults(const FaultsConfig& faults) {
  return faults.dropout_before_train > 0.0 || faults.dropout_during_train > 0.0 ||
         faults.dropout_after_upload > 0.0 || faults.straggler_fraction > 0.0 ||
         faults.crash_rate > 0.0 || faults.garbage_rate > 0.0;
}

bool ReleasesSummaries(const RunConfig& config) {
  const auto& sc = config.schedule;
  const bool beta = sc.beta == RampKind::kLinear ? sc.beta_start > 0.0 || sc.beta_end > 0.0
                                                 : config.loss.beta > 0.0;
  return beta || config.federation.mode == FederationMode::kDistillation ||
         sc.temperature == TemperatureScheduleKind::kAdaptive;
}

std::vector<std::string> KnownConfigKeys() {
  std::vector<std::string> keys;
  Read(nullptr, "", &keys);
  return keys;
}

}  // namespace fsd::config
