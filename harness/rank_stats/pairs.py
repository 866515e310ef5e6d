"""One comparison of two metric sources: every rank statistic of the pair in one record.

Why apart from the statistics: this is where a `Source` (a labelled vector with a direction) meets
the array statistics of `harness.rank_stats.stats`, with the choices `rank-stats` reports (finite
pairs only, an optional seeded sample, the top-k sizes as the user wrote them).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from harness.rank_stats.sources import Source
from harness.rank_stats.stats import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_LEVEL,
    bootstrap_correlations,
    finite_pairs,
    kendall,
    parse_k,
    percentile_ci,
    sparse_kendall,
    spearman,
    top_k_overlap,
)
from tabular.errors import NasHarnessError


@dataclass
class PairResult:
    """Rank agreement of `pred` with `truth` over the architectures where both are finite."""

    truth: str
    pred: str
    n_total: int
    n_dropped: int
    n: int
    spearman: float
    spearman_p: float
    kendall: float
    kendall_p: float
    spearman_ci: tuple[float, float] | None = None
    kendall_ci: tuple[float, float] | None = None
    n_boot: int = 0
    level: float = DEFAULT_LEVEL
    sparse_kendall: dict[str, float] = field(default_factory=dict)
    top_k: dict[str, float] = field(default_factory=dict)  # keyed by the k as given ("10", "1%")
    top_k_n: dict[str, int] = field(default_factory=dict)  # the k each key resolved to
    sample: int | None = None
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what `rank-stats --json` prints)."""
        return asdict(self)


def correlate(
    truth: Source,
    pred: Source,
    *,
    sample: int | None = None,
    seed: int = 0,
    n_boot: int = DEFAULT_BOOTSTRAP,
    level: float = DEFAULT_LEVEL,
    decimals: tuple[int, ...] = (1,),
    top_k: tuple[str, ...] = ("10", "1%"),
    kendall_ci: bool = True,
) -> PairResult:
    """All rank statistics of one pair. `sample` draws that many of the finite pairs (seeded)."""
    x, y, dropped = finite_pairs(truth.values, pred.values)
    if sample is not None:
        if sample < 3 or sample > x.size:
            raise NasHarnessError(
                f"--sample must be between 3 and the {x.size} architectures where both {truth.label} "
                f"and {pred.label} are finite"
            )
        pick = np.sort(np.random.default_rng(seed).choice(x.size, size=sample, replace=False))
        x, y = x[pick], y[pick]
    if x.size < 3:
        raise NasHarnessError(
            f"{truth.label} and {pred.label} share only {x.size} finite values; rank statistics need at least 3"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # a constant input gives NaN, reported as such
        rho, rho_p = spearman(x, y)
        tau, tau_p = kendall(x, y)
        sparse = {str(d): sparse_kendall(x, y, d)[0] for d in decimals}
    result = PairResult(
        truth.label,
        pred.label,
        int(truth.values.size),
        dropped,
        int(x.size),
        rho,
        rho_p,
        tau,
        tau_p,
        level=level,
        sparse_kendall=sparse,
        sample=sample,
        seed=seed,
    )
    for text in top_k:
        k = parse_k(text, x.size)
        if k <= x.size:
            result.top_k[text] = top_k_overlap(
                x, y, k, truth_higher=truth.higher_is_better, pred_higher=pred.higher_is_better
            )
            result.top_k_n[text] = k
    if n_boot > 0:
        reps = bootstrap_correlations(x, y, n_boot, seed, kendall_too=kendall_ci)
        result.n_boot = n_boot
        result.spearman_ci = percentile_ci(reps["spearman"], level)
        if kendall_ci:
            result.kendall_ci = percentile_ci(reps["kendall"], level)
    return result
