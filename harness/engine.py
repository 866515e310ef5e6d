"""The run engine: one (strategy, benchmark, seed, budget) run in simulated time.

Each evaluation is charged the training time the benchmark recorded for that architecture, seed
and fidelity, and `n_workers` simulated workers evaluate asynchronously: a worker that finishes
reports to the strategy and immediately asks for its next job, as in syne-tune's simulator. The
simulated clock, not the machine's, decides the order of completions, so a run is exactly
reproducible. Two random streams are derived from the run seed with numpy's SeedSequence: one
for the strategy, one for the benchmark's seed sampling.
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.benchmarks import Benchmark
from harness.strategies import Objective, Observation, Problem, Proposal, StrategyError, make_strategy
from tabular.errors import NasHarnessError
from tabular.store import MEAN_SEED, SEED_POLICIES

TRAJECTORY_COLUMNS = [
    "step",
    "arch",
    "arch_index",
    "fidelity",
    "seed_used",
    "valid",
    "valid_mean",
    "test_mean",
    "cost",
    "sim_time",
    "best_valid",
    "incumbent_arch",
    "incumbent_test_mean",
    "regret",
    "wall_time",
]


@dataclass(frozen=True)
class Budget:
    """Stop after `evaluations` completed evaluations and/or `sim_seconds` of simulated time."""

    evaluations: int | None = None
    sim_seconds: float | None = None

    def check(self) -> None:
        if self.evaluations is None and self.sim_seconds is None:
            raise NasHarnessError("no budget given; set budget.evaluations and/or budget.sim_seconds")
        if self.evaluations is not None and (isinstance(self.evaluations, bool) or int(self.evaluations) != self.evaluations or self.evaluations <= 0):
            raise NasHarnessError(f"budget.evaluations must be a positive integer, got {self.evaluations!r}")
        if self.sim_seconds is not None and not self.sim_seconds > 0:
            raise NasHarnessError(f"budget.sim_seconds must be positive, got {self.sim_seconds!r}")


@dataclass
class _Result:
    row: int
    fidelity: float
    seed_used: int
    values: dict[str, float]
    cost: float


@dataclass(order=True)
class _Event:
    finish: float
    order: int
    proposal: Proposal = field(compare=False)
    result: _Result = field(compare=False)


class _Evaluator:
    """Answers proposals from the store; the only place that reads benchmark values during a run."""

    def __init__(self, bench: Benchmark, objectives: tuple[Objective, ...], seed_policy: str, rng: np.random.Generator,
                 charge_repeats: bool, fixed_seed: int | None = None):
        self.bench = bench
        self.store = bench.store
        self.space = bench.space
        self.objectives = objectives
        self.seed_policy = seed_policy
        self.rng = rng
        self.charge_repeats = charge_repeats
        self.fixed_seed = int(self.store.seeds[0]) if fixed_seed is None else int(fixed_seed)
        self.valid_metric = self.store.valid_metric
        self._seen: dict[tuple[int, float], _Result] = {}

    def evaluate(self, proposal: Proposal) -> _Result:
        row = self.space.index_of(proposal.arch)
        fidelity = float(self.store.fidelities[-1] if proposal.fidelity is None else proposal.fidelity)
        key = (row, fidelity)
        if not self.charge_repeats and key in self._seen:
            old = self._seen[key]
            return _Result(row, fidelity, old.seed_used, old.values, 0.0)
        store = self.store
        valid, seeds = store.query(self.valid_metric, [row], fidelity=fidelity, seed_policy=self.seed_policy,
                                   rng=self.rng, seed=self.fixed_seed, return_seed=True)
        seed = int(seeds[0])
        values = {self.valid_metric: float(valid[0])}
        for obj in self.objectives:
            if obj.name in values:
                continue
            if obj.name in store.static_names:
                values[obj.name] = float(store.static(obj.name, [row])[0])
            else:
                values[obj.name] = self._same_seed(obj.name, row, fidelity, seed)
        cost = self._same_seed(store.cost_metric, row, fidelity, seed) if store.cost_metric else 0.0
        result = _Result(row, fidelity, seed, values, 0.0 if np.isnan(cost) else cost)
        self._seen[key] = result
        return result

    def _same_seed(self, metric: str, row: int, fidelity: float, seed: int) -> float:
        """A metric of the same training run that produced the observed validation value."""
        if seed == MEAN_SEED:
            return float(self.store.query(metric, [row], fidelity=fidelity, seed_policy="mean")[0])
        return float(self.store.query(metric, [row], fidelity=fidelity, seed_policy="fixed", seed=seed)[0])


def row_means(store: Any, metric: str) -> Any:
    """Seed means indexed by row, for the trajectory's `valid_mean`/`test_mean` columns.

    A table gives its array. A benchmark too large to tabulate (a surrogate over the DARTS space,
    10^18 rows) gives `store.row_means(metric)`: an object whose `[row]` predicts on demand.
    """
    lookup = getattr(store, "row_means", None)
    if lookup is not None:
        return lookup(metric)
    if not metric:
        return np.full(store.n_archs, np.nan)
    return store.seed_mean(metric)


def regret_optimum(store: Any, valid_mean: Any, maximize: bool) -> float:
    """The value regret is measured against: the table's best seed mean, or the reference optimum a
    row-less benchmark defines (`store.reference_optimum(metric)`, docs/SURROGATES.md)."""
    reference = getattr(store, "reference_optimum", None)
    if reference is not None:
        return float(reference(store.valid_metric))
    return float(np.nanmax(valid_mean) if maximize else np.nanmin(valid_mean))


def resolve_objectives(bench: Benchmark, names: list[str] | tuple[str, ...] | None) -> tuple[Objective, ...]:
    """Objectives by name; per-evaluation metrics keep their direction, static ones are minimised."""
    store = bench.store
    if not store.valid_metric:
        raise NasHarnessError(f"benchmark {bench.name!r} has no validation metric to search on")
    names = list(names) if names else [store.valid_metric]
    out = []
    for name in names:
        if name in store.metric_names:
            out.append(Objective(name, store.higher_is_better(name)))
        elif name in store.static_names:
            out.append(Objective(name, False))
        else:
            devices = [s for s in store.static_names if "@" in s]
            hint = f"; devices: {', '.join(devices)}" if "@" in name else ""
            raise NasHarnessError(
                f"benchmark {bench.name!r} has no objective {name!r}; choose from {', '.join(store.metric_names + store.static_names)}{hint}"
            )
    if out[0].name != store.valid_metric:
        raise NasHarnessError(f"the first objective must be the benchmark's validation metric {store.valid_metric!r}")
    return tuple(out)


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a >= b) and np.any(a > b))


def run_search(
    bench: Benchmark,
    strategy: str,
    *,
    seed: int,
    budget: Budget,
    hyperparameters: dict[str, Any] | None = None,
    n_workers: int = 1,
    seed_policy: str = "sample",
    fixed_seed: int | None = None,
    objectives: list[str] | None = None,
) -> pd.DataFrame:
    """Run one search to completion and return its trajectory (one row per completed evaluation).

    `seed_policy` chooses which seed's measurement an evaluation observes (docs/FORMAT.md);
    `fixed_seed` is the seed label for the `fixed` policy (default: the store's first seed).
    """
    budget.check()
    if seed_policy not in SEED_POLICIES:
        raise NasHarnessError(f"unknown seed policy {seed_policy!r}; choose one of {', '.join(SEED_POLICIES)}")
    if not isinstance(n_workers, int) or n_workers < 1:
        raise NasHarnessError(f"n_workers must be a positive integer, got {n_workers!r}")
    store, space = bench.store, bench.space
    if budget.sim_seconds is not None and not store.cost_metric:
        raise NasHarnessError(f"benchmark {bench.name!r} records no training cost; use budget.evaluations instead of budget.sim_seconds")
    if seed_policy == "fixed" and fixed_seed is not None:
        store.seed_index(fixed_seed)  # fails now, naming the available seeds
    objs = resolve_objectives(bench, objectives)
    problem = Problem(objectives=objs, fidelities=tuple(float(f) for f in store.fidelities), n_workers=n_workers)
    strategy_seq, bench_seq = np.random.SeedSequence(seed).spawn(2)
    strat = make_strategy(strategy, space, problem, np.random.default_rng(strategy_seq), hyperparameters)
    evaluator = _Evaluator(bench, objs, seed_policy, np.random.default_rng(bench_seq), strat.config.charge_repeats, fixed_seed)

    valid_mean = row_means(store, store.valid_metric)
    test_mean = row_means(store, store.test_metric)
    maximize = objs[0].maximize
    optimum = regret_optimum(store, valid_mean, maximize)
    multi = len(objs) > 1

    rows: list[dict[str, Any]] = []
    heap: list[_Event] = []
    started = 0
    order = 0
    now = 0.0
    inc_key: tuple[float, float] | None = None
    inc: _Result | None = None
    front: list[tuple[np.ndarray, int]] = []
    wall_start = time.perf_counter()

    def fill() -> None:
        nonlocal started, order
        while len(heap) < n_workers and (budget.evaluations is None or started < budget.evaluations):
            proposal = strat.ask()
            if proposal is None:
                return
            result = evaluator.evaluate(proposal)
            heapq.heappush(heap, _Event(now + result.cost, order, proposal, result))
            started += 1
            order += 1

    fill()
    if not heap:
        raise StrategyError(f"strategy {strategy!r} proposed nothing at the start of the run")
    while heap:
        event = heapq.heappop(heap)
        if budget.sim_seconds is not None and event.finish > budget.sim_seconds:
            break
        now = event.finish
        res = event.result
        obs = Observation(values=res.values, fidelity=res.fidelity, cost=res.cost)
        strat.tell(event.proposal, obs)
        observed = res.values[objs[0].name]
        signed = observed if maximize else -observed
        key = (res.fidelity, -np.inf if np.isnan(signed) else signed)
        if inc_key is None or key > inc_key:
            inc_key, inc = key, res
        assert inc is not None
        inc_valid = inc.values[objs[0].name]
        inc_mean = float(valid_mean[inc.row])
        record = {
            "step": len(rows) + 1,
            "arch": space.canonical(event.proposal.arch),
            "arch_index": res.row,
            "fidelity": res.fidelity,
            "seed_used": res.seed_used,
            "valid": observed,
            "valid_mean": float(valid_mean[res.row]),
            "test_mean": float(test_mean[res.row]),
            "cost": res.cost,
            "sim_time": now,
            "best_valid": inc_valid,
            "incumbent_arch": space.canonical(space.arch_at(inc.row)),
            "incumbent_test_mean": float(test_mean[inc.row]),
            "regret": (optimum - inc_mean) if maximize else (inc_mean - optimum),
            "wall_time": time.perf_counter() - wall_start,
        }
        if multi:
            scores = obs.scores(problem)
            for obj in objs:
                record[f"obj_{obj.name}"] = res.values[obj.name]
            if res.fidelity == problem.max_fidelity and not np.isnan(scores).any():
                if not any(_dominates(p, scores) for p, _ in front):
                    front = [(p, r) for p, r in front if not _dominates(scores, p)] + [(scores, res.row)]
            record["pareto_front"] = ";".join(str(r) for r in sorted({r for _, r in front}))
        rows.append(record)
        fill()
    columns = TRAJECTORY_COLUMNS + ([c for c in rows[0] if c not in TRAJECTORY_COLUMNS] if rows else [])
    return pd.DataFrame(rows, columns=columns)
