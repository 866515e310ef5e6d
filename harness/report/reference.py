"""The exact expected anytime curve of random search without replacement on a tabular benchmark.

Random search draws k distinct architectures uniformly; its incumbent is the one with the best
observed validation value. If the architectures are sorted by that value, v_(1) <= ... <= v_(N),
the incumbent is the j-th with probability C(j-1, k-1) / C(N, k) (the other k-1 draws all come
from the j-1 below it), so for any per-architecture quantity f

    E[f(incumbent after k draws)] = sum_j f_(j) C(j-1, k-1) / C(N, k).

With f = v this is E[max of k draws]; with f = the seed-mean validation value, the test value or
the regret it is the matching expected curve of those. The binomials are evaluated in log space
(scipy.special.gammaln), so N in the hundreds of thousands is fine. Architectures tied on the
selection value are told apart by draw order in the engine (the first drawn stays incumbent),
which makes every tied architecture equally likely: we replace f by its mean over each tie group.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln

from tabular.errors import NasHarnessError
from tabular.protocol import Store

log = logging.getLogger(__name__)


def _tie_averaged(select: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort ascending by `select` (NaN lowest, as the engine ranks unmeasured architectures last)
    and replace each target row by its mean over architectures with equal selection value."""
    key = np.where(np.isnan(select), -np.inf, select)
    order = np.argsort(key, kind="stable")
    key = key[order]
    t = targets[:, order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, key.size])
    if np.all(sizes == 1):
        return key, t
    sums = np.add.reduceat(t, starts, axis=1)
    means = sums / sizes
    return key, np.repeat(means, sizes, axis=1)


def order_statistic_weights(n: int, k: int) -> np.ndarray:
    """P(the incumbent is the j-th smallest of n) for j = 1..n after k draws without replacement."""
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    j = np.arange(k, n + 1, dtype=np.float64)
    log_w = (gammaln(j) - gammaln(k) - gammaln(j - k + 1)) - (gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))
    w = np.zeros(n)
    w[k - 1 :] = np.exp(log_w)
    return w


def expected_incumbent(select: np.ndarray, targets: dict[str, np.ndarray], ks: np.ndarray) -> dict[str, np.ndarray]:
    """E[target(incumbent)] after k draws without replacement, for each k in `ks`.

    `select` is what the search observes (larger is better); `targets` are per-architecture values
    (same length) whose expectation at the incumbent is wanted.
    """
    select = np.asarray(select, dtype=np.float64)
    names = list(targets)
    stacked = np.vstack([np.asarray(targets[name], dtype=np.float64) for name in names])
    _, t = _tie_averaged(select, stacked)
    n = select.size
    out = np.full((len(names), len(ks)), np.nan)
    for col, k in enumerate(np.asarray(ks, dtype=np.int64)):
        if k > n:
            continue  # more draws than architectures: random search without replacement stops at n
        w = order_statistic_weights(n, int(k))
        nz = w > 0
        out[:, col] = t[:, nz] @ w[nz]
    return {name: out[i] for i, name in enumerate(names)}


def expected_max(values: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """E[max of k draws without replacement] from `values` (the textbook special case)."""
    v = np.asarray(values, dtype=np.float64)
    return expected_incumbent(v, {"max": v}, ks)["max"]


@dataclass
class RSReference:
    """Expected random-search curves on one benchmark, and how exact they are."""

    benchmark: str
    ks: np.ndarray
    valid_mean: np.ndarray  # E[seed-mean validation value of the incumbent]
    regret: np.ndarray
    test: np.ndarray  # NaN when the benchmark has no test metric
    selection: str  # what the reference RS selects on
    exact: bool  # True when that is exactly what the runs observed
    optimum: float
    maximize: bool
    notes: list[str] = field(default_factory=list)


def rs_reference(store: Store, ks: np.ndarray, *, seed_policy: str = "mean", fixed_seed: int | None = None,
                 benchmark: str = "") -> RSReference:
    """The reference curves for a tabulated `store` (tabular.protocol.Store) at draw counts `ks`.

    Selection is on the seed-mean validation value; with seed_policy=fixed it is on that seed's
    column instead, which is again exactly what the engine observes. With seed_policy=sample a real
    run selects on one sampled seed per architecture, so the reference is the curve of a search
    that saw seed means (usually slightly better than noisy selection), and we say so.
    """
    metric = store.valid_metric
    if not metric:
        raise NasHarnessError(f"benchmark {benchmark or store.name!r} has no validation metric")
    maximize = store.higher_is_better(metric)
    sign = 1.0 if maximize else -1.0
    valid_mean = np.asarray(store.seed_mean(metric), dtype=np.float64)
    test = (np.asarray(store.seed_mean(store.test_metric), dtype=np.float64) if store.test_metric
            else np.full(valid_mean.size, np.nan))
    notes: list[str] = []
    if seed_policy == "fixed":
        seed = int(store.seeds[0]) if fixed_seed is None else int(fixed_seed)  # the engine's default fixed seed
        rows = np.arange(store.n_archs)
        select = np.asarray(store.query(metric, rows, seed_policy="fixed", seed=seed), dtype=np.float64)
        selection, exact = f"validation of seed {seed}", True
    else:
        select = valid_mean
        selection = "seed-mean validation"
        exact = seed_policy == "mean" or len(store.seeds) == 1
        if not exact:
            notes.append(
                "the runs observed one sampled seed per evaluation (seed_policy=sample); the reference "
                "selects on the seed mean, so it is exact for a noise-free search and real random search "
                "is expected to lie slightly below it in accuracy and above it in regret"
            )
    optimum = float(np.nanmax(valid_mean) if maximize else np.nanmin(valid_mean))
    exp = expected_incumbent(sign * select, {"valid": valid_mean, "test": test}, ks)
    regret = sign * (optimum - exp["valid"])
    return RSReference(benchmark or store.name, np.asarray(ks), exp["valid"], regret, exp["test"],
                       selection, exact, optimum, maximize, notes)
