"""`hydra/launcher=ray_cluster` joins a running Ray cluster, runs batches of runs per task, and gives the default
launcher's results."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray")
pytest.importorskip("hydra_plugins.hydra_ray_launcher")

from harness.results import result_problem  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0"}


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A two-CPU Ray cluster started here (its processes are this test's children) and shut down
    after; nas-harness joins it from another process, as it would join a real cluster."""
    import ray

    home = tmp_path_factory.mktemp("ray_data")
    saved = {k: os.environ.get(k) for k in [*RAY_ENV, "NAS_HARNESS_DATA"]}
    os.environ.update(RAY_ENV, NAS_HARNESS_DATA=str(home))  # what the cluster's workers inherit
    try:
        context = ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
                           configure_logging=False, log_to_driver=False)
        yield context.address_info["gcs_address"], home
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _nas(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **RAY_ENV, "NAS_HARNESS_DATA": str(home)}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def _trajectories(root: Path) -> dict[str, pd.DataFrame]:
    dirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert dirs and all(result_problem(d) is None for d in dirs)
    return {d.name: pd.read_parquet(d / "trajectory.parquet").drop(columns="wall_time") for d in dirs}


def test_ray_grid_equals_the_default_launcher_and_reports_failures(tmp_path, ray_cluster):
    address, home = ray_cluster
    ray = ["hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={address}"]
    grid = ["-m", "strategy=rs,re", "seed=0,1", "budget.evaluations=40"]
    on_ray = _nas(["run", *grid, *ray, "grid.batch_size=3", f"hydra.sweep.dir={tmp_path / 'ray'}"], home)
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]  # an explicit address joins, never starts a cluster
    assert len(list((tmp_path / "ray" / ".jobs").iterdir())) == 2  # Hydra's folder per job: 4 runs in jobs of 3
    assert not (tmp_path / "ray" / ".grid").exists()  # the batch files are gone once the tasks returned
    local = _nas(["run", *grid, f"hydra.sweep.dir={tmp_path / 'local'}"], home)
    assert local.returncode == 0, local.stderr[-3000:]
    a, b = _trajectories(tmp_path / "ray"), _trajectories(tmp_path / "local")
    assert len(a) == 4 and a.keys() == b.keys()
    for rid in a:
        pd.testing.assert_frame_equal(a[rid], b[rid], check_exact=True)
    # Resumed with every run done: the driver skips them all before submitting anything.
    again = _nas(["run", *grid, *ray, f"hydra.sweep.dir={tmp_path / 'ray'}"], home)
    assert again.returncode == 0 and "skipped 4" in again.stderr, again.stderr[-3000:]
    # Every run fails on the cluster's workers: the driver still prints each failure and exits 1.
    failing = _nas(["run", "-m", "seed=0,1", "budget.evaluations=5", "benchmark.seed_policy=fixed",
                    "benchmark.fixed_seed=7", *ray, f"hydra.sweep.dir={tmp_path / 'failing'}"], home)
    failed = [line for line in failing.stderr.splitlines() if line.startswith("FAILED")]
    assert failing.returncode == 1 and len(failed) == 2, failing.stderr[-3000:]
    assert all("no seed 7" in line for line in failed)
