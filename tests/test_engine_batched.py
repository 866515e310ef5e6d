"""The engine's batched loop for non-adaptive strategies gives the ask/tell loop's trajectory (issue 20).

Why: random search (`Strategy.adaptive = False`) is asked for proposals in batches and read from the
table in one call (harness/engine/batched.py); the trajectory must be the one the general loop writes,
bit for bit, whatever the budget, seed policy, space or stop reason. Each case runs both loops: the
reference by declaring the same strategy adaptive (then run_search takes the ask/tell loop).
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import engine
from harness.benchmarks import load_benchmark
from harness.engine import Budget, resolve_objectives, run_search
from harness.engine.batched import _runs
from harness.strategies import BUILTIN, Problem, Proposal, get_strategy_class, make_strategy
from harness.strategies.random_search import RandomSearch
from tabular.errors import SourceMissingError

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_bitwise import trajectory_digest  # noqa: E402


def both_loops(monkeypatch: pytest.MonkeyPatch, bench, strategy: str, cls: type, **kwargs):
    """(batched trajectory, ask/tell trajectory) of one run."""
    monkeypatch.setattr(cls, "adaptive", False)
    fast = run_search(bench, strategy, **kwargs)
    monkeypatch.setattr(cls, "adaptive", True)
    slow = run_search(bench, strategy, **kwargs)
    return fast, slow


def assert_same(fast, slow):
    assert fast.attrs["stop_reason"] == slow.attrs["stop_reason"]
    assert list(fast.columns) == list(slow.columns)
    assert trajectory_digest(fast) == trajectory_digest(slow)


BUDGETS = [Budget(evaluations=1), Budget(evaluations=257), Budget(sim_seconds=40_000.0),
           Budget(sim_seconds=30_000.0, evaluations=100), Budget(evaluations=15_625), Budget(evaluations=16_000)]


@pytest.mark.parametrize("policy,budget", list(itertools.product(("sample", "fixed", "mean"), BUDGETS)))
def test_random_search_batched_equals_ask_tell_on_nb201(nb201_cifar10, monkeypatch, policy, budget):
    fast, slow = both_loops(monkeypatch, nb201_cifar10, "rs", RandomSearch, seed=3, budget=budget,
                            seed_policy=policy)
    assert_same(fast, slow)
    if budget.evaluations == 16_000:  # every architecture drawn: the space is exhausted, not the budget
        assert fast.attrs["stop_reason"] == engine.STOP_EXHAUSTED and len(fast) == 15_625


@pytest.mark.parametrize("budget", [Budget(evaluations=3_000), Budget(sim_seconds=500_000.0)])
def test_random_search_with_replacement_repeats_alike(nb201_cifar10, monkeypatch, budget):
    fast, slow = both_loops(monkeypatch, nb201_cifar10, "rs", RandomSearch, seed=5, budget=budget,
                            hyperparameters={"replace": True})
    assert_same(fast, slow)
    if budget.evaluations:
        assert fast["arch_index"].duplicated().any()  # repeats happened and were counted alike


@pytest.mark.parametrize("name", ["nb101/sample", "nbgraph/cora", "nb201/cifar10-12ep"])
def test_other_spaces_name_rows_alike(data_home, monkeypatch, name):
    """Other spaces: the batched loop names rows with canonical_at(row), the general one with
    canonical(arch); the trajectories agree (the spaces' canonical_at contract)."""
    try:
        bench = load_benchmark(name)
    except SourceMissingError as exc:  # nb101/sample is converted from shared files absent on a clean machine
        pytest.skip(str(exc))
    fast, slow = both_loops(monkeypatch, bench, "rs", RandomSearch, seed=1, budget=Budget(evaluations=40))
    assert_same(fast, slow)
    space = bench.space
    for arch in fast["arch"].tolist():
        assert space.canonical_at(space.index_of(arch)) == space.canonical(arch)


class Sweeper(RandomSearch):
    """A non-adaptive strategy of the test's own: cycles through the fidelities, with repeats."""

    name = "sweeper"

    def ask(self) -> Proposal | None:
        self._next += 1
        fidelities = self.problem.fidelities
        # runs of three at one fidelity: a batch may begin and end at the same fidelity with others between
        return Proposal(self.space.arch_at((self._next * 7) % 50), fidelities[(self._next // 3) % len(fidelities)])

    def ask_many(self, n: int) -> list[Proposal]:
        return [p for p in (self.ask() for _ in range(n)) if p is not None]


@pytest.mark.parametrize("budget", [Budget(evaluations=600), Budget(sim_seconds=20_000.0)])
def test_mixed_fidelities_and_repeats(nb201_cifar10, monkeypatch, budget):
    """Several fidelities (the incumbent rule one result at a time) and repeated pairs."""
    fast, slow = both_loops(monkeypatch, nb201_cifar10, f"{__name__}:Sweeper", Sweeper, seed=2, budget=budget)
    assert_same(fast, slow)
    assert set(fast["fidelity"]) == set(nb201_cifar10.store.fidelities.tolist())


@pytest.mark.parametrize("policy", ["sample", "fixed", "mean"])
def test_read_many_answers_what_reads_one_by_one_answer(nb201_cifar10, policy):
    """EvaluationReader.read_many against the one-at-a-time reads (same values, seeds and random stream),
    with fidelities that change inside the batch and a batch that begins and ends at the same one."""
    store = nb201_cifar10.store
    seed = int(store.seeds[1]) if policy == "fixed" else None
    rows = np.random.default_rng(4).integers(0, store.n_archs, 301)
    for fis in (np.array([1, 0, 1] * 100 + [1]), np.random.default_rng(5).integers(0, len(store.fidelities), 301)):
        others = [store.test_metric, store.cost_metric]
        readers = [store.evaluation_reader(store.valid_metric, others, seed_policy=policy, seed=seed,
                                           rng=np.random.default_rng(9)) for _ in range(2)]
        one = [readers[0].read(int(r), int(f)) for r, f in zip(rows, fis, strict=True)]
        seeds, values = readers[1].read_many(rows, fis)
        assert seeds.tolist() == [s for s, _ in one]
        for k in range(3):
            expected = np.array([v[k] for _, v in one])
            assert np.array_equal(values[k].view(np.int64), expected.view(np.int64))
        if policy == "sample":
            assert readers[0].rng.random() == readers[1].rng.random()  # the stream is left at the same place


def test_stall_rule_alike(nb201_cifar10, monkeypatch):
    monkeypatch.setattr(engine, "MAX_REPEATS", 30)
    fast, slow = both_loops(monkeypatch, nb201_cifar10, "rs", RandomSearch, seed=0,
                            budget=Budget(evaluations=20_000), hyperparameters={"replace": True})
    assert_same(fast, slow)


def test_runs_counts_streaks_like_a_loop():
    rng = np.random.default_rng(0)
    for carried in (0, 7):
        flags = rng.random(500) < 0.7
        expected, run = [], carried
        for flag in flags.tolist():
            run = run + 1 if flag else 0
            expected.append(run)
        assert _runs(flags, carried).tolist() == expected


NON_ADAPTIVE = sorted(name for name in BUILTIN if not get_strategy_class(name).adaptive)


@pytest.mark.parametrize("name", NON_ADAPTIVE)
@pytest.mark.parametrize("hyperparameters", [{}, {"replace": True}])
def test_ask_many_is_n_asks(nb201_cifar10, name, hyperparameters):
    """Every built-in non-adaptive strategy: `ask_many(n)` gives the proposals n `ask()` calls give and
    leaves its random stream where they leave it (what the batched loop relies on)."""
    if "replace" in hyperparameters and "replace" not in get_strategy_class(name).Config.__dataclass_fields__:
        pytest.skip(f"{name} has no `replace`")
    objectives = resolve_objectives(nb201_cifar10, None)
    problem = Problem(objectives=objectives, fidelities=tuple(float(f) for f in nb201_cifar10.store.fidelities))
    one, many = (make_strategy(name, nb201_cifar10.space, problem, np.random.default_rng(8), hyperparameters)
                 for _ in range(2))
    asked = [one.ask() for _ in range(300)]
    batched = many.ask_many(1) + many.ask_many(255) + many.ask_many(44)
    assert batched == asked
    assert one.rng.random() == many.rng.random()
