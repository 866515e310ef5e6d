"""Structured-config schemas for `nas-harness run` (Hydra).

The schemas are registered in Hydra's ConfigStore so a typo (`budget.evaluatons=10`) or a wrong
type (`seed=abc`, `benchmark.seed_policy=median`) fails while the config is composed, before any
run starts, with Hydra's own message. Strategy schemas are built from each strategy's Config
dataclass, so the YAML files in conf/strategy/ cannot drift from the code's hyperparameters.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigNode, ConfigStore
from hydra.errors import CompactHydraException
from omegaconf import MISSING, DictConfig, OmegaConf

from harness.strategies import BUILTIN, get_strategy_class
from harness.strategies.base import StrategyError
from tabular.optional import MissingExtraError, require_torch


def _conf_dir() -> Path:
    """Where the Hydra configs are: harness/conf/ in an installed wheel, conf/ at the top of a checkout.

    Why two places: the repository keeps conf/ at its top (the layout users and docs know) and the
    wheel ships the same files as the package `harness.conf` (pyproject.toml maps it onto conf/). An
    editable install and a plain checkout have no harness/conf/, so they use the top-level folder.
    """
    package = Path(__file__).resolve().parent
    installed = package / "conf"
    return installed if (installed / "config.yaml").is_file() else package.parent / "conf"


CONF_DIR = _conf_dir()


class SeedPolicy(str, Enum):
    fixed = "fixed"
    mean = "mean"
    sample = "sample"


@dataclass
class BenchmarkConf:
    name: str = MISSING
    seed_policy: SeedPolicy = SeedPolicy.sample
    fixed_seed: int | None = None  # seed label for seed_policy=fixed (default: the store's first)
    objectives: list[str] | None = None  # default: the benchmark's validation metric


@dataclass
class BudgetConf:
    evaluations: int | None = None
    sim_seconds: float | None = None


@dataclass
class GridConf:
    """How a grid is cut into launcher jobs (docs/EXPERIMENTS.md, "Clusters"); never part of a run's config
    or RUN_ID (harness.grid.execute.task_config drops it): batching changes where runs execute, not results."""
    batch_size: int | None = None  # runs per launcher job; null: automatic (harness.grid.batching.auto_batch_size)
    batch_file: str | None = None  # internal: the batch a launcher job runs (set by the grid sweeper)


@dataclass
class RunConf:
    benchmark: BenchmarkConf = field(default_factory=BenchmarkConf)
    strategy: Any = MISSING
    budget: BudgetConf = field(default_factory=BudgetConf)
    seed: int = 0
    n_workers: int = 1
    grid: GridConf = field(default_factory=GridConf)


def strategy_schema(name: str) -> type:
    """A dataclass `{name: str} + the strategy's hyperparameters`, for Hydra type checking."""
    cls = get_strategy_class(name)
    fields: list[tuple[str, Any, Any]] = [("name", str, dataclasses.field(default=name))]
    defaults = cls.Config()
    for f in dataclasses.fields(cls.Config):
        default = getattr(defaults, f.name)
        if isinstance(default, (bool, int, float, str, Enum)):
            fields.append((f.name, type(default), dataclasses.field(default=default)))
        else:  # None, a list, your own type: the strategy's Config checks it when the strategy is built
            fields.append((f.name, Any, dataclasses.field(default_factory=functools.partial(copy.deepcopy, default))))
    return dataclasses.make_dataclass(f"{cls.__name__}Conf", fields)


def _register_local_benchmarks(cs: ConfigStore) -> None:
    """`benchmark=table/mine` for stores the user converted and surrogates they fitted: catalogue
    benchmarks without a file in conf/benchmark/ get an equivalent config in the ConfigStore."""
    from harness.benchmarks import benchmark_names

    for name in benchmark_names():
        family, _, dataset = name.rpartition("/")
        if not family or (CONF_DIR / "benchmark" / f"{name}.yaml").is_file():
            continue
        cs.store(group=f"benchmark/{family}", name=dataset, package="benchmark",
                 node={"name": name, "seed_policy": "sample", "fixed_seed": None, "objectives": None})


def oneshot_schema(method: str) -> type:
    """Schema of a one-shot method's config (harness.oneshot.OneShotConfig's scalar fields). Built when a
    run selects the method; on a core install (no torch) that run fails here with one line naming the extra."""
    require_torch(f"the one-shot strategy {method}")
    from harness.oneshot.search import OneShotConfig

    fields: list[tuple[str, Any, Any]] = [("name", str, dataclasses.field(default=method))]
    defaults = OneShotConfig()
    for f in dataclasses.fields(OneShotConfig):
        value = getattr(defaults, f.name)
        if isinstance(value, (bool, int, float, str)):
            kind: Any = type(value)
            if "None" in str(f.type):  # e.g. data_limit: int | None (null = no limit)
                kind = kind | None
            fields.append((f.name, kind, dataclasses.field(default=value)))
    return dataclasses.make_dataclass(f"OneShot{method.title()}Conf", fields)


class MissingExtraConfigError(MissingExtraError, CompactHydraException):
    """A run selects a method whose optional dependency is missing (`strategy=darts` without torch).
    A CompactHydraException, so Hydra prints the message alone rather than a traceback."""


class _LazyConfigNode(ConfigNode):
    """A ConfigStore entry whose structured config is built the first time Hydra loads it.

    Why: the one-shot schemas come from harness.oneshot, which imports torch. Registering them
    eagerly would make every `nas-harness run` (and every launcher worker, which imports
    harness.app) pay for torch; lazily, only a run that selects a one-shot method does.
    """

    def __init__(self, name: str, group: str, build: Callable[[], type]) -> None:
        self.name, self.group, self.package, self.provider = name, group, None, "nas-harness"
        self._build = build
        self._cache: dict[str, DictConfig] = {}  # shared by the shallow copies ConfigStore.load makes

    @property  # type: ignore[override]
    def node(self) -> DictConfig:
        if "node" not in self._cache:
            try:
                schema = self._build()
            except MissingExtraError as exc:  # Hydra prints a compact error as its one line, no traceback
                raise MissingExtraConfigError(str(exc)) from None
            self._cache["node"] = OmegaConf.structured(schema)
        return self._cache["node"]

    @node.setter
    def node(self, value: DictConfig) -> None:
        self._cache = {"node": value}


def _store_lazy(cs: ConfigStore, group: str, name: str, build: Callable[[], type]) -> None:
    """Put a lazily built schema where `cs.store(group=group, name=name, ...)` would put it."""
    folder = cs.repo
    for part in group.split("/"):
        folder = folder.setdefault(part, {})
    folder[f"{name}.yaml"] = _LazyConfigNode(f"{name}.yaml", group, build)


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConf)
    _register_local_benchmarks(cs)
    from harness.oneshot.registry import ONESHOT_METHODS  # torch-free

    for method in ONESHOT_METHODS:
        _store_lazy(cs, "strategy", f"{method}_schema", functools.partial(oneshot_schema, method))
    for name in BUILTIN:
        try:
            cs.store(group="strategy", name=f"{name}_schema", node=strategy_schema(name))
        except StrategyError:
            continue  # a strategy module that is not importable has no schema (and cannot be chosen)


def strategy_hyperparameters(strategy_cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Split a resolved `strategy` node into its name and hyperparameters."""
    params = dict(strategy_cfg)
    return params.pop("name"), params
