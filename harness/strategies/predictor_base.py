"""Shared bookkeeping of the model-based strategies (BANANAS, GP-BO).

Both keep the same record: which architectures were proposed (never proposed twice while the space
has unseen ones), which are pending, and the encodings and scores of the measured ones (NaN
results are counted as evaluated but left out of the model). Subclasses decide what to propose
next (`_next_index`) and how to encode (`_encode`).
"""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

import numpy as np

from harness.spaces.base import SearchSpace
from harness.strategies.base import C, Observation, Problem, Proposal, Strategy


class PredictorStrategy(Strategy[C]):
    """Ask/tell and the evaluated/pending record on architecture indices."""

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: C):
        super().__init__(space, problem, rng, config)
        self._seen: set[int] = set()  # evaluated or pending: never proposed again
        self._pending: set[int] = set()
        self._evaluated: list[int] = []  # every told index, in order
        self._train_idx: list[int] = []  # measured (finite-score) indices, in order
        self._train_x: list[np.ndarray] = []  # their encodings, computed once at tell()
        self._train_y: list[float] = []
        self._n_told = 0
        self.n_fits = 0

    @abstractmethod
    def _next_index(self) -> int | None:
        """The next architecture index to propose, or None to wait for pending results."""

    @abstractmethod
    def _encode(self, indices: list[int]) -> np.ndarray:
        """Model features of architecture indices."""

    def ask(self) -> Proposal | None:
        """The subclass's next index as a proposal, marked pending so it is never proposed twice."""
        index = self._next_index()
        if index is None:
            return None
        self._seen.add(index)
        self._pending.add(index)
        return Proposal(self.space.arch_at(index))

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        """Record the result; finite scores (with their encoding) become the model's training data."""
        index = self.space.index_of(proposal.arch)
        self._pending.discard(index)
        self._seen.add(index)
        self._evaluated.append(index)
        self._n_told += 1
        score = observation.score(self.problem)
        if np.isfinite(score):
            self._train_idx.append(index)
            self._train_x.append(self._encode([index])[0])
            self._train_y.append(float(score))

    def _candidate_pool(self) -> tuple[list[int], Callable[[int], None]]:
        """An empty candidate list and `offer(index)`, which appends an index once and never one
        already evaluated or pending."""
        candidates: list[int] = []
        taken = set(self._seen)

        def offer(index: int) -> None:
            if index not in taken:
                taken.add(index)
                candidates.append(index)

        return candidates, offer

    def _random_unseen(self) -> int | None:
        """A uniformly random architecture not yet evaluated or pending; once every architecture
        was proposed, a random evaluated (not pending) one; None when all are pending."""
        size = self.space.size
        if len(self._seen) < size // 2:
            while True:
                index = int(self.rng.integers(size))
                if index not in self._seen:
                    return index
        unseen = self._unseen_indices()
        if unseen.size:
            return int(unseen[self.rng.integers(unseen.size)])
        done = [i for i in self._evaluated if i not in self._pending]
        return int(done[self.rng.integers(len(done))]) if done else None

    def _unseen_indices(self) -> np.ndarray:
        mask = np.ones(self.space.size, dtype=bool)
        mask[np.fromiter(self._seen, dtype=np.int64, count=len(self._seen))] = False
        return np.flatnonzero(mask)
