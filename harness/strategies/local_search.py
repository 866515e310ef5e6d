"""Local search (hill climbing with random restarts), White, Nolen & Savani, UAI 2021, Algorithm 1.

Paper: "Exploring the Loss Landscape in Neural Architecture Search" (arXiv:2005.02960).

Algorithm 1 picks an architecture uniformly at random, evaluates it, then repeatedly evaluates ALL
architectures in the current one's neighbourhood (`space.neighbours`: every single-edit change) and
moves to the best of them (best improvement) while it improves; when no neighbour is strictly
better the current architecture is a local optimum. The search then restarts from a new random
architecture until the budget is spent (the authors' code, naszilla `local_search`,
`stop_at_minimum=True`). Each local optimum is appended to `local_optima` so it can be checked.

Defaults and where they come from: the paper's own experiment preset (realityengines/local_search
`params.py`, preset "local_search": `num_init=1, query_full_nbhd=True, stop_at_minimum=True`), which
is Algorithm 1.
- `num_init = 1`: one uniformly random start. The authors' later library code (naszilla
  `nas_algorithms.local_search`) defaults to the best of `num_init=10` random starts.
- `query_full_nbhd = True`: evaluate the whole neighbourhood and take the best (best improvement).
  `False` moves to the first neighbour that beats the current architecture (first improvement),
  the default of the naszilla function.
Neighbours are evaluated in a random order (drawn from the strategy's rng), which matters for
first improvement and for which results a budget cut leaves out. As in the authors' code, an
architecture is never proposed twice and a restart draws an architecture not evaluated before.
Unlike that code, a neighbour already evaluated earlier in the run still counts with its first
observed score (their code ignores such neighbours when looking for an improvement, so it can stop
next to a known better architecture); hence a declared local optimum has no better neighbour.

Asynchronous use: `ask()` hands out the remaining neighbours one per call and returns None while
the last results of the current neighbourhood (or of the random starts) are still pending; the
decision to move or restart is taken in `tell()` when they have all arrived. Unmeasured
architectures score -inf and so never count as an improvement.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from harness.spaces.base import SearchSpace
from harness.strategies.base import Observation, Problem, Proposal, Strategy, StrategyConfig, StrategyError

log = logging.getLogger(__name__)

_MAX_RESTART_DRAWS = 1000  # rejection draws for an unevaluated start before scanning the space


@dataclass
class LocalSearchConfig(StrategyConfig):
    """Local search's restarts and neighbourhood rule (White et al., Algorithm 1)."""
    num_init: int = 1  # Algorithm 1: one random start (the authors' code uses 10)
    query_full_nbhd: bool = True  # Algorithm 1: best improvement over the full neighbourhood

    def check(self) -> None:
        """At least one random start."""
        super().check()
        if self.num_init < 1:
            raise StrategyError(f"ls.num_init must be at least 1, got {self.num_init}")


class LocalSearch(Strategy[LocalSearchConfig]):
    """Best-improvement hill climbing with random restarts at local optima (module docstring)."""
    name = "ls"
    Config = LocalSearchConfig

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: LocalSearchConfig):
        super().__init__(space, problem, rng, config)
        self.scores: dict[str, float] = {}  # every architecture observed in this run -> score
        self.local_optima: list[str] = []  # architectures at which a climb stopped, in order
        self.current: str | None = None  # None while choosing a (re)start
        self._pending: set[str] = set()
        self._starts: list[str] = []  # random starts of the current climb
        self._order: list[str] = []  # neighbours of `current`, in their random evaluation order
        self._next = 0  # position in _order of the next neighbour to propose
        self._exhausted = False

    # -- ask/tell ------------------------------------------------------------------------------
    def ask(self) -> Proposal | None:
        """The next unevaluated neighbour of the current architecture, or a random (re)start."""
        if self.current is None:
            if len(self._starts) >= self.config.num_init:
                return None  # the starts are being evaluated
            arch = self._fresh_random()
            if arch is None:
                return None
            self._starts.append(arch)
            return self._propose(arch)
        while self._next < len(self._order):
            arch = self._order[self._next]
            self._next += 1
            if arch not in self.scores and arch not in self._pending:
                return self._propose(arch)
        return None  # the rest of the neighbourhood is pending; tell() decides when it arrives

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        """Record a score; move to the best neighbour once the neighbourhood is evaluated, else restart."""
        arch = proposal.arch
        self._pending.discard(arch)
        self.scores.setdefault(arch, observation.score(self.problem))
        if self.current is None:
            if len(self._starts) >= self.config.num_init and all(s in self.scores for s in self._starts):
                best = max(self._starts, key=self.scores.__getitem__)  # first start on ties
                self._starts = []
                self._climb_from(best)
            return
        self._climb_from(self.current)

    # -- climbing ------------------------------------------------------------------------------
    def _propose(self, arch: str) -> Proposal:
        self._pending.add(arch)
        return Proposal(arch)

    def _set_current(self, arch: str) -> None:
        self.current = arch
        order = self.space.neighbours(arch)
        self.rng.shuffle(order)
        self._order = order
        self._next = 0

    def _climb_from(self, arch: str) -> None:
        """Move while a neighbour is known to be better; stop at a local optimum or to wait.

        First improvement moves to the first better neighbour in evaluation order as soon as it is
        known; best improvement waits until every neighbour is known and takes the best (the first
        in evaluation order on ties). Scores known from earlier in the run count without
        re-evaluation, so a declared local optimum has no better neighbour at all.
        """
        if arch != self.current:
            self._set_current(arch)
        while True:
            assert self.current is not None
            cur = self.scores[self.current]
            known = [a for a in self._order if a in self.scores]
            if not self.config.query_full_nbhd:
                better = next((a for a in known if self.scores[a] > cur), None)
                if better is not None:
                    self._set_current(better)
                    continue
            if len(known) < len(self._order):
                return  # neighbours still to propose or pending
            best = max(self._order, key=self.scores.__getitem__, default=None)
            if best is not None and self.scores[best] > cur:
                self._set_current(best)
                continue
            log.debug("local optimum %s (score %s)", self.current, cur)
            self.local_optima.append(self.current)
            self.current = None
            self._order, self._next = [], 0
            return

    def _fresh_random(self) -> str | None:
        """A uniformly random architecture not evaluated or pending in this run, or None if none is left."""
        if self._exhausted:
            return None
        for _ in range(_MAX_RESTART_DRAWS):
            arch = self.space.sample(self.rng)
            if arch not in self.scores and arch not in self._pending:
                return arch
        for index in self.rng.permutation(self.space.size).tolist():  # nearly exhausted space
            arch = self.space.arch_at(index)
            if arch not in self.scores and arch not in self._pending:
                return arch
        self._exhausted = True
        return None
