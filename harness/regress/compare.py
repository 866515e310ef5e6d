"""Comparing a candidate result set with a baseline: is the candidate worse?

For every (task, method) present in both sets, per-seed final regret and AUC (harness.results.scores)
are compared with a one-sided test (Wilcoxon signed-rank on seed pairs when both sides ran the same
seeds, else Mann-Whitney U), a bootstrap CI of the difference in means and
Holm's correction over all comparisons (harness.regress.stats). A candidate regresses when
mean(candidate) - mean(baseline) > tolerance AND the Holm-adjusted p < alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from harness.regress.groups import GroupSet, load_result_set
from harness.regress.stats import DEFAULT_BOOTSTRAP, bootstrap_mean_diff_ci, holm, worse_test
from harness.results import EVALUATIONS, SIM_SECONDS
from harness.results.scores import METRICS, budget_options, check_cut
from tabular.errors import NasHarnessError

METRIC_TITLES = {"final": "final regret", "auc": "mean regret (AUC)"}
TIME_AUC_TITLE = "time-avg regret (AUC)"


@dataclass
class Comparison:
    """One (task, method, metric) compared: means, difference, CI, p-values and the verdict."""

    benchmark: str
    strategy: str
    metric: str
    n_base: int
    n_cand: int
    mean_base: float
    mean_cand: float
    diff: float
    ci: tuple[float, float]
    p: float
    p_holm: float = math.nan
    regression: bool = False
    note: str = ""
    budget: str = ""  # e.g. "100 evaluations", "200,000 simulated s"
    budget_kind: str = EVALUATIONS
    test: str = ""  # "Wilcoxon signed-rank" (same seeds on both sides) or "Mann-Whitney U"

    @property
    def title(self) -> str:
        """The metric's name; the AUC of a time budget is a time-average, not a mean over evaluations."""
        return (
            TIME_AUC_TITLE if self.metric == "auc" and self.budget_kind == SIM_SECONDS else METRIC_TITLES[self.metric]
        )


@dataclass
class RegressReport:
    """Every comparison of one regress call, with what was only on one side and the notes."""

    baseline: str
    candidate: str
    rows: list[Comparison]
    tolerance: float
    alpha: float
    level: float
    n_boot: int
    only_baseline: list[str] = field(default_factory=list)
    only_candidate: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        """True when any comparison is a significant regression (the exit status is then 1)."""
        return any(r.regression for r in self.rows)

    @property
    def regressions(self) -> list[Comparison]:
        """The comparisons that regressed."""
        return [r for r in self.rows if r.regression]


def _match(base: GroupSet, cand: GroupSet) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Pairs of (baseline key, candidate key) to compare.

    Equal labels match. A plain label on one side (`rs`: one variant in that set) also matches the
    variant on the other side with identical settings (`rs[replace=false]`), so adding a variant to
    one set does not hide the comparison.
    """
    pairs = [(k, k) for k in sorted(set(base.groups) & set(cand.groups))]
    left_b = sorted(set(base.groups) - set(cand.groups))
    left_c = sorted(set(cand.groups) - set(base.groups))
    for kb in list(left_b):
        gb = base.groups[kb]
        hits = [
            kc
            for kc in left_c
            if kc[0] == kb[0]
            and cand.groups[kc].strategy_name == gb.strategy_name
            and cand.groups[kc].params == gb.params
        ]
        if len(hits) == 1:
            pairs.append((kb, hits[0]))
            left_b.remove(kb)
            left_c.remove(hits[0])
    return sorted(pairs)


def _check_data(
    base: GroupSet, cand: GroupSet, pairs: list[tuple[tuple[str, str], tuple[str, str]]], allow: bool
) -> list[str]:
    """Refuse (or, with allow, warn about) benchmarks whose store sha256 differs between the sets."""
    changed: dict[str, tuple[list[str], list[str]]] = {}
    for kb, kc in pairs:
        b, c = base.groups[kb].shas, cand.groups[kc].shas
        if set(b) != set(c) or len(b) > 1:
            changed.setdefault(kb[0], (b, c))
    if changed and not allow:
        bench, (b, c) = next(iter(sorted(changed.items())))
        more = f" (and {len(changed) - 1} more benchmarks)" if len(changed) > 1 else ""
        raise NasHarnessError(
            f"benchmark store of {bench} differs between baseline (sha256 {', '.join(s[:12] for s in b)}) and "
            f"candidate ({', '.join(s[:12] for s in c)}){more}: regrets are not comparable; re-run the baseline "
            "on the same data, or pass --allow-data-change"
        )
    return [
        f"WARNING: benchmark store of {bench} differs (baseline {', '.join(s[:12] for s in b)} vs candidate "
        f"{', '.join(s[:12] for s in c)}); compared anyway (--allow-data-change)"
        for bench, (b, c) in sorted(changed.items())
    ]


def compare_sets(
    base: GroupSet,
    cand: GroupSet,
    *,
    tolerance: float = 0.0,
    alpha: float = 0.05,
    level: float = 0.95,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    allow_data_change: bool = False,
) -> RegressReport:
    """Compare every (benchmark, strategy) present in both sets on final regret and AUC."""
    if not 0 < alpha < 1:
        raise NasHarnessError(f"--alpha must be in (0, 1), got {alpha}")
    if tolerance < 0 or not math.isfinite(tolerance):
        raise NasHarnessError(f"--tolerance must be a non-negative number (regret units), got {tolerance}")
    pairs = _match(base, cand)
    matched_b = {kb for kb, _ in pairs}
    matched_c = {kc for _, kc in pairs}
    report = RegressReport(
        str(base.source),
        str(cand.source),
        [],
        tolerance,
        alpha,
        level,
        n_boot,
        only_baseline=[f"{b} x {s}" for b, s in sorted(set(base.groups) - matched_b)],
        only_candidate=[f"{b} x {s}" for b, s in sorted(set(cand.groups) - matched_c)],
        notes=[*base.notes, *cand.notes],
    )
    if not pairs:
        raise NasHarnessError(
            f"baseline and candidate share no (benchmark, strategy): baseline has {', '.join(report.only_baseline)}; "
            f"candidate has {', '.join(report.only_candidate)}"
        )
    report.notes += _check_data(base, cand, pairs, allow_data_change)
    for kb, kc in pairs:
        b, c = base.groups[kb], cand.groups[kc]
        label = kb[1] if kb == kc else max(kb[1], kc[1], key=len)
        if b.budget_key != c.budget_key:
            raise NasHarnessError(
                f"{kb[0]} x {label}: baseline budget {b.budget_text} but candidate budget {c.budget_text}; "
                + budget_options([b.budget_key, c.budget_key])
            )
        differs = sorted(k for k in set(b.params) | set(c.params) if b.params.get(k) != c.params.get(k))
        if differs:
            report.notes.append(
                f"{kb[0]} x {label}: settings differ: "
                + ", ".join(f"{k} {b.params.get(k)!r} -> {c.params.get(k)!r}" for k in differs)
            )
        for metric in METRICS:
            vb, vc = b.values(metric), c.values(metric)
            note = "few seeds: low power" if min(vb.size, vc.size) < 5 else ""
            test, p = worse_test(list(b.seeds), vb, list(c.seeds), vc)
            report.rows.append(
                Comparison(
                    kb[0],
                    label,
                    metric,
                    int(vb.size),
                    int(vc.size),
                    float(vb.mean()),
                    float(vc.mean()),
                    float(vc.mean() - vb.mean()),
                    bootstrap_mean_diff_ci(vb, vc, n_boot=n_boot, level=level, seed=[seed, len(report.rows)]),
                    p,
                    note=note,
                    budget=b.budget_text,
                    budget_kind=b.budget_kind,
                    test=test,
                )
            )
    adjusted = holm([r.p for r in report.rows])
    for row, p_adj in zip(report.rows, adjusted, strict=True):
        row.p_holm = float(p_adj)
        row.regression = bool(row.diff > tolerance and p_adj < alpha)
    return report


def regress(
    baseline: str | Path,
    candidate: str | Path,
    *,
    tolerance: float = 0.0,
    alpha: float = 0.05,
    budget: int | None = None,
    allow_data_change: bool = False,
    n_boot: int = DEFAULT_BOOTSTRAP,
    level: float = 0.95,
    seed: int = 0,
    time_budget: float | None = None,
) -> RegressReport:
    """Load both sets (folders or baseline JSON) and compare them, at each run's own budget or cut
    at `budget` evaluations or `time_budget` simulated seconds."""
    check_cut(budget, time_budget)
    base = load_result_set(baseline, budget, time_budget, role="baseline")
    cand = load_result_set(candidate, budget, time_budget, role="candidate")
    return compare_sets(
        base,
        cand,
        tolerance=tolerance,
        alpha=alpha,
        level=level,
        n_boot=n_boot,
        seed=seed,
        allow_data_change=allow_data_change,
    )
