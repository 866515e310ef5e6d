"""Fitted surrogates saved under `<data>/surrogates/<name>/` as benchmarks `surrogate/<name>`.

A surrogate of an enumerable space (nb201, nbgraph) is written out once as an ordinary store
(`<data>/stores/surrogate/<name>.h5`, rebuilt when the surrogate is refitted), so it runs exactly
like a table. A surrogate of the DARTS space is answered on demand (surrogates.benchmark.SurrogateStore,
a store that is not `tabulated`). `open_benchmark` opens any surrogate benchmark on demand, never
materialised (also nb301/...): what `nas-harness surrogate` uses to reach a predictor.

Their `source` starts with "a store converted locally" so that scripts/gen_configs.py, which ships
config files only for the project's own benchmarks, leaves these user-made ones out; in a grid,
name one with `benchmark.name=surrogate/<name>` (or add conf/benchmark/surrogate/<name>.yaml).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from harness.benchmarks import Benchmark, BenchmarkSpec, rowless_spec
from harness.spaces import get_space
from tabular.data_dir import data_dir
from tabular.errors import NasHarnessError, SourceMissingError
from tabular.hashing import sha256_file

log = logging.getLogger(__name__)

SOURCE_PREFIX = "a store converted locally from a fitted surrogate (nas-harness surrogate fit)"
REFERENCE = {"n_sample": 2_000, "n_starts": 3, "max_steps": 50}
TABLE_SPACES = ("structured:", "ids:")  # spaces whose architectures exist only with their table's store
MANIFEST_NAME = "surrogate.json"  # surrogates.fitted.MANIFEST (a test checks they agree)


def _folder(name: str) -> Path:
    from surrogates.fitted import MANIFEST, check_name, surrogates_dir

    folder = surrogates_dir() / check_name(name)
    if not (folder / MANIFEST).is_file():
        raise SourceMissingError(f"no fitted surrogate {name!r} in {surrogates_dir()}; fit it with `nas-harness "
                                 f"surrogate fit {name} ...`")
    return folder


def open_benchmark(name: str) -> Benchmark:
    """A surrogate benchmark answered on demand, whatever its space: `surrogate/<name>` or `nb301/...`.

    Unlike `load_benchmark`, never writes a materialised store: callers that want the predictor itself
    (`nas-harness surrogate judge`) or a benchmark of any size use this.
    """
    from surrogates.benchmark import SurrogateStore
    from surrogates.fitted import load_surrogate

    if name.startswith("nb301/"):
        from harness.catalog import nb301

        return nb301.open_benchmark(name)
    if not name.startswith("surrogate/"):
        raise NasHarnessError(f"{name!r} is not a surrogate benchmark; name one as surrogate/<name> or nb301/...")
    short = name.removeprefix("surrogate/")
    surrogate = load_surrogate(_folder(short))
    space = get_space(surrogate.space)
    store = SurrogateStore(surrogate, name=name, space=space, reference=REFERENCE)
    return Benchmark(name=name, space=space, store=store)


def _spec(short: str, manifest: dict[str, Any]) -> BenchmarkSpec:
    from surrogates.benchmark import MATERIALISE_MAX, materialise
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

    return BenchmarkSpec(name=name, space=space, source=source, build=build, check_source=check,
                         fingerprint=fingerprint)


def specs() -> list[BenchmarkSpec]:
    """One spec per fitted surrogate under `<data>/surrogates/` (none, cheaply, when there are none)."""
    # Without a fitted surrogate there is nothing to list: return before importing surrogates.fitted
    # (it imports scipy), so that listing the catalogue stays light for everyone who has none.
    root = data_dir() / "surrogates"
    if not root.is_dir() or next(root.rglob(MANIFEST_NAME), None) is None:
        return []
    from surrogates.fitted import read_manifest, saved_surrogates

    found = []
    for short, folder in saved_surrogates():
        try:
            manifest = read_manifest(folder)
            if str(manifest["space"]).startswith(TABLE_SPACES):
                # Its architectures are a converted table's rows: judge it (`surrogate judge --surrogate`),
                # but it is no benchmark of its own (docs/BENCHMARKS_DATA.md).
                log.debug("surrogate %s of space %s is not listed as a benchmark", short, manifest["space"])
                continue
            found.append(_spec(short, manifest))
        except NasHarnessError as exc:
            log.warning("skipping surrogate %s: %s", folder, exc)
    return found
