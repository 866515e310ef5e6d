"""Random search (Bergstra & Bengio 2012; Li & Talwalkar 2019 as the NAS baseline).

Uniform over architecture strings. Without replacement by default, as in the NAS-Bench-201 and
NAS-Bench-101 papers' baselines: a tabular benchmark has finitely many architectures and
re-evaluating one teaches nothing. Sampling without replacement uses a lazily drawn permutation
(Floyd-style rejection on a set would drift in cost as the space fills up).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.spaces.base import SearchSpace
from harness.strategies.base import Observation, Problem, Proposal, Strategy, StrategyConfig

_PERMUTATION_MAX = 1 << 32  # larger spaces are sampled by rejection instead of a permutation


@dataclass
class RandomSearchConfig(StrategyConfig):
    """Whether random search may draw an architecture again (default: without replacement)."""
    replace: bool = False


class RandomSearch(Strategy[RandomSearchConfig]):
    """Uniform random search over architecture strings (module docstring)."""
    name = "rs"
    Config = RandomSearchConfig
    adaptive = False  # results never change what it proposes: the engine may evaluate it in batches

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: RandomSearchConfig):
        super().__init__(space, problem, rng, config)
        self._order: memoryview | None = None  # indexing a memoryview gives a Python int directly
        self._next = 0
        self._drawn: set[str] = set()
        self._size = int(space.size)

    def ask(self) -> Proposal | None:
        """The next architecture of a lazily drawn permutation (or a uniform draw with replacement); None
        when every architecture was drawn."""
        order = self._order
        if order is not None:  # the hot path: the permutation is drawn, one more of it
            position = self._next
            if position >= self._size:
                return None  # every architecture has been proposed
            self._next = position + 1
            return Proposal(self.space.arch_at(order[position]))
        if self.config.replace:
            return Proposal(self.space.sample(self.rng))
        if self._size > _PERMUTATION_MAX:
            # A space too large to permute (DARTS: 10^18 cells): draw uniformly and redraw repeats.
            while True:
                arch = self.space.sample(self.rng)
                if arch not in self._drawn:
                    self._drawn.add(arch)
                    return Proposal(arch)
        self._order = self._permutation()
        return self.ask()

    def _permutation(self) -> memoryview:
        """The order architectures are proposed in without replacement, drawn at the first proposal."""
        return memoryview(self.rng.permutation(self._size).astype(np.int64, copy=False))  # type: ignore[arg-type]

    def ask_many(self, n: int) -> list[Proposal]:
        """The next `n` architectures of the permutation in one slice (what `n` asks give), else `ask`'s way."""
        if self.config.replace or self._size > _PERMUTATION_MAX:
            return super().ask_many(n)
        if self._order is None:
            self._order = self._permutation()
        order = self._order
        start = self._next
        stop = min(start + max(n, 0), self._size)
        self._next = stop
        arch_at = self.space.arch_at
        return [Proposal(arch_at(index)) for index in order[start:stop].tolist()]

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        """Random search learns nothing from results."""
