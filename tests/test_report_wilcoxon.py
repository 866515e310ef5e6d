"""harness.report.wilcoxon gives scipy.stats.wilcoxon's statistic and p-value, bit for bit, for the
samples it answers (more than 50 pairs); Friedman's p-values from scipy.special equal scipy.stats's."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from harness.report.stats import friedman_from_ranks, rank_rows
from harness.report.wilcoxon import LARGE_SAMPLE, wilcoxon_large


def _samples():
    rng = np.random.default_rng(0)
    for n in (51, 52, 100, 500, 777):
        x = rng.normal(size=n)
        yield x, x + rng.normal(0.05, 1.0, size=n)  # continuous: no ties
        yield np.round(x, 1), np.round(x + rng.normal(0.1, 0.5, size=n), 1)  # many ties and zero differences
        yield rng.integers(0, 4, n).astype(float), rng.integers(0, 4, n).astype(float)  # mostly ties
        same = rng.normal(size=n)
        yield same, np.where(rng.random(n) < 0.5, same, same + 1e-9)  # half the differences are zero


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_large_sample_wilcoxon_is_scipys(alternative):
    checked = 0
    for x, y in _samples():
        ours = wilcoxon_large(x, y, alternative)
        ref = stats.wilcoxon(x, y, alternative=alternative)
        assert ours is not None
        assert ours == (float(ref.statistic), float(ref.pvalue)), (len(x), alternative)
        checked += 1
    assert checked == 20


def test_small_or_nan_samples_are_left_to_scipy():
    x = np.arange(LARGE_SAMPLE, dtype=float)
    assert wilcoxon_large(x, x + 1) is None  # 50 pairs: scipy's exact or permutation path
    y = np.arange(60, dtype=float)
    assert wilcoxon_large(y, np.where(y == 3, np.nan, y + 1)) is None


def test_friedman_p_values_from_special_are_scipys():
    rng = np.random.default_rng(1)
    for n, k in ((5, 3), (12, 4), (30, 6)):
        scores = rng.normal(size=(n, k))
        ours = friedman_from_ranks(rank_rows(scores))
        assert ours.p_value == float(stats.chi2.sf(ours.statistic, k - 1))
        assert ours.p_value_f == float(stats.f.sf(ours.iman_davenport, k - 1, (k - 1) * (n - 1)))
