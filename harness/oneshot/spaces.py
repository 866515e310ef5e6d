"""What a one-shot search needs to know about a cell space, for NB201 and the DARTS space.

Why: DARTS, GDAS, SPOS and the zero-cost search are the same procedures on every space; only the
supernet, the shape of the architecture logits, the rule that reads a cell off them and the way a
single path is drawn differ. `OneShotSpace` holds exactly those, so the search loop never branches
on the space.

A *genome* is a tuple of small integers with per-position radices such that every tuple is a valid
cell and drawing each position uniformly draws a cell uniformly from the space (the same
distribution as `SearchSpace.sample_indices`). SPOS's single paths, its evolutionary search
(crossover and mutation per position) and the zero-cost sample all work on genomes.

- NB201: 6 positions of radix 5 (the op of each edge); a path is the genome itself.
- DARTS: per cell (normal, reduce) and per node t: (input pair of node t, op of the lower input, op
  of the higher input), radices (len(PAIRS[t]), 7, 7): 24 positions. The genome is the space's own
  mixed-radix index written digit by digit, so it is uniform exactly when the index is.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tabular.errors import NasHarnessError

SPACES = ("nb201", "darts")


@dataclass(frozen=True)
class OneShotSpace:
    """The space-specific parts of a one-shot search (see the module docstring)."""

    name: str
    alpha_shape: tuple[int, ...]
    radices: tuple[int, ...]
    op_names: tuple[str, ...]  # ops counted in the picked cell's histogram
    build: Callable[[int, int, Any], nn.Module]  # (classes, in_channels, config) -> supernet
    derive: Callable[[torch.Tensor], str]  # op weights of alpha's shape -> arch string
    arch_of_genome: Callable[[Sequence[int]], str]
    path_of_genome: Callable[[Sequence[int]], Any]  # the supernet's `choice` for one genome
    op_counts: Callable[[str], list[int]]  # per op_names, in the picked cell
    network_depth: Callable[[Any], int]  # the trainer's N for a network at the config's scale

    def uniform_genome(self, gen: torch.Generator) -> tuple[int, ...]:
        """One genome, each position uniform and independent (SPOS's uniform path sampling)."""
        return tuple(int(torch.randint(0, r, (1,), generator=gen)) for r in self.radices)


# -- NB201 ---------------------------------------------------------------------------------------
def _nb201() -> OneShotSpace:
    from harness.oneshot.supernet import NB201Supernet
    from harness.spaces.nb201 import N_EDGES, N_OPS, OPS, format_arch, parse

    def derive(weights: torch.Tensor) -> str:
        return format_arch(tuple(int(c) for c in weights.detach().argmax(dim=-1).cpu()))

    def counts(arch: str) -> list[int]:
        return np.bincount(np.asarray(parse(arch), dtype=np.int64), minlength=N_OPS).tolist()

    return OneShotSpace(
        name="nb201", alpha_shape=(N_EDGES, N_OPS), radices=(N_OPS,) * N_EDGES, op_names=OPS,
        build=lambda classes, in_ch, cfg: NB201Supernet(classes, C=cfg.C, N=cfg.N, in_channels=in_ch),
        derive=derive, arch_of_genome=lambda g: format_arch(tuple(int(c) for c in g)),
        path_of_genome=lambda g: tuple(int(c) for c in g), op_counts=counts, network_depth=lambda cfg: cfg.N,
    )


# -- DARTS ---------------------------------------------------------------------------------------
def _darts() -> OneShotSpace:
    from harness.oneshot.darts_supernet import N_SUPER_OPS, DartsSupernet, choice_of_arch, derive_genotype
    from harness.spaces import darts

    radices = tuple(
        r for _ in darts.CELLS for t in range(darts.N_NODES) for r in (len(darts.PAIRS[t]), darts.N_OPS, darts.N_OPS)
    )

    def arch_of_genome(genome: Sequence[int]) -> str:
        digits = [int(g) for g in genome]
        cells = []
        for c in range(len(darts.CELLS)):
            nodes = []
            for t in range(darts.N_NODES):
                pair, op_lo, op_hi = digits[(c * darts.N_NODES + t) * 3:(c * darts.N_NODES + t) * 3 + 3]
                lo, hi = darts.PAIRS[t][pair]
                nodes.append(((lo, op_lo), (hi, op_hi)))
            cells.append(tuple(nodes))
        return darts.format_arch(tuple(cells))  # type: ignore[arg-type]

    def counts(arch: str) -> list[int]:
        ops = [op for cell in darts.parse(arch) for node in cell for _, op in node]
        return np.bincount(np.asarray(ops, dtype=np.int64), minlength=darts.N_OPS).tolist()

    return OneShotSpace(
        name="darts",
        alpha_shape=(len(darts.CELLS), darts.N_EDGES, N_SUPER_OPS),
        radices=radices,
        op_names=darts.OPS,
        build=lambda classes, in_ch, cfg: DartsSupernet(classes, C=cfg.C, layers=cfg.layers, in_channels=in_ch),
        derive=lambda weights: derive_genotype(weights.detach().cpu()),
        arch_of_genome=arch_of_genome,
        path_of_genome=lambda g: choice_of_arch(arch_of_genome(g)),
        op_counts=counts,
        network_depth=lambda cfg: cfg.layers,
    )


def oneshot_space(name: str) -> OneShotSpace:
    """The one-shot description of cell space `name`; a clear error for spaces without a supernet."""
    if name == "nb201":
        return _nb201()
    if name == "darts":
        return _darts()
    raise NasHarnessError(f"one-shot search has supernets for the {' and '.join(SPACES)} cell spaces, not {name!r}; "
                          "pick a benchmark on one of them (e.g. nb201/cifar10 or nb301/yahpo)")


def gumbel_hard(alpha: torch.Tensor, tau: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One Gumbel-softmax sample per edge (last axis = ops): (straight-through one-hot weights of
    alpha's shape, chosen op per edge). The one-hot's value is exact; its gradient is the soft sample's."""
    u = torch.rand(alpha.shape, generator=gen).to(alpha.device).clamp_(1e-10, 1.0 - 1e-7)
    gumbel = -torch.log(-torch.log(u))
    soft = F.softmax((F.log_softmax(alpha, dim=-1) + gumbel) / tau, dim=-1)
    index = soft.argmax(dim=-1)
    hard = F.one_hot(index, alpha.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft, index
