"""Render a computed Report into its files and write them: the entry points of report writing.

`render_files` turns a Report into every output file (relative path -> bytes) without writing;
`write_report` writes them atomically into the output folder. The work is done by one module per
job: harness.report.plots (PNG/SVG figures), harness.report.document (what the pages say),
harness.report.tables (Markdown, LaTeX, CSV), harness.report.page (the offline index.html) and
harness.report.output (which folders may be written, the report.json marker, stale files). Their
public names used elsewhere are re-exported here.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.report import Report
from harness.report.document import Block, document  # noqa: F401  (re-exported)
from harness.report.labels import PLOTS, REAL_MARK, marked, slug, time_axis  # noqa: F401  (re-exported)
from harness.report.load import REPORT_MARKER
from harness.report.output import (  # noqa: F401  (re-exported)
    GENERATOR,
    PLOT_FILE_RE,
    REPORT_FILES,
    check_out_dir,
    is_report_file,
    stale_files,
)
from harness.report.page import to_html
from harness.report.plots import _colours, _curve_panels, make_plots  # noqa: F401  (re-exported for tests)
from harness.report.tables import csv_bytes, curves_csv, leaderboard_csv, to_latex, to_markdown
from tabular.atomic import atomic_write_bytes


def render_files(report: Report, out: str | Path | None = None) -> dict[str, bytes]:
    """Every output file of the report as relative path -> bytes (nothing written yet); `out`: the folder
    they will be written to (default RESULTS/report), which index.html's links to the run folders are relative to."""
    plots, stems = make_plots(report)
    blocks = document(report, stems)
    files: dict[str, bytes] = dict(plots)
    files["leaderboard.md"] = to_markdown(blocks).encode()
    files["leaderboard.csv"] = csv_bytes(leaderboard_csv(report))
    files["leaderboard.tex"] = to_latex(report).encode()
    files["search_cost.csv"] = csv_bytes(report.search_cost)
    files["runs.csv"] = csv_bytes(report.runs_table)
    files["curves.csv"] = csv_bytes(curves_csv(report))
    if not report.hv_table.empty:
        files["hypervolume.csv"] = csv_bytes(report.hv_table)
    if report.op_histograms is not None and not report.op_histograms.empty:
        files["op_histograms.csv"] = csv_bytes(report.op_histograms.table)
    files["index.html"] = to_html(blocks, plots, report, out).encode()
    return files


def write_report(
    report: Report, out: str | Path, *, force: bool = False, files: dict[str, bytes] | None = None
) -> list[Path]:
    """Write every file of the report into `out` (`files`: from render_files, if already rendered)."""
    out = Path(out)
    previous = check_out_dir(out, report.result.root, force)
    files = render_files(report, out) if files is None else files
    (out / PLOTS).mkdir(parents=True, exist_ok=True)
    marker = {"generator": GENERATOR, "complete": False, "results": str(report.result.root), "files": sorted(files)}
    atomic_write_bytes(out / REPORT_MARKER, json.dumps(marker, indent=2).encode())
    written = []
    for rel, data in sorted(files.items()):
        atomic_write_bytes(out / rel, data)
        written.append(out / rel)
    if previous:
        for path in stale_files(previous, out, files):
            path.unlink()  # a plot of the previous report that this one no longer has
    budgets = [
        {"key": b.key, "label": b.label, "cuts": {t: [c.kind, c.value] for t, c in b.cuts.items()}}
        for b in report.budgets
    ]
    marker.update(
        complete=True,
        budgets=budgets,
        bootstrap=report.n_boot,
        alpha=report.alpha,
        seed=report.seed,
        counts=report.result.counts(),
    )
    atomic_write_bytes(out / REPORT_MARKER, json.dumps(marker, indent=2).encode())
    written.append(out / REPORT_MARKER)
    return written
