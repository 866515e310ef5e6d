"""The one typed reader of a run's `trajectory.parquet`.

Why one reader: report, regress, rank-stats, reproduce, validation and surrogate fitting all read
trajectories. A file that is truncated, not Parquet, or whose numeric columns hold strings (even
with the manifest's sha256 updated to match) must give every one of them the same one-line error
naming the file, never a pyarrow or pandas traceback deep inside a computation.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
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


def _read_table(parquet: pq.ParquetFile, path: Path) -> pa.Table:
    """Every column of the file opened as `parquet`, or TrajectoryError (unreadable) naming `path`."""
    try:
        return parquet.read(use_threads=False)
    except Exception as exc:  # pyarrow raises several types (ArrowInvalid, OSError, ...) for damaged files
        raise _damaged(path, f"unreadable: {type(exc).__name__}") from None


def _to_frame(table: pa.Table, path: Path) -> pd.DataFrame:
    """`table` as pandas, or TrajectoryError (unreadable) naming `path` for an Arrow type pandas cannot hold."""
    try:
        return table.to_pandas(use_threads=False)
    except Exception as exc:
        raise _damaged(path, f"unreadable: {type(exc).__name__}") from None


def read_parquet_trajectory(parquet: pq.ParquetFile, path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """read_trajectory for a trajectory already opened as `parquet` (from `path`, named in errors).

    One ParquetFile read, without the dataset machinery, threads or pre-buffering: a report reads
    thousands of small files, and pd.read_parquet costs about four times as much CPU per file for
    the same frame (same dtypes and attrs).
    """
    table = _read_table(parquet, path)
    if columns is not None:
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise _damaged(path, "no column " + ", ".join(repr(c) for c in missing))
    frame = _to_frame(table, path)
    if columns is not None:
        frame = frame[list(columns)]
    if _plain_numeric(table.schema):
        return frame
    return _check_numeric(frame.copy(), path)


# Arrow type ids (pa.DataType.id) of the types a trajectory column is read as without a frame.
_NUMBER_IDS = frozenset(t.id for t in (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(),
                                       pa.uint32(), pa.uint64(), pa.float16(), pa.float32(), pa.float64()))
_PLAIN_IDS = _NUMBER_IDS | {pa.string().id, pa.large_string().id, pa.bool_().id}
_NUMERIC_SET = frozenset(NUMERIC_COLUMNS)


def _plain_table(schema: pa.Schema, names: list[str]) -> bool:
    """True when every known numeric column is an integer or float, every column is an integer, float,
    string or boolean (its pandas conversion cannot fail and Arrow's `to_numpy` equals the frame's column)
    and the file's pandas metadata asks for the default 0..n-1 index: then the frame can wait until someone
    asks for it. One pass over type ids: a report checks thousands of schemas."""
    ids = [t.id for t in schema.types]
    if not all(i in _PLAIN_IDS for i in ids):
        return False
    if not all(i in _NUMBER_IDS for n, i in zip(names, ids, strict=True) if n in _NUMERIC_SET):
        return False
    meta = (schema.metadata or {}).get(b"pandas")
    if meta is None or b'"index_columns": []' in meta:
        return True
    try:
        index = json.loads(meta).get("index_columns", [])
    except (ValueError, AttributeError):
        return False
    return all(isinstance(i, dict) and i.get("kind") == "range" and i.get("start") == 0 and i.get("step") == 1
               for i in index)


class Trajectory:
    """One checked trajectory: the Arrow table read from its file, its pandas frame built on first use.

    Why: a report reads thousands of trajectories and needs a few columns of each as numbers. Arrow
    gives a column as a numpy array for about a tenth of what a pandas frame costs to build, and pandas
    builds a Series (and deep-copies the frame's attrs) on every column access. `column` is that cheap
    access (cached, read-only arrays); `frame` is exactly what `read_trajectory` returns (dtypes, attrs,
    index), for every caller that wants a DataFrame. A trajectory that needed fixing (a null-typed
    numeric column, a stored index, rows out of step order, an Arrow type pandas converts differently)
    is held as its frame only, and its columns come from that frame.
    """

    __slots__ = ("_table", "_frame", "_columns", "names", "num_rows")

    def __init__(self, table: pa.Table | None = None, frame: pd.DataFrame | None = None,
                 names: list[str] | None = None) -> None:
        """From `table` (with its column `names` when known) or from `frame`, not both."""
        if (table is None) == (frame is None):
            raise ValueError("Trajectory needs a table or a frame")
        self._table = table
        self._frame = frame
        self._columns: dict[str, np.ndarray] = {}
        if table is not None:
            self.names: list[str] = table.schema.names if names is None else names
            self.num_rows: int = table.num_rows
        else:
            assert frame is not None
            self.names = list(frame.columns)
            self.num_rows = len(frame)

    @property
    def table(self) -> pa.Table | None:
        """The Arrow table the columns are read from; None when the trajectory is held as a frame only."""
        return self._table

    def __len__(self) -> int:
        return self.num_rows

    @property
    def frame(self) -> pd.DataFrame:
        """The trajectory as a DataFrame (built once, then shared: do not modify it in place)."""
        if self._frame is None:
            assert self._table is not None
            self._frame = self._table.to_pandas(use_threads=False)
        return self._frame

    def column(self, name: str) -> np.ndarray:
        """Column `name` as a read-only numpy array, equal to `frame[name].to_numpy()` (KeyError when absent)."""
        out = self._columns.get(name)
        if out is None:
            if self._table is not None and name in self.names:
                chunked = self._table.column(self.names.index(name))
                if chunked.null_count and chunked.type.id not in _NUMBER_IDS:
                    out = self.frame[name].to_numpy()  # pandas' missing-value marker (NaN), not Arrow's None
                elif chunked.num_chunks == 1:
                    out = chunked.chunk(0).to_numpy(zero_copy_only=False)
                else:
                    out = chunked.to_numpy()
            else:
                out = self.frame[name].to_numpy()
            out.flags.writeable = False
            self._columns[name] = out
        return out

    def sorted_by_step(self) -> Trajectory:
        """This trajectory ordered by step (stable) with a fresh 0..n-1 index: itself when the engine
        wrote it in that order (the usual case; nothing is copied), else a frame-held sorted copy."""
        if self._table is not None:
            step = self._table.column(self.names.index("step"))
            if step.type.id in _NUMBER_IDS and pa.types.is_integer(step.type) and step.null_count == 0:
                values = self.column("step")
                if bool((values[1:] >= values[:-1]).all()):
                    return self
        frame = self.frame
        index = frame.index
        if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
            step_values = frame["step"].to_numpy()
            if step_values.dtype.kind in "iu" and bool(np.all(step_values[1:] >= step_values[:-1])):
                return self if self._table is None else Trajectory(frame=frame)
        return Trajectory(frame=frame.sort_values("step", kind="stable").reset_index(drop=True))


def read_checked_trajectory(parquet: pq.ParquetFile, path: Path) -> Trajectory:
    """The whole trajectory opened as `parquet` (from `path`, named in errors), checked as
    `read_parquet_trajectory` checks it, kept as its Arrow table when it converts to pandas plainly.

    Raises TrajectoryError (unreadable) and TrajectoryTypeError (non-numeric numeric column) exactly
    as `read_parquet_trajectory` does, so a results folder gets the same statuses and one-line errors.
    """
    table = _read_table(parquet, path)
    names = table.schema.names
    if _plain_table(table.schema, names):
        return Trajectory(table=table, names=names)
    frame = _to_frame(table, path)
    if _plain_numeric(table.schema):
        return Trajectory(frame=frame)
    return Trajectory(frame=_check_numeric(frame.copy(), path))
