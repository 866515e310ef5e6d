"""The `report` sub-command.

`nas-harness report RESULTS_DIR [--out DIR] [--budgets 50,100] [--time-budgets 200000] [--force]`.

`add_parser(subparsers)` is all harness.cli needs to call; the command raises NasHarnessError for
user errors, which the main CLI prints as one line.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _long_lived() -> Iterator[Callable[[], None]]:
    """While the command runs, objects that live until its end (imported modules, then the built report) are
    moved out of the garbage collector's generations (gc.freeze), and moved back after it.

    Why: a report of 2,000 runs holds a few hundred thousand objects; every full collection that
    the allocations of loading and plotting trigger walked all of them again (about 0.3 s of CPU).
    The collector still runs for everything created later (matplotlib figures are reference cycles).
    The yielded function freezes what exists when it is called.
    """
    if gc.get_freeze_count():  # a caller (a test, an embedding program) froze objects of its own: leave them be
        yield lambda: None
        return
    gc.freeze()
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.progress import stages
    from harness.report import build_report, parse_budgets, parse_time_budgets
    from harness.report.render import check_out_dir, render_files, write_report
    from harness.report.transfer import parse_score_on, transfer_files, transfer_table

    results = Path(args.results_dir)
    out = Path(args.out) if args.out else results / "report"
    budgets, time_budgets = parse_budgets(args.budgets), parse_time_budgets(args.time_budgets)
    score_on = parse_score_on(args.score_on)
    check_out_dir(out, results, args.force)  # fail before the (longer) computation
    names = ["reading runs, statistics", *(["scoring picks"] if score_on else []), "plots and pages", "writing"]
    with stages(names) as step, _long_lived() as keep:  # a progress bar on a terminal, nothing otherwise
        step(names[0])
        report = build_report(
            results, budgets=budgets, time_budgets=time_budgets, n_boot=args.bootstrap, alpha=args.alpha, seed=args.seed
        )
        keep()  # the report lives until the end: rendering's collections need not look at it again
        if score_on:
            step("scoring picks")
        transfer = transfer_table(report.result, score_on) if score_on else None  # fails before anything is written
        step("plots and pages")
        files = render_files(report, out)
        if transfer is not None:
            files.update(transfer_files(transfer, score_on))
        step("writing")
        write_report(report, out, force=args.force, files=files)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if transfer is not None:
        print(f"picks scored on {', '.join(score_on)}: {out / 'transfer.md'}")
    counts = report.result.counts()
    print(f"report: {out / 'index.html'} ({', '.join(f'{v} {k}' for k, v in counts.items() if v)} runs)")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `report` to an argparse subparsers object (its handler is `args.func`)."""
    p = subparsers.add_parser(
        "report",
        help="curves, leaderboards, statistics and a best-practices checklist from a results folder",
        description="Read every run under RESULTS_DIR (the hydra.sweep.dir of `nas-harness run` grids) and write "
        "leaderboard.md/.csv/.tex, PNG and SVG plots and a self-contained index.html.",
    )
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="folder holding the RUN_ID folders")
    p.add_argument(
        "--out",
        help="output folder (default: RESULTS_DIR/report; not a symbolic link); a non-empty folder that is not a "
        "previous report needs --force",
    )
    p.add_argument(
        "--budgets",
        help="comma-separated evaluation budgets for the final tables and leaderboards, e.g. 50,100,200 "
        "(default, per task from its own runs: the time budget most of them recorded and reached, else the "
        "largest number of evaluations more than half of them reached; shorter runs are left out, with a warning)",
    )
    p.add_argument(
        "--time-budgets",
        help="comma-separated simulated-time budgets in seconds, e.g. 10000,200000: each run's incumbent "
        "at that simulated time (runs whose own budget ends earlier are left out and counted); "
        "may be combined with --budgets",
    )
    p.add_argument(
        "--score-on",
        metavar="BENCH[,BENCH...]",
        help="also score each run's final pick by its test metric on these benchmarks of the same search space, e.g. "
        "nb201/cifar10,nb201/cifar100,nb201/imagenet16-120 (mean ± std per method: transfer.md/.csv)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty --out that is not a previous report (same-named files are replaced)",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="significance level of the Nemenyi critical difference and of the tests against each task's best "
        "method (default 0.05)",
    )
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% bands (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap's numpy generator (default 0)")
    p.set_defaults(func=_cmd_report)
    return p
