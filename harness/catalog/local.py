"""Stores in the data folder that no other catalogue module knows, e.g. `nas-harness convert table`
results: listed under their own names so they can be queried, correlated and searched.

Modules are read in name order and a later module's entry replaces an earlier one of the same
name. The data folder also holds the caches of the built-in benchmarks (`stores/nb201/cifar10.h5`),
so this module skips every path that is a built-in benchmark's name: listing it here would replace
the spec of a module read earlier (analog) and say nothing new about the others. A store at such a
path that is *not* that benchmark's own cache (a converted table, or a store whose recorded name
differs) would be loaded in the benchmark's place, so it is reported with a warning.
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path

from harness.benchmarks import BenchmarkSpec
from harness.data_dir import stores_dir
from tabular.errors import SourceMissingError, StoreError
from tabular.store import open_store
from tabular.writer import StoreData

log = logging.getLogger(__name__)

# Catalogue modules that list what the user made (converted tables, fitted surrogates), not what
# nas-harness ships.
USER_MODULES = ("local", "surrogate")
TABLE_FORMAT = "generic table"  # provenance "format" prefix of `nas-harness convert table` stores


def builtin_names() -> set[str]:
    """Names of the benchmarks nas-harness ships: every catalogue module's but the user-made ones."""
    import harness.catalog as package

    names: set[str] = set()
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in USER_MODULES:
            continue
        module = importlib.import_module(f"harness.catalog.{info.name}")
        names.update(spec.name for spec in module.specs())
    return names


def _spec(name: str, space: str) -> BenchmarkSpec:
    def build() -> StoreData:
        raise SourceMissingError(f"the store of {name} is gone; convert its table again with `nas-harness convert table FILE`")

    def check() -> None:
        build()

    return BenchmarkSpec(name=name, space=space, source="a store converted locally (nas-harness convert)",
                         build=build, check_source=check)


def _warn_if_foreign(path: Path, builtin: str) -> None:
    """Warn when the store at a built-in benchmark's cache path is not that benchmark's store."""
    try:
        with open_store(path, verify="lazy") as store:
            recorded = store.name
            fmt = str(store.provenance.get("format", ""))
    except StoreError:
        return  # the built-in's loader reports a damaged cache itself
    if recorded != builtin or fmt.startswith(TABLE_FORMAT):
        log.warning("ignoring %s as a local store: its path shadows the built-in benchmark %s (the store is %r, %s); "
                    "`%s` would load it: move it away (convert the table under another name) to restore the built-in",
                    path, builtin, recorded, fmt or "of unknown format", builtin)


def specs() -> list[BenchmarkSpec]:
    root = stores_dir()
    if not root.is_dir():
        return []
    builtin = {n.lower(): n for n in builtin_names()}
    found = []
    for path in sorted(root.rglob("*.h5")):
        name = path.relative_to(root).with_suffix("").as_posix()
        clash = builtin.get(name.lower())
        if clash is not None:  # compared ignoring case: some file systems do
            _warn_if_foreign(path, clash)
            continue
        try:
            with open_store(path, verify="lazy") as store:  # only its attributes are read
                found.append(_spec(name, store.search_space))
        except StoreError as exc:
            log.warning("skipping %s: %s", path, exc)
    return found
