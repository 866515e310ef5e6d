"""Benchmark the trainer: seconds per epoch per architecture on the CPU, on digits.

For each network size (default: the official NB201 network C=16, N=5, and the reduced C=8, N=2)
and each of five NB201 cells spanning the cost range (all skip_connect, all avg_pool_3x3, a mixed
cell, the best cell of nb201/cifar10, all nor_conv_3x3), trains `--epochs` epochs on the digits
training split (1,078 images at 32x32, batch 256, NB201's optimiser) with `harness.trainer.train`
and reports, per epoch, the median wall seconds and CPU seconds (process time, all threads) over
epochs 2.. (the first epoch, which pays one-off start-up costs, is reported separately). Each
epoch is one call of `train` that resumes from the previous epoch's checkpoint, as `validate`
does after an interruption, so an epoch includes the evaluation of the 360 validation images and
the checkpoint write. CPU seconds are less sensitive than wall seconds to other processes on a
busy machine; the load average is printed. This is a benchmark, not a test.

    python scripts/bench_trainer.py                 # about 3-6 minutes on 2 cores
    python scripts/bench_trainer.py --sizes 16x5 --epochs 2 --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.trainer.data import load_digits  # noqa: E402
from harness.trainer.nb201_net import NB201Network  # noqa: E402
from harness.trainer.proxies import count_flops, count_parameters  # noqa: E402
from harness.trainer.train import TrainConfig, seeded_init, train  # noqa: E402

CELLS = {
    "all skip": "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "all avg_pool": "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
    "mixed": "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "best (cifar10)": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "all conv3x3": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="16x5,8x2", help="comma list of CxN network sizes (default 16x5,8x2)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per architecture (>= 2; default 3)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    splits = load_digits(0)
    cpu = torch.device("cpu")
    rows = []
    load_before = os.getloadavg()
    for size in args.sizes.split(","):
        c, n = (int(v) for v in size.lower().split("x"))
        for label, arch in CELLS.items():
            net = seeded_init(lambda arch=arch, c=c, n=n: NB201Network(arch, 10, C=c, N=n), 0)
            flops = count_flops(net, (3, 32, 32))
            config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size)
            walls, cpus = [], []
            with tempfile.TemporaryDirectory() as tmp:
                # One epoch per call, as an interrupted validation would run: each call pays the
                # checkpoint load and save, so the figures are what `validate` costs per epoch.
                for _ in range(args.epochs):
                    net = seeded_init(lambda arch=arch, c=c, n=n: NB201Network(arch, 10, C=c, N=n), 0)
                    w0, c0 = time.perf_counter(), time.process_time()
                    result = train(net, splits, config, device=cpu, threads=args.threads, checkpoint=Path(tmp) / "c.pt",
                                   identity={"arch": arch}, max_epochs_this_call=1)
                    walls.append(time.perf_counter() - w0)
                    cpus.append(time.process_time() - c0)
            row = {
                "C": c,
                "N": n,
                "cell": label,
                "params": count_parameters(net),
                "mflops": flops / 1e6,
                "first_epoch_s": walls[0],
                "epoch_s": statistics.median(walls[1:]),
                "epoch_cpu_s": statistics.median(cpus[1:]),
                "train_only_s": statistics.median(h["seconds"] for h in result.history[1:]),
                "valid_acc": result.valid_acc,
            }
            rows.append(row)
            print(
                f"C={c:<3d} N={n}  {label:<15s} {row['params'] / 1e6:6.3f} M params {row['mflops']:7.1f} MFLOPs  "
                f"epoch {row['epoch_s']:6.2f} s wall, {row['epoch_cpu_s']:6.2f} s CPU "
                f"(first {row['first_epoch_s']:6.2f} s)  "
                f"valid {result.valid_acc:5.1f} %",
                flush=True,
            )
    doc = {
        "rows": rows,
        "threads": args.threads,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "train_images": len(splits.y_train),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    print(f"threads {args.threads}, load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
