"""The interactive figures of index.html: Plotly charts with hover values, zoom, legend toggles and per-seed curves.

Why Plotly: its JavaScript can be embedded in the page once (harness.report.page includes it
inline), so the report stays one file that works with no network, as a dashboard would. The
PNG/SVG plots for papers are still written by harness.report.plots; these figures show the same
numbers (the bands of harness.report.model.TaskInfo) plus each seed's own trajectory on demand.
plotly is imported only here, and this module only by report rendering (light imports).

Every user string (method, task, benchmark names) is HTML-escaped before Plotly sees it: Plotly
reads a subset of HTML in labels, and its JSON is written with `<`, `>` and `/` escaped.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from harness.report import REFERENCE_LABEL, Report, TaskInfo
from harness.report.curves import Band, on_grid, run_curves
from harness.report.labels import REAL_MARK, legend_label, slug, time_axis, time_words
from harness.results import SIMULATED_CLOCK
from tabular.errors import NasHarnessError

# matplotlib's tab10 / tab20, so a method has the same colour here as in the PNG/SVG plots
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
TAB20 = [
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd", "#c5b0d5",
    "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d", "#17becf", "#9edae5",
]  # fmt: skip
PANELS = ("valid", "test", "regret")
ZOOM_AT = 0.10  # accuracy panels start at the methods' mean values this far along the x axis (as the PNG/SVG)
SEED_META = "seed"  # `meta` of a per-seed trace: what the page's seed toggle and its self-test look for
CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False}


def colours(methods: list[str]) -> dict[str, str]:
    """Method -> hex colour, in the order harness.report.plots assigns matplotlib's tab10/tab20."""
    palette = TAB10 if len(methods) <= 10 else TAB20
    return {m: palette[i % len(palette)] for i, m in enumerate(methods)}


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _num(values: np.ndarray) -> list[float | None]:
    """Six significant digits (the page's size), None for NaN/inf so Plotly draws a gap."""
    return [float(f"{v:.6g}") if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def _changes(y: np.ndarray) -> np.ndarray:
    """Indices where a step curve changes (and the last one): drawn as steps, they give the same picture."""
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return np.arange(0)
    same = (y[1:] == y[:-1]) | (np.isnan(y[1:]) & np.isnan(y[:-1]))
    keep = np.concatenate([[True], ~same])
    keep[-1] = True
    return np.flatnonzero(keep)


def _regret_floor(arrays: list[np.ndarray]) -> float:
    """A power of ten below the smallest positive regret: where a log axis draws a regret of 0."""
    vals = np.concatenate([a[np.isfinite(a)] for a in arrays if a is not None and a.size] or [np.array([])])
    pos = vals[vals > 0]
    return 10.0 ** math.floor(math.log10(pos.min())) if pos.size else 1e-3


def _log_ticks(values: list[np.ndarray]) -> dict[str, Any]:
    """Tick values 1-2-5 (only powers of ten over more than three decades) for a log axis over `values`,
    written in full ("0.2", "50"): Plotly's own minor labels on log axes are bare digits."""
    finite = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values] or [np.array([])])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size == 0:
        return {}
    lo, hi = math.floor(math.log10(finite.min())), math.ceil(math.log10(finite.max()))
    steps = (1,) if hi - lo > 3 else (1, 2, 5)
    ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in steps]
    ticks = [t for t in ticks if finite.min() / 1.01 <= t <= finite.max() * 1.01] or [10.0**lo]
    return {"tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]}


def _present(bands: dict[str, dict[str, Band | None]], metric: str) -> list[Band]:
    """The methods' bands of `metric` that exist."""
    return [b for mb in bands.values() if (b := mb.get(metric)) is not None]


def _fitted_range(bands: dict[str, dict], metric: str, maximize: bool, extra: list[tuple[np.ndarray, np.ndarray]]
                  ) -> tuple[float, float] | None:
    """Y range of an accuracy panel, by the rule of the PNG/SVG plots: from the worst method mean at ZOOM_AT
    of the x range (the first evaluations are poor for every method and would flatten late differences)
    to the best band edge after it. A double click on the chart shows everything."""
    curves = [(b.x, b.mean, b.lo, b.hi) for b in _present(bands, metric) if b.x.size]
    curves += [(x, y, y, y) for x, y in extra if x.size and np.isfinite(y).any()]
    if not curves:
        return None
    x0, x1 = min(float(c[0][0]) for c in curves), max(float(c[0][-1]) for c in curves)
    cut = x0 + ZOOM_AT * (x1 - x0)
    starts, ends = [], []
    for x, mean, lo, hi in curves:
        t = np.asarray(x, dtype=np.float64)
        i = max(int(np.searchsorted(t, cut, side="right")) - 1, 0)
        starts.append(float(mean[i]))
        ends.append(float(np.nanmax(hi[i:])) if maximize else float(np.nanmin(lo[i:])))
    worst, best = (min(starts), max(ends)) if maximize else (max(starts), min(ends))
    bottom, top = (worst, best) if maximize else (best, worst)
    if not (math.isfinite(bottom) and math.isfinite(top)):
        return None
    pad = 0.05 * (top - bottom) if top > bottom else 0.5
    return bottom - pad, top + pad


def _go():
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:  # pragma: no cover - plotly is a dependency of the report
        raise NasHarnessError("the HTML report needs plotly; install it with `pip install plotly`") from None
    return go, make_subplots


def _layout(fig: Any, title: str, height: int) -> None:
    fig.update_layout(
        template="plotly_white",
        title={"text": html.escape(title), "x": 0.01, "font": {"size": 15}},
        height=height,
        margin={"l": 60, "r": 20, "t": 90, "b": 60},
        hovermode="closest",
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0, "font": {"size": 13}},
        font={"size": 12},
    )


def _seed_menu(seed_idx: list[int]) -> list[dict]:
    """A dropdown that shows or hides every seed's own curve (the mean and band stay)."""
    if not seed_idx:
        return []
    return [
        {
            "type": "dropdown",
            "x": 1.0,
            "xanchor": "right",
            "y": 1.2,
            "yanchor": "top",
            "showactive": True,
            "buttons": [
                {"label": "mean ± 95 % band", "method": "restyle", "args": [{"visible": False}, seed_idx]},
                {"label": "mean, band and each seed", "method": "restyle", "args": [{"visible": True}, seed_idx]},
            ],
        }
    ]


def curve_figure(
    report: Report, info: TaskInfo, axis: str, palette: dict[str, str], seed_curves: dict[str, list] | None = None
) -> Any:
    """Validation, test and validation regret of every method against evaluations or time: mean, band, seeds.

    `seed_curves` (method -> each run's RunCurves, in the order of `report.result.cell`) spares the two
    figures of a task (evaluations, time) from reading every run's trajectory twice; computed when None.
    """
    go, make_subplots = _go()
    bands = info.eval_bands if axis == "evaluations" else info.time_bands
    clocks = {m: info.clocks.get(m, SIMULATED_CLOCK) for m in bands}
    time_label, time_scale = time_axis(clocks)
    scale = time_scale if axis == "time" else 1.0
    unit = f" ({info.unit})" if info.unit else ""
    titles = {
        "valid": f"incumbent {getattr(info, 'valid_label', '') or info.valid_metric} (seed mean){unit}",
        "test": f"incumbent {getattr(info, 'test_label', '') or 'test accuracy'}{unit}",
        "regret": f"validation regret{unit}, log axis",
    }
    panels = [p for p in PANELS if p != "test" or info.has_test]  # no empty panel for a benchmark without test
    fig = make_subplots(
        rows=1, cols=len(panels), horizontal_spacing=0.07, subplot_titles=[html.escape(titles[p]) for p in panels]
    )
    runs = {m: report.result.cell(info.task, m) for m in bands}
    if seed_curves is None:
        seed_curves = task_seed_curves(report, info)
    seed_curves = {m: seed_curves[m] for m in runs}
    regrets = [b.mean for b in _present(bands, "regret")]
    regrets += [c.regret for cs in seed_curves.values() for c in cs]
    floor = _regret_floor(regrets)
    seed_idx: list[int] = []
    shown: set[str] = set()
    # Traces are collected and the figure is made once at the end, without Plotly re-validating each trace:
    # the thousands of per-seed traces (one per run and panel, plain lists, numbers and strings) are dicts,
    # and add_trace's validation, copies and subplot bookkeeping per trace cost more CPU than the rest of the
    # report. The band, mean and reference traces are validated when built (go.Scatter).
    data: list[dict[str, Any]] = []

    def add(trace: Any, col: int) -> None:
        spec = trace if isinstance(trace, dict) else trace.to_plotly_json()
        data.append({**spec, "xaxis": "x" if col == 1 else f"x{col}", "yaxis": "y" if col == 1 else f"y{col}"})

    for col, metric in enumerate(panels, start=1):
        for method, mb in bands.items():
            b = mb.get(metric)
            if b is None:
                continue
            colour, real = palette.get(method, "#444444"), axis == "time" and clocks[method] != SIMULATED_CLOCK
            name = html.escape(method)
            clip = (lambda v: np.maximum(v, floor)) if metric == "regret" else (lambda v: v)
            x = _num(b.x * scale)
            add(go.Scatter(y=_num(clip(b.lo)), mode="lines", line={"width": 0, "shape": "hv"}, x=x,
                                     legendgroup=method, showlegend=False, hoverinfo="skip", name=name), col)
            add(go.Scatter(y=_num(clip(b.hi)), mode="lines", fill="tonexty", fillcolor=_rgba(colour, 0.18),
                                     line={"width": 0, "shape": "hv"}, x=x, legendgroup=method, showlegend=False,
                                     hoverinfo="skip", name=name), col)
            add(
                go.Scatter(
                    y=_num(clip(b.mean)),
                    customdata=[list(t) for t in zip(_num(b.mean), _num(b.lo), _num(b.hi), strict=True)],
                    mode="lines",
                    name=html.escape(legend_label(method, b.n, REAL_MARK if real else "")),
                    showlegend=method not in shown,
                    hovertemplate="%{fullData.name}<br>x = %{x:.4g}<br>mean %{customdata[0]:.4g}"
                    "<br>95 % band [%{customdata[1]:.4g}, %{customdata[2]:.4g}]<extra></extra>",
                    x=x,
                    legendgroup=method,
                    line={"shape": "hv", "color": colour, "width": 2, "dash": "dash" if real else "solid"},
                ),
                col,
            )
            shown.add(method)
            for run, curve in zip(runs[method], seed_curves[method], strict=True):
                y = curve.metric(metric)
                xs = np.arange(1, y.size + 1, dtype=np.float64)
                if axis == "time" and info.time_grid is not None:
                    xs, y = info.time_grid, on_grid(curve, metric, info.time_grid)
                keep = _changes(y)
                seed_idx.append(len(data))
                add(
                    dict(
                        type="scatter",
                        x=_num(xs[keep] * scale),
                        y=_num(clip(y[keep])),
                        customdata=_num(y[keep]),
                        mode="lines",
                        visible=False,
                        meta=SEED_META,
                        legendgroup=method,
                        showlegend=False,
                        opacity=0.55,
                        name=html.escape(f"{method} seed {run.seed} ({run.run_id})"),
                        line={"shape": "hv", "color": colour, "width": 1, "dash": "dot" if real else "solid"},
                        hovertemplate="%{fullData.name}<br>x = %{x:.4g}<br>%{customdata:.4g}<extra></extra>",
                    ),
                    col,
                )
        ref = info.reference
        references: list[tuple[np.ndarray, np.ndarray]] = []
        if axis == "evaluations" and ref is not None and metric != "regret":
            references.append((np.asarray(ref.ks, dtype=np.float64), ref.valid_mean if metric == "valid" else ref.test))
        if axis == "evaluations" and ref is not None:
            y = {"valid": ref.valid_mean, "test": ref.test, "regret": ref.regret}[metric]
            if np.isfinite(y).any():
                label = REFERENCE_LABEL if ref.exact else "E[random search], seed-mean selection"
                add(
                    go.Scatter(
                        x=_num(ref.ks), y=_num(np.maximum(y, floor) if metric == "regret" else y),
                        customdata=_num(y), mode="lines", name=html.escape(label), legendgroup="reference",
                        showlegend="reference" not in shown, line={"color": "black", "dash": "dash", "width": 1.3},
                        hovertemplate="%{fullData.name}<br>x = %{x:.4g}<br>%{customdata:.4g}<extra></extra>",
                    ),
                    col,
                )  # fmt: skip
                shown.add("reference")
        fig.update_xaxes(title_text=html.escape(time_label if axis == "time" else "evaluations"), row=1, col=col)
        present = _present(bands, metric)
        if axis == "time":
            fig.update_xaxes(type="log", **_log_ticks([b.x * scale for b in present]), row=1, col=col)
        else:
            fig.update_xaxes(tickformat="d", row=1, col=col)
        if metric == "regret":
            ys = [np.maximum(v, floor) for b in present for v in (b.mean, b.lo, b.hi)]
            fig.update_yaxes(type="log", **_log_ticks(ys), row=1, col=col)
        elif (limits := _fitted_range(bands, metric, info.maximize, references)) is not None:
            fig.update_yaxes(range=list(limits), row=1, col=col)
    words = time_words(clocks) if axis == "time" else "evaluations"
    _layout(fig, f"{info.task}: anytime performance vs {words}", 470)
    fig.update_layout(updatemenus=_seed_menu(seed_idx))
    # A plain figure dict: plotly would build (and later deep-copy) an object per trace, thousands per task.
    return {"data": data, "layout": fig.layout.to_plotly_json()}


def hv_figure(info: TaskInfo, palette: dict[str, str]) -> Any:
    """Hypervolume over evaluations per method (mean and 95 % band)."""
    go, _ = _go()
    fig = go.Figure()
    for method, b in info.hv_bands.items():
        if b is None:
            continue
        colour, x, name = palette.get(method, "#444444"), _num(b.x), html.escape(method)
        fig.add_trace(go.Scatter(x=x, y=_num(b.lo), mode="lines", line={"width": 0, "shape": "hv"},
                                 legendgroup=method, showlegend=False, hoverinfo="skip", name=name))
        fig.add_trace(go.Scatter(x=x, y=_num(b.hi), mode="lines", fill="tonexty", fillcolor=_rgba(colour, 0.18),
                                 line={"width": 0, "shape": "hv"}, legendgroup=method, showlegend=False,
                                 hoverinfo="skip", name=name))  # fmt: skip
        fig.add_trace(
            go.Scatter(x=x, y=_num(b.mean), mode="lines", name=html.escape(legend_label(method, b.n)),
                       legendgroup=method, line={"shape": "hv", "color": colour, "width": 2},
                       hovertemplate="%{fullData.name}<br>evaluation %{x}<br>hypervolume %{y:.4g}<extra></extra>")
        )  # fmt: skip
    fig.update_xaxes(title_text="evaluations", tickformat="d")
    fig.update_yaxes(title_text="normalised hypervolume")
    _layout(fig, f"{info.task}: hypervolume over evaluations", 430)
    return fig


def pareto_figure(info: TaskInfo, palette: dict[str, str]) -> Any:
    """Each method's final Pareto front (union over seeds), first two objectives, as points and staircase."""
    go, _ = _go()
    fig = go.Figure()
    o = info.objectives
    sign = np.where(info.obj_maximize, -1.0, 1.0)[:2]
    for method, front in info.fronts.items():
        if front.size == 0:
            continue
        f = front[:, :2] * sign
        f = f[np.lexsort((-f[:, 1], f[:, 0]))] * sign  # along the front in minimisation form: a staircase "hv"
        fig.add_trace(
            go.Scatter(x=_num(f[:, 0]), y=_num(f[:, 1]), mode="lines+markers", name=html.escape(legend_label(method)),
                       line={"shape": "hv", "color": palette.get(method, "#444444")},
                       hovertemplate="%{fullData.name}<br>%{x:.4g}, %{y:.4g}<extra></extra>")
        )  # fmt: skip
    arrows = ["↑ better" if m else "↓ better" for m in info.obj_maximize]
    fig.update_xaxes(title_text=html.escape(f"{o[0]} ({arrows[0]})"))
    fig.update_yaxes(title_text=html.escape(f"{o[1]} ({arrows[1]})"))
    extra = f" (first two of {len(o)} objectives)" if len(o) > 2 else ""
    _layout(fig, f"{info.task}: final Pareto fronts, union over seeds{extra}", 480)
    return fig


def task_seed_curves(report: Report, info: TaskInfo) -> dict[str, list]:
    """Method -> the RunCurves of each of its runs on `info.task` (ordered as `report.result.cell`), for every
    method with bands on the task."""
    methods = list(dict.fromkeys([*info.eval_bands, *info.time_bands]))
    return {m: [run_curves(r.trajectory, r.horizon) for r in report.result.cell(info.task, m)] for m in methods}


def figures(report: Report) -> dict[str, Any]:
    """Plot stem (the names harness.report.plots gives the PNG/SVG files) -> Plotly figure."""
    palette = colours(report.result.methods())
    out: dict[str, Any] = {}
    for task, info in report.tasks.items():
        if not info.multi_objective:
            seeds = task_seed_curves(report, info)
            out[f"curves_{slug(task)}_evaluations"] = curve_figure(report, info, "evaluations", palette, seeds)
            if info.time_grid is not None:
                out[f"curves_{slug(task)}_time"] = curve_figure(report, info, "time", palette, seeds)
        else:
            if info.fronts and len(info.objectives) >= 2:
                out[f"pareto_{slug(task)}"] = pareto_figure(info, palette)
            if info.hv_bands:
                out[f"hypervolume_{slug(task)}"] = hv_figure(info, palette)
    return out


def figure_html(fig: Any, stem: str) -> str:
    """One figure as a <div> and its inline script, without plotly.js (the page includes it once)."""
    import plotly.io as pio

    config = {**CONFIG, "toImageButtonOptions": {"format": "svg", "filename": stem}}
    # A dict figure (curve_figure) was built from validated parts: plotly need not validate it again.
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"fig-{stem}", config=config,
                       validate=not isinstance(fig, dict))


def plotly_js() -> str:
    """plotly.js itself (~4.8 MB), to be inlined once per page so the page needs no network."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()
