#include <gtest/gtest.h>

#include <filesystem>

#include "common/config/toml_loader.h"
#include "common/errors.h"
#include "tests/testing/temp_dir.h"

namespace fsd::config {
namespace {

std::string ErrorOf(const std::string& toml, const std::vector<std::string>& overrides = {}) {
  try {
    ParseConfig(toml, "test.toml", overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ConfigTest, EmptyFileGivesDocumentedDefaults) {
  const RunConfig c = ParseConfig("", "empty");
  EXPECT_EQ(c.training.batch_size, 32);
  EXPECT_DOUBLE_EQ(c.training.lr, 0.05);
  EXPECT_DOUBLE_EQ(c.loss.alpha, 0.5);
  EXPECT_DOUBLE_EQ(c.loss.temperature, 3.0);
  EXPECT_EQ(c.model.architecture, model::Architecture::kCnn3S);
  EXPECT_EQ(c.data.dir, "/usr/share/datasets/fashion-mnist");
}

TEST(ConfigTest, ReadsEveryKindOfValue) {
  const RunConfig c = ParseConfig(
      "[training]\nepochs = 7\nlr = 0.1\nlr_schedule = \"cosine\"\n"
      "[loss]\nteacher = \"ensemble\"\nexits = \"main\"\ntemperature = 2\n"
      "[model]\narchitecture = \"mlp\"\n",
      "x");
  EXPECT_EQ(c.training.epochs, 7);
  EXPECT_DOUBLE_EQ(c.training.lr, 0.1);
  EXPECT_EQ(c.training.lr_schedule, LrSchedule::kCosine);
  EXPECT_EQ(c.loss.teacher, Teacher::kEnsemble);
  EXPECT_EQ(c.loss.exits, TrainedExits::kMain);
  EXPECT_DOUBLE_EQ(c.loss.temperature, 2.0);  // integers are accepted for reals
  EXPECT_EQ(c.model.architecture, model::Architecture::kMlp);
}

TEST(ConfigTest, UnknownKeyNamesTheKeyAndAllowedKeys) {
  const std::string e = ErrorOf("[training]\nepoch = 3\n");
  EXPECT_NE(e.find("training.epoch: unknown key"), std::string::npos) << e;
  EXPECT_NE(e.find("epochs"), std::string::npos) << e;
}

TEST(ConfigTest, UnknownSectionIsRejected) {
  EXPECT_NE(ErrorOf("[trainig]\nepochs = 3\n").find("unknown section or key 'trainig'"),
            std::string::npos);
}

TEST(ConfigTest, BadChoiceNamesAllowedValues) {
  const std::string e = ErrorOf("[loss]\nteacher = \"oracle\"\n");
  EXPECT_NE(e.find("loss.teacher: must be one of: deepest, ensemble"), std::string::npos) << e;
}

TEST(ConfigTest, OutOfRangeNumberNamesTheRange) {
  const std::string e = ErrorOf("[loss]\nalpha = 1.5\n");
  EXPECT_NE(e.find("loss.alpha: must be a number in [0, 1]"), std::string::npos) << e;
  EXPECT_NE(ErrorOf("[loss]\ntemperature = 0\n").find("(0, 100]"), std::string::npos);
  EXPECT_NE(ErrorOf("[training]\nepochs = 0\n").find("training.epochs"), std::string::npos);
}

TEST(ConfigTest, WrongTypeIsRejected) {
  EXPECT_NE(ErrorOf("[training]\nepochs = \"five\"\n").find("must be an integer"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[training]\nepochs = 2.5\n").find("must be an integer"), std::string::npos);
}

TEST(ConfigTest, SyntaxErrorNamesTheLine) {
  const std::string e = ErrorOf("[training]\nepochs = = 3\n");
  EXPECT_NE(e.find("test.toml:2: TOML syntax error"), std::string::npos) << e;
}

TEST(ConfigTest, OverridesReplaceFileValuesAndObeyValidation) {
  const RunConfig c =
      ParseConfig("[training]\nepochs = 5\n", "x",
                  {"training.epochs=2", "loss.teacher=ensemble", "data.dir=/tmp/x y"});
  EXPECT_EQ(c.training.epochs, 2);
  EXPECT_EQ(c.loss.teacher, Teacher::kEnsemble);
  EXPECT_EQ(c.data.dir, "/tmp/x y");
  EXPECT_NE(ErrorOf("", {"training.epochz=2"}).find("training.epochz: unknown key"),
            std::string::npos);
  EXPECT_NE(ErrorOf("", {"no-equals-sign"}).find("section.key=value"), std::string::npos);
}

TEST(ConfigTest, ReadsRobustAggregationKeysAndClipNormWord) {
  const RunConfig c = ParseConfig(
      "[federation]\nclients = 20\n[aggregation]\nrule = \"multi_krum\"\nbyzantine = 4\n"
      "krum_selected = 12\nclip_norm = \"median\"\nclip_factor = 2\n"
      "summary_rule = \"trimmed_mean\"\ntrim_fraction = 0.2\n",
      "x");
  EXPECT_EQ(c.aggregation.rule, AggregationRule::kMultiKrum);
  EXPECT_EQ(c.aggregation.byzantine, 4);
  EXPECT_EQ(c.aggregation.krum_selected, 12);
  EXPECT_TRUE(c.aggregation.clip_median);
  EXPECT_DOUBLE_EQ(c.aggregation.clip_factor, 2.0);
  EXPECT_EQ(c.aggregation.summary_rule, SummaryRule::kTrimmedMean);
  EXPECT_DOUBLE_EQ(c.aggregation.trim_fraction, 0.2);
  const RunConfig fixed = ParseConfig("[aggregation]\nclip_norm = 3.5\n", "x");
  EXPECT_FALSE(fixed.aggregation.clip_median);
  EXPECT_DOUBLE_EQ(fixed.aggregation.clip_norm, 3.5);
  const std::string e = ErrorOf("[aggregation]\nclip_norm = \"mean\"\n");
  EXPECT_NE(e.find("aggregation.clip_norm: must be a number in [0, 1e+30] or \"median\""),
            std::string::npos)
      << e;
  EXPECT_NE(ErrorOf("[aggregation]\ntrim_fraction = 0.5\n").find("aggregation.trim_fraction"),
            std::string::npos);
}

TEST(ConfigTest, RefusesKrumWhenTheCohortCannotReachTwoFPlusThree) {
  // 10 clients, all sampled: f = 3 needs 9 updates (fine), f = 4 needs 11.
  EXPECT_EQ(ErrorOf("[aggregation]\nrule = \"krum\"\nbyzantine = 3\n"), "no error");
  const std::string e = ErrorOf("[aggregation]\nrule = \"krum\"\nbyzantine = 4\n");
  EXPECT_NE(e.find("aggregation.byzantine: krum and multi_krum tolerate f = 4 hostile clients only "
                   "with at least 2f + 3 = 11 updates per round"),
            std::string::npos)
      << e;
  EXPECT_NE(ErrorOf("[federation]\nclients = 100\nfraction = 0.04\n[aggregation]\n"
                    "rule = \"multi_krum\"\nbyzantine = 1\n")
                .find("gives 4"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[aggregation]\nrule = \"multi_krum\"\nkrum_selected = 11\n")
                .find("aggregation.krum_selected: must be at most the round's 10 updates"),
            std::string::npos);
}

TEST(ConfigTest, RefusesATrimmedMeanThatWouldTrimNothing) {
  // 10 clients, all sampled: β = 0.1 trims one of 10; β = 0.05 would need 20.
  EXPECT_EQ(ErrorOf("[aggregation]\nrule = \"trimmed_mean\"\ntrim_fraction = 0.1\n"), "no error");
  const std::string e = ErrorOf("[aggregation]\nrule = \"trimmed_mean\"\ntrim_fraction = 0.05\n");
  EXPECT_NE(e.find("aggregation.trim_fraction: trimmed_mean with trim_fraction 0.05 trims one "
                   "update from each side only among at least 20 updates, but "
                   "federation.clients × federation.fraction gives 10"),
            std::string::npos)
      << e;
  EXPECT_NE(ErrorOf("[aggregation]\nrule = \"trimmed_mean\"\ntrim_fraction = 0\n")
                .find("aggregation.trim_fraction: must be > 0"),
            std::string::npos);
}

TEST(ConfigTest, ReadsRobustVotesAndTheClippedMeanSummaryRule) {
  const RunConfig defaults = ParseConfig("", "x");
  EXPECT_EQ(defaults.aggregation.robust_votes, RobustVotes::kOnePerClient);
  const RunConfig c = ParseConfig(
      "[aggregation]\nrobust_votes = \"by_weight\"\nsummary_rule = \"clipped_mean\"\n"
      "summary_clip_factor = 3\n",
      "x");
  EXPECT_EQ(c.aggregation.robust_votes, RobustVotes::kByWeight);
  EXPECT_EQ(c.aggregation.summary_rule, SummaryRule::kClippedMean);
  EXPECT_DOUBLE_EQ(c.aggregation.summary_clip_factor, 3.0);
  EXPECT_NE(
      ErrorOf("[aggregation]\nrobust_votes = \"some\"\n")
          .find("aggregation.robust_votes: must be one of: one_per_client, by_weight; got 'some'"),
      std::string::npos)
      << ErrorOf("[aggregation]\nrobust_votes = \"some\"\n");
}

TEST(ConfigTest, DistillationOnlyRefusesAttacksOnWeights) {
  const std::string e =
      ErrorOf("[federation]\nmode = \"distillation\"\n[attack]\nclients = 1\nkind = \"scale\"\n");
  EXPECT_NE(e.find("attack.kind: with federation.mode = \"distillation\" no weights travel"),
            std::string::npos)
      << e;
  EXPECT_EQ(ErrorOf("[federation]\nmode = \"distillation\"\n[attack]\nclients = 1\n"
                    "kind = \"logit_poison\"\n"),
            "no error");
}

TEST(ConfigTest, SecureAggregationRefusesWhatNeedsIndividualUpdates) {
  const std::string on = "[secure_aggregation]\nenabled = true\n";
  EXPECT_EQ(ErrorOf(on), "no error");
  EXPECT_EQ(ErrorOf(on + "graph = \"sparse\"\nthreshold = 0.6\nbits = 20\n"), "no error");
  const auto refused = [&](const std::string& toml, const std::string& needle) {
    const std::string e = ErrorOf(toml);
    EXPECT_NE(e.find(needle), std::string::npos) << e;
  };
  refused(on + "[aggregation]\nrule = \"median\"\n",
          "aggregation.rule: must be \"fedavg\" with secure_aggregation.enabled");
  refused(on + "[aggregation]\nclip_norm = 3.0\n", "aggregation.clip_norm: must be 0");
  refused(on + "[aggregation]\ncap_per_class = true\n", "aggregation.cap_per_class");
  refused(on + "[privacy]\ndp = \"central\"\nnoise_multiplier = 1.0\n[aggregation]\n"
               "weighting = \"uniform\"\n",
          "privacy.dp: \"central\"");
  refused(on + "[transport]\ninsecure = true\n", "transport.insecure: must be false");
  refused(on + "[compression]\nuplink = \"int8\"\n", "compression.uplink: must be \"fp32\"");
  refused(on + "[federation]\nmode = \"distillation\"\n", "federation.mode");
  refused(on + "[federation]\nclients = 1000\n", "secure_aggregation.graph: \"complete\"");
  refused(on + "threshold = 2.5\n", "secure_aggregation.threshold: must be a fraction");
  refused(on + "bits = 48\nweight_bits = 16\n", "secure_aggregation.bits: bits + weight_bits");
  refused(on + "graph = \"ring\"\n", "secure_aggregation.graph: must be one of: complete, sparse");
  EXPECT_EQ(ErrorOf(on + "[faults]\ndropout_after_upload = 0.2\n"), "no error");
  refused("[faults]\ndropout_after_upload = 1.5\n",
          "faults.dropout_after_upload: must be a number");
}

TEST(ConfigTest, HeterogeneityProfilesAreReadCheckedAndRefusedWhereUnsupported) {
  const RunConfig config = ParseConfig(
      "[[heterogeneity.profile]]\nshare = 0.3\nmax_exit = 1\n"
      "[[heterogeneity.profile]]\nshare = 0.7\n[heterogeneity]\nmin_exit = 2\n",
      "t");
  ASSERT_EQ(config.heterogeneity.profiles.size(), 2u);
  EXPECT_DOUBLE_EQ(config.heterogeneity.profiles[0].share, 0.3);
  EXPECT_EQ(config.heterogeneity.profiles[0].max_exit, 1);
  EXPECT_EQ(config.heterogeneity.profiles[1].max_exit, 0);
  EXPECT_EQ(config.heterogeneity.min_exit, 2);
  // The same profiles as a --set override (an inline array of tables).
  const RunConfig overridden =
      ParseConfig("", "t", {"heterogeneity.profile=[{share = 0.5, max_exit = 2}, {share = 0.5}]"});
  EXPECT_EQ(overridden.heterogeneity.profiles.size(), 2u);
  const auto refused = [&](const std::string& toml, const std::string& needle) {
    const std::string e = ErrorOf(toml);
    EXPECT_NE(e.find(needle), std::string::npos) << e;
  };
  refused("[[heterogeneity.profile]]\nshare = 0.5\n",
          "heterogeneity.profile: the shares must sum to 1");
  refused("[[heterogeneity.profile]]\nshare = 1.0\nmax_exit = -1\n",
          "heterogeneity.profile[0].max_exit: must be an integer in [0, 16]");
  refused("[[heterogeneity.profile]]\nshare = 1.0\nexit = 1\n",
          "heterogeneity.profile[0].exit: unknown key");
  refused("[heterogeneity]\nprofile = 3\n", "heterogeneity.profile: must be an array of tables");
  refused("[heterogeneity]\nmax_exit = 1\n[secure_aggregation]\nenabled = true\n",
          "not supported with secure_aggregation.enabled");
  refused("[heterogeneity]\nmax_exit = 1\n[federation]\nmode = \"distillation\"\n",
          "not supported with federation.mode");
}

TEST(ConfigTest, CheckInAndFaultsAreBoundedAndResolved) {
  const auto refused = [&](const std::string& toml, const std::string& needle) {
    const std::string e = ErrorOf(toml);
    EXPECT_NE(e.find(needle), std::string::npos) << e;
  };
  refused("[federation]\nclients = 10\n[sim]\nchecked_in = 11\n",
          "sim.checked_in: must be at most federation.clients (10), got 11");
  refused(
      "[federation]\nclients = 100\nfraction = 0.1\n[sim]\nchecked_in = 20\n"
      "[privacy]\ndp = \"central\"\nnoise_multiplier = 1.0\n[aggregation]\n"
      "weighting = \"uniform\"\n",
      "sim.checked_in: with privacy.dp every client must stay checked in");
  refused("[faults]\nstraggler_factor = 0.5\n", "faults.straggler_factor: must be a number");
  refused("[faults]\ncrash_rate = -0.1\n", "faults.crash_rate: must be a number");
  refused("[faults]\nsurprise = 1\n", "faults.surprise");

  // 0 resolves to everyone up to 1,000 clients (or under DP), else twice the
  // cohort with its spares.
  EXPECT_EQ(CheckedInClients(ParseConfig("[federation]\nclients = 1000\nfraction = 0.1\n", "t")),
            1000);
  EXPECT_EQ(CheckedInClients(ParseConfig(
                "[federation]\nclients = 10000\nfraction = 0.01\nover_select = 0.3\n", "t")),
            260);
  EXPECT_EQ(CheckedInClients(ParseConfig(
                "[federation]\nclients = 10000\nfraction = 0.01\n[privacy]\ndp = \"central\"\n"
                "noise_multiplier = 1.0\n[aggregation]\nweighting = \"uniform\"\n",
                "t")),
            10000);
  EXPECT_EQ(
      CheckedInClients(ParseConfig("[federation]\nclients = 500\n[sim]\nchecked_in = 50\n", "t")),
      50);

  const RunConfig faults = ParseConfig(
      "[faults]\ndropout_before_train = 0.1\nstraggler_fraction = 0.2\nrestart_after_s = 2\n", "t");
  EXPECT_TRUE(InjectsFaults(faults.faults));
  EXPECT_DOUBLE_EQ(faults.faults.straggler_factor, 5.0);
  EXPECT_DOUBLE_EQ(faults.faults.restart_after_s, 2.0);
  EXPECT_FALSE(InjectsFaults(ParseConfig("", "t").faults));
}

TEST(ConfigTest, PrivacyRefusesWhatItsGuaranteeCannotCover) {
  const std::string dp = "[privacy]\ndp = \"central\"\nnoise_multiplier = 1.0\n";
  const std::string uniform = "[aggregation]\nweighting = \"uniform\"\n";
  EXPECT_EQ(ErrorOf(dp + uniform), "no error");
  const auto refused = [&](const std::string& toml, const std::string& needle) {
    const std::string e = ErrorOf(toml);
    EXPECT_NE(e.find(needle), std::string::npos) << e;
  };
  // The default weighting follows privacy.dp; a weighting set explicitly is refused.
  EXPECT_EQ(ErrorOf(dp), "no error");
  EXPECT_EQ(ParseConfig(dp, "t").aggregation.weighting, ClientWeighting::kUniform);
  EXPECT_EQ(ParseConfig("", "t").aggregation.weighting, ClientWeighting::kCapped);
  refused(dp + "[aggregation]\nweighting = \"capped\"\n",
          "aggregation.weighting: must be \"uniform\" with privacy.dp on");
  refused(dp + "[aggregation]\nweighting = \"samples\"\n",
          "aggregation.weighting: must be \"uniform\" with privacy.dp on");
  refused(dp + uniform + "rule = \"median\"\n", "aggregation.rule: must be \"fedavg\"");
  refused(dp + uniform + "clip_norm = 3.0\n", "aggregation.clip_norm: must be 0");
  refused(dp + uniform + "[federation]\nover_select = 0.5\n", "federation.over_select: must be 0");
  refused("[privacy]\ndp = \"central\"\n" + uniform,
          "privacy.noise_multiplier: set it, or privacy.target_epsilon");
  // Soft targets on (beta > 0) with weight noise given but none for summaries.
  refused(dp + uniform + "[loss]\nbeta = 0.3\n", "privacy.summary_noise_multiplier: required");
  EXPECT_EQ(ErrorOf(dp + "summary_noise_multiplier = 2.0\n" + uniform + "[loss]\nbeta = 0.3\n"),
            "no error");
  // Both multipliers from the budget.
  EXPECT_EQ(ErrorOf("[privacy]\ndp = \"central\"\ntarget_epsilon = 4.0\n" + uniform +
                    "[loss]\nbeta = 0.3\n"),
            "no error");
  refused("[privacy]\ndp = \"local\"\n", "privacy.dp: must be one of: off, central, distributed");
  refused(dp + uniform + "[federation]\ncheckpoint = false\n",
          "federation.checkpoint: must be true");
  refused(dp + uniform + "[federation]\nclients = 10\nfraction = 0.05\n",
          "federation.fraction: federation.fraction × federation.clients");
  refused(dp + uniform + "summary_rule = \"median\"\n[loss]\nbeta = 0.3\n",
          "aggregation.summary_rule: must be \"mean\"");
  refused(dp + "summary_noise_multiplier = 1.0\n" + uniform,
          "privacy.summary_noise_multiplier: must be 0: no soft-target summaries");
  refused(dp + uniform + "[federation]\nmode = \"distillation\"\n",
          "privacy.noise_multiplier: must be 0 with federation.mode = \"distillation\"");
  refused(dp + "delta = 0.5\n" + uniform, "privacy.delta: must be a number in (0, 0.1]");
}

TEST(ConfigTest, DistributedDpNeedsMinSurvivorsWithinTheCohortAndWeightsMode) {
  const std::string dp =
      "[privacy]\ndp = \"distributed\"\nnoise_multiplier = 1.0\nmin_survivors = 3\n";
  const std::string cohort =
      "[aggregation]\nweighting = \"uniform\"\n[federation]\nclients = 10\nfraction = 0.5\n";
  EXPECT_EQ(ErrorOf(dp + cohort), "no error");
  EXPECT_EQ(ParseConfig(dp + cohort, "t").privacy.min_survivors, 3);
  const auto refused = [&](const std::string& toml, const std::string& needle) {
    const std::string e = ErrorOf(toml);
    EXPECT_NE(e.find(needle), std::string::npos) << e;
  };
  refused("[privacy]\ndp = \"distributed\"\nnoise_multiplier = 1.0\n" + cohort,
          "privacy.min_survivors: required with privacy.dp = \"distributed\": an integer from 1 "
          "to the expected cohort");
  refused("[privacy]\ndp = \"distributed\"\nnoise_multiplier = 1.0\nmin_survivors = 6\n" + cohort,
          "got 6");
  // Summaries travel as the clients' private records: given a multiplier, or both from ε.
  EXPECT_EQ(ErrorOf(dp + "summary_noise_multiplier = 2.0\n" + cohort + "[loss]\nbeta = 0.3\n"),
            "no error");
  refused(dp + cohort + "[loss]\nbeta = 0.3\n", "privacy.summary_noise_multiplier");
  refused(dp + cohort + "mode = \"distillation\"\n", "federation.mode: must be \"weights\"");
  // The central refusals hold too.
  refused(
      dp + "[aggregation]\nweighting = \"samples\"\n[federation]\nclients = 10\nfraction = 0.5\n",
      "aggregation.weighting");
  refused("[privacy]\nmin_survivors = 3\n",
          "privacy.min_survivors: only applies with privacy.dp = \"distributed\"");
}

TEST(ConfigTest, SummariesAreReleasedWithBetaTheAdaptiveScheduleOrDistillation) {
  EXPECT_FALSE(ReleasesSummaries(ParseConfig("", "t")));
  EXPECT_TRUE(ReleasesSummaries(ParseConfig("[loss]\nbeta = 0.1\n", "t")));
  EXPECT_TRUE(
      ReleasesSummaries(ParseConfig("[schedule]\nbeta = \"linear\"\nbeta_end = 0.5\n", "t")));
  EXPECT_FALSE(ReleasesSummaries(ParseConfig("[schedule]\nbeta = \"linear\"\n", "t")));
  EXPECT_TRUE(ReleasesSummaries(ParseConfig("[schedule]\ntemperature = \"adaptive\"\n", "t")));
  EXPECT_TRUE(ReleasesSummaries(ParseConfig("[federation]\nmode = \"distillation\"\n", "t")));
}

TEST(ConfigTest, ReadsServerOptimizerProximalTermAndRoundLearningRateSchedule) {
  const auto c = ParseConfig(
      "[aggregation]\nserver_optimizer = \"yogi\"\nserver_lr = 0.03\nbeta1 = 0.8\nbeta2 = 0.95\n"
      "tau = 0.01\n[training]\nproximal_mu = 0.01\n[schedule]\nlr = \"step\"\n"
      "lr_warmup_rounds = 2\nlr_step_rounds = 4\nlr_step_factor = 0.25\n",
      "t");
  EXPECT_EQ(c.aggregation.server_optimizer, ServerOptimizerKind::kYogi);
  EXPECT_EQ(c.aggregation.server_lr, 0.03);
  EXPECT_EQ(c.aggregation.beta1, 0.8);
  EXPECT_EQ(c.aggregation.beta2, 0.95);
  EXPECT_EQ(c.aggregation.tau, 0.01);
  EXPECT_EQ(c.training.proximal_mu, 0.01);
  EXPECT_EQ(c.schedule.lr, RoundLrScheduleKind::kStep);
  EXPECT_EQ(c.schedule.lr_warmup_rounds, 2);
  EXPECT_EQ(c.schedule.lr_step_rounds, 4);
  EXPECT_EQ(c.schedule.lr_step_factor, 0.25);
  const auto defaults = ParseConfig("", "t");
  EXPECT_EQ(defaults.aggregation.server_optimizer, ServerOptimizerKind::kNone);
  EXPECT_EQ(defaults.schedule.lr, RoundLrScheduleKind::kConstant);
  EXPECT_EQ(defaults.training.proximal_mu, 0.0);
  const auto refused = [&](const std::string& toml, const std::string& needle) {
    const std::string e = ErrorOf(toml);
    EXPECT_NE(e.find(needle), std::string::npos) << e;
  };
  refused("[aggregation]\nserver_optimizer = \"lamb\"\n",
          "aggregation.server_optimizer: must be one of: none, momentum, adam, yogi, adagrad");
  refused("[aggregation]\nserver_lr = 0\n", "aggregation.server_lr");
  refused("[schedule]\nlr = \"exponential\"\n",
          "schedule.lr: must be one of: constant, linear, cosine, step");
  refused("[schedule]\nlr_step_factor = 2.0\n", "schedule.lr_step_factor");
  refused("[aggregation]\nserver_optimizer = \"adam\"\n[federation]\nmode = \"distillation\"\n",
          "aggregation.server_optimizer: must be \"none\" with federation.mode");
}

TEST(ConfigTest, EveryShippedConfigLoads) {
  int loaded = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(fsd::testing::SourceDir() + "/configs")) {
    if (entry.path().extension() != ".toml") continue;
    const auto c = LoadConfig(entry.path().string());
    EXPECT_GE(c.training.epochs, 1) << entry.path();
    ++loaded;
  }
  EXPECT_GE(loaded, 10);
  // The main job's recipe: the benchmark task with the cosine round schedule.
  const auto best = LoadConfig(fsd::testing::SourceDir() + "/configs/fmnist-best.toml");
  EXPECT_EQ(best.schedule.lr, RoundLrScheduleKind::kCosine);
  EXPECT_EQ(best.federation.rounds, 20);
}

// A user turns on one feature of the benchmark config from the command
// line, as the docs show: no default of another key stands in the way.
TEST(ConfigTest, EachFeatureTurnsOnAloneOverTheBenchmarkConfig) {
  const std::string sd = fsd::testing::SourceDir() + "/configs/fmnist-sd.toml";
  const std::vector<std::vector<std::string>> features = {
      {"privacy.dp=central", "privacy.noise_multiplier=1.0"},
      {"privacy.dp=central", "privacy.target_epsilon=8.0"},
      {"privacy.dp=distributed", "privacy.noise_multiplier=1.0", "privacy.min_survivors=5"},
      {"secure_aggregation.enabled=true"},
      {"secure_aggregation.enabled=true", "privacy.dp=distributed", "privacy.noise_multiplier=1.0",
       "privacy.min_survivors=5"},
      {"federation.mode=distillation"},
      {"pruning.final_sparsity=0.5"},
      {"compression.uplink=int8"},
      {"aggregation.rule=median"},
      {"heterogeneity.max_exit=2"}};
  for (const auto& overrides : features) {
    std::string failure;
    try {
      LoadConfig(sd, overrides);
    } catch (const ConfigError& e) {
      failure = e.what();
    }
    EXPECT_EQ(failure, "") << overrides.front();
  }
}

TEST(ConfigTest, EveryKeyIsDocumentedInConfigsReadme) {
  const std::string readme =
      fsd::testing::ReadFile(fsd::testing::SourceDir() + "/configs/README.md");
  ASSERT_FALSE(readme.empty());
  const auto keys = KnownConfigKeys();
  EXPECT_GT(keys.size(), 20u);
  for (const auto& key : keys) {
    EXPECT_NE(readme.find("`" + key + "`"), std::string::npos) << key << " is not documented";
  }
}

TEST(ConfigTest, TextSourceAndCharGruNeedEachOtherAndRefuseImageKeys) {
  EXPECT_NE(ErrorOf("[data]\nsource = \"text\"\n").find("model.architecture: must be \"char-gru\""),
            std::string::npos);
  EXPECT_NE(ErrorOf("[model]\narchitecture = \"char-gru\"\n").find("data.source: must be \"text\""),
            std::string::npos);
  const std::string text = "[data]\nsource = \"text\"\n[model]\narchitecture = \"char-gru\"\n";
  EXPECT_EQ(ErrorOf(text), "no error");
  EXPECT_NE(ErrorOf("[data]\nsource = \"text\"\naugment = \"crop_flip\"\n[model]\narchitecture = "
                    "\"char-gru\"\n")
                .find("data.augment: must be \"none\""),
            std::string::npos);
  EXPECT_NE(ErrorOf("[data]\nsource = \"text\"\nnormalize_mean = 0.5\n[model]\narchitecture = "
                    "\"char-gru\"\n")
                .find("data.normalize_mean: data.normalize_mean and data.normalize_std are not "
                      "taken with"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[data]\nmax_train_samples = 10\n[federation]\npartition = \"natural\"\n")
                .find("data.max_train_samples: must be 0"),
            std::string::npos);
}

}  // namespace
}  // namespace fsd::config
