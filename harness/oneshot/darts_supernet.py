"""The DARTS-space (NAS-Bench-301) supernet: the DARTS search network with every edge holding 8 ops.

Why: DARTS, GDAS and SPOS on the DARTS CIFAR space share one set of weights between all ~10^18
genotypes. The macro structure is the DARTS *search* network (Liu, Simonyan & Yang, "DARTS:
Differentiable Architecture Search", ICLR 2019, Sec. 2 and A.1.1):

- stem: 3x3 convolution (no bias) to 3C channels, BatchNorm;
- `layers` cells (default 8); cells layers//3 and 2*layers//3 are reduction cells (stride 2 on the
  edges that read the cell inputs, cell width doubled there); every other cell is a normal cell;
- each cell maps its two inputs to the cell width (the older input by a factorized reduction when
  the previous cell was a reduction cell, else ReLU-conv1x1-BN; the newer one by ReLU-conv1x1-BN)
  and has 4 intermediate nodes; node t sums, over ALL its 2 + t predecessors j, the mixed edge with
  NB301 edge id EDGE_START[t] + j (harness.spaces.darts). The cell output concatenates the 4 nodes;
- head: global average pooling and a linear classifier.

Normal cells share one (14, 8) weight matrix (weights[0]), reduction cells another (weights[1]).
Each edge holds the 8 `SUPER_OPS`: `none` (index 0, the zero map with the edge's output shape) and
the 7 DARTS-space ops (index o + 1 is harness.spaces.darts.OPS[o]).

Departures from the DARTS search code, on purpose: the ops, preprocessing and reductions are the
trainer's own modules (harness.trainer.darts_net: make_op, ReLUConvBN, FactorizedReduce), whose
BatchNorms have a learnable scale and shift; DARTS's search network uses affine-free BatchNorm
there and adds an affine-free BatchNorm after each pooling op, which we do not. In exchange, the
path that a genotype picks in this supernet is built from exactly the layers that
harness.trainer.darts_net.DartsNetwork re-trains (same modules, same order), so supernet weights
can be inherited by the derived network.

A forward pass takes `weights` (2, 14, 8) (DARTS: softmax of alpha; every op runs), or `choice`
(2, 14) op indices (SPOS: only the chosen op runs; `none` runs nothing), or both (GDAS: the choice
picks, the chosen op's weight scales the output for a straight-through gradient).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from harness.spaces import darts
from harness.spaces.base import ArchitectureError
from harness.trainer.darts_net import FactorizedReduce, ReLUConvBN, make_op

SUPER_OPS = ("none",) + darts.OPS  # 8 candidate ops per edge; index 0 = none
N_SUPER_OPS = len(SUPER_OPS)  # 8
N_CELL_TYPES = 2  # normal, reduce
MULTIPLIER = darts.N_NODES  # the cell output concatenates its 4 nodes
STEM_MULTIPLIER = 3
# (node t, input j) of each NB301 edge id, in edge-id order.
EDGE_INPUTS: tuple[tuple[int, int], ...] = tuple((t, j) for t in range(darts.N_NODES) for j in range(t + 2))
assert len(EDGE_INPUTS) == darts.N_EDGES and all(darts.EDGE_START[t] + j == e for e, (t, j) in enumerate(EDGE_INPUTS))


def _zeros_like_output(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Zeros with the shape an op of this stride outputs (padding 'same'-like: ceil(size / stride))."""
    n, c, h, w = x.shape
    return x.new_zeros((n, c, -(-h // stride), -(-w // stride)))


class Zero(nn.Module):
    """The `none` op as a module: x * 0 on the stride grid (keeps the graph, as in DARTS's code)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0) if self.stride == 1 else x[:, :, :: self.stride, :: self.stride].mul(0.0)


class MixedEdge(nn.Module):
    """One edge with all 8 SUPER_OPS (ops[0] = none, ops[o + 1] = the trainer's module of OPS[o])."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.ops = nn.ModuleList([Zero(stride)] + [make_op(name, channels, stride) for name in darts.OPS])

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None, choice: int | None = None) -> torch.Tensor:
        """Weighted sum of all 8 ops (choice None), or only op `choice` (times weights[choice] if
        given). Choice 0 runs no module: zeros of the output shape (times the weight if given)."""
        if choice is not None:
            out = _zeros_like_output(x, self.stride) if choice == 0 else self.ops[choice](x)
            return out if weights is None else out * weights[choice]
        if weights is None or tuple(weights.shape) != (N_SUPER_OPS,):
            raise ArchitectureError(f"a DARTS mixed edge needs {N_SUPER_OPS} op weights or an op choice")
        return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))


class SuperCell(nn.Module):
    """A DARTS search cell: 2 preprocessed inputs, 4 nodes each summing all its mixed in-edges."""

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.pre0 = (
            FactorizedReduce(c_prev_prev, channels) if reduction_prev else ReLUConvBN(c_prev_prev, channels, 1, 1, 0)
        )
        self.pre1 = ReLUConvBN(c_prev, channels, 1, 1, 0)
        self.edges = nn.ModuleList(MixedEdge(channels, 2 if reduction and j < 2 else 1) for _, j in EDGE_INPUTS)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor | None,
                choice: tuple[int, ...] | None) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for t in range(darts.N_NODES):
            total = None
            for j in range(t + 2):
                e = darts.EDGE_START[t] + j
                out = self.edges[e](
                    states[j], None if weights is None else weights[e], None if choice is None else choice[e]
                )
                total = out if total is None else total + out
            states.append(total)
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    """The DARTS search network (stem, `layers` super-cells, pooling, linear head); see module doc."""

    def __init__(self, num_classes: int, *, C: int = 16, layers: int = 8, in_channels: int = 3):
        super().__init__()
        if C < 1 or layers < 1 or num_classes < 1 or in_channels < 1:
            raise ArchitectureError(f"the DARTS supernet needs C, layers, classes, input channels >= 1, got C={C}, "
                                    f"layers={layers}, classes={num_classes}, in_channels={in_channels}")
        stem_c = STEM_MULTIPLIER * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_c, 3, padding=1, bias=False), nn.BatchNorm2d(stem_c))
        self.reduction_layers = tuple(sorted({layers // 3, 2 * layers // 3}))
        c_prev_prev, c_prev, c_cur = stem_c, stem_c, C
        reduction_prev = False
        cells = []
        for i in range(layers):
            reduction = i in self.reduction_layers
            if reduction:
                c_cur *= 2
            cells.append(SuperCell(c_prev_prev, c_prev, c_cur, reduction, reduction_prev))
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, MULTIPLIER * c_cur
        self.cells = nn.ModuleList(cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None,
                choice: torch.Tensor | Sequence[Sequence[int]] | None = None) -> torch.Tensor:
        """Logits. `weights` (2, 14, 8) alone: mixed ops (normal cells use weights[0], reduction
        cells weights[1]). `choice` (2, 14) super-op indices: one op per edge, scaled by
        weights[c, e, choice[c][e]] when weights are given too (GDAS's straight-through gradient)."""
        if weights is None and choice is None:
            raise ArchitectureError(
                f"the DARTS supernet needs op weights ({N_CELL_TYPES}, {darts.N_EDGES}, {N_SUPER_OPS}) "
                "or an op choice per cell and edge"
            )
        if weights is not None:
            _check_weights(weights)
        choice_cells = None if choice is None else _check_choice(choice)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            c = 1 if cell.reduction else 0
            s0, s1 = (
                s1,
                cell(
                    s0, s1, None if weights is None else weights[c], None if choice_cells is None else choice_cells[c]
                ),
            )
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))


def _check_weights(weights: object) -> None:
    shape = (N_CELL_TYPES, darts.N_EDGES, N_SUPER_OPS)
    if not torch.is_tensor(weights):
        raise ArchitectureError(f"op weights must be a torch tensor of shape {shape}, got {type(weights).__name__}")
    if tuple(weights.shape) != shape:
        raise ArchitectureError(f"op weights must have shape {shape} (cell type, edge, op), got {tuple(weights.shape)}")


def _check_choice(choice: object) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The choice as 2 tuples of 14 ints in [0, 8); ArchitectureError for any other shape or value."""
    shape = (N_CELL_TYPES, darts.N_EDGES)
    try:
        arr = np.asarray(choice.detach().cpu() if torch.is_tensor(choice) else choice)
    except (TypeError, ValueError):
        raise ArchitectureError(f"an op choice must be {shape} integer op indices (cell type, edge)") from None
    if arr.shape != shape:
        raise ArchitectureError(f"an op choice must have shape {shape} (cell type, edge), got {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ArchitectureError(f"an op choice must hold integer op indices, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= N_SUPER_OPS:
        raise ArchitectureError(f"op choice indices must lie in [0, {N_SUPER_OPS}) ({', '.join(SUPER_OPS)}), "
                                f"got values {int(arr.min())}..{int(arr.max())}")
    return tuple(int(v) for v in arr[0]), tuple(int(v) for v in arr[1])  # type: ignore[return-value]


def derive_genotype(weights: torch.Tensor | np.ndarray) -> str:
    """The DARTS-space architecture string that DARTS's discretisation rule reads from op weights.

    `weights` (2, 14, 8): per cell type (normal, reduce), NB301 edge and SUPER_OPS op; DARTS passes
    softmax(alpha) per edge (the rule compares values across edges, so pass the op weights, not the
    raw alphas). Rule (Liu et al., Sec. 2.4): for node t, each incoming edge j is scored by its
    largest weight over the 7 ops other than `none`; the 2 highest-scoring edges are kept, and each
    kept edge takes its highest-weighted op other than `none`. Ties are broken towards the lower
    index (lower input j for edges, lower op index in SUPER_OPS for ops), as DARTS's stable sort and
    first-maximum scan do. A `none` weight, however large, never affects the result.
    """
    shape = (N_CELL_TYPES, darts.N_EDGES, N_SUPER_OPS)
    w = weights.detach().cpu().double().numpy() if torch.is_tensor(weights) else np.asarray(weights, dtype=float)
    if w.shape != shape:
        raise ArchitectureError(
            f"derive_genotype needs op weights of shape {shape} (cell type, edge, op), got {w.shape}"
        )
    if not np.isfinite(w).all():
        raise ArchitectureError(
            "derive_genotype got non-finite op weights (NaN or inf); check the architecture parameters"
        )
    real = w[:, :, 1:]  # drop `none`
    best_op = real.argmax(axis=2)  # first maximum = lowest op index on ties
    strength = real.max(axis=2)
    cells = []
    for c in range(N_CELL_TYPES):
        nodes = []
        for t in range(darts.N_NODES):
            start = darts.EDGE_START[t]
            # stable sort on -strength: equal strengths keep ascending input order
            kept = sorted(np.argsort(-strength[c, start:start + t + 2], kind="stable")[:2].tolist())
            nodes.append(tuple((j, int(best_op[c, start + j])) for j in kept))
        cells.append(tuple(nodes))
    return darts.format_arch((cells[0], cells[1]))  # type: ignore[arg-type]


def choice_of_arch(arch: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The supernet path of a genotype: per cell type, 14 SUPER_OPS indices, the genotype's op on its
    2 edges per node and 0 (`none`) on every edge it does not use (SPOS on the DARTS space)."""
    out = []
    for cell in darts.parse(arch):
        codes = [0] * darts.N_EDGES
        for t, node in enumerate(cell):
            for src, op in node:
                codes[darts.EDGE_START[t] + src] = op + 1
        out.append(tuple(codes))
    return out[0], out[1]
