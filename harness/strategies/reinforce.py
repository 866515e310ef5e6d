"""REINFORCE with a moving-average baseline (Williams 1992), as benchmarked in NAS-Bench-201.

Williams 1992 is the estimator, Zoph & Le (ICLR 2017) made it the NAS controller, and NAS-Bench-201
(Dong & Yang, ICLR 2020) benchmarks it with the per-edge policy implemented here.

The policy is the one of the NAS-Bench-201 authors' benchmark code (AutoDL-Projects
`exps/algos/reinforce.py`, `exps/NATS-algos/reinforce.py`): one independent categorical
distribution per position of the space's `index` code (per edge for NB201), parameterised by
logits, initialised to 1e-3 * N(0, 1), and trained with Adam on the loss
-(reward - baseline) * log pi(a). The baseline is a bias-corrected exponential moving average of
the rewards (numerator and denominator both decayed by the momentum), updated with the new reward
*before* the advantage is computed, as in that code. The gradient of log pi(a) with respect to the
logits of position e is onehot(a_e) - softmax(logits_e) (computed in numpy here; no autograd).

Defaults and where they come from:
- `learning_rate = 0.01`: Adam step size of the NAS-Bench-201 authors' final benchmark runs
  (NATS-Bench `exps/NATS-algos/run-all.sh`, `--learning_rate 0.01`, topology space = NB201).
  Their earlier NAS-Bench-201 scripts grid-searched {0.01, 0.02, 0.1, 0.2, 0.5}
  (`scripts-search/NAS-Bench-201-algos/hps/GRID-RL.sh`) and the NB201 README runs 0.5;
  NAS-Bench-101's REINFORCE (plain gradient ascent) used 0.1 with zero-initialised logits.
- `ema_momentum = 0.9`: `--EMA_momentum 0.9` in both NAS-Bench-201 and NATS-Bench scripts (and the
  NAS-Bench-101 REINFORCE default).
- `adam_beta1 = 0.9`, `adam_beta2 = 0.999`, `adam_eps = 1e-8`: torch.optim.Adam defaults, which the
  reference code uses.
- `init_scale = 1e-3`: standard deviation of the initial logits in the reference code.

Reward = the observation's score (primary objective, signed so larger is better). A -inf reward
(an architecture the benchmark never measured) is skipped: neither the baseline nor the policy is
updated, like NAS-Bench-101's REINFORCE which resamples invalid architectures. With several
workers, each result updates the policy as it arrives, using the gradient of log pi at the
*current* logits (identical to the sequential algorithm when n_workers = 1); the sampled codes of
each pending proposal travel in its `tag`.

The policy needs fixed-length categorical codes that can be turned back into an architecture;
`harness.spaces.codes.CodeTable` provides them for any space with an `index` encoding (NB201,
NAS-Bench-Graph), and other spaces get a StrategyError.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.spaces.base import ArchitectureError, SearchSpace
from harness.spaces.codes import CodeTable
from harness.strategies.base import Observation, Problem, Proposal, Strategy, StrategyConfig, StrategyError
from tabular.errors import NasHarnessError

_MAX_INVALID_DRAWS = 1000


def categorical_view(space: SearchSpace, strategy: str) -> CodeTable:
    """The space as categorical codes, or StrategyError saying why `strategy` cannot run on it."""
    try:
        return CodeTable.of(space, strategy)
    except NasHarnessError as exc:
        raise StrategyError(str(exc)) from None


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stabilised by subtracting each row's maximum (-inf logits get probability 0)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class ReinforceConfig(StrategyConfig):
    """REINFORCE's Adam step, baseline momentum and initial logits (NATS-Bench reference values)."""
    learning_rate: float = 0.01  # NATS-Bench run-all.sh (NB201 topology space), Adam
    ema_momentum: float = 0.9  # NAS-Bench-201 / NATS-Bench --EMA_momentum
    adam_beta1: float = 0.9  # torch.optim.Adam default (the reference optimiser)
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    init_scale: float = 1e-3  # initial logits ~ init_scale * N(0, 1), as in the reference code

    def check(self) -> None:
        """A positive learning rate and a moving-average momentum in [0, 1)."""
        super().check()
        if not self.learning_rate > 0:
            raise StrategyError(f"reinforce.learning_rate must be positive, got {self.learning_rate}")
        if not 0 <= self.ema_momentum < 1:
            raise StrategyError(f"reinforce.ema_momentum must be in [0, 1), got {self.ema_momentum}")


class Reinforce(Strategy[ReinforceConfig]):
    """REINFORCE with a moving-average baseline over a factorised categorical policy (module docstring)."""
    name = "reinforce"
    Config = ReinforceConfig

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: ReinforceConfig):
        super().__init__(space, problem, rng, config)
        self.view = categorical_view(space, self.name)
        self._mask = self.view.mask()
        shape = self._mask.shape
        self.logits = np.where(self._mask, config.init_scale * rng.standard_normal(shape), -np.inf)
        self._m = np.zeros(shape)
        self._v = np.zeros(shape)
        self._t = 0
        self._ema_num = 0.0
        self._ema_den = 0.0
        self.skipped = 0  # -inf rewards left out of the update
        self._rows = np.arange(shape[0])

    # -- policy ---------------------------------------------------------------------------------
    def probabilities(self) -> np.ndarray:
        """(positions, max_cardinality) current action probabilities (0 for absent categories)."""
        return softmax_rows(self.logits)

    def log_prob(self, codes: np.ndarray) -> float:
        """log pi(codes) under the current logits."""
        z = self.logits - self.logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1))
        return float((z[self._rows, codes] - log_norm).sum())

    def grad_log_prob(self, codes: np.ndarray) -> np.ndarray:
        """d log pi(codes) / d logits: onehot(codes) - softmax(logits), row by row."""
        grad = -self.probabilities()
        grad[self._rows, codes] += 1.0
        return grad

    @property
    def baseline(self) -> float:
        """Bias-corrected EMA of the rewards so far (nan before the first finite reward)."""
        return self._ema_num / self._ema_den if self._ema_den > 0 else float("nan")

    # -- ask/tell -------------------------------------------------------------------------------
    def ask(self) -> Proposal | None:
        """An architecture sampled from the current policy (invalid codes redrawn)."""
        probs = self.probabilities()
        cum = np.cumsum(probs, axis=1)
        for _ in range(_MAX_INVALID_DRAWS):
            u = self.rng.random(len(self._rows))
            codes = np.minimum((cum < u[:, None]).sum(axis=1), np.asarray(self.view.cardinalities) - 1)
            try:
                arch = self.view.decode(codes)
            except ArchitectureError:
                continue  # not an architecture of the space: draw again
            return Proposal(arch, tag=tuple(int(c) for c in codes))
        raise StrategyError(f"reinforce drew {_MAX_INVALID_DRAWS} invalid architectures in a row; the policy has "
                            "collapsed onto invalid codes")

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        """One policy-gradient step with the reward minus the moving-average baseline."""
        reward = observation.score(self.problem)
        if not np.isfinite(reward):
            self.skipped += 1
            return
        codes = np.asarray(proposal.tag, dtype=np.int64)
        beta = self.config.ema_momentum
        self._ema_num = beta * self._ema_num + (1 - beta) * reward
        self._ema_den = beta * self._ema_den + (1 - beta)
        advantage = reward - self.baseline
        # Adam on the loss -advantage * log pi(a): its gradient is -advantage * grad log pi(a).
        grad = -advantage * self.grad_log_prob(codes)
        cfg = self.config
        self._t += 1
        self._m = cfg.adam_beta1 * self._m + (1 - cfg.adam_beta1) * grad
        self._v = cfg.adam_beta2 * self._v + (1 - cfg.adam_beta2) * grad * grad
        m_hat = self._m / (1 - cfg.adam_beta1**self._t)
        v_hat = self._v / (1 - cfg.adam_beta2**self._t)
        step = cfg.learning_rate * m_hat / (np.sqrt(v_hat) + cfg.adam_eps)
        self.logits = np.where(self._mask, self.logits - step, -np.inf)
