"""Read a benchmark store: verified, lazy, memory-mapped, vectorised queries.

Opening checks the schema and the data checksum the writer recorded (tabular.schema.data_checksum:
one sequential read of the arrays through a small buffer, about 1.5 GB/s here, so a 240 MB table
costs a fraction of a second and no resident memory; BENCHMARKS.md). Metric arrays are
memory-mapped on first use (the writer stores them contiguous and unfiltered), so the OS page
cache, not Python, holds the data. Queries take many architecture indices at once.
"""
from __future__ import annotations

import hashlib
import json
import logging
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import h5py
import numpy as np

from tabular.errors import StoreError
from tabular.evaluation_reader import EvaluationReader
from tabular.hashing import sha256_file
from tabular.protocol import MEAN_SEED, SEED_POLICIES, SeedPolicy, check_seed_policy
from tabular.schema import (
    CHECKSUM_KEY,
    FIRST_CHECKSUMMED_VERSION,
    checksum_datasets,
    checksum_header,
    validate_store_file,
)

log = logging.getLogger(__name__)

__all__ = ["MEAN_SEED", "SEED_POLICIES", "VERIFY_MODES", "BenchmarkStore", "SeedPolicy", "Verify", "open_store"]
Verify = Literal["open", "lazy"]
VERIFY_MODES = ("open", "lazy")
_READ_CHUNK = 1 << 20  # bytes read per step while checksumming (keeps the check's memory flat)


def _raw_offset(ds: h5py.Dataset) -> int | None:
    """File offset of a contiguous, unfiltered, non-empty dataset's bytes; None when they must be read through h5py."""
    offset = ds.id.get_offset()
    return None if offset is None or ds.chunks is not None or ds.compression is not None or ds.size == 0 else offset


def _read_array(path: Path, ds: h5py.Dataset) -> np.ndarray:
    """Memory-map a contiguous unfiltered dataset; fall back to reading it (chunked/compressed files)."""
    offset = _raw_offset(ds)
    if offset is None:
        return ds[()]
    return np.memmap(path, dtype=ds.dtype, mode="r", offset=offset, shape=ds.shape)


def _file_checksum(handle: h5py.File, path: Path) -> str:
    """tabular.schema.data_checksum of the arrays in an open store file, read sequentially from disk.

    Contiguous datasets are read at their file offset through one reusable buffer (not memory-mapped:
    mapping would leave the whole file resident in this process); others (chunked or compressed
    files from other writers) are read whole through h5py.
    """
    digest = hashlib.sha256()
    datasets = [(name, handle[name]) for name in checksum_datasets(handle["metrics"].keys(), handle["static"].keys())]
    buffer = memoryview(bytearray(min(_READ_CHUNK, max(ds.size * ds.dtype.itemsize for _, ds in datasets))))
    with open(path, "rb", buffering=0) as raw:
        for name, ds in datasets:
            digest.update(checksum_header(name, ds.dtype, ds.shape))
            offset = _raw_offset(ds)
            if offset is None:
                digest.update(np.ascontiguousarray(ds[()]).data)
                continue
            raw.seek(offset)
            remaining = int(ds.size) * ds.dtype.itemsize
            while remaining:
                n = raw.readinto(buffer[: min(remaining, len(buffer))])
                if not n:
                    raise StoreError(f"{path}: dataset /{name} ends past the end of the file; the file is truncated, "
                                     "delete it and convert again")
                digest.update(buffer[:n])
                remaining -= n
    return digest.hexdigest()


class BenchmarkStore:
    """A read-only view of one store file; cheap to open, safe to share between strategies' runs.

    Implements tabular.protocol.Store with every row stored (`tabulated`). `verify="open"` (the
    default) checks the data checksum before returning; `"lazy"` defers the check to the first read
    of an array, for callers that only want the metadata (names, shapes, provenance): a store is
    never queried unverified either way.
    """

    tabulated: ClassVar[bool] = True  # every row is in the file (tabular.protocol.Store)

    def __init__(self, path: str | Path, *, verify: Verify = "open"):
        if verify not in VERIFY_MODES:
            raise StoreError(f"verify={verify!r}; choose one of {', '.join(VERIFY_MODES)}")
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError(f"store file {self.path} does not exist; create it with `nas-harness convert` or "
                             "`nas-harness benchmarks`")
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise StoreError(f"{self.path} is not a readable HDF5 store ({exc.__class__.__name__}: truncated or "
                             "corrupt); delete it and convert again") from None
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
        self._flat: dict[tuple[str, int], np.ndarray] = {}
        self._verified = False
        try:
            _ = self.provenance  # parsed now: a damaged provenance attribute is a one-line error at open
            if verify == "open":
                self._verify()
        except StoreError:
            self._h5.close()
            raise

    def _verify(self) -> None:
        """Refuse the store if its arrays no longer hash to the checksum recorded when it was written."""
        if self._verified:
            return
        recorded = self.provenance.get(CHECKSUM_KEY)
        if self.format_version < FIRST_CHECKSUMMED_VERSION and CHECKSUM_KEY not in self.provenance:
            # (a checksum is verified whatever the version says: an edited format_version skips nothing)
            log.debug("%s is store format version %d, written before stores carried a data checksum; not verified "
                      "(rebuild it to get one)", self.path, self.format_version)
        elif not isinstance(recorded, str):
            raise StoreError(f"{self.path}: store format version {self.format_version} but its provenance records no "
                             f"{CHECKSUM_KEY}; the file is damaged: rebuild it with `nas-harness convert ... --force`, "
                             "or delete it so that it is rebuilt")
        elif _file_checksum(self._h5, self.path) != recorded:
            raise StoreError(f"{self.path} is corrupted: its arrays no longer match the sha256 recorded when it was "
                             "written; rebuild it with `nas-harness convert ... --force`, or delete it so that it is "
                             "rebuilt")
        self._verified = True

    def _dataset(self, name: str) -> np.ndarray:
        """A dataset's array (memory-mapped when possible), after the checksum check if it was deferred."""
        self._verify()
        return _read_array(self.path, self._h5[name])

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the file; memory-mapped arrays already handed out stay valid until dropped."""
        self._arrays.clear()
        self._h5.close()

    def __enter__(self) -> BenchmarkStore:
        """Use as a context manager so the file is closed on every path."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        self.close()

    def __repr__(self) -> str:
        """Name, size and metrics, for logs."""
        return f"BenchmarkStore({self.name!r}, n_archs={self.n_archs}, metrics={self.metric_names})"

    # -- metadata ------------------------------------------------------------------------------
    @cached_property
    def provenance(self) -> dict[str, Any]:
        """Where the data came from (docs/FORMAT.md), with the data checksum `data_sha256` (format version >= 2)."""
        try:
            value = json.loads(self._h5.attrs["provenance"])
        except (TypeError, ValueError):
            value = None
        if not isinstance(value, dict):
            raise StoreError(f"{self.path}: the provenance attribute is not a JSON object; the file is damaged: "
                             "rebuild it "
                             "with `nas-harness convert ... --force`, or delete it so that it is rebuilt")
        return value

    @cached_property
    def sha256(self) -> str:
        """Hash of the store file itself: what a result's manifest records as the data version."""
        return sha256_file(self.path)

    @cached_property
    def arch_strings(self) -> np.ndarray:
        """Architecture strings in row order (a numpy array of str, decoded once on first use)."""
        return np.char.decode(self._dataset("archs/str"), "utf-8")

    @cached_property
    def arch_encoding(self) -> np.ndarray:
        """The stored per-row architecture encoding (n_archs, d), as the converter wrote it."""
        return np.asarray(self._dataset("archs/encoding"))

    @cached_property
    def arch_ids(self) -> np.ndarray:
        """The source benchmark's own id of each row (e.g. NB201's index), for cross-referencing."""
        return np.asarray(self._dataset("archs/id"))

    def row_archs(self) -> np.ndarray:
        """Architecture strings in row order (tabular.protocol.Store: a table always has them)."""
        return self.arch_strings

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
        """A metric's (or static metric's) HDF5 attributes as plain Python values (a copy)."""
        if name not in self._attrs:
            group = "metrics" if name in self.metric_names else "static"
            self._check_metric(name, allow_static=True)
            attrs = self._h5[group][name].attrs
            self._attrs[name] = {k: (v.item() if hasattr(v, "item") else v) for k, v in attrs.items()}
        return dict(self._attrs[name])

    def higher_is_better(self, metric: str) -> bool:
        """Whether larger values of `metric` are better (its `higher_is_better` attribute, default True)."""
        return bool(self.metric_attrs(metric).get("higher_is_better", True))

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary (what `nas-harness benchmarks --describe` style listings print)."""
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
            self._arrays[name] = self._dataset(f"metrics/{name}")
        return self._arrays[name]

    def static(self, name: str, archs: Any = None) -> np.ndarray:
        """A static per-architecture metric (parameters, FLOPs, latency on a device), optionally indexed."""
        if name not in self.static_names:
            raise StoreError(f"store {self.name!r} has no static metric {name!r}; available: "
                             f"{', '.join(self.static_names) or 'none'}")
        key = "static/" + name
        if key not in self._arrays:
            self._arrays[key] = self._dataset(key)
        values = self._arrays[key]
        return values if archs is None else values[self._rows(archs)]

    @cached_property
    def _fidelity_pos(self) -> dict[float, int]:
        return {float(f): i for i, f in enumerate(self.fidelities.tolist())}

    @cached_property
    def _seed_pos(self) -> dict[int, int]:
        return {int(s): i for i, s in enumerate(self.seeds.tolist())}

    def fidelity_index(self, fidelity: float | None) -> int:
        """Position of a fidelity in `fidelities` (None: the highest); refuses one the store lacks."""
        if fidelity is None:
            return len(self.fidelities) - 1
        try:
            return self._fidelity_pos[float(fidelity)]
        except (KeyError, TypeError, ValueError):
            raise StoreError(
                f"store {self.name!r} has no {self.fidelity_name} {fidelity}; available: {self.fidelities.tolist()}"
            ) from None

    def seed_index(self, seed: int) -> int:
        """Position of a seed label in `seeds`; refuses one the store lacks, naming those it has."""
        try:
            return self._seed_pos[int(seed)]
        except (KeyError, TypeError, ValueError):
            raise StoreError(f"store {self.name!r} has no seed {seed}; "
                             f"available seeds: {self.seeds.tolist()}") from None

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
            values = self._flat_values(metric, fi)
            measured = ~np.isnan(values.reshape(self.n_archs, len(self.seeds)))
            # Stable argsort of "not measured" lists each row's measured columns first, in order.
            order = np.argsort(~measured, axis=1, kind="stable").astype(np.int8)
            counts = measured.sum(axis=1).astype(np.int8)
            self._sampling[key] = (values, order.reshape(-1), counts)
        return self._sampling[key]

    def _flat_values(self, metric: str, fi: int) -> np.ndarray:
        """One metric at one fidelity position as a read-only float64 array, row-major over
        (architecture, seed): the value of row r, seed column c is at r * len(seeds) + c. Built once."""
        key = (metric, fi)
        flat = self._flat.get(key)
        if flat is None:
            flat = np.ascontiguousarray(self.metric_array(metric)[:, :, fi], dtype=np.float64).reshape(-1)
            flat.setflags(write=False)  # shared cache: a caller must not change later answers
            self._flat[key] = flat
        return flat

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
        policy = check_seed_policy(seed_policy, seed, rng, available=self.seeds)
        rows = self._rows(archs)
        fi = self.fidelity_index(fidelity)
        used: np.ndarray | None
        if policy == "mean":
            values = self.seed_mean(metric, fidelity)[rows]
            used = np.full(rows.shape, MEAN_SEED, dtype=np.int64) if return_seed else None
        elif policy == "fixed":
            assert seed is not None  # check_seed_policy refused a fixed query without a seed
            si = self.seed_index(seed)
            values = np.asarray(self.metric_array(metric)[rows, si, fi], dtype=np.float64)
            used = np.full(rows.shape, int(seed), dtype=np.int64) if return_seed else None
        else:
            assert isinstance(rng, np.random.Generator)  # checked by check_seed_policy
            values, used = self._sample(metric, rows, fi, rng)
        return (values, used) if return_seed and used is not None else values

    def _sample(self, metric: str, rows: np.ndarray, fi: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
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

    def evaluation_reader(self, primary: str, same_seed: list[str] | tuple[str, ...], *,
                          seed_policy: SeedPolicy = "mean", seed: int | None = None,
                          rng: np.random.Generator | None = None) -> EvaluationReader:
        """A reader of whole evaluations (one row, one fidelity at a time), validated once here.

        What a run engine needs per evaluation, in one call and without per-call validation: the
        `primary` metric under the seed policy and every `same_seed` metric of that same seed
        (exactly what `query` then `query(..., seed_policy="fixed", seed=used)` would give).
        """
        return EvaluationReader(self, primary, same_seed, seed_policy=seed_policy, seed=seed, rng=rng)

    def best(self, metric: str | None = None, fidelity: float | None = None) -> tuple[int, float]:
        """Row and value of the best seed-mean architecture (max, or min for lower-is-better metrics)."""
        metric = metric or self.valid_metric
        if not metric:
            raise StoreError(f"store {self.name!r} has no validation metric; "
                             f"name one of {', '.join(self.metric_names)}")
        means = self.seed_mean(metric, fidelity)
        row = int(np.nanargmax(means) if self.higher_is_better(metric) else np.nanargmin(means))
        return row, float(means[row])

    def row_means(self, metric: str) -> np.ndarray:
        """Seed means by row at the highest fidelity (all NaN when `metric` is "", e.g. no test metric)."""
        if not metric:
            return np.full(self.n_archs, np.nan)
        return self.seed_mean(metric)

    def reference_optimum(self, metric: str) -> float | None:
        """None: on a table, regret is measured against the best row mean itself (tabular.protocol.Store)."""
        return None


def open_store(path: str | Path, *, verify: Verify = "open") -> BenchmarkStore:
    """Open a store file for reading; raises StoreError with a one-line reason if it is unusable.

    The data checksum is verified before this returns (`verify="open"`), or before the first array
    is read (`verify="lazy"`, for metadata-only callers such as catalogue listings).
    """
    return BenchmarkStore(path, verify=verify)
