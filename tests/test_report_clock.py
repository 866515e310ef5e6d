"""`nas-harness report` with one-shot (real-clock) and tabular (simulated-clock) methods in one folder.

The grid is real: darts runs through `nas-harness run` (a subprocess, as a user runs it) and random
search through the app's own run writer, both on nb201/cifar10. The truth every assertion is checked
against is read independently from the run folders (the trajectory's `clock` column, the manifest's
strategy name, the raw sim_time / cost / regret columns).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.report import build_report
from harness.report.load import load_results
from harness.report.render import _colours, _curve_panels, document, render_files
from harness.results import CLOCK_COLUMN, MANIFEST, ONESHOT_METHODS, REAL_CLOCK, TRAJECTORY
from tabular.errors import NasHarnessError
from tests.oneshot_grid import TASK, darts_and_rs_grid, rewrite_trajectory
from tests.test_report import report_cli

RS_EVALUATIONS = 12


@pytest.fixture(scope="module")
def grid(data_home, tmp_path_factory):
    """darts x 2 seeds (real clock, 2 epochs) and rs x 2 seeds (simulated clock, 12 evaluations) on nb201/cifar10."""
    return darts_and_rs_grid(
        tmp_path_factory.mktemp("clock") / "results", data_home, epochs=2, rs_evaluations=RS_EVALUATIONS
    )


def _runs(results: Path) -> list[dict]:
    """Independent reading of every run folder: strategy, trajectory, and whether it carries a clock column."""
    out = []
    for path in sorted(results.glob("*/manifest.json")):
        m = json.loads(path.read_text())
        traj = pd.read_parquet(path.parent / TRAJECTORY)
        out.append({"dir": path.parent, "strategy": m["config"]["strategy"]["name"], "traj": traj,
                    "column": traj[CLOCK_COLUMN].unique().tolist() if CLOCK_COLUMN in traj.columns else None})
    return out


def _subset(results: Path, dest: Path, strategy: str) -> Path:
    dest.mkdir()
    for r in _runs(results):
        if r["strategy"] == strategy:
            shutil.copytree(r["dir"], dest / r["dir"].name)
    return dest


def test_each_method_gets_its_clock(grid):
    runs = _runs(grid)
    assert sorted(r["strategy"] for r in runs) == ["darts", "darts", "rs", "rs"]
    for r in runs:  # what `nas-harness run` wrote: one-shot runs say "real" on every row, engine runs say nothing
        assert r["column"] == ([REAL_CLOCK] if r["strategy"] in ONESHOT_METHODS else None)
    result = load_results(grid)
    assert result.clock(TASK, "darts") == "real" and result.clock(TASK, "rs") == "simulated"
    assert result.clocks() == {"darts": "real", "rs": "simulated"} and result.real_methods() == ["darts"]
    for run in result.complete:
        assert run.clock == ("real" if run.strategy == "darts" else "simulated")


@pytest.mark.slow
def test_tables_have_a_clock_column(grid, tmp_path):
    assert report_cli([str(grid), "--out", str(tmp_path / "r"), "--bootstrap", "100", "--budgets", "2"]) == 0
    want = {"darts": "real", "rs": "simulated"}
    board = pd.read_csv(tmp_path / "r" / "leaderboard.csv")
    cost = pd.read_csv(tmp_path / "r" / "search_cost.csv")
    curves = pd.read_csv(tmp_path / "r" / "curves.csv")
    runs = pd.read_csv(tmp_path / "r" / "runs.csv")
    for table in (board, cost, runs, curves[curves["method"].isin(want)]):
        assert set(table["method"]) == set(want)
        assert dict(zip(table["method"], table["clock"], strict=True)) == want
        assert table.groupby("method")["clock"].nunique().max() == 1
    # The final table's numbers for the real-clock method come from its own trajectories (after 2 epochs).
    darts = [r["traj"] for r in _runs(grid) if r["strategy"] == "darts"]
    row = board[board["method"] == "darts"].iloc[0]
    assert row["regret_mean"] == pytest.approx(
        np.mean([t.sort_values("step")["regret"].iloc[1] for t in darts]), rel=1e-12
    )
    md = (tmp_path / "r" / "leaderboard.md").read_text()
    assert "| method | clock | n |" in md and "| darts | real | 2 |" in md and "| rs | simulated | 2 |" in md
    assert "h real (" in md  # search-cost hours of darts are real hours
    tex = (tmp_path / "r" / "leaderboard.tex").read_text()
    assert "Task & Method & Clock & n" in tex and "darts & real & 2" in tex


def _time_lines(fig) -> dict[str, str]:
    """Legend label -> line style of the regret panel's curves."""
    ax = fig.axes[2]
    return {line.get_label(): line.get_linestyle() for line in ax.get_lines() if not line.get_label().startswith("_")}


@pytest.mark.slow
def test_time_curves_mark_real_clock_methods(grid, tmp_path):
    report = build_report(grid, n_boot=100)
    info = report.tasks[TASK]
    assert info.time_grid is not None and info.clocks == {"darts": "real", "rs": "simulated"}
    fig = _curve_panels(info, info.time_bands, _colours(report.result.methods()), "time")
    assert _time_lines(fig) == {"DARTS (darts) (real s), n=2": "--", "Random search (rs), n=2": "-"}
    assert {ax.get_xlabel() for ax in (fig.axes[0], fig.axes[2])} == {
        "seconds: simulated (solid) / real compute (dashed)"
    }
    # Against evaluations nothing is timed: no mark, solid lines (the dashed black line is the reference).
    fig = _curve_panels(info, info.eval_bands, _colours(report.result.methods()), "evaluations")
    labels = _time_lines(fig)
    assert labels["DARTS (darts), n=2"] == "-" and labels["Random search (rs), n=2"] == "-"
    # The saved SVG carries the marked legend label (matplotlib keeps text as comments when drawing it as paths).
    svg = render_files(report)["plots/curves_nb201_cifar10_time.svg"].decode()
    assert "DARTS (darts) (real s), n=2" in svg and "real compute (dashed)" in svg
    # The x values are the runs' own seconds: darts' curve starts at its latest first epoch, in real seconds.
    darts = [r["traj"] for r in _runs(grid) if r["strategy"] == "darts"]
    first = max(t["sim_time"].min() for t in darts)
    assert info.time_bands["darts"]["regret"].x[0] >= first and info.time_bands["darts"]["regret"].x[0] < 100 * first

    # Only simulated methods: the figure looks as before; only real ones: real compute seconds.
    rs_only = build_report(_subset(grid, tmp_path / "rs", "rs"), n_boot=100)
    fig = _curve_panels(rs_only.tasks[TASK], rs_only.tasks[TASK].time_bands, _colours(["rs"]), "time")
    assert (
        _time_lines(fig) == {"Random search (rs), n=2": "-"}
        and fig.axes[2].get_xlabel() == "simulated time (GPU-hours)"
    )
    darts_only = build_report(_subset(grid, tmp_path / "darts", "darts"), n_boot=100)
    fig = _curve_panels(darts_only.tasks[TASK], darts_only.tasks[TASK].time_bands, _colours(["darts"]), "time")
    assert (
        _time_lines(fig) == {"DARTS (darts) (real s), n=2": "--"} and fig.axes[2].get_xlabel() == "real compute seconds"
    )


def test_notes_totals_and_time_budgets_say_which_clock(grid, tmp_path):
    runs = _runs(grid)
    t = 5000.0  # simulated seconds for rs (a few evaluations in), real seconds for darts (long after it finished)
    report = build_report(grid, time_budgets=[t], n_boot=100)
    notes = " ".join(report.notes)
    assert "real compute seconds on the machine that ran them" in notes and "not comparable 1:1" in notes
    assert "real-clock methods (darts) are read at T real compute seconds" in report.budgets_note
    text = "\n".join(b.text for b in document(report, {}))
    assert "at 5,000 simulated seconds (real compute seconds for darts)" in text
    # Simulated GPU-hours count only the simulated-clock runs; the real-clock runs are real hours.
    sim = sum(r["traj"]["cost"].sum() for r in runs if r["strategy"] == "rs") / 3600
    real = sum(r["traj"]["cost"].sum() for r in runs if r["strategy"] == "darts") / 3600
    assert report.total_gpu_h == pytest.approx(sim, rel=1e-12) and report.total_real_h == pytest.approx(real, rel=1e-12)
    assert f"{real:.4g} real CPU/GPU hours of this machine" in text
    # At T, darts' final pick (its search finished long before) and rs' last evaluation completed by T.
    ft = report.final_table.set_index("method")
    darts = [r["traj"].sort_values("step") for r in runs if r["strategy"] == "darts"]
    assert all(d["sim_time"].iloc[-1] < t for d in darts)
    assert ft.loc["darts", "regret_mean"] == pytest.approx(np.mean([d["regret"].iloc[-1] for d in darts]), rel=1e-12)
    rs = [r["traj"].sort_values("step") for r in runs if r["strategy"] == "rs"]
    assert ft.loc["rs", "regret_mean"] == pytest.approx(
        np.mean([d.loc[d["sim_time"] <= t, "regret"].iloc[-1] for d in rs]), rel=1e-12
    )
    assert ft.loc["darts", "clock"] == "real" and ft.loc["rs", "clock"] == "simulated"
    # No real-clock method: no clock note, the simulated wording alone.
    rs_only = build_report(_subset(grid, tmp_path / "rs", "rs"), time_budgets=[t], n_boot=100)
    assert not any("real compute seconds" in n for n in rs_only.notes) and "real-clock" not in rs_only.budgets_note
    assert rs_only.total_real_h == 0.0


def test_a_method_mixing_clocks_is_refused_in_one_line(grid, tmp_path):
    mixed = tmp_path / "mixed"
    shutil.copytree(grid, mixed)
    rs = next(r for r in _runs(mixed) if r["strategy"] == "rs")
    rewrite_trajectory(rs["dir"], rs["traj"].assign(**{CLOCK_COLUMN: REAL_CLOCK}))
    with pytest.raises(NasHarnessError) as info:
        load_results(mixed)
    message = str(info.value)
    assert "rs on nb201/cifar10 mixes clocks" in message and rs["dir"].name in message and "\n" not in message
    with pytest.raises(NasHarnessError, match="mixes clocks"):
        report_cli([str(mixed), "--out", str(tmp_path / "r")])
    # A clock column holding something else is a damaged run (listed), not a silent guess.
    rewrite_trajectory(rs["dir"], rs["traj"].assign(**{CLOCK_COLUMN: "wall"}))
    run = next(r for r in load_results(mixed).runs if r.run_id == rs["dir"].name)
    assert run.status == "damaged" and "'wall'" in run.reason


def test_results_without_a_clock_column_fall_back_to_the_manifest(grid, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(grid, old)
    for r in _runs(old):
        if r["column"] is not None:
            rewrite_trajectory(r["dir"], r["traj"].drop(columns=[CLOCK_COLUMN]))
    runs = _runs(old)
    assert all(r["column"] is None for r in runs) and {r["strategy"] for r in runs} == {"darts", "rs"}
    result = load_results(old)
    assert [r.status for r in result.runs] == ["complete"] * 4
    for run in result.complete:  # the manifest's config.strategy.name decides
        manifest = json.loads((run.path / MANIFEST).read_text())
        assert run.clock == ("real" if manifest["config"]["strategy"]["name"] in ONESHOT_METHODS else "simulated")
    assert result.clocks() == {"darts": "real", "rs": "simulated"}
