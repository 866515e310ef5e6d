"""The final tables and leaderboards of a report: summaries per (budget, task, method), ranks,
Friedman and Nemenyi, each method tested against the best one per task, and the search cost to
reach the optimum."""


from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report.budgets import EMPTY, OK, SHORT, SIM_SECONDS, Budget
from harness.report.curves import DELTAS, RunCurves, reach
from harness.report.model import Leaderboard, TaskInfo, VersusBest
from harness.report.stats import cd_cliques, friedman, holm, nemenyi_cd, nemenyi_q, rank_rows, seed_test, summarise
from harness.results import ResultSet

SeedValues = dict[tuple[str, str, str], dict]  # (budget key, task, method) -> {seed: regret at the cut}


def final_rows(
    result: ResultSet, curves: dict[tuple[str, str], list[RunCurves]], budgets: list[Budget]
) -> pd.DataFrame:
    """One row per (budget, task, method): summaries over the runs that have a result at the task's cut.

    `n_short` counts runs whose own budget ends before the cut (fewer evaluations, or a shorter time
    horizon), `n_empty` runs with no completed evaluation by a time cut; both are left out.
    """
    rows = []
    for b in budgets:
        for task in result.tasks():
            cut = b.cut(task)
            if cut is None:
                continue
            for method in result.methods(task):
                cs = curves[(task, method)]
                picks = [c.index(cut) for c in cs]
                status = [st for _, st in picks]
                row = {
                    "budget": b.key,
                    "budget_kind": cut.kind,
                    "budget_value": cut.value,
                    "task": task,
                    "method": method,
                    "clock": result.clock(task, method),
                    "runs": len(cs),
                    "n_seeds": status.count(OK),
                    "n_short": status.count(SHORT),
                    "n_empty": status.count(EMPTY),
                }
                for metric in ("regret", "test", "valid"):
                    picked = [c.metric(metric)[i] for c, (i, st) in zip(cs, picks, strict=True) if st == OK]
                    values = np.array(picked, dtype=np.float64)
                    s = summarise(values)
                    row.update(
                        {
                            f"{metric}_mean": s.mean,
                            f"{metric}_se": s.se,
                            f"{metric}_median": s.median,
                            f"{metric}_q25": s.q25,
                            f"{metric}_q75": s.q75,
                        }
                    )
                rows.append(row)
    return pd.DataFrame(rows)


def seed_values(
    result: ResultSet, curves: dict[tuple[str, str], list[RunCurves]], budgets: list[Budget]
) -> SeedValues:
    """Each run's regret at each task's cut, by seed: what the tests against the best method pair up."""
    out: SeedValues = {}
    for b in budgets:
        for task in result.tasks():
            cut = b.cut(task)
            if cut is None:
                continue
            for method in result.methods(task):
                values = {}
                for run, c in zip(result.cell(task, method), curves[(task, method)], strict=True):
                    i, st = c.index(cut)
                    if st == OK:
                        values[run.seed] = float(c.metric("regret")[i])
                out[(b.key, task, method)] = values
    return out


def versus_best(
    values: SeedValues, budget: Budget, tasks: list[str], alpha: float
) -> dict[tuple[str, str], VersusBest]:
    """Per task, every method with results tested against the one with the lowest mean regret.

    Two-sided seed_test (Wilcoxon signed-rank when both have the same seeds, else Mann-Whitney U);
    Holm's correction over the task's k - 1 comparisons; a method is tied with the best when its
    adjusted p is not below alpha (docs/STATISTICS.md).
    """
    out: dict[tuple[str, str], VersusBest] = {}
    for task in tasks:
        cell = {m: v for (bk, t, m), v in values.items() if bk == budget.key and t == task and v}
        if not cell:
            continue
        best = min(sorted(cell), key=lambda m: float(np.mean(list(cell[m].values()))))
        others = [m for m in sorted(cell) if m != best]
        tests = [seed_test(cell[best], cell[m]) for m in others]
        adjusted = holm([t.p_value for t in tests])
        out[(task, best)] = VersusBest(best, "", float("nan"), float("nan"), True)
        for m, t, p_adj in zip(others, tests, adjusted, strict=True):
            out[(task, m)] = VersusBest(best, t.test, t.p_value, float(p_adj), not bool(p_adj < alpha))
    return out


def search_cost(
    result: ResultSet, curves: dict[tuple[str, str], list[RunCurves]], tasks: dict[str, TaskInfo]
) -> pd.DataFrame:
    """Per (task, method, delta): how many runs got within delta of the optimum, and after how much search."""
    rows = []
    for task in result.tasks():
        for method in result.methods(task):
            cs = curves[(task, method)]
            for delta in DELTAS:
                hits = [h for h in (reach(c, delta) for c in cs) if h is not None]
                rows.append(
                    {
                        "task": task,
                        "method": method,
                        "clock": result.clock(task, method),
                        "delta": delta,
                        "runs": len(cs),
                        "reached": len(hits),
                        "fraction": len(hits) / len(cs),
                        "median_evaluations": float(np.median([h[0] for h in hits])) if hits else float("nan"),
                        "median_sim_gpu_hours": float(np.median([h[1] for h in hits]))
                        if hits and tasks[task].time_grid is not None
                        else float("nan"),
                    }
                )
    return pd.DataFrame(rows)


def _why_empty(final: pd.DataFrame, budget: Budget, task: str, method: str | None = None) -> str:
    """Why no run of `method` (or of any method) has a result on `task` at `budget`."""
    cut = budget.cut(task)
    sel = final[(final["budget"] == budget.key) & (final["task"] == task)]
    if method is not None:
        sel = sel[sel["method"] == method]
    short, empty = int(sel["n_short"].sum()), int(sel["n_empty"].sum())
    if cut is None:
        return f"{task}: no budget chosen"
    reasons = []
    if short:
        reasons.append(
            f"{short} run(s) ended before it" + (" (their time horizon is shorter)" if cut.kind == SIM_SECONDS else "")
        )
    if empty:
        reasons.append(f"{empty} run(s) had no completed evaluation by then")
    return f"{task} {cut.label}: " + ("; ".join(reasons) if reasons else "no runs")


def leaderboard(
    final: pd.DataFrame, budget: Budget, so_tasks: list[str], alpha: float, values: SeedValues | None = None
) -> Leaderboard:
    """Ranks by mean regret on the single-objective tasks at `budget`; methods missing a task are excluded.

    With the per-seed `values`, every method on each task is also tested against that task's best.
    """
    at = final[final["budget"] == budget.key]
    sub = at[at["task"].isin(so_tasks) & (at["n_seeds"] > 0)]
    tasks = [t for t in so_tasks if t in set(sub["task"])]
    dropped = {t: _why_empty(final, budget, t) for t in so_tasks if t not in tasks and budget.cut(t) is not None}
    methods_all = sorted(sub["method"].unique())
    excluded = {}
    methods = []
    for m in methods_all:
        have = set(sub[sub["method"] == m]["task"])
        missing = [t for t in tasks if t not in have]
        if missing:
            excluded[m] = "no result " + "; ".join(_why_empty(final, budget, t, m) for t in missing)
        else:
            methods.append(m)
    k, n = len(methods), len(tasks)
    mean = np.full((n, k), np.nan)
    count = np.zeros((n, k), dtype=int)
    for i, t in enumerate(tasks):
        for j, m in enumerate(methods):
            row = sub[(sub["task"] == t) & (sub["method"] == m)].iloc[0]
            mean[i, j], count[i, j] = row["regret_mean"], row["n_seeds"]
    ranks = rank_rows(mean) if k and n else np.zeros((n, k))
    avg = ranks.mean(axis=0) if n else np.zeros(k)
    fr, note, cd, q, cliques = None, "", None, None, []
    if k >= 3 and n >= 2:
        fr = friedman(mean)
        note = (
            f"Friedman χ² = {fr.statistic:.3f} (df {k - 1}), p = {fr.p_value:.3g}; Iman–Davenport F = "
            f"{fr.iman_davenport:.3f}, "
            f"p = {fr.p_value_f:.3g}; blocks = {n} benchmarks, treatments = {k} methods"
        )
    else:
        why = []
        if k < 3:
            why.append(f"{k} method(s) (needs at least 3)")
        if n < 2:
            why.append(f"{n} benchmark(s) (needs at least 2)")
        note = "Friedman test not computed: " + " and ".join(why)
    if k >= 2 and n >= 2:
        q = nemenyi_q(k, alpha)
        cd = nemenyi_cd(k, n, alpha)
        cliques = cd_cliques(avg, cd)
    vs_best = versus_best(values, budget, tasks, alpha) if values is not None else {}
    return Leaderboard(
        budget, tasks, methods, mean, count, ranks, avg, excluded, fr, note, cd, q, cliques, dropped, vs_best
    )


def with_ranks(final: pd.DataFrame, boards: list[Leaderboard]) -> pd.DataFrame:
    """The final table with each row's rank and average rank from the leaderboards."""
    rows = [
        {"budget": lb.budget.key, "task": t, "method": m, "rank": lb.ranks[i, j], "avg_rank": lb.avg_ranks[j]}
        for lb in boards
        for i, t in enumerate(lb.tasks)
        for j, m in enumerate(lb.methods)
    ]
    tests = [
        {
            "budget": lb.budget.key,
            "task": t,
            "method": m,
            "best_method": v.best,
            "vs_best_test": v.test,
            "vs_best_p": v.p_value,
            "vs_best_p_holm": v.p_holm,
            "tied_with_best": v.tied,
        }
        for lb in boards
        for (t, m), v in lb.versus_best.items()
    ]
    keys = ["budget", "task", "method"]
    out = final.merge(pd.DataFrame(rows), on=keys, how="left") if rows else final.assign(rank=np.nan, avg_rank=np.nan)
    if tests:
        out = out.merge(pd.DataFrame(tests), on=keys, how="left")
    return out
