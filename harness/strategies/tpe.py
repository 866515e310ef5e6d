"""Tree-structured Parzen Estimator (Bergstra et al., NeurIPS 2011) for categorical spaces.

Paper: Bergstra, Bardenet, Bengio & Kegl, "Algorithms for Hyper-Parameter Optimization", NeurIPS
2011; defaults are hyperopt's.

TPE models p(x | y) instead of p(y | x). Observations are split at a threshold y*: the best ones
("below" y* in loss terms) give the density l(x), the rest g(x). Bergstra et al. show that expected
improvement is monotone in l(x) / g(x), so each proposal draws `n_ei_candidates` candidates from
l(x) and returns the one with the largest l(x) / g(x) (joint over all positions, as the paper's
"candidate with the greatest EI"; hyperopt instead takes the argmax per hyperparameter).

Architectures are seen as independent categorical positions (the space's `index` code, via
`harness.strategies.reinforce.categorical_view`; per edge for NB201). Each density is a product of
per-position categorical Parzen estimators: weighted counts of the group's codes plus
`prior_weight` pseudo-counts for every category (hyperopt `tpe_cat_pseudocounts` with a uniform
prior), normalised.

Defaults (hyperopt 0.2.x `tpe.py`, the implementation NAS-Bench-101 benchmarked as "TPE"):
- `gamma = 0.25` with `split = "sqrt"`: the number of "good" observations is
  min(ceil(gamma * sqrt(n)), linear_forgetting) (hyperopt `ap_split_trials`, gamma_cap = 25).
  `split = "quantile"` uses the paper's literal definition, ceil(gamma * n) (the gamma-quantile of
  the observed losses); at least one observation is always "good".
- `n_startup = 20`: random proposals before the model is used (hyperopt `n_startup_jobs`).
- `n_ei_candidates = 24` (hyperopt `n_EI_candidates`).
- `prior_weight = 1.0` (hyperopt `prior_weight`).
- `linear_forgetting = 25` (hyperopt `DEFAULT_LF`): when a group holds more than 25 observations,
  the older ones get weights ramping linearly from 1/n up to 1 and the newest 25 weight 1
  (hyperopt `linear_forgetting_weights`); 0 turns it off.

Implemented in numpy (no hyperopt/optuna dependency): the model is a few count tables, so there
is no separate refit schedule. They are kept incrementally, so an `ask()` costs the same after
10,000 observations as after 1,000 (issue 20): observed losses sit in a sorted list (the "good"
group is its head: at most 25 observations with the defaults), running per-category counts and a
cumulative count table give g(x)'s linearly-forgotten counts in closed form (the ramp weights are
affine in an observation's rank among the "bad" ones, so two count sums suffice), and only the good
group and the newest `linear_forgetting` bad observations are visited. `densities()` still computes
both densities from scratch (the reference the tests compare the incremental counts against); the
two agree to rounding, and the proposals they lead to are the same.
Unmeasured architectures (score -inf) rank last. With several workers,
proposals still pending count as observations with the worst possible loss, as hyperopt does for
running trials (`loss = inf`), which discourages proposing the same architecture twice at once.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from harness.spaces.base import ArchitectureError, SearchSpace
from harness.strategies.base import Observation, Problem, Proposal, Strategy, StrategyConfig, StrategyError
from harness.strategies.reinforce import categorical_view

_SPLITS = ("sqrt", "quantile")
_MAX_INVALID_DRAWS = 1000


def linear_forgetting_weights(n: int, lf: int) -> np.ndarray:
    """hyperopt's weights for n observations in time order (oldest first)."""
    if lf <= 0 or n <= lf:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - lf), np.ones(lf)])


def n_good(n: int, gamma: float, split: str, cap: int) -> int:
    """Number of observations in the "good" group l(x) out of n."""
    if split == "sqrt":
        k = int(math.ceil(gamma * math.sqrt(n)))
        if cap > 0:
            k = min(k, cap)
    else:
        k = int(math.ceil(gamma * n))
    return max(1, min(k, n))


@dataclass
class TPEConfig(StrategyConfig):
    """TPE's split quantile, startup trials, candidates and prior, as in hyperopt's defaults."""
    gamma: float = 0.25  # hyperopt _default_gamma
    split: str = "sqrt"  # hyperopt: ceil(gamma*sqrt(n)) capped at 25; "quantile": ceil(gamma*n)
    n_startup: int = 20  # hyperopt _default_n_startup_jobs
    n_ei_candidates: int = 24  # hyperopt _default_n_EI_candidates
    prior_weight: float = 1.0  # hyperopt _default_prior_weight
    linear_forgetting: int = 25  # hyperopt DEFAULT_LF (0: off)

    def check(self) -> None:
        """Each value in its range (hyperopt's meaning of each key)."""
        super().check()
        if not 0 < self.gamma < 1:
            raise StrategyError(f"tpe.gamma must be in (0, 1), got {self.gamma}")
        if self.split not in _SPLITS:
            raise StrategyError(f"tpe.split must be one of {', '.join(_SPLITS)}, got {self.split!r}")
        if self.n_startup < 0 or self.n_ei_candidates < 1:
            raise StrategyError("tpe.n_startup must be >= 0 and tpe.n_ei_candidates >= 1")
        if not self.prior_weight > 0:
            raise StrategyError(f"tpe.prior_weight must be positive, got {self.prior_weight}")
        if self.linear_forgetting < 0:
            raise StrategyError(f"tpe.linear_forgetting must be >= 0, got {self.linear_forgetting}")


class TPE(Strategy[TPEConfig]):
    """The tree-structured Parzen estimator over categorical codes (module docstring)."""
    name = "tpe"
    Config = TPEConfig

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: TPEConfig):
        super().__init__(space, problem, rng, config)
        self.view = categorical_view(space, self.name)
        self._cards = np.asarray(self.view.cardinalities, dtype=np.int64)
        self._k = int(self._cards.max())
        self._offsets = np.arange(len(self._cards)) * self._k
        self._valid = np.arange(self._k)[None, :] < self._cards[:, None]
        # History in order of proposal (hyperopt orders by trial id for linear forgetting).
        self._codes: list[np.ndarray] = []
        self._losses: list[float] = []  # -score; +inf while pending or unmeasured
        self._ticket = 0
        # Incremental model state (see the module docstring): finite (loss, time) pairs in order, the
        # flat category index of every observation, and cumulative category counts by time.
        self._ranked: list[tuple[float, int]] = []
        self._flat: list[np.ndarray] = []
        self._n_flat = len(self._cards) * self._k
        self._cum = np.zeros((1024, self._n_flat), dtype=np.int64)  # _cum[t] = counts of observations < t
        self._sum_t = np.zeros(self._n_flat)  # sum over observations of time * onehot

    # -- model ----------------------------------------------------------------------------------
    def densities(self, codes: np.ndarray, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-position categorical probabilities (positions, max_cardinality) of l(x) and g(x).

        `codes` (n, positions) in time order, `losses` (n,) smaller = better. Ties in loss keep
        time order (stable sort), so the split is deterministic.
        """
        cfg = self.config
        n = len(losses)
        k = n_good(n, cfg.gamma, cfg.split, cfg.linear_forgetting)
        order = np.argsort(losses, kind="stable")
        good = np.sort(order[:k])  # back to time order for linear forgetting
        bad = np.sort(order[k:])
        return self._parzen(codes[good]), self._parzen(codes[bad])

    def _parzen(self, codes: np.ndarray) -> np.ndarray:
        weights = linear_forgetting_weights(len(codes), self.config.linear_forgetting)
        flat = (codes + self._offsets[None, :]).reshape(-1)
        counts = np.bincount(flat, weights=np.repeat(weights, codes.shape[1]), minlength=self._offsets[-1] + self._k)
        pseudo = counts.reshape(len(self._cards), self._k) + self.config.prior_weight
        pseudo = np.where(self._valid, pseudo, 0.0)
        return pseudo / pseudo.sum(axis=1, keepdims=True)

    def _normalise(self, counts: np.ndarray) -> np.ndarray:
        pseudo = counts.reshape(len(self._cards), self._k) + self.config.prior_weight
        pseudo = np.where(self._valid, pseudo, 0.0)
        return pseudo / pseudo.sum(axis=1, keepdims=True)

    def _onehot_sum(self, times: list[int], weights: np.ndarray | None = None) -> np.ndarray:
        """Category counts of the observations at `times` (optionally weighted)."""
        if not times:
            return np.zeros(self._n_flat)
        flat = np.concatenate([self._flat[t] for t in times])
        w = None if weights is None else np.repeat(weights, len(self._cards))
        return np.bincount(flat, weights=w, minlength=self._n_flat).astype(np.float64)

    def _good_times(self, n: int, k: int) -> list[int]:
        """Times of the k best observations (stable: ties by time; unfinished ones last, oldest first)."""
        if len(self._ranked) >= k:
            return [t for _, t in self._ranked[:k]]
        good = [t for _, t in self._ranked]
        taken = set(good)
        for t in range(n):  # rare: fewer finite losses than k (start-up with many workers)
            if len(good) >= k:
                break
            if t not in taken:
                good.append(t)
        return good

    def _incremental_densities(self) -> tuple[np.ndarray, np.ndarray]:
        """l(x) and g(x) as `densities()` computes them, in time independent of the history's length."""
        cfg = self.config
        n = len(self._losses)
        k = n_good(n, cfg.gamma, cfg.split, cfg.linear_forgetting)
        good = sorted(self._good_times(n, k))
        l_probs = self._parzen(np.stack([self._codes[t] for t in good]))
        good_set = set(good)
        m = n - k  # bad observations, ramp-weighted by their rank in time order (oldest first)
        lf = cfg.linear_forgetting
        total = self._cum[n].astype(np.float64)
        good_counts = self._onehot_sum(good)
        if lf <= 0 or m <= lf:
            return l_probs, self._normalise(total - good_counts)
        # cut: the time of the oldest of the newest `lf` bad observations; those weigh 1.
        recent: list[int] = []
        t = n
        while len(recent) < lf:
            t -= 1
            if t not in good_set:
                recent.append(t)
        cut = t
        ramp_n = m - lf  # bad observations before `cut`, weights linspace(1/m, 1, ramp_n) by rank j
        before = [g for g in good if g < cut]
        a0 = self._cum[cut].astype(np.float64) - self._onehot_sum(before)  # sum of their one-hots
        # sum of j * onehot: j = t - (good before t) = t - sum_g [g < t]
        # and every bad observation between a good g and cut has its rank lowered by one: subtract, per g,
        # the counts in (g, cut) less the good ones there (the i-th good before cut precedes i of them).
        a1 = self._time_weighted(cut)
        if before:
            a1 -= self._onehot_sum(before, np.asarray(before, dtype=np.float64) - np.arange(len(before)))
            a1 -= len(before) * self._cum[cut] - self._cum[np.asarray(before) + 1].sum(axis=0)
        step = (1.0 - 1.0 / m) / (ramp_n - 1) if ramp_n > 1 else 0.0
        counts = a0 / m + step * a1 + self._onehot_sum(recent)
        return l_probs, self._normalise(counts)

    def _time_weighted(self, cut: int) -> np.ndarray:
        """sum over t < cut of t * onehot(t), from the running total minus the few observations after cut."""
        n = len(self._losses)
        later = list(range(cut, n))
        return self._sum_t - self._onehot_sum(later, np.asarray(later, dtype=np.float64))

    def log_ratio(self, candidates: np.ndarray, l_probs: np.ndarray, g_probs: np.ndarray) -> np.ndarray:
        """log l(x) - log g(x) for each candidate row (the quantity EI is monotone in)."""
        rows = np.arange(candidates.shape[1])[None, :]
        return (np.log(l_probs[rows, candidates]) - np.log(g_probs[rows, candidates])).sum(axis=1)

    def _sample(self, probs: np.ndarray, n: int) -> np.ndarray:
        """n independent draws of all positions from per-position probabilities."""
        cum = np.cumsum(probs, axis=1)
        u = self.rng.random((n, probs.shape[0]))
        codes = (cum[None, :, :] < u[:, :, None]).sum(axis=2)
        return np.minimum(codes, self._cards[None, :] - 1)

    # -- ask/tell -------------------------------------------------------------------------------
    def ask(self) -> Proposal | None:
        """A random architecture during startup, then the candidate of l(x) maximising l(x)/g(x)."""
        if len(self._losses) < max(self.config.n_startup, 1):
            return self._record(self._random_proposal())
        l_probs, g_probs = self._incremental_densities()
        for _ in range(_MAX_INVALID_DRAWS):
            candidates = self._sample(l_probs, self.config.n_ei_candidates)
            order = np.argsort(-self.log_ratio(candidates, l_probs, g_probs), kind="stable")
            for i in order.tolist():  # best first; skip code combinations that are no architecture
                try:
                    return self._record(self.view.decode(candidates[i]))
                except ArchitectureError:
                    continue
        raise StrategyError(f"tpe drew {_MAX_INVALID_DRAWS} batches of invalid architectures; l(x) has collapsed onto "
                            "invalid codes")

    def _random_proposal(self) -> str:
        return self.space.sample(self.rng)

    def _record(self, arch: str) -> Proposal:
        """Remember a proposal as pending (worst loss) until its result arrives."""
        code = self.space.encode([arch], "index")[0]
        t = len(self._losses)
        self._codes.append(code)
        self._losses.append(np.inf)
        flat = code + self._offsets
        self._flat.append(flat)
        if t + 1 >= len(self._cum):  # grow the cumulative table geometrically (amortised O(1) per ask)
            self._cum = np.concatenate([self._cum, np.zeros_like(self._cum)])
        self._cum[t + 1] = self._cum[t]
        self._cum[t + 1, flat] += 1
        self._sum_t[flat] += t
        ticket = self._ticket
        self._ticket += 1
        return Proposal(arch, tag=ticket)

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        """Record the observation for the next split into good and bad densities."""
        score = observation.score(self.problem)
        loss = -score if np.isfinite(score) else np.inf
        self._losses[proposal.tag] = loss
        if loss != np.inf:
            bisect.insort(self._ranked, (loss, proposal.tag))
