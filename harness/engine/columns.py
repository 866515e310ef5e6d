"""The trajectory as a run grows it: typed columns, and the DataFrame `run_search` returns.

Why a module of its own: the run loop adds one tuple per evaluation and must stay cheap; how those
tuples become the returned DataFrame (column order, dtypes, the seed-mean columns gathered at the end)
is one job, kept here with the column names every reader of a trajectory relies on.
"""
from __future__ import annotations

import functools
from array import array
from typing import Any

import numpy as np
import pandas as pd

from tabular.protocol import RowValues

try:  # pandas >= 3.0: build a frame from its blocks without re-inferring every column
    from pandas.api.internals import create_dataframe_from_blocks as _from_blocks
except ImportError:  # older pandas: the dict constructor
    _from_blocks = None
# The dtype pd.DataFrame gives a column of str (pandas 3: the str dtype; object where inference is off).
_TEXT_DTYPE = pd.Series(["text"]).dtype
if not isinstance(_TEXT_DTYPE, pd.StringDtype):
    _from_blocks = None

_INT_COLUMNS = frozenset({"step", "arch_index", "seed_used"})
_STR_COLUMNS = frozenset({"arch", "incumbent_arch"})

BUDGET_COLUMN = "budget"
TRAJECTORY_COLUMNS = [
    "step",
    "arch",
    "arch_index",
    "fidelity",
    "budget",  # only for strategies with nominal budgets (BUDGET_COLUMN): the level the incumbent counts at
    "seed_used",
    "valid",
    "valid_mean",
    "test_mean",
    "cost",
    "sim_time",
    "best_valid",
    "incumbent_arch",
    "incumbent_test_mean",
    "regret",
    "wall_time",
]


# The columns a run fills row by row, in the order of the tuples it buffers (the seed-mean columns
# are gathered at the end, the multi-objective ones appended directly).
_ROW_FIELDS = ("step", "arch", "arch_index", "fidelity", "budget", "seed_used", "valid", "cost", "sim_time",
               "best_valid", "incumbent_arch", "wall_time")
_FLUSH_ROWS = 4096


class _Columns:
    """The trajectory as it grows, one typed, growing column per field: numbers cost 8 bytes a row
    (array.array, not a dict of Python objects per row), so a long run's memory is the trajectory's
    own size. The run loop adds one tuple per row (`add`); every _FLUSH_ROWS rows, and at the end,
    the tuples are transposed into the columns. `appenders` are the bound `append` methods of the
    columns in output order, for the columns filled one value at a time."""

    def __init__(self, extra: list[str]) -> None:
        self.names = TRAJECTORY_COLUMNS + extra
        self.columns: dict[str, Any] = {
            name: [] if name in _STR_COLUMNS or name == "pareto_front"
            else array("q" if name in _INT_COLUMNS else "d")
            for name in self.names
        }
        self.appenders = [self.columns[name].append for name in self.names]
        self._buffer: list[tuple[Any, ...]] = []
        self._row_columns = [self.columns[name] for name in _ROW_FIELDS]
        self._flushed = 0

    def add(self, row: tuple[Any, ...]) -> None:
        """One row of the _ROW_FIELDS columns."""
        self._buffer.append(row)
        if len(self._buffer) >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Move the buffered rows into their columns."""
        if self._buffer:
            for column, values in zip(self._row_columns, zip(*self._buffer, strict=True), strict=True):
                column.extend(values)
            self._flushed += len(self._buffer)
            self._buffer = []

    def add_block(self, fields: dict[str, Any]) -> None:
        """Many rows at once: one sequence per _ROW_FIELDS name (numpy arrays for the numeric fields,
        lists of str for the text ones), all of one length; the same bytes `add` per row would give."""
        self.flush()
        lengths = {len(fields[name]) for name in _ROW_FIELDS}
        if len(lengths) != 1:
            raise ValueError(f"add_block needs columns of one length, got lengths {sorted(lengths)}")
        for name, column in zip(_ROW_FIELDS, self._row_columns, strict=True):
            values = fields[name]
            if isinstance(column, array):
                column.frombytes(np.ascontiguousarray(values, dtype=np.int64 if column.typecode == "q"
                                                      else np.float64).tobytes())
            else:
                column.extend(values)
        self._flushed += lengths.pop()

    @property
    def rows(self) -> int:
        """Rows added so far."""
        return self._flushed + len(self._buffer)

    def frame(self, drop: frozenset[str] = frozenset()) -> pd.DataFrame:
        """The trajectory as a DataFrame (numbers without a copy of the buffers, strings as str), less `drop`."""
        self.flush()
        if not self.rows:
            return pd.DataFrame([], columns=[c for c in TRAJECTORY_COLUMNS if c not in drop])
        data = {c: np.frombuffer(col, dtype=np.int64 if col.typecode == "q" else np.float64)
                if isinstance(col, array) else col
                for c, col in self.columns.items() if c not in drop}
        if _from_blocks is None:
            return pd.DataFrame(data)  # already in column order (columns= would cost a reindex: 40 % more)
        return _frame_from_blocks(data, self.rows)


def _frame_from_blocks(data: dict[str, Any], rows: int) -> pd.DataFrame:
    """pd.DataFrame(data) for numeric arrays and lists of str, built as pandas would consolidate it:
    one float64 block, one int64 block, one str array per text column. Why: the dict constructor
    infers and checks every column again, which costs a short run more than all its evaluations'
    bookkeeping (tests/test_engine_bitwise.py compares the result with the dict constructor's)."""
    groups: dict[Any, tuple[list[np.ndarray], list[int]]] = {}  # numeric dtype -> (arrays, positions)
    order: list[Any] = []  # blocks in order of first appearance, as pandas forms them
    for position, values in enumerate(data.values()):
        if isinstance(values, np.ndarray):
            if values.dtype not in groups:
                groups[values.dtype] = ([], [])
                order.append(values.dtype)
            groups[values.dtype][0].append(values)
            groups[values.dtype][1].append(position)
        else:
            order.append((pd.array(values, dtype=_TEXT_DTYPE), np.array([position], dtype=np.intp)))
    blocks = [item if isinstance(item, tuple)
              else (np.vstack(groups[item][0]), np.array(groups[item][1], dtype=np.intp))
              for item in order]
    assert _from_blocks is not None
    # A copy of the cached Index: each frame gets its own (a caller may rename its columns' Index).
    return _from_blocks(blocks, index=pd.RangeIndex(rows), columns=_column_index(tuple(data)).copy())


@functools.lru_cache(maxsize=64)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    """The (immutable) column Index of a trajectory with these columns, built once per set of names."""
    return pd.Index(list(names))


def _gather(values: RowValues, rows: array) -> np.ndarray:
    """values[row] for every row: one fancy index on a table's array, one lookup per row otherwise."""
    index = np.frombuffer(rows, dtype=np.int64)
    if isinstance(values, np.ndarray):
        return np.asarray(values[index], dtype=np.float64)
    return np.array([float(values[int(r)]) for r in index], dtype=np.float64)


def _fill_seed_means(rows: _Columns, inc_rows: array, valid_mean: RowValues, test_mean: RowValues, optimum: float,
                     maximize: bool) -> None:
    """The trajectory's seed-mean columns, gathered once at the end of the run (the same float64
    values, and the same IEEE subtraction for the regret, as row by row)."""
    if not rows.rows:
        return
    columns = rows.columns
    inc_mean = _gather(valid_mean, inc_rows)
    columns["valid_mean"].frombytes(_gather(valid_mean, columns["arch_index"]).tobytes())
    columns["test_mean"].frombytes(_gather(test_mean, columns["arch_index"]).tobytes())
    columns["incumbent_test_mean"].frombytes(_gather(test_mean, inc_rows).tobytes())
    columns["regret"].frombytes(((optimum - inc_mean) if maximize else (inc_mean - optimum)).tobytes())


