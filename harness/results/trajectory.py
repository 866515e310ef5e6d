"""The one typed reader of a run's `trajectory.parquet`.

Why one reader: report, regress, rank-stats, reproduce, validation and surrogate fitting all read
trajectories. A file that is truncated, not Parquet, or whose numeric columns hold strings (even
with the manifest's sha256 updated to match) must give every one of them the same one-line error
naming the file, never a pyarrow or pandas traceback deep inside a computation.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tabular.errors import NasHarnessError

# Columns the engine (harness.engine.TRAJECTORY_COLUMNS) and the one-shot methods write as numbers.
# A trajectory may lack some of them (older results, one-shot runs); those it has must be numeric.
NUMERIC_COLUMNS = ("step", "arch_index", "fidelity", "budget", "seed_used", "valid", "valid_mean", "test_mean", "cost",
                   "sim_time", "best_valid", "incumbent_test_mean", "regret", "wall_time")


class TrajectoryError(NasHarnessError):
    """A trajectory.parquet that cannot be read as one `nas-harness run` writes (one line naming the file)."""

    def __init__(self, message: str, problem: str = "") -> None:
        super().__init__(message)
        self.problem = problem or message


class TrajectoryTypeError(TrajectoryError):
    """A readable trajectory whose numeric columns are not numbers: written or edited by something else."""


def _damaged(path: Path, problem: str, kind: type[TrajectoryError] = TrajectoryError) -> TrajectoryError:
    return kind(f"{path} is damaged ({problem}); delete the run folder or re-run the grid to redo it", problem)


def _check_numeric(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """`frame` with every known numeric column checked (all-null columns become float NaN)."""
    for name in NUMERIC_COLUMNS:
        if name not in frame.columns:
            continue
        column = frame[name]
        if pd.api.types.is_bool_dtype(column.dtype):
            raise _damaged(path, f"column {name!r} holds booleans, expected numbers", TrajectoryTypeError)
        if pd.api.types.is_numeric_dtype(column.dtype):
            continue
        if column.isna().all():  # a column of nulls (pyarrow's null type reads as object)
            frame[name] = column.astype("float64")
            continue
        raise _damaged(path, f"column {name!r} holds {column.dtype} values such as {column.dropna().iloc[0]!r:.40}, "
                             "expected numbers", TrajectoryTypeError)
    return frame


def _plain_numeric(schema: pa.Schema) -> bool:
    """True when every known numeric column in `schema` is an integer or float type: nothing to check per value."""
    names = set(schema.names)
    return all(pa.types.is_integer(schema.field(n).type) or pa.types.is_floating(schema.field(n).type)
               for n in NUMERIC_COLUMNS if n in names)


def read_trajectory(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The trajectory at `path` (all columns, or `columns`), with its numeric columns checked.

    Raises TrajectoryError (one line naming the file) when the file is missing, unreadable
    (truncated, not Parquet), lacks a requested column, or holds a non-numeric value in a column
    that nas-harness writes as numbers. Rows keep the file's order.
    """
    path = Path(path)
    if not path.is_file():
        raise TrajectoryError(f"{path} does not exist; the run folder holds no trajectory", "no trajectory")
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)
    except Exception as exc:  # pyarrow raises several types (ArrowInvalid, OSError, ...) for damaged files
        raise _damaged(path, f"unreadable: {type(exc).__name__}") from None
    return read_parquet_trajectory(parquet, path, columns)


def read_parquet_trajectory(parquet: pq.ParquetFile, path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """read_trajectory for a trajectory already opened as `parquet` (from `path`, named in errors).

    One ParquetFile read, without the dataset machinery, threads or pre-buffering: a report reads
    thousands of small files, and pd.read_parquet costs about four times as much CPU per file for
    the same frame (same dtypes and attrs).
    """
    try:
        table = parquet.read(use_threads=False)
    except Exception as exc:  # pyarrow raises several types (ArrowInvalid, OSError, ...) for damaged files
        raise _damaged(path, f"unreadable: {type(exc).__name__}") from None
    if columns is not None:
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise _damaged(path, "no column " + ", ".join(repr(c) for c in missing))
    try:
        frame = table.to_pandas(use_threads=False)
    except Exception as exc:  # an Arrow type pandas cannot hold
        raise _damaged(path, f"unreadable: {type(exc).__name__}") from None
    if columns is not None:
        frame = frame[list(columns)]
    if _plain_numeric(table.schema):
        return frame
    return _check_numeric(frame.copy(), path)
