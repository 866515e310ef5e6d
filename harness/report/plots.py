"""A report's plots: anytime curves, critical-difference diagrams, Pareto fronts, hypervolume, op histograms.

matplotlib's object API only (Figure + Agg/SVG canvases, no pyplot state), with a fixed SVG hash
salt and no date, so the same results give byte-identical PNG and SVG files.
"""

from __future__ import annotations

import contextlib
import gc
import io
import math
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np

from harness.report import REFERENCE_LABEL, Leaderboard, Report, TaskInfo
from harness.report.labels import (
    OPS_STEM,
    PLOTS,
    REAL_MARK,
    has_time_cut,
    legend_label,
    marked,
    method_title,
    slug,
    step_word,
    time_axis,
    time_words,
)
from harness.report.ops import PARAM_FREE_OPS, SHARE_COLUMN, OpHistograms, is_param_free
from harness.results import SIMULATED_CLOCK
from tabular.errors import NasHarnessError

PARAM_FREE_COLOURS = {
    "none": "#e0e0e0",
    "avg_pool_3x3": "#c4c4c4",
    "max_pool_3x3": "#a3a3a3",
    "skip_connect": "#7a7a7a",
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


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while matplotlib builds and draws the figures.

    Why: matplotlib's import and each figure allocate ~10^5 container objects, enough to trigger full
    collections that walk the report's whole heap: ~0.1-0.2 s CPU of the ~1.1 s the plots of the 2,000-run
    paper grid took. Nothing drawn changes. The previous state is restored afterwards, and `_make_plots`
    frees each finished figure's cycles with a young-generation collection, so garbage never exceeds one
    figure. The collector is process-wide: a program plotting reports from several threads at once would
    see it paused for all of them while one plots (nas-harness itself plots from one thread).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _colours(methods: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"] if len(methods) <= 10 else colormaps["tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(methods)}


FONT_TITLE, FONT_LABEL, FONT_TICK, FONT_LEGEND = 12, 11, 10, 11  # points: readable at a paper's column width
ZOOM_AT = 0.10  # accuracy panels start at the methods' mean values this far along the x axis


def _regret_floor(arrays: list[np.ndarray]) -> float:
    """A power of ten at or below the smallest positive regret: the end of the symlog axis's linear part.

    Why symlog: a regret of 0 (the optimum found) has no place on a log axis; on a symmetric-log axis
    it is drawn at 0, a real tick, while positive regrets keep their decades.
    """
    finite = [a[np.isfinite(a)] for a in arrays if a is not None and a.size]
    vals = np.concatenate(finite) if finite else np.array([])
    pos = vals[vals > 0]
    if pos.size == 0:
        return 1e-3
    return float(10.0 ** math.floor(math.log10(pos.min())))


def _fitted_limits(
    bands: dict[str, dict], metric: str, maximize: bool, extra: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[float, float] | None:
    """Y range of an accuracy panel fitted to the part of the curves that matters.

    The worse end is the worst method mean at ZOOM_AT of the horizon (evaluations or seconds, also
    when the time axis is drawn log-spaced): the first
    evaluations are poor for every method and would otherwise stretch the axis (62 % ... 94 %) until
    late differences vanish. The better end is the best band edge after that point. `extra` adds
    (x, y) curves such as the random-search reference.
    """
    curves = [(b.x, b.mean, b.lo, b.hi) for mb in bands.values() if (b := mb.get(metric)) is not None and b.x.size]
    curves += [(x, y, y, y) for x, y in extra if x.size and np.isfinite(y).any()]
    if not curves:
        return None
    x0 = min(float(c[0][0]) for c in curves)
    x1 = max(float(c[0][-1]) for c in curves)
    cut = x0 + ZOOM_AT * (x1 - x0)
    starts, ends = [], []
    for x, mean, lo, hi in curves:
        t = np.asarray(x, dtype=np.float64)
        i = max(int(np.searchsorted(t, cut, side="right")) - 1, 0)
        late = t >= t[i]
        starts.append(float(mean[i]))
        ends.append(float(np.nanmax(hi[late])) if maximize else float(np.nanmin(lo[late])))
    worst = min(starts) if maximize else max(starts)
    best = max(ends) if maximize else min(ends)
    lo, hi = (worst, best) if maximize else (best, worst)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    return lo - pad, hi + pad


def _message(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True, fontsize=FONT_LABEL,
            color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])


def _integer_x(ax) -> None:
    """Evaluations (and epochs) are counts: integer ticks only."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))


def _symlog_regret(ax, floor: float, top: float) -> None:
    """Regret on a symmetric-log axis: linear below `floor` so that 0 (the optimum) is a tick, log above."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_yscale("symlog", linthresh=floor, linscale=0.35)
    ax.set_ylim(bottom=0.0, top=max(top * 1.6, floor * 2))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "0" if v == 0 else f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _panel_titles(info: TaskInfo) -> dict[str, str]:
    valid = info.valid_label or info.valid_metric
    test = info.test_label or "test accuracy"
    return {
        "valid": f"incumbent {valid} (seed mean)",
        "test": f"incumbent {test}",
        "regret": "validation regret (0 = optimum found)",
    }


def _curve_panels(info: TaskInfo, bands: dict[str, dict], colours: dict[str, Any], axis: str) -> Any:
    fig = _figure(15, 5.4, left=0.055, right=0.99, top=0.86, bottom=0.3, wspace=0.25)
    axes = fig.subplots(1, 3)
    clocks = {m: info.clocks.get(m, SIMULATED_CLOCK) for m in bands}
    time_label, time_scale = time_axis(clocks)
    scale = time_scale if axis == "time" else 1.0
    regret_arrays = [a for b in bands.values() if b.get("regret") is not None for a in (b["regret"].lo,
                                                                                        b["regret"].mean,
                                                                                        b["regret"].hi)]
    ref = info.reference
    if axis == "evaluations" and ref is not None:
        regret_arrays.append(ref.regret)
    floor = _regret_floor(regret_arrays)
    finite_tops = [float(np.nanmax(a)) for a in regret_arrays if a.size and np.isfinite(a).any()]
    titles = _panel_titles(info)
    unit = f" ({info.unit})" if info.unit else ""
    for ax, metric in zip(axes, ("valid", "test", "regret"), strict=False):
        ax.tick_params(labelsize=FONT_TICK)
        if metric == "test" and not info.has_test:
            _message(ax, f"no test metric in {info.benchmark}:\nnothing to plot")
            continue
        for method, mb in bands.items():
            b = mb.get(metric)
            if b is None:
                continue
            x = b.x * scale
            real = axis == "time" and clocks[method] != SIMULATED_CLOCK  # real compute seconds: dashed, marked
            label = legend_label(method, b.n, REAL_MARK if real else "")
            ax.step(x, b.mean, where="post", color=colours[method], label=label, lw=1.8, ls="--" if real else "-")
            ax.fill_between(x, b.lo, b.hi, step="post", color=colours[method], alpha=0.2, lw=0)
        extra: list[tuple[np.ndarray, np.ndarray]] = []
        if axis == "evaluations" and ref is not None:
            y = {"valid": ref.valid_mean, "test": ref.test, "regret": ref.regret}[metric]
            if np.isfinite(y).any():
                label = REFERENCE_LABEL if ref.exact else "E[random search], seed-mean selection"
                ax.plot(ref.ks, y, color="black", ls="--", lw=1.3, label=label)
                extra.append((np.asarray(ref.ks, dtype=np.float64), np.asarray(y, dtype=np.float64)))
        if metric == "regret":
            _symlog_regret(ax, floor, max(finite_tops) if finite_tops else floor)
        elif (limits := _fitted_limits(bands, metric, info.maximize, extra)) is not None:
            ax.set_ylim(*limits)
        if axis == "time":
            ax.set_xscale("log")
            ax.set_xlabel(time_label, fontsize=FONT_LABEL)
        else:
            ax.set_xlabel("evaluations", fontsize=FONT_LABEL)
            _integer_x(ax)
        words = {
            "valid": (info.valid_label or info.valid_metric) + unit,
            "test": (info.test_label or "test accuracy") + unit,
            "regret": "validation regret" + unit,
        }
        ax.set_ylabel(words[metric], fontsize=FONT_LABEL)
        ax.grid(True, alpha=0.3)
    _legend_below(fig, axes[2])
    fig.suptitle(
        f"{info.task}: anytime performance vs {time_words(clocks) if axis == 'time' else 'evaluations'}",
        fontsize=FONT_TITLE + 1,
    )
    for ax, metric in zip(axes, ("valid", "test", "regret"), strict=False):
        ax.set_title(titles[metric], fontsize=FONT_TITLE, y=_title_y(ax))  # last: needs the final axes
        _merge_minor_xticks(ax)
    return fig


def _title_y(ax) -> float | None:
    """1.0, where matplotlib's automatic placement puts an axes title here, when that is certain; else None.

    Why: automatic placement (y None) measures the y axis's tick labels again on every draw, ~5 % of the
    plots' CPU, only to lift the title over a y offset text ("+9.34e1") that these axes show just for very
    narrow ranges; x ticks are never on top here. So the formatter is asked for its offset at the final
    limits and ticks: none means the title's automatic place is exactly y = 1.0.
    """
    formatter = ax.yaxis.get_major_formatter()
    formatter.set_locs(ax.yaxis.get_majorticklocs())
    return None if formatter.get_offset() else 1.0


def _merge_minor_xticks(ax) -> None:
    """Draw a log x axis's minor tick marks as one marker line instead of one `Tick` object each.

    Why: matplotlib builds a `Tick` (three lines, two texts) per minor tick and draws each separately; the
    log-scaled time panels have ~18 minor ticks per panel, ~8 % of the plots' CPU. One `Line2D` copying
    the first minor tick's marker style, at the locations matplotlib would draw (its locator, overlaps with
    major ticks removed, kept when inside the view interval), puts the same marks on the same pixels. Call it
    last, once the axes' data, limits and size are final.
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullLocator

    xaxis = ax.xaxis
    if ax.get_xscale() != "log" or isinstance(xaxis.get_minor_locator(), NullLocator):
        return
    locs = np.asarray(xaxis.get_minorticklocs(), dtype=np.float64)
    lo_t, hi_t = sorted(xaxis.get_transform().transform(np.asarray(ax.get_xlim(), dtype=np.float64)))
    with np.errstate(divide="ignore", invalid="ignore"):
        locs_t = xaxis.get_transform().transform(locs)
    tol = (hi_t - lo_t) * 1e-10  # matplotlib's own tolerance for ticks at the view's ends
    locs = locs[np.isfinite(locs_t) & (locs_t >= lo_t - tol) & (locs_t <= hi_t + tol)]
    proto = xaxis.get_minor_ticks(1)[0]
    if locs.size and proto.tick1line.get_visible():
        marks = Line2D(locs, np.zeros(locs.size))
        marks.update_from(proto.tick1line)
        marks.set_zorder(xaxis.get_zorder())
        marks.set_label("_minor_xticks")  # leading underscore: matplotlib's mark for "not a data line / legend entry"
        ax.add_artist(marks)
        marks.set_clip_on(False)
    xaxis.set_minor_locator(NullLocator())


def _legend_below(fig, ax) -> None:
    """One legend for the figure, under the panels, at a readable size, in as many columns as fit."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    width_in = fig.get_figwidth()
    longest = max(len(t) for t in labels)
    per_row = max(1, min(len(labels), int(width_in / (0.085 * longest + 0.6))))
    rows = math.ceil(len(labels) / per_row)
    height_in = fig.get_figheight()
    fig.subplots_adjust(bottom=(0.75 + 0.28 * rows) / height_in)
    fig.legend(handles, labels, loc="lower center", ncol=per_row, fontsize=FONT_LEGEND, frameon=False)


def _cd_figure(lb: Leaderboard, alpha: float, clocks: dict[str, str] | None = None) -> Any:
    k = len(lb.methods)
    order = np.argsort(lb.avg_ranks, kind="stable")
    half = (k + 1) // 2
    height = 1.2 + 0.32 * half + 0.18 * len(lb.cliques)
    # Room outside the rank axis for the method labels, so they are not clipped at the figure's edges:
    # the figure widens with long labels, and pad solves pad / (k + 0.2 + 2 pad) = label width / axes width.
    names = [
        (method_title(m) + REAL_MARK if marked(m, clocks or {}) != m else method_title(m))
        if has_time_cut(lb.budget)
        else method_title(m)
        for m in lb.methods
    ]
    longest = max(len(f"{m} ({r:.2f})") for m, r in zip(names, lb.avg_ranks, strict=False))
    label_in = 0.08 * longest + 0.1
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
            fontsize=10,
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
        hv = info.hv_bands.get(method)
        seeds = hv.n if hv is not None else "?"
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
            label=f"{legend_label(method)} (union of {seeds} seeds)",
        )
        ax.plot(f[:, 0] * sign[0], f[:, 1] * sign[1], "o", color=colours[method], ms=4)
    arrows = ["↑ better" if m else "↓ better" for m in info.obj_maximize]
    ax.set_xlabel(f"{o[0]} ({arrows[0]})")
    ax.set_ylabel(f"{o[1]} ({arrows[1]})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=FONT_TICK)
    extra = f" (first two of {len(o)} objectives)" if len(o) > 2 else ""
    ax.set_title(f"{info.task}: final Pareto fronts, union over seeds{extra}", fontsize=10)
    return fig


def _hv_figure(info: TaskInfo, colours: dict[str, Any]) -> Any:
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    for method, b in info.hv_bands.items():
        if b is None:
            continue
        ax.step(b.x, b.mean, where="post", color=colours[method], label=legend_label(method, b.n))
        ax.fill_between(b.x, b.lo, b.hi, step="post", color=colours[method], alpha=0.2, lw=0)
    ax.set_xlabel("evaluations")
    _integer_x(ax)
    ax.set_ylabel("normalised hypervolume")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=FONT_TICK)
    ax.set_title(f"{info.task}: hypervolume vs evaluations", fontsize=10)
    return fig


def _op_colours(ops: list[str]) -> dict[str, Any]:
    """Greys for parameter-free ops (the drift shows as grey filling the bars), tab10 for the others."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    weighted = [o for o in ops if not is_param_free(o)]
    out: dict[str, Any] = {o: cmap(i % cmap.N) for i, o in enumerate(weighted)}
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
        ax.set_title(f"{method_title(method)} on {task} (n={n})", fontsize=10)
        ax.set_ylim(0, 1)
        ax.set_xlabel(step_word(report, task, method))
        ax.set_ylabel("share of op slots")
        if steps.size <= 12:
            ax.set_xticks(steps)
            ax.set_xticklabels([f"{int(x)}" for x in steps])
        else:
            _integer_x(ax)
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
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), per_row), fontsize=9, frameon=False)
    fig.suptitle("Ops of the picked cells, summed over seeds (grey: parameter-free)", fontsize=11)
    return fig


def make_plots(report: Report) -> tuple[dict[str, bytes], dict[str, list[str]]]:
    """All plot files (path -> bytes) and, per section key, the plot stems in display order.

    Drawn with the garbage collector paused (see `_gc_paused`): the same figures and bytes, less CPU.
    """
    with _gc_paused():
        return _make_plots(report)


def _make_plots(report: Report) -> tuple[dict[str, bytes], dict[str, list[str]]]:
    files: dict[str, bytes] = {}
    stems: dict[str, list[str]] = {}

    def add(stem: str, build: Callable[[], Any]) -> None:
        files.update(_save(build(), stem))
        # The figure is garbage now; its reference cycles are all young objects, so a generation-0
        # collection frees them cheaply without walking the report's heap.
        gc.collect(0)

    colours = _colours(report.result.methods())
    for task, info in report.tasks.items():
        names = []
        if not info.multi_objective:
            stem = f"curves_{slug(task)}_evaluations"
            add(stem, partial(_curve_panels, info, info.eval_bands, colours, "evaluations"))
            names.append(stem)
            if info.time_grid is not None:
                stem = f"curves_{slug(task)}_time"
                add(stem, partial(_curve_panels, info, info.time_bands, colours, "time"))
                names.append(stem)
        else:
            if info.fronts and len(info.objectives) >= 2:
                stem = f"pareto_{slug(task)}"
                add(stem, partial(_pareto_figure, info, colours))
                names.append(stem)
            if info.hv_bands:
                stem = f"hypervolume_{slug(task)}"
                add(stem, partial(_hv_figure, info, colours))
                names.append(stem)
        stems[task] = names
    for lb in report.leaderboards:
        if lb.cd is not None:
            stem = f"cd_{lb.budget.stem}"
            add(stem, partial(_cd_figure, lb, report.alpha, report.result.clocks()))
            stems[stem] = [stem]
    if report.op_histograms is not None and not report.op_histograms.empty:
        add(OPS_STEM, partial(_ops_figure, report, report.op_histograms))
        stems[OPS_STEM] = [OPS_STEM]
    return files, stems
