"""Regularized evolution and local search, checked against their definitions.

Strategies are driven directly with a fake evaluator (the real nb201/cifar10 seed-mean table, or a
closed-form function of the architecture) and once end to end through `run_search`.
"""
from __future__ import annotations

from math import comb

import numpy as np
import pytest

from harness.engine import Budget, run_search
from harness.spaces.nb201 import NB201Space, parse
from harness.strategies import make_strategy
from harness.strategies.evolution import RegularizedEvolution
from harness.strategies.local_search import LocalSearch
from tests.strategy_helpers import PROBLEM, observe


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


@pytest.fixture(scope="module")
def table(nb201_cifar10):
    """arch string -> seed-mean validation accuracy of the real benchmark."""
    values = nb201_cifar10.store.seed_mean("valid_acc")
    space = nb201_cifar10.space
    return {space.arch_at(i): float(values[i]) for i in range(space.size)}


def drive(strategy, evaluate, n: int) -> list[str]:
    """Sequential ask/tell loop; returns the proposed architectures."""
    proposed = []
    for _ in range(n):
        proposal = strategy.ask()
        if proposal is None:
            break
        proposed.append(proposal.arch)
        strategy.tell(proposal, observe(evaluate(proposal.arch)))
    return proposed


def synthetic(arch: str) -> float:
    """A closed-form objective of the op codes (unique optimum: all nor_conv_3x3)."""
    codes = np.asarray(parse(arch))
    return float(-np.abs(codes - 3).sum())


# -- regularized evolution ---------------------------------------------------------------------
def make_re(space, seed=0, **hp) -> RegularizedEvolution:
    return make_strategy("re", space, PROBLEM, np.random.default_rng(seed), hp)


def test_re_defaults_are_the_nb201_benchmark_settings():
    config = RegularizedEvolution.Config()
    assert (config.population_size, config.sample_size) == (10, 3)


def test_aging_removes_the_oldest_even_when_it_is_the_best(space):
    re = make_re(space, population_size=3, sample_size=2)
    first = [re.ask() for _ in range(3)]
    for proposal, value in zip(first, [99.0, 10.0, 20.0], strict=True):  # the oldest is by far the best
        re.tell(proposal, observe(value))
    child = re.ask()
    re.tell(child, observe(0.0))  # the child is the worst of all
    assert list(re.population_archs) == [first[1].arch, first[2].arch, child.arch]
    assert list(re.population_scores) == [10.0, 20.0, 0.0]
    assert 99.0 not in re.population_scores


def test_population_size_stays_constant(space):
    re = make_re(space, population_size=7, sample_size=3)
    for told in range(1, 101):
        proposal = re.ask()
        re.tell(proposal, observe(synthetic(proposal.arch)))
        assert len(re.population_archs) == len(re.population_scores) == min(told, 7)


@pytest.mark.parametrize("population, sample", [(10, 3), (6, 4)])
def test_tournament_picks_the_best_of_a_sample_drawn_with_replacement(space, population, sample):
    """Parent rank frequencies match the closed form of 'best of S uniform draws with replacement'.

    With distinct fitness ranks 1..P, P(parent rank <= j) = (j/P)^S with replacement, and
    C(j,S)/C(P,S) without; the two differ by far more than the sampling error here.
    """
    re = make_re(space, seed=1, population_size=population, sample_size=sample)
    for rank in range(1, population + 1):
        re.tell(re.ask(), observe(float(rank)))  # distinct fitness = rank
    rank_of = {arch: int(score) for arch, score in zip(re.population_archs, re.population_scores, strict=True)}
    n = 20000
    counts = np.bincount([rank_of[re.tournament()] for _ in range(n)], minlength=population + 1)[1:]
    j = np.arange(1, population + 1)
    with_replacement = (j / population) ** sample - ((j - 1) / population) ** sample
    without = np.array([comb(k, sample) - comb(k - 1, sample) for k in j]) / comb(population, sample)
    freq = counts / n
    se = np.sqrt(with_replacement * (1 - with_replacement) / n)
    assert np.all(np.abs(freq - with_replacement) < 5 * se + 1e-9)
    assert np.max(np.abs(freq - without)) > 0.02


def test_child_is_a_single_edit_of_a_population_member(space):
    re = make_re(space, population_size=5, sample_size=2)
    drive(re, synthetic, 5)
    for _ in range(50):
        members = set(re.population_archs)
        child = re.ask()
        assert any(child.arch in space.neighbours(m) for m in members)
        re.tell(child, observe(synthetic(child.arch)))


def test_re_asynchronous_asks_before_tells(space):
    """Several asks before any tell: random proposals, never None, then mutation after results."""
    re = make_re(space, population_size=3, sample_size=2)
    pending = [re.ask() for _ in range(5)]  # 5 workers, empty population: all random
    assert all(p is not None for p in pending)
    for p in pending:
        re.tell(p, observe(synthetic(p.arch)))
    assert len(re.population_archs) == 3
    assert list(re.population_archs) == [p.arch for p in pending[2:]]  # arrival order ages them


def test_re_survives_unmeasured_architectures(space):
    re = make_re(space, population_size=4, sample_size=4)
    proposed = drive(re, lambda a: float("nan") if synthetic(a) < -6 else synthetic(a), 200)
    assert len(proposed) == 200
    assert all(s == -np.inf or np.isfinite(s) for s in re.population_scores)


def test_re_same_seed_same_proposals(space):
    a = drive(make_re(space, seed=7), synthetic, 150)
    b = drive(make_re(space, seed=7), synthetic, 150)
    c = drive(make_re(space, seed=8), synthetic, 150)
    assert a == b
    assert a != c


def test_re_finds_the_synthetic_optimum(space):
    proposed = drive(make_re(space, seed=3), synthetic, 600)
    assert max(synthetic(a) for a in proposed) == 0.0


# -- local search ------------------------------------------------------------------------------
def make_ls(space, seed=0, **hp) -> LocalSearch:
    return make_strategy("ls", space, PROBLEM, np.random.default_rng(seed), hp)


def test_ls_defaults_are_algorithm_1():
    config = LocalSearch.Config()
    assert (config.num_init, config.query_full_nbhd) == (1, True)


@pytest.mark.parametrize("full", [True, False])
def test_declared_local_optima_have_no_better_neighbour(space, table, full):
    """Every local optimum LS declares, checked by enumerating its neighbours in the real table."""
    ls = make_ls(space, seed=11, query_full_nbhd=full)
    proposed = drive(ls, table.__getitem__, 1500)
    assert len(ls.local_optima) >= 3
    for arch in ls.local_optima:
        best_neighbour = max(table[n] for n in space.neighbours(arch))
        assert best_neighbour <= table[arch]
    assert len(set(proposed)) == len(proposed)  # nothing is evaluated twice


def test_best_improvement_moves_to_the_best_neighbour(space, table):
    """Trace the climb: every move of full-neighbourhood LS goes to the neighbour with the best score."""
    ls = make_ls(space, seed=5)
    moves = []
    for _ in range(600):
        before = ls.current
        proposal = ls.ask()
        ls.tell(proposal, observe(table[proposal.arch]))
        if before is not None and ls.current not in (None, before):
            moves.append((before, ls.current))
    assert len(moves) >= 3
    for a, b in moves:
        values = [table[n] for n in space.neighbours(a)]
        assert table[b] == max(values) and table[b] > table[a]


def test_ls_full_neighbourhood_is_evaluated_before_a_move(space):
    ls = make_ls(space, seed=2)
    start = ls.ask()
    ls.tell(start, observe(synthetic(start.arch)))
    neighbours = set(space.neighbours(start.arch))
    asked = []
    for _ in range(len(neighbours)):
        p = ls.ask()
        asked.append(p.arch)
        ls.tell(p, observe(synthetic(p.arch)))
    assert set(asked) == neighbours


def test_ls_asynchronous_waits_instead_of_deadlocking(space):
    ls = make_ls(space, seed=4)
    start = ls.ask()
    assert ls.ask() is None  # the start's result decides what comes next
    ls.tell(start, observe(synthetic(start.arch)))
    batch = []
    while (p := ls.ask()) is not None:
        batch.append(p)
    assert len(batch) == len(space.neighbours(start.arch))  # the whole neighbourhood can run at once
    for p in batch:
        ls.tell(p, observe(synthetic(p.arch)))
    assert ls.ask() is not None


def test_ls_survives_unmeasured_architectures(space):
    ls = make_ls(space, seed=9)
    proposed = drive(ls, lambda a: float("nan") if parse(a)[0] == 0 else synthetic(a), 400)
    assert len(proposed) == 400


def test_ls_same_seed_same_proposals(space):
    a = drive(make_ls(space, seed=3, num_init=4), synthetic, 300)
    b = drive(make_ls(space, seed=3, num_init=4), synthetic, 300)
    c = drive(make_ls(space, seed=4, num_init=4), synthetic, 300)
    assert a == b
    assert a != c


# -- end to end --------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["re", "ls"])
@pytest.mark.parametrize("workers", [1, 4])
def test_run_search_end_to_end(nb201_cifar10, strategy, workers):
    budget = Budget(evaluations=60)
    first = run_search(nb201_cifar10, strategy, seed=3, budget=budget, n_workers=workers)
    again = run_search(nb201_cifar10, strategy, seed=3, budget=budget, n_workers=workers)
    assert len(first) == 60
    assert np.all(np.diff(first["best_valid"].to_numpy()) >= 0)
    assert first["arch"].tolist() == again["arch"].tolist()
    assert np.all(np.diff(first["sim_time"].to_numpy()) >= 0)
