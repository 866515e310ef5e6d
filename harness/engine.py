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
run, and each evaluation is then one read of its row (tabular.store.EvaluationReader for tables:
the seed policy's validation value, the other objectives and the cost of that same seed), the
trajectory grows as typed columns (array.array), canonical strings are computed once per distinct
architecture, and the seed-mean columns are gathered by row when the run ends. Trajectories are
bit-identical to those of the engine before it (tests/test_engine_bitwise.py).
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
from harness.strategies import Objective, Observation, Problem, Proposal, Strategy, StrategyError, make_strategy
from tabular.errors import NasHarnessError
from tabular.protocol import MEAN_SEED, RowValues, SeedPolicy, Store, check_seed_policy
from tabular.store import BenchmarkStore

log = logging.getLogger(__name__)

# Why a run stopped (trajectory.attrs["stop_reason"]).
STOP_EVALUATIONS = "budget.evaluations"  # the evaluation budget is spent
STOP_SIM_SECONDS = "budget.sim_seconds"  # the next result would arrive after the time budget
STOP_EXHAUSTED = "space_exhausted"  # every architecture was evaluated at the highest fidelity
STOP_STALLED = "stalled"  # MAX_REPEATS proposals in a row repeated evaluated (arch, fidelity) pairs
STOP_CAP = "evaluation_cap"  # EVALUATIONS_PER_ARCH x architectures x fidelities evaluations
STOP_STRATEGY = "strategy_finished"  # the strategy proposed nothing while nothing was pending
STOP_FREE = "clock_stopped"  # time budget only, and MAX_REPEATS evaluations in a row cost nothing
STOP_REASONS = (STOP_EVALUATIONS, STOP_SIM_SECONDS, STOP_EXHAUSTED, STOP_STALLED, STOP_CAP, STOP_STRATEGY, STOP_FREE)
# A strategy that re-proposes only what it has evaluated is stuck (a converged policy, a collapsed
# density). In NB201 runs of 5,000 evaluations the longest such streaks measured were 232
# (REINFORCE), 193 (TPE), 48 (BOHB) and 21 (RE): 10,000 leaves a wide margin.
MAX_REPEATS = 10_000
# Enough for uniform sampling with replacement to see a 15,625-cell space whole (coupon collector:
# about 10 draws per cell), and a bound on a trajectory's memory whatever budget.evaluations says.
EVALUATIONS_PER_ARCH = 10
_INT_COLUMNS = frozenset({"step", "arch_index", "seed_used"})
_STR_COLUMNS = frozenset({"arch", "incumbent_arch"})

BUDGET_COLUMN = "budget"
TRAJECTORY_COLUMNS = [
    "step",
    "arch",
    "arch_index",
    "fidelity",
    "budget",  # only for strategies with nominal budgets (BUDGET_COLUMN): the level the incumbent counts at
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


class _Result:
    """One evaluation's outcome (slots: built once per evaluation on the hot path)."""

    __slots__ = ("row", "fidelity", "seed_used", "values", "cost")

    def __init__(self, row: int, fidelity: float, seed_used: int, values: dict[str, float], cost: float):
        self.row = row
        self.fidelity = fidelity
        self.seed_used = seed_used
        self.values = values
        self.cost = cost


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
    seed), whatever the number of objectives (tabular.store.EvaluationReader for tables).
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
        self._read = self._reader.read

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
                return _Result(row, fidelity, old.seed_used, old.values, 0.0)
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
        result = _Result(row, fidelity, seed, values, 0.0 if cost != cost else max(cost, 0.0))
        self._seen[key] = result
        return result


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


# The columns a run fills row by row, in the order of the tuples it buffers (the seed-mean columns
# are gathered at the end, the multi-objective ones appended directly).
_ROW_FIELDS = ("step", "arch", "arch_index", "fidelity", "budget", "seed_used", "valid", "cost", "sim_time",
               "best_valid", "incumbent_arch", "wall_time")
_FLUSH_ROWS = 4096


class _Columns:
    """The trajectory as it grows, one typed, growing column per field: numbers cost 8 bytes a row
    (array.array, not a dict of Python objects per row), so a long run's memory is the trajectory's
    own size. The run loop adds one tuple per row (`add`); every _FLUSH_ROWS rows, and at the end,
    the tuples are transposed into the columns. `appenders` are the bound `append` methods of the
    columns in output order, for the columns filled one value at a time."""

    def __init__(self, extra: list[str]) -> None:
        self.names = TRAJECTORY_COLUMNS + extra
        self.columns: dict[str, Any] = {
            name: [] if name in _STR_COLUMNS or name == "pareto_front"
            else array("q" if name in _INT_COLUMNS else "d")
            for name in self.names
        }
        self.appenders = [self.columns[name].append for name in self.names]
        self._buffer: list[tuple[Any, ...]] = []
        self._row_columns = [self.columns[name] for name in _ROW_FIELDS]
        self._flushed = 0

    def add(self, row: tuple[Any, ...]) -> None:
        """One row of the _ROW_FIELDS columns."""
        self._buffer.append(row)
        if len(self._buffer) >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Move the buffered rows into their columns."""
        if self._buffer:
            for column, values in zip(self._row_columns, zip(*self._buffer, strict=True), strict=True):
                column.extend(values)
            self._flushed += len(self._buffer)
            self._buffer = []

    @property
    def rows(self) -> int:
        """Rows added so far."""
        return self._flushed + len(self._buffer)

    def frame(self, drop: frozenset[str] = frozenset()) -> pd.DataFrame:
        """The trajectory as a DataFrame (numbers without a copy of the buffers, strings as str), less `drop`."""
        self.flush()
        if not self.rows:
            return pd.DataFrame([], columns=[c for c in TRAJECTORY_COLUMNS if c not in drop])
        data = {c: np.frombuffer(col, dtype=np.int64 if col.typecode == "q" else np.float64)
                if isinstance(col, array) else col
                for c, col in self.columns.items() if c not in drop}
        return pd.DataFrame(data)  # already in column order (columns= would cost a reindex: 40 % more)


def _gather(values: RowValues, rows: array) -> np.ndarray:
    """values[row] for every row: one fancy index on a table's array, one lookup per row otherwise."""
    index = np.frombuffer(rows, dtype=np.int64)
    if isinstance(values, np.ndarray):
        return np.asarray(values[index], dtype=np.float64)
    return np.array([float(values[int(r)]) for r in index], dtype=np.float64)


def _fill_seed_means(rows: _Columns, inc_rows: array, valid_mean: RowValues, test_mean: RowValues, optimum: float,
                     maximize: bool) -> None:
    """The trajectory's seed-mean columns, gathered once at the end of the run (the same float64
    values, and the same IEEE subtraction for the regret, as row by row)."""
    if not rows.rows:
        return
    columns = rows.columns
    inc_mean = _gather(valid_mean, inc_rows)
    columns["valid_mean"].frombytes(_gather(valid_mean, columns["arch_index"]).tobytes())
    columns["test_mean"].frombytes(_gather(test_mean, columns["arch_index"]).tobytes())
    columns["incumbent_test_mean"].frombytes(_gather(test_mean, inc_rows).tobytes())
    columns["regret"].frombytes(((optimum - inc_mean) if maximize else (inc_mean - optimum)).tobytes())


def evaluation_cap(bench: Benchmark) -> int:
    """Most evaluations a run of `bench` makes, whatever its budget (EVALUATIONS_PER_ARCH per
    architecture and fidelity)."""
    return EVALUATIONS_PER_ARCH * int(bench.space.size) * len(bench.store.fidelities)


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
    append = rows.appenders
    add = rows.add
    heap: list[tuple[float, int, Proposal, _Result]] = []  # (finish, order): order is unique, ties never reach the rest
    started = 0
    order = 0
    now = 0.0
    repeats = 0  # proposals in a row that repeated an evaluated (architecture, fidelity)
    free = 0  # evaluations in a row that cost no simulated time (a time budget alone never ends them)
    stop: str | None = None  # why proposing stopped; the run ends once the pending results are in
    inc_level = inc_signed = -math.inf
    inc: _Result | None = None
    inc_arch = ""
    front: list[tuple[tuple[float, ...], int]] = []
    front_text = ""
    canonical: dict[str, str] = {}  # canonical string per distinct proposed architecture string
    inc_rows = array("q")  # the incumbent's row after each evaluation
    inc_valid = math.nan
    # The base Strategy.incumbent_budget is the observation's fidelity: skip the call unless overridden.
    plain_budgets = type(strat).incumbent_budget is Strategy.incumbent_budget
    primary = objs[0].name
    max_evaluations = budget.evaluations
    sim_seconds = budget.sim_seconds
    max_fidelity = problem.max_fidelity
    perf_counter = time.perf_counter
    wall_start = perf_counter()

    def fill() -> None:
        nonlocal started, order, repeats, free, stop
        while stop is None and len(heap) < n_workers:
            proposal = strat.ask()
            if proposal is None:
                return
            result = evaluator.evaluate(proposal)
            heapq.heappush(heap, (now + result.cost, order, proposal, result))
            started += 1
            order += 1
            repeats = 0 if evaluator.last_was_new else repeats + 1
            free = 0 if result.cost > 0 else free + 1
            if max_evaluations is not None and started >= max_evaluations:
                stop = STOP_EVALUATIONS
            elif evaluator.n_top >= size:
                stop = STOP_EXHAUSTED
            elif repeats >= MAX_REPEATS:
                stop = STOP_STALLED
            elif started >= cap:
                stop = STOP_CAP
            elif max_evaluations is None and free >= MAX_REPEATS:
                stop = STOP_FREE

    fill()
    if not heap:
        raise StrategyError(f"strategy {strategy!r} proposed nothing at the start of the run")
    step = 0
    while heap:
        finish, _, proposal, res = heapq.heappop(heap)
        if sim_seconds is not None and finish > sim_seconds:
            stop = STOP_SIM_SECONDS  # whatever stopped the proposals, the clock cut the run
            break
        now = finish
        values = res.values
        obs = Observation(values, res.fidelity, res.cost)
        strat.tell(proposal, obs)
        observed = values[primary]
        signed = observed if maximize else -observed
        level = res.fidelity if plain_budgets else float(strat.incumbent_budget(proposal, obs))
        if signed != signed:
            signed = -math.inf
        # the best result at the largest budget so far: (level, signed) compared as a tuple
        if inc is None or level > inc_level or (level == inc_level and signed > inc_signed):
            if inc is None or res.row != inc.row:
                inc_arch = space.canonical(space.arch_at(res.row))
            inc_level, inc_signed, inc = level, signed, res
            inc_valid = values[primary]
        assert inc is not None
        arch = proposal.arch
        arch_canonical = canonical.get(arch)
        if arch_canonical is None:
            arch_canonical = canonical[arch] = space.canonical(arch)
        step += 1
        # One value per column, in TRAJECTORY_COLUMNS order; the seed-mean columns (valid_mean,
        # test_mean, incumbent_test_mean, regret) are gathered by row when the run ends.
        add((step, arch_canonical, res.row, res.fidelity, level, res.seed_used, observed, res.cost, now, inc_valid,
             inc_arch, perf_counter() - wall_start))
        inc_rows.append(inc.row)
        if multi:
            scores = obs.scores(problem)
            for k, obj in enumerate(objs):
                append[16 + k](values[obj.name])
            if res.fidelity == max_fidelity and not np.isnan(scores).any():
                point = tuple(scores.tolist())
                if not any(_dominates(p, point) for p, _ in front):
                    front = [(p, r) for p, r in front if not _dominates(point, p)] + [(point, res.row)]
                    front_text = ";".join(str(r) for r in sorted({r for _, r in front}))
            append[-1](front_text)
        fill()
    reason = stop or STOP_STRATEGY
    log.info("run of %s on %s stopped after %d evaluations: %s", strategy, bench.name, rows.rows, reason)
    rows.flush()
    _fill_seed_means(rows, inc_rows, valid_mean, test_mean, optimum, maximize)
    # The `budget` column is written only where it can differ from `fidelity` (a strategy with nominal
    # budgets): every other trajectory keeps the columns, and the bytes, it had before that column existed.
    trajectory = rows.frame(frozenset() if not plain_budgets else frozenset({BUDGET_COLUMN}))
    trajectory.attrs["stop_reason"] = reason
    return trajectory
