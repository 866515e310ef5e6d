"""`nas-harness reproduce RUN_DIR`: re-execute a run from its manifest and compare trajectories.

Everything except `wall_time` must be identical. Differences in library versions or in the
benchmark store's sha256 are reported as warnings first, since they are the usual explanation.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from harness.results import MANIFEST, TRAJECTORY, read_manifest, read_trajectory, versions
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)


def compare_trajectories(expected: pd.DataFrame, actual: pd.DataFrame) -> list[str]:
    """Human-readable differences between two trajectories, ignoring wall_time; [] when identical."""
    exp = expected.drop(columns=["wall_time"], errors="ignore").reset_index(drop=True)
    act = actual.drop(columns=["wall_time"], errors="ignore").reset_index(drop=True)
    problems = []
    if list(exp.columns) != list(act.columns):
        problems.append(f"columns differ: recorded {list(exp.columns)}, reproduced {list(act.columns)}")
        return problems
    if len(exp) != len(act):
        problems.append(f"length differs: recorded {len(exp)} rows, reproduced {len(act)}")
    n = min(len(exp), len(act))
    for col in exp.columns:
        a, b = exp[col].iloc[:n].to_numpy(), act[col].iloc[:n].to_numpy()
        if a.dtype.kind == "f" and b.dtype.kind == "f":
            same = (a == b) | (np.isnan(a) & np.isnan(b))
        else:
            same = a == b
        bad = np.flatnonzero(~same)
        if bad.size:
            i = int(bad[0])
            problems.append(f"{col}: {bad.size} rows differ, first at step {i + 1}: "
                            f"recorded {a[i]!r}, reproduced {b[i]!r}")
    return problems


def reproduce(run_dir: Path) -> tuple[list[str], list[str]]:
    """Re-run; returns (warnings, differences).

    The recorded trajectory is read (harness.results.read_trajectory) before the run is executed, so
    a truncated or damaged file is one line naming it, not a pyarrow traceback after a long re-run.
    """
    from harness.app import execute_run

    manifest = read_manifest(run_dir)  # one line (ManifestError) when missing or damaged
    if manifest["status"] != "complete":
        raise NasHarnessError(f"{run_dir / MANIFEST} has status {manifest['status']!r}; "
                              "only complete runs can be reproduced")
    traj_path = run_dir / TRAJECTORY
    if not traj_path.is_file():
        raise NasHarnessError(f"{traj_path} is missing; the run folder is incomplete")
    recorded = read_trajectory(traj_path)  # TrajectoryError (one line naming the file) when damaged
    warnings = []
    recorded_versions = manifest.get("versions", {})
    for name, now in versions().items():
        if recorded_versions.get(name) != now:
            warnings.append(f"{name} version differs: recorded {recorded_versions.get(name)}, now {now}")
    trajectory, bench = execute_run(manifest["config"])
    if bench.store.sha256 != manifest.get("benchmark_sha256"):
        warnings.append(f"benchmark store sha256 differs from the manifest ({bench.store.path}); the data changed")
    return warnings, compare_trajectories(recorded, trajectory)
