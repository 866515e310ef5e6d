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
import math
from bisect import insort
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


def _generic_lookup(table: CodeTable) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(lookup, radix, n_choices) of a table with a plain lookup (CodeTable.fast_lookup): `indices` costs
    a dozen numpy calls, as much as the rest of a model step (issue 20); None for a space's own table."""
    lookup = table.fast_lookup()
    return None if lookup is None else (*lookup, table.n_choices)


class CategoricalKDE:
    """Product Aitchison-Aitken KDE over categorical codes, normal-reference bandwidths; `rule` as
    BOHBConfig.kde_rule (module docstring).

    BOHB fits two of these after nearly every result (tens of thousands in a 500-seed grid, issue 20),
    on a few dozen rows: the cost is numpy's per-call overhead, not arithmetic. So the standard deviation
    is numpy's `std(axis=0)` spelled as the same ufunc calls (`column_std`), the distinct values per
    column from Python sets, and the kernel values once per bandwidth (a table of them for `pdf_codes`); every float is
    the one the plain expressions give (tests/test_strategy_speed_bitwise.py checks the bits).
    """

    def __init__(self, data: np.ndarray, n_choices: np.ndarray, min_bandwidth: float, rule: str = "bounded"):
        self.data = np.asarray(data, dtype=np.int64)
        n, d = self.data.shape
        self.n_choices = np.asarray(n_choices, dtype=np.int64)
        self.rule = rule
        bw = np.maximum(1.06 * column_std(self.data) * n ** (-1.0 / (4 + d)), min_bandwidth)
        if rule == "hpbandster":  # statsmodels: uncapped, levels = distinct values in the data
            self.bw = bw
            self.levels = distinct_per_column(self.data)
        else:
            cap = (self.n_choices - 1) / np.maximum(self.n_choices, 1)
            self.bw = np.minimum(bw, cap)
            self.levels = self.n_choices
        self._kernel: tuple[np.ndarray, np.ndarray, np.ndarray, bool] | None = None  # (bw, match, other, finite)
        self._table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (bw, kernel table, position rows)

    def _kernel_values(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """(value on a match, value otherwise, both finite) for the current `bw` (recomputed if it was set)."""
        cached = self._kernel
        if cached is not None and cached[0] is self.bw:
            return cached[1], cached[2], cached[3]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.rule == "hpbandster":  # h / (levels - 1): infinite for a constant column, as statsmodels
                other = self.bw / (self.levels - 1)
            else:
                other = np.where(self.levels > 1, self.bw / np.maximum(self.levels - 1, 1), 0.0)
            match = 1.0 - self.bw
        finite = bool(np.isfinite(other).all() and np.isfinite(match).all())
        self._kernel = (self.bw, match, other, finite)
        return match, other, finite

    def keep_probability(self) -> np.ndarray:
        """1 - bw: the probability that a draw from this KDE keeps a coordinate of its data point."""
        return self._kernel_values()[0]

    def pdf_codes(self, points: np.ndarray) -> np.ndarray:
        """`pdf` of (m, d) int64 rows whose codes are all in [0, max(n_choices)), from a table of the kernel
        values, kernel[j, v, i] = K_j(v, data[i, j]): one gather instead of a comparison and a selection
        over (m, n, d). The product over positions is taken in the same order, so the bits are pdf's."""
        match, other, finite = self._kernel_values()
        table = self._table
        if table is None or table[0] is not self.bw:
            values = np.arange(int(self.n_choices.max(initial=1)))[None, :, None]
            kernel = np.where(values == self.data.T[:, None, :], match[:, None, None], other[:, None, None])
            table = self._table = (self.bw, kernel, np.arange(self.data.shape[1])[None, :])
        if finite:
            return np.add.reduce(np.multiply.reduce(table[1][table[2], points], axis=1), axis=1) / self.data.shape[0]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.add.reduce(np.multiply.reduce(table[1][table[2], points], axis=1), axis=1) / self.data.shape[0]

    def pdf(self, points: np.ndarray) -> np.ndarray:
        """Density at each row of `points` (m, d): mean over data of the product of kernels."""
        points = np.asarray(points, dtype=np.int64).reshape(-1, self.data.shape[1])
        match, other, finite = self._kernel_values()
        kernel = np.where(points[:, None, :] == self.data[None, :, :], match, other)  # (m, n, d)
        if finite:  # no inf or nan can arise: skip the errstate context (a few us per call)
            return np.add.reduce(np.multiply.reduce(kernel, axis=2), axis=1) / self.data.shape[0]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.add.reduce(np.multiply.reduce(kernel, axis=2), axis=1) / self.data.shape[0]


def column_std(data: np.ndarray) -> np.ndarray:
    """`data.std(axis=0)` for an (n, d) int64 array, bit for bit: numpy's own `_var` steps (float64 sum,
    divide, subtract, square, sum, divide, sqrt) without its wrapper's overhead (issue 20)."""
    n = data.shape[0]
    mean = np.add.reduce(data, axis=0, dtype=np.float64, keepdims=True)
    np.true_divide(mean, n, out=mean)
    deviation = np.subtract(data, mean)
    np.square(deviation, out=deviation)
    var = np.add.reduce(deviation, axis=0, dtype=np.float64)
    np.true_divide(var, n, out=var)
    return np.sqrt(var, out=var)


def distinct_per_column(data: np.ndarray) -> np.ndarray:
    """Number of distinct values in each column of an (n, d) integer array (statsmodels' levels); Python
    sets on a few dozen codes cost less than numpy's sorts (issue 20)."""
    return np.array([len(set(column)) for column in data.T.tolist()], dtype=np.int64).reshape(data.shape[1])


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
        self._losses: dict[float, list[float]] = {}
        self._model: tuple[float, int, Any, Any] | None = None  # (budget, n, good, bad)
        # `bounded` KDEs kept as pattern counts (harness.strategies.kde_counts): the same model at O(1) per
        # result instead of O(N) (issue 20); the direct KDE otherwise.
        self._incremental = (config.kde_counts and config.kde_rule == "bounded"
                             and IncrementalSplit.usable(self.table.n_choices))
        self._splits: dict[float, IncrementalSplit] = {}
        # Bookkeeping that makes a model step cheap (issue 20) without changing any result: the budgets in
        # model() order, each budget's observations ranked by (loss, time) as a stable argsort ranks them
        # and its code rows as one array, the count at which a budget last failed to carry a model, the
        # last KDE fitted on each (budget, good/bad) with the rows it was fitted on, and the codes of the
        # architectures this run proposed from the model (so observe() need not parse their strings).
        self._budgets: list[float] = []
        self._ranked: dict[float, list[tuple[float, int]]] = {}
        self._rows: dict[float, np.ndarray] = {}
        self._unfit: dict[float, int] = {}
        self._fits: dict[tuple[float, bool], tuple[list[int], CategoricalKDE]] = {}
        self._code_of: dict[str, np.ndarray] = {}
        self._lookup = _generic_lookup(self.table)
        self._in_range: tuple[Any, bool] = (None, False)

    def observe(self, arch: str, budget: float, score: float) -> None:
        """Add a result to the model data of its budget (losses, as HpBandSter minimises)."""
        code = self._code_of.pop(arch, None)
        if code is None:
            code = self.table.encode([arch])[0]
        loss = -score if math.isfinite(score) else np.inf
        if budget not in self._losses:
            self._losses[budget], self._ranked[budget] = [], []
            self._rows[budget] = np.empty((8, self.table.dim), dtype=np.int64)
            self._budgets = sorted(self._losses, reverse=True)
        t = len(self._losses[budget])
        self._losses[budget].append(loss)
        insort(self._ranked[budget], (loss, t))  # no NaN losses: this is numpy's stable argsort order
        rows = self._rows[budget]
        if t == rows.shape[0]:
            rows = self._rows[budget] = np.concatenate([rows, np.empty_like(rows)])
        rows[t] = code
        if self._incremental:
            if budget not in self._splits:
                self._splits[budget] = IncrementalSplit(self.table.n_choices, self.min_points,
                                                        self.config.top_n_percent)
            self._splits[budget].add(code, loss)

    # -- model ----------------------------------------------------------------------------------
    def _split_order(self, budget: float) -> tuple[list[int], list[int]] | None:
        """The times of the good and the bad observations of a budget, best first, or None (no model yet)."""
        ranked = self._ranked[budget]
        n = len(ranked)
        d = self.table.dim
        if n < self.min_points:
            return None
        top = self.config.top_n_percent
        n_good = max(self.min_points, (top * n) // 100)
        n_bad = max(self.min_points, ((100 - top) * n) // 100)
        good = [t for _, t in ranked[:n_good]]
        bad = [t for _, t in ranked[n_good:n_good + n_bad]]
        if len(good) <= d or len(bad) <= d:
            return None
        return good, bad

    def _fit(self, budget: float, good: bool, times: list[int]) -> CategoricalKDE:
        """The direct KDE of these observations, reused when the set (in rank order) did not change."""
        key = (budget, good)
        cached = self._fits.get(key)
        if cached is not None and cached[0] == times:
            return cached[1]
        kde = CategoricalKDE(self._rows[budget][times], self.table.n_choices, self.config.min_bandwidth,
                             self.config.kde_rule)
        self._fits[key] = (times, kde)
        return kde

    def model(self) -> tuple[float, Any, Any] | None:
        """(budget, l, g) on the largest budget that has enough data; refitted only when it grew."""
        for budget in self._budgets:
            n = len(self._losses[budget])
            if self._model is not None and self._model[0] == budget and self._model[1] == n:
                return budget, self._model[2], self._model[3]
            if self._unfit.get(budget) == n:
                continue  # no model on this budget at this count (checked before; the data did not change)
            good: Any
            bad: Any
            if self._incremental:
                counts = self._splits[budget]
                if n < self.min_points or counts.good.n <= self.table.dim or counts.bad.n <= self.table.dim:
                    self._unfit[budget] = n
                    continue
                good = CountsKDE(counts, counts.good, self.config.min_bandwidth, good=True)
                bad = CountsKDE(counts, counts.bad, self.config.min_bandwidth, good=False)
            else:
                order = self._split_order(budget)
                if order is None:
                    self._unfit[budget] = n
                    continue
                good, bad = self._fit(budget, True, order[0]), self._fit(budget, False, order[1])
            self._model = (budget, n, good, bad)
            return budget, good, bad
        return None

    def _indices(self, candidates: np.ndarray, in_range: bool = False) -> np.ndarray:
        """Space index of each candidate row (-1: no architecture), as CodeTable.indices; `in_range`: every
        code is known to be within its position's choices."""
        if self._lookup is None:
            return self.table.indices(candidates)
        lookup, radix, n_choices = self._lookup
        if not in_range and ((candidates < 0) | (candidates >= n_choices)).any():
            return self.table.indices(candidates)
        return lookup[candidates @ radix]

    def _codes_in_range(self, kde: Any) -> bool:
        """Whether every row of a KDE's data is a code within the choices (checked once per KDE): then
        its candidates are too, as their other coordinates are drawn within the choices."""
        if not isinstance(kde, CategoricalKDE):
            return False  # pattern counts: their rows are observed codes, but reading them all costs O(N)
        if kde is not self._in_range[0]:
            data = kde.data
            self._in_range = (kde, bool(((data >= 0) & (data < self.table.n_choices)).all()))
        return self._in_range[1]

    def model_sample(self, good: Any, bad: Any) -> str | None:
        """The candidate with the smallest g/l among `num_samples` draws from the good KDE."""
        s, d = self.config.num_samples, self.table.dim
        datum = good.data[self.rng.integers(good.data.shape[0], size=s)]
        keep_p = good.keep_probability() if isinstance(good, CategoricalKDE) else 1.0 - good.bw
        keep = self.rng.random((s, d)) < keep_p
        fresh = self.rng.integers(0, self.table.n_choices, size=(s, d))
        candidates = np.where(keep, datum, fresh)
        in_range = self._codes_in_range(good)
        index = self._indices(candidates, in_range)
        if self.config.kde_rule == "hpbandster":
            k = self._hpbandster_row(candidates, index, good, bad, in_range)
        else:
            valid = index >= 0
            if not valid.any():
                return None
            ratio = np.maximum(bad.pdf(candidates), _TINY) / np.maximum(good.pdf(candidates), _TINY)
            ratio[~valid] = np.inf
            k = int(np.argmin(ratio))
        if k is None:
            return None
        arch = self.space.arch_at(int(index[k]))
        if self._lookup is not None:
            self._code_of[arch] = candidates[k].copy()  # a copy: a view would keep the whole draw alive
        return arch

    def _hpbandster_pick(self, candidates: np.ndarray, index: np.ndarray, good: CategoricalKDE,
                         bad: CategoricalKDE) -> str | None:
        """HpBandSter's choice among the candidates, in its loop order (module docstring)."""
        k = self._hpbandster_row(candidates, index, good, bad)
        return None if k is None else self.space.arch_at(int(index[k]))

    def _hpbandster_row(self, candidates: np.ndarray, index: np.ndarray, good: CategoricalKDE,
                        bad: CategoricalKDE, in_range: bool = False) -> int | None:
        """The row of HpBandSter's choice among the candidates (`_hpbandster_pick`), or None.

        A loop over the few candidates with Python floats (the same IEEE operations as numpy's on each
        element) instead of a dozen array calls (issue 20)."""
        where = index.tolist()
        if max(where) < 0:
            return None
        if in_range and isinstance(bad, CategoricalKDE) and bad.n_choices is good.n_choices is self.table.n_choices:
            # the candidates' codes are within the choices both KDEs were built for
            l_raw, g_raw = good.pdf_codes(candidates).tolist(), bad.pdf_codes(candidates).tolist()
        else:
            l_raw, g_raw = good.pdf(candidates).tolist(), bad.pdf(candidates).tolist()
        best, best_ratio = None, math.inf
        for k, i in enumerate(where):
            if i < 0:
                continue
            l_k, g_k = l_raw[k], g_raw[k]
            # HpBandSter's max(1e-32, g(x)) / max(l(x), 1e-32): Python's max keeps its first argument unless the
            # second is larger, so a NaN g counts as 1e-32 while a NaN l stays NaN
            g_val = g_k if g_k > _TINY else _TINY
            l_val = l_k if (l_k != l_k or l_k > _TINY) else _TINY
            ratio = g_val / l_val  # l_val is never 0: no ZeroDivisionError
            if not math.isfinite(ratio):
                if math.isfinite(l_k):
                    return k  # the first candidate with a non-finite ratio and a finite l: taken at once
                continue
            if ratio < best_ratio:  # the smallest ratio, the first on ties
                best, best_ratio = k, ratio
        return best

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
