"""A grid's failure summary and exit code come from the results folder, not the driver's ledger."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import app
from harness import run_lock as rl
from harness.grid import run_folder
from harness.results import LOCK, MANIFEST, result_problem

REPO = Path(__file__).resolve().parents[1]
FAILING = ["budget.evaluations=5", "benchmark.seed_policy=fixed", "benchmark.fixed_seed=7"]  # the store has seeds 0-2


def _failed_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("FAILED")]


def _nas(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_all_failing_grid_with_the_default_launcher(tmp_path, data_home):
    proc = _nas(["run", "-m", "seed=0,1,2", *FAILING, f"hydra.sweep.dir={tmp_path}"])
    assert proc.returncode == 1
    failed = _failed_lines(proc.stderr)
    assert len(failed) == 3 and all("no seed 7" in line and "run.log" in line for line in failed)
    assert "failed 3" in proc.stderr
    logs = [Path(line.split("(log: ")[1].rstrip(")")) for line in failed]
    assert all(json.loads((log.parent / MANIFEST).read_text())["status"] == "failed" for log in logs)


@pytest.mark.slow
def test_all_failing_grid_whose_workers_cannot_see_the_ledger(tmp_path, data_home, monkeypatch, capsys):
    """Workers on other machines never see the driver's temporary ledger: simulate it by making
    every job's ledger write a no-op. The summary still lists every failure and exits 1."""
    monkeypatch.setattr(run_folder, "record_ledger", lambda entry: None)
    monkeypatch.chdir(REPO)
    code = app.run_app(["-m", "hydra/launcher=basic", "seed=0,1", *FAILING, f"hydra.sweep.dir={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 1, err
    failed = _failed_lines(err)
    assert len(failed) == 2 and all("no seed 7" in line for line in failed)
    # and a grid that works there exits 0 with its runs counted from the folder
    code = app.run_app(["-m", "hydra/launcher=basic", "seed=0,1", "budget.evaluations=5",
                        f"hydra.sweep.dir={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 0 and "runs: complete 2" in err, err


@pytest.mark.slow
def test_outcomes_are_read_from_the_run_folders(tmp_path, data_home):
    """grid_outcomes believes the folder, not what a worker reported."""
    proc = _nas(["run", "-m", "seed=0,1", "budget.evaluations=5", f"hydra.sweep.dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr
    good, other = sorted(d.name for d in tmp_path.iterdir() if d.is_dir())
    (tmp_path / other / MANIFEST).unlink()  # as if its worker were killed before the manifest
    held, dropped = tmp_path / ("a" * 16), tmp_path / ("b" * 16)
    held.mkdir()
    dropped.mkdir()
    (held / LOCK).write_text(json.dumps({"host": "node-17.cluster", "pid": 9, "token": "t"}))  # fresh heartbeat
    (dropped / LOCK).write_text(json.dumps({"host": "node-17.cluster", "pid": 9, "token": "t"}))
    old = time.time() - rl.DEFAULT_EXPIRY_S - 10
    os.utime(dropped / LOCK, (old, old))  # its holder stopped beating long ago
    jobs = [
        {"run_id": good, "overrides": ["seed=0"], "status": "complete"},
        {"run_id": good, "overrides": ["seed=0"], "status": "skipped"},
        {"run_id": other, "overrides": ["seed=1"], "status": "complete"},
        {"run_id": "c" * 16, "overrides": ["seed=2"], "status": "complete"},  # written where the driver cannot see
        {"run_id": held.name, "overrides": ["seed=3"], "status": app.ELSEWHERE},
        {"run_id": dropped.name, "overrides": ["seed=4"], "status": app.ELSEWHERE},
    ]
    out = app.grid_outcomes(tmp_path, jobs)
    assert [e["status"] for e in out] == ["complete", "skipped", "failed", "failed", app.ELSEWHERE, "failed"]
    assert result_problem(tmp_path / other) == "no manifest" and "no manifest" in out[2]["error"]
    assert "no run folder" in out[3]["error"] and "workers share" in out[3]["error"]
    assert all(e["log"] == str(tmp_path / e["run_id"] / "run.log") for e in out)


@pytest.mark.parametrize("argv", [["-m", "hydra/launcher=ray_cluster"], ["hydra/launcher=ray", "seed=1"]])
def test_missing_ray_plugin_is_one_clear_line(argv, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if "ray" in name else real(name, *a))
    with pytest.raises(app.NasHarnessError, match=r'needs the Ray launcher plugin: pip install -e "\.\[ray\]"'):
        app.run_app(argv)
