"""Execute one resolved run config: the engine for a black-box strategy, harness.oneshot for a one-shot method.

Both `nas-harness run` (every launcher) and `nas-harness reproduce` call `execute_run`, so a run and
its reproduction cannot take different paths.
"""
from __future__ import annotations

import functools
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.config import strategy_hyperparameters
from harness.results import CLOCK_COLUMN, ONESHOT_METHODS, REAL_CLOCK


@functools.lru_cache(maxsize=4)
def _benchmark(name: str):
    """Process-level cache: a worker loads each benchmark once and reuses it for all its runs."""
    from harness.benchmarks import load_benchmark

    return load_benchmark(name)


def task_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved run config as plain data: what RUN_ID hashes and the manifest records.

    `hydra` and `grid` are left out: where, and in which launcher job, a run executes does not change
    its result, so neither may change its RUN_ID.
    """
    data = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    assert isinstance(data, dict)
    data.pop("hydra", None)
    data.pop("grid", None)
    return {str(key): value for key, value in data.items()}


def check_strategy(config: dict[str, Any]) -> None:
    """Refuse, before any run folder exists, hyperparameters a tabular strategy cannot run with.

    Why: each strategy's `Config.check()` catches impossible combinations (e.g. `re.sample_size` larger
    than `population_size`); calling it while the grid is planned makes a typo one line instead of a
    grid of failed run folders. Raises `harness.strategies.StrategyError` (one line).
    """
    strategy, hyper = strategy_hyperparameters(config["strategy"])
    if strategy in ONESHOT_METHODS:
        return  # one-shot configs are checked by their dataclass while Hydra composes
    from harness.strategies import get_strategy_class
    from harness.strategies.base import build_config

    build_config(get_strategy_class(strategy), hyper)


def execute_run(config: dict[str, Any]):
    """Run the engine for one resolved config; returns (trajectory, benchmark).

    The benchmark is loaded through a per-process cache, because a grid worker runs many runs of
    the same benchmark and loading (checksum included) costs more than a short run.
    """
    from harness.engine import Budget, run_search

    bench_cfg, budget_cfg = config["benchmark"], config["budget"]
    strategy, hyper = strategy_hyperparameters(config["strategy"])
    bench = _benchmark(bench_cfg["name"])
    if strategy in ONESHOT_METHODS:
        return _oneshot_trajectory(strategy, bench_cfg["name"], int(config["seed"]), hyper), bench
    trajectory = run_search(
        bench,
        strategy,
        seed=int(config["seed"]),
        budget=Budget(evaluations=budget_cfg.get("evaluations"), sim_seconds=budget_cfg.get("sim_seconds")),
        hyperparameters=hyper,
        n_workers=int(config["n_workers"]),
        seed_policy=str(bench_cfg["seed_policy"]),
        fixed_seed=bench_cfg.get("fixed_seed"),
        objectives=bench_cfg.get("objectives"),
    )
    return trajectory, bench


def _oneshot_trajectory(method: str, benchmark: str, seed: int, params: dict[str, Any]):
    """A one-shot run (harness.oneshot) as a trajectory: one row per epoch (zerocost: per scored
    cell), the picked cell as the incumbent. Its clock is real compute seconds, not simulated time."""
    import numpy as np
    import pandas as pd

    from harness.engine import BUDGET_COLUMN, TRAJECTORY_COLUMNS
    from harness.oneshot import run_oneshot
    from tabular.store import MEAN_SEED

    frame = run_oneshot(method, benchmark, seed, params)
    seconds = frame["seconds"]
    out = pd.DataFrame(
        {
            "step": frame["epoch"].astype(int),
            "arch": frame["arch"],
            "arch_index": frame["arch_index"],
            "fidelity": np.full(len(frame), np.nan),
            "seed_used": np.full(len(frame), MEAN_SEED),
            "valid": frame["valid_acc"],
            "valid_mean": frame["valid_mean"],
            "test_mean": frame["test_mean"],
            "cost": seconds.diff().fillna(seconds),
            "sim_time": seconds,
            "best_valid": frame["valid_acc"],
            "incumbent_arch": frame["arch"],
            "incumbent_test_mean": frame["test_mean"],
            "regret": frame["regret"],
            "wall_time": seconds,
        },
        columns=[c for c in TRAJECTORY_COLUMNS if c != BUDGET_COLUMN],  # no nominal budgets here
    )
    extras = ("train_loss", "train_acc", "valid_loss", "tau", "score")
    for column in [c for c in frame.columns if c.startswith("op_") or c in extras]:
        out[column] = frame[column].to_numpy()
    out[CLOCK_COLUMN] = REAL_CLOCK  # sim_time holds real compute seconds here; reports label it so
    return out
