"""Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar, "Hyperband: A Novel Bandit-Based
Approach to Hyperparameter Optimization", JMLR 18(185):1-52, 2018).

Schedule, with R = max_budget / min_budget in units of min_budget: s_max = floor(log_eta(R)); bracket
s = s_max, ..., 0 runs rungs i = 0..s at budgets r_i = max_budget * eta^(i - s), and successive
halving keeps the best n_{i+1} of rung i for rung i + 1. Two rules for the bracket sizes
(`bracket_rule`), both computed exactly (rational arithmetic) by `hyperband_brackets`:

- `li` (Hyperband's default): Algorithm 1 of the paper, n_0 = ceil((s_max + 1) / (s + 1) * eta^s),
  n_i = floor(n_0 / eta^i); reproduces the paper's Table 1 (R = 81, eta = 3);
- `hpbandster` (BOHB's default): HpBandSter's `get_next_iteration`, the code of the BOHB paper and
  of the NAS-Bench-101/201 authors' BOHB scripts: n_0 = floor((s_max + 1) / (s + 1)) * eta^s (floor
  of the ratio first), n_i = max(floor(n_0 / eta^i), 1). For 12 -> 200 epochs and eta 3 it gives
  9 -> 3 -> 1, 3 -> 1 and 3, where `li` gives 9 -> 3 -> 1, 5 -> 1 and 3.

s_max is computed with a relative tolerance of 1e-9, so 1 -> 1000 with eta 10 has 4 rungs (HpBandSter's
float `-int(log(min/max)/log(eta)) + 1` gives 3 there, a rounding accident; equal everywhere else).
Brackets then repeat (s_max, ..., 0, s_max, ...) until the engine's budget ends.

Defaults and where they come from:
- `eta = 3`: the value the paper recommends and uses in its experiments (Sec. 3, 4).
- `min_budget`, `max_budget` = 0 mean the benchmark's smallest and largest fidelity. A geometric
  budget r_i that a benchmark does not have is mapped to an available fidelity by `budget_rounding`:
  `up` (default) takes the nearest fidelity *at or above* it (a rung is never given less training
  than the schedule says), so fidelities 1..200 with eta = 3 give rungs 3, 8, 23, 67, 200 for the
  budgets 2.47, 7.41, 22.2, 66.7, 200; `down` takes the largest fidelity at or below it, which on
  epoch fidelities is NATS-Bench's `iepoch = int(budget) - 1` (budget 1.33 -> epoch 1, not 2). Where
  rounding maps two rungs of a bracket to the same fidelity a warning is logged.
- `nominal_budgets = false`. With `true`, min_budget and max_budget (both required) only shape the
  brackets (and BOHB's per-budget models): every evaluation is made at the benchmark's highest
  fidelity, whatever its budget, so Hyperband/BOHB also run on a single-fidelity store. This is how
  the NAS-Bench-201 authors ran BOHB (exps/algos/BOHB.py, docs/EXPERIMENTS.md): budgets 12 -> 200,
  every evaluation the 12-epoch result. The engine's incumbent is then the best result among those
  at the largest nominal budget reached (`incumbent_budget`), HpBandSter's `get_incumbent_id` rule.
- `incumbent_rule = max_budget`: the run's pick is the best result at the largest (rung) budget
  reached, as HpBandSter's `get_incumbent_id` (the best at the max budget) once a max-budget result
  exists; `any_budget` picks the best result at any budget, as NATS-Bench's `exps/NATS-algos/bohb.py`
  (`max(trajectory)` over all budgets).
- Configurations are drawn uniformly (`space.sample`, with replacement), as the paper's
  `get_hyperparameter_configuration` draws them i.i.d. from the prior.

Accounting: a promoted configuration is evaluated again at the larger fidelity, and the engine
charges the store's cost at that fidelity, which is *cumulative* (docs/FORMAT.md): the time to train
from scratch to that fidelity. This is the paper's model of successive halving with restarts; it
does not model continuing training from the lower rung's checkpoint (that would charge only the
difference). With nominal budgets every evaluation, promoted or not, is charged the cost of the
highest fidelity (the authors' BOHB worker likewise charged each call its full time).

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
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

import numpy as np

from harness.spaces.base import SearchSpace
from harness.strategies.base import Observation, Problem, Proposal, Strategy, StrategyConfig, StrategyError

log = logging.getLogger(__name__)

_REL_TOL = 1e-9  # budgets equal up to float rounding (81 * 3**-4 vs 1) count as equal
BRACKET_RULES = ("li", "hpbandster")
BUDGET_ROUNDINGS = ("up", "down")
INCUMBENT_RULES = ("max_budget", "any_budget")


def hyperband_brackets(min_budget: float, max_budget: float, eta: float,
                       rule: str = "li") -> list[list[tuple[int, float]]]:
    """The (n_i, r_i) of every rung of every bracket, brackets in the paper's order s = s_max..0.

    `rule` is `li` (Li et al.'s Algorithm 1) or `hpbandster` (HpBandSter's floor formula; module
    docstring). Exact: counts use rational arithmetic, so no float rounding can change one; r_i is
    max_budget / eta^(s - i), which is exact for integer eta and the usual budgets.
    """
    if rule not in BRACKET_RULES:
        raise StrategyError(f"hyperband bracket_rule must be one of {', '.join(BRACKET_RULES)}, got {rule!r}")
    if isinstance(eta, bool) or not (isinstance(eta, (int, float)) and eta > 1):
        raise StrategyError(f"hyperband eta must be a number greater than 1, got {eta!r}")
    if not (0 < min_budget <= max_budget):
        raise StrategyError(
            f"hyperband needs 0 < min_budget <= max_budget, got min_budget={min_budget}, max_budget={max_budget}")
    ratio = max_budget / min_budget
    s_max = 0
    while eta ** (s_max + 1) <= ratio * (1 + _REL_TOL):
        s_max += 1
    eta_q = Fraction(eta)
    brackets = []
    for s in range(s_max, -1, -1):
        if rule == "li":
            n = math.ceil(Fraction(s_max + 1, s + 1) * eta_q**s)
            counts = [math.floor(n / eta_q**i) for i in range(s + 1)]
        else:  # HpBandSter: n0 = int(floor(max_SH_iter / (s + 1)) * eta**s); ns = max(int(n0 * eta**-i), 1)
            n0 = math.floor(((s_max + 1) // (s + 1)) * eta_q**s)
            counts = [max(math.floor(n0 / eta_q**i), 1) for i in range(s + 1)]
        brackets.append([(counts[i], max_budget / float(eta_q ** (s - i))) for i in range(s + 1)])
    return brackets


def snap_budget(budget: float, fidelities: Sequence[float], rounding: str = "up") -> float:
    """The available fidelity for `budget` (float rounding tolerated): the smallest at or above it
    (`up`), or the largest at or below it (`down`, NATS-Bench's int(budget) on epoch fidelities)."""
    if rounding == "down":
        below = [float(f) for f in fidelities if f <= budget * (1 + _REL_TOL)]
        if not below:
            raise StrategyError(
                f"budget {budget:g} is below the benchmark's smallest fidelity {fidelities[0]:g}; raise min_budget")
        return below[-1]
    for fidelity in fidelities:
        if fidelity >= budget * (1 - _REL_TOL):
            return float(fidelity)
    raise StrategyError(
        f"budget {budget:g} is above the benchmark's largest fidelity {fidelities[-1]:g}; lower max_budget")


@dataclass
class HyperbandConfig(StrategyConfig):
    """Hyperband's settings: the halving rate, the budget range (0 = the benchmark's fidelities), how
    brackets are sized and budgets rounded, and whether budgets are nominal (docs/EXPERIMENTS.md)."""

    eta: float = 3.0
    min_budget: float = 0.0  # 0: the benchmark's smallest fidelity
    max_budget: float = 0.0  # 0: the benchmark's largest fidelity
    overlap_brackets: bool = True  # HpBandSter's Master: open the next bracket instead of idling
    bracket_rule: str = "li"  # li (Li et al. Algorithm 1) or hpbandster (HpBandSter's floor formula)
    budget_rounding: str = "up"  # up: next fidelity at or above a budget; down: at or below (NATS-Bench)
    nominal_budgets: bool = False  # true: budgets shape brackets only; every evaluation at the top fidelity
    incumbent_rule: str = "max_budget"  # best result at the largest budget (HpBandSter), or at any budget (NATS)

    def check(self) -> None:
        """Refuse contradictory or malformed settings before any run (one line naming the keys)."""
        if self.bracket_rule not in BRACKET_RULES:
            raise StrategyError(f"bracket_rule must be one of {', '.join(BRACKET_RULES)}, got {self.bracket_rule!r}")
        if self.budget_rounding not in BUDGET_ROUNDINGS:
            raise StrategyError(
                f"budget_rounding must be one of {', '.join(BUDGET_ROUNDINGS)}, got {self.budget_rounding!r}")
        if self.incumbent_rule not in INCUMBENT_RULES:
            raise StrategyError(
                f"incumbent_rule must be one of {', '.join(INCUMBENT_RULES)}, got {self.incumbent_rule!r}")
        if isinstance(self.eta, bool) or not self.eta > 1:
            raise StrategyError(f"eta must be a number greater than 1, got {self.eta!r}")
        if self.min_budget < 0 or self.max_budget < 0:
            raise StrategyError(
                f"min_budget and max_budget must be >= 0 (0: benchmark's), got {self.min_budget}, {self.max_budget}")
        if self.nominal_budgets and not (0 < self.min_budget <= self.max_budget):
            raise StrategyError(
                "nominal_budgets=true needs 0 < min_budget <= max_budget (the budgets that shape the brackets), got "
                f"min_budget={self.min_budget}, max_budget={self.max_budget}; e.g. min_budget=12 max_budget=200"
            )


class _Bracket:
    """One run of synchronous successive halving: hands out rung jobs, promotes the top-k."""

    def __init__(self, bracket_id: int, rungs: list[tuple[int, float]]):
        self.id = bracket_id
        self.rungs = rungs  # (n_i, budget_i): a fidelity, or a nominal budget
        self.rung = 0
        self.archs: list[str | None] = [None] * rungs[0][0]  # rung-0 configs are sampled when asked
        self.scores: list[float | None] = [None] * rungs[0][0]
        self.handed = 0
        self.received = 0
        self.done = False

    @property
    def budget(self) -> float:
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


HC = TypeVar("HC", bound=HyperbandConfig)


class Hyperband(Strategy[HC]):
    """Generic over its Config so that BOHB (Hyperband[BOHBConfig]) type-checks its own fields."""

    name = "hyperband"
    Config = HyperbandConfig
    multi_fidelity = True

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: HC):
        super().__init__(space, problem, rng, config)  # runs config.check()
        fidelities = tuple(float(f) for f in problem.fidelities)
        self.nominal = bool(config.nominal_budgets)
        if not self.nominal and len(fidelities) < 2:
            raise StrategyError(
                f"strategy {self.name!r} needs a benchmark with several fidelities; this one has only "
                f"{list(fidelities)} "
                f"(or set {self.name}.nominal_budgets=true with min_budget and max_budget, as the NB201 paper ran BOHB)"
            )
        lo = float(config.min_budget) or fidelities[0]
        hi = float(config.max_budget) or fidelities[-1]
        if not self.nominal and hi > fidelities[-1] * (1 + _REL_TOL):
            raise StrategyError(
                f"{self.name} max_budget={hi:g} is above the benchmark's largest fidelity {fidelities[-1]:g}")
        brackets = hyperband_brackets(lo, hi, float(config.eta), config.bracket_rule)
        if self.nominal:
            self.brackets: list[list[tuple[int, float]]] = brackets
        else:
            rounding = config.budget_rounding
            self.brackets = [[(n, snap_budget(r, fidelities, rounding)) for n, r in bracket] for bracket in brackets]
            for raw, snapped in zip(brackets, self.brackets, strict=True):
                fids = [f for _, f in snapped]
                if len(set(fids)) < len(fids):
                    log.warning("%s: budgets %s round to fidelities %s; some rungs repeat a fidelity",
                                self.name, [round(r, 4) for _, r in raw], fids)
        if len(self.brackets) == 1:
            log.warning("%s: max_budget/min_budget = %g < eta: every bracket evaluates at the max budget only",
                        self.name, hi / lo)
        self._open: list[_Bracket] = []
        self._by_id: dict[int, _Bracket] = {}
        self._started = 0

    @classmethod
    def check_problem(cls, problem: Problem) -> None:
        """One objective; the number of fidelities is checked when the strategy is built, where the
        config says whether budgets are nominal (a single-fidelity store is fine then)."""
        n = len(problem.objectives)
        if n != 1:
            raise StrategyError(f"strategy {cls.name!r} optimises 1 objective(s), got {n}")

    # -- configuration source (BOHB overrides) -------------------------------------------------
    def sample_config(self, budget: float) -> tuple[str, bool]:
        """A new configuration for a bracket's first rung at `budget`; (arch, model_based)."""
        return self.space.sample(self.rng), False

    def observe(self, arch: str, budget: float, score: float) -> None:
        """Hook for model-based subclasses: one result at a rung budget, signed so that larger is better."""

    def incumbent_budget(self, proposal: Proposal, observation: Observation) -> float:
        """The rung budget of a result (nominal or a fidelity): the engine's incumbent is the best
        result at the largest such budget, HpBandSter's `get_incumbent_id` rule; with
        `incumbent_rule = any_budget` every result counts alike (NATS-Bench's bohb.py takes the best
        accuracy of its whole trajectory)."""
        if self.config.incumbent_rule == "any_budget":
            return 0.0
        return float(proposal.tag[4])

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
            bracket.archs[slot], model_based = self.sample_config(bracket.budget)
        arch = bracket.archs[slot]
        assert arch is not None
        fidelity = None if self.nominal else bracket.budget  # None: the benchmark's highest fidelity
        return Proposal(arch, fidelity, (bracket.id, bracket.rung, slot, model_based, bracket.budget))

    def ask(self) -> Proposal | None:
        """The next job of the oldest open bracket with one, else a new bracket (HpBandSter's Master)."""
        for bracket in self._open:  # oldest first, as HpBandSter's Master
            if bracket.has_job():
                return self._job(bracket)
        if self._open and not self.config.overlap_brackets:
            return None  # the open bracket waits for pending results of its rung
        return self._job(self._open_bracket())

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        """Record a result in its bracket's rung (promoting the rung's best when it is full) and in the model."""
        bracket_id, rung, slot, _, budget = proposal.tag
        bracket = self._by_id.get(bracket_id)
        if bracket is None or bracket.rung != rung:
            raise StrategyError(f"{self.name} was told a result it did not ask for (bracket {bracket_id}, rung {rung})")
        score = observation.score(self.problem)
        bracket.record(slot, score)
        self.observe(proposal.arch, float(budget), score)
        if bracket.rung_complete():
            bracket.promote()
            if bracket.done:
                self._open.remove(bracket)
                del self._by_id[bracket.id]
