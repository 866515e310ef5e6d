"""Concordance of strategy rankings in a results folder (`rank-stats --strategies`).

Why: a leaderboard is worth little if another benchmark, or another set of seeds, would order the
strategies differently. Kendall's W over benchmarks (or over disjoint seed splits) says how much.
The runs, their labels and their regret values come from the same reader as `regress`, so the
strategies and counts agree with `report` and `regress`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.rank_stats.stats import Concordance, kendalls_w
from tabular.errors import NasHarnessError


@dataclass
class StrategyConcordance:
    """Kendall's W of strategy rankings: pooled (`overall`) and, for seed splits, per benchmark.

    Raters and objects are the task and method labels of `harness.results` (a benchmark name, or
    `nb201/cifar10[seed_policy=mean]` where benchmark settings differ; `rs[replace=true]` for a
    strategy variant), the same labels `report` and `regress` print.
    """

    by: str
    metric: str
    overall: Concordance | None
    per_benchmark: dict[str, Concordance] = field(default_factory=dict)
    dropped_strategies: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def strategy_concordance(
    results: str | Path,
    *,
    by: str = "benchmark",
    splits: int = 2,
    seed: int = 0,
    metric: str = "final",
    budget: int | None = None,
    time_budget: float | None = None,
) -> StrategyConcordance:
    """Kendall's W of strategy rankings (by mean `metric` regret, lower is better) in a results folder.

    by="benchmark": each benchmark ranks the strategies run on every benchmark (all seeds pooled).
    by="seeds": inside each benchmark the seeds of every strategy are shuffled (seeded) and dealt
    into `splits` disjoint groups; each group ranks the strategies, and W says how reproducible the
    ranking is across independent seed sets. `overall` then pools the splits of all benchmarks.
    Final regret and AUC are those `regress` compares (`harness.results.score_results`), at each
    run's own budget (evaluations or simulated seconds) or cut at `budget` evaluations /
    `time_budget` simulated seconds; a "benchmark" here is a task of the results reader.
    """
    from harness.results import METRICS, load_scores

    if metric not in METRICS:
        raise NasHarnessError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if budget is not None and time_budget is not None:
        raise NasHarnessError("give --budget (evaluations) or --time-budget (simulated seconds), not both")
    scores = load_scores(Path(results), budget, time_budget)
    by_bench: dict[str, dict[str, np.ndarray]] = {}
    for task, method in sorted(scores.cells):
        by_bench.setdefault(task, {})[method] = scores.values(task, method, metric)
    out = StrategyConcordance(by=by, metric=metric, overall=None, notes=scores.notes())
    if by == "benchmark":
        common = sorted(set.intersection(*(set(d) for d in by_bench.values())))
        every = sorted(set.union(*(set(d) for d in by_bench.values())))
        out.dropped_strategies = [s for s in every if s not in common]
        if len(by_bench) < 2 or len(common) < 2:
            raise NasHarnessError(
                "concordance across benchmarks needs >= 2 benchmarks sharing >= 2 strategies; "
                f"found benchmarks {sorted(by_bench)} sharing {common}"
            )
        table = np.array([[np.mean(by_bench[b][s]) for s in common] for b in sorted(by_bench)])
        out.overall = kendalls_w(table, raters=sorted(by_bench), objects=common)
        return out
    if by != "seeds":
        raise NasHarnessError(f"unknown concordance mode {by!r}; use benchmark or seeds")
    if splits < 2:
        raise NasHarnessError(f"--splits must be at least 2, got {splits}")
    rng = np.random.default_rng(seed)
    pooled_rows, pooled_raters, objects_all = [], [], None
    for bench in sorted(by_bench):
        strats = sorted(by_bench[bench])
        if len(strats) < 2:
            out.notes.append(f"{bench}: only {strats} ran there; skipped")
            continue
        small = [s for s in strats if by_bench[bench][s].size < splits]
        if small:
            raise NasHarnessError(f"{bench}: strategies {small} have fewer seeds than --splits {splits}")
        rows = np.empty((splits, len(strats)))
        for j, s in enumerate(strats):
            values = rng.permutation(by_bench[bench][s])
            for i in range(splits):
                rows[i, j] = values[i::splits].mean()
        names = [f"{bench}#{i}" for i in range(splits)]
        out.per_benchmark[bench] = kendalls_w(rows, raters=names, objects=strats)
        if objects_all is None or objects_all == strats:
            objects_all = strats
            pooled_rows.append(rows)
            pooled_raters += names
        else:
            out.notes.append(f"{bench}: strategy set differs from the first benchmark's; left out of the pooled W")
    if not out.per_benchmark:
        raise NasHarnessError("no benchmark has at least 2 strategies to rank")
    if len(pooled_rows) > 1:
        out.overall = kendalls_w(np.vstack(pooled_rows), raters=pooled_raters, objects=objects_all)
    return out
