"""NAS-Bench-101 benchmarks (space nb101; docs/NB101.md).

* `nb101/cifar10`: from the official file the user downloads into `<data>/sources/`:
  `nasbench_full.tfrecord` (budgets 4, 12, 36, 108; preferred when both are there) or
  `nasbench_only108.tfrecord` (108 only). Converted on first use (a few minutes, once) and rebuilt
  (no automatic rebuild: to switch files, convert again with `--force`).
* `nb101/sample`: the 52 real cells in `<data>/sources/nb101` (or `../shared/data/nb101` beside a
  repository checkout), or in the folder named by the environment variable
  `NAS_HARNESS_NB101_SAMPLE`. For tests and demos; absent files = "source missing".

Converter kinds for `nas-harness convert KIND SOURCE [--out FILE] [--force]`: `nb101-tfrecord`
(stops at the first corrupt record, naming its byte offset; with `--skip-bad` it skips and
counts corrupt records; the counts are in the store's provenance). `--out` is a store file or a
folder (default: the data folder's `nb101/cifar10` store).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.benchmarks import BenchmarkSpec
from tabular.data_dir import sources_dir, store_path
from tabular.errors import SourceMissingError
from tabular.sources import NB101_SAMPLE_FILES
from tabular.writer import StoreData

if TYPE_CHECKING:
    from tabular.converters.nb101_tfrecord import CellRules

TFRECORDS = ("nasbench_full.tfrecord", "nasbench_only108.tfrecord")
SAMPLE_ENV = "NAS_HARNESS_NB101_SAMPLE"
_REPO = Path(__file__).resolve().parents[2]


def tfrecord_source() -> Path:
    """The official file under `<data>/sources/`; SourceMissingError saying where to put it."""
    for name in TFRECORDS:
        path = sources_dir() / name
        if path.is_file():
            return path
    raise SourceMissingError(
        f"nb101/cifar10: neither {TFRECORDS[0]} (1.95 GB, all budgets) nor {TFRECORDS[1]} (499 MB, 108 epochs) is in "
        f"{sources_dir()}; download one (links in https://github.com/google-research/nasbench) into that folder, "
        "or convert it from anywhere with `nas-harness convert nb101-tfrecord PATH`"
    )


def sample_folder() -> Path:
    """Where nb101/sample's pickles are: $NAS_HARNESS_NB101_SAMPLE, else `<data>/sources/nb101` (where users put
    them), else ../shared/data/nb101 beside a checkout (where the developers' copy is)."""
    configured = os.environ.get(SAMPLE_ENV)
    if configured:
        return Path(configured).expanduser()
    user, checkout = sources_dir() / "nb101", _REPO.parent / "shared" / "data" / "nb101"
    has_files = all((checkout / f).is_file() for f in NB101_SAMPLE_FILES)
    return checkout if has_files and not all((user / f).is_file() for f in NB101_SAMPLE_FILES) else user


def cell_rules() -> CellRules:
    """The NB101 cell rules of harness.spaces.nb101, as the converters take them (they import no space)."""
    from harness.spaces import nb101
    from harness.spaces.base import ArchitectureError
    from tabular.converters.nb101_tfrecord import CellRules

    return CellRules(to_cell=nb101.to_cell, graph_hash=nb101.graph_hash, canonical_cell=nb101.canonical_cell,
                     format_cell=nb101.format_cell, padded=nb101.padded, hash_id=nb101.hash_id,
                     error=ArchitectureError, n_cells=nb101.N_CELLS)


def _check_sample() -> Path:
    folder = sample_folder()
    missing = [f for f in NB101_SAMPLE_FILES if not (folder / f).is_file()]
    if missing:
        raise SourceMissingError(
            f"nb101/sample: source missing: {', '.join(missing)} not in {folder}; put "
            f"{' and '.join(NB101_SAMPLE_FILES)} there, or set {SAMPLE_ENV} to a folder holding them"
        )
    return folder


def _check_cifar10() -> None:
    tfrecord_source()


def _check_sample_source() -> None:
    _check_sample()


def _build_cifar10() -> StoreData:
    from tabular.converters.nb101_tfrecord import convert_tfrecord

    return convert_tfrecord(tfrecord_source(), rules=cell_rules())


def _build_sample() -> StoreData:
    from tabular.converters.nb101_sample import convert_sample

    return convert_sample(_check_sample(), cell_rules())


def specs() -> list[BenchmarkSpec]:
    return [
        BenchmarkSpec(
            name="nb101/cifar10",
            space="nb101",
            source="official file nasbench_full.tfrecord or nasbench_only108.tfrecord, downloaded by the user into "
                   "<data>/sources/",
            build=_build_cifar10,
            check_source=_check_cifar10,
        ),
        BenchmarkSpec(
            name="nb101/sample",
            space="nb101",
            source="52 real NB101 cells (108 epochs, 3 repeats) from ../shared/data/nb101 or "
                   "$NAS_HARNESS_NB101_SAMPLE; tests and demos",
            build=_build_sample,
            check_source=_check_sample_source,
        ),
    ]


def _target(out: Path | None) -> Path:
    if out is None:
        return store_path("nb101/cifar10")
    return out / "nb101" / "cifar10.h5" if out.is_dir() else out


def _convert(source: Path, out: Path | None, force: bool, skip_bad: bool = False) -> list[Path]:
    from tabular.converters.nb101_tfrecord import convert

    return [convert(source, _target(out), rules=cell_rules(), force=force, skip_bad=skip_bad)]


def converters() -> dict[str, Callable[..., list[Path]]]:
    return {"nb101-tfrecord": _convert}
