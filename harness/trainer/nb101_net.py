"""The NAS-Bench-101 network in PyTorch, built from an NB101 cell (matrix + ops).

Written from the published description (Ying et al., ICML 2019, Sec. 2.1 and Fig. 1) and the
facts of the official model builder's documentation, so that an NB101 pick can be re-trained:

- stem: conv3x3 with 128 output channels, BatchNorm, ReLU;
- 3 stacks of 3 cells; before the 2nd and 3rd stack a 2x2 max-pool with stride 2 halves the
  resolution and the cells' channel count doubles (128, 256, 512);
- head: global average pooling and a linear classifier (with bias).

Inside a cell of C_out output channels, the vertices that feed the output split C_out between
them (the first C_out mod k get one channel more); any other interior vertex gets the largest
channel count of the vertices it feeds. A vertex's input is the sum of its predecessors' outputs,
cut to its channel count by keeping the first channels ("truncation"), plus a 1x1
conv-BN-ReLU projection of the cell input when the input feeds it. Ops: conv3x3-bn-relu,
conv1x1-bn-relu (convolutions without bias), maxpool3x3 (stride 1, same padding). The output is
the channel concatenation of the vertices feeding it, plus a projection of the cell input when
the input feeds the output directly (the projection alone when no interior vertex does).
Convolutions have no bias; BatchNorm has scale and shift (momentum 0.997, epsilon 1e-5 in
TensorFlow's convention). Parameter counts equal the official `trainable_parameters`
(tests/test_trainer.py checks the 52 real cells of the `nb101/sample` store's source files).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from harness.spaces.base import ArchitectureError

DEFAULT_STEM = 128
DEFAULT_STACKS = 3
DEFAULT_MODULES = 3
_BN_MOMENTUM = 1.0 - 0.997  # TF's decay 0.997 is PyTorch's momentum 0.003
_BN_EPS = 1e-5
_OP_NAMES = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")


def conv_bn_relu(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out, eps=_BN_EPS, momentum=_BN_MOMENTUM),
        nn.ReLU(inplace=False),
    )


def vertex_channels(c_in: int, c_out: int, matrix: np.ndarray) -> list[int]:
    """Channels of every vertex of a pruned cell (input c_in, output c_out)."""
    v = matrix.shape[0]
    channels = [0] * v
    channels[0], channels[-1] = c_in, c_out
    if v == 2:
        return channels
    feeders = [i for i in range(1, v - 1) if matrix[i, v - 1]]
    base, extra = divmod(c_out, len(feeders))
    for k, i in enumerate(feeders):
        channels[i] = base + (1 if k < extra else 0)
    for i in range(v - 3, 0, -1):  # vertices that do not feed the output, from the back
        if not matrix[i, v - 1]:
            for dst in range(i + 1, v - 1):
                if matrix[i, dst]:
                    channels[i] = max(channels[i], channels[dst])
    return channels


class NB101Cell(nn.Module):
    """One NB101 cell of a pruned (matrix, ops) spec."""

    def __init__(self, matrix: np.ndarray, ops: Sequence[str], c_in: int, c_out: int):
        super().__init__()
        self.matrix = np.asarray(matrix, dtype=bool)
        v = self.matrix.shape[0]
        self.channels = vertex_channels(c_in, c_out, self.matrix)
        self.ops = nn.ModuleDict()
        self.projections = nn.ModuleDict()
        for t in range(1, v - 1):
            c = self.channels[t]
            if self.matrix[0, t]:
                self.projections[str(t)] = conv_bn_relu(c_in, c, 1)
            op = ops[t]
            if op == "conv3x3-bn-relu":
                self.ops[str(t)] = conv_bn_relu(c, c, 3)
            elif op == "conv1x1-bn-relu":
                self.ops[str(t)] = conv_bn_relu(c, c, 1)
            elif op == "maxpool3x3":
                self.ops[str(t)] = nn.MaxPool2d(3, stride=1, padding=1)
            else:
                raise ArchitectureError(
                    f"NB101 cell: unknown op {op!r} at vertex {t}; interior ops are {', '.join(_OP_NAMES)}"
                )
        if self.matrix[0, v - 1]:
            self.projections[str(v - 1)] = conv_bn_relu(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.matrix.shape[0]
        values: list[torch.Tensor] = [x]
        concat = []
        for t in range(1, v - 1):
            c = self.channels[t]
            inputs = [values[s][:, :c] for s in range(1, t) if self.matrix[s, t]]
            if self.matrix[0, t]:
                inputs.append(self.projections[str(t)](x))
            total = inputs[0]
            for extra in inputs[1:]:
                total = total + extra
            values.append(self.ops[str(t)](total))
            if self.matrix[t, v - 1]:
                concat.append(values[t])
        if not concat:
            return self.projections[str(v - 1)](x)
        out = concat[0] if len(concat) == 1 else torch.cat(concat, dim=1)
        if self.matrix[0, v - 1]:
            out = out + self.projections[str(v - 1)](x)
        return out


class NB101Network(nn.Module):
    """Stem, `stacks` stacks of `modules_per_stack` cells with downsampling between, and the head."""

    def __init__(self, matrix: np.ndarray, ops: Sequence[str], num_classes: int, *, stem_channels: int = DEFAULT_STEM,
                 stacks: int = DEFAULT_STACKS, modules_per_stack: int = DEFAULT_MODULES, in_channels: int = 3):
        super().__init__()
        if min(stem_channels, stacks, modules_per_stack, num_classes, in_channels) < 1:
            raise ArchitectureError(
                "NB101 network needs stem channels, stacks, cells per stack, classes and input channels >= 1"
            )
        self.stem = conv_bn_relu(in_channels, stem_channels, 3)
        layers: list[nn.Module] = []
        channels = stem_channels
        c_in = stem_channels
        for stack in range(stacks):
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2))
                channels *= 2
            for _ in range(modules_per_stack):
                layers.append(NB101Cell(matrix, ops, c_in, channels))
                c_in = channels
        self.cells = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    @classmethod
    def from_arch(cls, arch: str, num_classes: int, **kwargs: int) -> NB101Network:
        """From an NB101 architecture string of harness.spaces.nb101 (pruned and validated first)."""
        from harness.spaces.nb101 import OPS, parse, to_cell

        matrix, labels = to_cell(*parse(arch))
        ops = ["input", *(OPS[int(x)] for x in labels[1:-1]), "output"]
        return cls(np.asarray(matrix), ops, num_classes, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.cells(self.stem(x))).flatten(1))
