"""Official NAS-Bench-201 / NATS-Bench topology files the user downloads, and user tables.

Benchmarks (space nb201; 200-epoch schedule unless `-12ep`):

* `nb201-v1_0/<dataset>` and `nb201-v1_0/cifar10-valid-12ep` from `NAS-Bench-201-v1_0-e61699.pth`
  (v1_0 ran its 12-epoch schedule on cifar10-valid only and records no times);
* `nb201-v1_1/<dataset>[-12ep]` from `NAS-Bench-201-v1_1-096897.pth`;
* `nats-tss/<dataset>[-12ep]` from the unpacked `NATS-tss-v1_0-3ffb9-simple/` folder (or the single
  file `NATS-tss-v1_0-3ffb9.pickle.pbz2`),

for datasets cifar10-valid, cifar10, cifar100, imagenet16-120. Their sources are looked for in
`<data>/sources/` (tabular.data_dir); nothing is downloaded. Because loading an official file costs
far more than building a store, converting one benchmark also caches its siblings from the same
file (those not cached yet).

Converter kinds for `nas-harness convert KIND SOURCE [--out PATH] [--force]`: `nb201-pth` and
`nats-tss` write every store of the file under `--out` (a folder; default the data folder's
stores, as `<out>/<family>/<dataset>.h5`). (`table`, a user's CSV/Parquet table, is in
harness.catalog.local.) Converters are imported only when converting, so listing stays light.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.benchmarks import BenchmarkSpec
from harness.spaces import get_space
from tabular.data_dir import sources_dir, store_path, stores_dir
from tabular.errors import NasHarnessError, SourceMissingError
from tabular.sources import nb201_store_name
from tabular.writer import StoreData, write_store

if TYPE_CHECKING:
    from tabular.converters.nb201_official import ArchOrder

log = logging.getLogger(__name__)

_DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")


@dataclass(frozen=True)
class OfficialSource:
    """One official file (or folder) and the benchmarks it yields."""

    family: str
    candidates: tuple[str, ...]  # names under sources_dir(), first preferred
    kind: str  # converter kind
    where_to_get: str  # instructions; {expected} = expected path, {folder} = sources_dir()
    combos: tuple[tuple[str, str], ...]  # (official dataset, hp)


_ALL = tuple((ds, hp) for hp in ("200", "12") for ds in _DATASETS)
SOURCES: tuple[OfficialSource, ...] = (
    OfficialSource(
        "nb201-v1_0",
        ("NAS-Bench-201-v1_0-e61699.pth",),
        "nb201-pth",
        "download NAS-Bench-201-v1_0-e61699.pth (2.2 GB, linked from https://github.com/D-X-Y/NAS-Bench-201) to "
        "{expected}",
        tuple((ds, "200") for ds in _DATASETS) + (("cifar10-valid", "12"),),
    ),
    OfficialSource(
        "nb201-v1_1",
        ("NAS-Bench-201-v1_1-096897.pth",),
        "nb201-pth",
        "download NAS-Bench-201-v1_1-096897.pth (4.7 GB, linked from https://github.com/D-X-Y/NAS-Bench-201) to "
        "{expected}",
        _ALL,
    ),
    OfficialSource(
        "nats-tss",
        ("NATS-tss-v1_0-3ffb9-simple", "NATS-tss-v1_0-3ffb9.pickle.pbz2"),
        "nats-tss",
        "download NATS-tss-v1_0-3ffb9-simple.tar (linked from https://github.com/D-X-Y/NATS-Bench) and unpack it in "
        "{folder} "
        "so that {expected}/meta.pickle.pbz2 exists",
        _ALL,
    ),
)


def benchmark_name(source: OfficialSource, dataset: str, hp: str) -> str:
    """e.g. nats-tss, ImageNet16-120, 12 -> nats-tss/imagenet16-120-12ep."""
    return nb201_store_name(source.family, dataset, hp)


def nb201_order() -> ArchOrder:
    """The NB201 space's index (strings, op codes) as the official-file converters take it."""
    from tabular.converters.nb201_official import ArchOrder

    space = get_space("nb201")
    return ArchOrder([space.arch_at(i) for i in range(space.size)], space.op_codes)


def locate(source: OfficialSource) -> Path:
    """Path of the source under sources_dir(); SourceMissingError saying where to put it if absent."""
    for name in source.candidates:
        path = sources_dir() / name
        if path.exists():
            return path
    expected = sources_dir() / source.candidates[0]
    how = source.where_to_get.format(expected=expected, folder=sources_dir())
    raise SourceMissingError(f"{source.family}: {expected} is missing; {how}, or convert it from anywhere with "
                             f"`nas-harness convert {source.kind} PATH`")


def _stores_of(source: OfficialSource, path: Path) -> Iterator[StoreData]:
    if source.kind == "nb201-pth":
        from tabular.converters import nb201_pth

        return nb201_pth.iter_stores(path, order=nb201_order())
    from tabular.converters import nats_tss

    return nats_tss.iter_stores(path, order=nb201_order())


def _spec(source: OfficialSource, dataset: str, hp: str) -> BenchmarkSpec:
    name = benchmark_name(source, dataset, hp)

    def check() -> None:
        locate(source)

    def build() -> StoreData:
        path = locate(source)
        mine: StoreData | None = None
        for data in _stores_of(source, path):
            if data.name == name:
                mine = data
            elif not store_path(data.name).is_file():
                # Our cache, written atomically: force only replaces a file that appeared meanwhile.
                write_store(data, store_path(data.name), force=True)
                log.info("cached sibling store %s", data.name)
        if mine is None:
            raise NasHarnessError(f"{path} holds no {dataset} results for the {hp}-epoch schedule, so {name} cannot "
                                  "be built from it")
        return mine

    return BenchmarkSpec(
        name=name,
        space="nb201",
        # No machine-specific path here: conf/benchmark/*.yaml quotes this text.
        source=f"official file {source.candidates[0]}, downloaded by the user into <data>/sources/",
        build=build,
        check_source=check,
    )


def specs() -> list[BenchmarkSpec]:
    return [_spec(source, ds, hp) for source in SOURCES for ds, hp in source.combos]


def _convert_nb201_pth(source: Path, out: Path | None, force: bool) -> list[Path]:
    from tabular.converters import nb201_pth

    return nb201_pth.convert(source, out or stores_dir(), order=nb201_order(), force=force)


def _convert_nats_tss(source: Path, out: Path | None, force: bool) -> list[Path]:
    from tabular.converters import nats_tss

    return nats_tss.convert(source, out or stores_dir(), order=nb201_order(), force=force)


def converters() -> dict[str, Callable[[Path, Path | None, bool], list[Path]]]:
    """`nas-harness convert` kinds of this module (see the module docstring)."""
    return {"nb201-pth": _convert_nb201_pth, "nats-tss": _convert_nats_tss}
