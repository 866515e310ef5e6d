"""Stores in the data folder that no other catalogue module knows, e.g. `nas-harness convert table`
results: listed under their own names so they can be queried, correlated and searched.

Modules are read in name order and a later module's entry replaces an earlier one of the same
name. The data folder also holds the caches of the built-in benchmarks (`stores/nb201/cifar10.h5`),
so this module skips every path that is a built-in benchmark's name: listing it here would replace
the spec of a module read earlier (analog) and say nothing new about the others. A store at such a
path that is *not* that benchmark's own cache (a converted table, or a store whose recorded name
differs) would be loaded in the benchmark's place, so it is reported with a warning.

It also offers the converter kind `table` (`nas-harness convert table FILE [--out PATH] [--force]`):
a user's CSV/Parquet table or JSON key -> record file (tabular.converters.generic_table,
tabular.converters.json_table) into one store file (`--out` a file or a folder; default the data
folder's store of the table's name). A store in the data folder needs no file in conf/benchmark/:
harness.config registers a config for every catalogue benchmark without one, so
`nas-harness run benchmark=<name>` works right after converting. The converter takes the search
spaces and the built-in names from here (`space_kit`), since tabular imports no higher layer.
"""
from __future__ import annotations

import importlib
import json
import logging
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.benchmarks import BenchmarkSpec
from tabular.data_dir import store_path, stores_dir
from tabular.errors import SourceMissingError, StoreError
from tabular.store import open_store
from tabular.writer import StoreData, write_store

if TYPE_CHECKING:  # the converter (and pandas) is imported only when converting
    from tabular.converters.generic_table import SpaceKit

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
        raise SourceMissingError(f"the store of {name} is gone; "
                                 "convert its table again with `nas-harness convert table FILE`")

    def check() -> None:
        build()

    return BenchmarkSpec(name=name, space=space, source="a store converted locally (nas-harness convert)",
                         build=build, check_source=check)


def _identity(path: Path) -> tuple[str, str] | None:
    """The recorded name and provenance format of a store, read from two attributes only; None if unreadable.

    Why not open_store: this runs for every cached built-in store whenever the catalogue is listed,
    i.e. at every `load_benchmark`, and checking a whole file's layout there cost ~15 ms per store.
    Only two attributes are read (no dataset), and the built-in's own loader checks the file fully.
    """
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            name = handle.attrs.get("name")
            provenance = json.loads(handle.attrs.get("provenance", "{}"))
    except (OSError, ValueError, TypeError, RecursionError):
        return None
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    fmt = provenance.get("format", "") if isinstance(provenance, dict) else ""
    return str(name), str(fmt)


def _warn_if_foreign(path: Path, builtin: str) -> None:
    """Warn when the store at a built-in benchmark's cache path is not that benchmark's store."""
    identity = _identity(path)
    if identity is None:
        return  # the built-in's loader reports a damaged cache itself
    recorded, fmt = identity
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


# -- `nas-harness convert table` ---------------------------------------------------------------------
def space_kit() -> SpaceKit:
    """The search spaces and built-in names a table converter needs (it imports no harness module)."""
    from harness.spaces import get_space
    from harness.spaces.base import ArchitectureError
    from harness.spaces.structured import PREFIX, SPEC_KEY, StructuredSpace, normalise_spec
    from tabular.converters.generic_table import SpaceKit

    return SpaceKit(get_space=get_space, structured=StructuredSpace, normalise_spec=normalise_spec,
                    error=ArchitectureError, builtin_names=builtin_names, structured_prefix=PREFIX, spec_key=SPEC_KEY)


def convert_table(source: Path) -> StoreData:
    """The store of a user's table (and its sidecar): tabular.converters.generic_table with our spaces."""
    from tabular.converters import generic_table

    return generic_table.convert_table(Path(source), space_kit())


def table_store_name(source: Path) -> str:
    """The store name a table converts to (sidecar `name`, else `table/<stem>`), checked against built-ins."""
    from tabular.converters import generic_table

    return generic_table.table_store_name(Path(source), space_kit())


def _convert_table(source: Path, out: Path | None, force: bool) -> list[Path]:
    name = table_store_name(source)
    if out is None:
        target = store_path(name)
    elif out.is_dir():
        target = out / f"{name}.h5"
    else:
        target = out
    if target.exists() and not force:  # before reading a possibly large table; write_store checks again, atomically
        raise StoreError(f"{target} already exists; pass --force (force=True) to overwrite it")
    return [write_store(convert_table(source), target, force=force)]


def converters() -> dict[str, Callable[[Path, Path | None, bool], list[Path]]]:
    """`nas-harness convert` kinds of this module: `table`."""
    return {"table": _convert_table}
