"""SPOS's evolutionary architecture search over genomes, scored by a trained supernet.

Why its own module: the search is a pure function of a score function and a numpy Generator, so it
can be tested on closed-form fitness functions without any network.

The procedure follows Guo et al., "Single Path One-Shot NAS with Uniform Sampling" (ECCV 2020),
Sec. 3.3 and its search settings (population 50, 20 iterations, top-k 10, 25 children by crossover
and 25 by mutation per iteration, mutation probability 0.1 per choice):
1. the first population is `population` uniform genomes;
2. every iteration scores the population, keeps the global top-k seen so far, and breeds the next
   population: population//2 children by uniform crossover of two distinct top-k parents (each
   position from either parent with probability 1/2) and the rest by mutation of one top-k parent
   (each position redrawn uniformly with probability `mutation_prob`);
3. a child already scored or already in the new population is redrawn (at most 50 tries, then a
   uniform genome), so every iteration scores new candidates, as the paper's code does.
There are no constraints (the paper's FLOPs limit) here: every genome is a valid cell. Scores are
cached, so each genome costs one supernet evaluation.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Genome = tuple[int, ...]


@dataclass(frozen=True)
class EvolutionResult:
    best: Genome
    best_score: float
    n_scored: int
    top_by_iteration: tuple[tuple[float, ...], ...]  # scores of the top-k after each iteration


def _uniform(radices: np.ndarray, rng: np.random.Generator) -> Genome:
    return tuple(int(v) for v in rng.integers(0, radices))


def evolve(score: Callable[[Genome], float], radices: Sequence[int], rng: np.random.Generator, *,
           population: int = 50, iterations: int = 20, topk: int = 10, mutation_prob: float = 0.1) -> EvolutionResult:
    """Maximise `score` over genomes with radices `radices` (see the module docstring)."""
    if population < 2 or iterations < 1 or not 1 <= topk <= population or not 0.0 <= mutation_prob <= 1.0:
        raise ValueError(f"evolution needs population >= 2, iterations >= 1, 1 <= topk <= population and "
                         f"0 <= mutation_prob <= 1; got {population}, {iterations}, {topk}, {mutation_prob}")
    r = np.asarray(radices, dtype=np.int64)
    cache: dict[Genome, float] = {}

    def fresh(make: Callable[[], Genome], taken: set[Genome]) -> Genome:
        for _ in range(50):
            child = make()
            if child not in cache and child not in taken:
                return child
        return _uniform(r, rng)

    pop: list[Genome] = []
    while len(pop) < population:
        pop.append(fresh(lambda: _uniform(r, rng), set(pop)))
    top: list[Genome] = []
    history: list[tuple[float, ...]] = []
    for it in range(iterations):
        for genome in pop:
            if genome not in cache:
                cache[genome] = float(score(genome))
        # Global top-k; ties keep the earlier-scored genome (dicts keep insertion order).
        ranked = sorted(cache.items(), key=lambda kv: -kv[1])  # stable
        top = [g for g, _ in ranked[:topk]]
        history.append(tuple(s for _, s in ranked[:topk]))
        if it == iterations - 1:
            break
        parents = np.asarray(top, dtype=np.int64)
        taken: set[Genome] = set()
        children: list[Genome] = []

        # `parents` is bound as a default: these closures belong to this iteration only.
        def crossover(parents: np.ndarray = parents) -> Genome:
            if len(parents) < 2:
                return mutate()
            a, b = rng.choice(len(parents), size=2, replace=False)
            mask = rng.random(len(r)) < 0.5
            return tuple(int(v) for v in np.where(mask, parents[a], parents[b]))

        def mutate(parents: np.ndarray = parents) -> Genome:
            parent = parents[rng.integers(len(parents))]
            redraw = rng.random(len(r)) < mutation_prob
            return tuple(int(v) for v in np.where(redraw, rng.integers(0, r), parent))

        for k in range(population):
            child = fresh(crossover if k < population // 2 else mutate, taken)
            taken.add(child)
            children.append(child)
        pop = children
    best = top[0]
    return EvolutionResult(best=best, best_score=cache[best], n_scored=len(cache), top_by_iteration=tuple(history))
