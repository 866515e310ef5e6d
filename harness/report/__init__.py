"""`nas-harness report`: curves, tables, leaderboards and a best-practices checklist from a results folder.

`build_report` reads every run (harness.report.load), computes everything the report shows (this
module assembles it from budgets, curves, stats, reference and checklist) and returns a `Report`;
`harness.report.render.write_report` writes it as Markdown, CSV, LaTeX, PNG/SVG and one
self-contained HTML page. Computing and writing are separate so the numbers can be tested
without files and the files can be re-rendered without recomputing.

Runs are compared at budgets (harness.report.budgets): after N evaluations, or at T simulated
seconds (the incumbent of each run at that time), the protocol of time-budgeted grids such as the
NAS-Bench-201 paper's. Time is on each method's own clock (harness.report.load): simulated for
tabular strategies, real compute seconds for one-shot methods; every table, curve and note that
uses time says which. One-shot runs that record the ops of their picked cells (`op_<name>`
columns) also get op histograms per epoch (harness.report.ops). docs/REPORTS.md describes every
number the report shows.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.report.budgets import (
    EMPTY,
    EVALUATIONS,
    OK,
    SHORT,
    SIM_SECONDS,
    Budget,
    Cut,
    RunBudget,
    default_budget,
    parse_evaluations,
    parse_seconds,
    seconds_text,
    uniform_budget,
)
from harness.report.checklist import Item, build_checklist
from harness.report.curves import (
    DELTAS,
    METRICS,
    Band,
    RunCurves,
    band,
    by_evaluations,
    by_time,
    hv_curve,
    objective_points,
    reach,
    run_curves,
    time_grid,
)
from harness.report.load import SIMULATED_CLOCK, ResultSet, budget_text, load_results, seed_ranges, value_text
from harness.report.ops import OpHistograms, op_histograms
from harness.report.reference import RSReference, rs_reference
from harness.report.stats import (
    BOOTSTRAP_METHOD,
    FriedmanResult,
    cd_cliques,
    friedman,
    nemenyi_cd,
    nemenyi_q,
    pareto_mask,
    rank_rows,
    summarise,
)
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

REFERENCE_LABEL = "E[random search] (exact)"


@dataclass
class TaskInfo:
    """Everything the report shows about one task (benchmark + objectives)."""

    task: str
    benchmark: str
    maximize: bool
    valid_metric: str = "validation"
    unit: str = ""
    has_test: bool = True
    multi_objective: bool = False
    objectives: list[str] = field(default_factory=list)
    obj_maximize: list[bool] = field(default_factory=list)
    reference: RSReference | None = None
    reference_note: str = ""
    store_sha: str | None = None
    time_grid: np.ndarray | None = None
    eval_bands: dict[str, dict[str, Band | None]] = field(default_factory=dict)
    time_bands: dict[str, dict[str, Band | None]] = field(default_factory=dict)
    hv_bands: dict[str, Band | None] = field(default_factory=dict)
    fronts: dict[str, np.ndarray] = field(default_factory=dict)  # original units, per method (union over seeds)
    hv_ref: np.ndarray | None = None  # worst observed values, original units
    hv_lo: np.ndarray | None = None
    clocks: dict[str, str] = field(default_factory=dict)  # method -> "simulated" or "real" (harness.report.load)

    @property
    def real_methods(self) -> list[str]:
        return [m for m, c in self.clocks.items() if c != SIMULATED_CLOCK]


@dataclass
class Leaderboard:
    budget: Budget
    tasks: list[str]
    methods: list[str]
    mean_regret: np.ndarray  # tasks x methods
    n: np.ndarray  # seeds behind each mean
    ranks: np.ndarray
    avg_ranks: np.ndarray
    excluded: dict[str, str]
    friedman: FriedmanResult | None
    friedman_note: str
    cd: float | None
    q_alpha: float | None
    cliques: list[tuple[int, ...]]
    dropped_tasks: dict[str, str] = field(default_factory=dict)  # tasks with no result at this budget, and why


@dataclass
class Report:
    result: ResultSet
    budgets: list[Budget]
    budgets_note: str
    n_boot: int
    alpha: float
    seed: int
    tasks: dict[str, TaskInfo]
    runs_table: pd.DataFrame
    budgets_table: pd.DataFrame
    final_table: pd.DataFrame
    search_cost: pd.DataFrame
    hv_table: pd.DataFrame
    leaderboards: list[Leaderboard]
    checklist: list[Item]
    notes: list[str]
    hyperparameters: pd.DataFrame
    total_wall_s: float
    total_gpu_h: float  # simulated GPU-hours: cost summed over the simulated-clock runs only
    warnings: list[str] = field(default_factory=list)
    total_real_h: float = 0.0  # real compute hours of the machine(s) that ran the real-clock runs
    op_histograms: OpHistograms | None = None  # op counts of one-shot picks per epoch (harness.report.ops); None/empty: no op_ columns


# -- benchmark facts -------------------------------------------------------------------------------
def _infer_maximize(curves: list[RunCurves]) -> bool:
    """Direction from the trajectory alone: valid + regret is constant (the optimum) when maximised."""
    c = curves[0]
    return bool(np.allclose(c.valid + c.regret, c.valid[0] + c.regret[0], equal_nan=True))


def _load_store(benchmark: str, manifest_shas: set[str], cache: dict) -> tuple[object | None, str]:
    if benchmark in cache:
        return cache[benchmark]
    try:
        from harness.benchmarks import load_benchmark

        store = load_benchmark(benchmark).store
    except NasHarnessError as exc:
        cache[benchmark] = (None, f"benchmark table not available ({exc}); no reference curve")
        return cache[benchmark]
    note = ""
    if store.sha256 not in manifest_shas:
        note = (f"the current {benchmark} store (sha256 {store.sha256[:12]}…) differs from the one the runs used "
                f"({', '.join(s[:12] + '…' for s in sorted(manifest_shas))}): the table changed since; the reference curve and "
                "objective directions come from the current table")
        log.info("%s", note)
    cache[benchmark] = (store, note)
    return cache[benchmark]


def _task_info(result: ResultSet, task: str, curves: dict[str, list[RunCurves]], ks_max: int,
               store_cache: dict, n_boot: int, seed: int) -> TaskInfo:
    runs = result.task_runs(task)
    bench = runs[0].benchmark
    shas = {str((r.manifest or {}).get("benchmark_sha256")) for r in runs}
    store, note = _load_store(bench, shas, store_cache)
    all_curves = [c for cs in curves.values() for c in cs]
    objectives = runs[0].objectives or []
    multi = len(objectives) > 1
    if store is not None:
        maximize = store.higher_is_better(store.valid_metric)
        info = TaskInfo(task, bench, maximize, store.valid_metric, str(store.metric_attrs(store.valid_metric).get("unit", "")),
                        bool(store.test_metric), multi, objectives)
        info.store_sha = store.sha256
        info.obj_maximize = [store.higher_is_better(o) if o in store.metric_names else False for o in objectives]
    else:
        maximize = _infer_maximize(all_curves)
        info = TaskInfo(task, bench, maximize, "validation", "", True, multi, objectives)
        info.obj_maximize = [maximize] + [False] * (len(objectives) - 1)
        if multi:
            note += "; objective directions assumed (first as the validation metric, others minimised)"
    info.clocks = {m: result.clock(task, m) for m in sorted(curves)}
    info.has_test = info.has_test and any(np.isfinite(c.test).any() for c in all_curves)
    info.reference_note = note
    if store is not None and getattr(store, "row_means", None) is not None:
        # A surrogate over a space too large to tabulate (nb301/yahpo): no exact random-search curve.
        info.reference_note = (note + "; " if note else "") + "no random-search reference curve for a surrogate over a space too large to enumerate"
    elif store is not None and not multi:
        policies = {(r.seed_policy, (r.config.get("benchmark") or {}).get("fixed_seed")) for r in runs}
        if len(policies) == 1:
            policy, fixed = next(iter(policies))
            info.reference = rs_reference(store, np.arange(1, ks_max + 1), seed_policy=policy, fixed_seed=fixed, benchmark=bench)
        else:
            info.reference_note = (note + "; " if note else "") + "runs use different seed policies; no single reference curve"
    for method, cs in sorted(curves.items()):
        info.eval_bands[method] = {m: by_evaluations(cs, m, n_boot=n_boot, seed=seed) for m in METRICS}
    grid = time_grid(all_curves)
    if grid is not None and grid.size > 1:
        info.time_grid = grid
        for method, cs in sorted(curves.items()):
            info.time_bands[method] = {m: by_time(cs, m, grid, n_boot=n_boot, seed=seed) for m in METRICS}
    return info


def _multi_objective(info: TaskInfo, result: ResultSet, n_boot: int, seed: int) -> list[dict]:
    """Normalised hypervolume curves and final fronts; returns rows for the HV table input."""
    runs = result.task_runs(info.task)
    max_fid = max(float(r.trajectory["fidelity"].max()) for r in runs)
    pts = {r.run_id: objective_points(r.trajectory, info.objectives, info.obj_maximize, max_fid) for r in runs}
    stacked = np.vstack(list(pts.values()))
    finite = stacked[np.all(np.isfinite(stacked), axis=1)]
    if finite.size == 0:
        info.reference_note += "; no evaluation at the highest fidelity with all objectives measured"
        return []
    lo, hi = finite.min(axis=0), finite.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    sign = np.where(info.obj_maximize, -1.0, 1.0)
    info.hv_ref, info.hv_lo = hi * sign, lo * sign
    ref = np.ones(len(info.objectives))
    per_run: dict[str, np.ndarray] = {}
    for r in runs:
        per_run[r.run_id] = hv_curve((pts[r.run_id] - lo) / span, ref)
    for method in result.methods(info.task):
        cell = result.cell(info.task, method)
        curves = [per_run[r.run_id] for r in cell]
        length = min(c.size for c in curves)
        info.hv_bands[method] = band(np.arange(1, length + 1), np.vstack([c[:length] for c in curves]), n_boot=n_boot, seed=seed)
        union = np.vstack([pts[r.run_id] for r in cell])
        union = union[np.all(np.isfinite(union), axis=1)]
        front = np.unique(union[pareto_mask(union)], axis=0) if union.size else union
        info.fronts[method] = front * sign
    return [{"run": r, "hv": per_run[r.run_id]} for r in runs]


# -- tables ------------------------------------------------------------------------------------------
def _runs_table(result: ResultSet) -> pd.DataFrame:
    rows = []
    for r in sorted(result.runs, key=lambda r: (r.status != "complete", r.task, r.method, r.seed if r.seed is not None else -1, r.run_id)):
        rows.append({
            "run_id": r.run_id, "status": r.status, "task": r.task, "method": r.method, "clock": r.clock, "seed": r.seed,
            "budget": budget_text(r) if r.manifest else "", "evaluations": len(r.trajectory) if r.trajectory is not None else None,
            "wall_seconds": (r.manifest or {}).get("wall_seconds"), "reason": r.reason,
        })
    table = pd.DataFrame(rows)
    for col in ("seed", "evaluations"):
        table[col] = table[col].astype("Int64")
    return table


def _budgets_table(result: ResultSet) -> pd.DataFrame:
    rows = []
    for (task, method), texts in result.budgets().items():
        cell = result.cell(task, method)
        lengths = [len(r.trajectory) for r in cell]
        ends = [float(r.trajectory["sim_time"].iloc[-1]) for r in cell]
        rows.append({"task": task, "method": method, "clock": result.clock(task, method), "budget": "; ".join(texts), "runs": len(cell),
                     "seeds": seed_ranges([r.seed for r in cell]), "evaluations_min": min(lengths), "evaluations_max": max(lengths),
                     "last_sim_time_min": min(ends), "last_sim_time_max": max(ends)})
    return pd.DataFrame(rows)


def _final_rows(result: ResultSet, curves: dict[tuple[str, str], list[RunCurves]], budgets: list[Budget]) -> pd.DataFrame:
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
                row = {"budget": b.key, "budget_kind": cut.kind, "budget_value": cut.value, "task": task, "method": method,
                       "clock": result.clock(task, method), "runs": len(cs), "n_seeds": status.count(OK), "n_short": status.count(SHORT), "n_empty": status.count(EMPTY)}
                for metric in ("regret", "test", "valid"):
                    values = np.array([c.metric(metric)[i] for c, (i, st) in zip(cs, picks) if st == OK], dtype=np.float64)
                    s = summarise(values)
                    row.update({f"{metric}_mean": s.mean, f"{metric}_se": s.se, f"{metric}_median": s.median,
                                f"{metric}_q25": s.q25, f"{metric}_q75": s.q75})
                rows.append(row)
    return pd.DataFrame(rows)


def _search_cost(result: ResultSet, curves: dict[tuple[str, str], list[RunCurves]], tasks: dict[str, TaskInfo]) -> pd.DataFrame:
    rows = []
    for task in result.tasks():
        for method in result.methods(task):
            cs = curves[(task, method)]
            for delta in DELTAS:
                hits = [h for h in (reach(c, delta) for c in cs) if h is not None]
                rows.append({
                    "task": task, "method": method, "clock": result.clock(task, method), "delta": delta, "runs": len(cs), "reached": len(hits),
                    "fraction": len(hits) / len(cs),
                    "median_evaluations": float(np.median([h[0] for h in hits])) if hits else float("nan"),
                    "median_sim_gpu_hours": float(np.median([h[1] for h in hits])) if hits and tasks[task].time_grid is not None else float("nan"),
                })
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
        reasons.append(f"{short} run(s) ended before it" + (" (their time horizon is shorter)" if cut.kind == SIM_SECONDS else ""))
    if empty:
        reasons.append(f"{empty} run(s) had no completed evaluation by then")
    return f"{task} {cut.label}: " + ("; ".join(reasons) if reasons else "no runs")


def _leaderboard(final: pd.DataFrame, budget: Budget, so_tasks: list[str], alpha: float) -> Leaderboard:
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
        note = (f"Friedman χ² = {fr.statistic:.3f} (df {k - 1}), p = {fr.p_value:.3g}; Iman–Davenport F = {fr.iman_davenport:.3f}, "
                f"p = {fr.p_value_f:.3g}; blocks = {n} benchmarks, treatments = {k} methods")
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
    return Leaderboard(budget, tasks, methods, mean, count, ranks, avg, excluded, fr, note, cd, q, cliques, dropped)


def _with_ranks(final: pd.DataFrame, boards: list[Leaderboard]) -> pd.DataFrame:
    rows = [{"budget": lb.budget.key, "task": t, "method": m, "rank": lb.ranks[i, j], "avg_rank": lb.avg_ranks[j]}
            for lb in boards for i, t in enumerate(lb.tasks) for j, m in enumerate(lb.methods)]
    if not rows:
        return final.assign(rank=np.nan, avg_rank=np.nan)
    return final.merge(pd.DataFrame(rows), on=["budget", "task", "method"], how="left")


def _hv_table(mo_rows: dict[str, list[dict]], budgets: list[Budget], by_id: dict[str, RunCurves]) -> pd.DataFrame:
    """Hypervolume of each run at each budget (the row `cut_index` selects, as for regret)."""
    rows = []
    for task, items in mo_rows.items():
        by_method: dict[str, list[tuple[np.ndarray, RunCurves]]] = {}
        for it in items:
            by_method.setdefault(it["run"].method, []).append((it["hv"], by_id[it["run"].run_id]))
        for b in budgets:
            cut = b.cut(task)
            if cut is None:
                continue
            for method, hvs in sorted(by_method.items()):
                values = []
                for h, c in hvs:
                    i, st = c.index(cut)
                    values.append(h[i] if st == OK else np.nan)
                s = summarise(np.array(values, dtype=np.float64))
                rows.append({"budget": b.key, "budget_kind": cut.kind, "budget_value": cut.value, "task": task, "method": method,
                             "runs": len(hvs), "n_seeds": s.n, "hv_mean": s.mean, "hv_se": s.se,
                             "hv_median": s.median, "hv_q25": s.q25, "hv_q75": s.q75})
    return pd.DataFrame(rows)


def _hyperparameters(result: ResultSet) -> pd.DataFrame:
    rows = {}
    for r in result.complete:
        cfg = {k: v for k, v in (r.config.get("strategy") or {}).items() if k != "name"}
        rows.setdefault(r.method, {"method": r.method, "strategy": r.strategy,
                                   "hyperparameters": ", ".join(f"{k}={value_text(v)}" for k, v in sorted(cfg.items())) or "(none)"})
    return pd.DataFrame([rows[m] for m in sorted(rows)])


def parse_budgets(text: str | None) -> list[int] | None:
    """`--budgets 50,100,200`: evaluation budgets (sorted, distinct)."""
    return parse_evaluations(text, "--budgets")


def parse_time_budgets(text: str | None) -> list[float] | None:
    """`--time-budgets 10000,200000`: simulated-second budgets (sorted, distinct)."""
    return parse_seconds(text, "--time-budgets")


def choose_budgets(result: ResultSet, curves: dict[tuple[str, str], list[RunCurves]], budgets: list[int] | None,
                   time_budgets: list[float] | None) -> tuple[list[Budget], str, list[str]]:
    """The report's budgets, a sentence saying how they were chosen, and warnings about the choice."""
    tasks = result.tasks()
    all_curves = [c for cs in curves.values() for c in cs]
    chosen: list[Budget] = []
    notes: list[str] = []
    warnings: list[str] = []
    if budgets is None and time_budgets is None:
        runs = {t: [RunBudget(r.budget, len(r.trajectory), r.horizon) for r in result.task_runs(t)] for t in tasks}
        budget, lines = default_budget(runs)
        if budget.uniform is None:
            warnings.append(lines[0])
        warnings.extend(lines[1:])
        return [budget], "; ".join(lines), warnings
    if budgets:
        longest = max(len(c) for c in all_curves)
        too_long = [b for b in budgets if b > longest]
        if too_long:
            raise NasHarnessError(f"--budgets {','.join(map(str, too_long))} exceed every run (the longest has {longest} evaluations)")
        chosen += [uniform_budget(Cut(EVALUATIONS, b), tasks) for b in budgets]
        notes.append(f"budgets chosen with --budgets: {', '.join(map(str, budgets))} evaluations")
    if time_budgets:
        real = result.real_methods()
        unit = "simulated s" if not real else "s, each on its method's clock"
        finite = [c.end for c in all_curves if np.isfinite(c.end)]
        longest_t = max(finite) if finite else 0.0
        if all(np.isfinite(c.end) for c in all_curves):
            too_long_t = [t for t in time_budgets if t > longest_t]
            if too_long_t:
                raise NasHarnessError(f"--time-budgets {','.join(seconds_text(t) for t in too_long_t)} exceed every run's time horizon "
                                      f"(the longest is {seconds_text(longest_t)} {unit}; a run's incumbent is known up to its "
                                      "budget.sim_seconds, or up to its last evaluation when it stopped on budget.evaluations)")
        chosen += [uniform_budget(Cut(SIM_SECONDS, t), tasks) for t in time_budgets]
        notes.append(f"time budgets chosen with --time-budgets: {', '.join(seconds_text(t) for t in time_budgets)} simulated seconds "
                     "(each run's incumbent at that simulated time: its last evaluation completed by then; runs whose time horizon "
                     "ends earlier are left out and counted)")
        if real:
            notes.append(f"real-clock methods ({', '.join(real)}) are read at T real compute seconds instead: their time is real "
                         "compute seconds on the machine that ran them, so the same T is not the same amount of search")
        for t in tasks:
            if all(float(c.sim_time[-1]) == 0.0 for m in result.methods(t) for c in curves[(t, m)]):
                warnings.append(f"{t} records no training cost (sim_time is 0): it has no results at time budgets")
    return chosen, "; ".join(notes), warnings


def build_report(results_dir: str | Path, *, budgets: list[int] | None = None, time_budgets: list[float] | None = None,
                 n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> Report:
    """Load every run under `results_dir` and compute all the report's numbers (no files written).

    `budgets` (evaluations) and `time_budgets` (simulated seconds) are the points the final tables
    and leaderboards compare at; with neither, the default of harness.report.budgets.default_budget.
    """
    if not 0 < alpha < 1:
        raise NasHarnessError(f"--alpha must be in (0, 1), got {alpha}")
    if n_boot < 100:
        raise NasHarnessError(f"--bootstrap must be at least 100 resamples, got {n_boot}")
    result = load_results(results_dir)
    curves: dict[tuple[str, str], list[RunCurves]] = {}
    by_id: dict[str, RunCurves] = {}
    for task in result.tasks():
        for method in result.methods(task):
            cell = result.cell(task, method)
            curves[(task, method)] = [run_curves(r.trajectory, r.horizon) for r in cell]
            by_id.update({r.run_id: c for r, c in zip(cell, curves[(task, method)])})
    chosen, budgets_note, budget_warnings = choose_budgets(result, curves, budgets, time_budgets)
    store_cache: dict = {}
    tasks: dict[str, TaskInfo] = {}
    mo_rows: dict[str, list[dict]] = {}
    for task in result.tasks():
        per_method = {m: curves[(task, m)] for m in result.methods(task)}
        ks_max = max(len(c) for cs in per_method.values() for c in cs)
        info = _task_info(result, task, per_method, ks_max, store_cache, n_boot, seed)
        if info.multi_objective:
            mo_rows[task] = _multi_objective(info, result, n_boot, seed)
        tasks[task] = info
    final = _final_rows(result, curves, chosen)
    so_tasks = [t for t in result.tasks() if not tasks[t].multi_objective]
    boards = [_leaderboard(final, b, so_tasks, alpha) for b in chosen] if so_tasks else []
    final = _with_ranks(final, boards)
    total_wall = float(sum(float((r.manifest or {}).get("wall_seconds") or 0.0) for r in result.runs))
    total_gpu_h = float(sum(float(r.trajectory["cost"].sum()) for r in result.complete if not r.is_real_clock) / 3600.0)
    total_real_h = float(sum(float(r.trajectory["cost"].sum()) for r in result.complete if r.is_real_clock) / 3600.0)
    store_sha = {info.benchmark: info.store_sha for info in tasks.values()}
    time_axis = {t: info.time_grid is not None for t, info in tasks.items()}
    checklist = build_checklist(result, store_sha=store_sha, time_axis=time_axis, total_wall_s=total_wall, total_gpu_h=total_gpu_h,
                                total_real_h=total_real_h, stores={b: s for b, (s, _) in store_cache.items() if s is not None})
    notes = _notes(result, tasks, n_boot, alpha, seed)
    ops = op_histograms(result)
    warnings = list(result.warnings) + budget_warnings + ops.warnings
    for bench in sorted({info.benchmark for info in tasks.values()}):
        store_note = store_cache.get(bench, (None, ""))[1]
        if store_note:
            warnings.append(f"{bench}: {store_note}")
    return Report(result, chosen, budgets_note, n_boot, alpha, seed, tasks, _runs_table(result), _budgets_table(result),
                  final, _search_cost(result, curves, tasks), _hv_table(mo_rows, chosen, by_id), boards, checklist, notes,
                  _hyperparameters(result), total_wall, total_gpu_h, warnings, total_real_h, ops)


def _notes(result: ResultSet, tasks: dict[str, TaskInfo], n_boot: int, alpha: float, seed: int) -> list[str]:
    notes = [
        f"Bands: 95 % {BOOTSTRAP_METHOD} ({n_boot} resamples, numpy default_rng({seed})) of the mean over runs; "
        "each point of a curve averages the same n runs (n is in the legend).",
        "Incumbent validation: the seed-mean validation value of the architecture each run would return "
        "(selected by its observed validation value); regret = |optimum − that value| in the validation metric's units.",
        "Against simulated time, each run is a step function on a common log-spaced grid (value after the last "
        "completed evaluation), not extended beyond its time horizon (its budget.sim_seconds when the time budget stopped it, "
        "else its last evaluation); a method's curve spans the times at which all of its runs had at least one result "
        "and none had passed its horizon.",
        "Budgets: \"after N evaluations\" reads each run's incumbent after its N-th completed evaluation; \"at T simulated "
        "seconds\" reads its incumbent at simulated time T (its last evaluation that completed by T). Runs whose own budget "
        "ends before a budget (fewer evaluations, or a shorter time horizon) are left out of that budget's statistics and "
        "counted in the n column.",
        "Regret is drawn on a log axis; a regret of 0 (the optimum found) is drawn at the axis floor.",
        "Ranks: per benchmark by mean regret (lower is better, ties share their average rank); the Friedman test uses "
        f"benchmarks as blocks (seeds of different methods are not paired); Nemenyi critical difference at alpha = {alpha}.",
        "Search cost: evaluations and simulated GPU-hours (sim_time / 3600; equal to GPU-hours with one worker) "
        "until the first incumbent within delta of the optimum; medians over the runs that got there, with the fraction that did.",
    ]
    for info in tasks.values():
        if info.reference is not None:
            ref = info.reference
            text = (f"{info.task}: reference = exact expected curve of random search without replacement over "
                    f"the benchmark's table, selecting on {ref.selection}")
            notes.append(text + (" (exactly what these runs observed)." if ref.exact else "; " + "; ".join(ref.notes) + "."))
        if info.reference_note:
            notes.append(f"{info.task}: {info.reference_note.lstrip('; ')}")
        if not info.has_test:
            notes.append(f"{info.task}: the benchmark has no test metric, so there is no test-accuracy curve or column.")
        if info.time_grid is None:
            notes.append(f"{info.task}: the benchmark records no training cost (sim_time is 0), so there are no curves against simulated time.")
        if info.multi_objective and info.hv_ref is not None:
            ref_txt = ", ".join(f"{o} = {v:.6g}" for o, v in zip(info.objectives, info.hv_ref))
            notes.append(f"{info.task}: hypervolume of objectives normalised to [0, 1] by the best and worst values observed in "
                         f"all runs of this task, against the reference point of the worst observed values ({ref_txt}).")
    notes.extend(clock_notes(result))
    workers = {r.n_workers for r in result.complete}
    if workers != {1}:
        notes.append(f"Runs used {', '.join(map(str, sorted(workers)))} simulated workers: sim_time is elapsed simulated time, not GPU-hours summed over workers.")
    return notes


def clock_notes(result: ResultSet) -> list[str]:
    """Notes that say which methods' time is real compute seconds (none when every clock is simulated)."""
    real = result.real_methods()
    if not real:
        return []
    hosts = sorted({str((r.manifest or {}).get("host") or "?") for r in result.complete if r.is_real_clock})
    oneshot = sorted({r.method for r in result.complete if r.is_real_clock and r.is_oneshot})
    notes = [f"Real-clock methods: {', '.join(real)}. Their time (sim_time and cost in the trajectories, the time axis, time "
             "budgets and the search-cost hours) is real compute seconds on the machine that ran them "
             f"(host {', '.join(hosts)}), not the benchmark's simulated training time: it is not comparable 1:1 with the "
             "simulated seconds of the other methods. On plots against time they are dashed and marked \"(real s)\"; the tables "
             "have a clock column; their compute is counted in real CPU/GPU hours of this machine, not in simulated GPU-hours."]
    if oneshot:
        notes.append(f"One-shot methods ({', '.join(oneshot)}) record one row per epoch (zerocost: per scored cell), so their "
                     "\"evaluations\" are epochs; each row's incumbent is the cell picked so far, looked up in the benchmark's table; "
                     "they ignore config.budget and run to completion, so their final pick stands at any later time.")
    return notes
