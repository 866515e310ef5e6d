"""Impossible combinations of a strategy's hyperparameters are refused before a run (issue 18, item 15).

Each strategy's Config declares its own constraints (`StrategyConfig.check`); `build_config` runs it,
so `make_strategy` and therefore `run_search` refuse before the first evaluation, in one line that
names the keys. Before this, `strategy=re strategy.sample_size=50` with `population_size=10` ran.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.spaces import get_space
from harness.strategies import Objective, Problem, StrategyError, get_strategy_class, make_strategy
from harness.strategies.base import build_config

REPO = Path(__file__).resolve().parents[1]
PROBLEM = Problem(objectives=(Objective("valid_acc", True),), fidelities=(200.0,))

REFUSED = [
    ("re", {"sample_size": 50}, ("re.sample_size=50", "re.population_size=10")),
    ("re", {"population_size": 4, "sample_size": 5}, ("re.sample_size=5", "re.population_size=4")),
    ("re", {"sample_size": 0}, ("re.sample_size",)),
    ("bananas", {"k": 20, "num_candidates": 10}, ("bananas.k=20", "bananas.num_candidates=10")),
    ("bananas", {"encoding": "onehot", "path_cutoff": 5}, ("bananas.path_cutoff=5", "bananas.encoding='onehot'")),
    ("gpbo", {"num_random_candidates": 0, "num_mutation_candidates": 0},
     ("num_random_candidates", "num_mutation_candidates")),
    ("nsga2", {"population_size": 1}, ("nsga2 population_size",)),
    ("nsga2", {"crossover_prob": 1.5}, ("crossover_prob",)),
    ("tpe", {"gamma": 1.0}, ("tpe.gamma",)),
    ("ls", {"num_init": 0}, ("ls.num_init",)),
    ("reinforce", {"ema_momentum": 1.0}, ("reinforce.ema_momentum",)),
]


@pytest.mark.parametrize(("strategy", "overrides", "keys"), REFUSED, ids=lambda v: str(v))
def test_impossible_hyperparameters_are_refused_by_build_config(strategy, overrides, keys):
    with pytest.raises(StrategyError) as info:
        build_config(get_strategy_class(strategy), overrides)
    message = str(info.value)
    assert "\n" not in message and all(k in message for k in keys), message


@pytest.mark.parametrize(("strategy", "overrides"), [
    ("re", {"sample_size": 10}),  # equal sizes: every individual can be drawn
    ("re", {"population_size": 100, "sample_size": 10}),  # the NAS-Bench-101 setting
    ("bananas", {"k": 10, "num_candidates": 10}),
    ("bananas", {"encoding": "path", "path_cutoff": 5}),
    ("gpbo", {"num_random_candidates": 0}),
])
def test_possible_combinations_are_accepted(strategy, overrides):
    config = build_config(get_strategy_class(strategy), overrides)
    assert all(getattr(config, k) == v for k, v in overrides.items())


def test_make_strategy_refuses_before_building_and_direct_construction_checks_too():
    space = get_space("nb201")
    with pytest.raises(StrategyError, match="re.sample_size=50 is larger than re.population_size=10"):
        make_strategy("re", space, PROBLEM, np.random.default_rng(0), {"sample_size": 50})
    cls = get_strategy_class("re")
    with pytest.raises(StrategyError, match="choose sample_size <= population_size"):
        cls(space, PROBLEM, np.random.default_rng(0), cls.Config(population_size=3, sample_size=4))


def test_run_search_refuses_without_evaluating(nb201_cifar10, monkeypatch):
    from harness import engine

    calls = []
    monkeypatch.setattr(engine._Evaluator, "evaluate", lambda self, p: calls.append(p))
    with pytest.raises(StrategyError, match="sample_size"):
        engine.run_search(nb201_cifar10, "re", seed=0, budget=engine.Budget(evaluations=20),
                          hyperparameters={"sample_size": 50})
    assert calls == []


@pytest.mark.slow
def test_the_cli_refuses_in_one_line_and_writes_no_trajectory(tmp_path, data_home):
    env = dict(os.environ, NAS_HARNESS_DATA=str(data_home))
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "strategy=re", "strategy.sample_size=50",
                           "benchmark=nb201/cifar10", "budget.evaluations=20", f"hydra.run.dir={results}"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "re.sample_size=50" in errors[0] and "re.population_size=10" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(results.rglob("trajectory.parquet"))


@pytest.mark.slow
@pytest.mark.parametrize("multirun", [False, True])
def test_impossible_hyperparameters_make_no_run_folder(tmp_path, data_home, multirun):
    """The check runs while the run (or the whole grid) is planned: no folder, no failed manifest."""
    env = dict(os.environ, NAS_HARNESS_DATA=str(data_home))
    results = tmp_path / "results"
    args = ["strategy=re", "strategy.sample_size=50", "benchmark=nb201/cifar10", "budget.evaluations=20"]
    args += ["-m", "seed=0,1", f"hydra.sweep.dir={results}"] if multirun else [f"hydra.run.dir={results}"]
    proc = subprocess.run([sys.executable, "-m", "harness", "run", *args], cwd=REPO, env=env, capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert "re.sample_size=50 is larger than re.population_size=10" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    run_folders = [p for p in results.glob("*") if p.is_dir()] if results.exists() else []
    assert run_folders == [], run_folders
