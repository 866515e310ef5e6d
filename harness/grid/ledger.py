"""The driver's ledger: a temporary folder that workers on this host report their runs to.

It feeds the progress bar while a grid runs, and holds the grid's job list (`GRID_FILE`), which the
grid sweeper writes in the driver once every job returned. Workers on other machines cannot see it;
the closing summary therefore reads the results folder (harness.grid.summary), not the ledger.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LEDGER_ENV = "NAS_HARNESS_LEDGER"
GRID_FILE = "grid.jobs"  # in the ledger folder: the grid's runs, written by the grid sweeper in the driver


def write_ledger(name: str, data: Any) -> None:
    """Write `data` as JSON to the grid's ledger folder, if this process sees one (a temporary
    folder: renamed into place so the progress bar never reads half a file, but no fsync)."""
    ledger = os.environ.get(LEDGER_ENV)
    if ledger and Path(ledger).is_dir():
        path = Path(ledger) / name
        tmp = path.with_name("." + path.name)
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)


def record_ledger(entry: dict[str, Any]) -> None:
    """Report a run's outcome to the grid's progress bar and summary (one file per run and process)."""
    write_ledger(f"{entry['run_id']}.{os.getpid()}.json", entry)


def record_grid(results_root: str | Path, job_returns: Iterable[Any]) -> None:
    """Called by the grid sweeper in the driver once all jobs returned: note the grid's runs.

    Each Hydra JobReturn carries the entry `run_config` returned on its worker (Ray, Slurm and
    joblib workers send it back), so the driver knows every RUN_ID of the grid without sharing a
    folder with the workers. `run_app` then reads their folders (harness.grid.summary.grid_outcomes).
    """
    jobs = []
    for ret in job_returns:
        value = ret.return_value
        if isinstance(value, dict) and isinstance(value.get("run_id"), str):
            jobs.append({key: value.get(key) for key in ("run_id", "overrides", "status", "error")})
    write_ledger(GRID_FILE, {"results_root": str(Path(results_root).resolve()), "jobs": jobs})


def read_ledger(ledger: Path) -> dict[str, Any] | None:
    """The grid's job list the sweeper wrote, or None (one run, or a sweeper other than the grid sweeper)."""
    grid_file = ledger / GRID_FILE
    return json.loads(grid_file.read_text()) if grid_file.is_file() else None


def ledger_entries(ledger: Path) -> list[dict[str, Any]]:
    """What the workers on this host reported, one entry per run attempt (the fallback summary)."""
    return [json.loads(p.read_text()) for p in sorted(ledger.glob("*.json")) if not p.name.startswith(".")]
