"""Rank statistics on plain arrays: correlations, bootstrap intervals, top-k agreement, Kendall's W.

Why a module of its own: these are the numbers docs/STATISTICS.md reports, and every caller
(`rank-stats`, `validate`, the report) must get them from one place, computed the way the NAS
literature does, without knowing where the arrays came from:

- Spearman rho and Kendall tau-b with their p-values (scipy.stats.spearmanr / kendalltau);
- percentile bootstrap confidence intervals (fixed seed). Spearman replicates are computed for all
  resamples at once from resampling *counts* (no sorting per replicate); Kendall replicates call
  scipy once per resample (tau-b has no cheap vectorised form);
- sparse Kendall tau (NAS-Bench-301, Siems et al. 2020): tau-b after rounding the *predicted*
  values to `decimals` decimals (1 decimal = 0.1 % accuracy), the truth left as is; this is the
  `kendalltau(y_true, np.round(y_pred, decimals=1))` of the NB301 and NASLib evaluation code;
- top-k agreement: the expected fraction of the true top-k (by the first metric) that lies in the
  predicted top-k, ties at the k-th place broken uniformly at random (computed exactly, not
  sampled). With both sets of size k it equals NASLib's precision@k when there are no ties;
- Kendall's W: concordance of rankings (of strategies) by several raters (benchmarks, seed splits).

Nothing here reads files or knows benchmarks: that is `harness.rank_stats.sources`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from tabular.errors import NasHarnessError

DEFAULT_BOOTSTRAP = 1000
DEFAULT_LEVEL = 0.95
# Bootstrap resamples are drawn and processed in blocks of about this many indices (8 MB per array).
_CHUNK_ELEMENTS = 1 << 20


def finite_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The pairs where both values are finite, and how many pairs were dropped (NaN or +-inf)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise NasHarnessError(
            f"rank statistics need two 1-d arrays of equal length, got shapes {x.shape} and {y.shape}"
        )
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep], int(keep.size - keep.sum())


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman rho and its two-sided p-value (scipy)."""
    res = stats.spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def kendall(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Kendall tau-b (ties corrected in both variables) and its two-sided p-value (scipy)."""
    res = stats.kendalltau(x, y, variant="b")
    return float(res.statistic), float(res.pvalue)


def sparse_kendall(
    truth: np.ndarray, pred: np.ndarray, decimals: int = 1, *, round_truth: bool = False
) -> tuple[float, float]:
    """NAS-Bench-301's sparse Kendall tau: tau-b after rounding the predictions to `decimals`.

    Rounding makes predictions that differ by less than the rounding step tied, so swaps between
    architectures whose accuracies differ by less than 0.1 % (decimals=1) do not count. NB301 and
    NASLib round only the prediction; `round_truth=True` rounds both (a stricter variant).
    """
    pred = np.round(np.asarray(pred, dtype=np.float64), decimals)
    truth = np.asarray(truth, dtype=np.float64)
    if round_truth:
        truth = np.round(truth, decimals)
    return kendall(truth, pred)


def _resample_blocks(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap index blocks (rows = resamples); the same (n, n_boot, seed) gives the same indices.

    Each resample is drawn by its own call, so the indices do not depend on the block size.
    """
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_ELEMENTS // max(n, 1))
    done = 0
    while done < n_boot:
        b = min(rows, n_boot - done)
        yield np.stack([rng.integers(0, n, size=n) for _ in range(b)])
        done += b


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) multiplicity of every original point in each resample."""
    b = idx.shape[0]
    flat = (idx + n * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def _resampled_ranks(groups: np.ndarray, n_groups: int, counts: np.ndarray) -> np.ndarray:
    """Average rank, inside each resample, of every original point (ties share their mean rank).

    `groups` numbers the distinct values in increasing order. A resample holding w_g copies of the
    values in group g ranks them cum_{g'<g} w + (w_g + 1) / 2: exactly what rankdata would give.
    """
    b = counts.shape[0]
    flat = (groups[None, :] + n_groups * np.arange(b)[:, None]).ravel()
    w = np.bincount(flat, weights=counts.ravel(), minlength=b * n_groups).reshape(b, n_groups)
    rank_of_group = np.cumsum(w, axis=1) - w + (w + 1.0) / 2.0
    return np.take_along_axis(rank_of_group, np.broadcast_to(groups, counts.shape), axis=1)


def spearman_replicates(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Spearman rho of every resample `x[idx[b]], y[idx[b]]`, all at once (NaN if a side is constant).

    Each resample is a multiset of the original points, so its Spearman rho is a weighted Pearson
    correlation of the points' ranks within the resample, with the multiplicities as weights.
    """
    n = x.size
    gx = np.unique(x, return_inverse=True)[1].ravel()
    gy = np.unique(y, return_inverse=True)[1].ravel()
    counts = _counts(idx, n)
    rx = _resampled_ranks(gx, int(gx.max()) + 1 if n else 0, counts)
    ry = _resampled_ranks(gy, int(gy.max()) + 1 if n else 0, counts)
    mean = (n + 1.0) / 2.0  # the mean rank of any resample of n points
    dx, dy = rx - mean, ry - mean
    cov = np.einsum("bn,bn,bn->b", counts, dx, dy)
    vx = np.einsum("bn,bn,bn->b", counts, dx, dx)
    vy = np.einsum("bn,bn,bn->b", counts, dy, dy)
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.sqrt(vx * vy)


def kendall_replicates(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Kendall tau-b of every resample (one scipy call each)."""
    out = np.empty(idx.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # constant resamples give NaN
        for b, rows in enumerate(idx):
            out[b] = stats.kendalltau(x[rows], y[rows]).statistic
    return out


def percentile_ci(replicates: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (NaN replicates, from constant resamples, ignored)."""
    if not 0 < level < 1:
        raise NasHarnessError(f"confidence level must be in (0, 1), got {level}")
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_correlations(
    x: np.ndarray, y: np.ndarray, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0, *, kendall_too: bool = True
) -> dict[str, np.ndarray]:
    """Bootstrap replicates of Spearman rho and Kendall tau-b over the same resamples (pairs resampled)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if n_boot < 1 or x.size < 2:
        return {"spearman": np.empty(0), "kendall": np.empty(0)}
    parts_s, parts_k = [], []
    for idx in _resample_blocks(x.size, n_boot, seed):
        parts_s.append(spearman_replicates(x, y, idx))
        if kendall_too:
            parts_k.append(kendall_replicates(x, y, idx))
    return {"spearman": np.concatenate(parts_s), "kendall": np.concatenate(parts_k) if parts_k else np.empty(0)}


def top_k_membership(values: np.ndarray, k: int, higher_is_better: bool = True) -> np.ndarray:
    """Probability that each item is in the top k when ties at the k-th place are broken at random.

    Items strictly better than the k-th best value are in for sure; the items tied with it share
    the remaining places equally. The result sums to k.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if not 1 <= k <= n:
        raise NasHarnessError(f"top-k needs 1 <= k <= {n} (the number of architectures compared), got k={k}")
    s = v if higher_is_better else -v
    kth = np.partition(s, n - k)[n - k]  # the k-th largest
    above = s > kth
    tied = s == kth
    weights = above.astype(np.float64)
    weights[tied] = (k - above.sum()) / tied.sum()
    return weights


def top_k_overlap(
    truth: np.ndarray, pred: np.ndarray, k: int, *, truth_higher: bool = True, pred_higher: bool = True
) -> float:
    """Expected fraction of the true top-k that is in the predicted top-k (random tie-breaking).

    With both sets of size k this is also the precision@k of the prediction (NASLib's precision_k).
    """
    wt = top_k_membership(truth, k, truth_higher)
    wp = top_k_membership(pred, k, pred_higher)
    return float(np.dot(wt, wp) / k)


def parse_k(text: str, n: int) -> int:
    """'10' -> 10, '1%' -> 1 % of n (at least 1)."""
    text = text.strip()
    try:
        if text.endswith("%"):
            return max(1, int(round(n * float(text[:-1]) / 100.0)))
        return int(text)
    except ValueError:
        raise NasHarnessError(f"top-k value {text!r} is neither an integer nor a percentage like 1%") from None


@dataclass
class Concordance:
    """Kendall's W for m raters ranking n objects, with Friedman's chi-square test of W = 0."""

    w: float
    chi2: float
    df: int
    p_value: float
    m: int
    n: int
    raters: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    mean_ranks: list[float] = field(default_factory=list)


def kendalls_w(
    scores: np.ndarray,
    *,
    lower_is_better: bool = True,
    raters: list[str] | None = None,
    objects: list[str] | None = None,
) -> Concordance:
    """Kendall's coefficient of concordance W of the rankings in the rows of `scores` (m x n).

    Each row (a rater: a benchmark, or one seed split) ranks the n objects (strategies); ties get
    average ranks and W carries the tie correction, W = 12 S / (m^2 (n^3 - n) - m sum_i T_i) with
    T_i = sum (t^3 - t) over the tie groups of rater i. Then chi2 = m (n - 1) W is Friedman's
    statistic, tested on n - 1 degrees of freedom.
    """
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 2:
        raise NasHarnessError(f"Kendall's W needs at least 2 raters and 2 objects (got a {a.shape} table)")
    if not np.isfinite(a).all():
        raise NasHarnessError("Kendall's W needs a finite score for every rater and object")
    m, n = a.shape
    ranks = stats.rankdata(a if lower_is_better else -a, axis=1)
    totals = ranks.sum(axis=0)
    s = float(np.sum((totals - m * (n + 1) / 2.0) ** 2))
    ties = 0.0
    for row in ranks:
        _, t = np.unique(row, return_counts=True)
        ties += float(np.sum(t.astype(np.float64) ** 3 - t))
    denom = m**2 * (n**3 - n) - m * ties
    w = 1.0 if denom == 0 else 12.0 * s / denom  # denom 0: every rater ties every object (trivially concordant)
    chi2 = m * (n - 1) * w
    p = float(stats.chi2.sf(chi2, n - 1))
    return Concordance(
        w=w,
        chi2=chi2,
        df=n - 1,
        p_value=p,
        m=m,
        n=n,
        raters=list(raters or []),
        objects=list(objects or []),
        mean_ranks=(totals / m).tolist(),
    )
