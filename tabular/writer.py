"""Write a benchmark store (docs/FORMAT.md) atomically.

Converters build a `StoreData` in memory and hand it to `write_store`. The file is written under a
temporary name in the destination folder and renamed into place only when complete, so an
interrupted conversion leaves nothing that could be mistaken for a store. The provenance records a
sha256 of the arrays (tabular.schema.data_checksum), which `open_store` verifies, so values changed
after writing (bit rot, a hand edit) are refused instead of silently answering queries.
"""
from __future__ import annotations

import errno
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tabular.atomic import atomic_path
from tabular.errors import StoreError
from tabular.schema import ARCH_DATASETS, CHECKSUM_KEY, FORMAT_NAME, FORMAT_VERSION, data_checksum, validate_store_data


@dataclass
class MetricArray:
    """One per-evaluation metric, dense over (architecture, seed, fidelity); NaN = not measured."""

    values: np.ndarray
    unit: str
    higher_is_better: bool
    description: str = ""


@dataclass
class StaticMetric:
    """One per-architecture quantity that does not depend on seed or fidelity (params, latency)."""

    values: np.ndarray
    unit: str
    kind: str  # "params", "flops", "latency", "energy", "size", "other"
    device: str = ""
    description: str = ""


@dataclass
class StoreData:
    """Everything a store holds, in memory. Field meanings are those of docs/FORMAT.md."""

    name: str
    search_space: str
    arch_strings: list[str]
    arch_encoding: np.ndarray
    fidelities: np.ndarray
    seeds: np.ndarray
    metrics: dict[str, MetricArray]
    static: dict[str, StaticMetric] = field(default_factory=dict)
    arch_ids: np.ndarray | None = None
    fidelity_name: str = "epochs"
    valid_metric: str = "valid_acc"
    test_metric: str = "test_acc"
    cost_metric: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)


def _arrays(data: StoreData) -> dict[str, np.ndarray]:
    """Every dataset of the store, keyed by its path, with the dtype it is stored in."""
    n = len(data.arch_strings)
    arrays = {
        "archs/str": np.array([s.encode("utf-8") for s in data.arch_strings]),
        "archs/encoding": np.asarray(data.arch_encoding, dtype=np.int64),
        "archs/id": np.arange(n, dtype=np.int64)
        if data.arch_ids is None
        else np.asarray(data.arch_ids, dtype=np.int64),
        "fidelities": np.asarray(data.fidelities, dtype=np.float64),
        "seeds": np.asarray(data.seeds, dtype=np.int64),
    }
    for name, metric in data.metrics.items():
        arrays[f"metrics/{name}"] = np.asarray(metric.values, dtype=np.float64)
    for name, static in data.static.items():
        arrays[f"static/{name}"] = np.asarray(static.values, dtype=np.float64)
    return arrays


def _write(handle: h5py.File, data: StoreData) -> None:
    arrays = _arrays(data)
    handle.attrs["format"] = FORMAT_NAME
    handle.attrs["format_version"] = FORMAT_VERSION
    handle.attrs["name"] = data.name
    handle.attrs["search_space"] = data.search_space
    handle.attrs["n_archs"] = len(data.arch_strings)
    handle.attrs["fidelity_name"] = data.fidelity_name
    handle.attrs["valid_metric"] = data.valid_metric
    handle.attrs["test_metric"] = data.test_metric
    handle.attrs["cost_metric"] = data.cost_metric
    # The caller's provenance plus the data checksum that open_store verifies (data.provenance is not changed).
    handle.attrs["provenance"] = json.dumps({**data.provenance, CHECKSUM_KEY: data_checksum(arrays)}, sort_keys=True)

    handle.create_group("archs")
    for name in ARCH_DATASETS:
        handle.create_dataset(name, data=arrays[name])

    metrics = handle.create_group("metrics")
    for name, metric in data.metrics.items():
        ds = metrics.create_dataset(name, data=arrays[f"metrics/{name}"])
        ds.attrs["unit"] = metric.unit
        ds.attrs["higher_is_better"] = bool(metric.higher_is_better)
        ds.attrs["description"] = metric.description

    static = handle.create_group("static")
    for name, metric in data.static.items():
        ds = static.create_dataset(name, data=arrays[f"static/{name}"])
        ds.attrs["unit"] = metric.unit
        ds.attrs["kind"] = metric.kind
        ds.attrs["device"] = metric.device
        ds.attrs["description"] = metric.description


_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", 122))  # disk full, quota exceeded


def _disk_full(exc: BaseException) -> bool:
    """Whether a write failed for want of space: OSError errno 28/122, or HDF5's RuntimeError/OSError
    whose text carries the C library's `errno = 28` (h5py does not set `.errno` for those)."""
    if getattr(exc, "errno", None) in _FULL:
        return True
    text = str(exc)
    return (any(f"errno = {code}" in text for code in _FULL)
            or "No space left on device" in text or "Disk quota exceeded" in text)


def write_store(data: StoreData, path: str | Path, *, force: bool = False) -> Path:
    """Validate `data` and write it to `path` atomically; refuse to replace a file unless `force`.

    Without `force` the check is race-free: the complete file is published only if `path` still
    does not exist (tabular.atomic), so of two processes writing one new store, one reports that
    another process wrote it meanwhile. A full disk (or quota) is one StoreError naming the folder;
    the temporary file is removed.
    """
    path = Path(path)
    validate_store_data(data)
    if path.exists() and not force:
        raise StoreError(f"{path} already exists; pass --force (force=True) to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path, replace=force) as tmp:
            # Contiguous, unfiltered datasets: the reader memory-maps them instead of copying.
            with h5py.File(tmp, "w", libver="latest") as handle:
                _write(handle, data)
    except FileExistsError:
        raise StoreError(f"{path} already exists: another process wrote it while this one was converting; "
                         "nothing was overwritten (pass --force (force=True) to overwrite it)") from None
    except (OSError, RuntimeError) as exc:
        if _disk_full(exc):
            raise StoreError(f"the disk is full: no space left in {path.parent} to write {path.name}; "
                             "free some space there or write elsewhere (--out)") from None
        raise
    return path
