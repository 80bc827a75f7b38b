// Deployable exits: the network truncated after one exit, optionally slimmed
// by network slimming — in every convolution block, keep the output channels
// whose BatchNorm scale |γ| is largest, and remove the matching input
// channels of every layer that reads them — so the model is physically
// smaller, not masked. The result is an ordinary MultiExitNet (spec.channels,
// spec.exits) that can be fine-tuned with LocalTrainer and saved with
// torch::save (a TorchScript network: model::SaveScriptedNetwork). Thread-safety:
// the caller owns both models. Errors: ConfigError for an exit out of range, a
// keep share outside (0, 1], or slimming of an architecture without BatchNorm
// (mlp) or of a TorchScript network.
#pragma once

#include "common/model/multi_exit_net.h"
#include "edge/model_file.h"

namespace fsd::client {

// `exit`: 0-based exit index; `keep_channels`: share of every block's
// channels kept (at least one), 1.0 = no slimming.
model::MultiExitNet ExportExit(model::MultiExitNet& full, int exit, double keep_channels);

// The network as an EdgeModel for inference runtimes without LibTorch
// (edge/model_file.h): every BatchNorm folded into the convolution before it
// (W·γ/√(var+ε), (b − mean)·γ/√(var+ε) + β, with its running statistics),
// ReLUs fused, convolution weights in [out][kh][kw][in] order, and the first
// fully connected layer of an MLP reading the NHWC-flattened image, residual
// blocks as two convolutions and a residual addition. ConfigError for a
// TorchScript network; InternalError for a layer it does not know.
edge::EdgeModel ToEdgeModel(model::MultiExitNet& net);

}  // namespace fsd::client
