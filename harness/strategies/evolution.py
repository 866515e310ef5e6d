"""Regularized (aging) evolution: Real, Aggarwal, Huang & Le, AAAI 2019, Algorithm 1.

The population is a FIFO queue. It is first filled with `population_size` random architectures.
Every later cycle draws `sample_size` individuals uniformly at random from the population *with
replacement* (Algorithm 1 draws each candidate with RANDOMELEMENT and notes that "the element stays
in the population"; the authors' reference notebook, and the NAS-Bench-201/NAS-Bench-101 benchmark
code derived from it, call `random.choice` in a loop), takes the best of that sample as the parent,
proposes `space.mutate(parent)`, and when the child's result arrives appends it and removes the
OLDEST individual, never the worst: aging is what regularises the search.

Defaults (NAS-Bench-201 setting, the space this harness benchmarks first):
- `population_size = 10`, `sample_size = 3`: the NAS-Bench-201 authors' benchmark runs
  (AutoDL-Projects `scripts-search/NAS-Bench-201-algos/R-EA.sh`, called as `R-EA.sh cifar10 3`, passes
  `--ea_population 10 --ea_sample_size 3`; NATS-Bench `exps/NATS-algos/run-all.sh` uses the same).
  The NAS-Bench-101 benchmark scripts (automl/nas_benchmarks `run_regularized_evolution.py`) default
  to population 100 and sample 10 instead: pass those for NB101-style runs.

Asynchronous use (several workers): the first `population_size` proposals are random, as is any
proposal made while no result has arrived yet (a worker never idles). Afterwards `ask()` mutates the
tournament winner of the population as it stands, and `tell()` adds results in order of arrival, so
"oldest" means earliest to arrive, as in the paper's distributed implementation.

Unmeasured architectures score -inf (Observation.score) and simply lose every tournament.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from harness.spaces.base import SearchSpace
from harness.strategies.base import Observation, Problem, Proposal, Strategy, StrategyConfig, StrategyError


@dataclass
class RegularizedEvolutionConfig(StrategyConfig):
    """Population and tournament sizes of aging evolution (NAS-Bench-201 defaults)."""
    population_size: int = 10  # NAS-Bench-201 R-EA.sh (--ea_population 10)
    sample_size: int = 3  # NAS-Bench-201 R-EA.sh (--ea_sample_size 3)

    def check(self) -> None:
        """Both sizes positive, and a tournament no larger than the population it is drawn from."""
        super().check()
        if self.population_size < 1:
            raise StrategyError(f"re.population_size must be at least 1, got {self.population_size}")
        if self.sample_size < 1:
            raise StrategyError(f"re.sample_size must be at least 1, got {self.sample_size}")
        if self.sample_size > self.population_size:
            # Drawn with replacement it would run, but it is no tournament the paper defines: a typo.
            raise StrategyError(f"re.sample_size={self.sample_size} is larger than re.population_size="
                                f"{self.population_size}; choose sample_size <= population_size")


class RegularizedEvolution(Strategy[RegularizedEvolutionConfig]):
    """Aging evolution (module docstring): random population, tournament parents, oldest dies."""

    name = "re"
    Config = RegularizedEvolutionConfig

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator,
                 config: RegularizedEvolutionConfig):
        super().__init__(space, problem, rng, config)
        # Oldest on the left. Parallel deques keep ask()/tell() free of per-individual objects.
        self.population_archs: deque[str] = deque()
        self.population_scores: deque[float] = deque()
        self._issued = 0

    def ask(self) -> Proposal | None:
        """A random architecture while the population fills, then a mutation of a tournament winner."""
        self._issued += 1
        if self._issued <= self.config.population_size or not self.population_archs:
            return Proposal(self.space.sample(self.rng))
        return Proposal(self.space.mutate(self.tournament(), self.rng))

    def tournament(self) -> str:
        """The best of `sample_size` individuals drawn with replacement (first one on ties)."""
        picks = self.rng.integers(len(self.population_archs), size=self.config.sample_size)
        scores = self.population_scores
        best = max(picks.tolist(), key=scores.__getitem__)  # max() keeps the first of equal scores
        return self.population_archs[best]

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        """Add the result to the population and let the oldest individual die when it is full."""
        self.population_archs.append(proposal.arch)
        self.population_scores.append(observation.score(self.problem))
        if len(self.population_archs) > self.config.population_size:
            self.population_archs.popleft()  # aging: the oldest dies, whatever its fitness
            self.population_scores.popleft()
