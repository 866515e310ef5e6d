"""BOHB (Falkner, Klein & Hutter, "BOHB: Robust and Efficient Hyperparameter Optimization at Scale",
ICML 2018): Hyperband's brackets, with new configurations drawn from a TPE-style model.

The model (paper Sec. 3.1, Algorithm 2; official code HpBandSter `config_generators/bohb.py`):
observations are kept per budget; the model is fitted on the largest budget whose data allow it
(at least `min_points_in_model` points, and more than d points in both the good and the bad set).
The best max(min_points_in_model, top_n_percent * N // 100) observations form the "good" set, the
next max(min_points_in_model, (100 - top_n_percent) * N // 100) the "bad" set, and a product-kernel
KDE is fitted to each, l(x) and g(x). A new configuration is, with probability `random_fraction`
(or while no model exists), drawn uniformly; otherwise `num_samples` candidates are drawn from the
good KDE and the one minimising g(x) / l(x) is proposed.

Architectures are vectors of categorical choices: the space's `index` encoding (NB201: the op of
each of the 6 edges). As in HpBandSter (statsmodels' KDEMultivariate with var_type 'u'), each
categorical dimension uses the Aitchison-Aitken kernel, K(x, X_i) = 1 - lambda if x = X_i else
lambda / (c - 1), with lambda from the normal-reference rule 1.06 * std * N^(-1 / (4 + d)) computed on
the codes and floored at `min_bandwidth`; candidates are drawn from the good KDE as HpBandSter does:
pick a good point, keep each coordinate with probability 1 - lambda, else draw it uniformly from the
c choices. Written here with numpy (no statsmodels dependency), vectorised over candidates.

Two deliberate differences from HpBandSter/statsmodels, both in degenerate corners:
- c is the parameter's number of choices. statsmodels counts the distinct values present in the
  KDE's data instead, which divides by zero (an infinite kernel) when a column is constant.
- lambda is capped at (c - 1) / c, where the kernel is uniform. The normal-reference rule on codes
  0..c-1 often exceeds it (HpBandSter leaves it unbounded); beyond it the kernel prefers values
  *other* than the observed one, and for lambda > 1 it is negative.

Defaults are HpBandSter's (= the paper's): top_n_percent 15, num_samples 64, random_fraction 1/3,
bandwidth_factor 3, min_bandwidth 1e-3, min_points_in_model d + 1 (0 here means d + 1; smaller values
are raised to d + 1 with a warning, as HpBandSter does). `bandwidth_factor` widens only continuous
parameters in HpBandSter; architecture codes are categorical, so it has no effect here and is kept
for the paper's parameter set. Bracket schedule, snapping and multi-worker behaviour are those of
harness.strategies.hyperband (the paper's Li et al. schedule n = ceil((s_max+1)/(s+1) eta^s); note
that HpBandSter itself uses floor((s_max+1)/(s+1)) eta^s).

Refit schedule: HpBandSter refits the KDE of a budget after every result on that budget; here the
fit happens lazily, when a model-based sample is needed and the data of the chosen budget changed
since the last fit, which gives the same model at every sampling step. Fitting is O(N d).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from harness.spaces.base import SearchSpace
from harness.spaces.codes import CodeTable
from harness.strategies.base import Problem, StrategyError
from harness.strategies.hyperband import Hyperband, HyperbandConfig

log = logging.getLogger(__name__)

_TINY = 1e-32  # HpBandSter's floor for l(x) and g(x) in the ratio g / l


class CategoricalKDE:
    """Product Aitchison-Aitken KDE over categorical codes, normal-reference bandwidths."""

    def __init__(self, data: np.ndarray, n_choices: np.ndarray, min_bandwidth: float):
        self.data = np.asarray(data, dtype=np.int64)
        n, d = self.data.shape
        self.n_choices = np.asarray(n_choices, dtype=np.int64)
        bw = 1.06 * self.data.std(axis=0) * n ** (-1.0 / (4 + d))
        cap = (self.n_choices - 1) / np.maximum(self.n_choices, 1)
        self.bw = np.minimum(np.maximum(bw, min_bandwidth), cap)

    def pdf(self, points: np.ndarray) -> np.ndarray:
        """Density at each row of `points` (m, d): mean over data of the product of kernels."""
        points = np.asarray(points, dtype=np.int64).reshape(-1, self.data.shape[1])
        match = points[:, None, :] == self.data[None, :, :]  # (m, n, d)
        other = np.where(self.n_choices > 1, self.bw / np.maximum(self.n_choices - 1, 1), 0.0)
        kernel = np.where(match, 1.0 - self.bw, other)
        return kernel.prod(axis=2).mean(axis=1)


@dataclass
class BOHBConfig(HyperbandConfig):
    min_points_in_model: int = 0  # 0: number of parameters + 1 (HpBandSter's default)
    top_n_percent: int = 15
    num_samples: int = 64
    random_fraction: float = 1 / 3
    bandwidth_factor: float = 3.0
    min_bandwidth: float = 1e-3


class BOHB(Hyperband):
    name = "bohb"
    Config = BOHBConfig

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: BOHBConfig):
        super().__init__(space, problem, rng, config)
        if not 0 <= config.random_fraction <= 1:
            raise StrategyError(f"bohb random_fraction must be in [0, 1], got {config.random_fraction}")
        if not 0 < config.top_n_percent < 100:
            raise StrategyError(f"bohb top_n_percent must be between 1 and 99, got {config.top_n_percent}")
        if config.num_samples < 1:
            raise StrategyError(f"bohb num_samples must be at least 1, got {config.num_samples}")
        if not config.min_bandwidth > 0:
            raise StrategyError(f"bohb min_bandwidth must be positive, got {config.min_bandwidth}")
        self.table = CodeTable.of(space, self.name)
        d = self.table.dim
        self.min_points = int(config.min_points_in_model) or d + 1
        if self.min_points < d + 1:
            log.warning("bohb min_points_in_model=%d is below d+1=%d; using %d", self.min_points, d + 1, d + 1)
            self.min_points = d + 1
        self._codes: dict[float, list[np.ndarray]] = {}
        self._losses: dict[float, list[float]] = {}
        self._model: tuple[float, int, CategoricalKDE, CategoricalKDE] | None = None  # (budget, n, good, bad)

    def observe(self, arch: str, fidelity: float, score: float) -> None:
        self._codes.setdefault(fidelity, []).append(self.table.encode([arch])[0])
        self._losses.setdefault(fidelity, []).append(-score if np.isfinite(score) else np.inf)

    # -- model ----------------------------------------------------------------------------------
    def _split(self, budget: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Good and bad training sets of a budget, or None when it cannot carry a model yet."""
        losses = np.asarray(self._losses[budget])
        n = losses.size
        d = self.table.dim
        if n < self.min_points:
            return None
        top = self.config.top_n_percent
        n_good = max(self.min_points, (top * n) // 100)
        n_bad = max(self.min_points, ((100 - top) * n) // 100)
        order = np.argsort(losses, kind="stable")
        codes = np.asarray(self._codes[budget])
        good, bad = codes[order[:n_good]], codes[order[n_good:n_good + n_bad]]
        if good.shape[0] <= d or bad.shape[0] <= d:
            return None
        return good, bad

    def model(self) -> tuple[float, CategoricalKDE, CategoricalKDE] | None:
        """(budget, l, g) on the largest budget that has enough data; refitted only when it grew."""
        for budget in sorted(self._losses, reverse=True):
            n = len(self._losses[budget])
            if self._model is not None and self._model[0] == budget and self._model[1] == n:
                return budget, self._model[2], self._model[3]
            split = self._split(budget)
            if split is None:
                continue
            good = CategoricalKDE(split[0], self.table.n_choices, self.config.min_bandwidth)
            bad = CategoricalKDE(split[1], self.table.n_choices, self.config.min_bandwidth)
            self._model = (budget, n, good, bad)
            return budget, good, bad
        return None

    def model_sample(self, good: CategoricalKDE, bad: CategoricalKDE) -> str | None:
        """The candidate with the smallest g/l among `num_samples` draws from the good KDE."""
        s, d = self.config.num_samples, self.table.dim
        datum = good.data[self.rng.integers(good.data.shape[0], size=s)]
        keep = self.rng.random((s, d)) < 1.0 - good.bw
        fresh = self.rng.integers(0, self.table.n_choices, size=(s, d))
        candidates = np.where(keep, datum, fresh)
        index = self.table.indices(candidates)
        valid = index >= 0
        if not valid.any():
            return None
        ratio = np.maximum(bad.pdf(candidates), _TINY) / np.maximum(good.pdf(candidates), _TINY)
        ratio[~valid] = np.inf
        return self.space.arch_at(int(index[int(np.argmin(ratio))]))

    def sample_config(self, fidelity: float) -> tuple[str, bool]:
        fitted = self.model()
        if fitted is None or self.rng.random() < self.config.random_fraction:
            return self.space.sample(self.rng), False
        arch = self.model_sample(fitted[1], fitted[2])
        if arch is None:
            log.debug("bohb: no model candidate names an architecture of the space; sampling at random")
            return self.space.sample(self.rng), False
        return arch, True
