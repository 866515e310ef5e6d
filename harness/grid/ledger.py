"""The driver's ledger: a temporary folder that workers on this host report their runs to.

It feeds the progress bar while a grid runs, and holds the grid's job list (`GRID_FILE`), which the
grid sweeper writes in the driver once every job returned. Each worker process appends one JSON
line per run to its own `PID.jsonl` (appending to a file, not a new file per run: on a busy file
system a file creation costs more CPU than a short run's bookkeeping should). Workers on other
machines cannot see it; the closing summary therefore reads the results folder
(harness.grid.summary), not the ledger.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LEDGER_ENV = "NAS_HARNESS_LEDGER"
GRID_FILE = "grid.jobs"  # in the ledger folder: the grid's runs, written by the grid sweeper in the driver
LINES = ".jsonl"  # a worker process's file of run outcomes, one JSON line per run


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
    """Report a run's outcome to the grid's progress bar and summary: one line in this process's file."""
    ledger = os.environ.get(LEDGER_ENV)
    if not ledger:
        return
    line = (json.dumps(entry) + "\n").encode()
    try:
        fd = os.open(Path(ledger) / f"{os.getpid()}{LINES}", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except FileNotFoundError:  # not this host's ledger folder (a remote worker), or the grid is over
        return
    try:
        os.write(fd, line)  # one write of a whole line: a reader never sees half a line it would count
    finally:
        os.close(fd)


def read_lines(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The entries in a worker's ledger file from byte `offset`, and the offset after the last whole line."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n") + 1
    entries = []
    for raw in data[:end].splitlines():
        try:
            entries.append(json.loads(raw))
        except ValueError:  # a damaged line: skip it, the summary reads the run folders
            continue
    return entries, offset + end


def record_grid(results_root: str | Path, entries: Iterable[dict[str, Any]]) -> None:
    """Called by the grid sweeper in the driver once all jobs returned: note the grid's runs.

    The sweeper knows every RUN_ID of the grid (it planned the runs, harness.grid.batching) and adds
    what each run's worker reported (the entry `run_config` returned, sent back by any launcher), or
    why its launcher job did not return (status None). `run_app` then reads the runs' folders
    (harness.grid.summary.grid_outcomes), so the summary needs no folder shared with the workers.
    """
    jobs = [{key: e.get(key) for key in ("run_id", "overrides", "status", "error")}
            for e in entries if isinstance(e, dict) and isinstance(e.get("run_id"), str)]
    write_ledger(GRID_FILE, {"results_root": str(Path(results_root).resolve()), "jobs": jobs})


def read_ledger(ledger: Path) -> dict[str, Any] | None:
    """The grid's job list the sweeper wrote, or None (one run, or a sweeper other than the grid sweeper)."""
    grid_file = ledger / GRID_FILE
    return json.loads(grid_file.read_text()) if grid_file.is_file() else None


def ledger_entries(ledger: Path) -> list[dict[str, Any]]:
    """What the workers on this host reported, one entry per run attempt (the fallback summary)."""
    return [e for p in sorted(ledger.glob(f"*{LINES}")) for e in read_lines(p)[0]]
