"""A run's files, written cheaply but crash-safely: the trajectory parquet and the manifest.

Why not `DataFrame.to_parquet` and `tabular.atomic.atomic_write_bytes`: for a run of milliseconds
they cost more than the run (pandas infers a schema and builds its metadata for every frame, ~2 ms;
`mkstemp` and an fsync per manifest, ~0.6 ms and an fsync storm on a shared file system).

- The trajectory: pyarrow's pandas schema (with pandas' metadata) is built once per column layout
  (names and dtypes) and reused; each column is converted as pandas converts it (`pa.array(series,
  from_pandas=True)`), `df.attrs` is stored as pandas stores it, and the file is written with pandas'
  defaults, so the bytes are exactly those of `df.to_parquet(path, index=False)` (a test checks it).
  Frames with other dtypes (e.g. object columns, whose arrow type depends on their values) go
  through pandas.
- Both files go to a temporary name in the run folder (created exclusively, never through a link;
  the run holds the folder's lock, and leftovers are removed before each attempt) and are renamed
  into place, the manifest last. There is no fsync: a result counts only when the manifest is valid
  JSON and the trajectory matches its sha256 and row count (harness.results.result_problem), so a
  power loss can cost a re-run, never a wrong result.
"""
from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_FAST_KINDS = "biuf"  # numpy dtypes whose arrow type does not depend on the values
_STR = pd.StringDtype(na_value=float("nan"))  # pandas' default string dtype (`str`)


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _publish(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Call `write` on a fresh temporary file next to `path`, then rename it over `path`."""
    tmp = _tmp(path)
    fd = os.open(tmp, _FLAGS, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=32)
def _schema_for(signature: tuple[tuple[str, str], ...]) -> tuple[Any, dict[str, Any]]:
    """pandas' arrow schema for a column layout, and its pandas metadata as data, from an empty frame of
    those dtypes (for numeric and string columns they depend on the dtypes only, and df.attrs)."""
    import pyarrow as pa

    empty = pd.DataFrame({name: pd.Series([], dtype=_dtype(dtype)) for name, dtype in signature})
    schema = pa.Schema.from_pandas(empty, preserve_index=False)
    return schema, json.loads(schema.metadata[b"pandas"])


def _dtype(text: str) -> Any:
    return _STR if text == "str" else text


def _column(df: pd.DataFrame, i: int) -> Any:
    """Column i's values without building a Series (~25 us each, more than converting them)."""
    getter = getattr(df, "_get_column_array", None)
    return getter(i) if getter is not None else df.iloc[:, i].array


def _kind(values: Any) -> str | None:
    """The column's dtype as the schema cache's key, or None when the fast path does not cover it."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype):
        return "str" if dtype == _STR else None
    return dtype.str if getattr(dtype, "kind", "") in _FAST_KINDS else None


def trajectory_table(df: pd.DataFrame) -> Any:
    """The arrow table `df.to_parquet(index=False)` writes, or None when `df` has a dtype the fast path
    does not cover (then pandas writes it)."""
    import pyarrow as pa

    names = list(df.columns)
    if len(set(names)) != len(names) or not all(isinstance(c, str) for c in names):
        return None
    columns = [_column(df, i) for i in range(len(names))]
    kinds = [_kind(values) for values in columns]
    if None in kinds:
        return None
    schema, pandas_meta = _schema_for(tuple(zip(names, kinds, strict=True)))  # type: ignore[arg-type]
    arrays = [pa.array(values, type=field.type, from_pandas=True) for values, field in zip(columns, schema,
                                                                                             strict=True)]
    metadata = dict(schema.metadata)
    if "attributes" in pandas_meta:  # pyarrow >= 19 stores df.attrs in pandas' metadata too
        metadata[b"pandas"] = json.dumps({**pandas_meta, "attributes": df.attrs}).encode("utf8")
    if df.attrs:  # as pandas' to_parquet stores them
        metadata["PANDAS_ATTRS"] = json.dumps(df.attrs)
    return pa.Table.from_arrays(arrays, schema=schema.with_metadata(metadata))


def trajectory_bytes(df: pd.DataFrame) -> Any:
    """The bytes of `df.to_parquet(index=False)`, built in memory (pyarrow writing straight to a file makes
    many small writes: ~0.7 ms more for a short trajectory)."""
    table = trajectory_table(df)
    if table is None:
        import io

        buffer = io.BytesIO()
        df.to_parquet(buffer, index=False)
        return buffer.getvalue()
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


def write_trajectory(path: Path, df: pd.DataFrame) -> None:
    """Write a run's trajectory as `df.to_parquet(path, index=False)` would, atomically, without its per-frame cost."""
    data = trajectory_bytes(df)
    _publish(path, lambda handle: handle.write(data))


@functools.lru_cache(maxsize=64)
def _indented(compact: str) -> str:
    """A JSON value as json.dumps(indent=2) nests it one level deep (the provenance and versions repeat)."""
    return json.dumps(json.loads(compact), indent=2, sort_keys=True).replace("\n", "\n  ")


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Exactly `json.dumps(manifest, indent=2, sort_keys=True, default=str)`, faster: Python's indenting
    encoder is pure Python, so each nested value is encoded compactly (in C), and its indented form is
    cached (a grid's manifests share the benchmark's provenance and the library versions)."""
    parts = []
    for key in sorted(manifest):
        value = manifest[key]
        if isinstance(value, (dict, list)) and value:
            text = _indented(json.dumps(value, sort_keys=True, default=str))
        else:
            text = json.dumps(value, default=str)
        parts.append(f"  {json.dumps(key)}: {text}")
    return ("{\n" + ",\n".join(parts) + "\n}").encode() if parts else b"{}"


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write a run's manifest (the file that makes a result count, so always last), atomically."""
    data = manifest_bytes(manifest)
    _publish(path, lambda handle: handle.write(data))
