"""What `nas-harness run` prints on stdout when it ends: the run it did, or a table of the grid.

Why: a run that prints nothing leaves the user to find its folder and open a Parquet file to learn
what it found. One run says where it wrote and its best architecture with its validation value
(the one the search saw, and its seed mean) and its test value (the store's test metric, `none`
when the benchmark has none); a grid ends with one row per method x benchmark: runs with a result
and their mean final regret. Runs without a result are listed by the summary's FAILED lines.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harness.results import TRAJECTORY, read_manifest, read_trajectory
from tabular.errors import NasHarnessError

HAS_RESULT = ("complete", "skipped")
COLUMNS = ("arch", "arch_index", "valid", "valid_mean", "best_valid", "incumbent_arch", "incumbent_test_mean", "regret")


def _shown(path: Path) -> str:
    """`path` relative to the current folder when it lies under it (what the user typed), else absolute."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd().resolve()) else str(path)
    except ValueError:
        return str(path)


def _number(value: Any) -> str:
    return "none" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{float(value):.2f}"


def _read(run_dir: Path, columns: Sequence[str] = COLUMNS) -> tuple[dict[str, Any], Any] | None:
    try:
        manifest = read_manifest(run_dir)
        frame = read_trajectory(run_dir / TRAJECTORY, list(columns))
    except (NasHarnessError, OSError):
        return None
    return manifest, frame


def run_lines(run_dir: Path, status: str) -> list[str]:
    """Two lines about one run with a result: where it is, and its best architecture with valid/test values."""
    read = _read(run_dir)
    if read is None:
        return [f"run {status}: {_shown(run_dir)}"]
    manifest, frame = read
    config = manifest.get("config", {})
    what = (f"{manifest.get('strategy')} on {manifest.get('benchmark')}, seed {config.get('seed')}, "
            f"{len(frame)} evaluations")
    verb = "complete" if status == "complete" else "already done (skipped)"
    lines = [f"run {verb}: {_shown(run_dir)} ({what})"]
    if len(frame) == 0:
        return lines
    last = frame.iloc[-1]
    arch = last["incumbent_arch"]
    # The evaluation that made it the incumbent: its row (index) is what `nas-harness query --index` looks up;
    # the string is the canonical form, which isomorphic cells with their own table values share.
    found = frame[(frame["arch"] == arch) & (frame["valid"] == last["best_valid"])]
    seen = found.iloc[0] if len(found) else last
    index = "" if len(found) == 0 or math.isnan(float(seen["arch_index"])) else f"index {int(seen['arch_index'])} "
    lines.append(
        f"best architecture: {index}{arch}  valid {_number(last['best_valid'])} "
        f"(seed mean {_number(seen['valid_mean'])})  test {_number(last['incumbent_test_mean'])}  "
        f"regret {_number(last['regret'])}"
    )
    return lines


def final_regret(parquet: pq.ParquetFile) -> float | None:
    """The last row's regret of a trajectory opened as `parquet` (NaN for no rows or a null), or None
    when the column is missing, unreadable or not numbers (the typed reader refuses those runs, and the
    table leaves them out): only that column is read, without pandas."""
    if "regret" not in parquet.schema_arrow.names:
        return None
    try:
        column = parquet.read(columns=["regret"], use_threads=False).column("regret")
    except (OSError, pa.ArrowException):  # a damaged file
        return None
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        return None
    last = column[len(column) - 1].as_py() if len(column) else None
    return math.nan if last is None else float(last)


def grid_lines(entries: Sequence[dict[str, Any]]) -> list[str]:
    """A method x benchmark table: runs with a result and their mean final regret (from each entry's
    `found`, set by harness.grid.summary.grid_outcomes; read from the run folder when absent)."""
    cells: dict[tuple[str, str], list[float]] = {}
    for entry in entries:
        found = entry.get("found")
        if found is None:
            read = _read(Path(entry["log"]).parent, ("regret",))  # the table needs one column: read no more
            if read is None:
                continue
            manifest, frame = read
            found = (str(manifest.get("strategy")), str(manifest.get("benchmark")),
                     float(frame["regret"].iloc[-1]) if len(frame) else math.nan)
        method, bench, regret = found
        if regret is None:
            continue
        cells.setdefault((method, bench), []).append(regret)
    if not cells:
        return []
    rows = [("method", "benchmark", "runs", "mean final regret")]
    for (method, bench), values in sorted(cells.items()):
        finite = [v for v in values if not math.isnan(v)]
        mean = sum(finite) / len(finite) if finite else math.nan
        rows.append((method, bench, str(len(values)), _number(mean) if not finite else f"{mean:.3f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in rows]


def digest(entries: Sequence[dict[str, Any]]) -> None:
    """Print (stdout) what the runs with a result found: one run's lines, or the grid's table."""
    with_result = [e for e in entries if e.get("status") in HAS_RESULT and e.get("log")]
    if not with_result:
        return
    if len(entries) == 1:
        lines = run_lines(Path(with_result[0]["log"]).parent, str(entries[0]["status"]))
    else:
        roots = sorted({str(_shown(parent)) for parent in {Path(e["log"]).parent.parent for e in with_result}})
        lines = [f"results in {', '.join(roots)}: {len(with_result)} run(s) with a result", *grid_lines(with_result)]
    print("\n".join(lines), flush=True)
