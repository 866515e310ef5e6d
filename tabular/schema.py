"""The store schema: one set of rules checked both before writing and on opening.

Checking on open means a store written by an older or foreign tool fails with a message naming the
broken rule, instead of producing wrong numbers later in a search.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import h5py
import numpy as np

from tabular.errors import StoreError

if TYPE_CHECKING:
    from tabular.writer import StoreData

FORMAT_NAME = "nas-harness-store"
# 2: provenance records CHECKSUM_KEY, the sha256 of the arrays (data_checksum), verified on open.
# Version 1 stores (no checksum) are still read, unverified.
FORMAT_VERSION = 2
FIRST_CHECKSUMMED_VERSION = 2
CHECKSUM_KEY = "data_sha256"
ARCH_DATASETS = ("archs/str", "archs/encoding", "archs/id", "fidelities", "seeds")
REQUIRED_ATTRS = (
    "format",
    "format_version",
    "name",
    "search_space",
    "n_archs",
    "fidelity_name",
    "valid_metric",
    "test_metric",
    "cost_metric",
    "provenance",
)
STATIC_KINDS = ("params", "flops", "latency", "energy", "size", "other")


def validate_store_data(data: StoreData) -> None:
    """Raise StoreError naming the first rule an in-memory store breaks."""
    n = len(data.arch_strings)
    if n == 0:
        raise StoreError(f"store {data.name!r} has no architectures")
    if len(set(data.arch_strings)) != n:
        raise StoreError(f"store {data.name!r} has duplicate architecture strings")
    enc = np.asarray(data.arch_encoding)
    if enc.ndim != 2 or enc.shape[0] != n:
        raise StoreError(f"store {data.name!r}: arch_encoding must be (n_archs={n}, d), got {enc.shape}")
    if data.arch_ids is not None and len(data.arch_ids) != n:
        raise StoreError(f"store {data.name!r}: arch_ids has {len(data.arch_ids)} entries, expected {n}")
    fid = np.asarray(data.fidelities, dtype=float)
    if fid.ndim != 1 or fid.size == 0 or np.any(np.diff(fid) <= 0):
        raise StoreError(f"store {data.name!r}: fidelities must be a non-empty increasing 1-D array, got {fid}")
    seeds = np.asarray(data.seeds)
    if seeds.ndim != 1 or seeds.size == 0 or len(set(seeds.tolist())) != seeds.size:
        raise StoreError(f"store {data.name!r}: seeds must be a non-empty 1-D array of distinct labels")
    shape = (n, seeds.size, fid.size)
    if not data.metrics:
        raise StoreError(f"store {data.name!r} has no metrics")
    for name, metric in data.metrics.items():
        _check_name(data.name, name)
        if np.shape(metric.values) != shape:
            raise StoreError(
                f"store {data.name!r}: metric {name!r} has shape {np.shape(metric.values)}, expected {shape}"
            )
    for name, static in data.static.items():
        _check_name(data.name, name)
        if np.shape(static.values) != (n,):
            raise StoreError(f"store {data.name!r}: static {name!r} has shape {np.shape(static.values)}, expected "
                             f"({n},)")
        if static.kind not in STATIC_KINDS:
            raise StoreError(f"store {data.name!r}: static {name!r} has kind {static.kind!r}; "
                             f"use one of {STATIC_KINDS}")
    for role in ("valid_metric", "test_metric", "cost_metric"):
        value = getattr(data, role)
        if value and value not in data.metrics:
            raise StoreError(f"store {data.name!r}: {role}={value!r} is not one of its metrics {sorted(data.metrics)}")


def _check_name(store: str, name: str) -> None:
    if not name or "/" in name or name.startswith("."):
        raise StoreError(f"store {store!r}: {name!r} is not a valid metric name (no '/', not empty)")


def validate_store_file(handle: h5py.File, path: str) -> None:
    """Raise StoreError naming the first rule an opened HDF5 file breaks; reads shapes, not data."""
    attrs = handle.attrs
    if attrs.get("format") != FORMAT_NAME:
        raise StoreError(f"{path} is an HDF5 file but not a nas-harness store (no format={FORMAT_NAME!r} attribute)")
    missing = [a for a in REQUIRED_ATTRS if a not in attrs]
    if missing:
        raise StoreError(f"{path}: store lacks attributes {missing}; re-create it with `nas-harness convert`")
    version = int(attrs["format_version"])
    if version > FORMAT_VERSION:
        raise StoreError(
            f"{path}: store format version {version} is newer than this nas-harness reads ({FORMAT_VERSION}); upgrade "
            "nas-harness"
        )
    check_self_contained(handle, path)  # first: the checks below would follow links out of the file
    for group in ("archs", "metrics", "static"):
        if group not in handle:
            raise StoreError(f"{path}: store lacks the group /{group}; the file is truncated or not a store")
    for ds in ARCH_DATASETS:
        if ds not in handle:
            raise StoreError(f"{path}: store lacks the dataset /{ds}; the file is truncated or not a store")
    n = int(attrs["n_archs"])
    shape = (n, handle["seeds"].shape[0], handle["fidelities"].shape[0])
    if handle["archs/str"].shape != (n,) or handle["archs/id"].shape != (n,) or handle["archs/encoding"].shape[0] != n:
        raise StoreError(f"{path}: architecture datasets disagree with n_archs={n}")
    for name, ds in handle["metrics"].items():
        if ds.shape != shape:
            raise StoreError(f"{path}: metric {name!r} has shape {ds.shape}, expected {shape}")
    for name, ds in handle["static"].items():
        if ds.shape != (n,):
            raise StoreError(f"{path}: static {name!r} has shape {ds.shape}, expected ({n},)")


_PLAIN_LAYOUTS = {h5py.h5d.CONTIGUOUS: "contiguous", h5py.h5d.CHUNKED: "chunked", h5py.h5d.COMPACT: "compact"}
_REBUILD = "a store must hold its own data (docs/FORMAT.md, What a store may not contain); convert the source again"


def check_self_contained(handle: h5py.File, path: str) -> None:
    """Refuse a file whose values could come from outside its own bytes, or from another dataset.

    Why: the data checksum and the file hash that manifests record cover only the file's own bytes
    and each dataset once. An external or soft link, a virtual dataset, external raw storage or a
    second (hard) link to one dataset would let a store answer with values that are not in it, or
    serve one metric as another, while every check passes. Only hard links to distinct groups and
    datasets whose layout is contiguous, chunked or compact are allowed, whatever the format version.
    Reads link and object headers only, through h5py's low-level API: about 1.3 ms for an NB201 store
    (13 objects) on a shared 2-core VM, a third of what h5py's high-level objects cost on every open.
    """
    seen: dict[h5py.h5o.ObjectID, str] = {}

    def walk(group: h5py.h5g.GroupID, prefix: str) -> None:
        for raw in group:
            where = f"{prefix}/{raw.decode(errors='replace')}"
            kind = group.links.get_info(raw).type
            if kind == h5py.h5l.TYPE_EXTERNAL:
                filename, target = (v.decode(errors="replace") for v in group.links.get_val(raw))
                raise StoreError(f"{path}: {where} is an external link to {filename}:{target}; {_REBUILD}")
            if kind == h5py.h5l.TYPE_SOFT:
                target = group.links.get_val(raw).decode(errors="replace")
                raise StoreError(f"{path}: {where} is a soft link to {target}; {_REBUILD}")
            if kind != h5py.h5l.TYPE_HARD:
                raise StoreError(f"{path}: {where} is a user-defined link (type {kind}), not plain data; {_REBUILD}")
            try:
                obj = h5py.h5o.open(group, raw)
            except (KeyError, OSError, ValueError):
                raise StoreError(f"{path}: {where} cannot be opened; the file is damaged: {_REBUILD}") from None
            if obj in seen:
                raise StoreError(f"{path}: {where} is a second name of {seen[obj]}; {_REBUILD}")
            seen[obj] = where
            kind = h5py.h5i.get_type(obj)
            if kind == h5py.h5i.GROUP:
                walk(obj, where)
            elif kind == h5py.h5i.DATASET:
                _check_dataset(obj, where, path)

    walk(handle.id, "")


def _check_dataset(ds: h5py.h5d.DatasetID, where: str, path: str) -> None:
    """Refuse a virtual dataset or one whose raw data lives in other files (external storage)."""
    plist = ds.get_create_plist()
    layout = plist.get_layout()
    if layout == h5py.h5d.VIRTUAL:
        raise StoreError(f"{path}: {where} is a virtual dataset (its values live in other datasets or files); "
                         f"{_REBUILD}")
    if plist.get_external_count() > 0:
        name = plist.get_external(0)[0].decode(errors="replace")
        raise StoreError(f"{path}: {where} keeps its values in the external file {name!r}; {_REBUILD}")
    if layout not in _PLAIN_LAYOUTS:
        raise StoreError(f"{path}: {where} has HDF5 storage layout {layout}, not contiguous, chunked or compact; "
                         f"{_REBUILD}")


def checksum_datasets(metric_names: Iterable[str], static_names: Iterable[str]) -> list[str]:
    """The datasets the data checksum covers, in the order it hashes them (docs/FORMAT.md, Checksum)."""
    return [*ARCH_DATASETS, *(f"metrics/{n}" for n in sorted(metric_names)),
            *(f"static/{n}" for n in sorted(static_names))]


def checksum_header(name: str, dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """What precedes a dataset's bytes in the checksum: its path, dtype and shape, so that bytes moved
    between datasets or reshaped change the checksum too."""
    return f"{name}:{np.dtype(dtype).str}:{','.join(str(int(d)) for d in shape)}\n".encode()


def data_checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 (hex) of in-memory arrays keyed by dataset path, exactly as the writer stores them.

    The reader computes the same digest from the file (tabular.store) without loading it whole.
    """
    metrics = [k.removeprefix("metrics/") for k in arrays if k.startswith("metrics/")]
    static = [k.removeprefix("static/") for k in arrays if k.startswith("static/")]
    digest = hashlib.sha256()
    for name in checksum_datasets(metrics, static):
        array = np.ascontiguousarray(arrays[name])
        digest.update(checksum_header(name, array.dtype, array.shape))
        digest.update(array.data)  # the C-order bytes (hashlib reads the buffer; same as array.tobytes())
    return digest.hexdigest()
