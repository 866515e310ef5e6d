"""The `nas-harness` command line.

Sub-commands are plain argparse except `run`, which hands its arguments to the Hydra app. User
errors (NasHarnessError) print one line on stderr and exit 2; anything else is a bug and keeps its
traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tabular.errors import NasHarnessError
from tabular.optional import missing_torch_error, torch_missing

log = logging.getLogger("harness")


def _user_path(text: str) -> str:
    """`text` with the data folder written as `$NAS_HARNESS_DATA` (the location users set), not this machine's path."""
    from tabular.data_dir import data_dir

    return text.replace(str(data_dir()), "$NAS_HARNESS_DATA")


def _cmd_benchmarks(args: argparse.Namespace) -> int:
    from harness.benchmarks import benchmark_names, ensure_store, get_spec, source_status
    from harness.progress import progress_bar
    from tabular.data_dir import data_dir, store_path
    from tabular.store import open_store

    rows = []
    names = benchmark_names()
    with progress_bar(total=len(names), desc="benchmarks", unit="benchmark") as bar:
        for name in names:
            spec = get_spec(name)
            status = source_status(spec)
            row = {"name": name, "space": spec.space, "status": _user_path(status), "archs": "", "metrics": "",
                   "fidelities": "", "seeds": ""}
            if args.build and status.startswith("ready") and spec.open is None:
                bar.set_postfix_str(name)
                ensure_store(name)
            if store_path(name).is_file():
                with open_store(store_path(name), verify="lazy") as store:  # metadata only: no checksum pass
                    row.update(
                        status="ready",
                        archs=str(store.n_archs),
                        metrics=",".join(store.metric_names + store.static_names),
                        fidelities=",".join(f"{f:g}" for f in store.fidelities),
                        seeds=str(len(store.seeds)),
                    )
            rows.append(row)
            bar.update()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("\n".join(benchmark_table(rows)))
    print(f"$NAS_HARNESS_DATA is {data_dir()}" + ("" if os.environ.get("NAS_HARNESS_DATA") else
                                                 " (the default; set NAS_HARNESS_DATA to use another folder)"))
    return 0


METRICS_WIDTH = 60  # the metrics column of `nas-harness benchmarks` (the full list: --json)


def benchmark_table(rows: list[dict[str, str]]) -> list[str]:
    """A compact table: one line per benchmark with a short status; each sentence saying which file is missing is
    printed once below the table (the datasets of a family share theirs), not once per dataset."""
    notes: dict[str, int] = {}  # sentence -> its number (a family's datasets share one sentence)
    table = []
    for r in rows:
        status = r["status"]
        if not status.startswith("ready"):
            number = notes.setdefault(status, len(notes) + 1)
            status = f"needs a file [{number}]"
        elif status != "ready":
            status = status.replace("ready (", "").rstrip(")")  # "converted on first use", "answered on demand"
        metrics = r["metrics"]
        if len(metrics) > METRICS_WIDTH:  # a table with many metrics would widen every line (--json lists them all)
            metrics = metrics[: METRICS_WIDTH - 1].rsplit(",", 1)[0] + ",…"
        table.append({**r, "status": status, "metrics": metrics})
    header = ("name", "space", "archs", "fidelities", "seeds", "metrics", "status")
    widths = {h: max(len(h), *(len(r[h]) for r in table)) for h in header[:-1]}
    lines = ["  ".join(h.ljust(widths.get(h, 0)) for h in header).rstrip()]
    lines += ["  ".join(r[h].ljust(widths.get(h, 0)) for h in header).rstrip() for r in table]
    if notes:
        lines.append("")
        lines += [f"[{number}] {sentence}" for sentence, number in notes.items()]
    return lines


def _cmd_query(args: argparse.Namespace) -> int:
    from harness.query_cli import cmd_query

    return cmd_query(args)


def _cmd_convert(args: argparse.Namespace) -> int:
    from harness.convert import convert
    from harness.progress import waiting

    with waiting(f"convert {args.kind}"):
        paths = convert(args.kind, Path(args.source), Path(args.out) if args.out else None, force=args.force,
                        skip_bad=args.skip_bad)
    for path in paths:
        print(path)
    return 0


# What each converter kind reads (`nas-harness convert --help`); a kind not listed shows its function's docstring.
CONVERT_KINDS: dict[str, str] = {
    "nb201-pth": "NAS-Bench-201's official .pth (NAS-Bench-201-v1_0-e61699.pth or -v1_1-096897.pth); "
                 "needs the torch extra",
    "nats-tss": "NATS-Bench's topology folder NATS-tss-v1_0-3ffb9-simple (unpacked from its .tar)",
    "hwnasbench": "HW-NAS-Bench-v1_0.pickle: latency and energy of NB201 cells on six devices",
    "latency-table": "your per-device latency table for NB201 cells (CSV or Parquet)",
    "nb101-tfrecord": "NAS-Bench-101's nasbench_full.tfrecord or nasbench_only108.tfrecord (--skip-bad skips "
                      "corrupt records)",
    "table": "your own table (CSV, Parquet, or JSON key -> record) as a benchmark table/NAME; "
             "docs/BENCHMARKS_DATA.md",
}


def _convert_epilog() -> str:
    """The kinds `convert` offers (harness.convert.converter_kinds), one line each, and an example."""
    from harness.convert import converter_kinds

    kinds = converter_kinds()
    width = max(len(k) for k in kinds)
    lines = ["kinds:"]
    for kind, fn in sorted(kinds.items()):
        text = CONVERT_KINDS.get(kind) or ((fn.__doc__ or "").strip().splitlines() or [""])[0]
        lines.append(f"  {kind.ljust(width)}  {text}")
    lines += ["", "example: nas-harness convert nb201-pth ~/Downloads/NAS-Bench-201-v1_1-096897.pth",
              "Without --out the store goes to $NAS_HARNESS_DATA/stores/ (where `benchmark=` finds it)."]
    return "\n".join(lines)


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


CONFIG_OPTIONS = ("--config-dir", "-cd", "--config-name", "-cn", "--config-path", "-cp")


def _cmd_run(argv: Sequence[str]) -> int:
    """`nas-harness run`: our own `--help`, the overrides checked in one line (harness.run_guide), then Hydra."""
    argv = list(argv)
    if "--help" in argv or "-h" in argv:
        from harness.run_guide import run_help

        print(run_help(argv))
        return 0
    from harness.app import run_app
    from harness.run_guide import check_overrides, is_custom, register_custom_strategy

    overrides = [a for a in argv if not a.startswith("-") and ("=" in a or a.startswith("~"))]
    if any(a.split("=", 1)[0] in CONFIG_OPTIONS for a in argv):
        # The user's own primary config: its groups and keys are not ours to list; custom strategies still work.
        for arg in overrides:
            key, _, value = arg.partition("=")
            if key.lstrip("+") == "strategy" and is_custom(value):
                register_custom_strategy(value)
    else:
        check_overrides(overrides)
    return run_app(argv)


def _cmd_strategies(args: argparse.Namespace) -> int:
    from harness.run_guide import hyperparameter_lines, strategy_lines

    if args.name:
        print("\n".join(hyperparameter_lines(args.name)))
    else:
        print("strategies (`nas-harness strategies NAME` lists its hyperparameters):")
        print("\n".join(strategy_lines()))
    return 0


LIGHT_COMMANDS = ("benchmarks", "query", "convert", "reproduce", "strategies")
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

    from harness.query_cli import add_parser as add_query_parser

    add_query_parser(sub, _cmd_query)

    p = sub.add_parser("convert", help="convert an official benchmark file into a store",
                       epilog=_convert_epilog() if command == "convert" else None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", help="source kind (listed below)")
    p.add_argument("source", help="path of the official file or folder")
    p.add_argument("--out", help="output store file or folder (default: the data folder's store path)")
    p.add_argument("--force", action="store_true", help="overwrite an existing store")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip and count corrupt records instead of stopping (nb101-tfrecord)")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("reproduce", help="re-run a result folder from its manifest and compare trajectories")
    p.add_argument("run_dir", help="a RUN_ID folder holding manifest.json and trajectory.parquet")
    p.set_defaults(func=_cmd_reproduce)
    sub.add_parser("run", help="run a strategy x benchmark x seed grid (Hydra; `nas-harness run --help`: its keys)")

    p = sub.add_parser("strategies", help="list the strategies, or one strategy's hyperparameters with defaults")
    p.add_argument("name", nargs="?", help="a strategy name or package.module:Class")
    p.set_defaults(func=_cmd_strategies)
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
