"""Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar, "Hyperband: A Novel Bandit-Based
Approach to Hyperparameter Optimization", JMLR 18(185):1-52, 2018).

Schedule (Algorithm 1 of the paper), with R = max_budget / min_budget in units of min_budget:
s_max = floor(log_eta(R)); bracket s = s_max, ..., 0 starts n = ceil((s_max + 1) / (s + 1) * eta^s)
configurations at budget r = max_budget * eta^-s, and successive halving keeps the best
floor(n_i / eta) of rung i for rung i + 1 at eta times the budget. `hyperband_brackets` computes
this table exactly (rational arithmetic), and reproduces the paper's Table 1 (R = 81, eta = 3).
Brackets then repeat (s_max, ..., 0, s_max, ...) until the engine's budget ends.

Defaults and where they come from:
- `eta = 3`: the value the paper recommends and uses in its experiments (Sec. 3, 4).
- `min_budget`, `max_budget` = 0 mean the benchmark's smallest and largest fidelity. A geometric
  budget r_i that a benchmark does not have is snapped to the nearest available fidelity *at or
  above* it (never below: a rung is never given less training than the schedule says), so
  fidelities 1..200 with eta = 3 give rungs 3, 8, 23, 67, 200 for the budgets 2.47, 7.41, 22.2,
  66.7, 200. Where snapping maps two rungs of a bracket to the same fidelity a warning is logged.
- Configurations are drawn uniformly (`space.sample`, with replacement), as the paper's
  `get_hyperparameter_configuration` draws them i.i.d. from the prior.

Accounting: a promoted configuration is evaluated again at the larger fidelity, and the engine
charges the store's cost at that fidelity, which is *cumulative* (docs/FORMAT.md): the time to train
from scratch to that fidelity. This is the paper's model of successive halving with restarts; it
does not model continuing training from the lower rung's checkpoint (that would charge only the
difference).

Several workers (Problem.n_workers > 1): successive halving inside a bracket is synchronous (a rung
is promoted only when all its results are in). When every open bracket is waiting for results, the
next bracket is opened and its configurations are handed out, exactly as HpBandSter's `Master.run`
does (older brackets keep priority), so workers never idle while results are pending. With
`overlap_brackets = False`, ask() returns None instead until the waiting bracket is done (strict
one-bracket-at-a-time Hyperband). With one worker both modes are the same.

Ties in promotion are broken by the order in which configurations were sampled; unmeasured
architectures (NaN, score -inf) rank last.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from harness.strategies.base import Observation, Problem, Proposal, Strategy, StrategyConfig, StrategyError

log = logging.getLogger(__name__)

_REL_TOL = 1e-9  # budgets equal up to float rounding (81 * 3**-4 vs 1) count as equal


def hyperband_brackets(min_budget: float, max_budget: float, eta: float) -> list[list[tuple[int, float]]]:
    """The (n_i, r_i) of every rung of every bracket, brackets in the paper's order s = s_max..0.

    Exact: n_i is computed with rational arithmetic, so no float rounding can change a count; r_i is
    max_budget / eta^(s - i), which is exact for integer eta and the usual budgets.
    """
    if not (isinstance(eta, (int, float)) and eta > 1):
        raise StrategyError(f"hyperband eta must be a number greater than 1, got {eta!r}")
    if not (0 < min_budget <= max_budget):
        raise StrategyError(f"hyperband needs 0 < min_budget <= max_budget, got min_budget={min_budget}, max_budget={max_budget}")
    ratio = max_budget / min_budget
    s_max = 0
    while eta ** (s_max + 1) <= ratio * (1 + _REL_TOL):
        s_max += 1
    eta_q = Fraction(eta)
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil(Fraction(s_max + 1, s + 1) * eta_q**s)
        brackets.append([(math.floor(n / eta_q**i), max_budget / float(eta_q ** (s - i))) for i in range(s + 1)])
    return brackets


def snap_budget(budget: float, fidelities: tuple[float, ...] | list[float]) -> float:
    """The smallest available fidelity at or above `budget` (float rounding tolerated)."""
    for fidelity in fidelities:
        if fidelity >= budget * (1 - _REL_TOL):
            return float(fidelity)
    raise StrategyError(f"budget {budget:g} is above the benchmark's largest fidelity {fidelities[-1]:g}; lower max_budget")


@dataclass
class HyperbandConfig(StrategyConfig):
    eta: float = 3.0
    min_budget: float = 0.0  # 0: the benchmark's smallest fidelity
    max_budget: float = 0.0  # 0: the benchmark's largest fidelity
    overlap_brackets: bool = True  # HpBandSter's Master: open the next bracket instead of idling


class _Bracket:
    """One run of synchronous successive halving: hands out rung jobs, promotes the top-k."""

    def __init__(self, bracket_id: int, rungs: list[tuple[int, float]]):
        self.id = bracket_id
        self.rungs = rungs  # (n_i, fidelity_i)
        self.rung = 0
        self.archs: list[str | None] = [None] * rungs[0][0]  # rung-0 configs are sampled when asked
        self.scores: list[float | None] = [None] * rungs[0][0]
        self.handed = 0
        self.received = 0
        self.done = False

    @property
    def fidelity(self) -> float:
        return self.rungs[self.rung][1]

    def has_job(self) -> bool:
        return not self.done and self.handed < len(self.archs)

    def record(self, slot: int, score: float) -> None:
        if self.scores[slot] is not None:
            raise StrategyError(f"hyperband bracket {self.id} rung {self.rung} slot {slot} was told twice")
        self.scores[slot] = score
        self.received += 1

    def rung_complete(self) -> bool:
        return self.received == len(self.archs)

    def promote(self) -> None:
        """Keep the top n_{i+1} of the finished rung (ties: earlier slot first), or finish."""
        if self.rung + 1 >= len(self.rungs):
            self.done = True
            return
        k = self.rungs[self.rung + 1][0]
        scores = np.asarray(self.scores, dtype=float)
        order = np.argsort(-scores, kind="stable")  # -(-inf) = inf sorts last
        keep = np.sort(order[:k])  # promoted configs keep their sampling order
        self.archs = [self.archs[int(i)] for i in keep]
        self.scores = [None] * len(self.archs)
        self.rung += 1
        self.handed = 0
        self.received = 0


class Hyperband(Strategy):
    name = "hyperband"
    Config = HyperbandConfig
    multi_fidelity = True

    def __init__(self, space, problem: Problem, rng: np.random.Generator, config: HyperbandConfig):
        super().__init__(space, problem, rng, config)
        fidelities = tuple(float(f) for f in problem.fidelities)
        lo = float(config.min_budget) or fidelities[0]
        hi = float(config.max_budget) or fidelities[-1]
        if hi > fidelities[-1] * (1 + _REL_TOL):
            raise StrategyError(f"{self.name} max_budget={hi:g} is above the benchmark's largest fidelity {fidelities[-1]:g}")
        brackets = hyperband_brackets(lo, hi, float(config.eta))
        self.brackets: list[list[tuple[int, float]]] = [
            [(n, snap_budget(r, fidelities)) for n, r in bracket] for bracket in brackets
        ]
        for raw, snapped in zip(brackets, self.brackets):
            fids = [f for _, f in snapped]
            if len(set(fids)) < len(fids):
                log.warning("%s: budgets %s snap to fidelities %s; some rungs repeat a fidelity",
                            self.name, [round(r, 4) for _, r in raw], fids)
        if len(self.brackets) == 1:
            log.warning("%s: max_budget/min_budget = %g < eta: every bracket evaluates at the max budget only", self.name, hi / lo)
        self._open: list[_Bracket] = []
        self._by_id: dict[int, _Bracket] = {}
        self._started = 0

    # -- configuration source (BOHB overrides) -------------------------------------------------
    def sample_config(self, fidelity: float) -> tuple[str, bool]:
        """A new configuration for a bracket's first rung at `fidelity`; (arch, model_based)."""
        return self.space.sample(self.rng), False

    def observe(self, arch: str, fidelity: float, score: float) -> None:
        """Hook for model-based subclasses: one result, signed so that larger is better."""

    # -- ask/tell -----------------------------------------------------------------------------
    def _open_bracket(self) -> _Bracket:
        schedule = self.brackets[self._started % len(self.brackets)]
        bracket = _Bracket(self._started, schedule)
        self._started += 1
        self._open.append(bracket)
        self._by_id[bracket.id] = bracket
        return bracket

    def _job(self, bracket: _Bracket) -> Proposal:
        slot = bracket.handed
        bracket.handed += 1
        model_based = False
        if bracket.archs[slot] is None:
            bracket.archs[slot], model_based = self.sample_config(bracket.fidelity)
        arch = bracket.archs[slot]
        assert arch is not None
        return Proposal(arch, bracket.fidelity, (bracket.id, bracket.rung, slot, model_based))

    def ask(self) -> Proposal | None:
        for bracket in self._open:  # oldest first, as HpBandSter's Master
            if bracket.has_job():
                return self._job(bracket)
        if self._open and not self.config.overlap_brackets:
            return None  # the open bracket waits for pending results of its rung
        return self._job(self._open_bracket())

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        bracket_id, rung, slot, _ = proposal.tag
        bracket = self._by_id.get(bracket_id)
        if bracket is None or bracket.rung != rung:
            raise StrategyError(f"{self.name} was told a result it did not ask for (bracket {bracket_id}, rung {rung})")
        score = observation.score(self.problem)
        bracket.record(slot, score)
        self.observe(proposal.arch, observation.fidelity, score)
        if bracket.rung_complete():
            bracket.promote()
            if bracket.done:
                self._open.remove(bracket)
                del self._by_id[bracket.id]
