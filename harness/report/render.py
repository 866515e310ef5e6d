"""Write a computed Report: Markdown, CSV, LaTeX, PNG + SVG plots and one self-contained HTML page.

The Markdown and HTML pages come from one list of blocks (heading, paragraph, table, figure, list),
so they cannot drift apart. Plots use matplotlib's object API (Figure + Agg/SVG canvases, no
pyplot state) with a fixed SVG hash salt and no date, so the same results give byte-identical
files. Every file is written atomically. The output folder is refused when it is non-empty and
not a previous report (unless --force, which replaces same-named files and keeps all others);
rewriting a previous report removes only the files that report itself listed, and of those only
report file names that resolve inside the output folder (stale_files).
"""
from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.report import REFERENCE_LABEL, Leaderboard, Report, TaskInfo
from harness.report.budgets import SIM_SECONDS, Budget, Cut, seconds_text
from harness.report.load import REPORT_MARKER, SIMULATED_CLOCK
from harness.report.ops import PARAM_FREE_OPS, SHARE_COLUMN, OpHistograms, is_param_free
from tabular.atomic import atomic_write_bytes
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

GENERATOR = "nas-harness report"
PLOTS = "plots"
REAL_MARK = " (real s)"  # after the name of a method timed in real compute seconds, wherever its time is shown
TIME_AXIS_SIMULATED = "simulated time (GPU-hours)"
TIME_AXIS_MIXED = "seconds: simulated (solid) / real compute (dashed)"
TIME_AXIS_REAL = "real compute seconds"
OPS_STEM = "op_histograms"
OPS_TABLE_ROWS = 12  # per method in the Markdown/HTML per-epoch table; every step is in op_histograms.csv
PARAM_FREE_COLOURS = {"none": "#e0e0e0", "avg_pool_3x3": "#c4c4c4", "max_pool_3x3": "#a3a3a3", "skip_connect": "#7a7a7a"}
METRIC_TITLES = {"valid": "incumbent validation (seed mean)", "test": "incumbent test accuracy", "regret": "regret (log scale)"}


# -- document model ---------------------------------------------------------------------------------
@dataclass
class Block:
    kind: str  # h1 h2 h3 p table figure list
    text: str = ""
    headers: list[str] | None = None
    rows: list[list[str]] | None = None
    items: list[str] | None = None
    figure: str = ""  # plot stem under plots/


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.{digits}f}"


def _g(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{float(x):.3g}"


def _pm(mean: float, se: float, digits: int = 3) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {_fmt(se, digits)}"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "x"


def marked(method: str, clocks: dict[str, str]) -> str:
    """The method's name, with REAL_MARK when its time is real compute seconds."""
    return method + REAL_MARK if clocks.get(method, SIMULATED_CLOCK) != SIMULATED_CLOCK else method


def _real_in(clocks: dict[str, str], methods=None) -> list[str]:
    return [m for m, c in clocks.items() if c != SIMULATED_CLOCK and (methods is None or m in methods)]


def _has_time_cut(budget: Budget) -> bool:
    return any(c.kind == SIM_SECONDS for c in budget.cuts.values())


def _clock_suffix(cut: Cut | None, real: list[str]) -> str:
    """Heading suffix for a time budget that real-clock methods are read at in real seconds."""
    if cut is None or cut.kind != SIM_SECONDS or not real:
        return ""
    return f" (real compute seconds for {', '.join(real)})"


def time_axis(clocks: dict[str, str]) -> tuple[str, float]:
    """(x-axis label, scale from seconds) of plots against time: GPU-hours when every method is on
    the simulated clock (the look of tabular-only reports), seconds as soon as one is real."""
    real = _real_in(clocks)
    if not real:
        return TIME_AXIS_SIMULATED, 1 / 3600.0
    return (TIME_AXIS_REAL if len(real) == len(clocks) else TIME_AXIS_MIXED), 1.0


# -- plots ---------------------------------------------------------------------------------------------
def _figure(width: float, height: float, **adjust: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is a dependency of the report
        raise NasHarnessError("the report needs matplotlib for its plots; install it with `pip install matplotlib`") from None
    fig = Figure(figsize=(width, height), dpi=100)
    # Fixed margins rather than constrained layout: the latter doubles the report's run time.
    fig.subplots_adjust(**{"left": 0.1, "right": 0.97, "top": 0.9, "bottom": 0.12, **adjust})
    return fig


def _save(fig, stem: str) -> dict[str, bytes]:
    import matplotlib

    out = {}
    with matplotlib.rc_context({"svg.hashsalt": stem, "svg.fonttype": "path"}):
        for fmt in ("png", "svg"):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else {"Software": None})
            out[f"{PLOTS}/{stem}.{fmt}"] = buf.getvalue()
    return out


def _colours(methods: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"] if len(methods) <= 10 else colormaps["tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(methods)}


def _regret_limits(arrays: list[np.ndarray]) -> tuple[float, float]:
    """(floor values are clipped to, axis bottom): a power of ten below the smallest positive value;
    the axis reaches down to the floor only when some value (a regret of 0) had to be clipped."""
    finite = [a[np.isfinite(a)] for a in arrays if a is not None and a.size]
    vals = np.concatenate(finite) if finite else np.array([])
    pos = vals[vals > 0]
    if pos.size == 0:
        return 1e-3, 1e-3 * 0.9
    floor = 10.0 ** math.floor(math.log10(pos.min()))
    return floor, floor * 0.9 if (vals <= 0).any() else pos.min() * 0.8


def _accuracy_limits(bands: dict[str, dict], metric: str, log_x: bool) -> tuple[float, float] | None:
    """Y range that leaves out the first 5 % of the x axis, whose poor values would flatten the rest."""
    lows, highs = [], []
    for mb in bands.values():
        b = mb.get(metric)
        if b is None or b.x.size == 0:
            continue
        x = np.log(b.x) if log_x else b.x
        late = x >= x[0] + 0.05 * (x[-1] - x[0])
        lows.append(np.min(b.lo[late]))
        highs.append(np.max(b.hi[late]))
    if not lows:
        return None
    lo, hi = min(lows), max(highs)
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    return lo - pad, hi + pad


def _message(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True, fontsize=9, color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])


def _curve_panels(info: TaskInfo, bands: dict[str, dict], colours: dict[str, Any], axis: str) -> Any:
    fig = _figure(15, 4.6, left=0.05, right=0.99, top=0.86, bottom=0.27, wspace=0.22)
    axes = fig.subplots(1, 3)
    clocks = {m: info.clocks.get(m, SIMULATED_CLOCK) for m in bands}
    time_label, time_scale = time_axis(clocks)
    scale = time_scale if axis == "time" else 1.0
    regret_arrays = [b["regret"].lo for b in bands.values() if b.get("regret") is not None]
    regret_arrays += [b["regret"].mean for b in bands.values() if b.get("regret") is not None]
    if axis == "evaluations" and info.reference is not None:
        regret_arrays.append(info.reference.regret)
    floor, bottom = _regret_limits(regret_arrays)
    for ax, metric in zip(axes, ("valid", "test", "regret")):
        ax.set_title(METRIC_TITLES[metric], fontsize=10)
        if metric == "test" and not info.has_test:
            _message(ax, f"no test metric in {info.benchmark}:\nnothing to plot")
            continue
        for method, mb in bands.items():
            b = mb.get(metric)
            if b is None:
                continue
            x = b.x * scale
            lo, mean, hi = b.lo, b.mean, b.hi
            if metric == "regret":
                lo, mean, hi = (np.maximum(v, floor) for v in (lo, mean, hi))
            real = axis == "time" and clocks[method] != SIMULATED_CLOCK  # real compute seconds: dashed, marked
            name = marked(method, clocks) if axis == "time" else method
            ax.step(x, mean, where="post", color=colours[method], label=f"{name} (n={b.n})", lw=1.6, ls="--" if real else "-")
            ax.fill_between(x, lo, hi, step="post", color=colours[method], alpha=0.2, lw=0)
        ref = info.reference
        if axis == "evaluations" and ref is not None:
            y = {"valid": ref.valid_mean, "test": ref.test, "regret": np.maximum(ref.regret, floor)}[metric]
            if np.isfinite(y).any():
                label = REFERENCE_LABEL if ref.exact else "E[random search], seed-mean selection"
                ax.plot(ref.ks, y, color="black", ls="--", lw=1.2, label=label)
        if metric == "regret":
            from matplotlib.ticker import FuncFormatter

            ax.set_yscale("log")
            ax.set_ylim(bottom=bottom)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(f"{v:.0e}")[0] in "25" else ""))
        elif (limits := _accuracy_limits(bands, metric, axis == "time")) is not None:
            ax.set_ylim(*limits)
        if axis == "time":
            ax.set_xscale("log")
            ax.set_xlabel(time_label)
        else:
            ax.set_xlabel("evaluations")
        unit = f" ({info.unit})" if info.unit else ""
        ax.set_ylabel({"valid": info.valid_metric + unit, "test": "test accuracy" + unit, "regret": "regret" + unit}[metric])
        ax.grid(True, alpha=0.3)
    handles, labels = axes[2].get_legend_handles_labels()
    if handles:
        per_row = 5 if max(len(t) for t in labels) <= 24 else 3
        rows = math.ceil(len(labels) / per_row)
        fig.subplots_adjust(bottom=0.16 + 0.045 * rows)
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), per_row), fontsize=8, frameon=False)
    fig.suptitle(f"{info.task}: anytime performance vs {_time_words(clocks) if axis == 'time' else 'evaluations'}", fontsize=11)
    return fig


def _time_words(clocks: dict[str, str]) -> str:
    """What the time axis measures, in words: 'simulated time', 'real compute time' or both."""
    label, _ = time_axis(clocks)
    return {TIME_AXIS_SIMULATED: "simulated time", TIME_AXIS_REAL: "real compute time"}.get(label, "time (simulated, and real compute for dashed methods)")


def _cd_figure(lb: Leaderboard, alpha: float, clocks: dict[str, str] | None = None) -> Any:
    k = len(lb.methods)
    order = np.argsort(lb.avg_ranks, kind="stable")
    half = (k + 1) // 2
    height = 1.2 + 0.32 * half + 0.18 * len(lb.cliques)
    # Room outside the rank axis for the method labels, so they are not clipped at the figure's edges:
    # the figure widens with long labels, and pad solves pad / (k + 0.2 + 2 pad) = label width / axes width.
    names = [marked(m, clocks or {}) if _has_time_cut(lb.budget) else m for m in lb.methods]
    longest = max(len(f"{m} ({r:.2f})") for m, r in zip(names, lb.avg_ranks))
    label_in = 0.065 * longest + 0.1
    width = max(8.0, 2 * label_in + 4.0)
    fig = _figure(width, height, left=0.02, right=0.98, top=0.86, bottom=0.02)
    ax = fig.subplots()
    pad = label_in * (k + 0.2) / (0.96 * width - 2 * label_in)
    ax.set_xlim(0.4 - pad, k + 0.6 + pad)
    top = 0.0
    bottom = -(0.6 + 0.35 * half + 0.2 * len(lb.cliques))
    ax.set_ylim(bottom, 0.9)
    ax.axis("off")
    ax.plot([1, k], [top, top], color="black", lw=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [top, top + 0.08], color="black", lw=1)
        ax.text(r, top + 0.12, str(r), ha="center", va="bottom", fontsize=8)
    if lb.cd is not None:
        ax.plot([1, 1 + lb.cd], [0.62, 0.62], color="black", lw=2)
        ax.text(1 + lb.cd / 2, 0.68, f"CD = {lb.cd:.2f} (Nemenyi, α = {alpha})", ha="center", va="bottom", fontsize=8)
    clique_y0 = -0.15
    for c_i, clique in enumerate(lb.cliques):
        rs = lb.avg_ranks[list(clique)]
        y = clique_y0 - 0.15 * c_i
        ax.plot([rs.min() - 0.03, rs.max() + 0.03], [y, y], color="black", lw=3, solid_capstyle="round")
    label_y0 = clique_y0 - 0.15 * len(lb.cliques) - 0.25
    for pos, idx in enumerate(order):
        r = lb.avg_ranks[idx]
        left = pos < half
        row = pos if left else k - 1 - pos
        y = label_y0 - 0.35 * row
        x_text = 0.45 if left else k + 0.55
        ax.plot([r, r, x_text], [top, y, y], color="0.25", lw=0.8)
        ax.text(x_text + (-0.02 if left else 0.02), y, f"{names[idx]} ({r:.2f})", ha="right" if left else "left",
                va="center", fontsize=8, clip_on=False)
    fig.suptitle(f"Average rank across {len(lb.tasks)} benchmarks {lb.budget.label} (lower is better)", fontsize=10)
    return fig


def _pareto_figure(info: TaskInfo, colours: dict[str, Any]) -> Any:
    fig = _figure(7, 5)
    ax = fig.subplots()
    o = info.objectives
    sign = np.where(info.obj_maximize, -1.0, 1.0)[:2]
    for method, front in info.fronts.items():
        if front.size == 0:
            continue
        f = front[:, :2] * sign  # minimisation form, where the attained region's edge is a staircase
        f = f[np.lexsort((-f[:, 1], f[:, 0]))]
        stairs = np.empty((2 * len(f) - 1, 2))
        stairs[0::2] = f
        stairs[1::2, 0], stairs[1::2, 1] = f[1:, 0], f[:-1, 1]
        stairs *= sign
        ax.plot(stairs[:, 0], stairs[:, 1], "-", color=colours[method], lw=1, label=f"{method} (union of {info.hv_bands[method].n if info.hv_bands.get(method) else '?'} seeds)")
        ax.plot(f[:, 0] * sign[0], f[:, 1] * sign[1], "o", color=colours[method], ms=4)
    arrows = ["↑ better" if m else "↓ better" for m in info.obj_maximize]
    ax.set_xlabel(f"{o[0]} ({arrows[0]})")
    ax.set_ylabel(f"{o[1]} ({arrows[1]})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    extra = f" (first two of {len(o)} objectives)" if len(o) > 2 else ""
    ax.set_title(f"{info.task}: final Pareto fronts, union over seeds{extra}", fontsize=10)
    return fig


def _hv_figure(info: TaskInfo, colours: dict[str, Any]) -> Any:
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    for method, b in info.hv_bands.items():
        if b is None:
            continue
        ax.step(b.x, b.mean, where="post", color=colours[method], label=f"{method} (n={b.n})")
        ax.fill_between(b.x, b.lo, b.hi, step="post", color=colours[method], alpha=0.2, lw=0)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("normalised hypervolume")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{info.task}: hypervolume vs evaluations", fontsize=10)
    return fig


def _step_word(report: Report, task: str, method: str) -> str:
    """What a one-shot trajectory's step counts: an epoch, or (zerocost) a scored cell."""
    cell = report.result.cell(task, method)
    return "scored cell" if cell and cell[0].strategy == "zerocost" else "epoch"


def _op_colours(ops: list[str]) -> dict[str, Any]:
    """Greys for parameter-free ops (the drift shows as grey filling the bars), tab10 for the others."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    weighted = [o for o in ops if not is_param_free(o)]
    out = {o: cmap(i % cmap.N) for i, o in enumerate(weighted)}
    out.update({o: PARAM_FREE_COLOURS.get(o, "0.5") for o in ops if is_param_free(o)})
    return out


def _stack_order(ops: list[str]) -> list[str]:
    """Parameter-free ops at the bottom of each bar, so their share is the height of the grey part."""
    return [o for o in PARAM_FREE_OPS if o in ops] + [o for o in ops if not is_param_free(o)]


def _ops_figure(report: Report, hist: OpHistograms) -> Any:
    groups = hist.groups()
    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    all_ops = list(dict.fromkeys(o for g in groups for o in hist.ops[g]))
    per_row = 4
    legend_rows = math.ceil((len(all_ops) + 1) / per_row)
    width = max(8.0, 4.6 * ncols + 0.6)  # the legend (up to 10 ops) needs the room even for one panel
    height = 3.2 * nrows + 0.9 + 0.25 * legend_rows
    fig = _figure(width, height, left=0.6 / width, right=1 - 0.15 / width, top=1 - 0.6 / height,
                  bottom=(0.75 + 0.25 * legend_rows) / height, wspace=0.25, hspace=0.55)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).reshape(-1)
    colours = _op_colours(all_ops)
    for ax, (task, method) in zip(axes, groups):
        sub = hist.group(task, method)
        steps = sub["step"].to_numpy(dtype=np.float64)
        ops = _stack_order(hist.ops[(task, method)])
        counts = sub[ops].to_numpy(dtype=np.float64)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
        width = 0.8 * (float(np.min(np.diff(steps))) if steps.size > 1 else 1.0)
        bottom = np.zeros(steps.size)
        for j, op in enumerate(ops):
            ax.bar(steps, shares[:, j], width, bottom=bottom, color=colours[op], lw=0, label=op)
            bottom += shares[:, j]
        ax.plot(steps, sub[SHARE_COLUMN].to_numpy(dtype=np.float64), color="black", lw=1.2, marker="o", ms=3,
                label="parameter-free share")
        n = int(sub["n_runs"].max())
        ax.set_title(f"{method} on {task} (n={n})", fontsize=9)
        ax.set_ylim(0, 1)
        ax.set_xlabel(_step_word(report, task, method))
        ax.set_ylabel("share of op slots")
        if steps.size <= 12:
            ax.set_xticks(steps)
            ax.set_xticklabels([f"{int(x)}" for x in steps])
        ax.grid(True, axis="y", alpha=0.3)
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in axes[:len(groups)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    names = [f"{lab} (param-free)" if is_param_free(lab) else lab for lab in labels]
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), per_row), fontsize=8, frameon=False)
    fig.suptitle("Ops of the picked cells, summed over seeds (grey: parameter-free)", fontsize=11)
    return fig


def make_plots(report: Report) -> tuple[dict[str, bytes], dict[str, list[str]]]:
    """All plot files (path -> bytes) and, per section key, the plot stems in display order."""
    files: dict[str, bytes] = {}
    stems: dict[str, list[str]] = {}
    colours = _colours(report.result.methods())
    for task, info in report.tasks.items():
        names = []
        if not info.multi_objective:
            stem = f"curves_{slug(task)}_evaluations"
            files.update(_save(_curve_panels(info, info.eval_bands, colours, "evaluations"), stem))
            names.append(stem)
            if info.time_grid is not None:
                stem = f"curves_{slug(task)}_time"
                files.update(_save(_curve_panels(info, info.time_bands, colours, "time"), stem))
                names.append(stem)
        else:
            if info.fronts and len(info.objectives) >= 2:
                stem = f"pareto_{slug(task)}"
                files.update(_save(_pareto_figure(info, colours), stem))
                names.append(stem)
            if info.hv_bands:
                stem = f"hypervolume_{slug(task)}"
                files.update(_save(_hv_figure(info, colours), stem))
                names.append(stem)
        stems[task] = names
    for lb in report.leaderboards:
        if lb.cd is not None:
            stem = f"cd_{lb.budget.stem}"
            files.update(_save(_cd_figure(lb, report.alpha, report.result.clocks()), stem))
            stems[stem] = [stem]
    if report.op_histograms is not None and not report.op_histograms.empty:
        files.update(_save(_ops_figure(report, report.op_histograms), OPS_STEM))
        stems[OPS_STEM] = [OPS_STEM]
    return files, stems


# -- document ------------------------------------------------------------------------------------------
def _runs_blocks(report: Report) -> list[Block]:
    res = report.result
    counts = res.counts()
    blocks = [Block("h2", "Runs"),
              Block("p", f"Results folder `{res.root}`: {len(res.runs)} run folders — " + ", ".join(f"{v} {k}" for k, v in counts.items())
                    + ". Only complete runs enter the statistics; every other run is listed below.")]
    rt = report.runs_table
    grouped = rt.groupby(["task", "method", "status"]).size().unstack(fill_value=0)
    rows = []
    for (task, method), row in grouped.iterrows():
        rows.append([task, method] + [str(int(row.get(s, 0))) for s in counts])
    blocks.append(Block("table", headers=["task", "method", *counts.keys()], rows=rows))
    bad = rt[rt["status"] != "complete"]
    if len(bad):
        blocks.append(Block("h3", "Runs not used"))
        blocks.append(Block("table", headers=["run", "status", "task", "method", "seed", "reason"],
                            rows=[[r.run_id, r.status, r.task, r.method, str(r.seed) if pd.notna(r.seed) else "?", r.reason] for r in bad.itertuples()]))
    if res.ignored:
        blocks.append(Block("p", f"Ignored folders (not RUN_ID folders): {', '.join(res.ignored)}."))
    if report.warnings:
        blocks.append(Block("list", items=[f"Warning: {w}" for w in report.warnings]))
    blocks.append(Block("h3", "Budgets and seeds"))
    blocks.append(Block("p", report.budgets_note + "."))
    bt = report.budgets_table
    if not report.result.real_methods():
        blocks.append(Block("table", headers=["task", "method", "budget", "runs", "seeds", "evaluations (min–max)", "last completion, simulated s (min–max)"],
                            rows=[[r.task, r.method, r.budget, str(r.runs), r.seeds, f"{r.evaluations_min}–{r.evaluations_max}",
                                   f"{seconds_text(round(r.last_sim_time_min))}–{seconds_text(round(r.last_sim_time_max))}"] for r in bt.itertuples()]))
    else:  # real-clock runs end after seconds: no rounding to whole seconds, and the clock says which seconds
        blocks.append(Block("table", headers=["task", "method", "clock", "budget", "runs", "seeds", "evaluations (min–max)",
                                              "last completion, s on the method's clock (min–max)"],
                            rows=[[r.task, r.method, r.clock, r.budget, str(r.runs), r.seeds, f"{r.evaluations_min}–{r.evaluations_max}",
                                   f"{_seconds(r.last_sim_time_min)}–{_seconds(r.last_sim_time_max)}"] for r in bt.itertuples()]))
    return blocks


def _seconds(value: float) -> str:
    return seconds_text(round(value)) if value >= 100 else f"{value:.3g}"


def _leaderboard_blocks(report: Report, stems: dict[str, list[str]]) -> list[Block]:
    blocks = [Block("h2", "Leaderboard")]
    if not report.leaderboards:
        blocks.append(Block("p", "No single-objective task: no leaderboard (multi-objective tasks are compared by hypervolume below)."))
    clocks = report.result.clocks()
    for lb in report.leaderboards:
        timed = _has_time_cut(lb.budget)
        blocks.append(Block("h3", _title(lb.budget) + (_clock_suffix(lb.budget.uniform, _real_in(clocks, lb.methods))
                                                        if lb.budget.uniform is not None else "")))
        if lb.budget.uniform is None:
            blocks.append(Block("p", "Each task at its own default budget: " + "; ".join(
                f"{t} {c.label}{_clock_suffix(c, report.tasks[t].real_methods if t in report.tasks else [])}" for t, c in lb.budget.cuts.items()) + "."))
        if lb.dropped_tasks:
            blocks.append(Block("list", items=[f"Task not ranked (no result at this budget): {why}" for why in lb.dropped_tasks.values()]))
        if not lb.methods:
            blocks.append(Block("p", "No method has a result at this budget on every benchmark."))
            continue
        per_task = lb.budget.uniform is None
        headers = ["method", "avg rank"] + [f"{t}{' (' + lb.budget.cuts[t].short + ')' if per_task else ''}: mean regret ± s.e. (n) [rank]"
                                            for t in lb.tasks]
        order = np.argsort(lb.avg_ranks, kind="stable")
        rows = []
        se = report.final_table.set_index(["budget", "task", "method"])["regret_se"]
        for j in order:
            m = lb.methods[j]
            cells = [f"{_pm(lb.mean_regret[i, j], se.get((lb.budget.key, t, m), float('nan')))} ({lb.n[i, j]}) [{lb.ranks[i, j]:g}]"
                     for i, t in enumerate(lb.tasks)]
            rows.append([marked(m, clocks) if timed else m, f"{lb.avg_ranks[j]:.2f}", *cells])
        blocks.append(Block("table", headers=headers, rows=rows))
        text = lb.friedman_note + "."
        if lb.cd is not None:
            text += (f" Nemenyi critical difference CD = {lb.cd:.3f} (q_α = {lb.q_alpha:.3f}, k = {len(lb.methods)}, "
                     f"N = {len(lb.tasks)}); average ranks closer than CD are not significantly different")
            if lb.friedman is not None and lb.friedman.p_value >= report.alpha:
                text += f" (the Friedman test does not reject equal performance at α = {report.alpha}, so the post-hoc test is only descriptive)"
            text += "."
        blocks.append(Block("p", text))
        if lb.excluded:
            blocks.append(Block("list", items=[f"{m} not ranked: {why}" for m, why in sorted(lb.excluded.items())]))
        if timed and _real_in(clocks, lb.methods):
            blocks.append(Block("p", f"Methods marked{REAL_MARK} are read at the time budget in real compute seconds of the machine "
                                     "that ran them, the others in simulated seconds (see the notes)."))
        for stem in stems.get(f"cd_{lb.budget.stem}", []):
            blocks.append(Block("figure", text=f"Critical-difference diagram {lb.budget.label}.", figure=stem))
    return blocks


def _final_blocks(report: Report) -> list[Block]:
    blocks = [Block("h2", "Final results"),
              Block("p", "Per method and task at each budget: mean ± standard error, median and interquartile range [q25, q75] "
                         "over the n seeds whose run has a result at the budget (after N evaluations: the incumbent after the "
                         "N-th evaluation; at T simulated seconds: the incumbent after the last evaluation completed by T). "
                         "Runs whose own budget ends earlier are left out and counted. The clock column says what a time budget "
                         "counts for each method: simulated seconds, or real compute seconds of the machine that ran it.")]
    ft = report.final_table
    for b in report.budgets:
        for task, info in report.tasks.items():
            sub = ft[(ft["budget"] == b.key) & (ft["task"] == task)]
            cut = b.cut(task)
            if sub.empty or cut is None:
                continue
            blocks.append(Block("h3", f"{task} {cut.label}{_clock_suffix(cut, info.real_methods)}"))
            rows = []
            for r in sub.itertuples():
                n_txt = f"{r.n_seeds}" + (f" (of {r.runs}{_left_out(r.n_short, r.n_empty, cut.kind)})" if r.n_seeds != r.runs else "")
                test = ([_pm(r.test_mean, r.test_se), f"{_fmt(r.test_median)} [{_fmt(r.test_q25)}, {_fmt(r.test_q75)}]"]
                        if info.has_test else ["n/a (no test metric)", "n/a"])
                rows.append([r.method, r.clock, n_txt, *test, _pm(r.regret_mean, r.regret_se),
                             f"{_fmt(r.regret_median)} [{_fmt(r.regret_q25)}, {_fmt(r.regret_q75)}]"])
            blocks.append(Block("table", headers=["method", "clock", "n", "test mean ± s.e.", "test median [IQR]", "regret mean ± s.e.", "regret median [IQR]"], rows=rows))
    return blocks


def _title(budget: Budget) -> str:
    label = budget.label
    return label[0].upper() + label[1:]


def _task_at(budget: Budget, task: str) -> str:
    """The task name, with its budget when the budget differs between tasks."""
    cut = budget.cut(task)
    return task if budget.uniform is not None or cut is None else f"{task} ({cut.short})"


def _left_out(n_short: int, n_empty: int, kind: str) -> str:
    parts = []
    if n_short:
        parts.append(f"{n_short} ended before it")
    if n_empty:
        parts.append(f"{n_empty} with no evaluation completed by then")
    return "; " + ", ".join(parts) if parts else ""


def _cost_blocks(report: Report) -> list[Block]:
    real_any = bool(report.result.real_methods())
    blocks = [Block("h2", "Search cost"),
              Block("p", "Evaluations and simulated GPU-hours until the incumbent is within δ of the benchmark's optimum "
                         "(regret ≤ δ, in the validation metric's units): median over the runs that got there, and how many did."
                         + (" For real-clock methods the hours are real compute hours of the machine that ran them (\"h real\"), "
                            "and for one-shot methods an evaluation is an epoch." if real_any else ""))]
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
                hours = f" / {_g(r.median_sim_gpu_hours)} {unit}" if report.tasks[task].time_grid is not None else ""
                cells.append(f"{_g(r.median_evaluations)} evals{hours} ({r.reached}/{r.runs})")
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
            axis = _time_words(info.clocks) if stem.endswith("_time") else "evaluations"
            ref = "" if axis != "evaluations" or info.reference is None else " Dashed: expected random search without replacement (closed form)."
            if stem.endswith("_time") and info.real_methods:
                ref = (f" Dashed, marked{REAL_MARK}: {', '.join(info.real_methods)}, timed in real compute seconds of the machine that "
                       "ran them (not comparable 1:1 with simulated seconds).")
            blocks.append(Block("figure", text=f"{task}: mean with 95 % bootstrap band vs {axis}.{ref}", figure=stem))
        if info.time_grid is None:
            blocks.append(Block("p", f"{info.benchmark} records no training cost: no curves against simulated time."))
        if not info.has_test:
            blocks.append(Block("p", f"{info.benchmark} has no test metric: the test-accuracy panel is empty on purpose."))
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
            blocks.append(Block("p", "Hypervolume of normalised objectives (best observed → 0, worst observed → 1 over all runs of this "
                                     "task) against the reference point of the worst observed values: "
                                     + ", ".join(f"{o} = {v:.6g}" for o, v in zip(info.objectives, info.hv_ref)) + "."))
        sub = report.hv_table[report.hv_table["task"] == task] if not report.hv_table.empty else report.hv_table
        if len(sub):
            blocks.append(Block("table", headers=["budget", "method", "n", "HV mean ± s.e.", "HV median [IQR]"],
                                rows=[[Cut(r.budget_kind, r.budget_value).short, r.method, f"{r.n_seeds}" + (f" (of {r.runs})" if r.n_seeds != r.runs else ""), _pm(r.hv_mean, r.hv_se, 4),
                                       f"{_fmt(r.hv_median, 4)} [{_fmt(r.hv_q25, 4)}, {_fmt(r.hv_q75, 4)}]"] for r in sub.itertuples()]))
        for stem in stems.get(task, []):
            blocks.append(Block("figure", text=f"{task}: {'final Pareto fronts' if stem.startswith('pareto') else 'hypervolume over evaluations (mean, 95 % bootstrap band)'}.", figure=stem))
    return blocks


def _share(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):.1f} %"


def _thin_steps(steps: np.ndarray, at_most: int) -> np.ndarray:
    """At most `at_most` evenly spread steps, always the first and the last."""
    if steps.size <= at_most:
        return steps
    return steps[np.unique(np.round(np.linspace(0, steps.size - 1, at_most)).astype(int))]


def _op_row(r: pd.Series, ops: list[str], own: list[str]) -> list[str]:
    """One table row of op counts; "–" for an op the method's space does not have."""
    return [str(r["method"]), str(int(r["step"])), str(int(r["n_runs"])),
            *[str(int(r[o])) if o in own else "–" for o in ops], _share(r[SHARE_COLUMN])]


def _ops_blocks(report: Report, stems: dict[str, list[str]]) -> list[Block]:
    """The op histograms of one-shot picks: nothing at all when no run recorded op_ columns."""
    hist = report.op_histograms
    if hist is None or hist.empty:
        return []
    present = list(dict.fromkeys(o for g in hist.groups() for o in hist.ops[g]))
    blocks = [Block("h2", "Op histograms of one-shot picks"),
              Block("p", "Ops of the cell each one-shot search picked after each epoch (zerocost: after each scored cell), counted "
                         "over the cell's op slots and summed over the method's seeds (n runs). Parameter-free ops ("
                         + ", ".join(o for o in PARAM_FREE_OPS if o in present) + ") have no trainable weights; a growing "
                         "parameter-free share is the known failure mode of DARTS-like searches (the supernet favours skip "
                         "connections, pooling and none, and the picked cell degenerates). All steps are in `op_histograms.csv`.")]
    tasks = list(dict.fromkeys(t for t, _ in hist.groups()))
    final = hist.final()
    for task in tasks:
        methods = [m for t, m in hist.groups() if t == task]
        ops = list(dict.fromkeys(o for m in methods for o in hist.ops[(task, m)]))
        words = {_step_word(report, task, m) for m in methods}
        step = next(iter(words)) if len(words) == 1 else "step (epoch or scored cell)"
        headers = ["method", step, "n runs", *ops, "param-free share"]
        blocks.append(Block("h3", task))
        last = final[final["benchmark"] == task]
        blocks.append(Block("p", f"Final picks (last {step} of each method):"))
        blocks.append(Block("table", headers=headers, rows=[_op_row(r, ops, hist.ops[(task, r["method"])]) for _, r in last.iterrows()]))
        rows, thinned = [], False
        for method in methods:
            sub = hist.group(task, method)
            keep = _thin_steps(sub["step"].to_numpy(), OPS_TABLE_ROWS)
            thinned |= keep.size < len(sub)
            rows += [_op_row(r, ops, hist.ops[(task, method)]) for _, r in sub[sub["step"].isin(keep)].iterrows()]
        blocks.append(Block("p", f"Per {step}" + (f" (at most {OPS_TABLE_ROWS} evenly spread {step}s per method, always the first "
                                                  "and the last; every one is in `op_histograms.csv`)" if thinned else "") + ":"))
        blocks.append(Block("table", headers=headers, rows=rows))
    for stem in stems.get(OPS_STEM, []):
        blocks.append(Block("figure", text="Share of each op among the op slots of the picked cells per epoch, summed over seeds; "
                                           "parameter-free ops in grey at the bottom of each bar, their share as the black line.",
                            figure=stem))
    return blocks


def _checklist_blocks(report: Report) -> list[Block]:
    blocks = [Block("h2", "Best-practices checklist"),
              Block("p", "Lindauer & Hutter, “Best Practices for Scientific Research on Neural Architecture Search”, JMLR 21 (2020): "
                         "the 14 practices paraphrased, with what the run manifests show. “cannot show” marks items the "
                         "harness has no evidence for; they are left to the authors."),
              Block("table", headers=["#", "group", "practice", "status", "evidence"],
                    rows=[[str(i.number), i.group, i.practice, i.status, i.evidence] for i in report.checklist])]
    hp = report.hyperparameters
    blocks.append(Block("h3", "Hyperparameters"))
    blocks.append(Block("table", headers=["method", "strategy", "hyperparameters"], rows=[[r.method, r.strategy, r.hyperparameters] for r in hp.itertuples()]))
    real = report.result.real_methods()
    blocks.append(Block("p", f"Total compute: {report.total_gpu_h:.4g} simulated GPU-hours (sum of evaluation costs"
                             + (f" of the simulated-clock methods), {report.total_real_h:.4g} real CPU/GPU hours of this machine "
                                f"({', '.join(real)}: real compute seconds summed)" if real else ")")
                             + f" and {report.total_wall_s:.4g} s wall-clock over all runs."))
    return blocks


def document(report: Report, stems: dict[str, list[str]]) -> list[Block]:
    blocks = [Block("h1", "NAS benchmark report"),
              Block("p", f"{len(report.result.complete)} complete runs, {len(report.tasks)} task(s), "
                         f"{len(report.result.methods())} method(s). Generated by `nas-harness report`.")]
    blocks += _runs_blocks(report)
    blocks += _leaderboard_blocks(report, stems)
    blocks += _final_blocks(report)
    blocks += _cost_blocks(report)
    blocks += _curve_blocks(report, stems)
    blocks += _ops_blocks(report, stems)
    blocks += _mo_blocks(report, stems)
    blocks += _checklist_blocks(report)
    blocks += [Block("h2", "Methods and notes"), Block("list", items=report.notes)]
    return blocks


# -- Markdown, HTML, LaTeX, CSV ----------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out += ["#" * int(b.kind[1]) + " " + b.text, ""]
        elif b.kind == "p":
            out += [b.text, ""]
        elif b.kind == "list":
            out += [f"- {item}" for item in b.items or []] + [""]
        elif b.kind == "table":
            out.append("| " + " | ".join(_md_cell(h) for h in b.headers or []) + " |")
            out.append("|" + "|".join("---" for _ in b.headers or []) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows or []]
            out.append("")
        elif b.kind == "figure":
            out += [f"![{b.text}]({PLOTS}/{b.figure}.png)", "", f"*{b.text}* ([SVG]({PLOTS}/{b.figure}.svg))", ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1400px;padding:0 1rem;color:#222}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f2f2f2}
tr:nth-child(even) td{background:#fafafa}figure{margin:1rem 0}figure svg{max-width:100%;height:auto}
figcaption{font-size:.85rem;color:#555}code{background:#f4f4f4;padding:0 .2rem}
"""


def _inline(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _svg_inline(svg: bytes) -> str:
    text = svg.decode("utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def to_html(blocks: list[Block], files: dict[str, bytes]) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>NAS benchmark report</title>", f"<style>{_CSS}</style></head><body>"]
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            parts.append(f"<{b.kind}>{_inline(b.text)}</{b.kind}>")
        elif b.kind == "p":
            parts.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "list":
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items or []) + "</ul>")
        elif b.kind == "table":
            head = "".join(f"<th>{_inline(h)}</th>" for h in b.headers or [])
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in b.rows or [])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "figure":
            svg = files.get(f"{PLOTS}/{b.figure}.svg")
            if svg is not None:
                content = _svg_inline(svg)
            else:
                data = base64.b64encode(files[f"{PLOTS}/{b.figure}.png"]).decode()
                content = f'<img alt="{html.escape(b.text)}" src="data:image/png;base64,{data}">'
            parts.append(f"<figure>{content}<figcaption>{_inline(b.text)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _tex(text: str) -> str:
    repl = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "δ": r"$\delta$",
            "α": r"$\alpha$", "–": "--", "χ": r"$\chi$", "²": r"$^2$"}
    return "".join(repl.get(ch, ch) for ch in str(text))


def to_latex(report: Report) -> str:
    lines = ["% nas-harness report: leaderboard tables (needs \\usepackage{booktabs})", ""]
    ft = report.final_table.set_index(["budget", "task", "method"])
    clocks = report.result.clocks()
    for lb in report.leaderboards:
        if not lb.methods:
            continue
        cols = "l" + "r" * (len(lb.tasks) + 1)
        lines += ["\\begin{table}[t]", "\\centering", "\\small",
                  f"\\caption{{Mean regret $\\pm$ s.e. (number of seeds) {_tex(lb.budget.label + _clock_suffix(lb.budget.uniform, _real_in(clocks, lb.methods)))} and average rank across "
                  f"benchmarks (lower is better). {_tex(lb.friedman_note)}"
                  + (f"; Nemenyi CD $= {lb.cd:.3f}$ at $\\alpha = {report.alpha}$" if lb.cd is not None else "") + ".}",
                  f"\\begin{{tabular}}{{{cols}}}", "\\toprule",
                  "Method & " + " & ".join(_tex(_task_at(lb.budget, t)) for t in lb.tasks) + " & Avg.\\ rank \\\\", "\\midrule"]
        for j in np.argsort(lb.avg_ranks, kind="stable"):
            m = lb.methods[j]
            cells = []
            for i, t in enumerate(lb.tasks):
                se = ft.loc[(lb.budget.key, t, m), "regret_se"]
                cells.append(f"{lb.mean_regret[i, j]:.3f} $\\pm$ {_fmt(se)} ({lb.n[i, j]})")
            lines.append(f"{_tex(marked(m, clocks) if _has_time_cut(lb.budget) else m)} & " + " & ".join(cells) + f" & {lb.avg_ranks[j]:.2f} \\\\")
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    for b in report.budgets:
        sub = report.final_table[report.final_table["budget"] == b.key]
        lines += ["\\begin{table}[t]", "\\centering", "\\small",
                  f"\\caption{{Test accuracy and regret {_tex(b.label + _clock_suffix(b.uniform, _real_in(clocks)))}: mean $\\pm$ s.e., median [IQR], n seeds.}}",
                  "\\begin{tabular}{lllrllll}", "\\toprule",
                  "Task & Method & Clock & n & Test & Test median [IQR] & Regret & Regret median [IQR] \\\\", "\\midrule"]
        for r in sub.itertuples():
            has_test = report.tasks[r.task].has_test
            test = (f"{_fmt(r.test_mean)} $\\pm$ {_fmt(r.test_se)}", f"{_fmt(r.test_median)} [{_fmt(r.test_q25)}, {_fmt(r.test_q75)}]") if has_test else ("n/a", "n/a")
            lines.append(f"{_tex(_task_at(b, r.task))} & {_tex(r.method)} & {r.clock} & {r.n_seeds} & {test[0]} & {_tex(test[1])} & "
                         f"{_fmt(r.regret_mean)} $\\pm$ {_fmt(r.regret_se)} & {_tex(f'{_fmt(r.regret_median)} [{_fmt(r.regret_q25)}, {_fmt(r.regret_q75)}]')} \\\\")
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n").encode()


def _curves_csv(report: Report) -> pd.DataFrame:
    """Every curve drawn; `clock` is the clock of the method's time ("n/a" for the reference, which has none)."""
    rows = []
    for task, info in report.tasks.items():
        for axis, bands in (("evaluations", info.eval_bands), ("sim_time", info.time_bands)):
            for method, mb in bands.items():
                for metric, b in mb.items():
                    if b is None:
                        continue
                    rows.append(pd.DataFrame({"task": task, "method": method, "axis": axis, "metric": metric, "x": b.x,
                                              "mean": b.mean, "lo": b.lo, "hi": b.hi, "n": b.n,
                                              "clock": info.clocks.get(method, SIMULATED_CLOCK)}))
        ref = info.reference
        if ref is not None:
            for metric, y in (("valid", ref.valid_mean), ("test", ref.test), ("regret", ref.regret)):
                rows.append(pd.DataFrame({"task": task, "method": REFERENCE_LABEL, "axis": "evaluations", "metric": metric,
                                          "x": ref.ks, "mean": y, "lo": np.nan, "hi": np.nan, "n": 0, "clock": "n/a"}))
        for method, b in info.hv_bands.items():
            if b is not None:
                rows.append(pd.DataFrame({"task": task, "method": method, "axis": "evaluations", "metric": "hypervolume",
                                          "x": b.x, "mean": b.mean, "lo": b.lo, "hi": b.hi, "n": b.n,
                                          "clock": info.clocks.get(method, SIMULATED_CLOCK)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def leaderboard_csv(report: Report) -> pd.DataFrame:
    cols = ["budget", "budget_kind", "budget_value", "task", "method", "clock", "runs", "n_seeds", "n_short", "n_empty", "rank", "avg_rank"]
    stats = [c for c in report.final_table.columns if c not in cols]
    return report.final_table[cols + stats]


def render_files(report: Report) -> dict[str, bytes]:
    """Every output file of the report as relative path -> bytes (nothing written yet)."""
    plots, stems = make_plots(report)
    blocks = document(report, stems)
    files: dict[str, bytes] = dict(plots)
    files["leaderboard.md"] = to_markdown(blocks).encode()
    files["leaderboard.csv"] = _csv(leaderboard_csv(report))
    files["leaderboard.tex"] = to_latex(report).encode()
    files["search_cost.csv"] = _csv(report.search_cost)
    files["runs.csv"] = _csv(report.runs_table)
    files["curves.csv"] = _csv(_curves_csv(report))
    if not report.hv_table.empty:
        files["hypervolume.csv"] = _csv(report.hv_table)
    if report.op_histograms is not None and not report.op_histograms.empty:
        files["op_histograms.csv"] = _csv(report.op_histograms.table)
    files["index.html"] = to_html(blocks, plots).encode()
    return files


# -- writing -----------------------------------------------------------------------------------------
# Every file name a report writes (render_files), and the plots' pattern: rewriting a previous
# report deletes what its report.json lists only if it is one of these, so a crafted or damaged
# report.json cannot make `report` delete anything else. A new output file must be added here.
REPORT_FILES = frozenset({"leaderboard.md", "leaderboard.csv", "leaderboard.tex", "search_cost.csv", "runs.csv",
                          "curves.csv", "hypervolume.csv", "op_histograms.csv", "index.html",
                          "transfer.md", "transfer.csv", "transfer_runs.csv"})  # the last three: --score-on
PLOT_FILE_RE = re.compile(rf"^{PLOTS}/[A-Za-z0-9_-]+\.(png|svg)$")


def is_report_file(rel: str) -> bool:
    """True for a relative path (forward slashes) that a report writes: a known name or plots/<stem>.png|svg."""
    return rel in REPORT_FILES or PLOT_FILE_RE.match(rel) is not None


def _read_marker(out: Path) -> tuple[dict | None, str]:
    """(marker, "") for a previous report's report.json; (None, why) when there is none or it is damaged.

    A damaged marker (not JSON, not an object, not ours, `files` not a list of strings) is treated
    as absent: the folder then counts as someone else's, which is refused without --force.
    """
    path = out / REPORT_MARKER
    if not path.is_file():
        return None, ""
    try:
        marker = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None, "it is not valid JSON"
    if not isinstance(marker, dict) or marker.get("generator") != GENERATOR:
        return None, f"it is not a {GENERATOR!r} marker"
    files = marker.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None, "its 'files' is not a list of file names"
    return marker, ""


def check_out_dir(out: Path, results_root: Path, force: bool) -> dict | None:
    """Refuse an output folder we could clobber; returns the previous report's marker, if any."""
    if out.resolve() == results_root.resolve():
        raise NasHarnessError(f"--out {out} is the results folder itself; choose a subfolder (default: {results_root / 'report'})")
    if out.exists() and not out.is_dir():
        raise NasHarnessError(f"--out {out} exists and is not a folder")
    previous, damaged = _read_marker(out) if out.is_dir() else (None, "")
    if out.is_dir() and any(out.iterdir()) and previous is None and not force:
        why = f" ({REPORT_MARKER} is there but {damaged}, so it is ignored)" if damaged else ""
        raise NasHarnessError(
            f"--out {out} is not empty and holds no previous report{why}; choose an empty folder, or pass --force to write "
            "into it (same-named files are replaced, other files are kept)"
        )
    return previous


def stale_files(previous: dict, out: Path, keep: set[str] | dict[str, bytes]) -> list[Path]:
    """Files of the previous report (its report.json `files`) that this one no longer writes and may delete.

    Only report file names (is_report_file) that resolve, symlinks followed, strictly inside `out`
    qualify; every other entry (absolute paths, `..`, symlinks leading out, names a report never
    writes) is left alone with a warning, whatever report.json says.
    """
    root = out.resolve()
    found = []
    for rel in previous.get("files", []):
        if rel in keep:
            continue
        path = out / rel
        if not is_report_file(rel):
            log.warning("%s lists %r, which is not a file a report writes; left alone", out / REPORT_MARKER, rel)
            continue
        resolved = path.resolve()
        if resolved == root or not resolved.is_relative_to(root):
            log.warning("%s lists %r, which leads outside %s; left alone", out / REPORT_MARKER, rel, out)
            continue
        if path.is_file():
            found.append(path)
    return found


def write_report(report: Report, out: str | Path, *, force: bool = False, files: dict[str, bytes] | None = None) -> list[Path]:
    """Write every file of the report into `out` (`files`: from render_files, if already rendered)."""
    out = Path(out)
    previous = check_out_dir(out, report.result.root, force)
    files = render_files(report) if files is None else files
    (out / PLOTS).mkdir(parents=True, exist_ok=True)
    marker = {"generator": GENERATOR, "complete": False, "results": str(report.result.root), "files": sorted(files)}
    atomic_write_bytes(out / REPORT_MARKER, json.dumps(marker, indent=2).encode())
    written = []
    for rel, data in sorted(files.items()):
        atomic_write_bytes(out / rel, data)
        written.append(out / rel)
    if previous:
        for path in stale_files(previous, out, files):
            path.unlink()  # a plot of the previous report that this one no longer has
    budgets = [{"key": b.key, "label": b.label, "cuts": {t: [c.kind, c.value] for t, c in b.cuts.items()}} for b in report.budgets]
    marker.update(complete=True, budgets=budgets, bootstrap=report.n_boot, alpha=report.alpha, seed=report.seed,
                  counts=report.result.counts())
    atomic_write_bytes(out / REPORT_MARKER, json.dumps(marker, indent=2).encode())
    written.append(out / REPORT_MARKER)
    return written
