"""One run of a grid into its RUN_ID folder, under the run's lock; never raises (failures are recorded).

The job computes its RUN_ID from the resolved config, skips the run if a valid result exists,
claims the run folder with a lock (harness.run_lock: so concurrent grids, also on other hosts, never
run it twice), runs it and writes trajectory then manifest atomically.

A run folder, or its run.log, that is a symbolic link is refused (the run counts as failed): a
link could lead out of the results folder, and nas-harness writes nothing outside the folder the
user named.
"""
from __future__ import annotations

import logging
import os
import time
import traceback
from pathlib import Path
from typing import Any

from harness.grid.execute import check_strategy, execute_run
from harness.grid.files import write_manifest, write_trajectory
from harness.grid.ledger import record_ledger
from harness.results import LOG, MANIFEST, TRAJECTORY, environment, result_problem, run_id
from harness.run_lock import RunLock, run_lock
from harness.strategies.base import StrategyError
from tabular.errors import NasHarnessError
from tabular.hashing import sha256_file

log = logging.getLogger(__name__)
ELSEWHERE = "running-elsewhere"


class LockLost(RuntimeError):
    """Another process took this run's lock over while it ran (its heartbeat had stalled past the expiry)."""


class LinkedRunFolder(NasHarnessError):
    """A run folder (or its run.log) is a symbolic link: nas-harness does not write through it."""


def linked_path(run_dir: Path) -> Path | None:
    """The run folder, or the run.log in it, when it is a symbolic link (None when neither is).

    Links are refused whatever they point to: checking the target instead would race with the
    link being changed between the check and the write.
    """
    for path in (run_dir, run_dir / LOG):
        if path.is_symlink():
            return path
    return None


def check_not_linked(run_dir: Path) -> None:
    """Raise LinkedRunFolder (one line naming the link and its target) when `run_dir` or its run.log is a link."""
    link = linked_path(run_dir)
    if link is not None:
        try:
            target = os.readlink(link)
        except OSError:
            target = "?"
        raise LinkedRunFolder(
            f"{link} is a symbolic link (to {target}); nas-harness writes runs only into real folders inside the "
            "results folder: remove the link and run the grid again"
        )


def run_configs(batch: list[tuple[dict[str, Any], list[str]]], results_root: str) -> list[dict[str, Any]]:
    """Several runs in one worker process (the `grid` launcher's unit of work)."""
    return [run_config(config, overrides, Path(results_root)) for config, overrides in batch]


def run_config(config: dict[str, Any], overrides: list[str], results_root: Path) -> dict[str, Any]:
    """One run of the grid into `results_root/RUN_ID`; never raises (failures are recorded).

    Returns the run's ledger entry: run_id, overrides, status (complete, skipped, failed or
    running-elsewhere), log and error.
    """
    rid = run_id(config)
    entry: dict[str, Any] = {"run_id": rid, "overrides": overrides, "status": "failed", "log": "", "error": ""}
    try:
        check_strategy(config)  # impossible hyperparameters: one line, and no run folder
        run_dir = results_root / rid
        entry["log"] = str(run_dir / LOG)
        check_not_linked(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        check_not_linked(run_dir)  # made a link between the check and mkdir: refuse it still
        if result_problem(run_dir) is None:
            entry["status"] = "skipped"
            return entry
        with run_lock(run_dir) as lock:
            if not lock:
                entry["status"] = ELSEWHERE
                return entry
            if result_problem(run_dir) is None:  # finished by another grid while we waited
                entry["status"] = "skipped"
                return entry
            entry["status"] = _run_into(run_dir, rid, config, overrides, lock)
    except LockLost as exc:  # the taker runs it again and writes its result
        entry["status"], entry["error"] = ELSEWHERE, str(exc)
        log.warning("run %s: %s", rid, exc)
    except (LinkedRunFolder, StrategyError) as exc:
        entry["error"] = str(exc)
        log.debug("run %s refused: %s", rid, exc)  # the closing summary prints it
    except Exception as exc:  # a run must not take the grid down; the ledger reports it
        entry["error"] = f"{type(exc).__name__}: {exc}"
        log.debug("run %s failed", rid, exc_info=True)
    finally:
        try:
            record_ledger(entry)
        except OSError:
            pass
    return entry


class _NoFollowFileHandler(logging.FileHandler):
    """A FileHandler that opens its file with O_NOFOLLOW: a run.log replaced by a link since the
    check fails to open instead of sending the log out of the results folder."""

    def _open(self):
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        return os.fdopen(os.open(self.baseFilename, flags, 0o644), "a", encoding="utf-8")


def _log_handler(run_dir: Path) -> logging.Handler:
    """The handler that appends this attempt's log records to the run's run.log."""
    handler = _NoFollowFileHandler(run_dir / LOG, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    return handler


def _run_into(run_dir: Path, rid: str, config: dict[str, Any], overrides: list[str], lock: RunLock) -> str:
    """Run while holding `lock`; only a holder that still holds it writes the trajectory and manifest.

    run.log is appended to, so it keeps every attempt (each starts with a `run RUN_ID: ...` line).
    """
    check_not_linked(run_dir)
    handler = _log_handler(run_dir)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    manifest: dict[str, Any] = {
        "run_id": rid,
        "status": "running",
        "config": config,
        "overrides": overrides,
        "strategy": config["strategy"]["name"],
        "benchmark": config["benchmark"]["name"],
        "seed": config["seed"],
        "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **environment(),
    }
    # We hold the lock: clear what an earlier, killed attempt may have left (temp files included).
    for leftover in [run_dir / MANIFEST, run_dir / TRAJECTORY, *run_dir.glob(".*.tmp")]:
        leftover.unlink(missing_ok=True)
    started = time.perf_counter()
    try:
        log.info("run %s: %s", rid, " ".join(overrides))
        log.info("attempt on host %s, pid %d", manifest["host"], os.getpid())
        trajectory, bench = execute_run(config)
        if not lock.held():
            raise LockLost(
                f"lock {lock.path} was taken over by another process while this run executed; it writes the result"
            )
        write_trajectory(run_dir / TRAJECTORY, trajectory)
        manifest.update(
            status="complete",
            benchmark_sha256=bench.store.sha256,
            benchmark_provenance=bench.store.provenance,
            benchmark_path=str(bench.store.path),
            trajectory_sha256=sha256_file(run_dir / TRAJECTORY),
            trajectory_rows=len(trajectory),
            stop_reason=trajectory.attrs.get("stop_reason"),
        )
        return "complete"
    except Exception as exc:
        manifest.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        log.error("run %s failed: %s", rid, exc)
        raise
    finally:
        manifest["end_time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        manifest["wall_seconds"] = time.perf_counter() - started
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
        if lock.held():  # a process that took the lock over owns the folder now: write nothing
            write_manifest(run_dir / MANIFEST, manifest)  # last: it makes the result count (harness.grid.files)
