"""The NB201 supernet: the trainer's macro skeleton with every cell edge holding all 5 ops.

Why: DARTS, GDAS and SPOS share one set of weights between all 15,625 cells. Each edge is a
`MixedEdge` holding the trainer's own op modules (harness.trainer.nb201_net.make_op), so a cell
picked here is built from the same layers the trainer re-trains. `none` is the zero map `x * 0`
(it keeps the graph and the shape, as in the DARTS code). The reduction blocks, stem and head are
the trainer's (ResidualReduction and the NB201Network layout). All cells share one architecture:
the same (6, 5) weights or the same 6 op choices are applied to every cell, as in NB201's
weight-sharing baselines.

A forward pass takes exactly one of
- `weights`: (6, 5) non-negative op weights per edge; edge output = sum_o w[e, o] * op_o(x)
  (DARTS: softmax of alpha). Ops with weight exactly 0 are still run (closed form kept simple);
- `choice`: 6 op indices; only that op runs on each edge (SPOS, and GDAS with `weights` giving the
  straight-through factor of the chosen op, see `forward`).
"""
from __future__ import annotations

import torch
from torch import nn

from harness.spaces.base import ArchitectureError
from harness.spaces.nb201 import EDGES, N_EDGES, N_OPS, OPS
from harness.trainer.nb201_net import macro_skeleton, make_op


class Zero(nn.Module):
    """The `none` op as a module: the zero map with the input's shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class MixedEdge(nn.Module):
    """One edge with all 5 NB201 ops (in harness.spaces.nb201.OPS order)."""

    def __init__(self, channels: int):
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, channels) or Zero() for name in OPS)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None, choice: int | None = None) -> torch.Tensor:
        """Weighted sum of all ops (choice None), or only op `choice` times weights[choice] if given."""
        if choice is not None:
            out = self.ops[choice](x)
            return out if weights is None else out * weights[choice]
        if weights is None or weights.shape != (N_OPS,):
            raise ArchitectureError(f"a mixed edge needs {N_OPS} op weights or an op choice")
        return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))


class SuperCell(nn.Module):
    """An NB201 cell whose 6 edges are mixed edges; node i = sum over edges j -> i."""

    def __init__(self, channels: int):
        super().__init__()
        self.edges = nn.ModuleList(MixedEdge(channels) for _ in range(N_EDGES))

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None, choice: tuple[int, ...] | None) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            total = None
            for e, (to, src) in enumerate(EDGES):
                if to != node:
                    continue
                w = None if weights is None else weights[e]
                out = self.edges[e](nodes[src], w, None if choice is None else choice[e])
                total = out if total is None else total + out
            nodes.append(total)
        return nodes[3]


class NB201Supernet(nn.Module):
    """Stem, three stages of N super-cells (C, 2C, 4C channels) with residual reductions, head."""

    def __init__(self, num_classes: int, *, C: int = 16, N: int = 5, in_channels: int = 3):
        super().__init__()
        if C < 1 or N < 1 or num_classes < 1 or in_channels < 1:
            raise ArchitectureError(f"the NB201 supernet needs C, N, classes, input channels >= 1, got C={C}, N={N}, "
                                    f"classes={num_classes}, in_channels={in_channels}")
        self.stem, layers, self.head, channels = macro_skeleton(C, N, in_channels, SuperCell)
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None,
                choice: tuple[int, ...] | list[int] | None = None) -> torch.Tensor:
        """Logits. `weights` (6, 5) alone: mixed ops. `choice` (6 op indices): one op per edge, scaled
        by weights[e, choice[e]] when weights are given too (GDAS's straight-through gradient)."""
        if weights is None and choice is None:
            raise ArchitectureError("the supernet needs op weights (6, 5) or an op choice per edge")
        if weights is not None and tuple(weights.shape) != (N_EDGES, N_OPS):
            raise ArchitectureError(f"op weights must have shape ({N_EDGES}, {N_OPS}), got {tuple(weights.shape)}")
        if choice is not None:
            choice = tuple(int(c) for c in choice)
            if len(choice) != N_EDGES or not all(0 <= c < N_OPS for c in choice):
                raise ArchitectureError(f"an op choice needs {N_EDGES} op indices in [0, {N_OPS}), got {choice}")
        out = self.stem(x)
        for layer in self.layers:
            out = layer(out, weights, choice) if isinstance(layer, SuperCell) else layer(out)
        return self.classifier(self.head(out))
