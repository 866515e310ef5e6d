"""The DARTS evaluation network (CIFAR) in PyTorch, built from a DARTS-space architecture string.

Written from the published description (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture
Search", ICLR 2019, Sec. 2.1 and 3.2/A.2; the evaluation network the paper trains and that
NAS-Bench-301 trains at a smaller size), so that a cell found on the DARTS space can be re-trained
on the user's own pipeline:

- stem: 3x3 convolution (no bias) from the input channels to 3C, then BatchNorm;
- `layers` cells; cells at positions layers//3 and 2*layers//3 are reduction cells, which halve the
  resolution and double the cell width C there; every other cell is a normal cell;
- each cell takes the outputs of the two previous cells (the stem's output twice for the first).
  Both are first mapped to the cell width: the older one by a factorized reduction when the
  previous cell was a reduction cell (the two inputs then differ in resolution), else by
  ReLU-conv1x1-BN; the newer one always by ReLU-conv1x1-BN;
- each of the 4 intermediate nodes sums its two inputs, each through its op; in a reduction cell
  the ops reading the cell's two inputs have stride 2. The cell output concatenates the 4 nodes
  (4C channels);
- head: global average pooling and a linear classifier (with bias).

Ops (evaluation network: every BatchNorm has learnable scale and shift; pools have no BatchNorm):
`sep_conv_kxk` = two stacked blocks of ReLU, depthwise kxk convolution, pointwise 1x1 convolution,
BatchNorm (only the first block has the stride); `dil_conv_kxk` = one block with a depthwise kxk
convolution of dilation 2; `max_pool_3x3` / `avg_pool_3x3` (padding 1, the padding not counted in
the average); `skip_connect` = identity, or a factorized reduction when it has stride 2.

The factorized reduction (ReLU, then two 1x1 convolutions of stride 2, one on the input and one on
the input shifted by one pixel, each giving half the output channels, concatenated, then BatchNorm)
needs an even spatial size, as in the paper's code; a 32x32 input is fine for up to 4 reductions.

Options, both off by default so that the network is a deterministic function of its weights:
an auxiliary classifier on the output of cell 2*layers//3 (paper: weight 0.4 in the loss; needs an
8x8 map there, i.e. 32x32 inputs; reached through `forward_with_aux`, its parameters live under
`auxiliary_head` so `count_parameters` can leave them out as the paper's "param size" does), and
drop-path with probability `drop_path_prob` on every non-identity op while training.
"""
from __future__ import annotations

import torch
from torch import nn

from harness.spaces.base import ArchitectureError
from harness.spaces.darts import OPS, parse
from harness.trainer.nb201_net import ReLUConvBN  # the same block: the 1x1 preprocessing of a cell input

DEFAULT_C = 36  # the paper's CIFAR-10 evaluation network (NB301 trains C=32, layers=8)
DEFAULT_LAYERS = 20
AUX_NAME = "auxiliary_head"


class FactorizedReduce(nn.Module):
    """Halves the resolution with two offset stride-2 1x1 convolutions (no information dropped
    by a single stride-2 grid), each giving half the output channels."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        if c_out % 2:
            raise ArchitectureError(f"a factorized reduction needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            raise ArchitectureError(
                f"a DARTS reduction got a {x.shape[-2]}x{x.shape[-1]} feature map; it needs even sizes "
                "(use inputs whose side is divisible by 2 per reduction, e.g. 32x32)"
            )
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(x[:, :, 1:, 1:])], dim=1))


def _dw_pw_bn(c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int) -> list[nn.Module]:
    """ReLU, depthwise kxk convolution, pointwise 1x1 convolution, BatchNorm."""
    return [
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
        nn.BatchNorm2d(c_out, affine=True),
    ]


def make_op(name: str, channels: int, stride: int) -> nn.Module:
    """The module of one cell edge (channels in = out; stride 2 on a reduction cell's input edges)."""
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        k = 3 if name == "sep_conv_3x3" else 5
        return nn.Sequential(
            *_dw_pw_bn(channels, channels, k, stride, k // 2, 1), *_dw_pw_bn(channels, channels, k, 1, k // 2, 1)
        )
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        k = 3 if name == "dil_conv_3x3" else 5
        return nn.Sequential(*_dw_pw_bn(channels, channels, k, stride, k - 1, 2))
    raise ArchitectureError(f"unknown DARTS op {name!r}; ops are {', '.join(OPS)}")


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of one op's output with probability drop_prob, rescaling the rest."""
    keep = 1.0 - drop_prob
    mask = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class DartsCell(nn.Module):
    """One normal or reduction cell; returns the concatenation of its 4 intermediate nodes."""

    def __init__(
        self, nodes: tuple, c_prev_prev: int, c_prev: int, channels: int, reduction: bool, reduction_prev: bool
    ):
        super().__init__()
        self.reduction = reduction
        self.pre0 = (
            FactorizedReduce(c_prev_prev, channels) if reduction_prev else ReLUConvBN(c_prev_prev, channels, 1, 1, 0)
        )
        self.pre1 = ReLUConvBN(c_prev, channels, 1, 1, 0)
        self.edges = nn.ModuleList()
        self._inputs: list[int] = []  # state index read by the edge at the same position
        for node in nodes:
            for src, op in node:
                stride = 2 if reduction and src < 2 else 1
                self.edges.append(make_op(OPS[op], channels, stride))
                self._inputs.append(src)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for first in range(0, len(self.edges), 2):
            total = None
            for pos in (first, first + 1):
                op = self.edges[pos]
                h = op(states[self._inputs[pos]])
                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat(states[2:], dim=1)


class AuxiliaryHead(nn.Module):
    """The paper's auxiliary classifier for an 8x8 map (ReLU, 5x5 average pool of stride 3,
    1x1 conv to 128, BN, ReLU, 2x2 conv to 768, BN, ReLU, linear)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class DartsNetwork(nn.Module):
    """The DARTS CIFAR evaluation network around one genotype; forward returns the logits."""

    def __init__(
        self,
        arch: str,
        num_classes: int,
        *,
        C: int = DEFAULT_C,
        layers: int = DEFAULT_LAYERS,
        in_channels: int = 3,
        auxiliary: bool = False,
        drop_path_prob: float = 0.0,
    ):
        super().__init__()
        if C < 1 or layers < 1 or num_classes < 1 or in_channels < 1:
            raise ArchitectureError(
                f"DARTS network needs C, layers, classes, input channels >= 1, got C={C}, layers={layers}, "
                f"classes={num_classes}, in_channels={in_channels}"
            )
        if not 0.0 <= drop_path_prob < 1.0:
            raise ArchitectureError(f"drop_path_prob must be in [0, 1), got {drop_path_prob}")
        normal, reduce = parse(arch)
        self.arch = arch
        self.drop_path_prob = drop_path_prob
        stem_c = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_c, 3, padding=1, bias=False), nn.BatchNorm2d(stem_c))
        reductions = {layers // 3, 2 * layers // 3}
        self._aux_after = 2 * layers // 3
        c_prev_prev, c_prev, c_cur = stem_c, stem_c, C
        reduction_prev = False
        cells = []
        aux_c = None
        for i in range(layers):
            reduction = i in reductions
            if reduction:
                c_cur *= 2
            cells.append(
                DartsCell(reduce if reduction else normal, c_prev_prev, c_prev, c_cur, reduction, reduction_prev)
            )
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, 4 * c_cur
            if i == self._aux_after:
                aux_c = c_prev
        self.cells = nn.ModuleList(cells)
        if auxiliary:
            setattr(self, AUX_NAME, AuxiliaryHead(aux_c, num_classes))
        self.auxiliary = auxiliary
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and, when the auxiliary head is on and the network is training, its logits."""
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self._aux_after and self.auxiliary and self.training:
                aux = getattr(self, AUX_NAME)(s1)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1)), aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_aux(x)[0]


def count_parameters(model: nn.Module, include_auxiliary: bool = False) -> int:
    """Number of parameters; by default without the auxiliary head, as the paper reports them."""
    return sum(
        p.numel() for name, p in model.named_parameters() if include_auxiliary or not name.startswith(AUX_NAME + ".")
    )
