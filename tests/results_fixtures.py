"""A run folder written by hand (a trajectory frame and the manifest that vouches for it), for the
results readers' tests: no grid, any frame, and a row count that may disagree on purpose."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from harness.results import MANIFEST, TRAJECTORY


def write_run(folder: Path, frame: pd.DataFrame, *, index: bool = False, rows: int | None = None) -> Path:
    """`folder` holding `frame` as its trajectory (with its pandas index when `index`) and a complete
    manifest whose sha256 matches it and whose row count is `rows` (default: the frame's)."""
    folder.mkdir(parents=True)
    frame.to_parquet(folder / TRAJECTORY, index=index)
    data = (folder / TRAJECTORY).read_bytes()
    manifest = {
        "status": "complete", "strategy": "rs", "benchmark": "nb201/cifar10", "seed": 0,
        "config": {"strategy": {"name": "rs"}, "benchmark": {"name": "nb201/cifar10", "seed_policy": "sample"},
                   "seed": 0, "budget": {"evaluations": 5, "sim_seconds": None}, "n_workers": 1},
        "benchmark_sha256": "x", "trajectory_sha256": hashlib.sha256(data).hexdigest(),
        "trajectory_rows": len(frame) if rows is None else rows,
    }  # fmt: skip
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder
