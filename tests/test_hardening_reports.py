"""Hardening of result readers: `report` deletes only its own stale files inside its folder, and a
damaged manifest.json gives one line in report/regress/reproduce and is re-run by the grid."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.app import run_config
from harness.cli import main as cli_main
from harness.report import build_report
from harness.report.render import REPORT_MARKER, is_report_file, render_files, write_report
from harness.results import (
    MANIFEST,
    TRAJECTORY,
    ManifestError,
    read_manifest,
    result_problem,
    run_id,
    validate_manifest,
)
from tabular.errors import NasHarnessError
from tabular.hashing import sha256_file

SEEDS = range(3)
EVALUATIONS = 8


def config(strategy: str, seed: int) -> dict:
    """A resolved run config as `nas-harness run` records it."""
    return {"benchmark": {"name": "nb201/cifar10", "seed_policy": "sample", "fixed_seed": None, "objectives": None},
            "budget": {"evaluations": EVALUATIONS, "sim_seconds": None}, "n_workers": 1, "seed": seed,
            "strategy": {"name": strategy, "charge_repeats": True}}


@pytest.fixture(scope="module")
def results(data_home, tmp_path_factory) -> Path:
    """rs and re x 3 seeds x 8 evaluations on nb201/cifar10, written by the grid's own run writer."""
    root = tmp_path_factory.mktemp("hardening") / "results"
    for strategy in ("rs", "re"):
        for seed in SEEDS:
            assert run_config(config(strategy, seed), [], root)["status"] == "complete"
    return root


@pytest.fixture(scope="module")
def report_files(results):
    report = build_report(results, n_boot=100)
    return report, render_files(report)


def copy_results(results: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "results"
    shutil.copytree(results, dest)
    return dest


# -- report deletes only its own stale files, inside its folder ------------------------------------------
def test_every_file_a_report_writes_is_a_known_report_file(report_files):
    _, files = report_files
    assert any(rel.startswith("plots/") for rel in files) and "index.html" in files
    assert [rel for rel in files if not is_report_file(rel)] == []
    for rel in (
        "/etc/passwd",
        "../x.png",
        "plots/../../x.png",
        "plots/sub/x.png",
        "notes.txt",
        "plots/x.pdf",
        "report.json",
    ):
        assert not is_report_file(rel), rel


def test_crafted_report_json_cannot_delete_outside_the_output_folder(report_files, tmp_path, caplog):
    report, files = report_files
    out = tmp_path / "work" / "report"
    write_report(report, out, files=files)
    outside = tmp_path / "outside"
    outside.mkdir()
    absolute = outside / "absolute.png"
    parent = out.parent / "parent.png"  # reached by ../
    target = outside / "target.png"  # reached through a symlink inside plots/
    for victim in (absolute, parent, target):
        victim.write_bytes(b"user data")
    (out / "plots" / "cd_link.png").symlink_to(target)
    stale = out / "plots" / "cd_999.png"  # a plot of the previous report that this one does not write
    stale.write_bytes(b"old plot")
    user_note = out / "notes.txt"
    user_note.write_text("mine")
    marker = json.loads((out / REPORT_MARKER).read_text())
    marker["files"] += [str(absolute), "../parent.png", "plots/cd_link.png", "plots/cd_999.png", "notes.txt",
                        "plots/../../parent.png", str(out / "plots" / "cd_999.png")]
    (out / REPORT_MARKER).write_text(json.dumps(marker))
    with caplog.at_level(logging.WARNING, logger="harness.report.render"):
        write_report(report, out, files=files)
    for victim in (absolute, parent, target):
        assert victim.read_bytes() == b"user data", victim
    assert (out / "plots" / "cd_link.png").is_symlink() and user_note.read_text() == "mine"
    assert not stale.exists()
    assert all((out / rel).read_bytes() == data for rel, data in files.items())
    warned = " ".join(r.getMessage() for r in caplog.records)
    for rel in (str(absolute), "../parent.png", "plots/cd_link.png", "notes.txt"):
        assert repr(rel) in warned, rel


def test_plots_folder_symlinked_outside_keeps_its_files(report_files, tmp_path):
    """A plots folder symlinked outside the output folder is refused in one line (issue 18 item 11): nothing
    is written through it, and a listed report name there is left alone."""
    report, files = report_files
    out = tmp_path / "report"
    write_report(report, out, files=files)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(out / "plots", elsewhere)
    (out / "plots").symlink_to(elsewhere, target_is_directory=True)
    victim = elsewhere / "cd_777.png"
    victim.write_bytes(b"someone's plot")
    marker = json.loads((out / REPORT_MARKER).read_text())
    marker["files"].append("plots/cd_777.png")
    (out / REPORT_MARKER).write_text(json.dumps(marker))
    before = {p.name: p.stat().st_mtime_ns for p in elsewhere.iterdir()}
    with pytest.raises(NasHarnessError, match="symbolic link"):
        write_report(report, out, files=files)
    assert victim.read_bytes() == b"someone's plot"
    assert {p.name: p.stat().st_mtime_ns for p in elsewhere.iterdir()} == before


@pytest.mark.parametrize("marker", [
    "[1, 2",  # not JSON
    json.dumps(["plots/cd_999.png"]),  # not an object
    json.dumps({"generator": "someone else", "files": ["plots/cd_999.png"]}),
    json.dumps({"generator": "nas-harness report", "files": "plots/cd_999.png"}),  # files not a list
    json.dumps({"generator": "nas-harness report", "files": ["plots/cd_999.png", 3]}),  # not all names
    "[" * 100_000 + "]" * 100_000,  # nested deeper than json.loads decodes
])
def test_damaged_report_json_is_treated_as_absent(report_files, tmp_path, marker):
    report, files = report_files
    out = tmp_path / "report"
    out.mkdir()
    (out / "plots").mkdir()
    stale = out / "plots" / "cd_999.png"
    stale.write_bytes(b"not ours to delete")
    (out / REPORT_MARKER).write_text(marker)
    with pytest.raises(NasHarnessError, match=f"holds no previous report .*{REPORT_MARKER} is there but"):
        write_report(report, out, files=files)
    write_report(report, out, files=files, force=True)  # written into like any user folder: nothing removed
    assert stale.read_bytes() == b"not ours to delete"
    assert json.loads((out / REPORT_MARKER).read_text())["complete"] is True


# -- damaged manifests -------------------------------------------------------------------------------------
def _good(results: Path) -> dict:
    return json.loads(next(results.glob(f"*/{MANIFEST}")).read_text())


DAMAGE = {
    "a list": lambda m: [m],
    "a string": lambda m: "complete",
    "a number": lambda m: 3,
    "status 3": lambda m: dict(m, status=3),
    "unknown status": lambda m: dict(m, status="done"),
    "config a string": lambda m: dict(m, config="x"),
    "seed a string": lambda m: dict(m, seed="a"),
    "config seed a string": lambda m: dict(m, config=dict(m["config"], seed="a")),
    "seed a boolean": lambda m: dict(m, config=dict(m["config"], seed=True)),
    "no config": lambda m: {k: v for k, v in m.items() if k != "config"},
    "no status": lambda m: {k: v for k, v in m.items() if k != "status"},
    "no trajectory_rows": lambda m: {k: v for k, v in m.items() if k != "trajectory_rows"},
    "strategy name a number": lambda m: dict(m, config=dict(m["config"], strategy={"name": 3})),
    "budget a list": lambda m: dict(m, config=dict(m["config"], budget=[8])),
    "evaluations a string": lambda m: dict(
        m, config=dict(m["config"], budget={"evaluations": "ten", "sim_seconds": None})
    ),
    "rows a string": lambda m: dict(m, trajectory_rows="8"),
}
NOT_JSON = "{\"status\": \"complete\", "
NESTED = (
    '{"status": ' + "[" * 100_000 + "]" * 100_000 + "}"
)  # valid JSON that json.loads cannot decode (RecursionError)


def damage(run_dir: Path, how: str) -> None:
    path = run_dir / MANIFEST
    if how == "not JSON":
        path.write_text(NOT_JSON)
    elif how == "nested too deeply":
        path.write_text(NESTED)
    else:
        path.write_text(json.dumps(DAMAGE[how](json.loads(path.read_text()))))


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("nas-harness: error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_the_manifests_the_grid_writes_are_valid(results):
    for path in sorted(results.glob(f"*/{MANIFEST}")):
        manifest = json.loads(path.read_text())
        assert validate_manifest(manifest, path) is manifest
        assert read_manifest(path.parent) == manifest and result_problem(path.parent) is None


@pytest.mark.parametrize("how", [*DAMAGE, "not JSON", "nested too deeply"])
def test_damaged_manifest_is_one_line_everywhere(results, tmp_path, capsys, how):
    root = copy_results(results, tmp_path)
    run_dir = sorted(p.parent for p in root.glob(f"*/{MANIFEST}"))[0]
    damage(run_dir, how)
    path = run_dir / MANIFEST
    expected = f"nas-harness: error: {path} is damaged ("
    tail = "); delete the run folder or re-run the grid to redo it"
    with pytest.raises(ManifestError, match="is damaged"):
        read_manifest(run_dir)
    assert result_problem(run_dir) == "damaged manifest"  # the grid's resume: not done
    for argv in (
        ["report", str(root), "--bootstrap", "100"],
        ["regress", str(results), str(root), "--bootstrap", "100"],
        ["reproduce", str(run_dir)],
    ):
        assert cli_main(argv) == 2, argv
        line = one_error_line(capsys)
        assert line.startswith(expected) and line.endswith(tail), (argv, line)
    assert not (root / "report").exists()  # the report refused before writing anything


# -- damaged trajectories (issue 18, items 5 and 6) ---------------------------------------------------------
@pytest.mark.parametrize("column", ["regret", "sim_time", "step"])
def test_trajectory_with_string_numbers_is_one_line_everywhere(results, tmp_path, capsys, column):
    """Numeric columns rewritten as strings, the manifest's sha256 updated to match: report, regress and
    rank-stats --strategies refuse in one line naming the file instead of a ValueError."""
    root = copy_results(results, tmp_path)
    run_dir = sorted(p.parent for p in root.glob(f"*/{MANIFEST}"))[1]
    traj_path = run_dir / TRAJECTORY
    frame = pd.read_parquet(traj_path)
    frame[column] = frame[column].astype(str)
    frame.to_parquet(traj_path, index=False)
    manifest = json.loads((run_dir / MANIFEST).read_text())
    manifest["trajectory_sha256"] = sha256_file(traj_path)
    (run_dir / MANIFEST).write_text(json.dumps(manifest))
    assert result_problem(run_dir) is None  # the checksum alone cannot tell
    expected = f"nas-harness: error: {traj_path} is damaged (column {column!r} holds"
    for argv in (
        ["report", str(root), "--bootstrap", "100"],
        ["regress", str(results), str(root), "--bootstrap", "100"],
        ["rank-stats", "--strategies", str(root)],
    ):
        assert cli_main(argv) == 2, argv
        line = one_error_line(capsys)
        assert line.startswith(expected), (argv, line)
    assert not (root / "report").exists()


def test_reproduce_of_a_truncated_trajectory_is_one_line(results, tmp_path, capsys):
    root = copy_results(results, tmp_path)
    run_dir = sorted(p.parent for p in root.glob(f"*/{MANIFEST}"))[0]
    traj_path = run_dir / TRAJECTORY
    data = traj_path.read_bytes()
    traj_path.write_bytes(data[: len(data) // 2])
    assert cli_main(["reproduce", str(run_dir)]) == 2
    assert one_error_line(capsys).startswith(f"nas-harness: error: {traj_path} is damaged (unreadable: ")


def test_grid_reruns_a_run_whose_manifest_is_damaged(results, tmp_path):
    root = copy_results(results, tmp_path)
    cfg = config("re", 1)
    run_dir = root / run_id(cfg)
    good = json.loads((run_dir / MANIFEST).read_text())
    trajectory = pd.read_parquet(run_dir / TRAJECTORY)
    assert run_config(cfg, [], root)["status"] == "skipped"  # an intact run is not redone
    damage(run_dir, "seed a string")  # the trajectory still matches the manifest's sha256 and rows
    assert sha256_file(run_dir / TRAJECTORY) == good["trajectory_sha256"]
    assert run_config(cfg, [], root)["status"] == "complete"
    redone = read_manifest(run_dir)
    assert redone["seed"] == 1 and redone["trajectory_rows"] == len(trajectory)
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / TRAJECTORY).drop(columns="wall_time"),
                                  trajectory.drop(columns="wall_time"))
    assert run_config(cfg, [], root)["status"] == "skipped"
