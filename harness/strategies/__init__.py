"""Strategy registry: built-in names, third-party entry points, and dotted paths.

A third party registers a strategy without changing nas-harness, either with an entry point in the
group `nas_harness.strategies` (name = class path) or by naming the class directly as
`package.module:ClassName` wherever a strategy name is accepted.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from harness.spaces.base import SearchSpace
from harness.strategies.base import (
    Objective,
    Observation,
    Problem,
    Proposal,
    Strategy,
    StrategyConfig,
    StrategyError,
    build_config,
)

ENTRY_POINT_GROUP = "nas_harness.strategies"
BUILTIN: dict[str, str] = {
    "rs": "harness.strategies.random_search:RandomSearch",
    "re": "harness.strategies.evolution:RegularizedEvolution",
    "ls": "harness.strategies.local_search:LocalSearch",
    "bananas": "harness.strategies.bananas:Bananas",
    "gpbo": "harness.strategies.gp_bo:GPBayesOpt",
    "tpe": "harness.strategies.tpe:TPE",
    "reinforce": "harness.strategies.reinforce:Reinforce",
    "hyperband": "harness.strategies.hyperband:Hyperband",
    "bohb": "harness.strategies.bohb:BOHB",
    "nsga2": "harness.strategies.nsga2:NSGA2",
}


def _load(path: str) -> type[Strategy]:
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise StrategyError(f"cannot import strategy class {path!r} ({exc}); use package.module:ClassName") from None
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyError(f"{path!r} is not a subclass of harness.strategies.Strategy")
    return cls


def strategy_names() -> list[str]:
    """Every strategy name this installation knows: built-ins and entry points, sorted."""
    names = set(BUILTIN)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def get_strategy_class(name: str) -> type[Strategy]:
    """Class for a built-in name, an entry-point name, or a `module:Class` path."""
    if name in BUILTIN:
        return _load(BUILTIN[name])
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return _load(ep.value)
    if ":" in name or "." in name:
        return _load(name)
    raise StrategyError(f"unknown strategy {name!r}; choose one of {', '.join(strategy_names())} or give "
                        "package.module:ClassName")


def make_strategy(
    name: str, space: SearchSpace, problem: Problem, rng: np.random.Generator,
    hyperparameters: dict[str, Any] | None = None,
) -> Strategy:
    """Validate hyperparameters and the problem, then build the strategy (no evaluation happens)."""
    cls = get_strategy_class(name)
    config = build_config(cls, dict(hyperparameters or {}))
    cls.check_problem(problem)
    return cls(space, problem, rng, config)


__all__ = [
    "Objective",
    "Observation",
    "Problem",
    "Proposal",
    "Strategy",
    "StrategyConfig",
    "StrategyError",
    "get_strategy_class",
    "make_strategy",
    "strategy_names",
]
