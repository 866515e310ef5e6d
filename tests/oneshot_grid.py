"""A real mixed grid for report tests: darts through `nas-harness run` (a subprocess, as a user runs
it) and rs through the app's own run writer, on nb201/cifar10; and a way to rewrite a run's
trajectory as an older or a damaged writer would have left it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from harness.results import MANIFEST, TRAJECTORY, write_trajectory
from tabular.hashing import sha256_file
from tests.test_report import _app_run

REPO = Path(__file__).resolve().parents[1]
TASK = "nb201/cifar10"


def darts_and_rs_grid(results: Path, data_home: Path, *, epochs: int, rs_evaluations: int = 12) -> Path:
    """darts x seeds 0, 1 (tiny supernet, `epochs` epochs) and rs x seeds 0, 1 into `results`."""
    from harness.benchmarks import ensure_store

    ensure_store(TASK)  # convert once, before the subprocess and this process both need it
    oneshot = [
        f"strategy.epochs={epochs}",
        "strategy.C=2",
        "strategy.N=1",
        "strategy.input_size=8",
        "strategy.data_limit=96",
        "strategy.batch_size=32",
    ]
    env = dict(os.environ, NAS_HARNESS_DATA=str(data_home))
    darts = subprocess.Popen([sys.executable, "-m", "harness", "run", "-m", "hydra/launcher=basic", "strategy=darts",
                              f"benchmark={TASK}", "seed=0,1", *oneshot, f"hydra.sweep.dir={results}"],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for seed in (0, 1):  # while darts trains in the subprocess
        _app_run(results, "rs", TASK, seed, evaluations=rs_evaluations)
    _, err = darts.communicate(timeout=300)
    assert darts.returncode == 0, err[-2000:]
    return results


def rewrite_trajectory(run_dir: Path, traj: pd.DataFrame) -> None:
    """Replace a run's trajectory and keep its manifest consistent (sha256, rows)."""
    (run_dir / TRAJECTORY).unlink()
    write_trajectory(run_dir / TRAJECTORY, traj)
    manifest = json.loads((run_dir / MANIFEST).read_text())
    manifest.update(trajectory_sha256=sha256_file(run_dir / TRAJECTORY), trajectory_rows=len(traj))
    (run_dir / MANIFEST).write_text(json.dumps(manifest))
