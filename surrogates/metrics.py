"""How well predictions match measurements: the statistics of a surrogate's quality report.

R², RMSE and the bias (mean of prediction − measurement) judge the values; Spearman ρ and
Kendall τ judge the ranking, which is what a search
uses. The sparse Kendall τ of NAS-Bench-301 (Siems et al. 2020) rounds predictions and targets to a
precision (0.1 percentage points for accuracies in %) before computing τ, so that rank swaps
between architectures whose values differ by less than that precision do not count. Top-k
agreement is the fraction of the k best measured architectures that are also among the k best
predicted ones (k = max(10, 1 % of the set), capped at its size): what matters for finding the
optimum.

`noise_ceiling` computes the same statistics with one training seed "predicting" another: no
surrogate of a single seed's value can be expected to do better than another seed does.
"""
from __future__ import annotations

import math
import warnings
from itertools import combinations

import numpy as np
from scipy import stats

STAT_NAMES = ("r2", "rmse", "bias", "spearman", "kendall", "sparse_kendall", "topk")


def default_precision(unit: str) -> float:
    """Rounding precision of the sparse Kendall τ: NB301's 0.1 for percentages, else 1e-3."""
    return 0.1 if unit.strip() == "%" else 1e-3


def top_k(n: int) -> int:
    return min(n, max(10, math.ceil(0.01 * n)))


def regression_stats(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    precision: float = 0.1,
    higher_is_better: bool = True,
) -> dict[str, float]:
    """The report's statistics of `y_pred` against `y_true` (pairs with a NaN are left out)."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    keep = ~(np.isnan(y_true) | np.isnan(y_pred))
    y_true, y_pred = y_true[keep], y_pred[keep]
    n = int(y_true.size)
    out: dict[str, float] = {"n": float(n)}
    if n < 3:
        return out | {name: float("nan") for name in STAT_NAMES} | {"k": float("nan")}
    resid = y_true - y_pred
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    out["r2"] = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan")
    out["rmse"] = float(np.sqrt(np.mean(resid**2)))
    out["bias"] = float(np.mean(y_pred - y_true))
    with warnings.catch_warnings():  # constant input: scipy warns and returns NaN, which we keep
        warnings.simplefilter("ignore")
        out["spearman"] = float(stats.spearmanr(y_true, y_pred)[0])
        out["kendall"] = float(stats.kendalltau(y_true, y_pred)[0])
        out["sparse_kendall"] = float(stats.kendalltau(np.round(y_true / precision), np.round(y_pred / precision))[0])
    k = top_k(n)
    sign = -1.0 if higher_is_better else 1.0
    best_true = set(np.argsort(sign * y_true, kind="stable")[:k].tolist())
    best_pred = set(np.argsort(sign * y_pred, kind="stable")[:k].tolist())
    out["topk"] = len(best_true & best_pred) / k
    out["k"] = float(k)
    return out


def mean_stats(all_stats: list[dict[str, float]]) -> dict[str, float]:
    """Element-wise mean of several stats dicts (NaN-aware), e.g. over seed pairs."""
    if not all_stats:
        return {}
    keys = all_stats[0].keys()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return {k: float(np.nanmean([s.get(k, np.nan) for s in all_stats])) for k in keys}


def noise_ceiling(
    per_seed: np.ndarray, *, precision: float = 0.1, higher_is_better: bool = True
) -> dict[str, float] | None:
    """Statistics of seed a's values against seed b's, averaged over all ordered seed pairs.

    `per_seed` is (n_archs, n_seeds) with NaN where a seed was not measured. None when fewer than
    two seeds were measured for at least 3 architectures (no ceiling can be stated).
    """
    per_seed = np.asarray(per_seed, dtype=np.float64)
    if per_seed.ndim != 2 or per_seed.shape[1] < 2:
        return None
    results = []
    for a, b in combinations(range(per_seed.shape[1]), 2):
        both = ~(np.isnan(per_seed[:, a]) | np.isnan(per_seed[:, b]))
        if both.sum() < 3:
            continue
        # R² and RMSE are not symmetric in (truth, prediction): average both directions.
        results.append(
            regression_stats(
                per_seed[both, b], per_seed[both, a], precision=precision, higher_is_better=higher_is_better
            )
        )
        results.append(
            regression_stats(
                per_seed[both, a], per_seed[both, b], precision=precision, higher_is_better=higher_is_better
            )
        )
    return mean_stats(results) if results else None


def against_seeds(
    per_seed: np.ndarray, y_pred: np.ndarray, *, precision: float = 0.1, higher_is_better: bool = True
) -> dict[str, float] | None:
    """Statistics of predictions against each single seed, averaged over seeds: the figure to set
    beside the noise ceiling (both predict one training run's value)."""
    per_seed = np.asarray(per_seed, dtype=np.float64)
    if per_seed.ndim != 2 or per_seed.shape[1] < 2:
        return None
    results = [regression_stats(per_seed[:, s], y_pred, precision=precision, higher_is_better=higher_is_better)
               for s in range(per_seed.shape[1]) if np.sum(~np.isnan(per_seed[:, s])) >= 3]
    return mean_stats(results) if results else None
