"""Benchmark one-shot NAS on nb201/cifar10 with digits: picked cells, their table accuracy, op drift.

Runs DARTS, GDAS, SPOS and the zero-cost search for 3 seeds with the `bench` preset below (CPU,
one thread), and prints Markdown tables for BENCHMARKS.md / docs/ONESHOT.md:
1. per method: final picked cell per seed, its table validation accuracy (seed mean, 200 epochs),
   regret against the table optimum, real seconds, supernet validation accuracy;
2. op histograms of the picked cells per epoch, summed over seeds (DARTS's drift to parameter-free
   ops shows up here when it happens);
3. random search at equal real compute: one real training of a random cell with the trainer at the
   same scale (C, N, epochs, data) is timed, n = floor(method seconds / that time) cells are drawn
   uniformly, and RS returns the best by the table's validation accuracy (what the tabular harness
   does). Its regret is averaged over 200 draws per seed count.

This is a benchmark, not a test. It uses a temporary NAS_HARNESS_DATA unless --data is given.

    python scripts/bench_oneshot.py            # bench preset (a few minutes on one core)
    python scripts/bench_oneshot.py --quick    # 3 epochs, 512 images per split
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import tempfile
import time

import numpy as np
import pandas as pd

BENCH = {"C": 4, "N": 1, "epochs": 10, "batch_size": 64, "input_size": 16, "data_limit": None,
         "spos_candidates": 30, "zerocost_samples": 100}
SEEDS = (0, 1, 2)
METHODS = ("darts", "gdas", "spos", "zerocost")


def _real_training_seconds(cfg, seed: int) -> float:
    """Seconds to really train one random cell with the trainer at the supernet's scale."""
    import torch

    from harness.oneshot.search import _load_data
    from harness.spaces.nb201 import format_arch
    from harness.trainer import build_network
    from harness.trainer.train import TrainConfig, seeded_init, train

    splits = _load_data(cfg)
    codes = np.random.default_rng(seed).integers(0, 5, 6)
    net = seeded_init(lambda: build_network("nb201", format_arch(codes), 10, C=cfg.C, N=cfg.N), seed)
    started = time.perf_counter()
    train(net, splits, TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.w_lr, seed=seed),
          device=torch.device("cpu"), threads=cfg.threads)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", default=None)
    parser.add_argument("--csv", default=None, help="also write all per-epoch rows here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ["NAS_HARNESS_DATA"] = args.data or tempfile.mkdtemp(prefix="nas_oneshot_")

    from harness.benchmarks import load_benchmark
    from harness.oneshot import OneShotConfig, run_oneshot
    from harness.oneshot.search import OP_COLUMNS

    preset = {**BENCH, **({"epochs": 3, "data_limit": 512, "zerocost_samples": 30} if args.quick else {})}
    cfg = OneShotConfig(**preset)
    frames = [run_oneshot(m, "nb201/cifar10", s, cfg) for m in METHODS for s in SEEDS]
    rows = pd.concat(frames, ignore_index=True)
    if args.csv:
        rows.drop(columns=["alpha"], errors="ignore").to_csv(args.csv, index=False)

    bench = load_benchmark("nb201/cifar10")
    valid = np.asarray(bench.store.seed_mean("valid_acc"))
    optimum = float(np.nanmax(valid))
    per_train = float(np.mean([_real_training_seconds(cfg, s) for s in SEEDS]))

    print(f"preset: {preset}; table optimum (seed-mean valid_acc) {optimum:.3f}; "
          f"one real training at this scale: {per_train:.2f} s\n")
    print("| method | seed | picked cell (last epoch) | table valid % | regret | supernet valid % | seconds | RS regret at equal seconds (n cells) |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for frame in frames:
        last = frame.iloc[-1]
        n = max(1, int(math.floor(last["seconds"] / per_train)))
        draws = rng.integers(0, len(valid), size=(200, n))
        rs = float(np.mean(optimum - np.nanmax(valid[draws], axis=1)))
        sv = "n/a" if np.isnan(last["valid_acc"]) else f"{last['valid_acc']:.1f}"
        print(f"| {last['method']} | {last['seed']} | `{last['arch']}` | {last['valid_mean']:.2f} | {last['regret']:.2f} | {sv} | "
              f"{last['seconds']:.1f} | {rs:.2f} ({n}) |")
    print("\nOp histogram of the picked cells (6 edges x 3 seeds = 18 per row), per epoch:\n")
    print("| method | epoch | " + " | ".join(c[3:] for c in OP_COLUMNS) + " | mean table valid % |")
    print("|---|---|" + "---|" * (len(OP_COLUMNS) + 1))
    supernet = rows[rows["method"] != "zerocost"]
    for (method, epoch), group in supernet.groupby(["method", "epoch"], sort=False):
        counts = " | ".join(str(int(group[c].sum())) for c in OP_COLUMNS)
        print(f"| {method} | {epoch} | {counts} | {group['valid_mean'].mean():.2f} |")
    bench.store.close()


if __name__ == "__main__":
    main()
