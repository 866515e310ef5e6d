"""Command-line front ends of `nas-harness validate` and `nas-harness proxies` (app layer).

Why here and not in `harness/trainer/`: both commands read results folders and open benchmarks of
the catalogue, which the trainer (a low-level PyTorch library) must not import. `add_parser(subparsers)`
adds both sub-commands to the main parser (harness/cli.py wires it in); each sets `func`, which
returns the exit status. User errors are NasHarnessError (one line).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """A named default for the schedule and network size; explicit flags override each value.

    `sizes` maps a search space to its (C, N) (None = the trainer's official size); `image_size`
    applies to digits only (upsampled from 8x8; other datasets keep their native size); `threads`
    None means torch's default.
    """

    name: str
    epochs: int
    batch_size: int
    sizes: dict[str, tuple[int | None, int | None]]
    image_size: int | None
    threads: int | None
    summary: str

    def size(self, space: str) -> tuple[int | None, int | None]:
        return self.sizes.get(space, (None, None))


SCHEDULES: dict[str, Schedule] = {
    # Measured on the shared 2-core VM (docs/TRAINER.md): about 4 CPU-seconds per NB201 cell, so
    # --top-k 2 plus 5 random cells take about 40 CPU-seconds, 2-3 minutes under heavy load.
    # C=8, N=2 ranked 7 cells better (Spearman 0.82) than C=16, N=1 (0.42) at a similar cost.
    "cpu": Schedule(
        "cpu",
        epochs=6,
        batch_size=64,
        sizes={"nb201": (8, 2), "nb101": (16, 1), "darts": (8, 5)},
        image_size=16,
        threads=1,
        summary="reduced network (NB201 C=8, N=2), digits at 16x16, 6 epochs, batch 64, 1 thread",
    ),
    "paper": Schedule(
        "paper",
        epochs=12,
        batch_size=256,
        sizes={},
        image_size=None,
        threads=None,
        summary="official network (NB201 C=16, N=5), digits at 32x32, NB201's 12 epochs, batch 256",
    ),
}
DEFAULT_SCHEDULE = "cpu"


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
        help="NB201: channels of the first stage (official 16, CPU schedule 8); NB101: stem channels (128, 16)",
    )
    g.add_argument(
        "--cells",
        "-N",
        type=_at_least_one,
        help="NB201: cells per stage (official 5, CPU schedule 1); NB101: cells per stack (official 3, CPU schedule 1)",
    )
    g.add_argument("--seed", type=int, default=0, help="seed of weights, shuffling and augmentation (default 0)")
    g.add_argument("--device", default="auto", help="auto (a CUDA GPU when present, else the CPU), cpu or cuda[:N]")
    g.add_argument(
        "--threads",
        type=_at_least_one,
        help="CPU threads (default 1; the paper schedule: torch's); results are bitwise repeatable for a fixed count",
    )
    if not schedule:
        return
    g = p.add_argument_group("schedule (every flag overrides the value of --schedule)")
    g.add_argument(
        "--schedule",
        choices=sorted(SCHEDULES),
        default=DEFAULT_SCHEDULE,
        help="; ".join(f"{k}: {v.summary}" for k, v in SCHEDULES.items()) + f" (default {DEFAULT_SCHEDULE})",
    )
    g.add_argument("--epochs", type=_at_least_one, help="default: the schedule's")
    g.add_argument("--batch-size", type=_at_least_one, help="default: the schedule's")
    g.add_argument("--lr", type=float, default=0.1, help="initial learning rate, cosine-decayed to 0 (default 0.1)")
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--no-nesterov", action="store_true", help="plain momentum instead of Nesterov")
    g.add_argument("--weight-decay", type=float, default=5e-4)
    g.add_argument("--augment", choices=AUGMENTATIONS, help="default: crop_flip for CIFAR/ImageNet16, none for digits")
    g.add_argument("--eval-batch-size", type=_at_least_one, default=1000)


def _setting(args: argparse.Namespace, proxies: bool, space: str) -> Any:
    """The ValidationSetting of the parsed flags: each flag given wins, the rest come from the schedule.

    `proxies` has no schedule: official network size, one thread, unless -C/-N/--threads say otherwise.
    """
    from harness.trainer.train import TrainConfig
    from harness.validation import ValidationSetting

    schedule = SCHEDULES[args.schedule] if hasattr(args, "schedule") else None
    C, N = schedule.size(space) if schedule else (None, None)
    threads = schedule.threads if schedule else 1
    image_size = schedule.image_size if schedule and args.dataset == "digits" else None
    if schedule is not None:
        train = TrainConfig(
            epochs=args.epochs or schedule.epochs,
            batch_size=args.batch_size or schedule.batch_size,
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
        image_size=image_size,
        C=args.channels or C,
        N=args.cells or N,
        train=train,
        device=args.device,
        threads=args.threads or threads,
        proxies=proxies,
    )


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.benchmarks import get_spec, load_benchmark
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
    setting = _setting(args, args.proxies, get_spec(benchmark).space)
    bench = load_benchmark(benchmark)
    try:
        candidates = choose(bench, counts, args.top_k, args.random, args.random_seed, given=args.archs)
    finally:
        bench.store.close()
    print(f"validating {len(candidates)} architectures of {benchmark} with the {args.schedule} schedule -> {out}")
    frame = validate(
        out,
        benchmark,
        candidates,
        setting,
        progress=not args.no_progress,
        keep_checkpoints=args.keep_checkpoints,
        announce=lambda line: print(line, flush=True),
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
        f"wall time {doc['wall_seconds_this_call']:.0f} s, CPU time {doc.get('cpu_seconds_this_call', 0):.0f} s"
    )
    for warning in doc.get("warnings", []):
        print(f"warning: {warning}")
    print(f"wrote {out / CSV_NAME}, {out / JSON_NAME}, {out / PLOT_NAME}")
    return 0


def _cmd_proxies(args: argparse.Namespace) -> int:
    from harness.benchmarks import get_spec
    from harness.validation import proxy_table

    frame = proxy_table(
        args.benchmark,
        archs=args.archs,
        sample=args.sample,
        sample_seed=args.sample_seed,
        setting=_setting(args, True, get_spec(args.benchmark).space),
        out=Path(args.out),
        force=args.force,
        progress=not args.no_progress,
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
        "architectures with a short seeded schedule, offline on CPU or GPU, and write validation.csv/json/png. "
        "The default schedule (cpu) is sized for a laptop CPU (--top-k 2 with 5 random cells: a few minutes); "
        "--schedule paper trains NB201's official network for 12 epochs (a GPU, or about 20 min per 10 cells "
        "on a CPU). The expected duration is printed before training starts.",
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
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bars (none are drawn outside a terminal)"
    )
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
    q.add_argument("--no-progress", action="store_true", help="no progress bar (none is drawn outside a terminal)")
    _add_training_args(q, schedule=False)
    q.set_defaults(func=_cmd_proxies)
    return p
