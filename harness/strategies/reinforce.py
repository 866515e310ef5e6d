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

import math
from bisect import bisect_left
from collections.abc import Callable
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


def code_decoder(table: CodeTable) -> Callable[[tuple[int, ...]], str | None]:
    """A function from one code vector (a tuple of ints) to its architecture (`table.decode`), None
    where `decode` refuses it.

    Why: `CodeTable.decode` costs ~10 us of numpy calls per vector, as much as the rest of a REINFORCE
    step (issue 20). The generic table's lookup array read with Python ints gives the same architecture
    in about 1 us; a table of another kind (a space's own, which may project a vector onto a listed
    architecture) goes through its public `decode`.
    """
    plain = table.fast_lookup()
    if plain is None:
        def decode(codes: tuple[int, ...]) -> str | None:
            try:
                return table.decode(np.asarray(codes, dtype=np.int64))
            except ArchitectureError:
                return None

        return decode
    lookup, radix = plain
    item, weights, sizes = lookup.item, radix.tolist(), table.n_choices.tolist()
    arch_at = table.space.arch_at

    def lookup_decode(codes: tuple[int, ...]) -> str | None:
        key = 0
        for code, weight, size in zip(codes, weights, sizes, strict=True):
            if not 0 <= code < size:
                return None
            key += code * weight
        index = item(key)
        return None if index < 0 else arch_at(index)

    return lookup_decode


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
        self._mv = np.zeros((2, *shape))  # Adam's first and second moments, m = _mv[0], v = _mv[1]
        self._decay = np.array([config.adam_beta1, config.adam_beta2])[:, None, None]
        self._fresh = np.array([1 - config.adam_beta1, 1 - config.adam_beta2])[:, None, None]
        self._t = 0
        self._ema_num = 0.0
        self._ema_den = 0.0
        self.skipped = 0  # -inf rewards left out of the update
        self._rows = np.arange(shape[0])
        # Speed (issue 20: a grid runs thousands of searches): the softmax and its row-wise cumulative sums
        # are computed once per logits update and shared by ask() and tell() (the same arrays the plain
        # computation gives); decoded code vectors are remembered for the run; the Adam update skips the
        # -inf mask when every category exists.
        self._tops = [c - 1 for c in self.view.cardinalities]
        self._tops_array = np.asarray(self.view.cardinalities) - 1
        self._full = bool(self._mask.all())
        self._policy: tuple[np.ndarray, np.ndarray, list[list[float]] | None] | None = None
        self._decode = code_decoder(self.view)

    # -- policy ---------------------------------------------------------------------------------
    @property
    def logits(self) -> np.ndarray:
        """(positions, max_cardinality) policy logits (-inf for absent categories)."""
        return self._logits

    @logits.setter
    def logits(self, value: np.ndarray) -> None:
        """Setting the logits drops the cached policy (computed again from them when next needed)."""
        self._logits = value
        self._policy = None

    def probabilities(self) -> np.ndarray:
        """(positions, max_cardinality) current action probabilities (0 for absent categories)."""
        return self._current()[0].copy()

    def _current(self) -> tuple[np.ndarray, np.ndarray, list[list[float]] | None]:
        """(softmax, its row-wise cumsum, the cumsum as Python rows or None if it has a NaN) of the current
        logits, computed once per update: ask() and the next tell() read the same policy."""
        if self._policy is None:
            probs = softmax_rows(self.logits)
            cum = np.cumsum(probs, axis=1)
            rows = None if np.isnan(cum).any() else cum.tolist()
            self._policy = (probs, cum, rows)
        return self._policy

    def log_prob(self, codes: np.ndarray) -> float:
        """log pi(codes) under the current logits."""
        z = self.logits - self.logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1))
        return float((z[self._rows, codes] - log_norm).sum())

    def grad_log_prob(self, codes: np.ndarray) -> np.ndarray:
        """d log pi(codes) / d logits: onehot(codes) - softmax(logits), row by row."""
        grad = -self._current()[0]
        grad[self._rows, codes] += 1.0
        return grad

    @property
    def baseline(self) -> float:
        """Bias-corrected EMA of the rewards so far (nan before the first finite reward)."""
        return self._ema_num / self._ema_den if self._ema_den > 0 else float("nan")

    # -- ask/tell -------------------------------------------------------------------------------
    def ask(self) -> Proposal | None:
        """An architecture sampled from the current policy (invalid codes redrawn)."""
        _, cum, rows = self._current()
        for _ in range(_MAX_INVALID_DRAWS):
            u = self.rng.random(len(self._rows))
            if rows is not None:  # the count of cumulative sums below u: bisect on a non-decreasing row
                draws = zip(rows, u.tolist(), self._tops, strict=True)
                tag = tuple([min(bisect_left(row, x), top) for row, x, top in draws])
            else:
                codes = np.minimum((cum < u[:, None]).sum(axis=1), self._tops_array)
                tag = tuple(int(c) for c in codes)
            arch = self._decode(tag)
            if arch is None:
                continue  # not an architecture of the space: draw again
            return Proposal(arch, tag=tag)
        raise StrategyError(f"reinforce drew {_MAX_INVALID_DRAWS} invalid architectures in a row; the policy has "
                            "collapsed onto invalid codes")

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        """One policy-gradient step with the reward minus the moving-average baseline.

        Written with in-place numpy operations (issue 20); each array value is computed by the same
        floating-point operations, in the same order, as the textbook form in the comments."""
        reward = observation.score(self.problem)
        if not math.isfinite(reward):
            self.skipped += 1
            return
        beta = self.config.ema_momentum
        self._ema_num = beta * self._ema_num + (1 - beta) * reward
        self._ema_den = beta * self._ema_den + (1 - beta)
        advantage = reward - self.baseline
        # Adam on the loss -advantage * log pi(a): its gradient is -advantage * grad log pi(a), where
        # grad log pi(a) = onehot(a) - softmax(logits) (grad_log_prob).
        grad = np.negative(self._current()[0])
        for row, code in enumerate(proposal.tag):
            grad[row, code] += 1.0
        np.multiply(grad, -advantage, out=grad)
        cfg = self.config
        self._t += 1
        # Adam, with the moments stacked as mv = (m, v) so that each line below is one numpy call for both:
        # m = b1 * m + (1 - b1) * grad;  v = b2 * v + (1 - b2) * grad * grad
        mv = self._mv
        np.multiply(mv, self._decay, out=mv)
        fresh = np.multiply(self._fresh, grad)  # ((1 - b1) * grad, (1 - b2) * grad)
        np.multiply(fresh[1], grad, out=fresh[1])
        np.add(mv, fresh, out=mv)
        # step = lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
        corrected = np.divide(mv, np.array([1 - cfg.adam_beta1**self._t, 1 - cfg.adam_beta2**self._t])[:, None, None])
        step = np.multiply(corrected[0], cfg.learning_rate)
        root = np.sqrt(corrected[1], out=corrected[1])
        np.add(root, cfg.adam_eps, out=root)
        np.divide(step, root, out=step)
        self.logits = self.logits - step if self._full else np.where(self._mask, self.logits - step, -np.inf)
