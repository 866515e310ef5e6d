"""`nas-harness run` grids: results, RUN_IDs, resume after SIGKILL, concurrency, reproduce, launchers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.grid.summary import EXIT_INCOMPLETE
from harness.results import MANIFEST, TRAJECTORY, result_problem

REPO = Path(__file__).resolve().parents[1]


def nas(args: list[str], cwd: Path, env_home: Path, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, NAS_HARNESS_DATA=str(env_home))
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=cwd, env=env, capture_output=True, text=True, **kw
    )


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("data")
    # Convert once so that concurrent grids below do not all convert at the same time.
    assert nas(["query", "nb201/cifar10"], REPO, home).returncode == 0
    return home


@pytest.mark.slow
def test_single_run_writes_a_self_describing_result(tmp_path, home):
    proc = nas(["run", "budget.evaluations=15", "seed=3", f"hydra.run.dir={tmp_path}"], REPO, home)
    assert proc.returncode == 0, proc.stderr
    (run,) = run_dirs(tmp_path)
    assert result_problem(run) is None
    manifest = json.loads((run / MANIFEST).read_text())
    assert manifest["config"]["seed"] == 3 and manifest["config"]["budget"]["evaluations"] == 15
    assert manifest["strategy"] == "rs" and manifest["benchmark"] == "nb201/cifar10"
    assert len(manifest["benchmark_sha256"]) == 64 and manifest["benchmark_provenance"]["sources"]
    assert {"numpy", "pandas", "hydra-core", "scikit-learn"} <= set(manifest["versions"])
    assert manifest["python"] and manifest["status"] == "complete" and manifest["wall_seconds"] > 0
    traj = pd.read_parquet(run / TRAJECTORY)
    assert len(traj) == 15 == manifest["trajectory_rows"]
    # The same config lands in the same folder: a second invocation skips it.
    again = nas(["run", "seed=3", "budget.evaluations=15", f"hydra.run.dir={tmp_path}"], REPO, home)
    assert again.returncode == 0 and "skipped 1" in again.stderr
    assert run_dirs(tmp_path) == [run]


@pytest.mark.slow
def test_grid_and_larger_grid_resume(tmp_path, home):
    sweep = ["hydra/launcher=basic", f"hydra.sweep.dir={tmp_path}", "budget.evaluations=10"]
    first = nas(["run", "-m", "seed=0,1,2", *sweep], REPO, home)
    assert first.returncode == 0, first.stderr
    assert len(run_dirs(tmp_path)) == 3
    second = nas(["run", "-m", "seed=range(0,5)", *sweep], REPO, home)
    assert second.returncode == 0 and "complete 2" in second.stderr and "skipped 3" in second.stderr
    assert len(run_dirs(tmp_path)) == 5


@pytest.mark.parametrize(
    "override, message",
    [
        ("budget.evaluatons=10", "evaluatons"),
        ("seed=abc", "seed"),
        ("benchmark.seed_policy=median", "median"),
        ("strategy=gradient_descent", "strategy/gradient_descent"),
        ("benchmark=nb201/cifar11", "nb201/cifar11"),
    ],
)
def test_config_errors_fail_before_running(tmp_path, home, override, message):
    proc = nas(["run", override, f"hydra.run.dir={tmp_path}"], REPO, home)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not tmp_path.exists() or run_dirs(tmp_path) == []


@pytest.mark.slow
def test_failed_runs_are_listed_and_the_grid_goes_on(tmp_path, home):
    proc = nas(["run", "-m", "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path}", "budget.evaluations=5",
                "benchmark.seed_policy=fixed", "benchmark.fixed_seed=0,7"], REPO, home)
    assert proc.returncode == 1
    assert "complete 1" in proc.stderr and "failed 1" in proc.stderr
    failure = [line for line in proc.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failure) == 1 and "no seed 7" in failure[0] and "run.log" in failure[0]
    failed_dir = Path(failure[0].split("(log: ")[1].rstrip(")")).parent
    assert json.loads((failed_dir / MANIFEST).read_text())["status"] == "failed"


def _grid_cmd(sweep: Path, seeds: str) -> list[str]:
    return [sys.executable, "-m", "harness", "run", "-m", "hydra/launcher=basic", f"hydra.sweep.dir={sweep}",
            f"seed={seeds}", "budget.evaluations=3000", "benchmark.seed_policy=mean"]


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path, home):
    env = dict(os.environ, NAS_HARNESS_DATA=str(home))
    proc = subprocess.Popen(_grid_cmd(tmp_path, "range(0,30)"), cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(tmp_path.glob("*/manifest.json"))) < 4:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = [d for d in run_dirs(tmp_path) if result_problem(d) is None]
    assert 0 < len(done_before) < 30, "the grid should have been killed mid-way"
    resumed = subprocess.run(_grid_cmd(tmp_path, "range(0,30)"), cwd=REPO, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    dirs = run_dirs(tmp_path)
    assert len(dirs) == 30 and all(result_problem(d) is None for d in dirs)
    seeds = sorted(json.loads((d / MANIFEST).read_text())["seed"] for d in dirs)
    assert seeds == list(range(30))
    assert all(len(pd.read_parquet(d / TRAJECTORY)) == 3000 for d in dirs)
    assert not list(tmp_path.glob("*/.*.tmp")) and not list(tmp_path.glob("*/.lock"))


@pytest.mark.slow
def test_two_concurrent_grids_share_a_sweep_dir(tmp_path, home):
    env = dict(os.environ, NAS_HARNESS_DATA=str(home))
    procs = [
        subprocess.Popen(
            _grid_cmd(tmp_path, seeds), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for seeds in ("range(0,12)", "range(6,18)")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    # A grid that ends while the other still runs a shared run exits 3 (not complete yet); the last one exits 0.
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0 and codes[1] in (0, EXIT_INCOMPLETE), outs
    dirs = run_dirs(tmp_path)
    assert len(dirs) == 18 and all(result_problem(d) is None for d in dirs)


@pytest.mark.slow
def test_reproduce_passes_and_detects_tampering(tmp_path, home):
    assert nas(["run", "budget.evaluations=25", "seed=4", f"hydra.run.dir={tmp_path}"], REPO, home).returncode == 0
    (run,) = run_dirs(tmp_path)
    ok = nas(["reproduce", str(run)], REPO, home)
    assert ok.returncode == 0 and "reproduced" in ok.stdout
    traj = pd.read_parquet(run / TRAJECTORY)
    traj.loc[7, "valid"] += 0.5
    traj.to_parquet(run / TRAJECTORY, index=False)
    bad = nas(["reproduce", str(run)], REPO, home)
    assert bad.returncode == 1
    assert "valid: 1 rows differ, first at step 8" in bad.stderr
    missing = nas(["reproduce", str(tmp_path / "nope")], REPO, home)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


@pytest.mark.slow
def test_submitit_local_launcher(tmp_path, home):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    proc = nas(["run", "-m", "hydra/launcher=submitit_local", f"hydra.sweep.dir={tmp_path}", "seed=0,1",
                "budget.evaluations=10", "hydra.launcher.timeout_min=5"], REPO, home, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dirs = run_dirs(tmp_path)
    assert len(dirs) == 2 and all(result_problem(d) is None for d in dirs)


def test_config_files_agree_with_the_code():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import gen_configs
    finally:
        sys.path.pop(0)
    for path, text in gen_configs.expected_files().items():
        assert path.is_file(), f"{path} missing: run python scripts/gen_configs.py"
        assert path.read_text() == text, f"{path} is stale: run python scripts/gen_configs.py"


def _trajectories(root: Path) -> dict[str, pd.DataFrame]:
    return {d.name: pd.read_parquet(d / TRAJECTORY).drop(columns="wall_time") for d in run_dirs(root)}


@pytest.mark.slow
def test_same_results_with_any_number_of_workers_and_either_launcher(tmp_path, home):
    grid = ["run", "-m", "strategy=rs,re", "seed=0,1,2", "budget.evaluations=30"]
    variants = {
        "one": ["hydra.launcher.n_jobs=1"],
        "two": ["hydra.launcher.n_jobs=2"],
        "hydra_joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra/sweeper=basic"],
    }
    found = {}
    for name, extra in variants.items():
        proc = nas([*grid, f"hydra.sweep.dir={tmp_path / name}", *extra], REPO, home)
        assert proc.returncode == 0, proc.stderr[-2000:]
        found[name] = _trajectories(tmp_path / name)
    assert len(found["one"]) == 6 and found["one"].keys() == found["two"].keys() == found["hydra_joblib"].keys()
    for rid, traj in found["one"].items():
        assert traj.equals(found["two"][rid]) and traj.equals(found["hydra_joblib"][rid])


@pytest.mark.slow
def test_one_shot_methods_run_in_grids(tmp_path, home):
    """strategy=zerocost (and darts/gdas/spos) run through `nas-harness run` with the grid's files."""
    proc = nas(["run", "-m", "strategy=zerocost", "seed=0,1", "strategy.zerocost_samples=4",
                f"hydra.sweep.dir={tmp_path}"], REPO, home, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dirs = run_dirs(tmp_path)
    assert len(dirs) == 2 and all(result_problem(d) is None for d in dirs)
    traj = pd.read_parquet(dirs[0] / TRAJECTORY)
    from harness.engine import TRAJECTORY_COLUMNS

    columns = [c for c in TRAJECTORY_COLUMNS if c != "budget"]  # `budget`: only nominal-budget strategies
    assert list(traj.columns[: len(columns)]) == columns and len(traj) == 4
    assert traj["fidelity"].isna().all() and (traj["regret"] >= 0).all()
