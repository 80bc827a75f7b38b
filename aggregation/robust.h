// The aggregation rules as pure functions over the round's client vectors:
// the weighted mean (FedAvg), the coordinate-wise weighted median, the
// coordinate-wise trimmed mean, Krum / multi-Krum selection (Blanchard et al.,
// NeurIPS 2017), and L2 clipping of each client's delta from a reference.
//
// Every function reads spans it does not own and returns fresh vectors; all
// arithmetic is in double and visits clients in the given order, so a result
// depends only on the inputs and their order (the coordinator sorts by client
// name). No LibTorch. Thread-safety: free functions, safe from any thread.
// Errors: InternalError when inputs are empty, of unequal sizes, or a weight
// is not positive and finite, or a rule's own precondition (stated below) is
// broken — callers check those first (aggregation/aggregate.h).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace fsd::aggregation {

// One client's vector in a round and how much it counts (> 0, finite).
struct WeightedInput {
  std::span<const float> values;
  double weight = 1.0;
};

// Σ wᵢ·xᵢ / Σ wᵢ per coordinate.
std::vector<float> WeightedMean(std::span<const WeightedInput> inputs);

// Per coordinate, the weighted median: the smallest value whose cumulative
// weight (values sorted ascending) reaches half the total; when it reaches
// exactly half, the mean of that value and the next. With equal weights this
// is the ordinary median (the middle value, or the mean of the two middle ones).
std::vector<float> CoordinateMedian(std::span<const WeightedInput> inputs);

// How many values the trimmed mean drops on each side: ⌊β·n⌋ (at most
// ⌊(n − 1)/2⌋, so one is always left; 0 when n < 1/β — then nothing is trimmed).
// REQUIRES: 0 <= trim_fraction < 0.5.
std::size_t TrimCount(std::size_t n, double trim_fraction);

// Per coordinate, drop the TrimCount(n, β) smallest and as many largest values,
// then the weighted mean of the rest (their own weights).
std::vector<float> TrimmedMean(std::span<const WeightedInput> inputs, double trim_fraction);

// Krum needs n >= 2f + 3 inputs to tolerate f Byzantine ones.
std::size_t KrumMinimumInputs(std::size_t byzantine);

// Krum scores: for each input, the sum of squared L2 distances to its
// n − f − 2 nearest other inputs. REQUIRES: n >= KrumMinimumInputs(f).
std::vector<double> KrumScores(std::span<const WeightedInput> inputs, std::size_t byzantine);

// The `keep` inputs with the lowest Krum scores (ties: lower index first), in
// ascending order of index. keep = 1 is Krum; multi-Krum averages them.
// REQUIRES: 1 <= keep <= n, n >= KrumMinimumInputs(f).
std::vector<std::size_t> KrumSelect(std::span<const WeightedInput> inputs, std::size_t byzantine,
                                    std::size_t keep);

// ‖values − reference‖₂, in double.
double DeltaNorm(std::span<const float> values, std::span<const float> reference);

// The median of a list (mean of the two middle values for an even count).
// REQUIRES: non-empty.
double Median(std::vector<double> values);

// reference + (values − reference) · bound / ‖values − reference‖₂ when that
// norm exceeds `bound` (> 0); otherwise a copy of values.
std::vector<float> ClipDelta(std::span<const float> values, std::span<const float> reference,
                             double bound);

}  // namespace fsd::aggregation
