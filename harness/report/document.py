"""A report as a list of blocks (heading, paragraph, table, figure, list): what every page says.

The Markdown page (harness.report.tables) and the HTML page (harness.report.page) are both
written from this one list, so they cannot drift apart. The block type lives in
harness.report.blocks and the op-histogram section in harness.report.ops_blocks; `Block` is
re-exported here because the page writers import it from this module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report import Leaderboard, Report
from harness.report.blocks import Block
from harness.report.budgets import Cut, seconds_text
from harness.report.labels import (
    REAL_MARK,
    budget_title,
    clock_suffix,
    fmt,
    fmt_g,
    has_time_cut,
    marked,
    plus_minus,
    real_in,
    time_words,
)
from harness.report.ops_blocks import ops_blocks
from harness.results import SIMULATED_CLOCK

HV_CAPTION = "hypervolume over evaluations (mean, 95 % bootstrap band)"


# -- document ------------------------------------------------------------------------------------------
def _runs_blocks(report: Report) -> list[Block]:
    res = report.result
    counts = res.counts()
    blocks = [
        Block("h2", "Runs"),
        Block(
            "p",
            f"Results folder `{res.root}`: {len(res.runs)} run folders — "
            + ", ".join(f"{v} {k}" for k, v in counts.items())
            + ". Only complete runs enter the statistics; every other run is listed below.",
        ),
    ]
    rt = report.runs_table
    grouped = rt.groupby(["task", "method", "status"]).size().unstack(fill_value=0)
    rows = []
    for (task, method), row in grouped.iterrows():
        rows.append([task, method] + [str(int(row.get(s, 0))) for s in counts])
    blocks.append(Block("table", headers=["task", "method", *counts.keys()], rows=rows))
    bad = rt[rt["status"] != "complete"]
    if len(bad):
        blocks.append(Block("h3", "Runs not used"))
        blocks.append(
            Block(
                "table",
                headers=["run", "status", "task", "method", "seed", "reason"],
                rows=[
                    [r.run_id, r.status, r.task, r.method, str(r.seed) if pd.notna(r.seed) else "?", r.reason]
                    for r in bad.itertuples()
                ],
            )
        )
    if res.ignored:
        blocks.append(Block("p", f"Ignored folders (not RUN_ID folders): {', '.join(res.ignored)}."))
    if report.warnings:
        blocks.append(Block("list", items=[f"Warning: {w}" for w in report.warnings]))
    blocks.append(Block("h3", "Budgets and seeds"))
    blocks.append(Block("p", report.budgets_note + "."))
    bt = report.budgets_table
    if not report.result.real_methods():
        blocks.append(
            Block(
                "table",
                headers=[
                    "task",
                    "method",
                    "budget",
                    "runs",
                    "seeds",
                    "evaluations (min–max)",
                    "last completion, simulated s (min–max)",
                ],
                rows=[
                    [
                        r.task,
                        r.method,
                        r.budget,
                        str(r.runs),
                        r.seeds,
                        f"{r.evaluations_min}–{r.evaluations_max}",
                        f"{seconds_text(round(r.last_sim_time_min))}–{seconds_text(round(r.last_sim_time_max))}",
                    ]
                    for r in bt.itertuples()
                ],
            )
        )
    else:  # real-clock runs end after seconds: no rounding to whole seconds, and the clock says which seconds
        blocks.append(
            Block(
                "table",
                headers=[
                    "task",
                    "method",
                    "clock",
                    "budget",
                    "runs",
                    "seeds",
                    "evaluations (min–max)",
                    "last completion, s on the method's clock (min–max)",
                ],
                rows=[
                    [
                        r.task,
                        r.method,
                        r.clock,
                        r.budget,
                        str(r.runs),
                        r.seeds,
                        f"{r.evaluations_min}–{r.evaluations_max}",
                        f"{_seconds(r.last_sim_time_min)}–{_seconds(r.last_sim_time_max)}",
                    ]
                    for r in bt.itertuples()
                ],
            )
        )
    return blocks


def _seconds(value: float) -> str:
    return seconds_text(round(value)) if value >= 100 else f"{value:.3g}"


TIE_MARK = " ≈"  # after a leaderboard cell: not significantly different from the task's best method


def tie_mark(lb: Leaderboard, task: str, method: str) -> str:
    """TIE_MARK for a method tied with (not significantly different from) the task's best, else ""."""
    v = lb.versus_best.get((task, method))
    return TIE_MARK if v is not None and v.tied and not v.is_best else ""


def _versus_best_blocks(lb: Leaderboard, alpha: float) -> list[Block]:
    """The sentence that explains TIE_MARK, and each task's tests against its best method."""
    if not lb.versus_best:
        return []
    items = []
    for t in lb.tasks:
        tested = sorted((m, v) for (task, m), v in lb.versus_best.items() if task == t and not v.is_best)
        if not tested:
            continue
        best = tested[0][1].best
        parts = [
            f"{m}: {v.test}, p = {v.p_value:.3g}, Holm p = {v.p_holm:.3g}"
            + (" (not significantly different)" if v.tied else " (worse)")
            for m, v in tested
        ]
        items.append(f"{t}, best {best}: " + "; ".join(parts))
    text = (
        f"{TIE_MARK.strip()} marks a method not significantly different from its task's best method (lowest mean "
        "regret at this budget): two-sided Wilcoxon signed-rank test on the per-seed regrets when both methods ran "
        "the same seeds, else Mann-Whitney U, Holm-corrected over the task's comparisons with the best, "
        f"α = {alpha}. Methods without the mark are significantly worse than the best; ranks alone do not say that."
    )
    return [Block("p", text), Block("list", items=items)]


def _leaderboard_blocks(report: Report, stems: dict[str, list[str]]) -> list[Block]:
    blocks = [Block("h2", "Leaderboard")]
    if not report.leaderboards:
        blocks.append(
            Block(
                "p",
                "No single-objective task: no leaderboard (multi-objective tasks are compared by hypervolume below).",
            )
        )
    clocks = report.result.clocks()
    for lb in report.leaderboards:
        timed = has_time_cut(lb.budget)
        blocks.append(
            Block(
                "h3",
                budget_title(lb.budget)
                + (
                    clock_suffix(lb.budget.uniform, real_in(clocks, lb.methods))
                    if lb.budget.uniform is not None
                    else ""
                ),
            )
        )
        if lb.budget.uniform is None:
            blocks.append(
                Block(
                    "p",
                    "Each task at its own default budget: "
                    + "; ".join(
                        f"{t} {c.label}{clock_suffix(c, report.tasks[t].real_methods if t in report.tasks else [])}"
                        for t, c in lb.budget.cuts.items()
                    )
                    + ".",
                )
            )
        if lb.dropped_tasks:
            blocks.append(
                Block(
                    "list",
                    items=[f"Task not ranked (no result at this budget): {why}" for why in lb.dropped_tasks.values()],
                )
            )
        if not lb.methods:
            blocks.append(Block("p", "No method has a result at this budget on every benchmark."))
            continue
        per_task = lb.budget.uniform is None
        headers = ["method", "avg rank"] + [
            f"{t}{' (' + lb.budget.cuts[t].short + ')' if per_task else ''}: mean regret ± s.e. (n) [rank]"
            for t in lb.tasks
        ]
        order = np.argsort(lb.avg_ranks, kind="stable")
        rows = []
        se = report.final_table.set_index(["budget", "task", "method"])["regret_se"]
        for j in order:
            m = lb.methods[j]
            cells = [
                f"{plus_minus(lb.mean_regret[i, j], se.get((lb.budget.key, t, m), float('nan')))} "
                f"({lb.n[i, j]}) [{lb.ranks[i, j]:g}]{tie_mark(lb, t, m)}"
                for i, t in enumerate(lb.tasks)
            ]
            rows.append([marked(m, clocks) if timed else m, f"{lb.avg_ranks[j]:.2f}", *cells])
        blocks.append(Block("table", headers=headers, rows=rows))
        blocks += _versus_best_blocks(lb, report.alpha)
        text = lb.friedman_note + "."
        if lb.cd is not None:
            text += (
                f" Nemenyi critical difference CD = {lb.cd:.3f} (q_α = {lb.q_alpha:.3f}, k = {len(lb.methods)}, "
                f"N = {len(lb.tasks)}); average ranks closer than CD are not significantly different"
            )
            if lb.friedman is not None and lb.friedman.p_value >= report.alpha:
                text += (
                    f" (the Friedman test does not reject equal performance at α = {report.alpha}, "
                    "so the post-hoc test is only descriptive)"
                )
            text += "."
        blocks.append(Block("p", text))
        if lb.excluded:
            blocks.append(Block("list", items=[f"{m} not ranked: {why}" for m, why in sorted(lb.excluded.items())]))
        if timed and real_in(clocks, lb.methods):
            blocks.append(
                Block(
                    "p",
                    f"Methods marked{REAL_MARK} are read at the time budget in real compute seconds of the machine "
                    "that ran them, the others in simulated seconds (see the notes).",
                )
            )
        for stem in stems.get(f"cd_{lb.budget.stem}", []):
            blocks.append(Block("figure", text=f"Critical-difference diagram {lb.budget.label}.", figure=stem))
    return blocks


def _final_blocks(report: Report) -> list[Block]:
    blocks = [
        Block("h2", "Final results"),
        Block(
            "p",
            "Per method and task at each budget: mean ± standard error, median and interquartile range [q25, q75] "
            "over the n seeds whose run has a result at the budget (after N evaluations: the incumbent after the "
            "N-th evaluation; at T simulated seconds: the incumbent after the last evaluation completed by T). "
            "Runs whose own budget ends earlier are left out and counted. The clock column says what a time budget "
            "counts for each method: simulated seconds, or real compute seconds of the machine that ran it.",
        ),
    ]
    ft = report.final_table
    for b in report.budgets:
        for task, info in report.tasks.items():
            sub = ft[(ft["budget"] == b.key) & (ft["task"] == task)]
            cut = b.cut(task)
            if sub.empty or cut is None:
                continue
            blocks.append(Block("h3", f"{task} {cut.label}{clock_suffix(cut, info.real_methods)}"))
            rows = []
            for r in sub.itertuples():
                n_txt = f"{r.n_seeds}" + (
                    f" (of {r.runs}{_left_out(r.n_short, r.n_empty, cut.kind)})" if r.n_seeds != r.runs else ""
                )
                test = (
                    [plus_minus(r.test_mean, r.test_se), f"{fmt(r.test_median)} [{fmt(r.test_q25)}, {fmt(r.test_q75)}]"]
                    if info.has_test
                    else ["n/a (no test metric)", "n/a"]
                )
                rows.append(
                    [
                        r.method,
                        r.clock,
                        n_txt,
                        *test,
                        plus_minus(r.regret_mean, r.regret_se),
                        f"{fmt(r.regret_median)} [{fmt(r.regret_q25)}, {fmt(r.regret_q75)}]",
                    ]
                )
            blocks.append(
                Block(
                    "table",
                    headers=[
                        "method",
                        "clock",
                        "n",
                        "test mean ± s.e.",
                        "test median [IQR]",
                        "regret mean ± s.e.",
                        "regret median [IQR]",
                    ],
                    rows=rows,
                )
            )
    return blocks


def _left_out(n_short: int, n_empty: int, kind: str) -> str:
    parts = []
    if n_short:
        parts.append(f"{n_short} ended before it")
    if n_empty:
        parts.append(f"{n_empty} with no evaluation completed by then")
    return "; " + ", ".join(parts) if parts else ""


def _cost_blocks(report: Report) -> list[Block]:
    real_any = bool(report.result.real_methods())
    blocks = [
        Block("h2", "Search cost"),
        Block(
            "p",
            "Evaluations and simulated GPU-hours until the incumbent is within δ of the benchmark's optimum "
            "(regret ≤ δ, in the validation metric's units): median over the runs that got there, and how many did."
            + (
                ' For real-clock methods the hours are real compute hours of the machine that ran them ("h real"), '
                "and for one-shot methods an evaluation is an epoch."
                if real_any
                else ""
            ),
        ),
    ]
    sc = report.search_cost
    for task in report.tasks:
        sub = sc[sc["task"] == task]
        if sub.empty:
            continue
        deltas = sorted(sub["delta"].unique())
        rows = []
        for method in sorted(sub["method"].unique()):
            cells = []
            clock = str(sub[sub["method"] == method]["clock"].iloc[0])
            unit = "h" if clock == SIMULATED_CLOCK else "h real"
            for d in deltas:
                r = sub[(sub["method"] == method) & (sub["delta"] == d)].iloc[0]
                hours = f" / {fmt_g(r.median_sim_gpu_hours)} {unit}" if report.tasks[task].time_grid is not None else ""
                cells.append(f"{fmt_g(r.median_evaluations)} evals{hours} ({r.reached}/{r.runs})")
            rows.append([method, clock, *cells])
        blocks.append(Block("h3", task))
        blocks.append(Block("table", headers=["method", "clock", *[f"δ = {d:g}" for d in deltas]], rows=rows))
    return blocks


def _curve_blocks(report: Report, stems: dict[str, list[str]]) -> list[Block]:
    blocks = [Block("h2", "Anytime curves")]
    for task, info in report.tasks.items():
        if info.multi_objective:
            continue
        blocks.append(Block("h3", task))
        for stem in stems.get(task, []):
            axis = time_words(info.clocks) if stem.endswith("_time") else "evaluations"
            ref = (
                ""
                if axis != "evaluations" or info.reference is None
                else " Dashed: expected random search without replacement (closed form)."
            )
            if stem.endswith("_time") and info.real_methods:
                ref = (
                    f" Dashed, marked{REAL_MARK}: {', '.join(info.real_methods)}, "
                    "timed in real compute seconds of the machine that "
                    "ran them (not comparable 1:1 with simulated seconds)."
                )
            blocks.append(Block("figure", text=f"{task}: mean with 95 % bootstrap band vs {axis}.{ref}", figure=stem))
        if info.time_grid is None:
            blocks.append(Block("p", f"{info.benchmark} records no training cost: no curves against simulated time."))
        if not info.has_test:
            blocks.append(
                Block("p", f"{info.benchmark} has no test metric: the test-accuracy panel is empty on purpose.")
            )
    return blocks


def _mo_blocks(report: Report, stems: dict[str, list[str]]) -> list[Block]:
    mo = [t for t, i in report.tasks.items() if i.multi_objective]
    if not mo:
        return []
    blocks = [Block("h2", "Multi-objective tasks")]
    for task in mo:
        info = report.tasks[task]
        blocks.append(Block("h3", task))
        if info.hv_ref is not None:
            blocks.append(
                Block(
                    "p",
                    "Hypervolume of normalised objectives (best observed → 0, worst observed → 1 over all runs of this "
                    "task) against the reference point of the worst observed values: "
                    + ", ".join(f"{o} = {v:.6g}" for o, v in zip(info.objectives, info.hv_ref, strict=False))
                    + ".",
                )
            )
        sub = report.hv_table[report.hv_table["task"] == task] if not report.hv_table.empty else report.hv_table
        if len(sub):
            blocks.append(
                Block(
                    "table",
                    headers=["budget", "method", "n", "HV mean ± s.e.", "HV median [IQR]"],
                    rows=[
                        [
                            Cut(r.budget_kind, r.budget_value).short,
                            r.method,
                            f"{r.n_seeds}" + (f" (of {r.runs})" if r.n_seeds != r.runs else ""),
                            plus_minus(r.hv_mean, r.hv_se, 4),
                            f"{fmt(r.hv_median, 4)} [{fmt(r.hv_q25, 4)}, {fmt(r.hv_q75, 4)}]",
                        ]
                        for r in sub.itertuples()
                    ],
                )
            )
        for stem in stems.get(task, []):
            blocks.append(
                Block(
                    "figure",
                    text=f"{task}: {'final Pareto fronts' if stem.startswith('pareto') else HV_CAPTION}.",
                    figure=stem,
                )
            )
    return blocks


def _checklist_blocks(report: Report) -> list[Block]:
    blocks = [
        Block("h2", "Best-practices checklist"),
        Block(
            "p",
            "Lindauer & Hutter, “Best Practices for Scientific Research on Neural Architecture Search”, "
            "JMLR 21 (2020): "
            "the 14 practices paraphrased, with what the run manifests show. “cannot show” marks items the "
            "harness has no evidence for; they are left to the authors.",
        ),
        Block(
            "table",
            headers=["#", "group", "practice", "status", "evidence"],
            rows=[[str(i.number), i.group, i.practice, i.status, i.evidence] for i in report.checklist],
        ),
    ]
    hp = report.hyperparameters
    blocks.append(Block("h3", "Hyperparameters"))
    blocks.append(
        Block(
            "table",
            headers=["method", "strategy", "hyperparameters"],
            rows=[[r.method, r.strategy, r.hyperparameters] for r in hp.itertuples()],
        )
    )
    real = report.result.real_methods()
    blocks.append(
        Block(
            "p",
            f"Total compute: {report.total_gpu_h:.4g} simulated GPU-hours (sum of evaluation costs"
            + (
                f" of the simulated-clock methods), {report.total_real_h:.4g} real CPU/GPU hours of this machine "
                f"({', '.join(real)}: real compute seconds summed)"
                if real
                else ")"
            )
            + f" and {report.total_wall_s:.4g} s wall-clock over all runs.",
        )
    )
    return blocks


def document(report: Report, stems: dict[str, list[str]]) -> list[Block]:
    """The whole report page as blocks, in reading order; `stems` are the plot stems per section (make_plots)."""
    blocks = [
        Block("h1", "NAS benchmark report"),
        Block(
            "p",
            f"{len(report.result.complete)} complete runs, {len(report.tasks)} task(s), "
            f"{len(report.result.methods())} method(s). Generated by `nas-harness report`.",
        ),
    ]
    blocks += _runs_blocks(report)
    blocks += _leaderboard_blocks(report, stems)
    blocks += _final_blocks(report)
    blocks += _cost_blocks(report)
    blocks += _curve_blocks(report, stems)
    blocks += ops_blocks(report, stems)
    blocks += _mo_blocks(report, stems)
    blocks += _checklist_blocks(report)
    blocks += [Block("h2", "Methods and notes"), Block("list", items=report.notes)]
    return blocks
