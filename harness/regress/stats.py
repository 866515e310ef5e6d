"""The statistics of `nas-harness regress`: Holm's correction, a one-sided test (Wilcoxon signed-rank
on seed pairs, else Mann-Whitney U) and a bootstrap CI of the difference in means.

Why these: when both sides ran the same seeds, each seed fixes the benchmark noise and the start
of both runs (with unchanged code the two runs are identical), so the per-seed differences are the
natural unit and a Wilcoxon signed-rank test on them is valid (under "no change" each difference is
symmetric about 0) and more powerful; with different seed sets there are no pairs and the
Mann-Whitney U test compares the two samples. The test is one-sided
because the gate acts only on "worse", and a two-sided test at the same alpha spends half of it on
improvements, which never fail the gate. Holm's step-down correction over all comparisons keeps
the probability of any false alarm in one call at most alpha.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

DEFAULT_BOOTSTRAP = 10000


def holm(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: p_(i) * (m - i + 1), made monotone, capped at 1.

    Rejecting every hypothesis with adjusted p < alpha is exactly Holm's procedure at level alpha,
    which controls the family-wise error rate under any dependence between the tests.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (m - np.arange(m))
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out


def worse_p_value(baseline: np.ndarray, candidate: np.ndarray) -> float:
    """One-sided Mann-Whitney U p-value of "candidate regret tends to be larger than baseline's"."""
    if len(baseline) == 0 or len(candidate) == 0:
        return math.nan
    p = float(stats.mannwhitneyu(candidate, baseline, alternative="greater").pvalue)
    return 1.0 if math.isnan(p) else p


WILCOXON = "Wilcoxon signed-rank"
MANN_WHITNEY = "Mann-Whitney U"


def paired(base_seeds: list, cand_seeds: list) -> bool:
    """Whether the two sides ran exactly the same seeds (each once), so their values pair up by seed."""
    return (
        len(base_seeds) > 0
        and None not in base_seeds
        and len(set(base_seeds)) == len(base_seeds)
        and sorted(base_seeds) == sorted(cand_seeds)
    )


def worse_test(
    base_seeds: list, baseline: np.ndarray, cand_seeds: list, candidate: np.ndarray
) -> tuple[str, float]:
    """(test name, one-sided p) of "candidate regret tends to be larger than baseline's".

    Same seeds on both sides: scipy's Wilcoxon signed-rank test on candidate - baseline per seed
    (zero differences dropped, its default; all differences 0: p = 1). Otherwise the Mann-Whitney U
    test of `worse_p_value`.
    """
    b = np.asarray(baseline, dtype=np.float64)
    c = np.asarray(candidate, dtype=np.float64)
    if not paired(list(base_seeds), list(cand_seeds)):
        return MANN_WHITNEY, worse_p_value(b, c)
    cand_by_seed = dict(zip(cand_seeds, c, strict=True))
    c = np.array([cand_by_seed[s] for s in base_seeds], dtype=np.float64)
    diff = c - b
    if np.all(diff == 0):
        return WILCOXON, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(stats.wilcoxon(c, b, alternative="greater").pvalue)
    return WILCOXON, 1.0 if math.isnan(p) else p


def bootstrap_mean_diff_ci(
    baseline: np.ndarray,
    candidate: np.ndarray,
    *,
    n_boot: int = DEFAULT_BOOTSTRAP,
    level: float = 0.95,
    seed: int | list[int] = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(candidate) - mean(baseline), each set resampled on its own."""
    b = np.asarray(baseline, dtype=np.float64)
    c = np.asarray(candidate, dtype=np.float64)
    if n_boot < 1 or b.size == 0 or c.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    mb = b[rng.integers(0, b.size, size=(n_boot, b.size))].mean(axis=1)
    mc = c[rng.integers(0, c.size, size=(n_boot, c.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(mc - mb, [alpha, 1.0 - alpha])
    return float(lo), float(hi)
