"""Self-describing run results, and the one model of a results folder.

A run's folder `<sweep>/<RUN_ID>/` holds `trajectory.parquet` and `manifest.json`
(harness.results.manifest). A results folder is read only through `load_results`
(harness.results.resultset): it discovers, classifies, labels and de-duplicates the runs, reading
each trajectory with the one typed reader (harness.results.trajectory), so report, regress,
rank-stats, validate and surrogate fitting agree on every label and count. `load_scores`
(harness.results.scores) adds final regret and AUC at a budget.

Every name is importable from `harness.results`; the submodules are an implementation detail.
"""
from __future__ import annotations

import functools
import platform
import socket
import sys
from importlib import metadata
from typing import Any

from harness.oneshot.registry import ONESHOT_METHODS
from harness.provenance import code_version
from harness.results.budgets import (
    EVALUATIONS,
    KINDS,
    SIM_SECONDS,
    Cut,
    cut_index,
    seconds_text,
    stopped_by,
    time_average,
    time_horizon,
)
from harness.results.manifest import (
    CLOCK_COLUMN,
    CONFIG_FIELDS,
    LOG,
    MANIFEST,
    MANIFEST_FIELDS,
    MANIFEST_REQUIRED,
    MANIFEST_REQUIRED_COMPLETE,
    MANIFEST_STATUSES,
    REAL_CLOCK,
    SIMULATED_CLOCK,
    TRAJECTORY,
    ManifestError,
    read_manifest,
    result_problem,
    run_id,
    validate_manifest,
    write_trajectory,
)
from harness.results.resultset import (
    ResultSet,
    assign_labels,
    budget_text,
    label,
    load_results,
    mark_duplicates,
    value_text,
)
from harness.results.runs import (
    COMPLETE,
    DAMAGED,
    DUPLICATE,
    FAILED,
    PARTIAL,
    REQUIRED_COLUMNS,
    RUN_ID_RE,
    RUNNING_ELSEWHERE,
    STATUSES,
    Run,
    classify,
    discover,
)
from harness.results.scores import METRICS, RunScore, Scores, ScoreSkip, load_scores, score_results, score_run
from harness.results.trajectory import NUMERIC_COLUMNS, TrajectoryError, TrajectoryTypeError, read_trajectory
from harness.run_lock import LOCK, run_lock

__all__ = [
    "CLOCK_COLUMN", "COMPLETE", "CONFIG_FIELDS", "DAMAGED", "DUPLICATE", "EVALUATIONS", "FAILED", "KINDS", "LOCK",
    "LOG",
    "MANIFEST", "MANIFEST_FIELDS", "MANIFEST_REQUIRED", "MANIFEST_REQUIRED_COMPLETE", "MANIFEST_STATUSES", "METRICS",
    "NUMERIC_COLUMNS", "ONESHOT_METHODS", "PARTIAL", "REAL_CLOCK", "REQUIRED_COLUMNS", "RUNNING_ELSEWHERE", "RUN_ID_RE",
    "SIMULATED_CLOCK", "SIM_SECONDS", "STATUSES", "TRACKED_PACKAGES", "TRAJECTORY", "Cut", "ManifestError", "ResultSet",
    "Run", "RunScore", "ScoreSkip", "Scores", "TrajectoryError", "TrajectoryTypeError", "assign_labels", "budget_text",
    "classify", "cut_index", "discover", "environment", "git_commit", "label", "load_results", "load_scores",
    "mark_duplicates", "read_manifest", "read_trajectory", "result_problem", "run_id", "run_lock", "score_results",
    "score_run", "seconds_text", "stopped_by", "time_average", "time_horizon", "validate_manifest", "value_text",
    "versions", "write_trajectory",
]

# -- the code and environment a run ran with (recorded in every manifest) ------------------------------
TRACKED_PACKAGES = ("nas-harness", "numpy", "pandas", "scipy", "scikit-learn", "xgboost", "torch", "hydra-core",
                    "omegaconf", "h5py", "pyarrow")


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str | None], ...]:
    out: list[tuple[str, str | None]] = []
    for name in TRACKED_PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, None))
    return tuple(out)


def versions() -> dict[str, str | None]:
    """Versions of the libraries that can change a result (looked up once per process)."""
    return dict(_versions())


def git_commit() -> str | None:
    """The commit of the running code, only when it runs from the project's own checkout (never the
    commit of a user's repository that merely holds the virtual environment); see harness.provenance."""
    return code_version().commit


def environment() -> dict[str, Any]:
    """Where and with what a run ran (Python, platform, host, library versions, code commit), for its manifest."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "versions": versions(),
        "git_commit": git_commit(),
        "git_dirty": code_version().dirty,
    }
