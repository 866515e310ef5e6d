"""The interactive figures of index.html: Plotly charts with hover values, zoom, legend toggles and per-seed curves.

Why Plotly: its JavaScript can be embedded in the page once (harness.report.page includes it
inline), so the report stays one file that works with no network, as a dashboard would. The
PNG/SVG plots for papers are still written by harness.report.plots; these figures show the same
numbers (the bands of harness.report.model.TaskInfo) plus each seed's own trajectory on demand.
plotly is imported only here, and this module only by report rendering (light imports).

The curve figures are plain dicts in plotly.js's own JSON schema, not plotly.py objects: a grid of
2,000 runs gives 12,000 per-seed traces, and plotly.py's validation and subplot bookkeeping of them
cost more CPU than the rest of the report (tests check the dicts against plotly.py's validators and
make_subplots). Their numbers are plotly.js typed arrays (`{"dtype": "f8", "bdata": base64}`, read by
plotly.js >= 2.28): exact float64 values, encoded in C and shorter than the same values as exact decimals; with an
older plotly.js inlined they are written as JSON lists (None where a value is missing).

Every user string (method, task, benchmark names) is HTML-escaped before Plotly sees it: Plotly
reads a subset of HTML in labels, and its JSON is written with `<`, `>` and `/` escaped.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import math
from importlib import resources
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
SPACING = 0.07  # horizontal space between the panels of a curve figure, as a fraction of its width
TYPED_ARRAYS_SINCE = (2, 28)  # the first plotly.js that reads {"dtype", "bdata"} typed arrays


def colours(methods: list[str]) -> dict[str, str]:
    """Method -> hex colour, in the order harness.report.plots assigns matplotlib's tab10/tab20."""
    palette = TAB10 if len(methods) <= 10 else TAB20
    return {m: palette[i % len(palette)] for i, m in enumerate(methods)}


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _num(values: np.ndarray) -> list[float | None]:
    """Six significant digits (the page's size), None for NaN/inf so Plotly draws a gap (the plotly.py figures)."""
    return [float(f"{v:.6g}") if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def typed_arrays() -> bool:
    """Whether the plotly.js that the page inlines reads typed arrays (the bundled version is fixed per install)."""
    from plotly.offline import get_plotlyjs_version

    try:
        version = tuple(int(p) for p in get_plotlyjs_version().split(".")[:2])
    except ValueError:  # pragma: no cover - a version string plotly never wrote
        return False
    return version >= TYPED_ARRAYS_SINCE


def _arr(values: np.ndarray, typed: bool) -> Any:
    """A numeric array for plotly.js: exact float64 (int32 for counts) as a typed array, or (old plotly.js) a list
    with None gaps.

    NaN (a missing value) is a gap in both forms. A 2-D array becomes rows (customdata of the mean traces).
    """
    integer = np.asarray(values).dtype.kind in "iu"
    a = np.ascontiguousarray(values, dtype="<i4" if integer else "<f8")
    if typed:
        spec = {"dtype": "i4" if integer else "f8", "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
        if a.ndim > 1:
            spec["shape"] = ", ".join(str(n) for n in a.shape)
        return spec
    if integer:
        return a.tolist()
    listed = a.astype(object)
    listed[~np.isfinite(a)] = None
    return listed.tolist()


def _changes_of(curves: list[np.ndarray]) -> list[np.ndarray]:
    """Per curve, the indices where its step function changes (and its first and last point): drawn as steps,
    they give the same picture as every value. All curves of one length are done at once (one numpy pass per
    length, not per run: a method has hundreds of runs, each curve with a handful of changes)."""
    out: list[np.ndarray] = [np.arange(0)] * len(curves)
    by_length: dict[int, list[int]] = {}
    for i, y in enumerate(curves):
        by_length.setdefault(y.size, []).append(i)
    for length, rows in by_length.items():
        if length == 0:
            continue
        ys = np.vstack([curves[i] for i in rows])
        keep = np.ones(ys.shape, dtype=bool)
        keep[:, 1:] = (ys[:, 1:] != ys[:, :-1]) & ~(np.isnan(ys[:, 1:]) & np.isnan(ys[:, :-1]))
        keep[:, -1] = True
        _, cols = np.nonzero(keep)
        for i, part in zip(rows, np.split(cols, np.cumsum(keep.sum(axis=1))[:-1]), strict=True):
            out[i] = part
    return out


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
    fig.update_layout(template="plotly_white", **_common_layout(title, height))


def _common_layout(title: str, height: int) -> dict[str, Any]:
    """The layout every figure of the page shares (title, size, margins, legend under the panels)."""
    return {
        "title": {"text": html.escape(title), "x": 0.01, "font": {"size": 15}},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 90, "b": 60},
        "hovermode": "closest",
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0, "font": {"size": 13}},
        "font": {"size": 12},
    }


@functools.cache
def _template_text() -> str:
    """The JSON text of plotly.py's "plotly_white" template, read once per process."""
    path = resources.files("plotly") / "package_data" / "templates" / "plotly_white.json"
    return path.read_text(encoding="utf-8")


def _template() -> dict[str, Any]:
    """plotly.py's "plotly_white" template as the dict plotly.js reads (what `template="plotly_white"` writes);
    a fresh dict each time (callers may change theirs)."""
    try:
        return json.loads(_template_text())
    except (OSError, ValueError):  # pragma: no cover - a plotly without its template files
        import plotly.io as pio

        return pio.templates["plotly_white"].to_plotly_json()


def _panel_axes(titles: list[str]) -> dict[str, Any]:
    """Axes and title annotations of one row of panels, as plotly.subplots.make_subplots(1, n) lays them out."""
    n = len(titles)
    width = (1.0 - SPACING * (n - 1)) / n
    layout: dict[str, Any] = {}
    annotations = []
    for c in range(n):
        start = sum([width] * c) + c * SPACING  # make_subplots' arithmetic: the same floats
        domain = [start, start + width]
        suffix = "" if c == 0 else str(c + 1)
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "domain": domain}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [0.0, 1.0]}
        annotations.append({"font": {"size": 16}, "showarrow": False, "text": titles[c], "x": sum(domain) / 2.0,
                            "xanchor": "center", "xref": "paper", "y": 1.0, "yanchor": "bottom", "yref": "paper"})
    layout["annotations"] = annotations
    return layout


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


SEED_HOVER = "%{fullData.name}<br>x = %{x:.4g}<br>%{y:.4g}<extra></extra>"
CLIPPED_HOVER = "%{fullData.name}<br>x = %{x:.4g}<br>%{customdata:.4g}<extra></extra>"  # regret 0 drawn at the floor
MEAN_HOVER = ("%{fullData.name}<br>x = %{x:.4g}<br>mean %{customdata[0]:.4g}"
              "<br>95 % band [%{customdata[1]:.4g}, %{customdata[2]:.4g}]<extra></extra>")  # fmt: skip


def _seed_traces(
    method: str, runs: list, curves: list, metric: str, xaxes: dict[str, str], ctx: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each run's own curve of `metric` (hidden until the dropdown shows it), drawn at its change points only:
    as steps they give the same picture as every evaluation's value, and a curve never has more points than steps."""
    scale, floor, typed, grid = ctx["scale"], ctx["floor"], ctx["typed"], ctx["grid"]
    line = {"shape": "hv", "color": ctx["colour"], "width": 1, "dash": "dot" if ctx["real"] else "solid"}
    ys = [c.metric(metric) if grid is None else on_grid(c, metric, grid) for c in curves]
    out = []
    for run, y, keep in zip(runs, ys, _changes_of(ys), strict=True):
        x = keep + 1 if grid is None else grid[keep] * scale  # evaluation counts (that axis has no scale), or time
        y = y[keep]
        trace = {
            "type": "scatter",
            "x": _arr(x, typed),
            "y": _arr(np.maximum(y, floor) if metric == "regret" else y, typed),
            "mode": "lines",
            "visible": False,
            "meta": SEED_META,
            "legendgroup": method,
            "showlegend": False,
            "opacity": 0.55,
            "name": html.escape(f"{method} seed {run.seed} ({run.run_id})"),
            "line": line,
            "hovertemplate": SEED_HOVER,
            **xaxes,
        }
        if metric == "regret":  # the log axis draws a regret of 0 at the floor: hover says the true value
            trace["customdata"] = _arr(y, typed)
            trace["hovertemplate"] = CLIPPED_HOVER
        out.append(trace)
    return out


def curve_figure(
    report: Report, info: TaskInfo, axis: str, palette: dict[str, str], seed_curves: dict[str, list] | None = None
) -> dict[str, Any]:
    """Validation, test and validation regret of every method against evaluations or time: mean, band, seeds.

    `seed_curves` (method -> each run's RunCurves, in the order of `report.result.cell`) spares the two
    figures of a task (evaluations, time) from reading every run's trajectory twice; computed when None.
    Returns the figure as a plotly.js JSON dict (see the module's docstring for why not plotly.py objects).
    """
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
    layout: dict[str, Any] = _panel_axes([html.escape(titles[p]) for p in panels])
    runs = {m: report.result.cell(info.task, m) for m in bands}
    if seed_curves is None:
        seed_curves = task_seed_curves(report, info)
    seed_curves = {m: seed_curves[m] for m in runs}
    regrets = [b.mean for b in _present(bands, "regret")]
    regrets += [c.regret for cs in seed_curves.values() for c in cs]
    floor = _regret_floor(regrets)
    typed = typed_arrays()
    grid = info.time_grid if axis == "time" else None
    seed_idx: list[int] = []
    shown: set[str] = set()
    data: list[dict[str, Any]] = []
    for col, metric in enumerate(panels, start=1):
        xaxes = {"xaxis": "x" if col == 1 else f"x{col}", "yaxis": "y" if col == 1 else f"y{col}"}
        for method, mb in bands.items():
            b = mb.get(metric)
            if b is None:
                continue
            colour, real = palette.get(method, "#444444"), axis == "time" and clocks[method] != SIMULATED_CLOCK
            name = html.escape(method)
            clip = (lambda v: np.maximum(v, floor)) if metric == "regret" else (lambda v: v)
            x = _arr(b.x * scale, typed)
            edge = {"mode": "lines", "line": {"width": 0, "shape": "hv"}, "legendgroup": method, "showlegend": False,
                    "hoverinfo": "skip", "name": name, **xaxes}  # fmt: skip
            data.append({"type": "scatter", "x": x, "y": _arr(clip(b.lo), typed), **edge})
            data.append({"type": "scatter", "x": x, "y": _arr(clip(b.hi), typed), "fill": "tonexty",
                         "fillcolor": _rgba(colour, 0.18), **edge})  # fmt: skip
            data.append({
                "type": "scatter",
                "x": x,
                "y": _arr(clip(b.mean), typed),
                "customdata": _arr(np.column_stack([b.mean, b.lo, b.hi]), typed),
                "mode": "lines",
                "name": html.escape(legend_label(method, b.n, REAL_MARK if real else "")),
                "showlegend": method not in shown,
                "hovertemplate": MEAN_HOVER,
                "legendgroup": method,
                "line": {"shape": "hv", "color": colour, "width": 2, "dash": "dash" if real else "solid"},
                **xaxes,
            })  # fmt: skip
            shown.add(method)
            ctx = {"scale": scale, "floor": floor, "typed": typed, "grid": grid, "colour": colour, "real": real}
            seeds = _seed_traces(method, runs[method], seed_curves[method], metric, xaxes, ctx)
            seed_idx.extend(range(len(data), len(data) + len(seeds)))
            data.extend(seeds)
        ref = info.reference
        references: list[tuple[np.ndarray, np.ndarray]] = []
        if axis == "evaluations" and ref is not None and metric != "regret":
            references.append((np.asarray(ref.ks, dtype=np.float64), ref.valid_mean if metric == "valid" else ref.test))
        if axis == "evaluations" and ref is not None:
            y = {"valid": ref.valid_mean, "test": ref.test, "regret": ref.regret}[metric]
            if np.isfinite(y).any():
                label = REFERENCE_LABEL if ref.exact else "E[random search], seed-mean selection"
                data.append({
                    "type": "scatter", "x": _arr(np.asarray(ref.ks, dtype=np.float64), typed),
                    "y": _arr(np.maximum(y, floor) if metric == "regret" else y, typed), "customdata": _arr(y, typed),
                    "mode": "lines", "name": html.escape(label), "legendgroup": "reference",
                    "showlegend": "reference" not in shown, "line": {"color": "black", "dash": "dash", "width": 1.3},
                    "hovertemplate": CLIPPED_HOVER, **xaxes,
                })  # fmt: skip
                shown.add("reference")
        suffix = "" if col == 1 else str(col)
        xa, ya = layout[f"xaxis{suffix}"], layout[f"yaxis{suffix}"]
        xa["title"] = {"text": html.escape(time_label if axis == "time" else "evaluations")}
        present = _present(bands, metric)
        if axis == "time":
            xa.update(type="log", **_log_ticks([b.x * scale for b in present]))
        else:
            xa["tickformat"] = "d"
        if metric == "regret":
            ys = [np.maximum(v, floor) for b in present for v in (b.mean, b.lo, b.hi)]
            ya.update(type="log", **_log_ticks(ys))
        elif (limits := _fitted_range(bands, metric, info.maximize, references)) is not None:
            ya["range"] = list(limits)
    words = time_words(clocks) if axis == "time" else "evaluations"
    layout.update(_common_layout(f"{info.task}: anytime performance vs {words}", 470), template=_template())
    if seed_idx:
        layout["updatemenus"] = _seed_menu(seed_idx)
    return {"data": data, "layout": layout}


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
    return {m: [run_curves(r, r.horizon) for r in report.result.cell(info.task, m)] for m in methods}


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
    # A dict figure (curve_figure) is plotly.js JSON already (tests validate it): no second pass over 12,000 traces.
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"fig-{stem}", config=config,
                       validate=not isinstance(fig, dict))


def plotly_js() -> str:
    """plotly.js itself (~4.8 MB), to be inlined once per page so the page needs no network."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()
