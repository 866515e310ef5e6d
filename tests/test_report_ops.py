"""`nas-harness report`: op histograms of the cells picked by one-shot searches, per epoch.

The grid is real: darts runs through `nas-harness run` (a subprocess, as a user runs it) and random
search through the app's own run writer, both on nb201/cifar10 (the approach of
tests/test_report_clock.py). The truth is read independently from the run folders: the raw
trajectory parquet files summed with pandas, and the ops recounted from the picked cell's
architecture string.
"""
from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.report import build_report
from harness.report.render import render_files
from harness.results import TRAJECTORY
from harness.spaces.nb201 import parse
from tabular.errors import SourceMissingError
from tests.oneshot_grid import TASK, darts_and_rs_grid, rewrite_trajectory
from tests.test_report import report_cli

# Written out here, not imported: the NB201 paper's five ops and the ops without trainable weights.
NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
DARTS_OPS = [
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]
PARAM_FREE = {"none", "skip_connect", "avg_pool_3x3", "max_pool_3x3"}
SECTION = "## Op histograms of one-shot picks"


@pytest.fixture(scope="module")
def grid(data_home, tmp_path_factory):
    """darts x seeds 0, 1 (3 epochs, tiny supernet) and rs x seeds 0, 1 (12 evaluations) on nb201/cifar10."""
    try:
        return darts_and_rs_grid(tmp_path_factory.mktemp("ops") / "results", data_home, epochs=3)
    except SourceMissingError as exc:
        pytest.skip(f"{TASK} source data not available: {exc}")


def _runs(results: Path, strategy: str | None = None) -> list[dict]:
    """Independent reading of every run folder: its strategy and raw trajectory."""
    out = []
    for path in sorted(results.glob("*/manifest.json")):
        name = json.loads(path.read_text())["config"]["strategy"]["name"]
        if strategy is None or name == strategy:
            out.append({"dir": path.parent, "strategy": name, "traj": pd.read_parquet(path.parent / TRAJECTORY)})
    return out


def _recount(arch: str) -> Counter:
    """Ops of an NB201 cell string, read off the string itself (`op~j` entries)."""
    ops = re.findall(r"([a-z0-9_]+)~\d", arch)
    assert len(ops) == len(parse(arch)) == 6  # the harness's parser agrees on the cell's six edges
    return Counter(ops)


@pytest.fixture(scope="module")
def rendered(grid, tmp_path_factory):
    out = tmp_path_factory.mktemp("ops_report") / "r"
    assert report_cli([str(grid), "--out", str(out), "--bootstrap", "100"]) == 0
    return out


def test_csv_equals_sums_of_the_raw_trajectories(grid, rendered):
    darts = _runs(grid, "darts")
    assert len(darts) == 2 and all(set(f"op_{o}" for o in NB201_OPS) <= set(r["traj"].columns) for r in darts)
    csv = pd.read_csv(rendered / "op_histograms.csv")
    assert list(csv.columns) == ["benchmark", "method", "step", "n_runs", *NB201_OPS, "param_free_share"]
    assert set(zip(csv["benchmark"], csv["method"], strict=True)) == {(TASK, "darts")}  # rs has no op_ columns: no rows
    # pandas on the raw files: op_ columns summed over seeds per step.
    raw = pd.concat([r["traj"] for r in darts], ignore_index=True)
    truth = raw.groupby("step")[[f"op_{o}" for o in NB201_OPS]].sum()
    truth.columns = NB201_OPS
    got = csv.set_index("step")
    assert list(got.index) == list(truth.index) and len(got) == 3  # 3 epochs
    assert (got["n_runs"] == raw.groupby("step").size()).all() and (got["n_runs"] == 2).all()
    pd.testing.assert_frame_equal(got[NB201_OPS], truth, check_dtype=False, check_names=False)
    # Recounted from the picked cell itself, for every row.
    for step, row in got.iterrows():
        counts = sum((_recount(a) for a in raw.loc[raw["step"] == step, "incumbent_arch"]), Counter())
        assert {o: int(row[o]) for o in NB201_OPS} == {o: counts.get(o, 0) for o in NB201_OPS}
        assert row["param_free_share"] == pytest.approx(sum(counts[o] for o in PARAM_FREE) / (6 * 2), abs=1e-12)


def test_markdown_html_and_figure(grid, rendered):
    darts = pd.concat([r["traj"] for r in _runs(grid, "darts")], ignore_index=True)
    last = int(darts["step"].max())
    fin = darts[darts["step"] == last]
    counts = [int(fin[f"op_{o}"].sum()) for o in NB201_OPS]
    share = sum(c for o, c in zip(NB201_OPS, counts, strict=True) if o in PARAM_FREE) / sum(counts)
    md = (rendered / "leaderboard.md").read_text()
    assert SECTION in md
    section = md[md.index(SECTION):]
    section = section[:section.find("\n## ", 1)]
    assert "| method | epoch | n runs | " + " | ".join(NB201_OPS) + " | param-free share |" in section
    final_row = f"| darts | {last} | 2 | " + " | ".join(map(str, counts)) + f" | {100 * share:.1f} % |"
    assert final_row in section
    assert section.count(final_row) == 2  # in the final-picks table and as the last row of the per-epoch table
    assert section.count("| darts | ") == 1 + 3  # one final row, three epochs
    assert "| rs |" not in section
    assert "plots/op_histograms.png" in section
    page = (rendered / "index.html").read_text()
    assert "<h2>Op histograms of one-shot picks</h2>" in page and "parameter-free share" in page
    for ext, magic in (("png", b"\x89PNG"), ("svg", b"<?xml")):
        path = rendered / "plots" / f"op_histograms.{ext}"
        assert path.is_file() and path.read_bytes().startswith(magic)
    files = json.loads((rendered / "report.json").read_text())["files"]
    assert {"op_histograms.csv", "plots/op_histograms.png", "plots/op_histograms.svg"} <= set(files)


def test_rs_only_report_has_no_op_histograms(grid, tmp_path):
    rs = tmp_path / "rs"
    rs.mkdir()
    for r in _runs(grid, "rs"):
        shutil.copytree(r["dir"], rs / r["dir"].name)
    report = build_report(rs, n_boot=100)
    files = render_files(report)
    assert "op_histograms.csv" not in files and not any("op_histograms" in f for f in files)
    assert (
        "Op histograms" not in files["leaderboard.md"].decode() and "Op histograms" not in files["index.html"].decode()
    )


def test_runs_without_op_columns_are_left_out_and_named(grid, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(grid, copy)
    dropped, kept = _runs(copy, "darts")
    rewrite_trajectory(
        dropped["dir"], dropped["traj"].drop(columns=[c for c in dropped["traj"].columns if c.startswith("op_")])
    )
    report = build_report(copy, n_boot=100)
    table = report.op_histograms.table
    assert (table["n_runs"] == 1).all()
    truth = kept["traj"].groupby("step")[[f"op_{o}" for o in NB201_OPS]].sum().to_numpy()
    np.testing.assert_array_equal(table[NB201_OPS].to_numpy(), truth)
    assert any(dropped["dir"].name in w and "no op_ columns" in w for w in report.warnings)


def test_darts_space_ops_count_max_pool_as_parameter_free(grid, tmp_path):
    """Trajectories with the DARTS space's seven op columns (16 slots): max_pool_3x3 counts as parameter-free, and an
    op the space lacks (none) is absent rather than zero."""
    copy = tmp_path / "darts_space"
    shutil.copytree(grid, copy)
    rng = np.random.default_rng(7)
    raw = []
    for r in _runs(copy, "darts"):
        traj = r["traj"].drop(columns=[c for c in r["traj"].columns if c.startswith("op_")])
        counts = rng.multinomial(16, np.full(len(DARTS_OPS), 1 / len(DARTS_OPS)), size=len(traj))
        for j, op in enumerate(DARTS_OPS):
            traj[f"op_{op}"] = counts[:, j]
        rewrite_trajectory(r["dir"], traj)
        raw.append(traj)
    report = build_report(copy, n_boot=100)
    sub = report.op_histograms.group(TASK, "darts")
    assert list(sub.columns) == ["benchmark", "method", "step", "n_runs", *DARTS_OPS, "param_free_share"]
    both = pd.concat(raw, ignore_index=True).groupby("step")
    free = both[[f"op_{o}" for o in DARTS_OPS if o in PARAM_FREE]].sum().sum(axis=1).to_numpy()
    np.testing.assert_allclose(sub["param_free_share"].to_numpy(), free / (16 * 2), rtol=0, atol=1e-12)
    assert "none" not in report.op_histograms.table.columns


@pytest.mark.slow
def test_long_searches_are_thinned_in_the_page_but_not_in_the_csv(grid, tmp_path):
    """30 epochs (rows repeated from the real run, renumbered): the page shows 12 evenly spread epochs, first and last
    included; op_histograms.csv keeps all 30."""
    copy = tmp_path / "long"
    shutil.copytree(grid, copy)
    for r in _runs(copy, "darts"):
        traj = r["traj"].sort_values("step")
        long = traj.iloc[np.arange(30) % len(traj)].reset_index(drop=True)
        long["step"] = np.arange(1, 31)
        rewrite_trajectory(r["dir"], long)
    files = render_files(build_report(copy, n_boot=100))
    csv = pd.read_csv(BytesIO(files["op_histograms.csv"]))
    assert list(csv["step"]) == list(range(1, 31))
    md = files["leaderboard.md"].decode()
    per_epoch = md[md.index("Per epoch"):]
    per_epoch = per_epoch[:per_epoch.index("![")]
    steps = [int(line.split(" | ")[1]) for line in per_epoch.splitlines() if line.startswith("| darts | ")]
    assert len(steps) == 12 and steps[0] == 1 and steps[-1] == 30 and steps == sorted(set(steps))
    assert max(np.diff(steps)) - min(np.diff(steps)) <= 1  # evenly spread
    assert "every one is in `op_histograms.csv`" in per_epoch
