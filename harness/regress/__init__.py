"""Regression testing of search strategies: is a candidate result set worse than a baseline?

Why: a change to a strategy (or to the engine, or to a dependency) can make it find worse
architectures without any test failing. `nas-harness regress BASELINE CANDIDATE` compares, for
every (benchmark, strategy) present in both, the per-seed

- final regret: the incumbent's regret at the budget, and
- anytime regret (normalised AUC), which also catches a strategy that gets to the same end more
  slowly.

The budget is each run's own (the manifest's config.budget) unless `--budget B` or
`--time-budget T` cuts every run. With an evaluations budget B, final regret is the regret after
the B-th evaluation and the AUC the mean regret over evaluations 1..B. With a simulated-time
budget T (the NAS-Bench-201 protocol: runs then differ in their number of evaluations), final
regret is the regret of the incumbent at simulated time T (the last evaluation completed by T) and
the AUC the time-average of the incumbent's regret, a step function of the simulated clock, over
[t0, T], where t0 is the run's first completion (before it there is no incumbent). Which row a
budget selects is harness.report.budgets.cut_index, shared with `nas-harness report`.

Per comparison: a one-sided test of "candidate regret is stochastically larger": the Wilcoxon
signed-rank test on the per-seed differences when both sides ran the same seeds (a seed fixes the
benchmark noise and the start of both runs, so pairs remove that shared variation), else the
Mann-Whitney U test (no pairs); the output's `test` column says which. Then a percentile bootstrap CI of the
difference in means (fixed seed), and Holm's step-down correction over all comparisons, so the
whole call raises a false alarm with probability at most alpha. One-sided because the gate acts
only on "worse": a two-sided test at the same alpha spends half of it on improvements, which never
fail the gate, and so loses power. A candidate regresses when mean(candidate) - mean(baseline) >
tolerance AND the Holm-adjusted p < alpha.

A baseline is a results folder or a compact JSON (`save_baseline`) holding the per-seed values,
budget (kind and value), store sha256 and versions, small enough to check into a repository.

Runs, labels and counts come from harness.results (`load_scores`), the one results model that
`nas-harness report` and `rank-stats --strategies` read too. The package: `stats` (tests and CIs),
`groups` (the two sides and the baseline file format), `compare` (matching and the verdicts),
`render` (table and regress.md).
"""

from __future__ import annotations

from pathlib import Path

from harness.regress.compare import METRIC_TITLES, TIME_AUC_TITLE, Comparison, RegressReport, compare_sets, regress
from harness.regress.groups import (
    BASELINE_FORMAT,
    BASELINE_VERSION,
    Group,
    GroupSet,
    group_runs,
    load_result_set,
    save_baseline,
)
from harness.regress.render import REPORT_NAME, default_report_path, format_table, to_markdown, write_report
from harness.regress.stats import DEFAULT_BOOTSTRAP, bootstrap_mean_diff_ci, holm, worse_p_value, worse_test
from harness.results import RunScore, Scores, ScoreSkip, classify, load_scores, score_run
from harness.results.scores import METRICS, budget_label
from tabular.errors import NasHarnessError

__all__ = [
    "BASELINE_FORMAT",
    "BASELINE_VERSION",
    "DEFAULT_BOOTSTRAP",
    "METRICS",
    "METRIC_TITLES",
    "REPORT_NAME",
    "TIME_AUC_TITLE",
    "Comparison",
    "Group",
    "GroupSet",
    "RegressReport",
    "RunResult",
    "bootstrap_mean_diff_ci",
    "budget_label",
    "compare_sets",
    "default_report_path",
    "format_table",
    "group_runs",
    "holm",
    "load_result_set",
    "load_run",
    "load_runs",
    "regress",
    "save_baseline",
    "to_markdown",
    "worse_p_value",
    "worse_test",
    "write_report",
]

RunResult = RunScore  # older name: the two numbers regress needs from one finished run


def load_runs(root: str | Path, budget: int | None = None, time_budget: float | None = None) -> Scores:
    """Every usable run under `root` scored at its own budget or the cut (harness.results.load_scores)."""
    return load_scores(root, budget, time_budget)


def load_run(run_dir: str | Path, budget: int | None = None, time_budget: float | None = None) -> RunScore:
    """Final regret and AUC of one complete run folder (NasHarnessError when it is not complete or too short)."""
    run = classify(Path(run_dir))
    if run.status != "complete":
        raise NasHarnessError(
            f"{run_dir} is not a complete run ({run.status}: {run.reason}); regress reads complete runs only"
        )
    run.task, run.method = run.benchmark, run.strategy
    try:
        return score_run(run, budget, time_budget)
    except ScoreSkip as why:
        raise NasHarnessError(f"{run_dir} cannot be read at this budget: {why}") from None
