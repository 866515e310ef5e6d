"""Pytest helpers for projects that test their strategies against a checked-in baseline.

Why: a strategy's test suite can pass while the strategy quietly gets worse. With a baseline saved
once (`nas-harness regress --save-baseline RESULTS baseline.json`) and checked in, a test runs the
grid again and calls `assert_no_regression(results_dir, "baseline.json")`; it fails with the
comparison table when the candidate is significantly worse (see harness.regress).
"""
from __future__ import annotations

from pathlib import Path

from harness.regress import DEFAULT_BOOTSTRAP, RegressReport, format_table, regress


def assert_no_regression(
    candidate_dir: str | Path,
    baseline_path: str | Path,
    tolerance: float = 0.0,
    alpha: float = 0.05,
    *,
    budget: int | None = None,
    time_budget: float | None = None,
    allow_data_change: bool = False,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> RegressReport:
    """Raise AssertionError with the regress table if the candidate results regress; else return the report.

    `tolerance` is in regret units (accuracy points for NAS-Bench-201): a candidate fails only where
    its mean regret exceeds the baseline's by more than that AND Holm-adjusted p < `alpha`.
    Bad input (missing folders, different store data, mixed budgets) raises NasHarnessError.
    """
    report = regress(baseline_path, candidate_dir, tolerance=tolerance, alpha=alpha, budget=budget,
                     time_budget=time_budget, allow_data_change=allow_data_change, n_boot=n_boot, seed=seed)
    if report.regressed:
        worst = ", ".join(f"{r.benchmark} x {r.strategy} ({r.metric} {r.diff:+.4g})" for r in report.regressions)
        raise AssertionError(f"strategy regression against {baseline_path}: {worst}\n{format_table(report)}")
    return report
