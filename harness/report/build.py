"""`build_report`: read a results folder and compute everything the report shows (no files written).

The parts: harness.results (the runs), harness.report.budgets (where runs are compared),
harness.report.curves (curves and bands), harness.report.taskinfo (per-task facts from the store),
harness.report.leaderboard (final tables and ranks), harness.report.checklist and
harness.report.ops; this module puts them together into a harness.report.model.Report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.report.budgets import (
    EVALUATIONS,
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
from harness.report.checklist import build_checklist
from harness.report.curves import RunCurves, run_curves
from harness.report.labels import method_title
from harness.report.leaderboard import final_rows, leaderboard, search_cost, seed_values, with_ranks
from harness.report.load import seed_ranges
from harness.report.model import Report, TaskInfo
from harness.report.ops import op_histograms
from harness.report.stats import BOOTSTRAP_METHOD
from harness.report.taskinfo import hv_table, multi_objective, task_info
from harness.results import SIMULATED_CLOCK, ResultSet, Run, budget_text, load_results, value_text
from tabular.errors import NasHarnessError


def _cost(run: Run) -> float:
    """The run's summed cost as pandas' Series.sum gives it (NaN counted as 0, then numpy's sum, in the same
    order), without building a Series: numpy's sum of the column, or np.nansum when that sum is NaN."""
    cost = run.column("cost")
    total = cost.sum()
    return float(np.nansum(cost) if np.isnan(total) else total)


def _runs_table(result: ResultSet) -> pd.DataFrame:
    """Every run found, used or not, with its status and reason (runs.csv)."""
    rows = []
    for r in sorted(
        result.runs,
        key=lambda r: (r.status != "complete", r.task, r.method, r.seed if r.seed is not None else -1, r.run_id),
    ):
        rows.append(
            {
                "run_id": r.run_id,
                "status": r.status,
                "task": r.task,
                "method": r.method,
                "clock": r.clock,
                "seed": r.seed,
                "budget": budget_text(r) if r.manifest else "",
                "evaluations": r.n_rows if r.traj is not None else None,
                "wall_seconds": (r.manifest or {}).get("wall_seconds"),
                "reason": r.reason,
            }
        )
    table = pd.DataFrame(rows)
    for col in ("seed", "evaluations"):
        table[col] = table[col].astype("Int64")
    return table


def _budgets_table(result: ResultSet, cells: dict[tuple[str, str], list[Run]]) -> pd.DataFrame:
    rows = []
    for (task, method), texts in result.budgets().items():
        cell = cells[(task, method)]
        lengths = [r.n_rows for r in cell]
        ends = [float(r.column("sim_time")[-1]) for r in cell]
        rows.append(
            {
                "task": task,
                "method": method,
                "clock": next((r.clock for r in cell), SIMULATED_CLOCK),
                "budget": "; ".join(texts),
                "runs": len(cell),
                "seeds": seed_ranges([r.seed for r in cell]),
                "evaluations_min": min(lengths),
                "evaluations_max": max(lengths),
                "last_sim_time_min": min(ends),
                "last_sim_time_max": max(ends),
            }
        )
    return pd.DataFrame(rows)


def _hyperparameters(result: ResultSet) -> pd.DataFrame:
    rows: dict[str, dict[str, str]] = {}
    for r in result.complete:
        if r.method in rows:  # the first run of each method describes it
            continue
        cfg = {k: v for k, v in (r.config.get("strategy") or {}).items() if k != "name"}
        rows.setdefault(
            r.method,
            {
                "method": r.method,
                "strategy": r.strategy,
                "hyperparameters": ", ".join(f"{k}={value_text(v)}" for k, v in sorted(cfg.items())) or "(none)",
            },
        )
    return pd.DataFrame([rows[m] for m in sorted(rows)])


def parse_budgets(text: str | None) -> list[int] | None:
    """`--budgets 50,100,200`: evaluation budgets (sorted, distinct)."""
    return parse_evaluations(text, "--budgets")


def parse_time_budgets(text: str | None) -> list[float] | None:
    """`--time-budgets 10000,200000`: simulated-second budgets (sorted, distinct)."""
    return parse_seconds(text, "--time-budgets")


def choose_budgets(
    result: ResultSet,
    curves: dict[tuple[str, str], list[RunCurves]],
    budgets: list[int] | None,
    time_budgets: list[float] | None,
) -> tuple[list[Budget], str, list[str]]:
    """The report's budgets, a sentence saying how they were chosen, and warnings about the choice."""
    tasks = result.tasks()
    all_curves = [c for cs in curves.values() for c in cs]
    chosen: list[Budget] = []
    notes: list[str] = []
    warnings: list[str] = []
    if budgets is None and time_budgets is None:
        runs = {
            t: [RunBudget(r.budget, r.n_rows, r.horizon, r.method) for r in result.task_runs(t)] for t in tasks
        }
        budget, lines, mixed = default_budget(runs)
        if budget.uniform is None:
            warnings.append(lines[0])
        warnings.extend(lines[1:])
        warnings.extend(mixed)
        return [budget], "; ".join(lines), warnings
    if budgets:
        longest = max(len(c) for c in all_curves)
        too_long = [b for b in budgets if b > longest]
        if too_long:
            raise NasHarnessError(
                f"--budgets {','.join(map(str, too_long))} exceed every run (the longest has {longest} evaluations)"
            )
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
                raise NasHarnessError(
                    f"--time-budgets {','.join(seconds_text(t) for t in too_long_t)} exceed every run's time horizon "
                    f"(the longest is {seconds_text(longest_t)} {unit}; a run's incumbent is known up to its "
                    "budget.sim_seconds, or up to its last evaluation when it stopped on budget.evaluations)"
                )
        chosen += [uniform_budget(Cut(SIM_SECONDS, t), tasks) for t in time_budgets]
        notes.append(
            f"time budgets chosen with --time-budgets: {', '.join(seconds_text(t) for t in time_budgets)} simulated "
            "seconds "
            "(each run's incumbent at that simulated time: its last evaluation completed by then; runs whose time "
            "horizon ends earlier are left out and counted)"
        )
        if real:
            notes.append(
                f"real-clock methods ({', '.join(real)}) are read at T real compute seconds instead: their time is "
                "real compute seconds on the machine that ran them, so the same T is not the same amount of search"
            )
        for t in tasks:
            if all(float(c.sim_time[-1]) == 0.0 for m in result.methods(t) for c in curves[(t, m)]):
                warnings.append(f"{t} records no training cost (sim_time is 0): it has no results at time budgets")
    return chosen, "; ".join(notes), warnings


def build_report(
    results_dir: str | Path,
    *,
    budgets: list[int] | None = None,
    time_budgets: list[float] | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Report:
    """Load every run under `results_dir` and compute all the report's numbers (no files written).

    `budgets` (evaluations) and `time_budgets` (simulated seconds) are the points the final tables
    and leaderboards compare at; with neither, the default of harness.report.budgets.default_budget.
    """
    if not 0 < alpha < 1:
        raise NasHarnessError(f"--alpha must be in (0, 1), got {alpha}")
    if n_boot < 100:
        raise NasHarnessError(f"--bootstrap must be at least 100 resamples, got {n_boot}")
    result = load_results(results_dir)
    cells = result.cells()  # one pass: result.cell per (task, method) scans every run each time
    curves: dict[tuple[str, str], list[RunCurves]] = {}
    by_id: dict[str, RunCurves] = {}
    for (task, method), cell in cells.items():
        curves[(task, method)] = [run_curves(r, r.horizon) for r in cell]
        by_id.update({r.run_id: c for r, c in zip(cell, curves[(task, method)], strict=True)})
    chosen, budgets_note, budget_warnings = choose_budgets(result, curves, budgets, time_budgets)
    store_cache: dict = {}
    tasks: dict[str, TaskInfo] = {}
    mo_rows: dict[str, list[dict]] = {}
    for task in result.tasks():
        per_method = {m: curves[(task, m)] for m in result.methods(task)}
        ks_max = max(len(c) for cs in per_method.values() for c in cs)
        info = task_info(result, task, per_method, ks_max, store_cache, n_boot, seed)
        if info.multi_objective:
            mo_rows[task] = multi_objective(info, result, n_boot, seed)
        tasks[task] = info
    final = final_rows(result, curves, chosen)
    so_tasks = [t for t in result.tasks() if not tasks[t].multi_objective]
    values = seed_values(result, curves, chosen)
    boards = [leaderboard(final, b, so_tasks, alpha, values) for b in chosen] if so_tasks else []
    final = with_ranks(final, boards)
    total_wall = float(sum(float((r.manifest or {}).get("wall_seconds") or 0.0) for r in result.runs))
    # np.nansum is pandas' Series.sum (NaN as 0, then numpy's sum): the same number, without a Series per run
    total_gpu_h = float(sum(_cost(r) for r in result.complete if not r.is_real_clock) / 3600.0)
    total_real_h = float(sum(_cost(r) for r in result.complete if r.is_real_clock) / 3600.0)
    store_sha = {info.benchmark: info.store_sha for info in tasks.values()}
    time_axis = {t: info.time_grid is not None for t, info in tasks.items()}
    checklist = build_checklist(
        result,
        store_sha=store_sha,
        time_axis=time_axis,
        total_wall_s=total_wall,
        total_gpu_h=total_gpu_h,
        total_real_h=total_real_h,
        stores={b: s for b, (s, _) in store_cache.items() if s is not None},
    )
    notes = _notes(result, tasks, n_boot, alpha, seed)
    ops = op_histograms(result)
    # A task whose runs differ in budget gets one line from the default choice (what was compared, what was left
    # out), which replaces the results model's generic "mixed budgets on TASK" line for that task.
    said = {w.split(":", 1)[0] for w in budget_warnings if ": runs differ in budget (" in w}
    general = [w for w in result.warnings if not any(w.startswith(f"mixed budgets on {t} (") for t in said)]
    warnings = general + budget_warnings + ops.warnings
    for bench in sorted({info.benchmark for info in tasks.values()}):
        store_note = store_cache.get(bench, (None, ""))[1]
        if store_note:
            warnings.append(f"{bench}: {store_note}")
    return Report(
        result,
        chosen,
        budgets_note,
        n_boot,
        alpha,
        seed,
        tasks,
        _runs_table(result),
        _budgets_table(result, cells),
        final,
        search_cost(result, curves, tasks),
        hv_table(mo_rows, chosen, by_id),
        boards,
        checklist,
        notes,
        _hyperparameters(result),
        total_wall,
        total_gpu_h,
        warnings,
        total_real_h,
        ops,
        {m: method_title(m) for m in result.methods()},
    )


def _notes(result: ResultSet, tasks: dict[str, TaskInfo], n_boot: int, alpha: float, seed: int) -> list[str]:
    notes = [
        f"Bands: 95 % {BOOTSTRAP_METHOD} ({n_boot} resamples, numpy default_rng({seed})) of the mean over runs; "
        "each point of a curve averages the same n runs (n is in the legend).",
        "Incumbent validation: the seed-mean validation value of the architecture each run would return "
        "(selected by its observed validation value); regret = |optimum − that value| in the validation metric's "
        "units.",
        "Against simulated time, each run is a step function on a common log-spaced grid (value after the last "
        "completed evaluation), not extended beyond its time horizon (its budget.sim_seconds when the time budget "
        "stopped it, "
        "else its last evaluation); a method's curve spans the times at which all of its runs had at least one result "
        "and none had passed its horizon. A method's curves use the runs that reached the length (or time horizon) "
        "that more than half of its runs reached, so one stray short run does not cut them short; n counts those "
        "runs.",
        "Accuracy panels start at the worst method mean at 10 % of the horizon (evaluations, or seconds), so that "
        "late differences stay visible; earlier, lower values run off the bottom of the axis.",
        'Budgets: "after N evaluations" reads each run\'s incumbent after its N-th completed evaluation; "at T '
        'simulated '
        'seconds" reads its incumbent at simulated time T (its last evaluation that completed by T). Runs whose own '
        'budget '
        "ends before a budget (fewer evaluations, or a shorter time horizon) are left out of that budget's statistics "
        "and counted in the n column.",
        "Validation regret is drawn on a symmetric-log axis: logarithmic above the smallest positive regret's "
        "power of ten, linear below it, so a regret of 0 (the optimum found) is drawn at the tick 0, not at an axis "
        "floor.",
        "Ranks: per benchmark by mean regret (lower is better, ties share their average rank); the Friedman test uses "
        "benchmarks as blocks (seeds of different methods are not paired); Nemenyi critical difference at alpha = "
        f"{alpha}.",
        "Ties with the best: per task and budget, each method's per-seed regrets are tested against the best "
        "method's (lowest mean): two-sided Wilcoxon signed-rank test on seed pairs when both ran the same seeds, "
        "else Mann-Whitney U (scipy); Holm's correction over the task's comparisons with the best; methods with a "
        f"Holm-adjusted p >= {alpha} are marked ≈ (not significantly different from the best).",
        "Search cost: evaluations and simulated GPU-hours (sim_time / 3600; equal to GPU-hours with one worker) "
        "until the first incumbent within delta of the optimum; medians over the runs that got there, with the "
        "fraction that did.",
    ]
    for info in tasks.values():
        if info.reference is not None:
            ref = info.reference
            text = (
                f"{info.task}: reference = exact expected curve of random search without replacement over "
                f"the benchmark's table, selecting on {ref.selection}"
            )
            notes.append(
                text + (" (exactly what these runs observed)." if ref.exact else "; " + "; ".join(ref.notes) + ".")
            )
        if info.reference_note:
            notes.append(f"{info.task}: {info.reference_note.lstrip('; ')}")
        if not info.has_test:
            notes.append(
                f"{info.task}: the benchmark has no test metric, so there is no test-accuracy curve or column."
            )
        if info.time_grid is None:
            notes.append(
                f"{info.task}: the benchmark records no training cost (sim_time is 0), so there are no curves against "
                "simulated time."
            )
        if info.multi_objective and info.hv_ref is not None:
            ref_txt = ", ".join(f"{o} = {v:.6g}" for o, v in zip(info.objectives, info.hv_ref, strict=True))
            notes.append(
                f"{info.task}: hypervolume of objectives normalised to [0, 1] by the best and worst values observed in "
                f"all runs of this task, against the reference point of the worst observed values ({ref_txt})."
            )
    notes.extend(clock_notes(result))
    workers = {r.n_workers for r in result.complete}
    if workers != {1}:
        notes.append(
            f"Runs used {', '.join(map(str, sorted(workers)))} simulated workers: sim_time is elapsed simulated time, "
            "not GPU-hours summed over workers."
        )
    return notes


def clock_notes(result: ResultSet) -> list[str]:
    """Notes that say which methods' time is real compute seconds (none when every clock is simulated)."""
    real = result.real_methods()
    if not real:
        return []
    hosts = sorted({str((r.manifest or {}).get("host") or "?") for r in result.complete if r.is_real_clock})
    oneshot = sorted({r.method for r in result.complete if r.is_real_clock and r.is_oneshot})
    notes = [
        f"Real-clock methods: {', '.join(real)}. Their time (sim_time and cost in the trajectories, the time axis, "
        "time budgets and the search-cost hours) is real compute seconds on the machine that ran them "
        f"(host {', '.join(hosts)}), not the benchmark's simulated training time: it is not comparable 1:1 with the "
        'simulated seconds of the other methods. On plots against time they are dashed and marked "(real s)"; the '
        'tables '
        "have a clock column; their compute is counted in real CPU/GPU hours of this machine, not in simulated "
        "GPU-hours."
    ]
    if oneshot:
        notes.append(
            f"One-shot methods ({', '.join(oneshot)}) record one row per epoch (zerocost: per scored cell), so their "
            "\"evaluations\" are epochs; each row's incumbent is the cell picked so far, looked up in the benchmark's "
            "table; they ignore config.budget and run to completion, so their final pick stands at any later time."
        )
    return notes
