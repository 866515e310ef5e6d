"""Bring your own benchmark: a CSV, Parquet or JSON table -> one store (`nas-harness convert table FILE`).

A JSON file is a dict of architecture key -> record (NAS-Bench-Macro style; tabular.converters.json_table
reads it into the long format below: list values are per-seed metrics, scalars static quantities).
A CSV or Parquet table is in *long format*, one row per architecture x seed x fidelity:

=============  ==================================================================================
column         meaning
=============  ==================================================================================
``arch``       architecture string of a known search space (``search_space`` in the sidecar,
               default ``nb201``); every string is validated and store rows follow the space's
               index, with NaN rows for architectures the table does not list. With a ``space``
               declared in the sidecar (below): the positions' choices joined by ``-``
               (``"2-0-5"``), or a JSON list (``"[2, 0, 5]"``; Parquet: a list column)
``arch_id``    instead of ``arch``: plain identifiers of a table without a search space; rows are
               the sorted ids and the store's space is ``ids:<name>`` (a JSON table's keys without ``space`` or
               ``search_space`` in the sidecar). CSV ids are read as text:
               ``007`` and ``7`` are two ids. Ids that are all plain integers (``0``, ``42``, ``-3``;
               no leading zeros, no ``+``, no ``-0``) are stored as integers and sorted numerically; otherwise
               they are strings, sorted as strings
``seed``       optional integer seed label (absent: one seed, label 0)
``fidelity``   optional number, e.g. epochs (absent: one fidelity, the sidecar's ``fidelity``, 1)
any other      a metric, dense over (arch, seed, fidelity), NaN where a combination has no row
=============  ==================================================================================

Metric cells must be numbers. A missing value is an empty cell (or ``nan``/``NaN``, as Python
writes it, or ``NA``, as R writes it); anything else in a metric column (``n/a``, ``12.3%``,
``-``) is an error naming the file, column, row and value, never a silently dropped column. A
column is a metric when it is numeric, when the sidecar names it (``metrics``, ``static``, a
role) or it is ``valid_acc``/``test_acc``/``train_time``, or when any of its cells is a number; a
column whose every cell is text and that nobody declared (a note, a hostname) is ignored, with a
log line saying so. Boolean columns are ignored the same way.

An optional sidecar JSON next to the table (its schema is checked whole: tabular.converters.sidecar),
``<table file name>.meta.json`` (``results.csv.meta.json``)
or ``<stem>.meta.json`` (``results.meta.json``), may give (all keys optional)::

    {"name": "mybench/cifar10",            # store / benchmark name; default "table/<stem>"
     "search_space": "nb201",              # space of the arch column
     "space": {"layers": 8, "choices": [0, 1, 2]},   # or: your own space (below), not both
     "fidelity_name": "epochs", "fidelity": 200,
     "valid_metric": "valid_acc", "test_metric": "test_acc", "cost_metric": "train_time",
     "metrics": {"valid_acc": {"unit": "%", "higher_is_better": true, "description": "..."}},
     "static": {"params": {"unit": "M", "kind": "params", "device": "", "description": "..."}},
     "provenance": {"licence": "CC-BY-4.0", "citation": "...", "url": "..."}}

``name`` is ``family/dataset``: two parts of letters, digits, ``.``, ``_`` and ``-``, each starting
with a letter or digit (so no absolute path, ``..``, backslash or empty part), not the name of a
built-in benchmark (``nb201/cifar10``, ``nbgraph/cora``, ...; compared ignoring case) and not in
the ``surrogate`` family (fitted surrogates). The default ``table/<stem>`` replaces characters
outside that set in the file stem by ``_``.

``space`` declares a structured space of your own (harness.spaces.structured):
``{"layers": L, "choices": [...]}`` gives every one of L positions the same choices,
``{"choices": [[...], [...], ...]}`` one list per position; choices are integers, numbers or
strings without ``-``, whitespace, ``,``, ``[`` or ``]``. Add ``"columns": ["op1", "op2", ...]`` to
read the positions from those columns (one per position) instead of an ``arch`` column (not for
JSON, whose keys are the architectures). An architecture written without separators (``01201120``)
is split one character per position when it has exactly as many characters as the space has
positions and every choice is one character long (NAS-Bench-Macro's keys). Every
architecture must be in the declared space (else an error naming the row). The store's rows are
the architectures the table lists, sorted by their choice codes (a table that lists every
combination is the full grid); the space is ``structured:<name>`` and the store's provenance
records the choices (key ``structured_space``), from which ``load_benchmark`` rebuilds it.
Regularized evolution, local search and BANANAS (``encoding=onehot``) then mutate one position
at a time instead of drawing random ids.

Defaults without a sidecar: roles are ``valid_acc`` / ``test_acc`` / ``train_time`` when such columns
exist (else empty); a metric is lower-is-better when its name contains loss, err, time, latency,
cost or energy, higher-is-better otherwise. Columns listed under ``static`` are per-architecture
quantities (params, FLOPs, latency): they must not vary between an architecture's rows.

A table without a validation metric converts, but searching needs one: convert then logs a warning
naming the sidecar key to set (``valid_metric``), and that searching on a test metric is flagged by
the report's checklist.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabular.converters.json_table import is_json, read_json_table
from tabular.converters.sidecar import read_sidecar
from tabular.converters.sidecar import stem as _stem
from tabular.errors import NasHarnessError
from tabular.hashing import sha256_file
from tabular.schema import STATIC_KINDS
from tabular.writer import MetricArray, StaticMetric, StoreData, write_store

log = logging.getLogger(__name__)

RESERVED = ("arch", "arch_id", "seed", "fidelity")
_LOWER_IS_BETTER = ("loss", "err", "time", "latency", "cost", "energy")
_DEFAULT_ROLES = {"valid_metric": "valid_acc", "test_metric": "test_acc", "cost_metric": "train_time"}
# Cells read as missing: empty, and what Python (nan) and R (NA) write for a missing value. Other
# markers (n/a, -, ?) are errors in a metric column rather than guesses.
_MISSING = ("", "nan", "NaN", "NAN", "NA")
_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_RESERVED_FAMILIES = ("surrogate",)  # <data>/stores/surrogate/ holds fitted surrogates' stores
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")
_PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class SpaceKit:
    """What a table needs from the layers above tabular, passed in (harness.catalog.local.space_kit).

    Why passed in: tabular is the lowest layer and imports no search space or catalogue, yet a table
    names architectures of a search space, may declare its own structured space, and must not take
    a built-in benchmark's name. `get_space(name)` returns a space object (index_of, arch_at, size,
    encodings, encode); `structured(name, choices, codes=None)` builds a structured space (codes_of,
    indices_of_codes, strings, codes); `normalise_spec(spec, where)` checks a sidecar `space`;
    `error` is the exception spaces raise for an invalid architecture; `builtin_names()` lists the
    names nas-harness ships; `structured_prefix` / `spec_key` are the structured space's name prefix
    and provenance key.
    """

    get_space: Callable[[str], Any]
    structured: Callable[..., Any]
    normalise_spec: Callable[[Any, str], dict[str, Any]]
    error: type[Exception]
    builtin_names: Callable[[], set[str]]
    structured_prefix: str
    spec_key: str


def read_table(path: Path, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet table; one-line error for an unreadable or unsupported file.

    CSV: `text_columns` (ids, architectures) are read as text, so `007` stays `007`; only the
    markers in `_MISSING` are missing values (pandas' default list would turn `n/a` into a silent
    NaN, and an id `NA` into a missing id is no better).
    """
    lower = path.name.lower()
    try:
        if lower.endswith(_CSV_SUFFIXES):
            dtype = {c: str for c in text_columns}
            return pd.read_csv(path, dtype=dtype or None, keep_default_na=False, na_values=list(_MISSING))
        if lower.endswith(_PARQUET_SUFFIXES):
            return pd.read_parquet(path)
    except Exception as exc:  # pandas/pyarrow raise many types for a damaged file
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise NasHarnessError(f"{path} could not be read as a table ({type(exc).__name__}: {reason}); it is truncated "
                              "or corrupt") from None
    raise NasHarnessError(f"{path}: unsupported table type; use .csv (optionally compressed), .parquet or .json")


@dataclass
class _Rows:
    """The store's architecture axis and each table row's position on it."""

    search_space: str
    arch_strings: list[str]
    encoding: np.ndarray
    arch_ids: np.ndarray | None
    row_of: np.ndarray  # per table row


def _line(path: Path, row: int, keys: list[str] | None = None) -> str:
    """Human position of a 0-based data row: 1-based, as a spreadsheet counts data rows (CSV files also
    get their line number, the header being line 1); a JSON table's row is named by its key (`keys`)."""
    if keys is not None:
        return f"key {keys[row]!r}"
    return f"row {row + 1} (line {row + 2})" if path.name.lower().endswith(_CSV_SUFFIXES) else f"row {row + 1}"


def _arch_rows(path: Path, column: pd.Series, space_name: str, kit: SpaceKit, keys: list[str] | None = None) -> _Rows:
    space = kit.get_space(space_name)
    if column.isna().any():
        raise NasHarnessError(f"{path}: {_line(path, int(np.flatnonzero(column.isna().to_numpy())[0]))} has an empty "
                              "arch")
    codes, uniques = pd.factorize(column.astype(str), sort=False)
    index_of_unique = np.empty(len(uniques), dtype=np.int64)
    for u, arch in enumerate(uniques):
        try:
            index_of_unique[u] = space.index_of(arch)
        except kit.error as exc:
            row = int(np.flatnonzero(codes == u)[0])
            raise NasHarnessError(f"{path}: {_line(path, row, keys)}: {exc}") from None
    clash = pd.Series(uniques).groupby(index_of_unique).size()
    if (clash > 1).any():
        index = int(clash.index[np.argmax(clash.to_numpy() > 1)])
        spellings = [u for u, i in zip(uniques, index_of_unique, strict=True) if i == index]
        raise NasHarnessError(f"{path}: {spellings} name the same architecture (index {index}); spell each "
                              "architecture one way")
    strings = [space.arch_at(i) for i in range(space.size)]
    kind = "index" if "index" in space.encodings else space.encodings[0]
    return _Rows(space_name, strings, space.encode(strings, kind), None, index_of_unique[codes])


_PLAIN_INTEGER = re.compile(r"0|-?[1-9][0-9]*")  # not "-0": it would merge with the id "0"
_INT64 = np.iinfo(np.int64)


def _integer_ids(column: pd.Series) -> np.ndarray | None:
    """The ids as int64 when every one is an integer written plainly, else None (string ids)."""
    if pd.api.types.is_bool_dtype(column):
        return None
    if pd.api.types.is_integer_dtype(column):
        return column.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        # Beyond 2**53 a float is no exact integer, and beyond int64 astype would wrap ids together.
        exact = np.all(values == np.round(values)) and np.all(np.abs(values) <= 2.0**53)
        return values.astype(np.int64) if exact else None
    texts = [v if isinstance(v, str) else None for v in column.tolist()]
    if any(t is None or not _PLAIN_INTEGER.fullmatch(t) for t in texts):
        return None
    numbers = [int(t) for t in texts]  # type: ignore[arg-type]
    if min(numbers) < _INT64.min or max(numbers) > _INT64.max:
        return None
    return np.asarray(numbers, dtype=np.int64)


def _id_rows(path: Path, column: pd.Series, name: str) -> _Rows:
    """Sorted ids (integers numerically when every id is a plain integer, else strings as written)."""
    if column.isna().any():
        raise NasHarnessError(f"{path}: {_line(path, int(np.flatnonzero(column.isna().to_numpy())[0]))} has an empty "
                              "arch_id")
    integers = _integer_ids(column)
    if integers is not None:
        codes, uniques = pd.factorize(integers, sort=True)
        ids = np.asarray(uniques, dtype=np.int64)
        return _Rows(f"ids:{name}", [str(v) for v in ids], ids[:, None], ids, codes)
    codes, uniques = pd.factorize(np.asarray([str(v) for v in column.tolist()], dtype=object), sort=True)
    strings = [str(v) for v in uniques]
    return _Rows(f"ids:{name}", strings, np.arange(len(strings))[:, None], None, codes)


def _cell_key(cell: Any) -> Any:
    """A hashable form of one architecture cell: a string, or a tuple of position values."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, np.ndarray):
        return tuple(cell.tolist())
    if isinstance(cell, (list, tuple)):
        return tuple(v.item() if isinstance(v, np.generic) else v for v in cell)
    return (cell.item() if isinstance(cell, np.generic) else cell,)


def _compact_splitter(choices: list[list[Any]]) -> Callable[[Any], Any]:
    """Splits an architecture written without separators (``01201120``) one character per position, when
    the space has one-character choices only and the string has one character per position."""
    tokens = [[c if isinstance(c, str) else repr(c) for c in position] for position in choices]
    if not all(len(t) == 1 for position in tokens for t in position):
        return lambda cell: cell

    def split(cell: Any) -> Any:
        if isinstance(cell, str):
            text = cell.strip()
            if len(text) == len(choices) > 1 and not any(c in text for c in "-[]"):
                return tuple(text)
        return cell
    return split


def _structured_rows(path: Path, df: pd.DataFrame, name: str, spec: dict[str, Any], kit: SpaceKit,
                     keys: list[str] | None = None) -> _Rows:
    """Rows of a table with a declared space: the listed architectures, sorted by their codes."""
    columns = spec.get("columns")
    if columns is not None:
        missing = [c for c in columns if c not in df]
        if missing:
            raise NasHarnessError(f"{path}: space.columns names {missing}, which the table does not have")
        frame = df[columns]
        empty = frame.isna().any(axis=1).to_numpy()
        cells = list(zip(*(frame[c].tolist() for c in columns), strict=True)) if len(df) else []
        what = "has an empty position column"
    else:
        column = df["arch"]
        empty = column.isna().to_numpy()
        cells = column.tolist()
        what = "has an empty arch"
    if empty.any():
        raise NasHarnessError(f"{path}: {_line(path, int(np.flatnonzero(empty)[0]))} {what}")
    space_name = f"{kit.structured_prefix}{name}"
    parser = kit.structured(space_name, spec["choices"])
    split = _compact_splitter(spec["choices"])
    cell_keys = [_cell_key(split(c)) for c in cells]
    codes_of_key: dict[Any, tuple[int, ...]] = {}
    row_codes = np.empty((len(cell_keys), len(spec["choices"])), dtype=np.int64)
    for row, key in enumerate(cell_keys):
        codes = codes_of_key.get(key)
        if codes is None:
            try:
                codes = codes_of_key[key] = parser.codes_of(list(key) if isinstance(key, tuple) else key)
            except kit.error as exc:
                raise NasHarnessError(f"{path}: {_line(path, row, keys)}: {exc}") from None
        row_codes[row] = codes
    space = kit.structured(space_name, spec["choices"], np.unique(row_codes, axis=0))
    row_of = space.indices_of_codes(row_codes)
    return _Rows(space_name, space.strings, np.array(space.codes), None, row_of)


def _axis(path: Path, df: pd.DataFrame, column: str, default: float, integer: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of an optional axis column and each row's position on it."""
    if column not in df:
        return np.array([default]), np.zeros(len(df), dtype=np.int64)
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values) | ((values != np.round(values)) if integer else False))
    if bad.size:
        what = "an integer" if integer else "a number"
        raise NasHarnessError(f"{path}: {_line(path, int(bad[0]))}: {column} {df[column].iloc[bad[0]]!r} is not {what}")
    labels, position = np.unique(values, return_inverse=True)
    return labels, position.reshape(-1)


def _higher_is_better(name: str) -> bool:
    lower = name.lower()
    return not any(tag in lower for tag in _LOWER_IS_BETTER)


def _numbers(path: Path, df: pd.DataFrame, col: str) -> np.ndarray:
    """A metric column as float64; a cell that is neither missing nor a number is a one-line error."""
    column = df[col]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64)
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(values) & ~_missing(column))
    if bad.size:
        row = int(bad[0])
        raise NasHarnessError(f"{path}: column {col!r}, {_line(path, row)}: {column.iloc[row]!r} is not a number; "
                              "write plain "
                              f"numbers (no units or %), and leave a cell empty for a missing value ({bad.size} such "
                              "cell(s))")
    return values


def _missing(column: pd.Series) -> np.ndarray:
    """Cells that stand for a missing value: null, or (text) empty / one of `_MISSING` after stripping."""
    text = column.map(lambda v: v.strip() if isinstance(v, str) else v)
    return (text.isna() | text.isin(_MISSING)).to_numpy()


def _is_metric(df: pd.DataFrame, col: str, declared: set[str]) -> bool:
    """Whether a non-reserved column holds a metric (see the module docstring); all-text columns
    nobody declared are not metrics, and neither are booleans."""
    column = df[col]
    if pd.api.types.is_bool_dtype(column):
        return col in declared
    if pd.api.types.is_numeric_dtype(column) or col in declared:
        return True
    return bool(np.any(np.isfinite(pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64))))


def _static(path: Path, df: pd.DataFrame, col: str, rows: _Rows, spec: dict[str, Any]) -> StaticMetric:
    values = _numbers(path, df, col)
    n = len(rows.arch_strings)
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    finite = np.isfinite(values)
    np.minimum.at(lo, rows.row_of[finite], values[finite])
    np.maximum.at(hi, rows.row_of[finite], values[finite])
    varying = np.flatnonzero(np.isfinite(lo) & (lo != hi))
    if varying.size:
        raise NasHarnessError(f"{path}: static column {col!r} varies between the rows of architecture "
                              f"{rows.arch_strings[varying[0]]!r}; a static quantity has one value per architecture")
    kind = spec.get("kind", "other")
    if kind not in STATIC_KINDS:
        raise NasHarnessError(f"{path}: static {col!r} has kind {kind!r}; use one of {', '.join(STATIC_KINDS)}")
    out = np.where(np.isfinite(lo), lo, np.nan)
    return StaticMetric(
        out,
        str(spec.get("unit", "")),
        kind,
        str(spec.get("device", "")),
        str(spec.get("description", f"column {col!r} of {path.name}")),
    )


def check_store_name(name: Any, where: str, builtin: set[str]) -> str:
    """`name` if it is a safe `family/dataset` that no built-in benchmark uses; else a one-line error.

    The name becomes a path under the data folder (`<data>/stores/<name>.h5`), so it must not
    escape it or replace a built-in benchmark's store (`builtin`: the names nas-harness ships).
    """
    if not isinstance(name, str):
        raise NasHarnessError(f"{where}: name must be a string like mybench/cifar10, got {type(name).__name__}")
    parts = name.split("/")
    if len(parts) != 2 or not all(_NAME_PART.fullmatch(p) for p in parts) or len(name) > 120:
        raise NasHarnessError(f"{where}: name {name!r} must be FAMILY/DATASET (e.g. mybench/cifar10): two parts of "
                              "letters, "
                              "digits, '.', '_' and '-', each starting with a letter or digit (no absolute path, '..' "
                              "or backslash)")
    if parts[0].lower() in _RESERVED_FAMILIES:
        raise NasHarnessError(f"{where}: name {name!r} is in the family {parts[0]!r}, reserved for fitted surrogates; "
                              "choose another family")
    clash = {n.lower(): n for n in builtin}.get(name.lower())
    if clash is not None:
        raise NasHarnessError(f"{where}: name {name!r} is the built-in benchmark {clash!r}; choose another name (e.g. "
                              f"mine/{parts[1]})")
    return name


def table_store_name(path: Path, kit: SpaceKit) -> str:
    """The store name a table converts to (sidecar `name`, else `table/<stem>`), without reading it.

    A sidecar name is checked (`check_store_name`); the default's stem has characters outside
    letters, digits, '.', '_' and '-' replaced by '_'.
    """
    path = Path(path)
    meta, meta_path = read_sidecar(path)
    return _store_name(path, meta, meta_path, kit.builtin_names())


def _store_name(path: Path, meta: dict[str, Any], meta_path: Path | None, builtin: set[str]) -> str:
    """`table_store_name` from an already-read sidecar (convert_table reads it once)."""
    if "name" in meta:
        return check_store_name(meta["name"], str(meta_path), builtin)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", _stem(path)).lstrip("._-") or "unnamed"
    return check_store_name(f"table/{stem}", str(path), builtin)


def _read_source(path: Path, meta: dict[str, Any], structured: dict[str, Any] | None,
                 declared: set[str]) -> tuple[pd.DataFrame, list[str] | None, dict[str, dict[str, str]]]:
    """The table as a long frame, plus for JSON each row's key (for messages) and its static fields."""
    position_columns: tuple[str, ...] = tuple(structured.get("columns", ())) if structured else ()
    if not is_json(path):
        return read_table(path, text_columns=("arch", "arch_id") + position_columns), None, {}
    if position_columns:
        raise NasHarnessError(f"{path}: space.columns does not apply to a JSON table (its keys are the architectures); "
                              "drop columns from the sidecar's space")
    key_column = "arch" if structured is not None or "search_space" in meta else "arch_id"
    table = read_json_table(path, key_column, declared)
    return table.frame, table.keys, table.static


def _warn_roles(path: Path, meta_path: Path | None, roles: dict[str, str], metrics: dict[str, MetricArray]) -> None:
    """Say at convert time what a run would only say later: no metric to search on, or a test metric searched on."""
    sidecar = meta_path or path.with_name(path.name + ".meta.json")
    valid, test = roles["valid_metric"], roles["test_metric"]
    if not valid:
        example = test or next(iter(metrics))
        log.warning("%s has no validation metric (no metric called valid_acc, no sidecar valid_metric), so "
                    "`nas-harness run` cannot search on it: set \"valid_metric\" in %s to the metric to search on "
                    "(e.g. \"valid_metric\": \"%s\"); metrics: %s. Searching on a test metric works but the report's "
                    "checklist flags it as selection on the test metric", path, sidecar, example, ", ".join(metrics))
    elif valid == test or re.search(r"(?:^|[^a-z])(?:val)?test", valid, re.IGNORECASE):
        log.warning("%s: valid_metric %r is a test metric: runs search on test data and the report's checklist flags "
                    "it as selection on the test metric (report such results as an upper bound)", path, valid)


def convert_table(path: Path, kit: SpaceKit) -> StoreData:
    """Build the store of one table (and its sidecar); see the module docstring for the layout.

    `kit` supplies the search spaces and built-in names (SpaceKit; harness.catalog.local.space_kit).
    """
    path = Path(path)
    if not path.is_file():
        raise NasHarnessError(f"{path} does not exist or is not a file; pass a .csv, .parquet or .json table")
    meta, meta_path = read_sidecar(path)
    name = _store_name(path, meta, meta_path, kit.builtin_names())
    structured = None
    if "space" in meta:
        if "search_space" in meta:
            raise NasHarnessError(f"{meta_path}: give search_space (a built-in space such as nb201) or space (your "
                                  "own positions and choices), not both")
        structured = kit.normalise_spec(meta["space"], str(meta_path))
    position_columns: tuple[str, ...] = tuple(structured.get("columns", ())) if structured else ()
    metric_spec: dict[str, Any] = meta.get("metrics") or {}
    declared = set(metric_spec) | {str(meta[r]) for r in _DEFAULT_ROLES if meta.get(r)} | set(_DEFAULT_ROLES.values())
    df, row_keys, json_static = _read_source(path, meta, structured, declared)
    if df.empty:
        raise NasHarnessError(f"{path} has no rows")
    has_arch, has_id = "arch" in df, "arch_id" in df
    if structured is not None:
        if has_id:
            raise NasHarnessError(f"{path}: a table with a declared space names architectures by their positions, not "
                                  "by 'arch_id'; "
                                  "use an 'arch' column like 2-0-5 (or space.columns), or drop space from the sidecar")
        if position_columns and has_arch:
            raise NasHarnessError(f"{path}: space.columns names the position columns, so the table must not also have "
                                  "an 'arch' column")
        if not position_columns and not has_arch:
            raise NasHarnessError(f"{path}: a table with a declared space needs an 'arch' column (positions joined by "
                                  "'-', e.g. 2-0-5) "
                                  "or space.columns naming one column per position")
        rows = _structured_rows(path, df, name, structured, kit, row_keys)
    elif has_arch == has_id:
        problem = "both 'arch' and 'arch_id'" if has_arch else "neither an 'arch' nor an 'arch_id' column"
        raise NasHarnessError(f"{path} has {problem}; give exactly one (arch = strings of a search space, arch_id = "
                              "plain ids)")
    else:
        space_name = str(meta.get("search_space", "nb201" if has_arch else f"ids:{name}"))
        if has_arch:
            if space_name.startswith(("ids:", "structured:")):
                raise NasHarnessError(f"{path}: search_space {space_name!r} is not a built-in space; name one (e.g. "
                                      "nb201) or declare your own with \"space\"")
            rows = _arch_rows(path, df["arch"], space_name, kit, row_keys)
        else:
            if not space_name.startswith("ids:"):
                raise NasHarnessError(f"{path}: an arch_id table has no search space object; drop search_space "
                                      f"{space_name!r} or use an arch column of that space")
            rows = _id_rows(path, df["arch_id"], space_name[len("ids:"):])
    reserved = set(RESERVED) | set(position_columns)
    seeds, seed_pos = _axis(path, df, "seed", 0.0, integer=True)
    fidelities, fid_pos = _axis(path, df, "fidelity", float(meta.get("fidelity", 1.0)), integer=False)

    n, s, f = len(rows.arch_strings), seeds.size, fidelities.size
    flat = (rows.row_of * s + seed_pos) * f + fid_pos
    order = np.argsort(flat, kind="stable")
    dup = np.flatnonzero(np.diff(flat[order]) == 0)
    if dup.size:
        a, b = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise NasHarnessError(f"{path}: {_line(path, a, row_keys)} and {_line(path, b, row_keys)} give the same "
                              "architecture, seed and fidelity; keep one row per combination")

    static_spec: dict[str, Any] = meta.get("static") or {}
    for col in list(static_spec) + list(metric_spec):
        if col not in df:
            raise NasHarnessError(f"{path}: the sidecar describes column {col!r}, which the table does not have")
    static_spec = {**json_static, **static_spec}
    metrics: dict[str, MetricArray] = {}
    static: dict[str, StaticMetric] = {}
    for col in df.columns:
        if col in reserved:
            continue
        if col in static_spec:
            static[col] = _static(path, df, col, rows, static_spec[col])
            continue
        if not _is_metric(df, col, declared):
            log.warning("%s: ignoring column %r: every cell is text (or boolean) and the sidecar does not declare it "
                        "a metric", path, col)
            continue
        values = np.full(n * s * f, np.nan)
        values[flat] = _numbers(path, df, col)
        spec = metric_spec.get(col, {})
        metrics[col] = MetricArray(
            values.reshape(n, s, f),
            str(spec.get("unit", "")),
            bool(spec.get("higher_is_better", _higher_is_better(col))),
            str(spec.get("description", f"column {col!r} of {path.name}")),
        )
    if not metrics:
        raise NasHarnessError(f"{path} has no numeric metric column besides {', '.join(RESERVED)}")
    roles = {}
    for role, default in _DEFAULT_ROLES.items():
        value = meta.get(role, default if default in metrics else "")
        if value and value not in metrics:
            raise NasHarnessError(f"{meta_path or path}: {role} {value!r} is not a metric column; metrics: "
                                  f"{', '.join(metrics)}")
        roles[role] = value
    _warn_roles(path, meta_path, roles, metrics)
    sources = [{"name": path.name, "sha256": sha256_file(path)}]
    if meta_path is not None:
        sources.append({"name": meta_path.name, "sha256": sha256_file(meta_path)})
    fmt = "generic table (JSON: key -> record)" if row_keys is not None else "generic table (long format)"
    provenance = {"format": fmt, **(meta.get("provenance") or {}), "sources": sources}
    if structured is not None:
        provenance[kit.spec_key] = {"choices": structured["choices"]}
    return StoreData(
        name=name,
        search_space=rows.search_space,
        arch_strings=rows.arch_strings,
        arch_encoding=rows.encoding,
        fidelities=fidelities,
        seeds=seeds.astype(np.int64),
        metrics=metrics,
        static=static,
        arch_ids=rows.arch_ids,
        fidelity_name=str(meta.get("fidelity_name", "epochs" if "fidelity" in df else "fidelity")),
        provenance=provenance,
        **roles,
    )


def convert(path: Path, out: Path, kit: SpaceKit, *, force: bool = False) -> Path:
    """Convert `path` into the store file `out` (atomic; refuses to overwrite unless `force`)."""
    data = convert_table(path, kit)
    return write_store(data, out, force=force)
