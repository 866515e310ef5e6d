"""Benchmark one-shot NAS on a benchmark with digits: picked cells, their benchmark accuracy, op
drift, seconds per supernet epoch, and RS / RE at equal real compute.

Runs DARTS (first and second order), GDAS, SPOS (evolutionary search) and the zero-cost search for
3 seeds with the `bench` preset below (CPU, one thread) on `nb201/cifar10` (default) or on the DARTS
space with `--benchmark nb301/yahpo` (YAHPO's NB301 surrogate; needs its files, docs/SURROGATES.md),
and prints Markdown tables for BENCHMARKS.md / docs/ONESHOT.md:
1. per method and seed: final picked cell, its benchmark validation accuracy, regret, real
   seconds, seconds per supernet epoch, supernet validation accuracy;
2. op histograms of the picked cells per epoch, summed over seeds (DARTS's drift to parameter-free
   ops shows up here when it happens);
3. random search and regularized evolution at equal real compute: one real training of a random
   cell with the trainer at the same scale (C, N or layers, epochs, data) is timed; RS and RE then
   get n = floor(method seconds / that time) evaluations: RS's expected final regret is exact on a
   table (harness.report.reference) and averaged over 100 engine seeds (--baseline-seeds)
   otherwise; RE's is the mean +- standard error over 100 engine seeds. That is what a tabular
   strategy buys with the same real training budget.
4. `--memory`: the supernet memory estimate (harness.oneshot.memory) next to the measured peak
   resident memory of one real training step, in fresh processes, and the estimates of the paper
   presets (conf/strategy/*_paper.yaml).

This is a benchmark, not a test. It uses a temporary NAS_HARNESS_DATA unless --data is given.

    python scripts/bench_oneshot.py                          # nb201/cifar10, bench preset
    python scripts/bench_oneshot.py --benchmark nb301/yahpo --epochs 5 --data-limit 512  # DARTS space
                                   # (NAS_HARNESS_DATA must hold the YAHPO files, docs/SURROGATES.md)
    python scripts/bench_oneshot.py --quick                  # 3 epochs, 512 images per split
    python scripts/bench_oneshot.py --methods darts --epochs 30 --set C=8 --set N=2   # a larger DARTS run
    python scripts/bench_oneshot.py --memory-only            # only the memory table
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

BENCH = {"C": 4, "N": 1, "layers": 5, "epochs": 10, "batch_size": 64, "input_size": 16, "data_limit": None,
         "spos_population": 10, "spos_iterations": 3, "spos_topk": 4, "zerocost_samples": 100}
SEEDS = (0, 1, 2)
# (label, method, overrides)
VARIANTS = (
    ("darts", "darts", {}),
    ("darts-2nd", "darts", {"darts_order": 2}),
    ("gdas", "gdas", {}),
    ("spos", "spos", {}),
    ("spos-bn", "spos", {"spos_bn_batches": 5}),
    ("zerocost", "zerocost", {}),
)
BASELINE_SEEDS = 100
PRESETS = ("darts_nb201_paper", "darts2_nb201_paper", "gdas_nb201_paper", "spos_nb201_paper", "darts_nb301_paper")


def _real_training_seconds(cfg, space: str, seed: int) -> float:
    """Seconds to really train one random cell with the trainer at the supernet's scale."""
    import torch

    from harness.oneshot import oneshot_space
    from harness.oneshot.search import _load_data
    from harness.trainer import build_network
    from harness.trainer.train import TrainConfig, seeded_init, train

    kit = oneshot_space(space)
    splits = _load_data(cfg)
    genome = np.random.default_rng(seed).integers(0, np.asarray(kit.radices))
    arch = kit.arch_of_genome(genome)
    net = seeded_init(lambda: build_network(space, arch, splits.num_classes, C=cfg.C, N=kit.network_depth(cfg)), seed)
    started = time.perf_counter()
    train(net, splits, TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.w_lr, seed=seed),
          device=torch.device("cpu"), threads=cfg.threads)
    return time.perf_counter() - started


def _engine_regret(bench, strategy: str, n: int, seeds: int) -> tuple[float, float]:
    """(mean, standard error) of the final regret after n evaluations over `seeds` engine seeds."""
    from harness.engine import Budget, run_search

    finals = [
        float(run_search(bench, strategy, seed=s, budget=Budget(evaluations=n), seed_policy="mean")["regret"].iloc[-1])
        for s in range(seeds)
    ]
    return float(np.mean(finals)), float(np.std(finals, ddof=1) / math.sqrt(len(finals)))


def _rs_regret(bench, n: int, seeds: int) -> str:
    """Random search's expected regret after n draws: exact on a table (harness.report.reference,
    without replacement, seed-mean selection), else the engine's mean over `seeds` seeds."""
    if bench.store.tabulated:
        from harness.report.reference import rs_reference

        return f"{float(rs_reference(bench.store, np.asarray([n]), seed_policy='mean').regret[0]):.2f} (exact)"
    mean, se = _engine_regret(bench, "rs", n, seeds)
    return f"{mean:.2f} ± {se:.2f}"


# -- memory: estimate vs measured peak RSS --------------------------------------------------------
_MEASURE = r"""
import json, resource, sys, torch
from torch.nn import functional as F
from harness.oneshot import OneShotConfig, oneshot_space
from harness.oneshot.search import input_spec, memory_estimate
cfg = OneShotConfig(**json.loads(sys.argv[1]))
torch.set_num_threads(1)
space = oneshot_space(sys.argv[2])
shape, classes = input_spec(cfg)
weights = torch.full(space.alpha_shape, 1.0 / space.alpha_shape[-1])
est = memory_estimate("darts", space, cfg)
model = space.build(classes, 3, cfg)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x, y = torch.randn(cfg.batch_size, *shape), torch.randint(0, classes, (cfg.batch_size,))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
for _ in range(2):
    opt.zero_grad(); F.cross_entropy(model(x, weights), y).backward(); opt.step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"estimate": est.total_bytes, "measured": peak - base}))
"""


def memory_table() -> None:
    from harness.oneshot import OneShotConfig, oneshot_space
    from harness.oneshot.memory import GIB

    print("| space | C | N / layers | batch | input | estimate (MiB) | measured peak RSS growth (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for space, cfg in (("nb201", {"C": 8, "N": 2, "batch_size": 64, "input_size": 32}),
                       ("nb201", {"C": 16, "N": 5, "batch_size": 32, "input_size": 32}),
                       ("darts", {"C": 8, "layers": 5, "batch_size": 32, "input_size": 32})):
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, json.dumps(cfg), space], capture_output=True, text=True, check=True
        )
        m = json.loads(out.stdout.strip().splitlines()[-1])
        depth = cfg.get("N") if space == "nb201" else cfg.get("layers")
        print(
            f"| {space} | {cfg['C']} | {depth} | {cfg['batch_size']} | {cfg['input_size']} | "
            f"{m['estimate'] / 2**20:.0f} | "
            f"{m['measured'] / 2**20:.0f} |"
        )
    from hydra import compose, initialize_config_dir

    from harness.config import CONF_DIR, register_configs
    from harness.oneshot.search import memory_estimate

    register_configs()
    print("\n| paper preset | method | space | estimated training memory (GiB) |\n|---|---|---|---|")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        for preset in PRESETS:
            strategy = dict(compose(config_name="config", overrides=[f"strategy={preset}"]).strategy)
            method = strategy.pop("name")
            space = oneshot_space("darts" if "nb301" in preset else "nb201")
            est = memory_estimate(method, space, OneShotConfig(**strategy))
            print(f"| {preset} | {method} | {space.name} | {est.total_bytes / GIB:.2f} |")

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="nb201/cifar10")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--data-limit", type=int, default=None, help="images per split (default: all)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=INT",
                        help="override an integer setting of the preset, e.g. --set C=8 --set N=2")
    parser.add_argument("--baseline-seeds", type=int, default=BASELINE_SEEDS, help="engine seeds for RS and RE")
    parser.add_argument("--methods", default=",".join(v[0] for v in VARIANTS))
    parser.add_argument("--data", default=None)
    parser.add_argument("--csv", default=None, help="also write all per-epoch rows here")
    parser.add_argument("--memory", action="store_true", help="also print the memory table")
    parser.add_argument("--memory-only", action="store_true")
    args = parser.parse_args()
    if args.csv and os.path.exists(args.csv):
        parser.error(f"{args.csv} exists; choose another --csv path (nothing is overwritten)")
    logging.basicConfig(level=logging.WARNING)
    if args.memory_only:
        memory_table()
        return
    os.environ["NAS_HARNESS_DATA"] = (
        args.data or os.environ.get("NAS_HARNESS_DATA") or tempfile.mkdtemp(prefix="nas_oneshot_")
    )

    from harness.benchmarks import load_benchmark
    from harness.oneshot import OneShotConfig, oneshot_space, run_oneshot

    preset = {**BENCH, **({"epochs": 3, "data_limit": 512, "zerocost_samples": 30} if args.quick else {})}
    if args.epochs:
        preset["epochs"] = args.epochs
    if args.data_limit:
        preset["data_limit"] = args.data_limit
    for item in args.set:
        key, _, value = item.partition("=")
        preset[key] = int(value)
    cfg = OneShotConfig(**preset)
    bench = load_benchmark(args.benchmark)
    space = oneshot_space(bench.space.name)
    wanted = args.methods.split(",")
    frames = []
    for label, method, extra in VARIANTS:
        if label not in wanted:
            continue
        for seed in SEEDS:
            frame = run_oneshot(method, args.benchmark, seed, {**preset, **extra})
            frame.insert(0, "variant", label)
            frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    if args.csv:
        rows.drop(columns=["alpha"], errors="ignore").to_csv(args.csv, index=False)
    per_train = float(np.mean([_real_training_seconds(cfg, space.name, s) for s in SEEDS]))
    optimum = frames[0].attrs["table_optimum"]

    print(f"benchmark {args.benchmark} ({space.name} space); preset: {preset}; optimum {optimum:.3f}; "
          f"one real training of a random cell at this scale: {per_train:.2f} s\n")
    print(
        "| method | seed | picked cell (last epoch) | benchmark valid % | regret | supernet valid % "
        "| seconds | s / epoch |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for frame in frames:
        last = frame.iloc[-1]
        sv = "n/a" if np.isnan(last["valid_acc"]) else f"{last['valid_acc']:.1f}"
        per_epoch = "n/a" if last["method"] == "zerocost" else f"{last['seconds'] / last['epoch']:.2f}"
        print(
            f"| {last['variant']} | {last['seed']} | `{last['arch']}` | {last['valid_mean']:.2f} | "
            f"{last['regret']:.2f} | {sv} | "
            f"{last['seconds']:.1f} | {per_epoch} |"
        )

    print(
        f"\nAt equal real compute (n = floor(seconds / {per_train:.2f} s) evaluations; "
        "RS: exact expectation on a table, "
        f"else mean ± s.e. over {args.baseline_seeds} engine seeds; "
        f"RE: mean ± s.e. of the final regret over {args.baseline_seeds} engine seeds):\n"
    )
    print("| method | mean regret (3 seeds) | mean seconds | n evaluations | RS regret | RE regret |")
    print("|---|---|---|---|---|---|")
    for label in dict.fromkeys(rows["variant"]):
        last = rows[rows["variant"] == label].groupby("seed").tail(1)
        seconds = float(last["seconds"].mean())
        n = max(1, int(math.floor(seconds / per_train)))
        print(
            f"| {label} | {last['regret'].mean():.2f} ± {last['regret'].std(ddof=1):.2f} | {seconds:.1f} | {n} | "
            f"{_rs_regret(bench, n, args.baseline_seeds)} | "
            f"{'{:.2f} ± {:.2f}'.format(*_engine_regret(bench, 're', n, args.baseline_seeds))} |"
        )

    op_columns = [f"op_{name}" for name in space.op_names]
    slots = len(SEEDS) * (6 if space.name == "nb201" else 16)
    print(f"\nOp histogram of the picked cells ({slots} op slots per row: {len(SEEDS)} seeds), per epoch:\n")
    print("| method | epoch | " + " | ".join(c[3:] for c in op_columns) + " | mean benchmark valid % |")
    print("|---|---|" + "---|" * (len(op_columns) + 1))
    supernet = rows[rows["method"] != "zerocost"]
    for (label, epoch), group in supernet.groupby(["variant", "epoch"], sort=False):
        counts = " | ".join(str(int(group[c].sum())) for c in op_columns)
        print(f"| {label} | {epoch} | {counts} | {group['valid_mean'].mean():.2f} |")
    bench.store.close()
    if args.memory:
        print()
        memory_table()


if __name__ == "__main__":
    main()
