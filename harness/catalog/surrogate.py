"""Fitted surrogates saved under `<data>/surrogates/<name>/` as benchmarks `surrogate/<name>`.

A surrogate of an enumerable space (nb201, nbgraph) is written out once as an ordinary store
(`<data>/stores/surrogate/<name>.h5`, rebuilt when the surrogate is refitted), so it runs exactly
like a table. A surrogate of the DARTS space is answered on demand (surrogates.benchmark), which
needs the engine's row-less benchmark support.

Their `source` starts with "a store converted locally" so that scripts/gen_configs.py, which ships
config files only for the project's own benchmarks, leaves these user-made ones out; in a grid,
name one with `benchmark.name=surrogate/<name>` (or add conf/benchmark/surrogate/<name>.yaml).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from harness.benchmarks import Benchmark, BenchmarkSpec
from harness.data_dir import data_dir
from harness.spaces import get_space
from tabular.errors import NasHarnessError, SourceMissingError
from tabular.hashing import sha256_file

log = logging.getLogger(__name__)

SOURCE_PREFIX = "a store converted locally from a fitted surrogate (nas-harness surrogate fit)"
REFERENCE = {"n_sample": 2_000, "n_starts": 3, "max_steps": 50}
MANIFEST_NAME = "surrogate.json"  # surrogates.fitted.MANIFEST (a test checks they agree)


def _folder(name: str) -> Path:
    from surrogates.fitted import MANIFEST, check_name, surrogates_dir

    folder = surrogates_dir() / check_name(name)
    if not (folder / MANIFEST).is_file():
        raise SourceMissingError(f"no fitted surrogate {name!r} in {surrogates_dir()}; fit it with `nas-harness surrogate fit {name} ...`")
    return folder


def open_benchmark(name: str) -> Benchmark:
    """`surrogate/<name>` answered on demand (any space)."""
    from surrogates.benchmark import SurrogateStore
    from surrogates.fitted import load_surrogate

    short = name.removeprefix("surrogate/")
    surrogate = load_surrogate(_folder(short))
    space = get_space(surrogate.space)
    store = SurrogateStore(surrogate, name=name, space=space, reference=REFERENCE)  # type: ignore[arg-type]
    return Benchmark(name=name, space=space, store=store)  # type: ignore[arg-type]


def _spec(short: str, manifest: dict[str, Any]) -> BenchmarkSpec:
    from surrogates.benchmark import MATERIALISE_MAX, materialise, rowless_spec
    from surrogates.fitted import MANIFEST, load_surrogate

    name = f"surrogate/{short}"
    space = manifest["space"]
    models = ", ".join(f"{m}: {e['model']} x{e['n_members']}" for m, e in manifest["metrics"].items())
    source = f"{SOURCE_PREFIX}: {models}; trained on {manifest.get('training', {}).get('name', '?')}"

    def check() -> None:
        _folder(short)

    if get_space(space).size > MATERIALISE_MAX:
        return rowless_spec(name, space, source, check, lambda: open_benchmark(name))

    def build() -> Any:
        return materialise(load_surrogate(_folder(short)), name=name)

    def fingerprint() -> str:
        return sha256_file(_folder(short) / MANIFEST)

    return BenchmarkSpec(name=name, space=space, source=source, build=build, check_source=check, fingerprint=fingerprint)


def specs() -> list[BenchmarkSpec]:
    # Without a fitted surrogate there is nothing to list: return before importing surrogates.fitted
    # (it imports scipy), so that listing the catalogue stays light for everyone who has none.
    root = data_dir() / "surrogates"
    if not root.is_dir() or next(root.rglob(MANIFEST_NAME), None) is None:
        return []
    from surrogates.fitted import read_manifest, saved_surrogates

    found = []
    for short, folder in saved_surrogates():
        try:
            found.append(_spec(short, read_manifest(folder)))
        except NasHarnessError as exc:
            log.warning("skipping surrogate %s: %s", folder, exc)
    return found
