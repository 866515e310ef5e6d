"""Structured-config schemas for `nas-harness run` (Hydra).

The schemas are registered in Hydra's ConfigStore so a typo (`budget.evaluatons=10`) or a wrong
type (`seed=abc`, `benchmark.seed_policy=median`) fails while the config is composed, before any
run starts, with Hydra's own message. Strategy schemas are built from each strategy's Config
dataclass, so the YAML files in conf/strategy/ cannot drift from the code's hyperparameters.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, List, Optional

from hydra.core.config_store import ConfigNode, ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from harness.strategies import BUILTIN, get_strategy_class
from harness.strategies.base import StrategyError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


class SeedPolicy(str, Enum):
    fixed = "fixed"
    mean = "mean"
    sample = "sample"


@dataclass
class BenchmarkConf:
    name: str = MISSING
    seed_policy: SeedPolicy = SeedPolicy.sample
    fixed_seed: Optional[int] = None  # seed label for seed_policy=fixed (default: the store's first)
    objectives: Optional[List[str]] = None  # default: the benchmark's validation metric


@dataclass
class BudgetConf:
    evaluations: Optional[int] = None
    sim_seconds: Optional[float] = None


@dataclass
class RunConf:
    benchmark: BenchmarkConf = field(default_factory=BenchmarkConf)
    strategy: Any = MISSING
    budget: BudgetConf = field(default_factory=BudgetConf)
    seed: int = 0
    n_workers: int = 1


def strategy_schema(name: str) -> type:
    """A dataclass `{name: str} + the strategy's hyperparameters`, for Hydra type checking."""
    cls = get_strategy_class(name)
    fields: list[tuple[str, Any, Any]] = [("name", str, dataclasses.field(default=name))]
    for f in dataclasses.fields(cls.Config):
        default = getattr(cls.Config(), f.name)
        fields.append((f.name, type(default), dataclasses.field(default=default)))
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
    """Schema of a one-shot method's config (harness.oneshot.OneShotConfig's scalar fields)."""
    from harness.oneshot.search import OneShotConfig

    fields: list[tuple[str, Any, Any]] = [("name", str, dataclasses.field(default=method))]
    defaults = OneShotConfig()
    for f in dataclasses.fields(OneShotConfig):
        value = getattr(defaults, f.name)
        if isinstance(value, (bool, int, float, str)):
            kind: Any = type(value)
            if "None" in str(f.type):  # e.g. data_limit: int | None (null = no limit)
                kind = Optional[kind]
            fields.append((f.name, kind, dataclasses.field(default=value)))
    return dataclasses.make_dataclass(f"OneShot{method.title()}Conf", fields)


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
            self._cache["node"] = OmegaConf.structured(self._build())
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
    for method in ("darts", "gdas", "spos", "zerocost"):
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
