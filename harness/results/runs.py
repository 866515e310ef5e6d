"""Find the runs in a results folder and classify each one.

A results folder (a grid's `hydra.sweep.dir`) holds one `<RUN_ID>/` folder per run, RUN_ID being
16 hex digits (harness.results.manifest.run_id). This module is the only place that decides which
children are runs and what state each is in, so every command that reads results (report,
regress, rank-stats, validate, surrogate fitting) counts the same runs the same way:

- complete: the manifest says so and the trajectory agrees with it (sha256, rows, typed columns);
- failed: the manifest says the run failed;
- running-elsewhere: no finished manifest, and a live run lock (harness.run_lock) says a process
  still runs it;
- partial: no finished manifest and no live lock: the run was killed before it finished;
- damaged: anything else wrong (trajectory missing, not matching its manifest, lacking columns);
- duplicate: decided later, over the whole set (harness.results.resultset).

Two kinds of damage stop a reader instead of being listed, because the run can then not be
trusted to be what it claims: a manifest that is not what `nas-harness run` writes (ManifestError)
and a trajectory that matches its manifest's sha256 but whose numeric columns are not numbers
(TrajectoryError). Both are one line naming the file.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.oneshot.registry import ONESHOT_METHODS
from harness.results.budgets import time_horizon
from harness.results.manifest import (
    CLOCK_COLUMN,
    LOG,
    MANIFEST,
    REAL_CLOCK,
    SIMULATED_CLOCK,
    TRAJECTORY,
    read_manifest,
    result_check,
)
from harness.results.trajectory import Trajectory, TrajectoryError, TrajectoryTypeError, read_checked_trajectory
from harness.run_lock import lock_holder

log = logging.getLogger(__name__)

RUN_ID_RE = re.compile(r"^[0-9a-f]{16}$")
COMPLETE, FAILED, PARTIAL, DAMAGED, DUPLICATE, RUNNING_ELSEWHERE = (
    "complete", "failed", "partial", "damaged", "duplicate", "running-elsewhere")
STATUSES = (COMPLETE, FAILED, PARTIAL, DAMAGED, DUPLICATE, RUNNING_ELSEWHERE)
REQUIRED_COLUMNS = ("step", "arch", "valid_mean", "sim_time", "incumbent_arch", "incumbent_test_mean", "regret",
                    "fidelity", "cost")
# Folders that nas-harness itself writes into a results folder and that are not runs.
OWN_MARKERS = ("report.json", "validation.json")
STILL_RUNNING = "no manifest: still running (lock held)"
KILLED = "no manifest: the run was killed before it finished"


@dataclass
class Run:
    """One RUN_ID folder and what could be learnt from it (labels are set by harness.results.resultset).

    The trajectory of a complete (or duplicate) run is held as a harness.results.trajectory.Trajectory
    (`traj`): `column(name)` gives one column as a numpy array without building a DataFrame, which is
    what the report and scores need for thousands of runs; `trajectory` is the DataFrame, built on first
    use, for every caller that wants one.
    """

    run_id: str
    path: Path
    status: str
    reason: str = ""
    manifest: dict[str, Any] | None = None
    strategy: str = "?"
    benchmark: str = "?"
    seed: int | None = None
    method: str = "?"
    task: str = "?"
    traj: Trajectory | None = None
    clock: str = SIMULATED_CLOCK  # "simulated", or "real" (REAL_CLOCK): what sim_time and cost count

    @property
    def trajectory(self) -> pd.DataFrame | None:
        """The trajectory as a DataFrame sorted by step (None without one); built once, shared: do not modify."""
        return None if self.traj is None else self.traj.frame

    @trajectory.setter
    def trajectory(self, frame: pd.DataFrame | None) -> None:
        self.traj = None if frame is None else Trajectory(frame=frame)

    @property
    def n_rows(self) -> int:
        """Number of evaluations (rows) in the trajectory; 0 without one."""
        return 0 if self.traj is None else self.traj.num_rows

    @property
    def column_names(self) -> list[str]:
        """The trajectory's columns in file order ([] without one)."""
        return [] if self.traj is None else list(self.traj.names)

    def column(self, name: str) -> np.ndarray:
        """One trajectory column as a read-only numpy array, equal to `trajectory[name].to_numpy()`.

        Raises KeyError when the column is absent or the run has no trajectory.
        """
        if self.traj is None:
            raise KeyError(f"run {self.run_id} has no trajectory")
        return self.traj.column(name)

    @property
    def is_real_clock(self) -> bool:
        """True when sim_time and cost are real compute seconds (one-shot methods), not simulated ones."""
        return self.clock != SIMULATED_CLOCK

    @property
    def is_oneshot(self) -> bool:
        """A one-shot search (ONESHOT_METHODS): it runs to completion and ignores config.budget."""
        return self.strategy in ONESHOT_METHODS

    @property
    def config(self) -> dict[str, Any]:
        """The manifest's resolved run config ({} for a run without manifest)."""
        return (self.manifest or {}).get("config", {}) or {}

    @property
    def budget(self) -> dict[str, Any]:
        """The run's config.budget ({evaluations, sim_seconds})."""
        return dict(self.config.get("budget", {}) or {})

    @property
    def horizon(self) -> float:
        """Time (on the run's clock) up to which this run's incumbent is known (harness.results.budgets.time_horizon).

        A one-shot search ignores config.budget and always runs to completion, so its final pick
        stands for ever, like a strategy that ran out of proposals.
        """
        if self.traj is None or self.traj.num_rows == 0:
            return float("nan")
        if self.is_oneshot and self.is_real_clock:
            return float("inf")
        return time_horizon(self.budget, self.traj.num_rows, float(self.traj.column("sim_time")[-1]))

    @property
    def n_workers(self) -> int:
        """Parallel workers of the run (1 unless the config says otherwise)."""
        return int(self.config.get("n_workers", 1) or 1)

    @property
    def seed_policy(self) -> str:
        """The benchmark's seed policy (fixed / mean / sample) the run used."""
        return str((self.config.get("benchmark", {}) or {}).get("seed_policy", "sample"))

    @property
    def objectives(self) -> list[str] | None:
        """The objectives of a multi-objective run; None for a single-objective one."""
        objs = (self.config.get("benchmark", {}) or {}).get("objectives")
        return list(objs) if objs else None

    @property
    def benchmark_sha256(self) -> str:
        """The sha256 of the benchmark store the run read ("" when the manifest has none)."""
        return str((self.manifest or {}).get("benchmark_sha256", "") or "")


def discover(root: Path) -> tuple[list[Path], list[str]]:
    """(run folders, names of other folders) directly under `root`.

    A run folder is a real (not symlinked) child folder named by 16 hex digits: a symlink could
    lead a reader, or the grid's resume, out of the results folder. Hidden entries (Hydra's .jobs,
    temp files), files, and folders that nas-harness writes itself (a report, a validation) are
    neither runs nor worth a mention; any other folder is returned by name so readers can say it
    was ignored.
    """
    runs: list[Path] = []
    ignored: list[str] = []
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_symlink():
            if child.is_dir():
                ignored.append(child.name)
            continue
        if not child.is_dir():
            continue
        if RUN_ID_RE.match(child.name):
            runs.append(child)
        elif not any((child / marker).is_file() for marker in OWN_MARKERS):
            ignored.append(child.name)
    return runs, ignored


def _hints_from_log(run_dir: Path) -> dict[str, str]:
    """strategy/benchmark/seed from the first line of run.log, for runs that left no manifest."""
    try:
        with open(run_dir / LOG, encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:
        return {}
    match = re.search(r"run [0-9a-f]{16}: (.*)", head)
    if not match:
        return {}
    hints = {}
    for token in match.group(1).split():
        key, _, value = token.partition("=")
        if key in ("strategy", "benchmark", "seed") and value:
            hints[key] = value.removesuffix("_schema") if key == "strategy" else value
    return hints


def fallback_clock(strategy: str) -> str:
    """Clock of a run whose trajectory says nothing: real for one-shot strategies (results written
    before trajectories carried a clock column), simulated for every engine strategy."""
    return REAL_CLOCK if strategy in ONESHOT_METHODS else SIMULATED_CLOCK


def trajectory_clock(traj: pd.DataFrame, strategy: str) -> tuple[str, str]:
    """(clock, "") from the trajectory's clock column or the fallback; ("", problem) when the column
    holds anything but one known clock on every row."""
    if CLOCK_COLUMN not in traj.columns:
        return fallback_clock(strategy), ""
    values = sorted({str(v) for v in traj[CLOCK_COLUMN].tolist()})
    if len(values) == 1 and values[0] in (REAL_CLOCK, SIMULATED_CLOCK):
        return values[0], ""
    if not values:
        return fallback_clock(strategy), ""
    return "", (f"trajectory column {CLOCK_COLUMN!r} holds {', '.join(repr(v) for v in values)}; expected one of "
                f"{REAL_CLOCK!r} or {SIMULATED_CLOCK!r} on every row")


def _unfinished(run: Run, killed_reason: str) -> None:
    """Mark a run without a finished result running-elsewhere (live lock) or partial (no live lock)."""
    if lock_holder(run.path) is not None:  # a stale lock (a killed job) is not a running run
        run.status, run.reason = RUNNING_ELSEWHERE, STILL_RUNNING
    else:
        run.status, run.reason = PARTIAL, killed_reason


def classify(run_dir: Path) -> Run:
    """One run folder, classified (see the module docstring); trajectory read for complete runs.

    Raises ManifestError for a damaged manifest and TrajectoryError for a trajectory with
    non-numeric numeric columns: readers refuse those in one line instead of listing them.
    """
    run = Run(run_dir.name, run_dir, COMPLETE)
    run.manifest = read_manifest(run_dir) if (run_dir / MANIFEST).is_file() else None
    # result_problem's checks, on the manifest just read and with the trajectory file read once
    problem, parquet = ("no manifest", None) if run.manifest is None else result_check(run_dir, run.manifest)
    if run.manifest:
        cfg = run.manifest["config"]  # validate_manifest checked these fields and types
        run.strategy, run.benchmark, run.seed = cfg["strategy"]["name"], cfg["benchmark"]["name"], cfg["seed"]
    else:
        hints = _hints_from_log(run_dir)
        run.strategy = hints.get("strategy", "?")
        run.benchmark = hints.get("benchmark", "?")
        if hints.get("seed", "").lstrip("-").isdigit():
            run.seed = int(hints["seed"])
    run.clock = fallback_clock(run.strategy)  # replaced by the trajectory's own clock when it has one
    if problem is None and parquet is not None:
        _read_complete(run, parquet)
    elif run.manifest and run.manifest.get("status") == "failed":
        run.status, run.reason = FAILED, (run.manifest.get("error") or "failed (no error recorded)").splitlines()[0]
    elif problem == "no manifest":
        _unfinished(run, KILLED)
    elif run.manifest and run.manifest.get("status") == "running":
        _unfinished(run, "manifest says running but no process holds its lock: the run was killed")
    else:
        run.status, run.reason = DAMAGED, problem or "damaged"  # problem is set here: result_check found one
    return run


def _read_complete(run: Run, parquet: pq.ParquetFile) -> None:
    """Read the trajectory of a run whose manifest and trajectory agree; mark it damaged if unusable."""
    try:
        traj = read_checked_trajectory(parquet, run.path / TRAJECTORY)
    except TrajectoryTypeError:
        raise
    except TrajectoryError as exc:
        run.status, run.reason = DAMAGED, f"trajectory {exc.problem}"
        return
    names = set(traj.names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    clock, clock_problem = _clock_of(traj, run.strategy)
    if missing:
        run.status, run.reason = DAMAGED, f"trajectory lacks columns {', '.join(missing)}"
    elif traj.num_rows == 0:
        run.status, run.reason = DAMAGED, "trajectory has no rows"
    elif clock_problem:
        run.status, run.reason = DAMAGED, clock_problem
    else:
        run.traj = traj.sorted_by_step()
        run.clock = clock


def _clock_of(traj: Trajectory, strategy: str) -> tuple[str, str]:
    """trajectory_clock without building the frame when the clock column is plain text (no nulls)."""
    if CLOCK_COLUMN not in traj.names:
        return fallback_clock(strategy), ""
    table = traj.table
    if table is not None:
        column = table.column(CLOCK_COLUMN)
        if (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) and column.null_count == 0:
            values = sorted(set(column.to_pylist()))
            if len(values) == 1 and values[0] in (REAL_CLOCK, SIMULATED_CLOCK):
                return values[0], ""
    return trajectory_clock(traj.frame, strategy)

