"""Strategy registry: built-in names, third-party entry points, and dotted paths.

A third party registers a strategy without changing nas-harness, either with an entry point in the
group `nas_harness.strategies` (name = class path) or by naming the class directly as
`package.module:ClassName` wherever a strategy name is accepted.
"""
from __future__ import annotations

import importlib
import os
import sys
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
# The methods' names as papers write them (plot legends, report headings); a name not here is shown as it is.
DISPLAY_NAMES: dict[str, str] = {
    "rs": "Random search",
    "re": "Regularized evolution",
    "ls": "Local search",
    "bananas": "BANANAS",
    "gpbo": "GP Bayesian optimisation",
    "tpe": "TPE",
    "reinforce": "REINFORCE",
    "hyperband": "Hyperband",
    "bohb": "BOHB",
    "nsga2": "NSGA-II",
}

# One line per built-in strategy for `nas-harness run --help` and `nas-harness strategies`; a strategy
# not listed here (an entry point, a `module:Class`) is summarised by its class docstring's first line.
SUMMARIES: dict[str, str] = {
    "rs": "random search: uniform samples of the space (Li & Talwalkar 2019 as the NAS baseline)",
    "re": "regularized (aging) evolution: tournament parents, oldest dies (Real et al. 2019)",
    "ls": "local search: best-improvement hill climbing with random restarts (White et al. 2021)",
    "bananas": "BANANAS: an ensemble of neural predictors on the path encoding ranks mutations (White et al. 2021)",
    "gpbo": "Gaussian-process Bayesian optimisation with expected improvement over a candidate pool",
    "tpe": "tree-structured Parzen estimator for categorical spaces (Bergstra et al. 2011)",
    "reinforce": "REINFORCE with a moving-average baseline over a factorised policy (Williams 1992)",
    "hyperband": "Hyperband: successive halving over fidelities (Li et al. 2018)",
    "bohb": "BOHB: Hyperband with a TPE-like model choosing configurations (Falkner et al. 2018)",
    "nsga2": "NSGA-II: multi-objective evolution by non-dominated sorting (Deb et al. 2002)",
}


def display_name(name: str) -> str:
    """A strategy's name for people (`re` -> "Regularized evolution"); unknown names are returned as given."""
    return DISPLAY_NAMES.get(name, name)


def _import(module_name: str):
    """Import `module_name`; a module not found on sys.path is looked for in the current folder too.

    Why: `nas-harness run strategy=my_greedy:Greedy` names a file beside the user, as `python -m`
    would find it, without an undocumented `PYTHONPATH=.`; a launcher worker started in the same
    folder finds it the same way.
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.split(".")[0]
        here = os.getcwd()
        if exc.name != top or here in sys.path or not any(
                os.path.exists(os.path.join(here, top + ext)) for ext in (".py", "")):
            raise
        sys.path.append(here)  # after the installed packages: a local file never shadows one of them
        return importlib.import_module(module_name)


def _load(path: str) -> type[Strategy]:
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        cls = getattr(_import(module_name), attr)
    except ModuleNotFoundError as exc:
        raise StrategyError(f"cannot import strategy class {path!r}: no module named {exc.name!r} on the Python path "
                            "or in the current folder; use package.module:ClassName") from None
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


def strategy_summary(name: str) -> str:
    """One line saying what strategy `name` is: SUMMARIES for a built-in, else its class docstring's first line."""
    if name in SUMMARIES:
        return SUMMARIES[name]
    doc = (get_strategy_class(name).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


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
    "display_name",
    "get_strategy_class",
    "strategy_summary",
    "make_strategy",
    "strategy_names",
]
