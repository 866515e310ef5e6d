"""The interactive index.html: one offline file, escaped user strings, run links, and (in headless Chromium) charts
that render and tables that sort.

The browser test needs Debian's chromium (`apt-get install -y chromium`) and is skipped without it. It loads the
page from file:// with networking off and the `#selftest` fragment, which makes the page count its charts, show
the per-seed curves through the dropdown's own arguments and sort the run table by a click on its header; the
outcome lands in `<html data-selftest>` of `chromium --dump-dom`, and is checked here against the trajectories.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest

from harness.report import build_report
from harness.report.render import render_files, write_report

REPO = Path(__file__).resolve().parents[1]
EVIL = "</script><img src=x onerror=alert(1)>"
SEEDS = range(3)
EVALUATIONS = 25


@pytest.fixture(scope="module")
def results(data_home, tmp_path_factory):
    """rs, re and a strategy renamed to EVIL in its manifests x 3 seeds on nb201/cifar10, plus a killed run."""
    from harness.app import run_config

    root = tmp_path_factory.mktemp("html") / "results"
    for strategy in ("rs", "re", "ls"):
        for seed in SEEDS:
            config = {"benchmark": {"name": "nb201/cifar10", "seed_policy": "sample", "fixed_seed": None,
                                    "objectives": None},
                      "budget": {"evaluations": EVALUATIONS, "sim_seconds": None}, "n_workers": 1, "seed": seed,
                      "strategy": {"name": strategy}}  # fmt: skip
            assert run_config(config, [], root)["status"] == "complete"
    for manifest in root.glob("*/manifest.json"):
        data = json.loads(manifest.read_text())
        if data["config"]["strategy"]["name"] == "ls":  # a label a user could give: it must stay text
            data["config"]["strategy"]["name"] = EVIL
            manifest.write_text(json.dumps(data))
    killed = root / "0123456789abcdef"
    killed.mkdir()
    (killed / "run.log").write_text(
        "t INFO harness.app: run 0123456789abcdef: strategy=rs benchmark=nb201/cifar10 seed=9\n"
    )
    return root


@pytest.fixture(scope="module")
def report(results):
    return build_report(results, n_boot=200)


@pytest.fixture(scope="module")
def out(results, report):
    out = results / "report"
    write_report(report, out)
    return out


def _trajectories(results: Path) -> dict[str, pd.DataFrame]:
    """Independent reading: run id -> trajectory of every run with a manifest."""
    return {m.parent.name: pd.read_parquet(m.parent / "trajectory.parquet") for m in results.glob("*/manifest.json")}


def _method_of(results: Path) -> dict[str, str]:
    manifests = results.glob("*/manifest.json")
    return {m.parent.name: json.loads(m.read_text())["config"]["strategy"]["name"] for m in manifests}


def test_one_offline_file_with_plotly_inlined_once(report, out):
    page = (out / "index.html").read_text()
    assert render_files(report, out)["index.html"].decode() == page  # same results, same bytes
    assert page.count("* plotly.js v") == 1  # plotly.js's banner: the library once, every figure after it
    assert page.count("Plotly.newPlot(") == 2  # nb201/cifar10 against evaluations and against simulated time
    assert "<script src" not in page and "<link" not in page and 'src="http' not in page
    for stem in ("curves_nb201_cifar10_evaluations", "curves_nb201_cifar10_time"):
        assert f'href="plots/{stem}.png"' in page and f'href="plots/{stem}.svg"' in page  # the paper versions
        assert (out / "plots" / f"{stem}.png").is_file()
    assert 'class="sortable"' in page and 'id="toc"' in page


def test_user_strings_are_escaped(out):
    page = (out / "index.html").read_text()
    assert "<img src=x" not in page and EVIL not in page
    assert html.escape(EVIL) in page  # shown as text in the tables
    assert "\\u003c\\u002fscript\\u003e" in page  # and inside the figures' JSON, where it cannot close the script


def _hrefs(page: str) -> list[str]:
    """The links of the page's own content (plotly.js, inlined in the head, names its web site)."""
    if "<main>" in page:
        page = page[page.index("<main>"):page.index("</main>")]
    return [html.unescape(h) for h in re.findall(r'href="([^"#][^"]*)"', page)]


@pytest.mark.parametrize("elsewhere", [False, True])
def test_every_run_link_resolves(results, report, out, tmp_path, elsewhere):
    folder = tmp_path / "deep" / "report" if elsewhere else out
    page = render_files(report, folder)["index.html"].decode() if elsewhere else (out / "index.html").read_text()
    targets = [h for h in _hrefs(page) if not h.startswith("plots/")]
    assert targets
    for href in targets:
        assert (folder / unquote(href)).resolve().exists(), href
    runs = [p.name for p in results.iterdir() if p.is_dir() and p.name != "report"]
    resolved = {(folder / unquote(h)).resolve() for h in targets}
    for run in runs:
        for name in ("", "manifest.json", "run.log"):
            if (results / run / name).exists():
                assert (results / run / name).resolve() in resolved, (run, name)


def test_aggregated_rows_link_exactly_their_runs(results, out):
    page = (out / "index.html").read_text()
    methods = _method_of(results)
    start = page.index("<h2>Leaderboard</h2>")
    table = page[start:page.index("</table>", start)]
    rows = re.findall(r"<tr><td>(.*?)</td>.*?</tr>", table[table.index("<tbody>"):])
    assert len(rows) == 3
    for row in re.findall(r"<tr>.*?</tr>", table[table.index("<tbody>"):]):
        name = html.unescape(re.match(r"<tr><td>(.*?)</td>", row).group(1))
        linked = {Path(unquote(h)).parts[1] for h in _hrefs(row) if h.endswith("manifest.json")}
        assert linked == {run for run, m in methods.items() if m == name}, name
        assert f"{len(SEEDS)} runs</summary>" in row


def _seed_traces(fig) -> list:
    return [t for t in fig.data if t.meta == "seed"]


def _values(array) -> np.ndarray:
    """The numbers plotly.js reads from a trace array: a typed array {"dtype", "bdata", "shape"} or a plain list."""
    if isinstance(array, dict):
        import base64

        values = np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]).newbyteorder("<"))
        shape = array.get("shape")
        return values.reshape([int(n) for n in shape.split(",")]) if shape else values
    return np.array([np.nan if v is None else v for v in array], dtype=float) if array is not None else None


def _incumbent_valid(traj: pd.DataFrame) -> np.ndarray:
    """Independent: each step's incumbent's valid_mean, from the first row that evaluated that architecture."""
    first = traj.drop_duplicates("arch").set_index("arch")["valid_mean"]
    return traj["incumbent_arch"].map(first).to_numpy(dtype=float)


def test_figures_show_the_trajectories(results, report):
    from harness.report.interactive import SEED_META, figures

    trajectories, methods = _trajectories(results), _method_of(results)
    import plotly.graph_objects as go

    figs = figures(report)
    fig = go.Figure(figs["curves_nb201_cifar10_evaluations"])  # a plain dict (not validated when rendered): check it
    regret_axis = "y3" if report.tasks["nb201/cifar10"].has_test else "y2"
    seeds = [t for t in _seed_traces(fig) if t.yaxis == regret_axis]
    assert len(seeds) == len(trajectories)  # one curve per run in each panel
    for trace in seeds:
        run = re.search(r"\(([0-9a-f]{16})\)", trace.name).group(1)
        regret = trajectories[run]["regret"].to_numpy()
        steps = _values(trace.x).astype(int)
        np.testing.assert_array_equal(_values(trace.customdata), regret[steps - 1])  # exact float64 values
        # drawn as steps, the change points alone reproduce every evaluation's value
        full = _values(trace.customdata)[np.searchsorted(steps, np.arange(1, len(regret) + 1), side="right") - 1]
        np.testing.assert_array_equal(full, regret)
        assert steps.size <= len(regret)  # never more points than the run has steps
    for name in ("rs", "re"):
        runs = [r for r, m in methods.items() if m == name]
        truth = np.mean([trajectories[r]["regret"].to_numpy()[:EVALUATIONS] for r in runs], axis=0)
        (mean,) = [
            t for t in fig.data
            if t.yaxis == regret_axis and t.legendgroup == name and t.customdata is not None and t.meta != SEED_META
        ]  # fmt: skip
        np.testing.assert_allclose(_values(mean.customdata)[:, 0], truth, rtol=1e-12)
    (menu,) = fig.layout.updatemenus
    indices = [i for i, t in enumerate(fig.data) if t.meta == SEED_META]
    got = [[b.args[0], list(b.args[1])] for b in menu.buttons]
    assert got == [[{"visible": False}, indices], [{"visible": True}, indices]]


def test_seed_curves_equal_each_runs_values_exactly(results, report):
    """Every per-seed curve of both figures, decoded as plotly.js reads it, is the run's own values (no rounding)."""
    from harness.report.interactive import figures

    trajectories = _trajectories(results)
    info = report.tasks["nb201/cifar10"]
    figs = figures(report)
    panels = ["valid", "test", "regret"] if info.has_test else ["valid", "regret"]
    truth = {run: {"valid": _incumbent_valid(t), "test": t["incumbent_test_mean"].to_numpy(dtype=float),
                   "regret": t["regret"].to_numpy(dtype=float), "sim_time": t["sim_time"].to_numpy(dtype=float)}
             for run, t in trajectories.items()}  # fmt: skip
    runs = {r.run_id: r for r in report.result.runs}
    checked = 0
    for axis in ("evaluations", "time"):
        fig = figs[f"curves_nb201_cifar10_{axis}"]
        seeds = [t for t in fig["data"] if t.get("meta") == "seed"]
        assert len(seeds) == len(panels) * len(trajectories)
        for trace in seeds:
            run = re.search(r"\(([0-9a-f]{16})\)", trace["name"]).group(1)
            panel = panels[0 if trace["yaxis"] == "y" else int(trace["yaxis"][1:]) - 1]
            y = _values(trace["customdata"] if panel == "regret" else trace["y"])
            x = _values(trace["x"])
            if axis == "evaluations":
                assert x.dtype.kind == "i"  # evaluation counts
                values = truth[run][panel]
                full = y[np.searchsorted(x, np.arange(1, values.size + 1), side="right") - 1]
            else:  # on the time grid (GPU-hours): the value after the last completion at or before each point
                grid, scale = info.time_grid, 1 / 3600.0  # every method here is on the simulated clock
                assert np.isin(x, grid * scale).all()  # drawn at grid points only
                idx = np.searchsorted(truth[run]["sim_time"], grid, side="right") - 1
                values = np.where(idx >= 0, truth[run][panel][np.clip(idx, 0, None)], np.nan)
                values[grid > runs[run].horizon] = np.nan  # nothing is known past the run's time horizon
                drawn = np.searchsorted(x, grid * scale, side="right") - 1
                full = np.where(drawn >= 0, y[np.clip(drawn, 0, None)], np.nan)
            np.testing.assert_array_equal(full, values)
            checked += 1
    assert checked == 2 * len(panels) * len(trajectories)


def test_curve_figure_layout_is_plotlys_own(report):
    """The hand-written layout of a curve figure is what plotly.py's make_subplots and template="plotly_white"
    give, and the figure passes plotly.py's validators."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from harness.report.interactive import SPACING, figures

    for stem, fig in figures(report).items():
        layout = fig["layout"]
        titles = [a["text"] for a in layout["annotations"]]
        ref = make_subplots(rows=1, cols=len(titles), horizontal_spacing=SPACING, subplot_titles=titles)
        ref.update_layout(template="plotly_white")
        ref = ref.layout.to_plotly_json()
        assert layout["annotations"] == ref["annotations"], stem
        assert layout["template"] == ref["template"], stem
        for key in [k for k in ref if k.startswith(("xaxis", "yaxis"))]:
            assert {k: layout[key][k] for k in ("anchor", "domain")} == ref[key], (stem, key)
        go.Figure(fig)  # raises on any property plotly.js does not know


def test_plain_lists_for_an_older_plotly_js():
    """Without typed arrays (plotly.js < 2.28) numbers are JSON lists, None where a value is missing."""
    from harness.report.interactive import _arr, typed_arrays

    values = np.array([0.1, np.nan, 1 / 3, np.inf, 92.123456789])
    listed = _arr(values, typed=False)
    assert listed == [0.1, None, 1 / 3, None, 92.123456789]
    np.testing.assert_array_equal(_values(_arr(values, typed=True)), values)  # exact, NaN and inf kept
    assert _arr(np.arange(1, 4), typed=True)["dtype"] == "i4" and _arr(np.arange(1, 4), typed=False) == [1, 2, 3]
    from plotly.offline import get_plotlyjs_version

    major, minor = (int(p) for p in get_plotlyjs_version().split(".")[:2])
    assert typed_arrays() == ((major, minor) >= (2, 28))


def _after_report_help(tmp_path, imports: str, then: str) -> object:
    """Run `nas-harness report --help` in a fresh process after `imports`, then print `then` (a JSON
    expression over `sys.modules`); returns its value."""
    code = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        from harness.cli import main
        {imports}
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["report", "--help"])
            except SystemExit:
                pass
        print(json.dumps({then}))
        """
    )
    env = dict(os.environ, NAS_HARNESS_DATA=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_plotly_is_imported_only_to_render(tmp_path):
    found = _after_report_help(tmp_path, "import harness.report.render, harness.report.page, harness.report.cli",
                               'sorted(m for m in sys.modules if m.split(".")[0] == "plotly")')
    assert found == []


@pytest.mark.slow
def test_report_help_imports_no_builder(tmp_path):
    """`nas-harness report --help` builds its parser without the builder's pandas, scipy or matplotlib: the
    package harness.report imports build_report and the model only when asked for them."""
    heavy = '{"pandas", "scipy", "matplotlib", "plotly", "pyarrow"}'
    found = _after_report_help(
        tmp_path, "",
        f'[sorted(m for m in sys.modules if m.split(".")[0] in {heavy} or m == "harness.report.build"), '
        '__import__("harness.report").report.build_report.__module__]',
    )
    assert found == [[], "harness.report.build"]


def _screenshot_module():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import screenshot_report
    finally:
        sys.path.pop(0)
    if screenshot_report.find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return screenshot_report


@pytest.mark.slow
def test_page_works_in_headless_chromium(results, out):
    tool = _screenshot_module()
    dom = tool.dump_dom(out / "index.html", fragment="selftest", budget_ms=15000)
    found = re.search(r'data-selftest="([^"]*)"', dom)
    assert found, "the page's self-test did not run (JavaScript error, or the budget was too short)"
    got = json.loads(html.unescape(found.group(1)))
    assert "error" not in got, got
    assert got["plots"] == 2 and got["svgs"] >= 2 * got["plots"]  # Plotly drew both charts
    assert got["injected"] == 0
    n_runs = len(_trajectories(results))
    panels = 3 if "incumbent test accuracy" in (out / "index.html").read_text() else 2
    assert got["seedTraces"] == 2 * panels * n_runs and got["seedsInFirst"] == panels * n_runs
    assert got["seedsShown"] == got["seedsInFirst"] and got["drawnAfter"] == got["drawnBefore"] + got["seedsShown"]
    # The run table, sorted by its "final regret" header: each run's last regret, read from its parquet.
    final = {run: float(t["regret"].iloc[-1]) for run, t in _trajectories(results).items()}
    every = set(final) | {"0123456789abcdef"}
    assert set(got["before"]) == every and len(got["before"]) == len(every)
    ascending, descending = got["ascending"], got["descending"]
    assert ascending[-1] == descending[-1] == "0123456789abcdef"  # no value: last either way
    up = [final[r] for r in ascending[:-1]]
    down = [final[r] for r in descending[:-1]]
    assert up == sorted(up) and down == sorted(down, reverse=True)
    assert got["before"] != ascending  # the click did reorder the rows


def test_report_command_leaves_the_collector_as_it_found_it(results, tmp_path):
    """`nas-harness report` freezes long-lived objects out of the garbage collector while it runs (CPU), and
    gives them back: a caller's process (tests, the app) keeps a normal collector."""
    import gc

    from harness.cli import main

    before = gc.get_freeze_count()
    assert main(["report", str(results), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "index.html").is_file()
    assert gc.get_freeze_count() == before and gc.isenabled()


def test_pareto_and_hypervolume_figures(data_home, tmp_path):
    """A multi-objective task: the Pareto chart's points are the non-dominated set of every run's evaluations."""
    from harness.app import run_config
    from harness.report.interactive import figures

    root = tmp_path / "mo"
    for seed in SEEDS:
        config = {"benchmark": {"name": "nb201/cifar10", "seed_policy": "sample", "fixed_seed": None,
                                "objectives": ["valid_acc", "params"]},
                  "budget": {"evaluations": 20, "sim_seconds": None}, "n_workers": 1, "seed": seed,
                  "strategy": {"name": "nsga2"}}  # fmt: skip
        assert run_config(config, [], root)["status"] == "complete"
    report = build_report(root, n_boot=100)
    (task,) = report.tasks
    figs = figures(report)
    assert set(figs) == {"pareto_nb201_cifar10_valid_acc_vs_params", "hypervolume_nb201_cifar10_valid_acc_vs_params"}
    raw = pd.concat([pd.read_parquet(p) for p in root.glob("*/trajectory.parquet")])
    raw = raw[raw["fidelity"] == raw["fidelity"].max()]
    points = {(a, p) for a, p in zip(raw["obj_valid_acc"], raw["obj_params"], strict=True)}
    front = {(a, p) for a, p in points if not any(b >= a and q <= p and (b, q) != (a, p) for b, q in points)}
    (trace,) = figs["pareto_nb201_cifar10_valid_acc_vs_params"].data
    drawn = set(zip(trace.x, trace.y, strict=True))
    assert drawn == {(float(f"{a:.6g}"), float(f"{p:.6g}")) for a, p in front}
    (mean,) = [t for t in figs["hypervolume_nb201_cifar10_valid_acc_vs_params"].data if t.showlegend is not False]
    y = np.asarray(mean.y, dtype=float)
    assert y.size == 20 and np.all(np.diff(y) >= 0) and 0 < y[0] and y[-1] <= 1  # a growing set's normalised HV
    page = render_files(report)["index.html"].decode()
    assert page.count("Plotly.newPlot(") == 2 and html.escape(task) in page
