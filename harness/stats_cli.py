"""Command-line front ends of `nas-harness rank-stats` and `nas-harness regress`.

Why separate: harness.cli stays a thin dispatcher; these functions add the two sub-commands to
any argparse sub-parser object, so the lead wires them in with two calls and tests can build their
own parser. Commands return the exit status: regress gives 1 on a regression, user errors raise
NasHarnessError (the CLI prints one line and exits 2).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from tabular.errors import NasHarnessError

RANK_STATS_EPILOG = """\
sources (aligned by architecture index):
  BENCHMARK:METRIC          seed mean of a metric, or a static metric (params, latency@pixel3)
  FILE.csv:COLUMN           also .parquet and pandas pickles (.pd/.pkl/.pickle); rows are matched
                            by an nb201_index/arch_index/index column, else by an arch_str/
                            ArchitectureString/cellstr/arch column, else by row order
  ZC.json:DATASET/PROXY     NAS-Bench-Suite-Zero zero-cost file; PROXY/time for compute time
  BENCHMARK METRIC METRIC   a bare benchmark or file is the source of the bare columns after it
  modifiers, appended with ':': min | max (which end is the top for top-k), fidelity=F, key=COLUMN
  wildcards: COLUMN may use * and ?, e.g. help.csv:*_ms:min
The first source is the truth; every other source is compared with it (--all-pairs: every pair).

examples:
  nas-harness rank-stats nb201/cifar10 valid_acc params
  nas-harness rank-stats nb201/cifar10:valid_acc nb201/cifar100:valid_acc
  nas-harness rank-stats nats_tss_test_acc_200ep.csv:CIFAR10TestAccuracy200Epochs nb201/cifar10:valid_acc
  nas-harness rank-stats zc_proxies_nb201.json:cifar10/val_accuracy 'zc_proxies_nb201.json:cifar10/*' --bootstrap 0
  nas-harness rank-stats --strategies results/ --by seeds --splits 3
"""


# ---------------------------------------------------------------------------------------------
# rank-stats
# ---------------------------------------------------------------------------------------------
def _fmt(v: float | None, spec: str = ".4f") -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _p(v: float) -> str:
    """p-values below double precision print as <1e-300 rather than a misleading 0."""
    return "<1e-300" if v == 0.0 else _fmt(v, ".2g")


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{_fmt(ci[0], '.3f')}, {_fmt(ci[1], '.3f')}]"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _pair_rows(results: list[Any]) -> str:
    first = results[0]
    ks = list(first.top_k)
    decs = list(first.sparse_kendall)
    head = [
        "truth",
        "pred",
        "n",
        "dropped",
        "spearman",
        "p",
        f"{first.level:.0%} CI",
        "kendall_b",
        "p",
        f"{first.level:.0%} CI",
    ]
    head += [f"sparse_tau({d}dec)" for d in decs] + [
        f"top{k}" + (f"(k={first.top_k_n[k]})" if k.endswith("%") else "") for k in ks
    ]
    rows = [head]
    for r in results:
        rows.append(
            [
                r.truth,
                r.pred,
                str(r.n),
                str(r.n_dropped),
                _fmt(r.spearman),
                _p(r.spearman_p),
                _ci(r.spearman_ci),
                _fmt(r.kendall),
                _p(r.kendall_p),
                _ci(r.kendall_ci),
            ]
            + [_fmt(r.sparse_kendall.get(d)) for d in decs]
            + [_fmt(r.top_k.get(k), ".3f") for k in ks]
        )
    return _table(rows)


def _concordance_text(result: Any) -> str:
    lines = []

    def one(title: str, c: Any) -> None:
        lines.append(
            f"{title}: Kendall's W = {c.w:.4f} (m={c.m} raters, n={c.n} strategies; "
            f"Friedman chi2 = {c.chi2:.3f}, df={c.df}, p = {c.p_value:.3g})"
        )
        order = sorted(zip(c.mean_ranks, c.objects, strict=False))
        lines.append("  mean rank (1 = lowest regret): " + ", ".join(f"{o} {r:.2f}" for r, o in order))

    if result.overall is not None:
        one("across benchmarks" if result.by == "benchmark" else "all seed splits pooled", result.overall)
    for bench, c in sorted(result.per_benchmark.items()):
        one(f"{bench} across seed splits", c)
    if result.dropped_strategies:
        lines.append("not on every benchmark (left out): " + ", ".join(result.dropped_strategies))
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def _cmd_rank_stats(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from harness import rank_stats as rk
    from harness.progress import progress_bar, waiting

    if args.strategies:
        if args.sources:
            raise NasHarnessError("give either sources or --strategies RESULTS_DIR, not both")
        with waiting("rank-stats"):
            result = rk.strategy_concordance(
                args.strategies,
                by=args.by,
                splits=args.splits,
                seed=args.seed,
                metric=args.metric,
                budget=args.budget,
                time_budget=args.time_budget,
            )
        print(json.dumps(asdict(result), indent=2, default=str) if args.json else _concordance_text(result))
        return 0
    if len(args.sources) < 2 and not any("*" in s or "?" in s for s in args.sources):
        raise NasHarnessError(
            "rank-stats needs two metrics, e.g. `nas-harness rank-stats nb201/cifar10 valid_acc params` (see --help)"
        )
    sources = rk.resolve_sources(args.sources, space=args.space)
    if len(sources) < 2:
        raise NasHarnessError(f"only one metric matched ({sources[0].label}); rank-stats compares two or more")
    if args.all_pairs:
        pairs = [(a, b) for i, a in enumerate(sources) for b in sources[i + 1 :]]
    else:
        pairs = [(sources[0], b) for b in sources[1:] if b.label != sources[0].label]  # a wildcard may match the truth
    decimals = tuple(int(d) for d in args.decimals.split(",") if d.strip()) if args.decimals else ()
    top_k = tuple(k for k in args.top_k.split(",") if k.strip()) if args.top_k else ()
    results = []
    with progress_bar(total=len(pairs), desc="rank-stats", unit="pair") as bar:
        for a, b in pairs:
            results.append(rk.correlate(
                a,
                b,
                sample=args.sample,
                seed=args.seed,
                n_boot=args.bootstrap,
                level=args.ci,
                decimals=decimals,
                top_k=top_k,
                kendall_ci=not args.no_kendall_ci,
            ))
            bar.update()
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print(_pair_rows(results))
        if results[0].n_dropped:
            print(
                "(dropped: pairs where either value is NaN or infinite; "
                f"{results[0].n_total} architectures in the space)"
            )
    return 0


def add_rank_stats_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `rank-stats` to an argparse sub-parsers object (sets `func`)."""
    p = subparsers.add_parser(
        "rank-stats",
        help="rank correlations between architecture metrics; concordance of strategy rankings",
        description="Spearman, Kendall tau-b, sparse Kendall tau, top-k agreement and bootstrap CIs "
        "between metrics; or Kendall's W of strategy rankings in a results folder.",
        epilog=RANK_STATS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sources", nargs="*", help="metric sources (see below)")
    p.add_argument(
        "--sample", type=int, help="use a random sample of N architectures (of those where both metrics are finite)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for --sample, the bootstrap and seed splits (default 0)")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="B",
        help="bootstrap resamples for the CIs; 0 = no CIs (default 1000)",
    )
    p.add_argument("--ci", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument(
        "--no-kendall-ci",
        action="store_true",
        help="bootstrap only Spearman (Kendall resamples cost one scipy call each)",
    )
    p.add_argument(
        "--decimals", default="1", help="comma list of decimals for the sparse Kendall tau (default 1 = 0.1 %%)"
    )
    p.add_argument(
        "--top-k", default="10,1%", help="comma list of k for top-k agreement, integers or percentages (default 10,1%%)"
    )
    p.add_argument(
        "--all-pairs", action="store_true", help="compare every pair of sources, not only the first with the others"
    )
    p.add_argument("--space", help="search space that tables are aligned to (default: the benchmark's, else nb201)")
    p.add_argument(
        "--strategies", metavar="RESULTS_DIR", help="Kendall's W of strategy rankings in a results folder instead"
    )
    p.add_argument(
        "--by",
        choices=("benchmark", "seeds"),
        default="benchmark",
        help="raters for --strategies: benchmarks, or seed splits within each benchmark",
    )
    p.add_argument("--splits", type=int, default=2, help="number of disjoint seed groups for --by seeds (default 2)")
    p.add_argument(
        "--metric",
        choices=("final", "auc"),
        default="final",
        help="regret that ranks strategies for --strategies (default final)",
    )
    p.add_argument(
        "--budget", type=int, help="for --strategies: read every run after B evaluations (as `regress --budget`)"
    )
    p.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="for --strategies: read every run at simulated time T (as `regress --time-budget`)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_rank_stats)
    return p


# ---------------------------------------------------------------------------------------------
# regress
# ---------------------------------------------------------------------------------------------
def _cmd_regress(args: argparse.Namespace) -> int:
    from harness import regress as rg

    if args.budget is not None and args.time_budget is not None:
        raise NasHarnessError("give --budget (evaluations) or --time-budget (simulated seconds), not both")
    if args.save_baseline:
        if args.paths:
            raise NasHarnessError("--save-baseline RESULTS_DIR OUT.json takes no other paths")
        results, out = args.save_baseline
        path = rg.save_baseline(results, out, budget=args.budget, time_budget=args.time_budget, force=args.force)
        print(f"baseline written: {path}")
        return 0
    if len(args.paths) != 2:
        raise NasHarnessError(
            "regress needs BASELINE CANDIDATE (a results folder or baseline JSON, then a results folder)"
        )
    baseline, candidate = (Path(p) for p in args.paths)
    report = rg.regress(
        baseline,
        candidate,
        tolerance=args.tolerance,
        alpha=args.alpha,
        budget=args.budget,
        allow_data_change=args.allow_data_change,
        n_boot=args.bootstrap,
        seed=args.seed,
        time_budget=args.time_budget,
    )
    out = rg.write_report(report, Path(args.out) if args.out else rg.default_report_path(candidate))
    print(rg.format_table(report))
    print(f"report: {out}", file=sys.stderr)
    return 1 if report.regressed else 0


def add_regress_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `regress` to an argparse sub-parsers object (sets `func`)."""
    p = subparsers.add_parser(
        "regress",
        help="is a candidate result set significantly worse than a baseline? (exit 1 if so)",
        description="For every benchmark x strategy in both sets, compare per-seed final regret and anytime regret "
        "(AUC) "
        "at the runs' budget (one-sided Mann-Whitney U, Holm-corrected; bootstrap CI of the mean difference). "
        "Evaluation budget B: regret after evaluation B and mean regret over evaluations 1..B. Simulated-time "
        "budget T: regret of the incumbent at time T and its time-average over [first completion, T]. "
        "Exit 1 when a difference exceeds --tolerance with Holm-adjusted p < --alpha.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  nas-harness regress results/v1 results/v2 --tolerance 0.05\n"
        "  nas-harness regress --save-baseline results/v1 baseline.json\n"
        "  nas-harness regress baseline.json results/v2\n"
        "  nas-harness regress results/paper_v1 results/paper_v2 --time-budget 100000",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="BASELINE CANDIDATE",
        help="baseline (results folder or JSON) and candidate results folder",
    )
    p.add_argument(
        "--tolerance", type=float, default=0.0, help="allowed worsening of the mean, in regret units (default 0)"
    )
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise significance level after Holm (default 0.05)")
    p.add_argument(
        "--budget", type=int, help="compare the first B evaluations of every run (one way to compare mixed budgets)"
    )
    p.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="compare every run at simulated time T: its incumbent then, and its time-averaged regret up to T "
        "(runs whose time horizon ends before T are skipped and counted)",
    )
    p.add_argument(
        "--allow-data-change", action="store_true", help="compare even if the benchmark store's sha256 differs (warns)"
    )
    p.add_argument("--out", help="where to write regress.md (file or folder; default: the candidate folder)")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=10000,
        metavar="B",
        help="bootstrap resamples for the CI of the difference (default 10000)",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--save-baseline",
        nargs=2,
        metavar=("RESULTS_DIR", "OUT_JSON"),
        help="write a compact baseline JSON of a results folder and exit",
    )
    p.add_argument("--force", action="store_true", help="overwrite OUT_JSON with --save-baseline")
    p.set_defaults(func=_cmd_regress)
    return p
