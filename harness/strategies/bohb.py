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

Two rules for the kernel (`kde_rule`):
- `bounded` (the default) differs from HpBandSter/statsmodels in two corners: c is the parameter's
  number of choices (statsmodels counts the distinct values present in the KDE's data instead, which
  divides by zero, an infinite kernel, when a column is constant), and lambda is capped at
  (c - 1) / c, where the kernel is uniform (the normal-reference rule on codes 0..c-1 often exceeds
  it; beyond it the kernel prefers values *other* than the observed one, and for lambda > 1 it is
  negative).
- `hpbandster` is HpBandSter 0.7.4 with statsmodels exactly: lambda uncapped (only floored at
  min_bandwidth), c = the distinct values in the KDE's data column, and the acquisition loop of
  `get_config`: candidate k keeps coordinate j with probability 1 - lambda_j (never when lambda_j >= 1),
  its ratio is max(1e-32, g) / max(l, 1e-32) with Python's max (a NaN g counts as 1e-32, a NaN l
  makes the ratio NaN), the first candidate
  whose ratio is not finite while l is finite is taken at once, else the smallest ratio (first on
  ties), else (no candidate) a uniform draw. On NB201 with a handful of good points lambda is about
  1.2, so candidates are uniform draws and the ratio of two sign-flipping kernels picks among them:
  this is the BOHB the NB201 paper measured (docs/EXPERIMENTS.md), and its presets use it.

Defaults are HpBandSter's (= the paper's): top_n_percent 15, num_samples 64, random_fraction 1/3,
bandwidth_factor 3, min_bandwidth 1e-3, min_points_in_model d + 1 (0 here means d + 1; smaller values
are raised to d + 1 with a warning, as HpBandSter does). `bandwidth_factor` widens only continuous
parameters in HpBandSter; architecture codes are categorical, so it has no effect here and is kept
for the paper's parameter set. Bracket schedule, budget rounding, nominal budgets and multi-worker
behaviour are those of harness.strategies.hyperband; the bracket sizes default to HpBandSter's
(`bracket_rule = hpbandster`: n_0 = floor((s_max+1)/(s+1)) eta^s, e.g. 9->3->1, 3->1, 3 for 12 -> 200
epochs and eta 3), the code the BOHB paper and the NB101/NB201 authors ran; `bracket_rule = li` gives
Li et al.'s ceil((s_max+1)/(s+1) eta^s) (5->1 instead of 3->1 there). Observations and models are
kept per rung budget, which with `nominal_budgets = true` is the nominal budget (22.2, 66.7, 200 for
12 -> 200), not the fidelity evaluated, as in HpBandSter, whose `new_result` files a result under
the budget the master asked for.

Refit schedule: HpBandSter refits the KDE of a budget after every result on that budget; here the
fit happens lazily, when a model-based sample is needed and the data of the chosen budget changed
since the last fit, which gives the same model at every sampling step. With the `bounded` rule the
good and bad KDEs are kept as counts of partial code patterns (harness.strategies.kde_counts), so
a fit and a density cost the same whatever N (issue 20); the direct KDE (O(N d) per fit and per
density) serves the `hpbandster` rule and code tables too large to count.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.spaces.base import SearchSpace
from harness.spaces.codes import CodeTable
from harness.strategies.base import Problem, StrategyError
from harness.strategies.hyperband import Hyperband, HyperbandConfig
from harness.strategies.kde_counts import CountsKDE, IncrementalSplit

log = logging.getLogger(__name__)

_TINY = 1e-32  # HpBandSter's floor for l(x) and g(x) in the ratio g / l


KDE_RULES = ("bounded", "hpbandster")


class CategoricalKDE:
    """Product Aitchison-Aitken KDE over categorical codes, normal-reference bandwidths; `rule` as
    BOHBConfig.kde_rule (module docstring)."""

    def __init__(self, data: np.ndarray, n_choices: np.ndarray, min_bandwidth: float, rule: str = "bounded"):
        self.data = np.asarray(data, dtype=np.int64)
        n, d = self.data.shape
        self.n_choices = np.asarray(n_choices, dtype=np.int64)
        self.rule = rule
        bw = np.maximum(1.06 * self.data.std(axis=0) * n ** (-1.0 / (4 + d)), min_bandwidth)
        if rule == "hpbandster":  # statsmodels: uncapped, levels = distinct values in the data
            self.bw = bw
            self.levels = np.array([np.unique(self.data[:, j]).size for j in range(d)], dtype=np.int64)
        else:
            cap = (self.n_choices - 1) / np.maximum(self.n_choices, 1)
            self.bw = np.minimum(bw, cap)
            self.levels = self.n_choices

    def pdf(self, points: np.ndarray) -> np.ndarray:
        """Density at each row of `points` (m, d): mean over data of the product of kernels."""
        points = np.asarray(points, dtype=np.int64).reshape(-1, self.data.shape[1])
        match = points[:, None, :] == self.data[None, :, :]  # (m, n, d)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.rule == "hpbandster":  # h / (levels - 1): infinite for a constant column, as statsmodels
                other = self.bw / (self.levels - 1)
            else:
                other = np.where(self.levels > 1, self.bw / np.maximum(self.levels - 1, 1), 0.0)
            kernel = np.where(match, 1.0 - self.bw, other)
            return kernel.prod(axis=2).mean(axis=1)


@dataclass
class BOHBConfig(HyperbandConfig):
    """Hyperband's settings plus BOHB's density models (HpBandSter's names and defaults)."""

    bracket_rule: str = "hpbandster"  # HpBandSter's bracket sizes (harness.strategies.hyperband)
    kde_rule: str = "bounded"  # bounded kernels, or HpBandSter/statsmodels exactly (module docstring)
    min_points_in_model: int = 0  # 0: number of parameters + 1 (HpBandSter's default)
    top_n_percent: int = 15
    num_samples: int = 64
    random_fraction: float = 1 / 3
    bandwidth_factor: float = 3.0
    min_bandwidth: float = 1e-3
    # Keep the `bounded` KDEs as pattern counts (O(1) per result; issue 20). false: the direct KDE, the
    # pre-issue-20 computation; the model is the same, only rounding differs (which can break exact ties
    # among candidates, e.g. uniform kernels, the other way).
    kde_counts: bool = True

    def check(self) -> None:
        """Hyperband's checks, then the model's hyperparameters (one line naming the key)."""
        super().check()
        if not 0 <= self.random_fraction <= 1:
            raise StrategyError(f"bohb random_fraction must be in [0, 1], got {self.random_fraction}")
        if not 0 < self.top_n_percent < 100:
            raise StrategyError(f"bohb top_n_percent must be between 1 and 99, got {self.top_n_percent}")
        if self.num_samples < 1:
            raise StrategyError(f"bohb num_samples must be at least 1, got {self.num_samples}")
        if not self.min_bandwidth > 0:
            raise StrategyError(f"bohb min_bandwidth must be positive, got {self.min_bandwidth}")
        if self.kde_rule not in KDE_RULES:
            raise StrategyError(f"bohb kde_rule must be one of {', '.join(KDE_RULES)}, got {self.kde_rule!r}")
        if self.min_points_in_model < 0:
            raise StrategyError(f"bohb min_points_in_model must be >= 0 (0: d + 1), got {self.min_points_in_model}")


class BOHB(Hyperband[BOHBConfig]):
    """BOHB (Falkner et al. 2018): Hyperband whose new configurations come from TPE-style KDEs of good and
    bad results at the largest budget with enough of them."""

    name = "bohb"
    Config = BOHBConfig

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: BOHBConfig):
        super().__init__(space, problem, rng, config)  # runs config.check()
        self.table = CodeTable.of(space, self.name)
        d = self.table.dim
        self.min_points = int(config.min_points_in_model) or d + 1
        if self.min_points < d + 1:
            log.warning("bohb min_points_in_model=%d is below d+1=%d; using %d", self.min_points, d + 1, d + 1)
            self.min_points = d + 1
        self._codes: dict[float, list[np.ndarray]] = {}
        self._losses: dict[float, list[float]] = {}
        self._model: tuple[float, int, Any, Any] | None = None  # (budget, n, good, bad)
        # `bounded` KDEs kept as pattern counts (harness.strategies.kde_counts): the same model at O(1) per
        # result instead of O(N) (issue 20); the direct KDE otherwise.
        self._incremental = (config.kde_counts and config.kde_rule == "bounded"
                             and IncrementalSplit.usable(self.table.n_choices))
        self._splits: dict[float, IncrementalSplit] = {}

    def observe(self, arch: str, budget: float, score: float) -> None:
        """Add a result to the model data of its budget (losses, as HpBandSter minimises)."""
        code = self.table.encode([arch])[0]
        loss = -score if np.isfinite(score) else np.inf
        self._codes.setdefault(budget, []).append(code)
        self._losses.setdefault(budget, []).append(loss)
        if self._incremental:
            if budget not in self._splits:
                self._splits[budget] = IncrementalSplit(self.table.n_choices, self.min_points,
                                                        self.config.top_n_percent)
            self._splits[budget].add(code, loss)

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

    def model(self) -> tuple[float, Any, Any] | None:
        """(budget, l, g) on the largest budget that has enough data; refitted only when it grew."""
        for budget in sorted(self._losses, reverse=True):
            n = len(self._losses[budget])
            if self._model is not None and self._model[0] == budget and self._model[1] == n:
                return budget, self._model[2], self._model[3]
            good: Any
            bad: Any
            if self._incremental:
                counts = self._splits[budget]
                if n < self.min_points or counts.good.n <= self.table.dim or counts.bad.n <= self.table.dim:
                    continue
                good = CountsKDE(counts, counts.good, self.config.min_bandwidth, good=True)
                bad = CountsKDE(counts, counts.bad, self.config.min_bandwidth, good=False)
            else:
                split = self._split(budget)
                if split is None:
                    continue
                rule = self.config.kde_rule
                good = CategoricalKDE(split[0], self.table.n_choices, self.config.min_bandwidth, rule)
                bad = CategoricalKDE(split[1], self.table.n_choices, self.config.min_bandwidth, rule)
            self._model = (budget, n, good, bad)
            return budget, good, bad
        return None

    def model_sample(self, good: Any, bad: Any) -> str | None:
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
        if self.config.kde_rule == "hpbandster":
            return self._hpbandster_pick(candidates, index, good, bad)
        ratio = np.maximum(bad.pdf(candidates), _TINY) / np.maximum(good.pdf(candidates), _TINY)
        ratio[~valid] = np.inf
        return self.space.arch_at(int(index[int(np.argmin(ratio))]))

    def _hpbandster_pick(self, candidates: np.ndarray, index: np.ndarray, good: CategoricalKDE,
                         bad: CategoricalKDE) -> str | None:
        """HpBandSter's choice among the candidates, in its loop order (module docstring)."""
        l_raw, g_raw = good.pdf(candidates), bad.pdf(candidates)
        # HpBandSter's max(1e-32, g(x)) / max(l(x), 1e-32): Python's max keeps its first argument unless the
        # second is larger, so a NaN g counts as 1e-32 while a NaN l stays NaN
        g_val = np.where(g_raw > _TINY, g_raw, _TINY)
        l_val = np.where(np.isnan(l_raw) | (l_raw > _TINY), l_raw, _TINY)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = g_val / l_val
        ok = index >= 0
        take = np.flatnonzero(ok & ~np.isfinite(ratio) & np.isfinite(l_raw))
        if take.size:
            return self.space.arch_at(int(index[take[0]]))
        finite = np.where(ok & np.isfinite(ratio), ratio, np.inf)
        if not np.isfinite(finite).any():
            return None
        return self.space.arch_at(int(index[int(np.argmin(finite))]))

    def sample_config(self, budget: float) -> tuple[str, bool]:
        """A new configuration: from the model, or at random (random_fraction, no model yet); and which."""
        fitted = self.model()
        if fitted is None or self.rng.random() < self.config.random_fraction:
            return self.space.sample(self.rng), False
        arch = self.model_sample(fitted[1], fitted[2])
        if arch is None:
            log.debug("bohb: no model candidate names an architecture of the space; sampling at random")
            return self.space.sample(self.rng), False
        return arch, True
