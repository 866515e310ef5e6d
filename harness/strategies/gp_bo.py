"""Gaussian-process Bayesian optimisation with expected improvement over a candidate pool.

The method is the standard GP-BO of Snoek, Larochelle & Adams, "Practical Bayesian Optimization of
Machine Learning Algorithms", NeurIPS 2012: a GP prior with a Matern 5/2 kernel whose
hyperparameters are fitted by maximising the marginal likelihood, and expected improvement
(Jones, Schonlau & Welch 1998) as acquisition. In NAS it is the GP-BO baseline of BANANAS
(White et al. 2021; naszilla `gp_bayesopt_search`), which, like NASBOT (Kandasamy et al. 2018)
and like here, maximises the acquisition over mutated (and random) architectures, not by gradients.

Model: scikit-learn's GaussianProcessRegressor (a dependency already; exact GP inference is
cheap at NAS budgets of a few hundred points) on `space.encode(archs, encoding)`, default one-hot
("onehot"). Kernel: ConstantKernel * Matern(nu=2.5) + WhiteKernel. On a one-hot encoding the
Euclidean distance is sqrt(2 x the number of differing ops), so an isotropic length scale gives a
kernel of the Hamming distance, the BANANAS GP baseline's default 'adj' distance on NB201;
`ard=True` learns one length scale per feature as in Snoek et al. The WhiteKernel learns the
observation noise (the benchmark's seed noise under the default "sample" seed policy), and
`normalize_y` standardises targets.

Defaults (ours where no paper fixes them, with the reason):
* num_init = 10 random architectures (as BANANAS and its GP baseline in naszilla).
* encoding 'onehot', kernel 'matern52', ard False: see above; isotropic keeps each fit to
  a few hyperparameters so refitting after every result stays fast.
* num_random_candidates = 200, num_mutation_candidates = 100, max_mutations = 2: the pool
  mixes global random samples with local mutations of the incumbent (one random edit applied
  1..max_mutations times, cycling). The BANANAS authors' GP baseline (naszilla
  `gp_bayesopt_search`) maximised its acquisition over 200 draws (`max_iter=200`) from mutations
  of the best architectures; 1000 random candidates measured no better on nb201/cifar10 and cost
  five times the encoding time.
* xi = 0.0: plain EI of Jones et al. (Lizotte's offset, in objective units, is available).
* n_restarts_optimizer = 0, kernel hyperparameters warm-started from the previous fit: a
  restart per fit would multiply the cost for little gain once the posterior has settled.

Fits and predictions run with BLAS limited to one thread (threadpoolctl): at a few hundred points
threads cost more than they give, and single-threaded linear algebra keeps results independent of
the machine's core count.

Refit schedule: the GP is refitted (hyperparameters included) at the first `ask()` after any new
result; asks with no new result reuse the fitted GP. An exact GP fit costs O(n^3) (and its
hyperparameter search many of those), so a run of N evaluations would cost O(N^4) (issue 20: 1,000
evaluations did not finish in minutes). Bounded by default: while at most `max_train = 200` results
are measured, everything is as above (runs of up to 200 evaluations are unchanged); beyond that,
each fit uses `max_train` of them (the best half and the most recent others: subset-of-data, the
incumbent's region and the newest evidence) and the kernel hyperparameters are re-optimised only
at every `refit_every = 10`-th fit, the fits in between keeping the last kernel (a posterior update
only). With `max_train = 0` (no cap) `refit_every` applies from the start; `max_train = 0,
refit_every = 1` is the unbounded behaviour, exactly. Proposals are one at a time (k = 1). NaN
observations are left out of the fit but count as evaluated. Pending proposals are excluded from
the candidate pool (no fantasised values), so with several workers each ask takes the best EI
candidate not yet pending. Architectures already evaluated or pending are never proposed again
unless every architecture of the space has been evaluated.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from harness.spaces.base import SearchSpace
from harness.strategies.acquisition import expected_improvement
from harness.strategies.base import Problem, StrategyConfig, StrategyError
from harness.strategies.predictor_base import PredictorStrategy

if TYPE_CHECKING:  # scikit-learn is imported when a GP is built, not with the strategy registry
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import Kernel

log = logging.getLogger(__name__)
KERNELS = ("matern52", "rbf")


@dataclass
class GPBayesOptConfig(StrategyConfig):
    """GP-BO hyperparameters: kernel, initial design, candidate pool and acquisition."""
    num_init: int = 10
    encoding: str = "onehot"
    kernel: str = "matern52"
    ard: bool = False
    normalize_y: bool = True
    num_random_candidates: int = 200
    num_mutation_candidates: int = 100
    max_mutations: int = 2
    xi: float = 0.0
    n_restarts_optimizer: int = 0
    # Bounded cost (issue 20; "Refit schedule" in the module docstring). max_train=0 and refit_every=1
    # reproduce the pre-issue-20 behaviour (every result, hyperparameters at every fit) exactly.
    max_train: int = 200
    refit_every: int = 10

    def check(self) -> None:
        """Counts in range, a known kernel, and at least one candidate per step (random or mutated)."""
        super().check()
        for name, value in (("num_init", self.num_init), ("max_mutations", self.max_mutations)):
            if value < 1:
                raise StrategyError(f"hyperparameter gpbo.{name} must be at least 1, got {value}")
        for name, value in (("num_random_candidates", self.num_random_candidates),
                            ("num_mutation_candidates", self.num_mutation_candidates),
                            ("n_restarts_optimizer", self.n_restarts_optimizer)):
            if value < 0:
                raise StrategyError(f"hyperparameter gpbo.{name} must be non-negative, got {value}")
        if self.max_train < 0 or (0 < self.max_train < 2):
            raise StrategyError(f"hyperparameter gpbo.max_train must be 0 (no cap) or at least 2, got {self.max_train}")
        if self.refit_every < 1:
            raise StrategyError(f"hyperparameter gpbo.refit_every must be at least 1, got {self.refit_every}")
        if self.num_random_candidates + self.num_mutation_candidates < 1:
            raise StrategyError("gpbo needs candidates: set num_random_candidates and/or num_mutation_candidates "
                                "above 0")
        if self.kernel not in KERNELS:
            raise StrategyError(f"hyperparameter gpbo.kernel must be one of {', '.join(KERNELS)}, got {self.kernel!r}")


class GPBayesOpt(PredictorStrategy[GPBayesOptConfig]):
    """Bayesian optimisation with a Gaussian-process surrogate and expected improvement (module docstring)."""
    name = "gpbo"
    Config = GPBayesOptConfig

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: GPBayesOptConfig):
        super().__init__(space, problem, rng, config)
        _check_config(config, space)
        self._model: GaussianProcessRegressor | None = None
        self._fitted_on = 0  # number of results the current model has seen
        self._kernel: Kernel | None = None  # last fitted kernel: the next fit's starting point
        self._unoptimised = 0  # fits since the kernel hyperparameters were last optimised

    # ----------------------------------------------------------------- model
    def _initial_kernel(self, n_features: int) -> Kernel:
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel

        length = np.ones(n_features) if self.config.ard else 1.0
        if self.config.kernel == "matern52":
            base: Kernel = Matern(length_scale=length, length_scale_bounds=(1e-2, 1e3), nu=2.5)
        else:
            base = RBF(length_scale=length, length_scale_bounds=(1e-2, 1e3))
        return ConstantKernel(1.0, (1e-3, 1e3)) * base + WhiteKernel(1e-2, (1e-6, 1e1))

    def fit(self) -> GaussianProcessRegressor:
        """Fit the GP on every measured result, warm-starting kernel hyperparameters."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor

        rows = self._training_rows()
        x = np.asarray(self._train_x) if rows is None else np.asarray([self._train_x[i] for i in rows])
        y = np.asarray(self._train_y) if rows is None else np.asarray([self._train_y[i] for i in rows])
        kernel = self._kernel if self._kernel is not None else self._initial_kernel(x.shape[1])
        optimise = (self._kernel is None or (rows is None and self.config.max_train > 0)
                    or self._unoptimised + 1 >= self.config.refit_every)
        model = GaussianProcessRegressor(
            kernel=kernel,
            normalize_y=self.config.normalize_y,
            n_restarts_optimizer=self.config.n_restarts_optimizer,
            random_state=int(self.rng.integers(2**31 - 1)),
            optimizer="fmin_l_bfgs_b" if optimise else None,
        )
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            # hitting a hyperparameter bound (e.g. no observation noise) is expected, not an error
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, y)
        self._unoptimised = 0 if optimise else self._unoptimised + 1
        self._kernel = model.kernel_
        self._model = model
        self._fitted_on = self._n_told
        self.n_fits += 1
        log.debug("gpbo fit %d on %d points: %s", self.n_fits, x.shape[0], model.kernel_)
        return model

    def _training_rows(self) -> list[int] | None:
        """Positions in the measured results a fit uses: None for all of them (up to `max_train`),
        else the best `max_train // 2` and the most recent others up to `max_train`, in time order."""
        cap, n = self.config.max_train, len(self._train_y)
        if cap <= 0 or n <= cap:
            return None
        best = np.argsort(-np.asarray(self._train_y), kind="stable")[: cap // 2]
        chosen = set(best.tolist())
        for i in range(n - 1, -1, -1):
            if len(chosen) >= cap:
                break
            chosen.add(i)
        return sorted(chosen)

    def _encode(self, indices: list[int]) -> np.ndarray:
        return self.space.encode([self.space.arch_at(i) for i in indices], self.config.encoding)

    # ----------------------------------------------------------------- proposals
    def _next_index(self) -> int | None:
        if self._n_told < self.config.num_init or len(self._train_y) < 2:
            return self._random_unseen()
        candidates = self._candidates()
        if not candidates:
            return self._random_unseen()
        if self._model is None or self._fitted_on != self._n_told:
            self.fit()
        assert self._model is not None
        with threadpool_limits(limits=1):
            mu, sigma = self._model.predict(self._encode(candidates), return_std=True)
        ei = expected_improvement(mu, sigma, best=max(self._train_y), xi=self.config.xi)
        return candidates[int(np.argmax(ei))]  # first of equal maxima: reproducible

    def _candidates(self) -> list[int]:
        """Mutations of the incumbent and uniformly random architectures, none seen before."""
        cfg = self.config
        candidates, offer = self._candidate_pool()

        incumbent = self.space.arch_at(self._train_idx[int(np.argmax(self._train_y))])
        for i in range(cfg.num_mutation_candidates):
            arch = incumbent
            for _ in range(1 + i % cfg.max_mutations):
                arch = self.space.mutate(arch, self.rng)
            offer(self.space.index_of(arch))
        if len(self._seen) < self.space.size // 2:
            for index in self.rng.integers(self.space.size, size=cfg.num_random_candidates):
                offer(int(index))
        else:  # a nearly exhausted space: draw from what is left
            unseen = np.setdiff1d(self._unseen_indices(), candidates)
            pick = self.rng.permutation(unseen.size)[: cfg.num_random_candidates]
            candidates.extend(int(i) for i in unseen[np.sort(pick)])
        return candidates

def _check_config(cfg: GPBayesOptConfig, space: SearchSpace) -> None:
    """What GPBayesOptConfig.check cannot know: whether the space offers the encoding."""
    if cfg.encoding not in space.encodings:
        raise StrategyError(
            f"hyperparameter gpbo.encoding {cfg.encoding!r} is not offered by space {space.name!r}; choose one of "
            f"{', '.join(space.encodings)}"
        )
