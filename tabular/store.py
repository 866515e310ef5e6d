"""Read a benchmark store: lazy, memory-mapped, vectorised queries.

Opening reads only attributes and shapes. Metric arrays are memory-mapped on first use (the writer
stores them contiguous and unfiltered), so a 400k-architecture table opens in milliseconds and the
OS page cache, not Python, holds the data. Queries take many architecture indices at once.
"""
from __future__ import annotations

import json
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from tabular.errors import StoreError
from tabular.hashing import sha256_file
from tabular.schema import validate_store_file

SeedPolicy = Literal["fixed", "mean", "sample"]
SEED_POLICIES = ("fixed", "mean", "sample")
MEAN_SEED = -1  # seed label reported for values that are a mean over seeds


def _read_array(path: Path, ds: h5py.Dataset) -> np.ndarray:
    """Memory-map a contiguous unfiltered dataset; fall back to reading it (chunked/compressed files)."""
    offset = ds.id.get_offset()
    if offset is None or ds.chunks is not None or ds.compression is not None or ds.size == 0:
        return ds[()]
    return np.memmap(path, dtype=ds.dtype, mode="r", offset=offset, shape=ds.shape)


class BenchmarkStore:
    """A read-only view of one store file; cheap to open, safe to share between strategies' runs."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError(f"store file {self.path} does not exist; create it with `nas-harness convert` or `nas-harness benchmarks`")
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise StoreError(f"{self.path} is not a readable HDF5 store ({exc.__class__.__name__}: truncated or corrupt); delete it and convert again") from None
        try:
            validate_store_file(self._h5, str(self.path))
        except StoreError:
            self._h5.close()
            raise
        attrs = self._h5.attrs
        self.name: str = str(attrs["name"])
        self.search_space: str = str(attrs["search_space"])
        self.n_archs: int = int(attrs["n_archs"])
        self.fidelity_name: str = str(attrs["fidelity_name"])
        self.valid_metric: str = str(attrs["valid_metric"])
        self.test_metric: str = str(attrs["test_metric"])
        self.cost_metric: str = str(attrs["cost_metric"])
        self.format_version: int = int(attrs["format_version"])
        self.fidelities: np.ndarray = self._h5["fidelities"][()]
        self.seeds: np.ndarray = self._h5["seeds"][()]
        self.metric_names: list[str] = sorted(self._h5["metrics"].keys())
        self.static_names: list[str] = sorted(self._h5["static"].keys())
        self._arrays: dict[str, np.ndarray] = {}
        self._attrs: dict[str, dict[str, Any]] = {}
        self._seed_mean: dict[tuple[str, int], np.ndarray] = {}
        self._sampling: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        self._arrays.clear()
        self._h5.close()

    def __enter__(self) -> BenchmarkStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BenchmarkStore({self.name!r}, n_archs={self.n_archs}, metrics={self.metric_names})"

    # -- metadata ------------------------------------------------------------------------------
    @cached_property
    def provenance(self) -> dict[str, Any]:
        return json.loads(self._h5.attrs["provenance"])

    @cached_property
    def sha256(self) -> str:
        """Hash of the store file itself: what a result's manifest records as the data version."""
        return sha256_file(self.path)

    @cached_property
    def arch_strings(self) -> np.ndarray:
        """Architecture strings in row order (a numpy array of str, decoded once on first use)."""
        return np.char.decode(_read_array(self.path, self._h5["archs/str"]), "utf-8")

    @cached_property
    def arch_encoding(self) -> np.ndarray:
        return np.asarray(_read_array(self.path, self._h5["archs/encoding"]))

    @cached_property
    def arch_ids(self) -> np.ndarray:
        return np.asarray(_read_array(self.path, self._h5["archs/id"]))

    @cached_property
    def _row_of(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.arch_strings.tolist())}

    def row_of(self, arch: str) -> int:
        """Row of an architecture string exactly as stored (callers canonicalise first)."""
        try:
            return self._row_of[arch]
        except KeyError:
            raise StoreError(f"architecture {arch!r} is not in store {self.name!r}") from None

    def metric_attrs(self, name: str) -> dict[str, Any]:
        if name not in self._attrs:
            group = "metrics" if name in self.metric_names else "static"
            self._check_metric(name, allow_static=True)
            self._attrs[name] = {k: (v.item() if hasattr(v, "item") else v) for k, v in self._h5[group][name].attrs.items()}
        return dict(self._attrs[name])

    def higher_is_better(self, metric: str) -> bool:
        return bool(self.metric_attrs(metric).get("higher_is_better", True))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "search_space": self.search_space,
            "n_archs": self.n_archs,
            "metrics": self.metric_names,
            "static": self.static_names,
            "fidelities": self.fidelities.tolist(),
            "seeds": self.seeds.tolist(),
        }

    # -- raw arrays ----------------------------------------------------------------------------
    def _check_metric(self, name: str, *, allow_static: bool = False) -> None:
        known = self.metric_names + (self.static_names if allow_static else [])
        if name not in known:
            raise StoreError(f"store {self.name!r} has no metric {name!r}; available: {', '.join(known)}")

    def metric_array(self, name: str) -> np.ndarray:
        """The dense (architecture, seed, fidelity) array of a metric, memory-mapped."""
        self._check_metric(name)
        if name not in self._arrays:
            self._arrays[name] = _read_array(self.path, self._h5["metrics"][name])
        return self._arrays[name]

    def static(self, name: str, archs: Any = None) -> np.ndarray:
        """A static per-architecture metric (parameters, FLOPs, latency on a device), optionally indexed."""
        if name not in self.static_names:
            raise StoreError(f"store {self.name!r} has no static metric {name!r}; available: {', '.join(self.static_names) or 'none'}")
        key = "static/" + name
        if key not in self._arrays:
            self._arrays[key] = _read_array(self.path, self._h5["static"][name])
        values = self._arrays[key]
        return values if archs is None else values[self._rows(archs)]

    @cached_property
    def _fidelity_pos(self) -> dict[float, int]:
        return {float(f): i for i, f in enumerate(self.fidelities.tolist())}

    @cached_property
    def _seed_pos(self) -> dict[int, int]:
        return {int(s): i for i, s in enumerate(self.seeds.tolist())}

    def fidelity_index(self, fidelity: float | None) -> int:
        if fidelity is None:
            return len(self.fidelities) - 1
        try:
            return self._fidelity_pos[float(fidelity)]
        except (KeyError, TypeError, ValueError):
            raise StoreError(
                f"store {self.name!r} has no {self.fidelity_name} {fidelity}; available: {self.fidelities.tolist()}"
            ) from None

    def seed_index(self, seed: int) -> int:
        try:
            return self._seed_pos[int(seed)]
        except (KeyError, TypeError, ValueError):
            raise StoreError(f"store {self.name!r} has no seed {seed}; available seeds: {self.seeds.tolist()}") from None

    def _rows(self, archs: Any) -> np.ndarray:
        rows = np.asarray(archs)
        if rows.dtype.kind not in "iu":
            raise StoreError(f"architecture indices must be integers, got dtype {rows.dtype}")
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_archs):
            raise StoreError(f"architecture index out of range [0, {self.n_archs}) in store {self.name!r}")
        return rows

    def seed_mean(self, metric: str, fidelity: float | None = None) -> np.ndarray:
        """Mean over measured seeds for every architecture at one fidelity (NaN where none measured)."""
        key = (metric, self.fidelity_index(fidelity))
        if key not in self._seed_mean:
            column = np.asarray(self.metric_array(metric)[:, :, key[1]], dtype=np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=RuntimeWarning)
                means = np.nanmean(column, axis=1)
            means.setflags(write=False)  # shared cache: a caller must not change later answers
            self._seed_mean[key] = means
        return self._seed_mean[key]

    def _sampling_tables(self, metric: str, fi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per (metric, fidelity): flat values, measured seed columns first per row, seed counts.

        Built once (NB101-sized: ~25 ms, 12 MB) so that `sample` queries are three 1-D gathers.
        """
        key = (metric, fi)
        if key not in self._sampling:
            values = np.ascontiguousarray(self.metric_array(metric)[:, :, fi], dtype=np.float64)
            measured = ~np.isnan(values)
            # Stable argsort of "not measured" lists each row's measured columns first, in order.
            order = np.argsort(~measured, axis=1, kind="stable").astype(np.int8)
            counts = measured.sum(axis=1).astype(np.int8)
            values.setflags(write=False)
            self._sampling[key] = (values.reshape(-1), order.reshape(-1), counts)
        return self._sampling[key]

    # -- queries -------------------------------------------------------------------------------
    def query(
        self,
        metric: str,
        archs: Any,
        *,
        fidelity: float | None = None,
        seed_policy: SeedPolicy = "mean",
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        return_seed: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Values of `metric` for architecture rows `archs` at one fidelity (default: the highest).

        seed_policy: `mean` over the measured seeds; `fixed` reads seed label `seed`; `sample` draws
        one measured seed per query from `rng` (a numpy Generator, so runs are reproducible). With
        `return_seed`, also returns the seed label used (MEAN_SEED for means, and for NaN results).
        """
        rows = self._rows(archs)
        fi = self.fidelity_index(fidelity)
        if seed_policy == "mean":
            values = self.seed_mean(metric, fidelity)[rows]
            used = np.full(rows.shape, MEAN_SEED, dtype=np.int64) if return_seed else None
        elif seed_policy == "fixed":
            if seed is None:
                raise StoreError("seed_policy='fixed' needs a seed label; available: " + str(self.seeds.tolist()))
            si = self.seed_index(seed)
            values = np.asarray(self.metric_array(metric)[rows, si, fi], dtype=np.float64)
            used = np.full(rows.shape, int(seed), dtype=np.int64) if return_seed else None
        elif seed_policy == "sample":
            if not isinstance(rng, np.random.Generator):
                raise StoreError("seed_policy='sample' needs rng=numpy.random.Generator so that queries are reproducible")
            values, used = self._sample(metric, rows, fi, rng)
        else:
            raise StoreError(f"unknown seed policy {seed_policy!r}; choose one of {', '.join(SEED_POLICIES)}")
        return (values, used) if return_seed else values

    def _sample(self, metric: str, rows: np.ndarray, fi: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        flat = rows.reshape(-1)
        values, order, counts = self._sampling_tables(metric, fi)
        n_seeds = len(self.seeds)
        row_counts = counts[flat]
        # Draw a rank among the measured seeds, then read the column holding that rank.
        rank = np.floor(rng.random(flat.size) * np.maximum(row_counts, 1)).astype(np.int64)
        col = order[flat * n_seeds + rank].astype(np.int64)
        picked = values[flat * n_seeds + col]
        used = np.where(row_counts > 0, self.seeds[col], MEAN_SEED)
        return picked.reshape(rows.shape), used.reshape(rows.shape)

    def best(self, metric: str | None = None, fidelity: float | None = None) -> tuple[int, float]:
        """Row and value of the best seed-mean architecture (max, or min for lower-is-better metrics)."""
        metric = metric or self.valid_metric
        if not metric:
            raise StoreError(f"store {self.name!r} has no validation metric; name one of {', '.join(self.metric_names)}")
        means = self.seed_mean(metric, fidelity)
        row = int(np.nanargmax(means) if self.higher_is_better(metric) else np.nanargmin(means))
        return row, float(means[row])


def open_store(path: str | Path) -> BenchmarkStore:
    """Open a store file for reading; raises StoreError with a one-line reason if it is unusable."""
    return BenchmarkStore(path)
