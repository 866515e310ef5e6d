"""The `nas-harness` command line.

Sub-commands are plain argparse except `run`, which hands its arguments to the Hydra app. User
errors (NasHarnessError) print one line on stderr and exit 2; anything else is a bug and keeps its
traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tabular.errors import NasHarnessError
from tabular.optional import missing_torch_error, torch_missing

log = logging.getLogger("harness")


def _cmd_benchmarks(args: argparse.Namespace) -> int:
    from harness.benchmarks import benchmark_names, ensure_store, get_spec, source_status
    from tabular.data_dir import store_path
    from tabular.store import open_store

    rows = []
    for name in benchmark_names():
        spec = get_spec(name)
        status = source_status(spec)
        row = {"name": name, "space": spec.space, "status": status, "archs": "", "metrics": "", "fidelities": "",
               "seeds": ""}
        if args.build and status.startswith("ready") and spec.open is None:
            ensure_store(name)
        if store_path(name).is_file():
            with open_store(store_path(name), verify="lazy") as store:  # metadata only: no checksum pass per store
                row.update(
                    status="ready",
                    archs=str(store.n_archs),
                    metrics=",".join(store.metric_names + store.static_names),
                    fidelities=",".join(f"{f:g}" for f in store.fidelities),
                    seeds=str(len(store.seeds)),
                )
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("name", "space", "archs", "fidelities", "seeds", "metrics", "status")
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in header[:-2]}
    print("  ".join(h.ljust(widths.get(h, 0)) for h in header))
    for r in rows:
        print("  ".join(r[h].ljust(widths.get(h, 0)) for h in header))
    return 0


def _json_safe(value):
    """NaN (not measured) becomes null so the output stays valid JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _cmd_query(args: argparse.Namespace) -> int:
    from harness.benchmarks import load_benchmark

    bench = load_benchmark(args.benchmark)
    space, store = bench.space, bench.store
    if args.arch:
        indices = [space.index_of(a) for a in args.arch]
    elif args.index:
        indices = [space.check_index(i) for i in args.index]
    else:
        # The best architecture by the first metric named (a comma list ranks by its first entry).
        metric = args.metric.split(",")[0] if args.metric else store.valid_metric
        row, value = store.best(metric, args.fidelity)
        print(json.dumps({"benchmark": bench.name, "best_index": row, "arch": space.arch_at(row),
                          "metric": metric, "seed_mean": value}, indent=2))
        return 0
    metrics = args.metric.split(",") if args.metric else store.metric_names
    rng = np.random.default_rng(args.seed)
    out = []
    for index in indices:
        rec: dict[str, object] = {"index": index, "arch": space.arch_at(index)}
        for m in metrics:
            if m in store.static_names:
                rec[m] = float(store.static(m, [index])[0])
            else:
                value = store.query(m, [index], fidelity=args.fidelity, seed_policy=args.seed_policy,
                                    seed=args.seed if args.seed_policy == "fixed" else None, rng=rng)
                rec[m] = float(value[0])
        out.append(rec)
    print(json.dumps(_json_safe(out), indent=2))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from harness.convert import convert

    for path in convert(args.kind, Path(args.source), Path(args.out) if args.out else None, force=args.force,
                        skip_bad=args.skip_bad):
        print(path)
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from harness.reproduce import reproduce

    warnings, differences = reproduce(Path(args.run_dir))
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if differences:
        print(f"NOT reproduced: {args.run_dir}", file=sys.stderr)
        for d in differences:
            print(f"  {d}", file=sys.stderr)
        return 1
    print(f"reproduced: {args.run_dir} (trajectory identical except wall_time)")
    return 0


def _cmd_run(argv: Sequence[str]) -> int:
    from harness.app import run_app

    return run_app(list(argv))


LIGHT_COMMANDS = ("benchmarks", "query", "convert", "reproduce")
RUN_LOGGERS = ("harness.app", "harness.grid.run_folder")  # their ERROR records are printed by run_app's summary
# Sub-commands whose parsers cannot be built without importing scipy, matplotlib or torch (the
# `harness.report` package imports them; the trainer's options list torch-backed datasets):
# command -> (module, function that adds the real parser, its one-line help). The real parser is
# built only when the command itself is run; `nas-harness --help` lists these help lines (a test
# checks they match the modules' own).
DEFERRED_COMMANDS: dict[str, tuple[str, str, str]] = {
    "report": ("harness.report.cli", "add_parser",
               "curves, leaderboards, statistics and a best-practices checklist from a results folder"),
    "validate": ("harness.validation_cli", "add_parser",
                 "re-train the incumbents of a results folder and correlate table and measured accuracy"),
    "proxies": ("harness.validation_cli", "add_parser",
                "zero-cost proxies (grad_norm, snip, synflow, jacov) of NB201 architectures, "
                "as a table for rank-stats"),
}


def _command(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line (the first argument that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(full: bool = True, command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser. `full=False` leaves out every command but the light ones; with
    `full=True` the commands of DEFERRED_COMMANDS get their real parser only when `command` names
    them (their modules import scipy, matplotlib or torch), so `--help` and `query` stay fast."""
    parser = argparse.ArgumentParser(prog="nas-harness", description="Reproducible NAS benchmarking.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("benchmarks", help="list every known benchmark and whether its data is ready")
    p.add_argument("--build", action="store_true", help="convert every benchmark whose source is present")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_benchmarks)

    p = sub.add_parser("query", help="look up architectures in a benchmark (default: its best architecture)")
    p.add_argument("benchmark", help="benchmark name, e.g. nb201/cifar10")
    p.add_argument("--arch", action="append", help="architecture string (repeatable)")
    p.add_argument("--index", action="append", type=int, help="architecture index (repeatable)")
    p.add_argument("--metric", help="comma-separated metric names (default: all per-evaluation metrics)")
    p.add_argument("--fidelity", type=float, help="fidelity value, e.g. epochs (default: the highest)")
    p.add_argument("--seed-policy", choices=("mean", "fixed", "sample"), default="mean")
    p.add_argument("--seed", type=int, default=0, help="seed label for 'fixed', generator seed for 'sample'")
    p.set_defaults(func=_cmd_query)

    p = sub.add_parser("convert", help="convert an official benchmark file into a store")
    p.add_argument("kind", help="source kind (see `nas-harness convert --help` epilog)")
    p.add_argument("source", help="path of the official file or folder")
    p.add_argument("--out", help="output store file or folder (default: the data folder's store path)")
    p.add_argument("--force", action="store_true", help="overwrite an existing store")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip and count corrupt records instead of stopping (nb101-tfrecord)")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("reproduce", help="re-run a result folder from its manifest and compare trajectories")
    p.add_argument("run_dir", help="a RUN_ID folder holding manifest.json and trajectory.parquet")
    p.set_defaults(func=_cmd_reproduce)
    sub.add_parser("run", help="run a strategy x benchmark x seed grid (Hydra; see README)")
    if not full:
        return parser

    import importlib

    from harness.stats_cli import add_rank_stats_parser, add_regress_parser
    from harness.surrogate_cli import add_parser as add_surrogate_parser

    def add_deferred(*names: str) -> None:
        """Add the real parser of the command being run, and light help-only parsers for the other deferred ones."""
        if command in names:
            module, function, _ = DEFERRED_COMMANDS[command]
            getattr(importlib.import_module(module), function)(sub)
            return
        for name in names:
            sub.add_parser(name, help=DEFERRED_COMMANDS[name][2], add_help=False)

    add_deferred("report")
    add_rank_stats_parser(sub)
    add_regress_parser(sub)
    add_surrogate_parser(sub)
    add_deferred("validate", "proxies")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `nas-harness` command line; returns the exit code (2 for a user error, printed as one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # A failed run's error goes to its run.log and is printed once, by run_app's closing summary
    # (`nas-harness: error: run failed: ...` or a FAILED line), not a second time as a log record.
    console.addFilter(lambda record: not (record.name in RUN_LOGGERS and record.levelno >= logging.ERROR))
    logging.basicConfig(level=logging.WARNING, handlers=[console])
    try:
        if argv and argv[0] == "run":
            return _cmd_run(argv[1:])
        command = _command(argv)
        args = build_parser(full=command not in LIGHT_COMMANDS, command=command).parse_args(argv)
        if args.verbose:
            logging.getLogger().setLevel(logging.INFO)
            console.setLevel(logging.INFO)
        return int(args.func(args) or 0)
    except NasHarnessError as exc:
        print(f"nas-harness: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # a torch-only command (validate, proxies, ...) on a core install
        if not torch_missing(exc):
            raise
        print(f"nas-harness: error: {missing_torch_error(f'`nas-harness {_command(argv)}`')}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
