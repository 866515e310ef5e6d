"""The ask/tell interface every search strategy implements.

A strategy is built from a search space, a `Problem` (objective names and directions, available
fidelities: facts a real search would know, never benchmark values), its hyperparameters as a
dataclass, and a `numpy.random.Generator`. It proposes with `ask()` and learns with `tell()`. It
never sees the benchmark: the engine evaluates proposals and tells the strategy what it observed,
so a strategy behaves exactly as it would against real training.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from harness.spaces.base import SearchSpace
from tabular.errors import NasHarnessError


class StrategyError(NasHarnessError):
    """A strategy that cannot run as configured (unknown name, bad hyperparameter, wrong problem)."""


@dataclass(frozen=True)
class Objective:
    """One objective: a store metric (per evaluation) or a static metric such as `latency@pixel3`."""

    name: str
    maximize: bool


@dataclass(frozen=True)
class Problem:
    """What a strategy may know about the task: objectives (first = primary) and fidelities."""

    objectives: tuple[Objective, ...]
    fidelities: tuple[float, ...]
    n_workers: int = 1

    @property
    def primary(self) -> Objective:
        """The first objective: the one single-objective strategies optimise."""
        return self.objectives[0]

    @property
    def max_fidelity(self) -> float:
        """The highest fidelity (the one a search's answer is judged at)."""
        return self.fidelities[-1]


@dataclass(frozen=True, slots=True)  # slots: one is built per evaluation
class Proposal:
    """An architecture to evaluate, at a fidelity (None: the highest). `tag` is the strategy's own."""

    arch: str
    fidelity: float | None = None
    tag: Any = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What an evaluation showed: raw objective values by name, the fidelity and its cost."""

    values: dict[str, float]
    fidelity: float
    cost: float

    def score(self, problem: Problem, objective: int = 0) -> float:
        """The objective signed so that larger is better (what single-objective optimisers maximise)."""
        obj = problem.objectives[objective]
        value = self.values[obj.name]
        if value != value:  # NaN: an architecture the benchmark never measured: worst possible
            return -np.inf
        return value if obj.maximize else -value

    def scores(self, problem: Problem) -> np.ndarray:
        """Every objective signed so that larger is better, in the problem's order."""
        return np.array([self.score(problem, k) for k in range(len(problem.objectives))])


@dataclass
class StrategyConfig:
    """Hyperparameters shared by all strategies; subclasses add their paper's names and defaults."""

    charge_repeats: bool = True  # re-proposing an evaluated (arch, fidelity) costs again when True

    def check(self) -> None:
        """Refuse values no run could use, alone or together, with a StrategyError naming the keys.

        Called by `build_config` (so a grid refuses before any run starts) and by `Strategy.__init__`
        (for strategies built directly). Subclasses override it for their own fields and must call
        `super().check()`. Checks that need the search space (an encoding it offers) stay in the
        strategy's `__init__`.
        """


C = TypeVar("C", bound=StrategyConfig)


class Strategy(ABC, Generic[C]):
    """Base class, generic over its Config so that `self.config.x` type-checks.

    Subclasses derive from `Strategy[TheirConfig]`, set `name`, `Config = TheirConfig` (what
    `build_config` instantiates) and, if needed, the class flags below.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[StrategyConfig]] = StrategyConfig
    multi_fidelity: ClassVar[bool] = False
    min_objectives: ClassVar[int] = 1
    max_objectives: ClassVar[int] = 1
    # False for a strategy whose proposals never depend on results (random search): the engine may
    # then take many proposals at once from `ask_many` and read them from a table together, and it
    # never calls `tell` (the trajectory is the one asking and telling one by one would give).
    adaptive: ClassVar[bool] = True

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: C):
        self.space = space
        self.problem = problem
        self.rng = rng
        config.check()
        self.config: C = config

    @abstractmethod
    def ask(self) -> Proposal | None:
        """Next proposal, or None when the strategy must wait for pending results first."""

    @abstractmethod
    def tell(self, proposal: Proposal, observation: Observation) -> None:
        """Record the result of a proposal this strategy made."""

    def ask_many(self, n: int) -> list[Proposal]:
        """The next `n` proposals, as `n` calls of `ask` would make them (fewer when `ask` returns None).

        Only the engine's path for non-adaptive strategies calls it; such a strategy may override it
        to draw a batch at once, as long as the proposals and its random stream stay the same.
        """
        out: list[Proposal] = []
        for _ in range(n):
            proposal = self.ask()
            if proposal is None:
                break
            out.append(proposal)
        return out

    def incumbent_budget(self, proposal: Proposal, observation: Observation) -> float:
        """The budget a result counts at when the engine picks the incumbent (the best result among
        those at the largest budget so far): its fidelity, unless the strategy's budgets are nominal
        (hyperband/bohb `nominal_budgets=true` evaluate every budget at one fidelity)."""
        return observation.fidelity

    @classmethod
    def check_problem(cls, problem: Problem) -> None:
        """Raise StrategyError, before any evaluation, if this strategy cannot solve `problem`."""
        n = len(problem.objectives)
        if not cls.min_objectives <= n <= cls.max_objectives:
            if cls.min_objectives > 1:
                raise StrategyError(
                    f"strategy {cls.name!r} needs at least {cls.min_objectives} objectives, got {n}; "
                    "add one, e.g. objectives=[valid_acc,params] or a device latency like latency@pixel3"
                )
            raise StrategyError(f"strategy {cls.name!r} optimises {cls.max_objectives} objective(s), got {n}")
        if cls.multi_fidelity and len(problem.fidelities) < 2:
            raise StrategyError(
                f"strategy {cls.name!r} needs a benchmark with several fidelities; this one has only "
                f"{list(problem.fidelities)}"
            )


def build_config(cls: type[Strategy[Any]], overrides: dict[str, Any]) -> StrategyConfig:
    """The strategy's Config with `overrides`, refusing unknown names, wrong types and impossible
    combinations (`StrategyConfig.check`) before any run starts."""
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise StrategyError(
            f"strategy {cls.name!r} has no hyperparameter {', '.join(unknown)}; valid: {', '.join(sorted(fields))}"
        )
    defaults = cls.Config()
    for key, value in overrides.items():
        default = getattr(defaults, key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise StrategyError(f"hyperparameter {cls.name}.{key} must be true/false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise StrategyError(f"hyperparameter {cls.name}.{key} must be a number, got {value!r}")
            if isinstance(default, int) and isinstance(value, float) and not value.is_integer():
                raise StrategyError(f"hyperparameter {cls.name}.{key} must be an integer, got {value!r}")
    coerced: dict[str, Any] = {
        k: (int(v) if isinstance(getattr(defaults, k), int) and not isinstance(v, bool) and isinstance(v, float) else v)
        for k, v in overrides.items()
    }
    config = cls.Config(**coerced)
    config.check()
    return config


@dataclass
class History:
    """A strategy's own record of what it has observed: a helper, not a requirement."""

    archs: list[str] = field(default_factory=list)
    fidelities: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def add(self, arch: str, fidelity: float, score: float) -> None:
        """Record one observation."""
        self.archs.append(arch)
        self.fidelities.append(fidelity)
        self.scores.append(score)

    def __len__(self) -> int:
        """How many observations were recorded."""
        return len(self.archs)
