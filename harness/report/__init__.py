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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.report.build import build_report, choose_budgets, clock_notes, parse_budgets, parse_time_budgets
    from harness.report.model import REFERENCE_LABEL, Leaderboard, Report, TaskInfo

# Public name -> the module that defines it, imported on first use (PEP 562): `nas-harness report --help`
# and other importers of a submodule (harness.report.cli) do not pay for the builder's pandas and scipy.
_EXPORTS = {
    "build_report": "harness.report.build",
    "choose_budgets": "harness.report.build",
    "clock_notes": "harness.report.build",
    "parse_budgets": "harness.report.build",
    "parse_time_budgets": "harness.report.build",
    "REFERENCE_LABEL": "harness.report.model",
    "Leaderboard": "harness.report.model",
    "Report": "harness.report.model",
    "TaskInfo": "harness.report.model",
}

__all__ = ["REFERENCE_LABEL", "Leaderboard", "Report", "TaskInfo", "build_report", "choose_budgets", "clock_notes",
           "parse_budgets", "parse_time_budgets"]


def __getattr__(name: str) -> Any:
    """The package's public names, each imported from its module when first asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # asked once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
