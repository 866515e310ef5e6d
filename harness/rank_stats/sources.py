"""Metric sources for `rank-stats`: vectors aligned by architecture index, from stores and tables.

Why: rank statistics compare two metrics architecture by architecture, so every source, whatever
its file, must become one vector over the same rows (the row of the space's stores), with NaN where
it has no value. Origins (see `harness.rank_stats.spec` for the grammar):

- `BENCHMARK:METRIC` or `STORE.h5:METRIC`: the seed mean of a metric, or a static metric;
- `TABLE.csv:COLUMN` (also .parquet, and pandas pickles .pd/.pkl/.pickle of plain frames, read by
  `tabular.safe_pickle`): rows matched by an index column, an architecture column or row order;
- `ZC.json:DATASET/PROXY`: NAS-Bench-Suite-Zero zero-cost proxy files (NB201 only).

Stores that list different architecture ids are aligned by id (`align_by_id`), never silently by row.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.rank_stats.spec import Spec, is_table, parse_specs
from tabular.errors import NasHarnessError
from tabular.protocol import Store
from tabular.safe_pickle import load_dataframe

log = logging.getLogger(__name__)

INDEX_COLUMNS = ("nb201_index", "arch_index", "index")
ARCH_COLUMNS = ("arch_str", "ArchitectureString", "cellstr", "arch")
STORE_SUFFIXES = (".h5", ".hdf5")


@dataclass
class Source:
    """One metric over every architecture of a space (NaN where the source has no value)."""

    label: str
    values: np.ndarray
    higher_is_better: bool = True
    space: str | None = None
    # A store's architecture ids (its arch strings, in row order) and its name: sources that carry
    # ids are aligned by id, never silently by row (see `align_by_id`).
    keys: np.ndarray | None = None
    origin: str = ""


def _space(name: str):
    from harness.spaces import get_space

    return get_space(name)


def _direction(spec: Spec, native: bool) -> bool:
    return native if spec.direction is None else spec.direction == "max"


def _store_sources(spec: Spec, cache: dict[str, Store]) -> list[Source]:
    """The metrics of a benchmark or store file that `spec.column` names (wildcards allowed)."""
    from tabular.store import open_store

    if spec.origin not in cache:
        path = Path(spec.origin).expanduser()
        if path.suffix in STORE_SUFFIXES and path.is_file():
            cache[spec.origin] = open_store(path)
        else:
            from harness.benchmarks import load_benchmark

            cache[spec.origin] = load_benchmark(spec.origin).store
    store = cache[spec.origin]
    names = store.metric_names + store.static_names
    chosen = [n for n in names if fnmatch.fnmatchcase(n, spec.column)]
    if not chosen:
        raise NasHarnessError(f"benchmark {spec.origin!r} has no metric {spec.column!r}; available: {', '.join(names)}")
    out = []
    for name in chosen:
        if name in store.metric_names:
            values = np.array(store.seed_mean(name, spec.fidelity), dtype=np.float64)
            native = store.higher_is_better(name)
            fid = store.fidelities[store.fidelity_index(spec.fidelity)]
            label = f"{spec.origin}:{name}" + (f"@{fid:g}" if spec.fidelity is not None else "")
        else:
            if spec.fidelity is not None:
                raise NasHarnessError(f"{name!r} of {spec.origin!r} is a static metric; it has no fidelity")
            values = np.array(store.static(name), dtype=np.float64)
            # As a *predictor* a static metric ranks high values first unless the store says otherwise.
            native = bool(store.metric_attrs(name).get("higher_is_better", True))
            label = f"{spec.origin}:{name}"
        out.append(Source(label, values, _direction(spec, native), store.search_space, _keys(store), spec.origin))
    return out


def _keys(store: Store) -> np.ndarray | None:
    """A store's architecture strings in row order (None for a row-less surrogate benchmark)."""
    keys = store.row_archs()
    return None if keys is None else np.asarray(keys, dtype=str)


def _id_comparable(spaces: set[str | None]) -> bool:
    """Whether architecture ids mean the same thing in all these spaces: one space, or all user
    tables of plain ids (`ids:*`), or all declared structured spaces (`structured:*`, whose ids are
    the positions' choices)."""
    if len(spaces) == 1:
        return True
    names = [s or "" for s in spaces]
    return all(n.startswith("ids:") for n in names) or all(n.startswith("structured:") for n in names)


def align_by_id(sources: list[Source]) -> bool:
    """Re-index the sources onto shared architecture ids when stores list different ids; True if done.

    Stores whose rows list the same ids in the same order stay aligned by row (False). Stores that
    list different ids are aligned by id, outer join in first-seen order with NaN where a store
    lacks an id, if every source is such a store and their spaces share ids (`_id_comparable`).
    Otherwise (a table or JSON source aligned by row order or by a space's index is in the mix, or
    the spaces differ) aligning by row would pair different architectures: a one-line error names
    both stores and the first differing id.
    """
    keyed = [s for s in sources if s.keys is not None]
    if not keyed:
        return False
    first = keyed[0]
    other = next((s for s in keyed if not np.array_equal(s.keys, first.keys)), None)  # type: ignore[arg-type]
    if other is None:
        return False
    a, b = first.keys, other.keys
    assert a is not None and b is not None
    common = min(a.size, b.size)
    diff = np.flatnonzero(a[:common] != b[:common])
    row = int(diff[0]) if diff.size else common
    where = (
        f"row {row} is id {str(a[row])!r} in {first.origin} but {str(b[row])!r} in {other.origin}"
        if row < common
        else f"{first.origin} has {a.size} rows and {other.origin} {b.size}"
    )
    unkeyed = [s.label for s in sources if s.keys is None]
    spaces = {s.space for s in sources}
    if unkeyed or not _id_comparable(spaces):
        reason = (
            f"{unkeyed[0]} is aligned by row or by its space's index"
            if unkeyed
            else f"their spaces ({', '.join(sorted(str(s) for s in spaces))}) do not share ids"
        )
        raise NasHarnessError(
            f"{first.origin} and {other.origin} list different architecture ids ({where}) and {reason}; "
            "refusing to align them by row: compare stores of one space, or tables keyed by the same ids"
        )
    union = list(dict.fromkeys(k for s in keyed for k in s.keys.tolist()))  # type: ignore[union-attr]
    position = {k: i for i, k in enumerate(union)}
    keys = np.asarray(union, dtype=str)
    for s in sources:
        values = np.full(len(union), np.nan)
        values[[position[k] for k in s.keys.tolist()]] = s.values  # type: ignore[union-attr]
        s.values, s.keys = values, keys
    log.info(
        "%s and %s list different architecture ids (%s); aligned by id over %d ids",
        first.origin,
        other.origin,
        where,
        len(union),
    )
    return True


def _read_frame(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path)
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:  # a pandas pickle: only the classes of a plain frame are unpickled, never code
            frame = load_dataframe(path)
    except NasHarnessError:
        raise
    except Exception as exc:  # pandas raises many types for unreadable files
        raise NasHarnessError(f"cannot read table {path} ({type(exc).__name__}: {exc})") from None
    if not isinstance(frame, pd.DataFrame):
        raise NasHarnessError(f"{path} holds a {type(frame).__name__}, not a pandas DataFrame")
    return frame


def _key_columns(frame: pd.DataFrame, path: Path, key: str | None) -> tuple[str | None, str | None]:
    """(integer index column, architecture-string column) of a table; `key` overrides the search."""
    is_int = pd.api.types.is_integer_dtype
    is_text = pd.api.types.is_string_dtype
    if key is not None:
        if key not in frame.columns:
            raise NasHarnessError(
                f"{path} has no column {key!r} to use as key; columns: {', '.join(map(str, frame.columns))}"
            )
        if is_int(frame[key]):
            return key, None
        if is_text(frame[key]):
            return None, key
        raise NasHarnessError(f"key column {key!r} of {path} holds neither integer indices nor architecture strings")
    index_col = next((c for c in INDEX_COLUMNS if c in frame.columns and is_int(frame[c])), None)
    arch_col = next((c for c in ARCH_COLUMNS if c in frame.columns and is_text(frame[c])), None)
    return index_col, arch_col


def _table_rows(frame: pd.DataFrame, path: Path, key: str | None, space_name: str) -> np.ndarray:
    """Architecture index of every table row, from an index column, an architecture column, or the row order.

    When a table has both an index and an architecture column they must agree: a table whose rows
    were reordered or re-indexed is caught here instead of silently mis-aligned.
    """
    space = _space(space_name)
    index_col, arch_col = _key_columns(frame, path, key)
    from_strings = None
    if arch_col is not None:
        try:
            from_strings = np.array([space.index_of(str(a)) for a in frame[arch_col]], dtype=np.int64)
        except NasHarnessError as exc:
            raise NasHarnessError(f"{path}, column {arch_col!r}: {exc}") from None
    if index_col is not None:
        rows = frame[index_col].to_numpy(dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= space.size):
            raise NasHarnessError(
                f"{path}, column {index_col!r}: index out of range for space {space_name!r} (0..{space.size - 1})"
            )
        if from_strings is not None and not np.array_equal(rows, from_strings):
            bad = int(np.flatnonzero(rows != from_strings)[0])
            raise NasHarnessError(
                f"{path}: row {bad} has {index_col}={rows[bad]} but its {arch_col} is index {from_strings[bad]}; "
                "the table's key columns disagree"
            )
    elif from_strings is not None:
        rows = from_strings
    elif len(frame) == space.size:
        log.info("%s has no index or architecture column; row i is taken as architecture i", path)
        rows = np.arange(space.size)
    else:
        raise NasHarnessError(
            f"{path} has no index column ({', '.join(INDEX_COLUMNS)}) or architecture column "
            f"({', '.join(ARCH_COLUMNS)}) and {len(frame)} rows, not {space.size}; name its key with :key=COLUMN"
        )
    if np.unique(rows).size != rows.size:
        raise NasHarnessError(f"{path} lists some architectures more than once; aggregate the duplicates first")
    return rows


def _table_sources(spec: Spec, path: Path, space_name: str, frames: dict[Path, pd.DataFrame]) -> list[Source]:
    if path not in frames:
        frames[path] = _read_frame(path)
    frame = frames[path]
    keys = {c for c in _key_columns(frame, path, spec.key) if c is not None}
    chosen = [
        c for c in frame.columns if c == spec.column or (c not in keys and fnmatch.fnmatchcase(str(c), spec.column))
    ]
    if not chosen:
        raise NasHarnessError(f"{path} has no column {spec.column!r}; columns: {', '.join(map(str, frame.columns))}")
    rows = _table_rows(frame, path, spec.key, space_name)
    size = _space(space_name).size
    out = []
    for col in chosen:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            if spec.column == col:
                raise NasHarnessError(f"column {col!r} of {path} is not numeric")
            continue  # a wildcard skips text columns
        values = np.full(size, np.nan)
        values[rows] = frame[col].to_numpy(dtype=np.float64)
        out.append(Source(f"{path.name}:{col}", values, _direction(spec, True), space_name))
    return out


def _zc_sources(spec: Spec, path: Path, space_name: str, docs: dict[Path, Any]) -> list[Source]:
    """NAS-Bench-Suite-Zero zero-cost files: {dataset: {"(op indices)": {proxy: {score, time}, val_accuracy}}}."""
    if path not in docs:
        try:
            docs[path] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise NasHarnessError(f"cannot read JSON {path} ({exc})") from None
    doc = docs[path]
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise NasHarnessError(f"{path} is not a zero-cost proxy file ({{dataset: {{arch: {{proxy: score}}}}}})")
    dataset, sep, fieldpath = spec.column.partition("/")
    if not sep or dataset not in doc:
        raise NasHarnessError(
            f"write {path.name}:DATASET/FIELD with DATASET one of {', '.join(doc)} "
            f"(e.g. {path.name}:{next(iter(doc))}/synflow)"
        )
    entries = doc[dataset]
    if space_name != "nb201":
        raise NasHarnessError(
            "zero-cost files are aligned to NB201 only (keys are NASLib op_indices); "
            f"the comparison uses space {space_name!r}"
        )
    from tabular.converters.analog import nb201_codes

    try:
        tuples = np.array([[int(t) for t in k.strip("()[] ").split(",")] for k in entries], dtype=np.int64)
    except ValueError:
        raise NasHarnessError(
            f"{path}: keys of {dataset!r} are not NASLib op_indices like '(0, 2, 3, 2, 3, 1)'"
        ) from None
    if tuples.ndim != 2 or tuples.shape[1] != 6 or tuples.min() < 0 or tuples.max() > 4:
        raise NasHarnessError(f"{path}: keys of {dataset!r} are not NB201 NASLib op_indices (6 codes 0..4)")
    space = _space("nb201")
    rows = space.indices_of_codes(nb201_codes(tuples))
    name, _, part = fieldpath.partition("/")
    part = part or "score"
    first = next(iter(entries.values()))
    fields = [f for f in first if f not in ("idx", "arch") and fnmatch.fnmatchcase(f, name)]
    if not fields:
        raise NasHarnessError(
            f"{path}: {dataset} has no field {name!r}; "
            f"fields: {', '.join(f for f in first if f not in ('idx', 'arch'))}"
        )
    out = []
    for f in fields:

        def value(entry: dict[str, Any], f: str = f) -> float:
            v = entry.get(f)
            if isinstance(v, dict):
                v = v.get(part)
            return float(v) if isinstance(v, (int, float)) else math.nan

        values = np.full(space.size, np.nan)
        values[rows] = [value(e) for e in entries.values()]
        suffix = "" if part == "score" or not isinstance(first.get(f), dict) else f"/{part}"
        out.append(Source(f"{path.name}:{dataset}/{f}{suffix}", values, _direction(spec, True), "nb201"))
    return out


def resolve_sources(args: list[str], *, space: str | None = None) -> list[Source]:
    """Turn source arguments into aligned metric vectors (wildcards may give several per argument).

    Tables are aligned to `space` (default: the space of the first benchmark named, else nb201).
    """
    specs = parse_specs(args)
    stores: dict[str, Store] = {}
    frames: dict[Path, pd.DataFrame] = {}
    docs: dict[Path, Any] = {}
    try:
        store_specs = [s for s in specs if not is_table(s.origin)]
        out_by_spec: dict[int, list[Source]] = {}
        for i, s in enumerate(specs):
            if s in store_specs:
                out_by_spec[i] = _store_sources(s, stores)
        space_name = (
            space or next((src.space for srcs in out_by_spec.values() for src in srcs if src.space), None) or "nb201"
        )
        for i, s in enumerate(specs):
            if i in out_by_spec:
                continue
            path = Path(s.origin).expanduser()
            if not path.is_file():
                raise NasHarnessError(f"table file {path} does not exist")
            if path.suffix.lower() == ".json":
                out_by_spec[i] = _zc_sources(s, path, space_name, docs)
            else:
                if s.fidelity is not None:
                    raise NasHarnessError(f"fidelity= applies to benchmark metrics, not to the table {path.name}")
                out_by_spec[i] = _table_sources(s, path, space_name, frames)
    finally:
        for store in stores.values():
            store.close()
    sources = [src for i in range(len(specs)) for src in out_by_spec[i]]
    if align_by_id(sources):
        return sources
    spaces = sorted({src.space for src in sources if src.space})
    if len(spaces) > 1:
        raise NasHarnessError(
            f"the sources come from different search spaces ({', '.join(spaces)}); "
            "rows can only be aligned within one space"
        )
    sizes = {src.values.size for src in sources}
    if len(sizes) > 1:
        raise NasHarnessError(
            "the sources cover different search spaces ("
            + ", ".join(f"{s.label}: {s.values.size}" for s in sources)
            + "); they cannot be aligned by index"
        )
    return sources
