"""A report's plots: anytime curves, critical-difference diagrams, Pareto fronts, hypervolume, op histograms.

matplotlib's object API only (Figure + Agg/SVG canvases, no pyplot state), with a fixed SVG hash
salt and no date, so the same results give byte-identical PNG and SVG files.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from harness.report import REFERENCE_LABEL, Leaderboard, Report, TaskInfo
from harness.report.labels import OPS_STEM, PLOTS, has_time_cut, marked, slug, step_word, time_axis, time_words
from harness.report.ops import PARAM_FREE_OPS, SHARE_COLUMN, OpHistograms, is_param_free
from harness.results import SIMULATED_CLOCK
from tabular.errors import NasHarnessError

PARAM_FREE_COLOURS = {
    "none": "#e0e0e0",
    "avg_pool_3x3": "#c4c4c4",
    "max_pool_3x3": "#a3a3a3",
    "skip_connect": "#7a7a7a",
}
METRIC_TITLES = {
    "valid": "incumbent validation (seed mean)",
    "test": "incumbent test accuracy",
    "regret": "regret (log scale)",
}


# -- plots ---------------------------------------------------------------------------------------------
def _figure(width: float, height: float, **adjust: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is a dependency of the report
        raise NasHarnessError(
            "the report needs matplotlib for its plots; install it with `pip install matplotlib`"
        ) from None
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
    for ax, metric in zip(axes, ("valid", "test", "regret"), strict=False):
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
            ax.step(
                x,
                mean,
                where="post",
                color=colours[method],
                label=f"{name} (n={b.n})",
                lw=1.6,
                ls="--" if real else "-",
            )
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
        ax.set_ylabel(
            {"valid": info.valid_metric + unit, "test": "test accuracy" + unit, "regret": "regret" + unit}[metric]
        )
        ax.grid(True, alpha=0.3)
    handles, labels = axes[2].get_legend_handles_labels()
    if handles:
        per_row = 5 if max(len(t) for t in labels) <= 24 else 3
        rows = math.ceil(len(labels) / per_row)
        fig.subplots_adjust(bottom=0.16 + 0.045 * rows)
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), per_row), fontsize=8, frameon=False)
    fig.suptitle(
        f"{info.task}: anytime performance vs {time_words(clocks) if axis == 'time' else 'evaluations'}", fontsize=11
    )
    return fig


def _cd_figure(lb: Leaderboard, alpha: float, clocks: dict[str, str] | None = None) -> Any:
    k = len(lb.methods)
    order = np.argsort(lb.avg_ranks, kind="stable")
    half = (k + 1) // 2
    height = 1.2 + 0.32 * half + 0.18 * len(lb.cliques)
    # Room outside the rank axis for the method labels, so they are not clipped at the figure's edges:
    # the figure widens with long labels, and pad solves pad / (k + 0.2 + 2 pad) = label width / axes width.
    names = [marked(m, clocks or {}) if has_time_cut(lb.budget) else m for m in lb.methods]
    longest = max(len(f"{m} ({r:.2f})") for m, r in zip(names, lb.avg_ranks, strict=False))
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
        ax.text(
            x_text + (-0.02 if left else 0.02),
            y,
            f"{names[idx]} ({r:.2f})",
            ha="right" if left else "left",
            va="center",
            fontsize=8,
            clip_on=False,
        )
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
        ax.plot(
            stairs[:, 0],
            stairs[:, 1],
            "-",
            color=colours[method],
            lw=1,
            label=f"{method} (union of {info.hv_bands[method].n if info.hv_bands.get(method) else '?'} seeds)",
        )
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
    fig = _figure(
        width,
        height,
        left=0.6 / width,
        right=1 - 0.15 / width,
        top=1 - 0.6 / height,
        bottom=(0.75 + 0.25 * legend_rows) / height,
        wspace=0.25,
        hspace=0.55,
    )
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).reshape(-1)
    colours = _op_colours(all_ops)
    for ax, (task, method) in zip(axes, groups, strict=False):
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
        ax.plot(
            steps,
            sub[SHARE_COLUMN].to_numpy(dtype=np.float64),
            color="black",
            lw=1.2,
            marker="o",
            ms=3,
            label="parameter-free share",
        )
        n = int(sub["n_runs"].max())
        ax.set_title(f"{method} on {task} (n={n})", fontsize=9)
        ax.set_ylim(0, 1)
        ax.set_xlabel(step_word(report, task, method))
        ax.set_ylabel("share of op slots")
        if steps.size <= 12:
            ax.set_xticks(steps)
            ax.set_xticklabels([f"{int(x)}" for x in steps])
        ax.grid(True, axis="y", alpha=0.3)
    for ax in axes[len(groups) :]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in axes[: len(groups)]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=False):
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
