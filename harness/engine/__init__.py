"""The run engine: one (strategy, benchmark, seed, budget) run in simulated time.

Each evaluation is charged the training time the benchmark recorded for that architecture, seed
and fidelity, and `n_workers` simulated workers evaluate asynchronously: a worker that finishes
reports to the strategy and immediately asks for its next job, as in syne-tune's simulator. The
simulated clock, not the machine's, decides the order of completions, so a run is exactly
reproducible. Two random streams are derived from the run seed with numpy's SeedSequence: one
for the strategy, one for the benchmark's seed sampling.

Every run ends, whatever its budget: besides `budget.evaluations` and `budget.sim_seconds`, a run
stops proposing once every architecture of the space has been evaluated at the highest fidelity,
after MAX_REPEATS proposals in a row that only repeat evaluated (architecture, fidelity) pairs, or
at EVALUATIONS_PER_ARCH evaluations per (architecture, fidelity) of the space. Re-proposals still
count as evaluations (and cost simulated time unless the strategy's `charge_repeats` is false)
until then. The reason is the trajectory's `attrs["stop_reason"]` (kept in its parquet file) and
a line of the run's log; docs/STRATEGIES.md lists the reasons.

The evaluation path is lean (issue 20): everything a store query would check is checked once per
run, and each evaluation is then one read of its row (tabular.evaluation_reader.EvaluationReader for tables:
the seed policy's validation value, the other objectives and the cost of that same seed), the
trajectory grows as typed columns (array.array), canonical strings are computed once per distinct
architecture, and the seed-mean columns are gathered by row when the run ends. Trajectories are
bit-identical to those of the engine before it (tests/test_engine_bitwise.py).

Modules: this one holds `run_search`, the budget and the ask/tell loop; `batched` the loop for
non-adaptive strategies (random search), `evaluation` answers proposals from the store, `stops` holds
the stop reasons and their precedence, `columns` turns the rows into the returned DataFrame.
"""
from __future__ import annotations

import heapq
import logging
import math
import numbers
import time
from array import array
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from harness.benchmarks import Benchmark
from harness.engine.batched import run_batched
from harness.engine.columns import BUDGET_COLUMN, TRAJECTORY_COLUMNS, _Columns, _fill_seed_means
from harness.engine.evaluation import _Evaluator, _Result
from harness.engine.stops import (
    EVALUATIONS_PER_ARCH,
    MAX_REPEATS,
    STOP_CAP,
    STOP_EVALUATIONS,
    STOP_EXHAUSTED,
    STOP_FREE,
    STOP_REASONS,
    STOP_SIM_SECONDS,
    STOP_STALLED,
    STOP_STRATEGY,
    RunLimits,
)
from harness.spaces import SearchSpace
from harness.strategies import Objective, Observation, Problem, Proposal, Strategy, StrategyError, make_strategy
from tabular.errors import NasHarnessError
from tabular.protocol import RowValues, Store, check_seed_policy

__all__ = [
    "BUDGET_COLUMN", "EVALUATIONS_PER_ARCH", "MAX_REPEATS", "STOP_CAP", "STOP_EVALUATIONS", "STOP_EXHAUSTED",
    "STOP_FREE", "STOP_REASONS", "STOP_SIM_SECONDS", "STOP_STALLED", "STOP_STRATEGY", "TRAJECTORY_COLUMNS",
    "Budget", "evaluation_cap", "regret_optimum", "resolve_objectives", "row_means", "run_search",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """Stop after `evaluations` completed evaluations and/or `sim_seconds` of simulated time."""

    evaluations: int | None = None
    sim_seconds: float | None = None

    def check(self) -> None:
        """Refuse, before anything runs, a budget that is malformed or can never be spent."""
        if self.evaluations is None and self.sim_seconds is None:
            raise NasHarnessError("no budget given; set budget.evaluations and/or budget.sim_seconds")
        evaluations = self.evaluations
        if evaluations is not None and (
            isinstance(evaluations, bool) or not isinstance(evaluations, numbers.Real)
            or not math.isfinite(evaluations) or int(evaluations) != evaluations or evaluations <= 0
        ):
            raise NasHarnessError(f"budget.evaluations must be a positive integer, got {evaluations!r}")
        if self.sim_seconds is not None and (isinstance(self.sim_seconds, bool) or not self.sim_seconds > 0):
            raise NasHarnessError(f"budget.sim_seconds must be positive, got {self.sim_seconds!r}")
        if evaluations is None and self.sim_seconds is not None and math.isinf(self.sim_seconds):
            raise NasHarnessError(
                "budget.sim_seconds=inf without budget.evaluations is no budget; set budget.evaluations or a finite "
                "budget.sim_seconds"
            )


def row_means(store: Store, metric: str) -> RowValues:
    """Seed means indexed by row, for the trajectory's `valid_mean`/`test_mean` columns.

    A table gives its array (all NaN for metric ""). A benchmark too large to tabulate (a surrogate
    over the DARTS space, 10^18 rows) gives a lookup whose `[row]` predicts on demand.
    """
    return store.row_means(metric)


def regret_optimum(store: Store, valid_mean: RowValues, maximize: bool) -> float:
    """The value regret is measured against: the reference optimum the store declares (a surrogate
    over a huge space, docs/SURROGATES.md), or else the best of the table's seed means."""
    reference = store.reference_optimum(store.valid_metric)
    if reference is not None:
        return float(reference)
    table = cast(np.ndarray, valid_mean)  # no declared reference: a table's seed-mean array
    return float(np.nanmax(table) if maximize else np.nanmin(table))


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
                f"benchmark {bench.name!r} has no objective {name!r}; choose from "
                f"{', '.join(store.metric_names + store.static_names)}{hint}"
            )
    if out[0].name != store.valid_metric:
        raise NasHarnessError(f"the first objective must be the benchmark's validation metric {store.valid_metric!r}")
    return tuple(out)


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Pareto dominance of signed scores (larger is better), on plain floats: no arrays per comparison."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def evaluation_cap(bench: Benchmark) -> int:
    """Most evaluations a run of `bench` makes, whatever its budget (EVALUATIONS_PER_ARCH per
    architecture and fidelity)."""
    return EVALUATIONS_PER_ARCH * int(bench.space.size) * len(bench.store.fidelities)


def _ask_tell(strat: Strategy[Any], evaluator: _Evaluator, space: SearchSpace, problem: Problem, rows: _Columns,
              inc_rows: array, limits: RunLimits, *, strategy: str, n_workers: int, plain_budgets: bool,
              wall_start: float) -> str | None:
    """The run loop for any strategy: `n_workers` simulated workers ask, evaluate and tell, results
    arriving in order of their simulated finishing times; fills `rows` and `inc_rows` and returns why
    proposing stopped (None: the strategy had nothing more to propose)."""
    objs = problem.objectives
    maximize, multi = objs[0].maximize, len(objs) > 1
    append = rows.appenders
    add = rows.add
    heap: list[tuple[float, int, Proposal, _Result]] = []  # (finish, order): order is unique, ties never reach the rest
    started = 0  # evaluations started; also each one's order among equal finishing times
    now = 0.0
    repeats = 0  # proposals in a row that repeated an evaluated (architecture, fidelity)
    free = 0  # evaluations in a row that cost no simulated time (a time budget alone never ends them)
    stop: str | None = None  # why proposing stopped; the run ends once the pending results are in
    inc_level = inc_signed = -math.inf
    inc_row = -1  # the incumbent's row; -1 until the first result
    inc_arch = ""
    front: list[tuple[tuple[float, ...], int]] = []
    front_text = ""
    canonical: dict[str, str] = {}  # canonical string per distinct proposed architecture string
    inc_valid = math.nan
    primary = objs[0].name
    max_fidelity = problem.max_fidelity
    sim_seconds = limits.sim_seconds
    # Bound once: the loop below runs once per evaluation, and attribute lookups are a good part of it.
    perf_counter = time.perf_counter
    heappush, heappop = heapq.heappush, heapq.heappop
    ask, tell, evaluate = strat.ask, strat.tell, evaluator.evaluate
    canonical_of, find_canonical = space.canonical, canonical.get
    add_inc_row = inc_rows.append

    def fill() -> None:
        nonlocal started, repeats, free, stop
        while len(heap) < n_workers:
            proposal = ask()
            if proposal is None:
                return
            result = evaluate(proposal)
            cost = result[4]
            heappush(heap, (now + cost, started, proposal, result))
            started += 1
            repeats = 0 if evaluator.last_was_new else repeats + 1
            free = 0 if cost > 0 else free + 1
            if limits.reached(started, evaluator.n_top, repeats, free):
                stop = limits.reason(started, evaluator.n_top, repeats)
                return

    fill()
    if not heap:
        raise StrategyError(f"strategy {strategy!r} proposed nothing at the start of the run")
    step = 0
    while heap:
        finish, _, proposal, (row, fidelity, seed_used, values, cost) = heappop(heap)
        if sim_seconds is not None and finish > sim_seconds:
            stop = STOP_SIM_SECONDS  # whatever stopped the proposals, the clock cut the run
            break
        now = finish
        obs = Observation(values, fidelity, cost)
        tell(proposal, obs)
        observed = values[primary]
        signed = observed if maximize else -observed
        level = fidelity if plain_budgets else float(strat.incumbent_budget(proposal, obs))
        if signed != signed:
            signed = -math.inf
        # the best result at the largest budget so far: (level, signed) compared as a tuple
        if inc_row < 0 or level > inc_level or (level == inc_level and signed > inc_signed):
            if row != inc_row:
                inc_arch = canonical_of(space.arch_at(row))
            inc_level, inc_signed, inc_row = level, signed, row
            inc_valid = observed
        arch = proposal.arch
        arch_canonical = find_canonical(arch)
        if arch_canonical is None:
            arch_canonical = canonical[arch] = canonical_of(arch)
        step += 1
        # One value per column, in TRAJECTORY_COLUMNS order; the seed-mean columns (valid_mean,
        # test_mean, incumbent_test_mean, regret) are gathered by row when the run ends.
        add((step, arch_canonical, row, fidelity, level, seed_used, observed, cost, now, inc_valid, inc_arch,
             perf_counter() - wall_start))
        add_inc_row(inc_row)
        if multi:
            scores = obs.scores(problem)
            for k, obj in enumerate(objs):
                append[16 + k](values[obj.name])
            if fidelity == max_fidelity and not np.isnan(scores).any():
                point = tuple(scores.tolist())
                if not any(_dominates(p, point) for p, _ in front):
                    front = [(p, r) for p, r in front if not _dominates(point, p)] + [(point, row)]
                    front_text = ";".join(str(r) for r in sorted({r for _, r in front}))
            append[-1](front_text)
        if stop is None:
            fill()
    return stop


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
    The trajectory's `attrs["stop_reason"]` says why the run ended (one of STOP_REASONS).
    """
    budget.check()
    policy = check_seed_policy(seed_policy)
    if not isinstance(n_workers, int) or n_workers < 1:
        raise NasHarnessError(f"n_workers must be a positive integer, got {n_workers!r}")
    store, space = bench.store, bench.space
    if budget.sim_seconds is not None and not store.cost_metric:
        raise NasHarnessError(f"benchmark {bench.name!r} records no training cost; use budget.evaluations instead of "
                              "budget.sim_seconds")
    if policy == "fixed" and fixed_seed is not None:
        store.seed_index(fixed_seed)  # fails now, naming the available seeds
    objs = resolve_objectives(bench, objectives)
    problem = Problem(objectives=objs, fidelities=tuple(float(f) for f in store.fidelities), n_workers=n_workers)
    strategy_seq, bench_seq = np.random.SeedSequence(seed).spawn(2)
    strat = make_strategy(strategy, space, problem, np.random.default_rng(strategy_seq), hyperparameters)
    evaluator = _Evaluator(bench, objs, policy, np.random.default_rng(bench_seq), strat.config.charge_repeats,
                           fixed_seed)

    valid_mean = row_means(store, store.valid_metric)
    test_mean = row_means(store, store.test_metric)
    maximize = objs[0].maximize
    optimum = regret_optimum(store, valid_mean, maximize)
    multi = len(objs) > 1
    size = int(space.size)
    cap = evaluation_cap(bench)
    if budget.evaluations is not None and budget.evaluations > cap:
        log.warning("budget.evaluations=%d is more than %d evaluations per architecture and fidelity of %s (%d "
                    "architectures); "
                    "the run stops at %d evaluations at the latest",
                    budget.evaluations, EVALUATIONS_PER_ARCH, bench.name, size, cap)

    extra = [f"obj_{obj.name}" for obj in objs] + ["pareto_front"] if multi else []
    rows = _Columns(extra)
    inc_rows = array("q")  # the incumbent's row after each evaluation
    # The base Strategy.incumbent_budget is the observation's fidelity: skip the call unless overridden.
    plain_budgets = type(strat).incumbent_budget is Strategy.incumbent_budget
    max_evaluations = budget.evaluations
    limits = RunLimits(
        limit=cap if max_evaluations is None else min(int(max_evaluations), cap),
        max_evaluations=max_evaluations,
        free_limit=MAX_REPEATS if max_evaluations is None else math.inf,  # an evaluation budget always ends
        sim_seconds=budget.sim_seconds, cap=cap, size=size, max_repeats=MAX_REPEATS,
    )
    wall_start = time.perf_counter()
    if not strat.adaptive and n_workers == 1 and not multi and plain_budgets and evaluator.batchable:
        stop = run_batched(strat, evaluator, space, rows, inc_rows, limits, strategy=strategy, maximize=maximize,
                           wall_start=wall_start)
    else:
        stop = _ask_tell(strat, evaluator, space, problem, rows, inc_rows, limits, strategy=strategy,
                         n_workers=n_workers, plain_budgets=plain_budgets, wall_start=wall_start)
    reason = stop or STOP_STRATEGY
    log.info("run of %s on %s stopped after %d evaluations: %s", strategy, bench.name, rows.rows, reason)
    rows.flush()
    _fill_seed_means(rows, inc_rows, valid_mean, test_mean, optimum, maximize)
    # The `budget` column is written only where it can differ from `fidelity` (a strategy with nominal
    # budgets): every other trajectory keeps the columns, and the bytes, it had before that column existed.
    trajectory = rows.frame(frozenset() if not plain_budgets else frozenset({BUDGET_COLUMN}))
    trajectory.attrs["stop_reason"] = reason
    return trajectory
