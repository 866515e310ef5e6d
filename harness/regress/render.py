"""What `nas-harness regress` prints and writes: a fixed-width table, and regress.md."""

from __future__ import annotations

import math
from pathlib import Path

from harness.regress.compare import Comparison, RegressReport
from harness.results import SIM_SECONDS
from tabular.atomic import atomic_write_bytes

REPORT_NAME = "regress.md"
_HEADER = (
    "benchmark",
    "strategy",
    "budget",
    "metric",
    "n_base",
    "n_cand",
    "mean_base",
    "mean_cand",
    "diff",
    "CI",
    "test",
    "p",
    "p_holm",
    "verdict",
)


def _cells(r: Comparison, report: RegressReport) -> list[str]:
    if r.regression:
        verdict = "REGRESSION"
    elif r.diff > report.tolerance:
        verdict = "worse, not significant"
    elif r.diff > 0:
        verdict = "ok (within tolerance)"
    else:
        verdict = "ok"
    ci = f"[{r.ci[0]:+.4f}, {r.ci[1]:+.4f}]" if math.isfinite(r.ci[0]) else "n/a"
    verdict += f" ({r.note})" if r.note else ""
    return [
        r.benchmark,
        r.strategy,
        r.budget,
        r.title,
        str(r.n_base),
        str(r.n_cand),
        f"{r.mean_base:.4f}",
        f"{r.mean_cand:.4f}",
        f"{r.diff:+.4f}",
        ci,
        {"Wilcoxon signed-rank": "Wilcoxon (paired)", "Mann-Whitney U": "Mann-Whitney"}.get(r.test, r.test or "–"),
        f"{r.p:.3g}",
        f"{r.p_holm:.3g}",
        verdict,
    ]


def _tests_used(report: RegressReport) -> str:
    """Which one-sided test each comparison used, in words (the `test` column abbreviates it)."""
    paired = sum(r.test == "Wilcoxon signed-rank" for r in report.rows)
    parts = []
    if paired:
        parts.append(
            f"Wilcoxon signed-rank on per-seed differences for {paired} comparison(s) whose sides ran the same seeds"
        )
    if len(report.rows) - paired:
        parts.append(f"Mann-Whitney U for {len(report.rows) - paired} comparison(s) whose seeds differ")
    return "; ".join(parts) or "none"


def _summary(report: RegressReport) -> list[str]:
    lines = [
        f"baseline:  {report.baseline}",
        f"candidate: {report.candidate}",
        f"regression = mean difference > {report.tolerance:g} AND Holm-adjusted one-sided p < "
        f"{report.alpha:g} "
        f"({len(report.rows)} comparisons; CI: {report.level:.0%} percentile bootstrap of the difference in means, "
        f"{report.n_boot} resamples)",
        f"tests: {_tests_used(report)}",
    ]
    if any(r.budget_kind == SIM_SECONDS for r in report.rows):
        lines.append(
            "time budgets: final regret = regret of the incumbent at the time budget T (the last evaluation completed "
            "by T); AUC = time-average of the incumbent's regret over [first completion, T] on the simulated clock"
        )
    if report.only_baseline:
        lines.append("only in baseline (not compared): " + ", ".join(report.only_baseline))
    if report.only_candidate:
        lines.append("only in candidate (not compared): " + ", ".join(report.only_candidate))
    lines += [f"note: {n}" for n in report.notes]
    n_reg = len(report.regressions)
    lines.append(f"RESULT: {n_reg} significant regression(s)" if n_reg else "RESULT: no significant regression")
    return lines


def format_table(report: RegressReport) -> str:
    """The comparison as a fixed-width text table with a summary (what the CLI prints)."""
    rows = [list(_HEADER)] + [_cells(r, report) for r in report.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(text + [""] + _summary(report))


def to_markdown(report: RegressReport) -> str:
    """The comparison as Markdown (regress.md): the table, then the summary as a list."""
    lines = ["# nas-harness regress", "", "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(_cells(r, report)) + " |" for r in report.rows]
    lines += [""] + [f"- {line}" for line in _summary(report)]
    return "\n".join(lines) + "\n"


def write_report(report: RegressReport, out: Path) -> Path:
    """Write regress.md (atomic). `out` is a file path or a folder to put regress.md in."""
    out = Path(out)
    if out.is_dir():
        out = out / REPORT_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, to_markdown(report).encode())
    return out


def default_report_path(candidate: Path) -> Path:
    """regress.md inside the candidate folder, or next to a candidate JSON."""
    candidate = Path(candidate)
    return candidate / REPORT_NAME if candidate.is_dir() else candidate.with_name(candidate.stem + "." + REPORT_NAME)
