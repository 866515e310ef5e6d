"""Statistics behind the report: bootstrap bands, ranks, Friedman, Nemenyi, tests against the best
method (Wilcoxon / Mann-Whitney with Holm), summaries, hypervolume.

Everything here is a pure function of arrays, so each can be checked against an independent truth
(scipy, a published table, brute-force enumeration) without running a search. Randomness (the
bootstrap) always comes from a `numpy.random.default_rng(seed)` created inside the call, so a
report's numbers never depend on call order or on global state.
"""
from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from harness.report.wilcoxon import wilcoxon_large

log = logging.getLogger(__name__)


def _scipy_stats() -> Any:
    """scipy.stats, imported when a test needs it: the import costs about 0.5 s of CPU, and a report whose
    comparisons are all large paired samples (harness.report.wilcoxon) needs none of it."""
    from scipy import stats

    return stats

BOOTSTRAP_METHOD = "vectorised percentile bootstrap over seeds"


# -- bootstrap ----------------------------------------------------------------------------------
def resample_counts(n: int, *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_boot, n) float matrix: how often bootstrap resample b drew run j (what `bootstrap_band` draws for n runs).

    Apart so that bands over the same runs (one method's validation, test and regret curves) draw once.
    One bincount: exact small integers, as np.add.at gave them, at a fraction of its cost.
    """
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(n_boot, n))
    flat = (np.arange(n_boot)[:, None] * n + picks).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def exact_sum_grid(y: np.ndarray, n: int) -> np.ndarray:
    """`y` with each column rounded to a grid of 2^q fine enough to keep its largest value to
    53 - 1 - ceil(log2(n)) significant bits, coarse enough that any sum of n of its values, each
    counted a whole number of times, is exact in float64.

    Why: a resampled mean is `counts @ y`, which BLAS sums in an order that depends on its kernel and
    thread count, so the last bits of a band differed between machines (about 3e-14): the report's
    curves.csv must be the same bit for bit anywhere. On the grid every partial sum is an exact multiple
    of 2^q below 2^53 * 2^q, so every order gives the same sum. The rounding moves a value by at most
    2^-(53 - ceil(log2 n)) of its column's largest finite magnitude (about 2e-13 for 500 runs); infinite
    and NaN values are kept as they are. The band's mean is computed from the values themselves, so
    where every run has the same value the band [lo, hi] can lie that little beside the mean.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return y
    finite = np.isfinite(y)
    top = np.max(np.where(finite, np.abs(y), 0.0), axis=0)  # the largest finite magnitude per column
    bits = 52 - max(1, math.ceil(math.log2(max(n, 2))))
    exponent = np.frexp(top)[1]  # top = m * 2^exponent with 0.5 <= m < 1
    scale = np.where(top > 0, exponent - bits, 0).astype(np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        on_grid = np.ldexp(np.round(np.ldexp(y, -scale)), scale)
    return np.where(finite, on_grid, y)


def bootstrap_band(
    values: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0, counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs and a percentile bootstrap band of that mean, per column.

    `values` is (runs, points) without NaN. Resampling runs with replacement is done as a
    (n_boot, runs) matrix of multinomial counts, so memory is n_boot x points however many runs
    there are. With one run the band collapses onto the value (there is no spread to estimate).
    `counts` is `resample_counts(runs, n_boot=n_boot, seed=seed)` when the caller has it already.
    """
    y = np.asarray(values, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    n = y.shape[0]
    if n == 0:
        raise ValueError("bootstrap_band needs at least one run")
    mean = y.mean(axis=0)
    if n == 1:
        return mean, mean.copy(), mean.copy()
    if counts is None:
        counts = resample_counts(n, n_boot=n_boot, seed=seed)
    boot = counts @ exact_sum_grid(y, n) / n
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    return mean, lo, hi


# -- summaries ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """Mean, standard error, median and quartiles of one sample (NaN-free), with its size n."""

    n: int
    mean: float
    se: float
    median: float
    q25: float
    q75: float

    @property
    def iqr(self) -> float:
        return self.q75 - self.q25


def summarise(values: np.ndarray) -> Summary:
    """Summary of the finite values; se is NaN for n < 2 (one run has no spread)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        nan = float("nan")
        return Summary(0, nan, nan, nan, nan, nan)
    se = float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    q25, med, q75 = np.percentile(x, [25, 50, 75])
    return Summary(n, float(x.mean()), se, float(med), float(q25), float(q75))


# -- ranks and the Friedman test ----------------------------------------------------------------
def rank_rows(values: np.ndarray) -> np.ndarray:
    """Rank each row ascending (1 = smallest = best for regret); ties share their average rank."""
    v = np.asarray(values, dtype=np.float64)
    if np.isnan(v).any():
        raise ValueError("rank_rows: NaN in the score matrix; every method needs a value on every benchmark")
    order = np.argsort(v, axis=1, kind="stable")
    sorted_v = np.take_along_axis(v, order, axis=1)
    ranks = np.empty_like(v)
    k = v.shape[1]
    for i in range(v.shape[0]):
        # Average rank of each run of equal values: positions start..end-1 get (start+end+1)/2.
        start = 0
        row = np.empty(k)
        while start < k:
            end = start + 1
            while end < k and sorted_v[i, end] == sorted_v[i, start]:
                end += 1
            row[start:end] = (start + 1 + end) / 2.0
            start = end
        ranks[i, order[i]] = row
    return ranks


@dataclass(frozen=True)
class FriedmanResult:
    statistic: float  # chi-square form, tie-corrected
    p_value: float
    iman_davenport: float  # F form (Iman & Davenport 1980), recommended by Demsar 2006
    p_value_f: float
    k: int
    n: int


def friedman_from_ranks(ranks: np.ndarray) -> FriedmanResult:
    """Friedman test from an (n blocks x k treatments) rank matrix, with the usual tie correction.

    chi2 = 12 n / (k (k+1)) * sum_j (Rbar_j - (k+1)/2)^2, divided by
    1 - sum(t^3 - t) / (n k (k^2 - 1)) over tie groups t within blocks.
    """
    r = np.asarray(ranks, dtype=np.float64)
    n, k = r.shape
    if k < 2 or n < 1:
        raise ValueError("the Friedman test needs at least 2 treatments and 1 block")
    mean_ranks = r.mean(axis=0)
    chi2 = 12.0 * n / (k * (k + 1)) * float(np.sum((mean_ranks - (k + 1) / 2.0) ** 2))
    ties = 0.0
    for row in r:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts.astype(float) ** 3 - counts))
    correction = 1.0 - ties / (n * k * (k * k - 1))
    chi2 = chi2 / correction if correction > 0 else float("nan")
    p = float(special.chdtrc(k - 1, chi2))  # scipy.stats.chi2.sf(chi2, k - 1)
    denom = n * (k - 1) - chi2
    if n > 1 and denom > 0:
        f = (n - 1) * chi2 / denom
        pf = float(special.fdtrc(k - 1, (k - 1) * (n - 1), f))  # scipy.stats.f.sf(f, k - 1, ...)
    else:
        f, pf = float("nan"), float("nan")
    return FriedmanResult(float(chi2), p, float(f), pf, k, n)


def friedman(scores: np.ndarray) -> FriedmanResult:
    """Friedman test on an (n benchmarks x k methods) score matrix (lower score = better).

    The reported chi-square and p-value are scipy.stats.friedmanchisquare's (k >= 3); they are
    cross-checked against our own computation from `rank_rows`, which also gives the
    Iman-Davenport F form. A disagreement means one of the two is wrong, so it is logged.
    """
    s = np.asarray(scores, dtype=np.float64)
    ours = friedman_from_ranks(rank_rows(s))
    if s.shape[1] < 3:
        return ours
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _scipy_stats().friedmanchisquare(*s.T)
    if not math.isclose(ref.statistic, ours.statistic, rel_tol=1e-9, abs_tol=1e-12):
        log.warning("Friedman statistic %.6g differs from scipy's %.6g", ours.statistic, ref.statistic)
    return FriedmanResult(float(ref.statistic), float(ref.pvalue), ours.iman_davenport, ours.p_value_f, ours.k, ours.n)


# -- pairwise tests against the best method ------------------------------------------------------
WILCOXON = "Wilcoxon signed-rank"
MANN_WHITNEY = "Mann-Whitney U"


@dataclass(frozen=True)
class PairTest:
    """One two-sample test: which test, its statistic and p-value (NaN when it cannot be computed)."""

    test: str
    statistic: float
    p_value: float


def seed_test(a: dict, b: dict, alternative: str = "two-sided") -> PairTest:
    """Compare two methods' per-seed values ({seed: value}): paired when their seeds match.

    Why paired only then: the same seed gives a method the same benchmark noise and start, so a
    Wilcoxon signed-rank test on the per-seed differences (b - a) removes that shared variation;
    with different seed sets there are no pairs and the Mann-Whitney U test is used. Both are
    scipy's, with its defaults (exact distribution for small samples without ties; zero differences
    dropped). When every paired difference is 0 the samples are identical: p = 1.
    `alternative` is about b relative to a ("greater": b tends to be larger).
    """
    if not a or not b:
        return PairTest("", math.nan, math.nan)
    seeds = sorted(a, key=str)
    if set(a) == set(b) and None not in a:
        x = np.array([a[s] for s in seeds], dtype=np.float64)
        y = np.array([b[s] for s in seeds], dtype=np.float64)
        if np.all(y - x == 0):
            return PairTest(WILCOXON, 0.0, 1.0)
        large = wilcoxon_large(y, x, alternative)  # scipy's normal approximation, without scipy.stats
        if large is not None:
            return PairTest(WILCOXON, *large)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _scipy_stats().wilcoxon(y, x, alternative=alternative)
        return PairTest(WILCOXON, float(res.statistic), float(res.pvalue))
    x = np.array(list(a.values()), dtype=np.float64)
    y = np.array(list(b.values()), dtype=np.float64)
    res = _scipy_stats().mannwhitneyu(y, x, alternative=alternative)
    return PairTest(MANN_WHITNEY, float(res.statistic), float(res.pvalue))


def holm(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: sorted p_(i) times (m - i + 1), made monotone, capped at 1.

    NaN p-values (tests that could not be computed) stay NaN and do not count in m.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = p[order] * (m - np.arange(m))
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


# -- Nemenyi critical difference ----------------------------------------------------------------
def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """q_alpha of the Nemenyi test: studentized range quantile (k, infinite df) over sqrt(2)."""
    if k < 2:
        raise ValueError("the Nemenyi test needs at least 2 methods")
    return float(_scipy_stats().studentized_range.ppf(1.0 - alpha, k, np.inf) / math.sqrt(2.0))


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Critical difference of average ranks, CD = q_alpha sqrt(k (k+1) / (6 n)) (Demsar 2006)."""
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n))


def cd_cliques(avg_ranks: np.ndarray, cd: float) -> list[tuple[int, ...]]:
    """Maximal groups of methods (indices) whose average ranks lie within less than CD of each other."""
    r = np.asarray(avg_ranks, dtype=np.float64)
    order = np.argsort(r, kind="stable")
    groups: list[tuple[int, ...]] = []
    last_end = -1
    for a in range(len(order)):
        b = a
        while b + 1 < len(order) and r[order[b + 1]] - r[order[a]] < cd:
            b += 1
        if b > a and b > last_end:
            groups.append(tuple(int(i) for i in order[a : b + 1]))
            last_end = b
    return groups


# -- Pareto fronts and hypervolume (minimisation) ------------------------------------------------
def pareto_mask(points: np.ndarray) -> np.ndarray:
    """True for points no other point dominates (all objectives minimised; duplicates both kept)."""
    p = np.asarray(points, dtype=np.float64)
    if p.size == 0:
        return np.zeros(0, dtype=bool)
    le = np.all(p[:, None, :] <= p[None, :, :], axis=2)
    lt = np.any(p[:, None, :] < p[None, :, :], axis=2)
    dominated = np.any(le & lt, axis=0)
    return ~dominated


def hypervolume_2d(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact area dominated by `points` and bounded by `ref` (both objectives minimised)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    r = np.asarray(ref, dtype=np.float64)
    p = p[np.all(p < r, axis=1)]
    if p.size == 0:
        return 0.0
    p = p[np.lexsort((p[:, 1], p[:, 0]))]  # by x, then y
    area, best_y = 0.0, r[1]
    xs = np.append(p[1:, 0], r[0])
    for (x, y), x_next in zip(p, xs, strict=True):
        best_y = min(best_y, y)
        area += (x_next - x) * (r[1] - best_y)
    return float(area)


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume in any dimension by slicing along the last objective (fine for small fronts)."""
    p = np.asarray(points, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != r.shape[0]:
        raise ValueError("points must be (n, d) with d = len(ref)")
    p = p[np.all(p < r, axis=1)]
    if p.shape[0] == 0:
        return 0.0
    d = p.shape[1]
    if d == 1:
        return float(r[0] - p[:, 0].min())
    if d == 2:
        return hypervolume_2d(p, r)
    p = p[pareto_mask(p)]
    cuts = np.unique(np.append(p[:, -1], r[-1]))
    total = 0.0
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        active = p[p[:, -1] <= lo]
        total += (hi - lo) * hypervolume(active[:, :-1], r[:-1])
    return float(total)


class IncrementalFront2D:
    """Hypervolume after each added point, in O(front size) per point (2 objectives, minimised)."""

    def __init__(self, ref: np.ndarray):
        self.ref = np.asarray(ref, dtype=np.float64)
        self.front: list[tuple[float, float]] = []
        self.volume = 0.0

    def add(self, x: float, y: float) -> float:
        if not (x < self.ref[0] and y < self.ref[1]):
            return self.volume
        if any(fx <= x and fy <= y for fx, fy in self.front):
            return self.volume
        self.front = [(fx, fy) for fx, fy in self.front if not (x <= fx and y <= fy)] + [(x, y)]
        self.volume = hypervolume_2d(np.array(self.front), self.ref)
        return self.volume
