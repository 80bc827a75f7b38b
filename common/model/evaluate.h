// Per-exit test accuracy of a MultiExitNet, shared by fsd-train, the
// coordinator and the benchmarks. Thread-safety: uses the caller's model on
// the calling thread. Errors: InternalError for an empty dataset.
#pragma once

#include <vector>

#include "common/data/dataset.h"
#include "common/model/multi_exit_net.h"

namespace fsd::model {

// Accuracy of every exit (shallow to deep, fractions in [0, 1]) over the whole
// dataset, in eval mode without gradients; restores the previous mode.
std::vector<double> EvaluateAccuracy(MultiExitNet& model, const data::Dataset& dataset,
                                     int batch_size);

}  // namespace fsd::model
