"""`nas-harness run` and `report` fail in one line, and never write outside the folder the user named
(issue 18 items 8, 9, 10, 11 and 13)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.grid.run_folder import ELSEWHERE, run_config
from harness.grid.summary import EXIT_INCOMPLETE, grid_outcomes, summarise
from harness.report.output import check_out_dir
from harness.results import LOCK, LOG, MANIFEST, TRAJECTORY, result_problem, run_id
from tabular.errors import NasHarnessError

REPO = Path(__file__).resolve().parents[1]
CONFIG = {"benchmark": {"name": "nb201/cifar10", "seed_policy": "sample", "fixed_seed": None, "objectives": None},
          "budget": {"evaluations": 5, "sim_seconds": None}, "n_workers": 1, "seed": 0,
          "strategy": {"name": "rs", "charge_repeats": True}}


def _nas(args: list[str], cwd: Path = REPO, env: dict[str, str] | None = None, timeout: int = 300):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The single stderr line of a failed command (no traceback, nothing else)."""
    assert proc.returncode not in (0, None), proc.stderr
    assert "Traceback" not in proc.stderr and "HYDRA_FULL_ERROR" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _runs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []


# -- item 8: an output folder that is a file --------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sweep", "run", "under"])
def test_output_folder_that_is_a_file_is_one_line(tmp_path, data_home, kind):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    args = {"sweep": ["-m", "seed=0", f"hydra.sweep.dir={afile}"],
            "run": ["seed=0", f"hydra.run.dir={afile}"],
            "under": ["-m", "seed=0", f"hydra.sweep.dir={afile / 'sub'}"]}[kind]
    line = _one_line_error(_nas(["run", *args]))
    assert "not a folder" in line and str(afile) in line
    assert afile.read_text() == "mine"


@pytest.mark.slow
def test_default_results_folder_that_is_a_file_is_one_line(tmp_path, data_home):
    (tmp_path / "results").write_text("mine")
    for args in (["run", "seed=0"], ["run", "-m", "seed=0"], ["run", "+experiment=nb201_paper", "seed=0"]):
        line = _one_line_error(_nas(args, cwd=tmp_path))
        assert "results is not a folder" in line, args
    assert (tmp_path / "results").read_text() == "mine"


# -- item 9: launchers that cannot work here --------------------------------------------------------------
def test_slurm_without_slurm_is_one_line(tmp_path, data_home):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty))  # no srun, no sbatch
    line = _one_line_error(_nas(["run", "-m", "hydra/launcher=slurm", "seed=0", f"hydra.sweep.dir={tmp_path / 'r'}"],
                                env=env))
    assert "needs Slurm" in line and "srun" in line and "hydra/launcher=local" in line
    assert _runs(tmp_path / "r") == []


def _ray_cluster_running() -> bool:
    pgrep = shutil.which("pgrep")
    return pgrep is not None and subprocess.run([pgrep, "-f", "gcs_server"], capture_output=True).returncode == 0


@pytest.mark.slow
def test_ray_cluster_that_is_not_there_is_one_line(tmp_path, data_home):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    if _ray_cluster_running() or os.environ.get("RAY_ADDRESS"):
        pytest.skip("a Ray cluster runs on this machine: address=auto would reach it")
    env = dict(os.environ, RAY_TMPDIR=str(tmp_path / "ray"))
    proc = _nas(["run", "-m", "hydra/launcher=ray_cluster", "hydra.launcher.ray.init.address=auto", "seed=0",
                 "budget.evaluations=3", f"hydra.sweep.dir={tmp_path / 'r'}"], env=env)
    line = _one_line_error(proc)
    assert "could not reach a Ray cluster" in line and "ray start --head" in line
    assert _runs(tmp_path / "r") == []


# -- item 10: -m anywhere; options after overrides --------------------------------------------------------
@pytest.mark.slow
def test_multirun_flag_after_an_override(tmp_path, data_home):
    proc = _nas(["run", "budget.evaluations=5", "-m", "seed=0,1", "hydra/launcher=basic",
                 f"hydra.sweep.dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr
    assert "complete 2" in proc.stderr and "NAS_HARNESS_LEDGER" not in proc.stderr
    assert len(_runs(tmp_path)) == 2 and all(result_problem(d) is None for d in _runs(tmp_path))
    proc = _nas(["run", "seed=0", "--multirun", f"hydra.sweep.dir={tmp_path}", "budget.evaluations=5"])
    assert proc.returncode == 0 and "skipped 1" in proc.stderr, proc.stderr


@pytest.mark.slow
def test_unknown_option_is_one_line_without_internal_arguments(tmp_path, data_home):
    line = _one_line_error(_nas(["run", "seed=0", "-m", "--no-such-option", f"hydra.sweep.dir={tmp_path}"]))
    assert "unknown option --no-such-option" in line and "NAS_HARNESS_LEDGER" not in line
    # an option Hydra knows, after the overrides, with its value
    proc = _nas(["run", "seed=4", "--cfg", "job", "budget.evaluations=3"])
    assert proc.returncode == 0 and "seed: 4" in proc.stdout and "evaluations: 3" in proc.stdout, proc.stderr


# -- item 11: symbolic links in the results folder ---------------------------------------------------------
def test_symlinked_run_folder_is_refused_and_nothing_is_written_outside(tmp_path, data_home):
    results, outside = tmp_path / "results", tmp_path / "outside"
    results.mkdir()
    outside.mkdir()
    rid = run_id(CONFIG)
    (results / rid).symlink_to(outside, target_is_directory=True)
    entry = run_config(CONFIG, ["seed=0"], results)
    assert entry["status"] == "failed" and "symbolic link" in entry["error"] and str(outside) in entry["error"]
    assert "\n" not in entry["error"]
    assert list(outside.iterdir()) == []
    # a link to a folder holding a valid result is not believed either
    (results / rid).unlink()
    assert run_config(CONFIG, ["seed=0"], results)["status"] == "complete"
    shutil.move(results / rid, outside / rid)
    (results / rid).symlink_to(outside / rid, target_is_directory=True)
    before = {p.name: p.stat().st_mtime_ns for p in (outside / rid).iterdir()}
    jobs = [{"run_id": rid, "overrides": ["seed=0"], "status": "failed", "error": entry["error"]}]
    (out,) = grid_outcomes(results, jobs)
    assert out["status"] == "failed" and "symbolic link" in out["error"]
    assert run_config(CONFIG, ["seed=0"], results)["status"] == "failed"
    assert {p.name: p.stat().st_mtime_ns for p in (outside / rid).iterdir()} == before


def test_symlinked_run_log_is_refused(tmp_path, data_home):
    results = tmp_path / "results"
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    run_dir = results / run_id(CONFIG)
    run_dir.mkdir(parents=True)
    (run_dir / LOG).symlink_to(victim)
    entry = run_config(CONFIG, ["seed=0"], results)
    assert entry["status"] == "failed" and "symbolic link" in entry["error"]
    assert victim.read_text() == "mine\n" and not (run_dir / MANIFEST).exists() and not (run_dir / TRAJECTORY).exists()


@pytest.mark.slow
def test_grid_with_a_symlinked_run_folder_fails_that_run_only(tmp_path, data_home):
    results, outside = tmp_path / "results", tmp_path / "outside"
    outside.mkdir()
    grid = ["run", "-m", "seed=0,1", "budget.evaluations=5", f"hydra.sweep.dir={results}"]
    assert _nas(grid).returncode == 0
    victim = _runs(results)[0]
    shutil.rmtree(victim)
    victim.symlink_to(outside, target_is_directory=True)
    proc = _nas(grid)
    assert proc.returncode == 1 and "failed 1" in proc.stderr and "skipped 1" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    (failed,) = [line for line in proc.stderr.splitlines() if line.startswith("FAILED")]
    assert victim.name in failed and "symbolic link" in failed
    assert list(outside.iterdir()) == []


def test_report_refuses_symlinked_output_folders(tmp_path):
    results, elsewhere = tmp_path / "results", tmp_path / "elsewhere"
    results.mkdir()
    elsewhere.mkdir()
    (results / "report").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(NasHarnessError, match="symbolic link"):
        check_out_dir(results / "report", results, force=True)
    out = tmp_path / "out"
    out.mkdir()
    (out / "plots").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(NasHarnessError, match="symbolic link"):
        check_out_dir(out, results, force=True)


@pytest.mark.slow
def test_report_command_writes_nothing_through_a_linked_report_folder(tmp_path, data_home):
    results, elsewhere = tmp_path / "results", tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert _nas(["run", "-m", "seed=0,1", "budget.evaluations=5", f"hydra.sweep.dir={results}"]).returncode == 0
    (results / "report").symlink_to(elsewhere, target_is_directory=True)
    line = _one_line_error(_nas(["report", str(results)]))
    assert "symbolic link" in line
    assert list(elsewhere.iterdir()) == []


# -- item 13: runs still running elsewhere -----------------------------------------------------------------
def test_summary_exit_codes():
    done = {"run_id": "a" * 16, "overrides": [], "status": "complete", "log": "", "error": ""}
    held = dict(done, run_id="b" * 16, status=ELSEWHERE)
    failed = dict(done, run_id="c" * 16, status="failed", error="boom")
    assert summarise([done]) == 0
    assert summarise([done, held]) == EXIT_INCOMPLETE != 0
    assert summarise([failed, held]) == 1


@pytest.mark.slow
def test_grid_whose_only_missing_run_is_running_elsewhere_is_not_complete(tmp_path, data_home):
    grid = ["run", "-m", "seed=0,1", "budget.evaluations=5", f"hydra.sweep.dir={tmp_path}"]
    assert _nas(grid).returncode == 0
    held = _runs(tmp_path)[0]
    (held / MANIFEST).unlink()  # not done yet, and another host holds its live lock
    (held / LOCK).write_text(json.dumps({"host": "node-17.cluster", "pid": 9, "token": "t", "time": time.time()}))
    proc = _nas(grid)
    assert proc.returncode == EXIT_INCOMPLETE, proc.stderr
    line = _one_line_error(proc)
    assert "running-elsewhere 1" in line and "grid not complete" in line and "skipped 1" in line
    assert not (held / MANIFEST).exists()  # the other process's run was left alone
