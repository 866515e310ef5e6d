"""Where `nas-harness report` spends its CPU: one report, timed stage by stage, in one process.

Measures (time.process_time, so other jobs on a shared machine weigh less than on wall time) the
imports, reading the runs (`harness.results.load_results`), building the report on the runs already
read, scoring picks on other benchmarks (`--score-on`), the matplotlib plots, the interactive page
and writing the files. The figures in BENCHMARKS.md ("Report on 2,000 runs") come from it and from
`/usr/bin/time nas-harness report ...` for the whole command.

    nas-harness run +experiment=nb201_paper hydra.sweep.dir=/tmp/paper      # once
    python scripts/bench_report.py /tmp/paper --score-on nb201/cifar10,nb201/cifar100,nb201/imagenet16-120
"""
from __future__ import annotations

import time

START = time.process_time()

import argparse  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


def timed(label: str, fn: Callable[[], Any], report: list[tuple[str, float]]) -> Any:
    start = time.process_time()
    out = fn()
    report.append((label, time.process_time() - start))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("--score-on", default="", help="as `report --score-on`")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    stages: list[tuple[str, float]] = [("interpreter and argparse", time.process_time() - START)]

    def imports() -> Any:
        import harness.report.build as build
        import harness.report.page as page
        import harness.report.plots as plots
        import harness.report.render as render
        import harness.report.transfer as transfer
        from harness.results import load_results

        return build, page, plots, render, transfer, load_results

    build, page, plots, render, transfer, load_results = timed("imports", imports, stages)
    results = timed("reading the runs", lambda: load_results(args.results_dir), stages)
    real_loader = build.load_results
    build.load_results = lambda *a, **k: results  # time the build on the runs already read
    try:
        report = timed("building (curves, bands, statistics)", lambda: build.build_report(
            args.results_dir, budgets=None, time_budgets=None, n_boot=1000, alpha=0.05, seed=0), stages)
    finally:
        build.load_results = real_loader
    score_on = transfer.parse_score_on(args.score_on) if args.score_on else []
    table = timed("--score-on", lambda: transfer.transfer_table(report.result, score_on), stages) if score_on else None
    for module, name, label in ((plots, "make_plots", "plots (matplotlib)"), (page, "to_html", "page (index.html)")):
        original = getattr(module, name)

        def wrapped(*a: Any, _original: Callable[..., Any] = original, _label: str = label, **k: Any) -> Any:
            return timed(_label, lambda: _original(*a, **k), stages)

        setattr(render, name, wrapped)
    out = Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        files = render.render_files(report, out)
        if table is not None:
            files.update(transfer.transfer_files(table, score_on))
        timed("writing", lambda: render.write_report(report, out, force=True, files=files), stages)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    total = time.process_time() - START
    print(f"{len(results.runs)} runs; CPU seconds (time.process_time)")
    for label, seconds in stages:
        print(f"  {label:38s} {seconds:6.2f}")
    print(f"  {'other (rendering glue, tables)':38s} {total - sum(s for _, s in stages):6.2f}")
    print(f"  {'total':38s} {total:6.2f}")


if __name__ == "__main__":
    main()
