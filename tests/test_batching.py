"""Grids in launcher jobs of many runs (harness.grid.batching), and the cheaper run files (harness.grid.files)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from harness.grid.batching import (
    MAX_JOBS,
    auto_batch_size,
    checked_batch_size,
    chunks,
    plan_grid,
    read_batch,
    remove_batches,
    write_batches,
)
from harness.grid.checks import GridSetupError
from harness.grid.files import manifest_bytes, trajectory_bytes
from harness.results import TRAJECTORY, result_problem, run_id

REPO = Path(__file__).resolve().parents[1]


def _jobs(n_runs: int) -> int:
    return math.ceil(n_runs / auto_batch_size(n_runs))


@pytest.mark.parametrize("n_runs", [1, 5, 16, 17, 200, 2_000, 8_000, 10_000, 100_000, 1_000_000, 3_333_333])
def test_automatic_batch_size_bounds_the_number_of_jobs(n_runs):
    size = auto_batch_size(n_runs)
    assert 1 <= size <= max(500, math.ceil(n_runs / MAX_JOBS))
    assert _jobs(n_runs) <= MAX_JOBS  # one Slurm array under the default MaxArraySize (1,001)
    assert _jobs(n_runs) <= 16 or size >= 500  # a job runs up to 500 runs before the grid uses more than 16
    if n_runs <= 16:
        assert _jobs(n_runs) == n_runs  # a small grid still spreads over nodes


def test_automatic_batch_size_meets_the_issue_goals():
    assert _jobs(10_000) <= 20  # issue 20: a 10,000-run grid submits at most 20 jobs
    assert _jobs(100_000) <= 1_000 and auto_batch_size(100_000) < 1_001
    assert _jobs(200) == 16 and _jobs(3) == 3


@pytest.mark.parametrize("bad", [0, -3, True, 2.5, "ten"])
def test_bad_batch_size_is_one_line(bad):
    with pytest.raises(GridSetupError, match="grid.batch_size") as info:
        checked_batch_size(bad)
    assert "\n" not in str(info.value)
    assert checked_batch_size(None) is None and checked_batch_size(7) == 7


def _fake_compose(overrides: list[str]):
    cfg = OmegaConf.create({"strategy": {"name": "rs"}, "benchmark": {"name": "nb201/cifar10"}, "seed": 0,
                            "budget": {"evaluations": 2, "sim_seconds": None}, "n_workers": 1,
                            "grid": {"batch_size": None, "batch_file": None}, "hydra": {"x": 1}})
    for o in overrides:
        key, _, value = o.partition("=")
        OmegaConf.update(cfg, key, int(value) if value.isdigit() else value)
    return cfg


def test_plan_composes_once_per_seedless_set_and_matches_per_run_resolution(tmp_path):
    calls = []

    def compose(overrides):
        calls.append(list(overrides))
        return _fake_compose(overrides)

    jobs = [[f"strategy.name={s}", f"seed={i}"] for s in ("rs", "re") for i in range(50)]
    plan = plan_grid(jobs, compose)
    assert len(calls) == 2 and len(plan.runs) == 100
    for job, run in zip(jobs, plan.runs, strict=True):
        expected = OmegaConf.to_container(_fake_compose(job), resolve=True)
        expected.pop("hydra")
        expected.pop("grid")  # neither where nor in which batch a run executes changes its RUN_ID
        assert run.config(plan.bases) == expected and run.run_id == run_id(expected)
    # Batch files round-trip every run's config and overrides exactly (so workers compute the same RUN_IDs).
    batches = chunks(plan.runs, 30)
    names = write_batches(tmp_path, plan, batches)
    assert len(names) == 4
    for name, batch in zip(names, batches, strict=True):
        assert read_batch(tmp_path, name) == plan.batch(batch)
    remove_batches(tmp_path, names)
    assert not (tmp_path / ".grid").exists()
    with pytest.raises(GridSetupError, match="not a batch"):
        read_batch(tmp_path, "../../etc/passwd")


def test_a_seed_that_is_not_an_integer_is_one_line():
    with pytest.raises(GridSetupError, match="seed must be an integer"):
        plan_grid([["seed=abc"]], _fake_compose)


def test_a_launcher_job_that_dies_leaves_its_runs_failed_with_the_reason(tmp_path):
    from hydra_plugins.nas_harness_grid.grid import GridSweeper

    class DyingLauncher:
        jobs: list = []

        def launch(self, job_overrides, initial_job_idx):
            self.jobs = list(job_overrides)
            raise RuntimeError("job 1234 was killed at its time limit")

    plan = plan_grid([[f"seed={i}"] for i in range(5)], _fake_compose)
    plan.batch_size = 2
    sweeper = GridSweeper(max_batch_size=None)
    sweeper.launcher = DyingLauncher()
    entries = sweeper._launch_batches(plan, plan.runs, tmp_path)
    assert len(sweeper.launcher.jobs) == 3  # 5 runs in jobs of 2
    assert all(j[-1].startswith("grid.batch_file=") for j in sweeper.launcher.jobs)
    assert [e["run_id"] for e in entries] == [r.run_id for r in plan.runs]
    assert all(e["status"] is None and "killed at its time limit" in e["error"] for e in entries)
    assert not (tmp_path / ".grid").exists()  # the driver removes its batch files whatever happened


@pytest.fixture(scope="module")
def trajectories(nb201_cifar10):
    """Engine trajectories of several strategies on nb201/cifar10."""
    from harness.engine import Budget, run_search

    return [run_search(nb201_cifar10, s, seed=3, budget=Budget(evaluations=25))
            for s in ("rs", "re", "reinforce", "hyperband")]


def test_trajectory_bytes_equal_pandas_to_parquet(trajectories, tmp_path):
    for traj in trajectories:
        traj.to_parquet(tmp_path / "pandas.parquet", index=False)
        assert trajectory_bytes(traj) == (tmp_path / "pandas.parquet").read_bytes()
    # A frame the fast path does not cover (an object column) goes through pandas: the same bytes still.
    odd = trajectories[0].assign(note=[{"a": i} for i in range(len(trajectories[0]))])
    odd.to_parquet(tmp_path / "odd.parquet", index=False)
    assert trajectory_bytes(odd) == (tmp_path / "odd.parquet").read_bytes()


def test_manifest_bytes_equal_indented_json():
    manifest = {"z": 1, "config": {"seed": 3, "strategy": {"name": "re", "p": [1, 2.5, None]}}, "empty": {},
                "list": [], "versions": {"numpy": "2.1"}, "nested": [{"b": 1, "a": [True]}], "text": "caf\u00e9",
                "nan": float("nan"), "path": Path("/x")}
    for _ in range(2):  # the second time from the cache
        assert manifest_bytes(manifest) == json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()


# --- through `nas-harness run` ---------------------------------------------------------------------------


def nas(args: list[str], home: Path, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, NAS_HARNESS_DATA=str(home))
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          **kw)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("data")
    assert nas(["query", "nb201/cifar10"], home).returncode == 0
    return home


def _trajectories(root: Path) -> dict[str, pd.DataFrame]:
    dirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert dirs and all(result_problem(d) is None for d in dirs)
    return {d.name: pd.read_parquet(d / TRAJECTORY).drop(columns="wall_time") for d in dirs}


def _submitit_jobs(root: Path) -> set[str]:
    folder = root / ".submitit"
    return {d.name for d in folder.iterdir() if d.is_dir() and d.name != "%j"} if folder.is_dir() else set()


@pytest.mark.slow
def test_submitit_grid_runs_in_batches_and_its_resume_submits_nothing(tmp_path, home):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    grid = ["run", "-m", "strategy=rs,re", "budget.evaluations=2", "hydra/launcher=submitit_local",
            "hydra.launcher.timeout_min=5", "grid.batch_size=5"]
    root = tmp_path / "submitit"
    first = nas([*grid, "seed=range(0,6)", f"hydra.sweep.dir={root}"], home, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "complete 12" in first.stderr
    assert len(_submitit_jobs(root)) == 3  # 12 runs in jobs of 5, not 12 jobs
    assert not (root / ".grid").exists()  # batch files are removed once the jobs returned
    local = nas(["run", "-m", "strategy=rs,re", "budget.evaluations=2", "seed=range(0,6)",
                 f"hydra.sweep.dir={tmp_path / 'local'}"], home)
    assert local.returncode == 0, local.stderr[-3000:]
    a, b = _trajectories(root), _trajectories(tmp_path / "local")
    assert len(a) == 12 and a.keys() == b.keys()  # same RUN_IDs on either launcher
    for rid in a:
        pd.testing.assert_frame_equal(a[rid], b[rid], check_exact=True)
    # Resume: every run is done, so the driver submits no job at all.
    again = nas([*grid, "seed=range(0,6)", f"hydra.sweep.dir={root}"], home, timeout=600)
    assert again.returncode == 0 and "skipped 12" in again.stderr, again.stderr[-3000:]
    assert len(_submitit_jobs(root)) == 3
    # A larger grid submits only its new runs: 4 runs, in one job of up to 5.
    larger = nas([*grid, "seed=range(0,8)", f"hydra.sweep.dir={root}"], home, timeout=600)
    assert larger.returncode == 0 and "complete 4" in larger.stderr and "skipped 12" in larger.stderr
    assert len(_submitit_jobs(root)) == 4


@pytest.mark.slow
def test_batch_size_on_the_local_launcher_and_a_bad_one(tmp_path, home):
    grid = ["run", "-m", "seed=range(0,7)", "budget.evaluations=2", "hydra.launcher.n_jobs=1"]
    ok = nas([*grid, "grid.batch_size=3", f"hydra.sweep.dir={tmp_path / 'a'}"], home)
    assert ok.returncode == 0 and "complete 7" in ok.stderr, ok.stderr[-3000:]
    bad = nas([*grid, "grid.batch_size=0", f"hydra.sweep.dir={tmp_path / 'b'}"], home)
    assert bad.returncode == 1
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and "grid.batch_size=0 is not a positive integer" in lines[-1]


def test_workers_append_one_ledger_line_per_run(tmp_path, monkeypatch):
    from harness.grid.ledger import LEDGER_ENV, ledger_entries, read_lines, record_ledger

    monkeypatch.setenv(LEDGER_ENV, str(tmp_path))
    for i in range(3):
        record_ledger({"run_id": f"r{i}", "status": "failed" if i == 1 else "complete"})
    (files,) = list(tmp_path.glob("*.jsonl"))  # one file per worker process, not one per run
    assert [e["run_id"] for e in ledger_entries(tmp_path)] == ["r0", "r1", "r2"]
    with open(files, "ab") as handle:
        handle.write(b'{"run_id": "r3", "sta')  # a line being written: not read until it is whole
    entries, offset = read_lines(files)
    assert len(entries) == 3 and offset < files.stat().st_size
    with open(files, "ab") as handle:
        handle.write(b'tus": "complete"}\n')
    more, _ = read_lines(files, offset)
    assert more == [{"run_id": "r3", "status": "complete"}]
