"""Hardware metrics (latency, energy per device) for NAS-Bench-201 cells, joined onto a store.

Two kinds of user-supplied file are read (users bring their own copy; nothing is downloaded):

* **HW-NAS-Bench** (`HW-NAS-Bench-v1_0.pickle`, a plain pickle). Its `nasbench201` part maps a
  dataset (`cifar10`, `cifar100`, `ImageNet16-120`) to metrics, each a sequence of 15,625 values
  indexed by the official NB201 index, plus `config`, a per-index list of dicts whose `arch_str`
  lets us prove the file uses the official order. The `fbnet` part is another space and is ignored.
* **Per-device tables** (CSV or Parquet): a key column `nb201_index` and/or `arch_str`, and one
  numeric column per device. A column name ends in its unit: `<device>_ms` is latency in ms and
  `<device>_mj` (any case) is energy in mJ; the suffix is stripped to give the device. A column with
  neither suffix is an error, so a unit is never guessed. Fully empty unnamed columns (a trailing
  comma in a CSV) are dropped; an unnamed column holding values is an error. Architectures the
  table does not list get NaN. A table applies to every dataset of the space.

Every value becomes a static metric named `<quantity>@<device>` (`latency@pixel3`,
`energy@eyeriss`, `arithmetic_intensity@eyeriss`). HW-NAS-Bench's `average_hw_metric` is not
stored: it is the product of nine metrics, computed on demand by `average_hw_metric`.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from tabular import safe_pickle, sources
from tabular.errors import NasHarnessError, StoreError
from tabular.hashing import sha256_file
from tabular.writer import StaticMetric, StoreData

log = logging.getLogger(__name__)

HWNB_FILENAME = sources.HWNB_FILENAME
HWNB_SPACE_KEY = "nasbench201"
# Our dataset names -> the dataset keys of the HW-NAS-Bench pickle.
HWNB_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}
# File metric -> (quantity, device, unit). Arithmetic intensity has no unit stated by the authors.
HWNB_METRICS: dict[str, tuple[str, str, str]] = {
    "edgegpu_latency": ("latency", "edgegpu", "ms"),
    "edgegpu_energy": ("energy", "edgegpu", "mJ"),
    "raspi4_latency": ("latency", "raspi4", "ms"),
    "edgetpu_latency": ("latency", "edgetpu", "ms"),
    "pixel3_latency": ("latency", "pixel3", "ms"),
    "eyeriss_latency": ("latency", "eyeriss", "ms"),
    "eyeriss_energy": ("energy", "eyeriss", "mJ"),
    "eyeriss_arithmetic_intensity": ("arithmetic_intensity", "eyeriss", ""),
    "fpga_latency": ("latency", "fpga", "ms"),
    "fpga_energy": ("energy", "fpga", "mJ"),
}
# The API's `average_hw_metric`: the product of every metric except arithmetic intensity.
AVERAGE_HW_METRIC_NAMES = tuple(
    f"{q}@{d}" for key, (q, d, _) in HWNB_METRICS.items() if key != "eyeriss_arithmetic_intensity"
)
TABLE_SUFFIXES = sources.HW_TABLE_SUFFIXES
KEY_INDEX = "nb201_index"
KEY_ARCH = "arch_str"
# Column suffix (lower case) -> (quantity, unit).
UNIT_SUFFIXES = {"_ms": ("latency", "ms"), "_mj": ("energy", "mJ")}
KIND_OF_QUANTITY = {"latency": "latency", "energy": "energy"}
# Parse decimals exactly as Python float() does, so stored values equal the text: pandas 3 does by
# default (and deprecates the option); pandas 2's default parser can be off by an ulp.
_EXACT_FLOATS: dict[str, str] = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


class IndexedSpace(Protocol):
    """What the readers need of a search space (harness.spaces.nb201.NB201Space satisfies it)."""

    @property
    def size(self) -> int: ...

    def index_of(self, arch: str) -> int: ...

    def arch_at(self, index: int) -> str: ...


@dataclass
class HWSource:
    """One hardware file, read and validated: its static metrics per dataset (our dataset names)."""

    path: Path
    kind: str  # "hwnasbench" or "latency-table"
    sha256: str
    metrics: dict[str, dict[str, StaticMetric]]

    @property
    def devices(self) -> set[str]:
        return {m.device for per_ds in self.metrics.values() for m in per_ds.values()}


def metric_name(quantity: str, device: str) -> str:
    """Store name of a hardware metric, e.g. `latency@pixel3`."""
    return f"{quantity}@{device}"


# -- HW-NAS-Bench pickle -----------------------------------------------------------------------
def load_hwnasbench(path: Path) -> dict[str, Any]:
    """Unpickle a user-named HW-NAS-Bench file and return its `nasbench201` part.

    The user names this file (argument or sources folder), so it is read with the plain-data
    allow-list of `tabular.safe_pickle` (nested dicts and lists of numbers and strings, numpy
    scalars): a file naming any other Python object is refused instead of run.
    """
    content = safe_pickle.load_path(
        path, allowed=safe_pickle.PLAIN_GLOBALS, what="HW-NAS-Bench",
        hint=f"download {HWNB_FILENAME} again from the HW-NAS-Bench authors",
        damaged=f"it is truncated or corrupt; download {HWNB_FILENAME} again",
    )
    if not isinstance(content, dict) or HWNB_SPACE_KEY not in content:
        found = sorted(map(str, content)) if isinstance(content, dict) else type(content).__name__
        raise NasHarnessError(
            f"{path} is not an HW-NAS-Bench file: expected a dict with key {HWNB_SPACE_KEY!r}, found {found}"
        )
    part = content[HWNB_SPACE_KEY]
    if not isinstance(part, dict):
        raise NasHarnessError(f"{path}: {HWNB_SPACE_KEY!r} must map datasets to metrics, found {type(part).__name__}")
    return part


def _metric_values(path: Path, ds_key: str, key: str, raw: Any, n: int) -> np.ndarray:
    try:
        count = len(raw)
    except TypeError:
        raise NasHarnessError(f"{path}: {ds_key}/{key} is a {type(raw).__name__}, expected a sequence of {n} "
                              "numbers") from None
    if count != n:
        raise NasHarnessError(f"{path}: {ds_key}/{key} has {count} entries, expected {n} (one per NB201 index)")
    try:
        return np.asarray([float(v) for v in raw], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise NasHarnessError(f"{path}: {ds_key}/{key} holds a non-numeric value ({exc})") from None


def _check_config(path: Path, ds_key: str, config: Any, official: list[str]) -> None:
    """Prove the file's order is the official NB201 order: config[i]['arch_str'] == official[i]."""
    n = len(official)
    if not isinstance(config, (list, tuple)) or len(config) != n:
        size = len(config) if isinstance(config, (list, tuple)) else type(config).__name__
        raise NasHarnessError(f"{path}: {ds_key}/config must be a list of {n} per-index dicts, found {size}")
    for i, (entry, expected) in enumerate(zip(config, official, strict=True)):
        arch = entry.get("arch_str") if isinstance(entry, dict) else None
        if arch != expected:
            raise NasHarnessError(
                f"{path}: {ds_key}/config[{i}]['arch_str'] is {arch!r} but official NB201 index {i} is "
                f"{expected!r}; the file is ordered differently from the official NB201 index, "
                f"use the official {HWNB_FILENAME}"
            )


def read_hwnasbench(path: str | Path, space: IndexedSpace) -> HWSource:
    """Read and validate the NB201 part of an HW-NAS-Bench pickle into static metrics per dataset."""
    path = Path(path)
    part = load_hwnasbench(path)
    official = [space.arch_at(i) for i in range(space.size)]
    metrics: dict[str, dict[str, StaticMetric]] = {}
    for dataset, ds_key in HWNB_DATASETS.items():
        if ds_key not in part:
            raise NasHarnessError(f"{path}: {HWNB_SPACE_KEY} has no dataset {ds_key!r} (found "
                                  f"{sorted(map(str, part))})")
        table = part[ds_key]
        if not isinstance(table, dict):
            raise NasHarnessError(f"{path}: {HWNB_SPACE_KEY}/{ds_key} must be a dict of metrics, found "
                                  f"{type(table).__name__}")
        missing = [k for k in HWNB_METRICS if k not in table]
        if missing:
            raise NasHarnessError(f"{path}: {ds_key} lacks the metrics {missing}; this is not HW-NAS-Bench v1.0")
        if "config" in table:
            _check_config(path, ds_key, table["config"], official)
        extra = sorted(set(map(str, table)) - set(HWNB_METRICS) - {"config"})
        if extra:
            log.info("%s: ignoring unknown %s entries %s", path, ds_key, extra)
        metrics[dataset] = {}
        for key, (quantity, device, unit) in HWNB_METRICS.items():
            values = _metric_values(path, ds_key, key, table[key], space.size)
            metrics[dataset][metric_name(quantity, device)] = StaticMetric(
                values=values,
                unit=unit,
                kind=KIND_OF_QUANTITY.get(quantity, "other"),
                device=device,
                description=f"HW-NAS-Bench {key} for {ds_key}" + ("" if unit else " (unit not stated by the authors)"),
            )
    return HWSource(path=path, kind="hwnasbench", sha256=sha256_file(path), metrics=metrics)


# -- per-device tables ---------------------------------------------------------------------------
def parse_device_column(name: str) -> tuple[str, str, str]:
    """(quantity, device, unit) of a table column: `pixel3_ms` -> (latency, pixel3, ms)."""
    lower = name.lower()
    for suffix, (quantity, unit) in UNIT_SUFFIXES.items():
        if lower.endswith(suffix):
            device = name[: -len(suffix)]
            if not device or any(c in device for c in "@/") or device != device.strip():
                raise NasHarnessError(f"column {name!r}: {device!r} is not a usable device name (no '@', '/', or "
                                      "padding)")
            return quantity, device, unit
    raise NasHarnessError(
        f"column {name!r} has no unit suffix; rename it <device>_ms (latency in ms) or <device>_mj (energy in mJ)"
    )


def _read_frame(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise NasHarnessError(f"{path}: a latency table must be a .csv or .parquet file")
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype={KEY_ARCH: "string"}, **_EXACT_FLOATS)
        return pd.read_parquet(path)
    except OSError as exc:
        raise NasHarnessError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # pandas/pyarrow parse errors have many types
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise NasHarnessError(f"{path} is not a readable {suffix[1:]} table ({exc.__class__.__name__}: "
                              f"{first})") from None


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, so messages read `15625`, not `np.int64(15625)`."""
    return value.item() if isinstance(value, np.generic) else value


def _row_label(path: Path, row: int) -> str:
    """How an error names a data row: 0-based position, plus the CSV line a user can open."""
    return f"row {row} (line {row + 2})" if path.suffix.lower() == ".csv" else f"row {row}"


def _indices_from_index_column(path: Path, column: pd.Series, size: int) -> np.ndarray:
    numeric = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(numeric) | (numeric != np.round(numeric)) | (numeric < 0) | (numeric >= size)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise NasHarnessError(
            f"{path}: {_row_label(path, row)} has {KEY_INDEX}={_plain(column.iloc[row])!r}; it must be an integer in "
            f"[0, {size})"
        )
    return numeric.astype(np.int64)


def _indices_from_arch_column(path: Path, column: pd.Series, space: IndexedSpace) -> np.ndarray:
    out = np.empty(len(column), dtype=np.int64)
    for row, arch in enumerate(column.tolist()):
        if not isinstance(arch, str):
            raise NasHarnessError(f"{path}: {_row_label(path, row)} has no {KEY_ARCH} (found {arch!r})")
        try:
            out[row] = space.index_of(arch)
        except NasHarnessError as exc:
            raise NasHarnessError(f"{path}: {_row_label(path, row)}: {exc}") from None
    return out


def _table_indices(path: Path, frame: pd.DataFrame, space: IndexedSpace) -> np.ndarray:
    has_index, has_arch = KEY_INDEX in frame.columns, KEY_ARCH in frame.columns
    if not (has_index or has_arch):
        found = list(map(str, frame.columns))
        raise NasHarnessError(f"{path}: a latency table needs a {KEY_INDEX!r} or {KEY_ARCH!r} column; found {found}")
    by_index = _indices_from_index_column(path, frame[KEY_INDEX], space.size) if has_index else None
    by_arch = _indices_from_arch_column(path, frame[KEY_ARCH], space) if has_arch else None
    if by_index is not None and by_arch is not None:
        differ = np.flatnonzero(by_index != by_arch)
        if differ.size:
            row = int(differ[0])
            raise NasHarnessError(
                f"{path}: {_row_label(path, row)} has {KEY_INDEX}={by_index[row]} but {KEY_ARCH} "
                f"{frame[KEY_ARCH].iloc[row]!r} is NB201 index {by_arch[row]}; fix the row or drop one key column"
            )
    indices = by_index if by_index is not None else by_arch
    assert indices is not None
    order = np.argsort(indices, kind="stable")
    dup = np.flatnonzero(np.diff(indices[order]) == 0)
    if dup.size:
        first, second = int(order[dup[0]]), int(order[dup[0] + 1])
        raise NasHarnessError(
            f"{path}: {_row_label(path, first)} and {_row_label(path, second)} are the same architecture "
            f"(NB201 index {indices[first]}); keep one row per architecture"
        )
    return indices


def _numeric_column(path: Path, name: str, column: pd.Series) -> np.ndarray:
    numeric = pd.to_numeric(column, errors="coerce")
    bad = numeric.isna().to_numpy() & column.notna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise NasHarnessError(f"{path}: {_row_label(path, row)} has non-numeric {name}={_plain(column.iloc[row])!r}")
    return numeric.to_numpy(dtype=np.float64, na_value=np.nan)


def read_latency_table(path: str | Path, space: IndexedSpace) -> dict[str, StaticMetric]:
    """Static metrics of a per-device table, one per device column, NaN for unlisted architectures."""
    path = Path(path)
    frame = _read_frame(path)
    rows = _table_indices(path, frame, space)
    metrics: dict[str, StaticMetric] = {}
    for column in frame.columns:
        name = str(column)
        if name in (KEY_INDEX, KEY_ARCH):
            continue
        if name.startswith("Unnamed:") or not name.strip():
            if frame[column].isna().all():
                log.info("%s: dropping empty unnamed column %r", path, name)
                continue
            raise NasHarnessError(f"{path}: column {name!r} has no name but holds values; name it <device>_ms or "
                                  "<device>_mj")
        try:
            quantity, device, unit = parse_device_column(name)
        except NasHarnessError as exc:
            raise NasHarnessError(f"{path}: {exc}") from None
        values = np.full(space.size, np.nan)
        values[rows] = _numeric_column(path, name, frame[column])
        key = metric_name(quantity, device)
        if key in metrics:
            raise NasHarnessError(f"{path}: two columns give {key}; keep one")
        metrics[key] = StaticMetric(
            values=values,
            unit=unit,
            kind=KIND_OF_QUANTITY[quantity],
            device=device,
            description=f"{quantity} on {device} from table {path.name} (column {name!r})",
        )
    if not metrics:
        raise NasHarnessError(f"{path}: no device column; add columns named <device>_ms or <device>_mj")
    return metrics


def read_table_source(path: str | Path, space: IndexedSpace, datasets: Sequence[str]) -> HWSource:
    """A table as a hardware source: the same metrics for every dataset in `datasets`."""
    path = Path(path)
    metrics = read_latency_table(path, space)
    return HWSource(path=path, kind="latency-table", sha256=sha256_file(path), metrics={ds: metrics for ds in datasets})


def read_hw_source(path: str | Path, space: IndexedSpace, datasets: Sequence[str] = tuple(HWNB_DATASETS)) -> HWSource:
    """Read any supported hardware file: tables by suffix, everything else as the HW-NAS-Bench pickle."""
    path = Path(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return read_table_source(path, space, datasets)
    return read_hwnasbench(path, space)


# -- joining ---------------------------------------------------------------------------------------
def check_device_clash(sources: Sequence[HWSource]) -> None:
    """A device may come from one source only: two sources for it would be an ambiguous measurement."""
    seen: dict[str, Path] = {}
    for source in sources:
        for device in sorted(source.devices):
            if device in seen:
                raise NasHarnessError(
                    f"device {device!r} comes from both {seen[device].name} and {source.path.name}; remove one "
                    f"file or rename its column (e.g. {device}_mine_ms)"
                )
            seen[device] = source.path


def join_hw(base: StoreData, dataset: str, sources: Sequence[HWSource], *, name: str) -> StoreData:
    """`base` plus every source's static metrics for `dataset`, renamed `name`, with joint provenance.

    Rows must be official NB201 indices in both (the NB201 converters write them in that order).
    """
    check_device_clash(sources)
    static = dict(base.static)
    for source in sources:
        for key, metric in source.metrics.get(dataset, {}).items():
            if key in static:
                raise NasHarnessError(f"{source.path.name}: metric {key!r} already exists in {base.name}")
            if len(metric.values) != len(base.arch_strings):
                raise NasHarnessError(
                    f"{source.path.name}: {key} has {len(metric.values)} values, store {base.name} has "
                    f"{len(base.arch_strings)} rows"
                )
            static[key] = metric
    base_prov = dict(base.provenance)
    hw_entries = [
        {"name": s.path.name, "sha256": s.sha256, "kind": s.kind, "metrics": sorted(s.metrics.get(dataset, {}))}
        for s in sources
    ]
    note = "static <quantity>@<device> metrics joined by NB201 index from user-supplied hardware files"
    provenance = {
        **base_prov,
        "base_store": base.name,
        "sources": list(base_prov.get("sources", []))
        + [{"name": f"hw:{e['name']}", "sha256": e["sha256"]} for e in hw_entries],
        "hw_sources": hw_entries,
        "notes": "; ".join(filter(None, [base_prov.get("notes", ""), note])),
    }
    if any(s.kind == "hwnasbench" for s in sources):
        provenance["citation"] = "; ".join(filter(None, [base_prov.get("citation", ""), "Li et al., HW-NAS-Bench, "
                                                                                        "ICLR 2021"]))
    return dataclasses.replace(base, name=name, static=static, provenance=provenance)


# -- derived quantities ------------------------------------------------------------------------------
def average_hw_metric(store: Any, archs: Any = None) -> np.ndarray:
    """HW-NAS-Bench's `average_hw_metric`: the product of its nine metrics (all but arithmetic intensity).

    Not stored because it is derived; `store` is anything with `static(name, archs)` and
    `static_names` (a BenchmarkStore).
    """
    missing = [m for m in AVERAGE_HW_METRIC_NAMES if m not in store.static_names]
    if missing:
        raise StoreError(f"average_hw_metric needs the nine HW-NAS-Bench metrics; the store lacks {missing}")
    result = np.asarray(store.static(AVERAGE_HW_METRIC_NAMES[0], archs), dtype=np.float64).copy()
    for name in AVERAGE_HW_METRIC_NAMES[1:]:
        result *= store.static(name, archs)
    return result


__all__ = [
    "AVERAGE_HW_METRIC_NAMES",
    "HWNB_DATASETS",
    "HWNB_FILENAME",
    "HWNB_METRICS",
    "HWSource",
    "average_hw_metric",
    "check_device_clash",
    "join_hw",
    "metric_name",
    "parse_device_column",
    "read_hw_source",
    "read_hwnasbench",
    "read_latency_table",
    "read_table_source",
]
