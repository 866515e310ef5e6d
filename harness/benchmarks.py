"""The benchmark catalogue: every known benchmark, where its data comes from, and loading it.

A benchmark is a search space plus a store. Stores of PyPI-backed benchmarks are converted on first
use and cached under the data folder (tabular.data_dir); official files the user downloads are
looked for in `<data>/sources/` and converted the same way, or converted explicitly with
`nas-harness convert`. Loading never downloads anything.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.spaces import SearchSpace, get_space
from tabular.data_dir import store_path
from tabular.errors import NasHarnessError, SourceMissingError
from tabular.protocol import Store
from tabular.schema import FORMAT_VERSION
from tabular.store import open_store
from tabular.writer import StoreData, write_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchmarkSpec:
    """How to obtain one benchmark's store. `build` raises SourceMissingError with instructions."""

    name: str
    space: str
    source: str
    build: Callable[[], StoreData]
    check_source: Callable[[], None]
    # For benchmarks built from files the user may add or replace (e.g. <data>/sources/hw): a cheap
    # fingerprint of those files. A cached store built from other files is rebuilt.
    fingerprint: Callable[[], str] | None = None
    # For benchmarks that are not a table (a surrogate over a space too large to tabulate, e.g.
    # nb301/yahpo on DARTS): opens the benchmark directly; `build` is then never called.
    open: Callable[[], Benchmark] | None = None


@dataclass
class Benchmark:
    """A loaded benchmark: the space strategies see and the store only the engine queries.

    `store` is any tabular.protocol.Store: a tabular.store.BenchmarkStore, or for a benchmark too
    large to tabulate a surrogates.benchmark.SurrogateStore (`store.tabulated` is False).
    """

    name: str
    space: SearchSpace
    store: Store

    @property
    def path(self) -> Path:
        """The store's file (a surrogate's model file for a benchmark answered on demand)."""
        return self.store.path


def rowless_spec(name: str, space: str, source: str, check_source: Callable[[], None],
                 open_benchmark: Callable[[], Benchmark]) -> BenchmarkSpec:
    """A spec for a benchmark without a store (a surrogate over a space too large to tabulate).

    Here rather than in `surrogates` so that listing the catalogue imports no surrogate code (it
    imports scipy and scikit-learn); `open_benchmark` imports it when the benchmark is opened.
    """

    def build() -> StoreData:
        raise NasHarnessError(f"benchmark {name!r} is answered by a surrogate model on demand and has no store "
                              "to build")

    return BenchmarkSpec(name=name, space=space, source=source, build=build, check_source=check_source,
                         open=open_benchmark)


def _catalogue() -> dict[str, BenchmarkSpec]:
    """Every module in harness.catalog contributes `specs()`; adding a family needs no edit here."""
    import importlib
    import pkgutil

    import harness.catalog as package

    catalogue: dict[str, BenchmarkSpec] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"harness.catalog.{info.name}")
        for spec in module.specs():
            catalogue[spec.name] = spec
    return catalogue


def benchmark_names() -> list[str]:
    """Every catalogue name, sorted."""
    return sorted(_catalogue())


def get_spec(name: str) -> BenchmarkSpec:
    """The catalogue entry of `name`; refuses an unknown name, listing the known ones."""
    catalogue = _catalogue()
    if name not in catalogue:
        raise NasHarnessError(f"unknown benchmark {name!r}; known benchmarks: {', '.join(sorted(catalogue))}")
    return catalogue[name]


def source_status(spec: BenchmarkSpec) -> str:
    """'ready' when the store is cached or its source is present, else the instruction to get it."""
    if spec.open is None and store_path(spec.name).is_file() and spec.fingerprint is None:
        return "ready"
    try:
        spec.check_source()
    except SourceMissingError as exc:
        return str(exc)
    return "ready (answered on demand)" if spec.open is not None else "ready (converted on first use)"


def ensure_store(name: str, *, rebuild: bool = False) -> Path:
    """Path of the benchmark's store, converting its source into the cache first if needed."""
    spec = get_spec(name)
    if spec.open is not None:
        raise NasHarnessError(f"benchmark {name!r} is answered by a surrogate model on demand and has no store file")
    path = store_path(name)
    fingerprint = spec.fingerprint() if spec.fingerprint else None
    if path.is_file() and not rebuild:
        with open_store(path, verify="lazy") as cached:  # metadata only; load_benchmark verifies the data
            recorded = cached.provenance.get("source_fingerprint")
            stored_name, version = cached.name, cached.format_version
        if stored_name != name and (fingerprint is None or recorded is None):
            # Not a cache we built (those record a fingerprint): never replace it, never serve it as `name`.
            raise NasHarnessError(f"{path} holds the store of {stored_name!r}, not {name!r}; move or delete that file "
                                  f"(delete it and {name} is converted again on first use)")
        # A store converted explicitly (`nas-harness convert`) records no fingerprint: keep it.
        if fingerprint is None or recorded is None:
            return path
        if recorded == fingerprint and stored_name == name and version >= FORMAT_VERSION:
            return path
        why = ("its sources changed" if recorded != fingerprint else
               f"it holds {stored_name!r}, not {name!r}" if stored_name != name else
               f"it has store format {version}, older than {FORMAT_VERSION} (no data checksum)")
        log.info("rebuilding the cached store %s: %s", path, why)
    log.info("converting %s into %s", name, path)
    data = spec.build()
    if fingerprint is not None:
        data.provenance["source_fingerprint"] = fingerprint
    # force=True is safe here: the cache is ours, and the write is atomic (temp file + rename),
    # so two processes converting at once both leave a whole, identical file.
    return write_store(data, path, force=True)


def load_benchmark(name: str) -> Benchmark:
    """Open a benchmark by catalogue name, converting its data on first use."""
    spec = get_spec(name)
    if spec.open is not None:
        return spec.open()
    store = open_store(ensure_store(name))
    try:
        # Spaces too large to enumerate (NB101: 423,624 cells found by search, not by formula) take
        # their index from the store's rows; every other space returns itself.
        space = get_space(spec.space).bind_store(store)
    except BaseException:
        store.close()
        raise
    return Benchmark(name=name, space=space, store=store)
