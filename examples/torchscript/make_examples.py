#!/usr/bin/python3
"""Writes two multi-exit networks as TorchScript files that fsd federates
(model.architecture = "torchscript", model.path = FILE; docs/MODELS.md):

  cnn3s.pt      the benchmark's cnn3-s (docs/BENCHMARK.md) written in PyTorch:
                the same layers, widths and parameter count as fsd's own
  vgg_small.pt  a small VGG-style network fsd does not define: two stages of
                two 3x3 convolutions each, a pooled linear exit after stage 1
                and a two-layer classifier after stage 2

Both read 28x28 one-channel images and give 10 classes. The contract fsd
checks when it loads a file: a ModuleList `stages` and a ModuleList `heads`
of the same length, exit k being heads[k](stages[k](...stages[0](x))). fsd
composes the exits itself; `forward` here is for Python users.

Needs Debian's python3-torch, the LibTorch fsd links. The weights are drawn
from a fixed seed, string hashing is fixed (TorchScript writes a module's
constants in hash order) and the script runs as "make_examples.py" from its
own directory (TorchScript records the source file's name), so the files are
the same on every run and in every checkout; the committed
copies are checked against this script by ScriptedExamplesTest when
python3-torch is installed.

Usage: examples/torchscript/make_examples.py [OUT_DIR]  (default: this script's directory)
"""
import os
import sys
from typing import List

import torch
from torch import nn


class MultiExit(nn.Module):
    def __init__(self, stages: List[nn.Module], heads: List[nn.Module]):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.heads = nn.ModuleList(heads)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Logits of every exit, shallow to deep."""
        logits: List[torch.Tensor] = []
        for stage, head in zip(self.stages, self.heads):
            x = stage(x)
            logits.append(head(x))
        return logits


def conv_bn_relu(inputs, outputs, stride=1):
    return [nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1), nn.BatchNorm2d(outputs),
            nn.ReLU()]


def pooled_linear(inputs, classes):
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inputs, classes)]


def cnn3s(classes=10):
    """docs/BENCHMARK.md's cnn3-s: 16/32/64 channels, exits after every stage."""
    return MultiExit(
        stages=[nn.Sequential(*conv_bn_relu(1, 16), nn.MaxPool2d(2)),
                nn.Sequential(*conv_bn_relu(16, 32), nn.MaxPool2d(2)),
                nn.Sequential(*conv_bn_relu(32, 64))],
        heads=[nn.Sequential(*conv_bn_relu(16, 32, stride=2), *pooled_linear(32, classes)),
               nn.Sequential(*conv_bn_relu(32, 64), *pooled_linear(64, classes)),
               nn.Sequential(*pooled_linear(64, classes))])


def vgg_small(classes=10):
    return MultiExit(
        stages=[nn.Sequential(*conv_bn_relu(1, 16), *conv_bn_relu(16, 16), nn.MaxPool2d(2)),
                nn.Sequential(*conv_bn_relu(16, 32), *conv_bn_relu(32, 32), nn.MaxPool2d(2))],
        heads=[nn.Sequential(*pooled_linear(16, classes)),
               nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 64), nn.ReLU(),
                             nn.Linear(64, classes))])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    if os.environ.get("PYTHONHASHSEED") != "0" or __file__ != "make_examples.py":
        # Run again from this directory as "make_examples.py" (runpy keeps the
        # name relative): TorchScript records the source file's name, which
        # must not depend on where the repository is checked out.
        out = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else here
        os.chdir(here)
        rerun = ("import runpy, sys; sys.argv = ['make_examples.py', sys.argv[1]]; "
                 "runpy.run_path('make_examples.py', run_name='__main__')")
        os.execve(sys.executable, [sys.executable, "-c", rerun, out],
                  {**os.environ, "PYTHONHASHSEED": "0"})
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, make in (("cnn3s.pt", cnn3s), ("vgg_small.pt", vgg_small)):
        torch.manual_seed(0)
        model = torch.jit.script(make())
        path = os.path.join(out, name)
        model.save(path)
        parameters = sum(p.numel() for p in model.parameters())
        print(f"wrote {path} ({parameters} parameters)")


if __name__ == "__main__":
    main()
