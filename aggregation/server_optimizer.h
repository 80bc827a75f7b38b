// Server optimizers: how the coordinator moves the global model once the
// aggregation rule has produced this round's aggregate (Reddi et al.,
// "Adaptive Federated Optimization", ICLR 2021, Algorithm 2; FedAvgM, Hsu et
// al. 2019). The rule's output minus the global model before the round is the
// pseudo-gradient Δ; the optimizer turns Δ into the step actually taken:
//
//   none      x ← x + Δ                               (the rule's output: FedAvg)
//   momentum  m ← μ·m + Δ;               x ← x + η·m
//   adam      m ← β1·m + (1−β1)·Δ;  v ← β2·v + (1−β2)·Δ²;            x ← x + η·m/(√v + τ)
//   yogi      m as adam;            v ← v − (1−β2)·Δ²·sign(v − Δ²);  x likewise
//   adagrad   m as adam;            v ← v + Δ²;                       x likewise
//
// m starts at 0 and v at τ² (as in the paper's experiments); no bias
// correction. Only the coordinates a caller names are stepped (trained values
// the sparsity mask keeps): BatchNorm running statistics keep the rule's
// output, and pruned coordinates stay exactly zero. A coordinate no client
// trained this round (heterogeneous sub-networks) has Δ = 0: its moments
// decay and momentum still carries it. Because it acts on the rule's output,
// it composes with every rule, with secure aggregation and with a DP release.
//
// Thread-safety: not thread-safe; one owner. Ownership: holds its moments.
// Errors: InternalError on mismatched spans or options outside their ranges
// (config validation names the key first); DataError from Restore on a saved
// state of another kind or size.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fsd::aggregation {

// The numbers are stored in checkpoints: they never change meaning.
enum class ServerOptimizerKind : std::uint8_t {
  kNone = 0,
  kMomentum = 1,
  kAdam = 2,
  kYogi = 3,
  kAdagrad = 4,
};
const char* ServerOptimizerName(ServerOptimizerKind kind);

struct ServerOptimizerOptions {
  ServerOptimizerKind kind = ServerOptimizerKind::kNone;
  double lr = 1.0;        // η, > 0
  double momentum = 0.9;  // μ of "momentum", in [0, 1)
  double beta1 = 0.9;     // adaptive kinds, in [0, 1)
  double beta2 = 0.99;    // adam and yogi, in [0, 1)
  double tau = 1e-3;      // adaptivity floor of the adaptive kinds, > 0
};

// What a checkpoint keeps of an optimizer: its moments over the flat vector
// (m only for "momentum", nothing for "none").
struct ServerOptimizerState {
  ServerOptimizerKind kind = ServerOptimizerKind::kNone;
  std::vector<float> m;
  std::vector<float> v;
};

class ServerOptimizer {
 public:
  // `size`: values in the global vector.
  ServerOptimizer(ServerOptimizerOptions options, std::size_t size);

  // One round: `before` is the global vector the round started from,
  // `global` the rule's output, overwritten with the optimizer's step at
  // every coordinate where `stepped` is 1 (elsewhere left as it is).
  // REQUIRES: the three spans have the optimizer's size.
  void Step(std::span<const float> before, std::span<float> global,
            std::span<const std::uint8_t> stepped);

  ServerOptimizerKind kind() const { return options_.kind; }
  const ServerOptimizerState& state() const { return state_; }
  // Continues from a saved state; DataError unless it is of this kind and size.
  void Restore(ServerOptimizerState state);

 private:
  ServerOptimizerOptions options_;
  std::size_t size_;
  ServerOptimizerState state_;
};

}  // namespace fsd::aggregation
