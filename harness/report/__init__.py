"""`nas-harness report`: curves, tables, leaderboards and a best-practices checklist from a results folder.

`build_report` (harness.report.build) reads every run (harness.results), computes everything the
report shows and returns a `Report` (harness.report.model);
`harness.report.render.write_report` writes it as Markdown, CSV, LaTeX, PNG/SVG and one
self-contained HTML page. Computing and writing are separate so the numbers can be tested
without files and the files can be re-rendered without recomputing.

Runs are compared at budgets (harness.report.budgets): after N evaluations, or at T simulated
seconds (the incumbent of each run at that time), the protocol of time-budgeted grids such as the
NAS-Bench-201 paper's. Time is on each method's own clock (harness.report.load): simulated for
tabular strategies, real compute seconds for one-shot methods; every table, curve and note that
uses time says which. One-shot runs that record the ops of their picked cells (`op_<name>`
columns) also get op histograms per epoch (harness.report.ops). docs/REPORTS.md describes every
number the report shows.
"""
from __future__ import annotations

from harness.report.build import build_report, choose_budgets, clock_notes, parse_budgets, parse_time_budgets
from harness.report.model import REFERENCE_LABEL, Leaderboard, Report, TaskInfo

__all__ = ["REFERENCE_LABEL", "Leaderboard", "Report", "TaskInfo", "build_report", "choose_budgets", "clock_notes",
           "parse_budgets", "parse_time_budgets"]
