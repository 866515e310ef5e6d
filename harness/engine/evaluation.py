"""Answering a run's proposals from the benchmark: the only place that reads benchmark values during a run.

Why a module of its own: everything a store query would check is checked once per run here, so that
each evaluation is one read of its row (tabular.evaluation_reader.EvaluationReader for tables, one query per
value for any other store, e.g. a surrogate).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.benchmarks import Benchmark
from harness.strategies import Objective, Proposal
from tabular.evaluation_reader import EvaluationReader
from tabular.protocol import MEAN_SEED, SeedPolicy, Store
from tabular.store import BenchmarkStore

# One evaluation's outcome: (row, fidelity, seed used, {objective: value}, cost). A plain tuple, not
# an object: one is built per evaluation on the hot path, and the run loop unpacks it at once.
_Result = tuple[int, float, int, dict[str, float], float]


class _QueryReader:
    """Reads an evaluation through `Store.query` (any store, e.g. a surrogate): the general path."""

    def __init__(self, store: Store, primary: str, same_seed: tuple[str, ...], policy: SeedPolicy,
                 rng: np.random.Generator, fixed_seed: int):
        self.store, self.primary, self.same_seed = store, primary, same_seed
        self.policy, self.rng, self.fixed_seed = policy, rng, fixed_seed

    def read(self, row: int, fi: int) -> tuple[int, list[float]]:
        """(seed used, [primary, *same_seed]) as EvaluationReader.read, one query per value."""
        store = self.store
        fidelity = float(store.fidelities[fi])
        valid, seeds = store.query(self.primary, [row], fidelity=fidelity, seed_policy=self.policy, rng=self.rng,
                                   seed=self.fixed_seed, return_seed=True)
        seed = int(seeds[0])
        out = [float(valid[0])]
        for metric in self.same_seed:
            if seed == MEAN_SEED:
                out.append(float(store.query(metric, [row], fidelity=fidelity, seed_policy="mean")[0]))
            else:
                out.append(float(store.query(metric, [row], fidelity=fidelity, seed_policy="fixed", seed=seed)[0]))
        return seed, out


class _Evaluator:
    """Answers proposals from the store; the only place that reads benchmark values during a run.

    Everything a query would check is checked once, here; each evaluation is then one read of its
    row (validation value under the seed policy, the other objectives and the cost of that same
    seed), whatever the number of objectives (tabular.evaluation_reader.EvaluationReader for tables).
    """

    def __init__(self, bench: Benchmark, objectives: tuple[Objective, ...], seed_policy: SeedPolicy,
                 rng: np.random.Generator, charge_repeats: bool, fixed_seed: int | None = None):
        self.bench = bench
        self.store = store = bench.store
        self.space = bench.space
        self.objectives = objectives
        self.seed_policy = seed_policy
        self.rng = rng
        self.charge_repeats = charge_repeats
        self.fixed_seed = int(store.seeds[0]) if fixed_seed is None else int(fixed_seed)
        self.valid_metric = store.valid_metric
        self.top_fidelity = float(store.fidelities[-1])
        self._seen: dict[tuple[int, float], _Result] = {}
        self.last_was_new = False  # did the last evaluate() see an (arch, fidelity) for the first time?
        self.n_top = 0  # distinct architectures evaluated at the highest fidelity
        # Names of the values one read returns, in the order the old per-objective loop filled them.
        same_seed: list[str] = []
        self._plan: list[tuple[str, int, np.ndarray | None]] = [(self.valid_metric, 0, None)]
        for obj in objectives:
            if any(obj.name == name for name, _, _ in self._plan):
                continue
            if obj.name in store.static_names:
                self._plan.append((obj.name, -1, np.asarray(store.static(obj.name))))
            else:
                same_seed.append(obj.name)
                self._plan.append((obj.name, len(same_seed), None))
        self._names = [self.valid_metric, *same_seed]
        self._static = any(column is not None for _, _, column in self._plan)
        self._single = len(self._names) == 1
        self._has_cost = bool(store.cost_metric)
        reads = (*same_seed, store.cost_metric) if self._has_cost else tuple(same_seed)
        self._reader: Any
        if isinstance(store, BenchmarkStore):
            self._reader = store.evaluation_reader(self.valid_metric, reads, seed_policy=seed_policy,
                                                   seed=self.fixed_seed, rng=rng)
        else:
            self._reader = _QueryReader(store, self.valid_metric, reads, seed_policy, rng, self.fixed_seed)
        self._fi: dict[float, int] = {}
        self._index_of = bench.space.index_of  # bound once: the hot path calls both per evaluation
        self._read = self._reader.read_function() if isinstance(self._reader, EvaluationReader) else self._reader.read

    def evaluate(self, proposal: Proposal) -> _Result:
        """Observe one proposal: the validation value under the seed policy, the other objectives and
        the cost from that same seed (an unmeasured cost is free); repeats may be free of charge."""
        row = self._index_of(proposal.arch)
        fidelity = proposal.fidelity
        fidelity = self.top_fidelity if fidelity is None else float(fidelity)
        key = (row, fidelity)
        old = self._seen.get(key)
        if old is None:
            self.last_was_new = True
            if fidelity == self.top_fidelity:
                self.n_top += 1
        else:
            self.last_was_new = False
            if not self.charge_repeats:
                return row, fidelity, old[2], old[3], 0.0
        fi = self._fi.get(fidelity)
        if fi is None:
            fi = self._fi[fidelity] = self.store.fidelity_index(fidelity)  # refuses a fidelity the store lacks
        seed, read = self._read(row, fi)
        if self._static:  # in objective order, static metrics read from their per-architecture column
            values = {name: read[i] if column is None else float(column[row]) for name, i, column in self._plan}
        elif self._single:
            values = {self.valid_metric: read[0]}
        else:
            values = dict(zip(self._names, read, strict=False))  # read ends with the cost
        cost = read[-1] if self._has_cost else 0.0
        # A missing cost is free; a negative one (a surrogate's extrapolation) must not run the clock backwards.
        result = (row, fidelity, seed, values, 0.0 if cost != cost else max(cost, 0.0))
        self._seen[key] = result
        return result

    @property
    def batchable(self) -> bool:
        """Whether `evaluate_many` can answer this run: a stored table, one objective, repeats charged."""
        return isinstance(self._reader, EvaluationReader) and self._single and not self._static and self.charge_repeats

    def evaluate_many(self, proposals: list[Proposal]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                                   np.ndarray, np.ndarray]:
        """What `evaluate` would answer for each proposal in turn (when `batchable`), as columns: rows,
        fidelities, their positions in the store, seed labels used, observed validation values and
        costs (clipped as `evaluate` clips them). `n_top`, `last_was_new` and the record of evaluated
        pairs are left to the caller."""
        top = self.top_fidelity
        rows = self.space.indices_of([proposal.arch for proposal in proposals])
        fidelities = np.array([top if p.fidelity is None else float(p.fidelity) for p in proposals], dtype=np.float64)
        fis = np.empty(len(proposals), dtype=np.int64)
        for fidelity in np.unique(fidelities).tolist():
            fi = self._fi.get(fidelity)
            if fi is None:
                fi = self._fi[fidelity] = self.store.fidelity_index(fidelity)  # refuses a fidelity the store lacks
            fis[fidelities == fidelity] = fi
        row_array = np.asarray(rows, dtype=np.int64)  # a space may answer a list or an int64 array
        seeds, read = self._reader.read_many(row_array, fis)
        if self._has_cost:
            cost = read[-1]
            cost = np.where((cost != cost) | (cost < 0), 0.0, cost)  # as evaluate: a NaN cost is free, none negative
        else:
            cost = np.zeros(len(proposals))
        return row_array, fidelities, fis, seeds, read[0], cost

