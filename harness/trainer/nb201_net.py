"""The NAS-Bench-201 network in PyTorch, built from an NB201 architecture string.

Written from the published description (Dong & Yang, ICLR 2020, Sec. 2 and Fig. 1; the benchmark
trains every cell in one fixed macro skeleton), so that a cell picked on the table can be trained
again on the user's own pipeline:

- stem: 3x3 convolution (no bias) from the input channels to C, then BatchNorm;
- three stages of N cells with C, 2C and 4C channels; between stages a residual reduction block
  (a basic ResNet block with stride 2: ReLU-conv3x3(stride 2)-BN, ReLU-conv3x3-BN, and a shortcut
  of 2x2 average pooling followed by a 1x1 convolution without bias; the two branches are added);
- head: BatchNorm, ReLU, global average pooling, a linear classifier (with bias).

A cell has 4 nodes; node i is the sum of op(node j) over its incoming edges j -> i, node 3 is the
output. Ops: `none` (the zero map: contributes nothing to the sum), `skip_connect` (identity),
`nor_conv_1x1` / `nor_conv_3x3` (ReLU, convolution without bias, BatchNorm with affine parameters),
`avg_pool_3x3` (stride 1, padding 1, the padding not counted in the average). Every non-`none` edge
keeps its layers even when its output cannot reach node 3, as in the benchmark, so that parameter
counts equal the official ones (`params` of the NB201 tables, checked in tests/test_trainer.py).
"""
from __future__ import annotations

import torch
from torch import nn

from harness.spaces.base import ArchitectureError
from harness.spaces.nb201 import EDGES, OPS, parse

DEFAULT_C = 16
DEFAULT_N = 5


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution without bias, BatchNorm with learnable scale and shift."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=True),
        )


def make_op(name: str, channels: int) -> nn.Module | None:
    """The module of one cell edge (stride 1, channels in = out); None for the zero op."""
    if name == "none":
        return None
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ArchitectureError(f"unknown NB201 op {name!r}; ops are {', '.join(OPS)}")


class NB201Cell(nn.Module):
    """One cell: node i = sum of its incoming edges' outputs; returns node 3."""

    def __init__(self, codes: tuple[int, ...], channels: int):
        super().__init__()
        self.edges = nn.ModuleList()
        self._wiring: list[tuple[int, int, int]] = []  # (to, from, module position)
        for (to, src), code in zip(EDGES, codes, strict=True):
            op = make_op(OPS[code], channels)
            if op is not None:
                self._wiring.append((to, src, len(self.edges)))
                self.edges.append(op)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            total = None
            for to, src, pos in self._wiring:
                if to == node:
                    out = self.edges[pos](nodes[src])
                    total = out if total is None else total + out
            # A node with only `none` inputs is the zero map (same shape as the input).
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[3]


class ResidualReduction(nn.Module):
    """Stride-2 basic residual block that doubles the channels between stages."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def macro_skeleton(C: int, N: int, in_channels: int, make_cell) -> tuple[nn.Module, list[nn.Module], nn.Module, int]:
    """NB201's macro skeleton, shared by the network and the one-shot supernet: a conv3x3+BN stem,
    3 stages of N cells (`make_cell(channels)`) separated by residual reduction blocks that double
    the channels, and a BN-ReLU-global-pool head; returns (stem, layers, head, final channels)."""
    stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
    layers: list[nn.Module] = []
    channels = C
    for stage in range(3):
        if stage > 0:
            layers.append(ResidualReduction(channels, channels * 2))
            channels *= 2
        layers.extend(make_cell(channels) for _ in range(N))
    head = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return stem, layers, head, channels


class NB201Network(nn.Module):
    """The NB201 macro skeleton around one cell; forward returns the logits."""

    def __init__(self, arch: str, num_classes: int, *, C: int = DEFAULT_C, N: int = DEFAULT_N, in_channels: int = 3):
        super().__init__()
        if C < 1 or N < 1 or num_classes < 1 or in_channels < 1:
            raise ArchitectureError(f"NB201 network needs C, N, classes, input channels >= 1, got C={C}, N={N}, "
                                    f"classes={num_classes}, in_channels={in_channels}")
        codes = parse(arch)
        self.arch = arch
        self.stem, layers, self.head, channels = macro_skeleton(C, N, in_channels, lambda c: NB201Cell(codes, c))
        self.cells = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))))
