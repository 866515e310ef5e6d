"""Stores in the data folder that no other catalogue module knows, e.g. `nas-harness convert table`
results: listed under their own names so they can be queried, correlated and searched.

Modules are read in name order and a later module's entry replaces an earlier one of the same
name, so this module ("local") only fills names nobody else defines.
"""
from __future__ import annotations

import logging

from harness.benchmarks import BenchmarkSpec
from harness.data_dir import stores_dir
from tabular.errors import SourceMissingError, StoreError
from tabular.store import open_store
from tabular.writer import StoreData

log = logging.getLogger(__name__)


def _spec(name: str, space: str) -> BenchmarkSpec:
    def build() -> StoreData:
        raise SourceMissingError(f"the store of {name} is gone; convert its table again with `nas-harness convert table FILE`")

    def check() -> None:
        build()

    return BenchmarkSpec(name=name, space=space, source="a store converted locally (nas-harness convert)",
                         build=build, check_source=check)


def specs() -> list[BenchmarkSpec]:
    root = stores_dir()
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*.h5")):
        name = path.relative_to(root).with_suffix("").as_posix()
        try:
            with open_store(path) as store:
                found.append(_spec(name, store.search_space))
        except StoreError as exc:
            log.warning("skipping %s: %s", path, exc)
    return found
