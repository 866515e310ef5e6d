"""Bring your own benchmark: a CSV or Parquet table -> one store (`nas-harness convert table FILE`).

The table is in *long format*, one row per architecture x seed x fidelity:

=============  ==================================================================================
column         meaning
=============  ==================================================================================
``arch``       architecture string of a known search space (``search_space`` in the sidecar,
               default ``nb201``); every string is validated and store rows follow the space's
               index, with NaN rows for architectures the table does not list
``arch_id``    instead of ``arch``: plain identifiers (integers or strings) of a table without a
               search space; rows are the sorted ids and the store's space is ``ids:<name>``
``seed``       optional integer seed label (absent: one seed, label 0)
``fidelity``   optional number, e.g. epochs (absent: one fidelity, the sidecar's ``fidelity``, 1)
any other      every numeric column is a metric, dense over (arch, seed, fidelity), NaN where a
               combination has no row; non-numeric columns are ignored (logged)
=============  ==================================================================================

An optional sidecar JSON next to the table, ``<table file name>.meta.json`` (``results.csv.meta.json``)
or ``<stem>.meta.json`` (``results.meta.json``), may give (all keys optional)::

    {"name": "mybench/cifar10",            # store / benchmark name; default "table/<stem>"
     "search_space": "nb201",              # space of the arch column
     "fidelity_name": "epochs", "fidelity": 200,
     "valid_metric": "valid_acc", "test_metric": "test_acc", "cost_metric": "train_time",
     "metrics": {"valid_acc": {"unit": "%", "higher_is_better": true, "description": "..."}},
     "static": {"params": {"unit": "M", "kind": "params", "device": "", "description": "..."}},
     "provenance": {"licence": "CC-BY-4.0", "citation": "...", "url": "..."}}

Defaults without a sidecar: roles are ``valid_acc`` / ``test_acc`` / ``train_time`` when such columns
exist (else empty); a metric is lower-is-better when its name contains loss, err, time, latency,
cost or energy, higher-is-better otherwise. Columns listed under ``static`` are per-architecture
quantities (params, FLOPs, latency): they must not vary between an architecture's rows.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabular.errors import NasHarnessError
from tabular.hashing import sha256_file
from tabular.schema import STATIC_KINDS
from tabular.writer import MetricArray, StaticMetric, StoreData, write_store

log = logging.getLogger(__name__)

RESERVED = ("arch", "arch_id", "seed", "fidelity")
SIDECAR_KEYS = {
    "name", "search_space", "fidelity_name", "fidelity", "valid_metric", "test_metric", "cost_metric",
    "metrics", "static", "provenance",
}
_LOWER_IS_BETTER = ("loss", "err", "time", "latency", "cost", "energy")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _CSV_SUFFIXES + _PARQUET_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def sidecar_path(table: Path) -> Path | None:
    """The sidecar of `table`, if one exists (full-name form first)."""
    for candidate in (table.with_name(table.name + ".meta.json"), table.with_name(_stem(table) + ".meta.json")):
        if candidate.is_file():
            return candidate
    return None


def read_sidecar(table: Path) -> tuple[dict[str, Any], Path | None]:
    path = sidecar_path(table)
    if path is None:
        return {}, None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise NasHarnessError(f"{path} is not valid JSON ({exc}); fix the sidecar or remove it") from None
    if not isinstance(meta, dict):
        raise NasHarnessError(f"{path} must hold a JSON object, found {type(meta).__name__}")
    unknown = sorted(set(meta) - SIDECAR_KEYS)
    if unknown:
        raise NasHarnessError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(SIDECAR_KEYS)}")
    return meta, path


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet table; one-line error for an unreadable or unsupported file."""
    lower = path.name.lower()
    try:
        if lower.endswith(_CSV_SUFFIXES):
            return pd.read_csv(path)
        if lower.endswith(_PARQUET_SUFFIXES):
            return pd.read_parquet(path)
    except Exception as exc:  # pandas/pyarrow raise many types for a damaged file
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise NasHarnessError(f"{path} could not be read as a table ({type(exc).__name__}: {reason}); it is truncated or corrupt") from None
    raise NasHarnessError(f"{path}: unsupported table type; use .csv (optionally compressed) or .parquet")


@dataclass
class _Rows:
    """The store's architecture axis and each table row's position on it."""

    search_space: str
    arch_strings: list[str]
    encoding: np.ndarray
    arch_ids: np.ndarray | None
    row_of: np.ndarray  # per table row


def _line(path: Path, row: int) -> str:
    """Human position of a 0-based data row (CSV files also get their line number)."""
    return f"row {row} (line {row + 2})" if path.name.lower().endswith(_CSV_SUFFIXES) else f"row {row}"


def _arch_rows(path: Path, column: pd.Series, space_name: str) -> _Rows:
    from harness.spaces import get_space
    from harness.spaces.base import ArchitectureError

    space = get_space(space_name)
    if column.isna().any():
        raise NasHarnessError(f"{path}: {_line(path, int(np.flatnonzero(column.isna().to_numpy())[0]))} has an empty arch")
    codes, uniques = pd.factorize(column.astype(str), sort=False)
    index_of_unique = np.empty(len(uniques), dtype=np.int64)
    for u, arch in enumerate(uniques):
        try:
            index_of_unique[u] = space.index_of(arch)
        except ArchitectureError as exc:
            row = int(np.flatnonzero(codes == u)[0])
            raise NasHarnessError(f"{path}: {_line(path, row)}: {exc}") from None
    clash = pd.Series(uniques).groupby(index_of_unique).size()
    if (clash > 1).any():
        index = int(clash.index[np.argmax(clash.to_numpy() > 1)])
        spellings = [u for u, i in zip(uniques, index_of_unique, strict=True) if i == index]
        raise NasHarnessError(f"{path}: {spellings} name the same architecture (index {index}); spell each architecture one way")
    strings = [space.arch_at(i) for i in range(space.size)]
    kind = "index" if "index" in space.encodings else space.encodings[0]
    return _Rows(space_name, strings, space.encode(strings, kind), None, index_of_unique[codes])


def _id_rows(path: Path, column: pd.Series, name: str) -> _Rows:
    if column.isna().any():
        raise NasHarnessError(f"{path}: {_line(path, int(np.flatnonzero(column.isna().to_numpy())[0]))} has an empty arch_id")
    codes, uniques = pd.factorize(column, sort=True)
    values = np.asarray(uniques)
    if values.dtype.kind in "iu":
        ids = values.astype(np.int64)
        return _Rows(f"ids:{name}", [str(v) for v in ids], ids[:, None], ids, codes)
    if values.dtype.kind == "f" and np.all(values == np.round(values)):
        ids = values.astype(np.int64)
        return _Rows(f"ids:{name}", [str(v) for v in ids], ids[:, None], ids, codes)
    strings = [str(v) for v in values]
    return _Rows(f"ids:{name}", strings, np.arange(len(strings))[:, None], None, codes)


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


def _static(path: Path, df: pd.DataFrame, col: str, rows: _Rows, spec: dict[str, Any]) -> StaticMetric:
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    n = len(rows.arch_strings)
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    finite = np.isfinite(values)
    np.minimum.at(lo, rows.row_of[finite], values[finite])
    np.maximum.at(hi, rows.row_of[finite], values[finite])
    varying = np.flatnonzero(np.isfinite(lo) & (lo != hi))
    if varying.size:
        raise NasHarnessError(f"{path}: static column {col!r} varies between the rows of architecture {rows.arch_strings[varying[0]]!r}; a static quantity has one value per architecture")
    kind = spec.get("kind", "other")
    if kind not in STATIC_KINDS:
        raise NasHarnessError(f"{path}: static {col!r} has kind {kind!r}; use one of {', '.join(STATIC_KINDS)}")
    out = np.where(np.isfinite(lo), lo, np.nan)
    return StaticMetric(out, str(spec.get("unit", "")), kind, str(spec.get("device", "")), str(spec.get("description", f"column {col!r} of {path.name}")))


def table_store_name(path: Path) -> str:
    """The store name a table converts to (sidecar `name`, else `table/<stem>`), without reading it."""
    meta, _ = read_sidecar(Path(path))
    return str(meta.get("name") or f"table/{_stem(Path(path))}")


def convert_table(path: Path) -> StoreData:
    """Build the store of one table (and its sidecar); see the module docstring for the layout."""
    path = Path(path)
    if not path.is_file():
        raise NasHarnessError(f"{path} does not exist or is not a file; pass a .csv or .parquet table")
    meta, meta_path = read_sidecar(path)
    df = read_table(path)
    if df.empty:
        raise NasHarnessError(f"{path} has no rows")
    name = table_store_name(path)
    has_arch, has_id = "arch" in df, "arch_id" in df
    if has_arch == has_id:
        problem = "both 'arch' and 'arch_id'" if has_arch else "neither an 'arch' nor an 'arch_id' column"
        raise NasHarnessError(f"{path} has {problem}; give exactly one (arch = strings of a search space, arch_id = plain ids)")
    space_name = str(meta.get("search_space", "nb201" if has_arch else f"ids:{name}"))
    if has_arch:
        if space_name.startswith("ids:"):
            raise NasHarnessError(f"{path}: search_space {space_name!r} is for arch_id tables; name a search space (e.g. nb201) for the arch column")
        rows = _arch_rows(path, df["arch"], space_name)
    else:
        if not space_name.startswith("ids:"):
            raise NasHarnessError(f"{path}: an arch_id table has no search space object; drop search_space {space_name!r} or use an arch column of that space")
        rows = _id_rows(path, df["arch_id"], space_name[len("ids:"):])
    seeds, seed_pos = _axis(path, df, "seed", 0.0, integer=True)
    fidelities, fid_pos = _axis(path, df, "fidelity", float(meta.get("fidelity", 1.0)), integer=False)

    n, s, f = len(rows.arch_strings), seeds.size, fidelities.size
    flat = (rows.row_of * s + seed_pos) * f + fid_pos
    order = np.argsort(flat, kind="stable")
    dup = np.flatnonzero(np.diff(flat[order]) == 0)
    if dup.size:
        a, b = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise NasHarnessError(f"{path}: {_line(path, a)} and {_line(path, b)} give the same architecture, seed and fidelity; keep one row per combination")

    static_spec: dict[str, Any] = meta.get("static") or {}
    metric_spec: dict[str, Any] = meta.get("metrics") or {}
    for col in list(static_spec) + list(metric_spec):
        if col not in df:
            raise NasHarnessError(f"{path}: the sidecar describes column {col!r}, which the table does not have")
    metrics: dict[str, MetricArray] = {}
    static: dict[str, StaticMetric] = {}
    for col in df.columns:
        if col in RESERVED:
            continue
        if col in static_spec:
            static[col] = _static(path, df, col, rows, static_spec[col])
            continue
        if not (pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])):
            if col in metric_spec:
                raise NasHarnessError(f"{path}: metric column {col!r} is not numeric")
            log.info("%s: ignoring non-numeric column %r", path, col)
            continue
        values = np.full(n * s * f, np.nan)
        values[flat] = df[col].to_numpy(dtype=np.float64)
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
    for role, default in (("valid_metric", "valid_acc"), ("test_metric", "test_acc"), ("cost_metric", "train_time")):
        value = meta.get(role, default if default in metrics else "")
        if value and value not in metrics:
            raise NasHarnessError(f"{meta_path or path}: {role} {value!r} is not a metric column; metrics: {', '.join(metrics)}")
        roles[role] = value
    sources = [{"name": path.name, "sha256": sha256_file(path)}]
    if meta_path is not None:
        sources.append({"name": meta_path.name, "sha256": sha256_file(meta_path)})
    provenance = {"format": "generic table (long format)", **(meta.get("provenance") or {}), "sources": sources}
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


def convert(path: Path, out: Path, *, force: bool = False) -> Path:
    """Convert `path` into the store file `out` (atomic; refuses to overwrite unless `force`)."""
    data = convert_table(path)
    return write_store(data, out, force=force)
