"""Command-line front ends of `nas-harness validate` and `nas-harness proxies` (app layer).

Why here and not in `harness/trainer/`: both commands read results folders and open benchmarks of
the catalogue, which the trainer (a low-level PyTorch library) must not import. `add_parser(subparsers)`
adds both sub-commands to the main parser (harness/cli.py wires it in); each sets `func`, which
returns the exit status. User errors are NasHarnessError (one line).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0")
    return value


def _at_least_one(text: str) -> int:
    value = _positive(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be >= 1")
    return value


def _add_training_args(p: argparse.ArgumentParser, schedule: bool = True) -> None:
    from harness.trainer.data import AUGMENTATIONS, DATASETS

    g = p.add_argument_group("data and network")
    g.add_argument(
        "--dataset",
        choices=DATASETS,
        default="digits",
        help="training data (default digits: offline, ships with scikit-learn)",
    )
    g.add_argument("--data-root", help="folder of the CIFAR / ImageNet16 files (default <data>/datasets/<dataset>)")
    g.add_argument(
        "--limit", type=_at_least_one, help="use at most N images per split (a seeded subset; for quick runs)"
    )
    g.add_argument("--split-seed", type=int, default=0, help="seed of the train/validation/test split (default 0)")
    g.add_argument(
        "--channels",
        "-C",
        type=_at_least_one,
        help="NB201: channels of the first stage (default 16); NB101: stem channels (128)",
    )
    g.add_argument(
        "--cells", "-N", type=_at_least_one, help="NB201: cells per stage (default 5); NB101: cells per stack (3)"
    )
    g.add_argument("--seed", type=int, default=0, help="seed of weights, shuffling and augmentation (default 0)")
    g.add_argument("--device", default="auto", help="auto (a CUDA GPU when present, else the CPU), cpu or cuda[:N]")
    g.add_argument(
        "--threads",
        type=_at_least_one,
        help="CPU threads (default: torch's); results are bitwise repeatable for a fixed count",
    )
    if not schedule:
        return
    g = p.add_argument_group("schedule (defaults: NB201's, 12 epochs)")
    g.add_argument("--epochs", type=_at_least_one, default=12)
    g.add_argument("--batch-size", type=_at_least_one, default=256)
    g.add_argument("--lr", type=float, default=0.1, help="initial learning rate, cosine-decayed to 0 (default 0.1)")
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--no-nesterov", action="store_true", help="plain momentum instead of Nesterov")
    g.add_argument("--weight-decay", type=float, default=5e-4)
    g.add_argument("--augment", choices=AUGMENTATIONS, help="default: crop_flip for CIFAR/ImageNet16, none for digits")
    g.add_argument("--eval-batch-size", type=_at_least_one, default=1000)


def _setting(args: argparse.Namespace, proxies: bool) -> Any:
    from harness.trainer.train import TrainConfig
    from harness.validation import ValidationSetting

    if hasattr(args, "epochs"):
        train = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            momentum=args.momentum,
            nesterov=not args.no_nesterov,
            weight_decay=args.weight_decay,
            augment=args.augment or "",
            seed=args.seed,
            eval_batch_size=args.eval_batch_size,
        )
    else:
        train = TrainConfig(seed=args.seed)
    train.check()
    return ValidationSetting(
        dataset=args.dataset,
        data_root=args.data_root,
        limit=args.limit,
        split_seed=args.split_seed,
        C=args.channels or None,
        N=args.cells or None,
        train=train,
        device=args.device,
        threads=args.threads or None,
        proxies=proxies,
    )


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.benchmarks import load_benchmark
    from harness.validation import CSV_NAME, JSON_NAME, PLOT_NAME, choose, final_incumbents, validate

    counts = None
    if args.results_dir:
        results = Path(args.results_dir)
        benchmark, counts = final_incumbents(results, args.benchmark)
        out = Path(args.out) if args.out else results / "validation"
    else:
        if not args.archs or not args.benchmark or not args.out:
            raise NasHarnessError("give a RESULTS_DIR, or --archs with --benchmark and --out")
        benchmark, out = args.benchmark, Path(args.out)
    setting = _setting(args, args.proxies)
    bench = load_benchmark(benchmark)
    try:
        candidates = choose(bench, counts, args.top_k, args.random, args.random_seed, given=args.archs)
    finally:
        bench.store.close()
    frame = validate(
        out, benchmark, candidates, setting, progress=not args.no_progress, keep_checkpoints=args.keep_checkpoints
    )
    if len(frame) < len(candidates):
        print(f"stopped after {len(frame)} of {len(candidates)} architectures; run the same command again to resume")
        return 1
    import json

    doc = json.loads((out / JSON_NAME).read_text())
    cols = ["chosen_as", "runs", "index", "table_acc", "measured_acc", "test_acc", "params", "flops", "train_seconds"]
    print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    c = doc["correlation"]
    rho, tau = (c.get("spearman_rho"), c.get("kendall_tau"))
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    print(
        f"Spearman rho {fmt(rho)}, Kendall tau {fmt(tau)} over {c['n']} architectures; "
        f"wall time {doc['wall_seconds_this_call']:.0f} s"
    )
    print(f"wrote {out / CSV_NAME}, {out / JSON_NAME}, {out / PLOT_NAME}")
    return 0


def _cmd_proxies(args: argparse.Namespace) -> int:
    from harness.validation import proxy_table

    frame = proxy_table(
        args.benchmark,
        archs=args.archs,
        sample=args.sample,
        sample_seed=args.sample_seed,
        setting=_setting(args, True),
        out=Path(args.out),
        force=args.force,
    )
    print(
        f"wrote {args.out} ({len(frame)} architectures); correlate with e.g. "
        f"`nas-harness rank-stats {args.benchmark}:{frame.attrs.get('valid_metric', 'valid_acc')} {args.out}:synflow`"
    )
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `validate` (and `proxies`) to the main parser's sub-commands; returns the validate parser."""
    p = subparsers.add_parser(
        "validate",
        help="re-train the incumbents of a results folder and correlate table and measured accuracy",
        description="Train the top-k final incumbents of the runs in RESULTS_DIR (or --archs) plus random "
        "architectures with a short seeded schedule, offline on CPU or GPU, and write validation.csv/json/png.",
    )
    p.add_argument(
        "results_dir", nargs="?", metavar="RESULTS_DIR", help="folder of RUN_ID folders (hydra.sweep.dir of a grid)"
    )
    p.add_argument("--top-k", type=_positive, default=5, help="how many distinct incumbents to validate (default 5)")
    p.add_argument(
        "--random", type=_positive, default=5, help="how many random architectures to add for spread (default 5)"
    )
    p.add_argument("--random-seed", type=int, default=0, help="seed that draws the random architectures (default 0)")
    p.add_argument(
        "--archs", action="append", metavar="ARCH", help="validate this architecture string instead (repeatable)"
    )
    p.add_argument("--benchmark", help="benchmark whose table accuracy is compared (default: the runs' benchmark)")
    p.add_argument("--out", help="output folder (default RESULTS_DIR/validation)")
    p.add_argument("--proxies", action="store_true", help="also compute zero-cost proxies of each untrained network")
    p.add_argument(
        "--keep-checkpoints", action="store_true", help="keep each architecture's last checkpoint after it finishes"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_training_args(p)
    p.set_defaults(func=_cmd_validate)

    q = subparsers.add_parser(
        "proxies",
        help="zero-cost proxies (grad_norm, snip, synflow, jacov) of NB201 architectures, as a table for rank-stats",
        description="Compute zero-cost proxies of untrained networks on one minibatch and write a CSV "
        "(index, arch_str, table accuracy, params, flops, proxies) that `nas-harness rank-stats` reads.",
    )
    q.add_argument("benchmark", help="benchmark whose architectures and table accuracy to use, e.g. nb201/cifar10")
    q.add_argument(
        "--archs", action="append", metavar="ARCH", help="architecture string (repeatable); default: a random sample"
    )
    q.add_argument("--sample", type=_positive, default=50, help="number of random architectures (default 50)")
    q.add_argument("--sample-seed", type=int, default=0, help="seed of the random sample (default 0)")
    q.add_argument("--out", required=True, help="CSV file to write")
    q.add_argument("--force", action="store_true", help="overwrite --out")
    _add_training_args(q, schedule=False)
    q.set_defaults(func=_cmd_proxies)
    return p
