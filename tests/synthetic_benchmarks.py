"""Small synthetic NB201-space benchmarks for strategy tests (multi-fidelity, multi-objective).

Real NB201 data in this project has a single fidelity (200 epochs), so multi-fidelity strategies
are tested on stores built here: every NB201 cell gets a closed-form quality from its op codes, its
validation accuracy rises with the fidelity towards that quality with seed noise shrinking as
training gets longer, and its training time is cumulative and proportional to the fidelity (the
store convention of docs/FORMAT.md). Static `params` and `latency` give extra objectives.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.benchmarks import Benchmark
from harness.spaces import get_space
from tabular.store import open_store
from tabular.writer import MetricArray, StaticMetric, StoreData, write_store

OP_QUALITY = np.array([0.0, 0.45, 0.7, 1.0, 0.35])  # none, skip, conv1x1, conv3x3, avg_pool
OP_PARAMS = np.array([0.0, 0.0, 0.02, 0.16, 0.0])  # millions of parameters an op adds per edge
EDGE_WEIGHT = np.array([1.0, 0.6, 0.6, 1.0, 0.8, 0.8])


def quality(codes: np.ndarray) -> np.ndarray:
    """Closed-form quality in [0, 1] of (n, 6) NB201 op codes: weighted mean op quality."""
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, 6)
    return (OP_QUALITY[codes] * EDGE_WEIGHT).sum(axis=1) / EDGE_WEIGHT.sum()


def params(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, 6)
    return 0.08 + OP_PARAMS[codes].sum(axis=1)


def build_store_data(
    fidelities: tuple[float, ...] = (1, 3, 9, 27, 81),
    n_seeds: int = 2,
    seed: int = 0,
    nan_fraction: float = 0.0,
    name: str = "synthetic/nb201-mf",
) -> StoreData:
    """StoreData over all 15,625 NB201 cells (rows in official order)."""
    space = get_space("nb201")
    codes = space.op_codes
    n = space.size
    rng = np.random.default_rng(seed)
    fid = np.asarray(fidelities, dtype=float)
    q = quality(codes) + rng.normal(0.0, 0.02, n)  # arch-specific deviation from the closed form
    progress = fid / (fid + 0.15 * fid[-1])  # learning curve, increasing in the fidelity
    mean = 10.0 + 80.0 * q[:, None] * (progress / progress[-1])[None, :]  # (n, F)
    noise = rng.normal(0.0, 1.0, (n, n_seeds, fid.size)) * (2.0 / np.sqrt(fid))[None, None, :]
    valid = mean[:, None, :] + noise
    test = valid - 0.5 + rng.normal(0.0, 0.3, valid.shape)
    per_unit = 5.0 + 20.0 * (codes >= 2).sum(axis=1)  # seconds per fidelity unit, more for convs
    time = per_unit[:, None, None] * fid[None, None, :] * (1.0 + 0.05 * rng.random((n, n_seeds, 1)))
    if nan_fraction > 0:
        unmeasured = rng.random(n) < nan_fraction
        valid[unmeasured] = np.nan
        test[unmeasured] = np.nan
    p = params(codes)
    return StoreData(
        name=name,
        search_space="nb201",
        arch_strings=[space.arch_at(i) for i in range(n)],
        arch_encoding=codes,
        fidelities=fid,
        seeds=np.arange(n_seeds),
        metrics={
            "valid_acc": MetricArray(valid, "%", True, "synthetic validation accuracy"),
            "test_acc": MetricArray(test, "%", True, "synthetic test accuracy"),
            "train_time": MetricArray(time, "s", False, "synthetic cumulative training time"),
        },
        static={
            "params": StaticMetric(p, "M", "params", "", "synthetic parameter count"),
            "latency": StaticMetric(0.001 + 0.01 * p + 0.0005 * (codes > 0).sum(axis=1), "s", "latency", "synthetic"),
        },
        valid_metric="valid_acc",
        test_metric="test_acc",
        cost_metric="train_time",
        provenance={"notes": "synthetic store for tests (tests/synthetic_benchmarks.py)"},
    )


def synthetic_benchmark(path: Path, **kwargs) -> Benchmark:
    """Write the synthetic store to `path` and open it as a Benchmark (caller closes the store)."""
    data = build_store_data(**kwargs)
    write_store(data, path)
    return Benchmark(data.name, get_space("nb201"), open_store(path))
