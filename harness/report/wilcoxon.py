"""The Wilcoxon signed-rank test for more than 50 pairs, exactly as scipy.stats.wilcoxon computes it,
without importing scipy.stats.

Why: importing scipy.stats costs about 0.5 s of CPU (it pulls in scipy.sparse, spatial, optimize and
ndimage), a tenth of a report of 2,000 runs (issue 20), and a report of paired seeds needs only this
test. For more than 50 pairs scipy's default (`method="auto"`, `zero_method="wilcox"`,
`correction=False`) is the normal approximation below, computed here with the same numpy operations
in the same order, so the statistic and p-value are the same floats (tests/test_report_wilcoxon.py
compares them with scipy's on many samples, ties and zeros included). Smaller samples (scipy's exact
and permutation paths) and samples with NaN go to scipy.stats itself.
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr

LARGE_SAMPLE = 50  # scipy's `method="auto"` uses the normal approximation above this many pairs


def _average_ranks_and_ties(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks of `x` and, per group of equal values in sorted order, its size at the group's first
    position (zeros elsewhere): scipy.stats._stats_py._rankdata(x, "average", return_ties=True)."""
    n = x.shape[-1]
    order = np.argsort(x, kind="stable")
    ordinal = np.arange(1, n + 1, dtype=np.float64)
    ordered = x[order]
    first = np.concatenate([np.ones(1, dtype=bool), ordered[:-1] != ordered[1:]])
    starts = np.arange(n)[first]
    counts = np.diff(starts, append=np.asarray([n], dtype=starts.dtype))
    group_ranks = ordinal[first] + (counts.astype(np.float64) - 1) / 2
    ranks = np.empty(n, dtype=np.float64)
    np.put_along_axis(ranks, order, np.repeat(group_ranks, counts), axis=-1)
    ties = np.zeros(n, dtype=np.float64)
    ties[first] = counts.astype(np.float64)
    return ranks, ties


def wilcoxon_large(x: np.ndarray, y: np.ndarray, alternative: str = "two-sided") -> tuple[float, float] | None:
    """(statistic, p-value) of scipy.stats.wilcoxon(x, y, alternative=alternative) when it takes the
    normal approximation (more than LARGE_SAMPLE pairs, no NaN); None otherwise (ask scipy)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = x - y
    if d.ndim != 1 or d.size <= LARGE_SAMPLE or np.isnan(d).any() or alternative not in ("two-sided", "less",
                                                                                          "greater"):
        return None
    zeros = d == 0
    d = np.where(zeros, np.nan, d)  # zero_method="wilcox": zero differences are left out of the ranks
    count = np.float64(d.size - int(np.count_nonzero(np.isnan(d))))
    ranks, ties = _average_ranks_and_ties(np.abs(d))
    r_plus = np.sum((d > 0).astype(np.float64) * ranks)
    r_minus = np.sum((d < 0).astype(np.float64) * ranks)
    mean = count * (count + 1.0) * 0.25
    var = count * (count + 1.0) * (2.0 * count + 1.0)
    se = np.sqrt((var - np.sum(ties**3 - ties) / 2) / 24)
    z = (r_plus - mean) / se
    if alternative == "less":
        p = ndtr(z)
    elif alternative == "greater":
        p = ndtr(-z)
    else:
        p = 2 * ndtr(-np.abs(z))
    statistic = np.minimum(r_plus, r_minus) if alternative == "two-sided" else r_plus
    return float(statistic), float(p)
