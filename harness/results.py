"""Self-describing run results: RUN_ID, manifest, atomic writes, validation and run locks.

A run's folder `<sweep>/<RUN_ID>/` holds `trajectory.parquet` and `manifest.json`. RUN_ID is a hash
of the resolved run config (no output paths in it), so the same run always lands in the same
folder and a re-run grid finds its finished runs. The manifest is written last and records the
trajectory's sha256: a result is valid only when both files exist and agree, so a run killed at
any point is simply run again.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pyarrow.parquet as pq

from tabular.atomic import atomic_path
from tabular.errors import NasHarnessError
from tabular.hashing import sha256_file

TRAJECTORY = "trajectory.parquet"
MANIFEST = "manifest.json"
LOCK = ".lock"
LOG = "run.log"
# The run's clock: one-shot strategies time their trajectory (sim_time, cost) in real compute
# seconds and mark it with CLOCK_COLUMN = REAL_CLOCK on every row; engine trajectories have no
# such column and their clock is simulated (the benchmark's recorded training time).
ONESHOT_METHODS = ("darts", "gdas", "spos", "zerocost")
CLOCK_COLUMN = "clock"
REAL_CLOCK = "real"
SIMULATED_CLOCK = "simulated"
TRACKED_PACKAGES = ("nas-harness", "numpy", "pandas", "scipy", "scikit-learn", "xgboost", "torch", "hydra-core", "omegaconf", "h5py", "pyarrow")


def run_id(config: dict[str, Any]) -> str:
    """Stable 16-hex-digit id of a resolved run config (key order and process do not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_trajectory(path: Path, trajectory: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        trajectory.to_parquet(tmp, index=False)


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str | None], ...]:
    out = []
    for name in TRACKED_PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, None))
    return tuple(out)


def versions() -> dict[str, str | None]:
    """Versions of the libraries that can change a result (looked up once per process)."""
    return dict(_versions())


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "versions": versions(),
        "git_commit": git_commit(),
    }


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise NasHarnessError(f"{path} does not exist; {run_dir} is not a finished run folder") from None
    except json.JSONDecodeError as exc:
        raise NasHarnessError(f"{path} is not valid JSON ({exc.msg}); the run folder is damaged, re-run the grid") from None


def result_problem(run_dir: Path) -> str | None:
    """None when the run folder holds a complete, consistent result; else what is wrong with it."""
    manifest_path, traj_path = run_dir / MANIFEST, run_dir / TRAJECTORY
    if not manifest_path.is_file():
        return "no manifest"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError):
        return "unreadable manifest"
    if manifest.get("status") != "complete":
        return f"status {manifest.get('status')!r}"
    if not traj_path.is_file():
        return "no trajectory"
    if sha256_file(traj_path) != manifest.get("trajectory_sha256"):
        return "trajectory does not match the manifest's sha256"
    try:
        rows = pq.ParquetFile(traj_path).metadata.num_rows
    except Exception:  # pyarrow raises several types for damaged files
        return "unreadable trajectory"
    if rows != manifest.get("trajectory_rows"):
        return "trajectory row count differs from the manifest"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def run_lock(run_dir: Path, stale_after_s: float = 7 * 24 * 3600) -> Iterator[bool]:
    """Exclusive claim on a run folder across processes; yields False if another live process holds it.

    The lock file names host and pid. On the same host a lock whose process is gone (kill -9) is
    stale and taken over; a lock from another host is trusted until `stale_after_s`.
    """
    lock = run_dir / LOCK
    me = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                owner = {}
            same_host = owner.get("host") == me["host"]
            stale = (same_host and not _pid_alive(int(owner.get("pid", -1)))) or (
                time.time() - float(owner.get("time", 0)) > stale_after_s
            )
            if owner and not stale:
                yield False
                return
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        try:
            yield True
        finally:
            lock.unlink(missing_ok=True)
        return
    yield False
