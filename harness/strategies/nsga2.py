"""NSGA-II (Deb, Pratap, Agarwal & Meyarivan, "A Fast and Elitist Multiobjective Genetic Algorithm:
NSGA-II", IEEE Trans. Evolutionary Computation 6(2):182-197, 2002).

Generational and elitist (mu + lambda), as in the paper's main loop (Sec. III-C): a random parent
population P_0 of `population_size` is evaluated; each generation, an offspring population Q_t of
the same size is bred from P_t by binary tournaments on the crowded-comparison operator (lower
non-domination rank wins, then larger crowding distance, then a coin flip), uniform crossover of the
two parents' categorical codes with probability `crossover_prob`, and mutation; after Q_t is
evaluated, P_{t+1} is the best `population_size` of P_t + Q_t by fast non-dominated sorting (Sec.
III-A), the last admitted front truncated by crowding distance (Sec. III-B).

Defaults and sources:
- `population_size = 100`: Deb et al. 2002, Sec. VI ("a population size of 100" for every test
  problem); also the default of pymoo's and jMetal's NSGA-II.
- `crossover_prob = 0.9`: Deb et al. 2002, Sec. VI (p_c = 0.9).
- `mutation_prob = 1.0`: the probability that a child gets one `space.mutate` edit (NB201: one edge
  changes op). The paper mutates each of the n variables with p_m = 1/n, i.e. one variable per
  child in expectation; the space's single-edit mutation matches that expected count.
- `eliminate_duplicates = True`: pymoo's default. On a finite tabular space, a child identical to
  an architecture already proposed (or to another child of the same generation) is bred again
  instead of being evaluated twice; after 100 * population_size failed tries a generation is filled
  with unseen random architectures (or, when none is left, duplicates are allowed).

Objectives come signed so that larger is better (Observation.scores). An unmeasured architecture
(NaN in any objective, score -inf) is treated with the paper's constrained domination (Sec. V): an
infeasible solution is dominated by every feasible one, so all infeasible solutions form the last
front (crowding distance 0).

Crossover needs the space's `index` encoding (categorical codes; NB201: the op of each edge). A
child code vector that names no architecture of the space (possible where the encoding is a
canonical form, e.g. NAS-Bench-Graph) is replaced by its first parent. Spaces without that encoding
use mutation only.

Crowding distance: when all members of a front share an objective's value, that objective adds 0
for every member (the paper's formula would divide by zero); ties in truncation are broken by
position (parents before offspring, then evaluation order), so runs are deterministic.

Several workers: generations are synchronous; when all of a generation's children are handed out,
ask() returns None until their results are in.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from harness.spaces.base import SearchSpace
from harness.spaces.codes import CodeTable
from harness.strategies.base import Observation, Problem, Proposal, Strategy, StrategyConfig, StrategyError

log = logging.getLogger(__name__)


def dominance_matrix(scores: np.ndarray) -> np.ndarray:
    """D[i, j] = True when row i dominates row j (larger is better in every column)."""
    f = np.asarray(scores, dtype=float)
    geq = np.all(f[:, None, :] >= f[None, :, :], axis=2)
    gt = np.any(f[:, None, :] > f[None, :, :], axis=2)
    return geq & gt


def non_dominated_ranks(scores: np.ndarray) -> np.ndarray:
    """Front index (0 = non-dominated) of each row; rows with a non-finite value come last.

    Deb et al.'s fast non-dominated sort: count how many rows dominate each row, peel off the rows
    with count 0, decrement the counts of the rows they dominate, repeat.
    """
    f = np.asarray(scores, dtype=float)
    n = f.shape[0]
    ranks = np.full(n, -1, dtype=np.int64)
    feasible = np.flatnonzero(np.all(np.isfinite(f), axis=1))
    dom = dominance_matrix(f[feasible])
    count = dom.sum(axis=0)
    current = np.flatnonzero(count == 0)
    rank = 0
    while current.size:
        ranks[feasible[current]] = rank
        count = count - dom[current].sum(axis=0)
        count[current] = -1  # never selected again
        current = np.flatnonzero(count == 0)
        rank += 1
    ranks[ranks < 0] = rank
    return ranks


def crowding_distance(scores: np.ndarray) -> np.ndarray:
    """Crowding distance of each row within one front (Deb et al. 2002, Sec. III-B)."""
    f = np.asarray(scores, dtype=float)
    n, m = f.shape
    distance = np.zeros(n)
    if n == 0 or not np.all(np.isfinite(f)):
        return distance
    for k in range(m):
        order = np.argsort(f[:, k], kind="stable")
        values = f[order, k]
        span = values[-1] - values[0]
        if span <= 0:
            continue
        distance[order[0]] = distance[order[-1]] = np.inf
        distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def rank_and_crowding(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-domination rank and within-front crowding distance of every row."""
    ranks = non_dominated_ranks(scores)
    crowd = np.zeros(ranks.size)
    for r in np.unique(ranks):
        members = np.flatnonzero(ranks == r)
        crowd[members] = crowding_distance(np.asarray(scores)[members])
    return ranks, crowd


def select_survivors(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `k` best rows (whole fronts in rank order, the last by crowding distance), with their
    rank and crowding distance as computed on all rows: the values the next tournaments use."""
    ranks, crowd = rank_and_crowding(scores)
    order = np.lexsort((np.arange(ranks.size), -crowd, ranks))  # rank, then crowding desc, then position
    keep = np.sort(order[:k])
    return keep, ranks[keep], crowd[keep]


@dataclass
class NSGA2Config(StrategyConfig):
    """NSGA-II's population size, variation probabilities and duplicate elimination (pymoo defaults)."""
    population_size: int = 100
    crossover_prob: float = 0.9
    mutation_prob: float = 1.0
    eliminate_duplicates: bool = True

    def check(self) -> None:
        """A population of at least two (parents for crossover) and probabilities in [0, 1]."""
        super().check()
        if self.population_size < 2:
            raise StrategyError(f"nsga2 population_size must be at least 2, got {self.population_size}")
        for key, value in (("crossover_prob", self.crossover_prob), ("mutation_prob", self.mutation_prob)):
            if not 0 <= value <= 1:
                raise StrategyError(f"nsga2 {key} must be in [0, 1], got {value}")


class NSGA2(Strategy[NSGA2Config]):
    """NSGA-II (Deb et al. 2002): non-dominated sorting and crowding distance over generations."""
    name = "nsga2"
    Config = NSGA2Config
    min_objectives = 2
    max_objectives = 16

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: NSGA2Config):
        super().__init__(space, problem, rng, config)
        self.table = CodeTable.of(space, self.name) if "index" in space.encodings else None
        if self.table is None:
            log.info("nsga2: space %s has no index encoding; offspring come from mutation only", space.name)
        self._seen: set[int] = set()
        self._queue: list[str] = []
        self._pending = 0
        self._parents: list[tuple[str, np.ndarray]] = []
        self._children: list[tuple[str, np.ndarray]] = []
        self._rank = np.zeros(0, dtype=np.int64)
        self._crowd = np.zeros(0)
        self.generation = 0
        self._queue = self._initial_population()

    # -- population management -----------------------------------------------------------------
    def _initial_population(self) -> list[str]:
        n = self.config.population_size
        replace = not self.config.eliminate_duplicates or n > self.space.size
        indices = self.space.sample_indices(self.rng, n, replace=replace)
        self._seen.update(int(i) for i in indices)
        return [self.space.arch_at(int(i)) for i in indices]

    def _tournament(self) -> int:
        a, b = (int(i) for i in self.rng.choice(len(self._parents), size=2, replace=False))
        if self._rank[a] != self._rank[b]:
            return a if self._rank[a] < self._rank[b] else b
        if self._crowd[a] != self._crowd[b]:
            return a if self._crowd[a] > self._crowd[b] else b
        return a if self.rng.random() < 0.5 else b

    def _crossover(self, a: str, b: str) -> tuple[str, str]:
        if self.table is None or self.rng.random() >= self.config.crossover_prob:
            return a, b
        codes = self.table.encode([a, b])
        mask = self.rng.random(self.table.dim) < 0.5
        kids = np.stack([np.where(mask, codes[0], codes[1]), np.where(mask, codes[1], codes[0])])
        index = self.table.indices(kids)
        return (self.space.arch_at(int(index[0])) if index[0] >= 0 else a,
                self.space.arch_at(int(index[1])) if index[1] >= 0 else b)

    def _offspring(self) -> list[str]:
        n = self.config.population_size
        children: list[str] = []
        tries = 0
        while len(children) < n and tries < 100 * n:
            pa, pb = self._parents[self._tournament()][0], self._parents[self._tournament()][0]
            for child in self._crossover(pa, pb):
                tries += 1
                if self.rng.random() < self.config.mutation_prob:
                    child = self.space.mutate(child, self.rng)
                index = self.space.index_of(child)
                if self.config.eliminate_duplicates and index in self._seen:
                    continue
                self._seen.add(index)
                children.append(child)
                if len(children) == n:
                    break
        if len(children) < n:
            log.info("nsga2: generation %d bred only %d new children; filling with random architectures",
                     self.generation, len(children))
            unseen = np.setdiff1d(np.arange(self.space.size), np.fromiter(self._seen, dtype=np.int64))
            extra = (self.rng.permutation(unseen)[: n - len(children)] if self.config.eliminate_duplicates
                     else np.zeros(0, np.int64))
            children += [self.space.arch_at(int(i)) for i in extra]
            self._seen.update(int(i) for i in extra)
            while len(children) < n:
                children.append(self.space.sample(self.rng))
        return children

    def _end_generation(self) -> None:
        pool = self._parents + self._children
        scores = np.stack([s for _, s in pool])
        keep, self._rank, self._crowd = select_survivors(scores, self.config.population_size)
        self._parents = [pool[int(i)] for i in keep]
        self._children = []
        self.generation += 1
        self._queue = self._offspring()

    # -- ask/tell -----------------------------------------------------------------------------
    def ask(self) -> Proposal | None:
        """The next offspring of the current generation, or None while the generation is pending."""
        if not self._queue:
            return None  # the generation's children are all out; wait for their results
        self._pending += 1
        return Proposal(self._queue.pop(0), None, self.generation)

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        """Record an offspring; once a generation is complete, select the survivors."""
        if proposal.tag != self.generation:
            raise StrategyError(f"nsga2 was told a result of generation {proposal.tag} during generation "
                                f"{self.generation}")
        self._pending -= 1
        self._children.append((proposal.arch, observation.scores(self.problem)))
        if not self._queue and self._pending == 0:
            self._end_generation()
