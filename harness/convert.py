"""`nas-harness convert KIND SOURCE`: the converter kinds offered by the catalogue modules.

Each module in harness.catalog may define `converters() -> dict[kind, ConvertFn]`, where a
ConvertFn(source, out, force) writes one or more stores and returns their paths. `out` is a file for
single-store kinds and a folder for kinds that produce several stores; None means the data folder.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from pathlib import Path

from tabular.errors import NasHarnessError, SourceMissingError

ConvertFn = Callable[[Path, "Path | None", bool], list[Path]]


def converter_kinds() -> dict[str, ConvertFn]:
    import harness.catalog as package

    kinds: dict[str, ConvertFn] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"harness.catalog.{info.name}")
        if hasattr(module, "converters"):
            kinds.update(module.converters())
    return kinds


def convert(kind: str, source: Path, out: Path | None, *, force: bool = False, skip_bad: bool = False) -> list[Path]:
    """Run converter `kind`; `skip_bad` (skip and count corrupt records) only where the kind offers it."""
    kinds = converter_kinds()
    if kind not in kinds:
        raise NasHarnessError(f"unknown converter kind {kind!r}; choose one of {', '.join(sorted(kinds)) or 'none'}")
    if not source.exists():
        raise SourceMissingError(f"{source} does not exist; pass the path of the downloaded file or folder")
    fn = kinds[kind]
    if skip_bad:
        if "skip_bad" not in inspect.signature(fn).parameters:
            raise NasHarnessError(f"converter {kind!r} has no --skip-bad; it reads whole files and stops at the first "
                                  "error")
        return fn(source, out, force, skip_bad=True)
    return fn(source, out, force)
