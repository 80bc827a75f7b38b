// fsd-privacy: plan a differentially private run before starting it.
//   fsd-privacy epsilon --noise-multiplier Z --sampling-rate Q --steps T --delta D
//   fsd-privacy noise --target-epsilon E --sampling-rate Q --steps T --delta D
// Each prints one JSON object (epsilon, order, noise_multiplier, sampling_rate,
// steps, delta) from the RDP accountant (privacy/dp/rdp_accountant.h). Exit codes:
// 0 ok, 2 bad arguments (named), 1 internal error.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "privacy/dp/rdp_accountant.h"

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-privacy: (epsilon, delta) of client-level DP rounds (Poisson-sampled Gaussian "
      "mechanism, RDP accountant), or the noise multiplier a target epsilon needs."};
  app.require_subcommand(1);
  double noise = 0.0, q = 0.0, delta = 1e-5, target = 0.0;
  std::int64_t steps = 0;
  auto* epsilon_cmd = app.add_subcommand("epsilon", "epsilon spent by STEPS rounds");
  epsilon_cmd->add_option("--noise-multiplier", noise, "z: noise std / clip norm")->required();
  auto* noise_cmd = app.add_subcommand("noise", "smallest noise multiplier for a target epsilon");
  noise_cmd->add_option("--target-epsilon", target, "the budget")->required();
  for (auto* cmd : {epsilon_cmd, noise_cmd}) {
    cmd->add_option("--sampling-rate", q, "q: each client's chance to be sampled per round")
        ->required();
    cmd->add_option("--steps", steps, "rounds released")->required();
    cmd->add_option("--delta", delta, "delta (default 1e-5)");
  }
  CLI11_PARSE(app, argc, argv);
  try {
    if (noise_cmd->parsed()) noise = fsd::privacy::NoiseMultiplierFor(target, q, steps, delta);
    const auto spent = fsd::privacy::EpsilonAfter(q, noise, steps, delta);
    const nlohmann::json out = {
        {"epsilon", spent.epsilon}, {"order", spent.order}, {"noise_multiplier", noise},
        {"sampling_rate", q},       {"steps", steps},       {"delta", delta},
        {"accountant", "rdp"}};
    std::printf("%s\n", out.dump().c_str());
    return fsd::kExitOk;
  } catch (const fsd::ConfigError& e) {
    std::fprintf(stderr, "fsd-privacy: %s\n", e.what());
    return fsd::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fsd-privacy: internal error: %s\n", e.what());
    return fsd::kExitInternal;
  }
}
