"""REINFORCE and TPE, checked against closed forms, finite differences and the real benchmark."""
from __future__ import annotations

import numpy as np
import pytest

from harness.engine import Budget, run_search
from harness.spaces.base import SearchSpace
from harness.spaces.nb201 import N_EDGES, N_OPS, NB201Space, format_arch, parse
from harness.strategies import StrategyError, make_strategy
from harness.strategies.reinforce import Reinforce
from harness.strategies.tpe import TPE, linear_forgetting_weights, n_good
from tests.strategy_helpers import PROBLEM, observe


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


def drive(strategy, evaluate, n: int) -> list[str]:
    proposed = []
    for _ in range(n):
        proposal = strategy.ask()
        proposed.append(proposal.arch)
        strategy.tell(proposal, observe(evaluate(proposal.arch)))
    return proposed


# A separable synthetic reward with a unique optimum op per edge.
WEIGHTS = np.random.default_rng(123).normal(size=(N_EDGES, N_OPS))


def separable(arch: str) -> float:
    return float(WEIGHTS[np.arange(N_EDGES), list(parse(arch))].sum())


class _OpaqueSpace(SearchSpace):
    """A space with no categorical code: REINFORCE and TPE must refuse it."""

    name = "opaque"

    @property
    def size(self) -> int:
        return 3

    def index_of(self, arch):
        return int(arch)

    def arch_at(self, index):
        return str(index)

    def canonical(self, arch):
        return arch

    def mutate(self, arch, rng):
        return str((int(arch) + 1) % 3)

    def neighbours(self, arch):
        return [a for a in "012" if a != arch]

    def encode(self, archs, kind="onehot"):
        return np.eye(3)[[int(a) for a in archs]]


# -- REINFORCE ---------------------------------------------------------------------------------
def make_rl(space, seed=0, **hp) -> Reinforce:
    return make_strategy("reinforce", space, PROBLEM, np.random.default_rng(seed), hp)


def test_reinforce_defaults():
    config = Reinforce.Config()
    assert (config.learning_rate, config.ema_momentum) == (0.01, 0.9)


def test_log_prob_is_the_sum_of_per_edge_log_softmax(space):
    rl = make_rl(space)
    rl.logits = np.random.default_rng(1).normal(size=(N_EDGES, N_OPS))
    codes = np.array([0, 4, 2, 3, 1, 1])
    expected = sum(
        rl.logits[e, codes[e]] - np.log(np.sum(np.exp(rl.logits[e]))) for e in range(N_EDGES)
    )
    assert rl.log_prob(codes) == pytest.approx(expected, rel=1e-12)


def test_gradient_matches_finite_differences_of_log_prob(space):
    rl = make_rl(space)
    rl.logits = np.random.default_rng(2).normal(size=(N_EDGES, N_OPS))
    codes = np.array([3, 0, 1, 4, 2, 2])
    grad = rl.grad_log_prob(codes)
    h = 1e-6
    numeric = np.zeros_like(grad)
    base = rl.logits.copy()
    for e in range(N_EDGES):
        for k in range(N_OPS):
            plus, minus = base.copy(), base.copy()
            plus[e, k] += h
            minus[e, k] -= h
            rl.logits = plus
            up = rl.log_prob(codes)
            rl.logits = minus
            down = rl.log_prob(codes)
            numeric[e, k] = (up - down) / (2 * h)
    rl.logits = base
    np.testing.assert_allclose(grad, numeric, atol=1e-7)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-12)  # softmax gradients sum to zero


def test_first_two_updates_follow_the_documented_rule(space):
    """Bias-corrected EMA baseline updated before the advantage, then one Adam step, by hand."""
    rl = make_rl(space, seed=4, learning_rate=0.05)
    start = rl.logits.copy()
    p1 = rl.ask()
    rl.tell(p1, observe(80.0))
    assert rl.baseline == pytest.approx(80.0)  # (0.1*80) / 0.1
    np.testing.assert_array_equal(rl.logits, start)  # advantage 0 -> zero gradient -> no Adam step
    p2 = rl.ask()
    probs = np.exp(start) / np.exp(start).sum(axis=1, keepdims=True)
    rl.tell(p2, observe(90.0))
    baseline = (0.9 * 0.1 * 80.0 + 0.1 * 90.0) / (0.9 * 0.1 + 0.1)
    assert rl.baseline == pytest.approx(baseline)
    advantage = 90.0 - baseline
    onehot = np.zeros((N_EDGES, N_OPS))
    onehot[np.arange(N_EDGES), list(parse(p2.arch))] = 1.0
    g = -advantage * (onehot - probs)  # gradient of the loss at step t=2 (step 1 had g=0)
    m_hat = (0.1 * g) / (1 - 0.9**2)
    v_hat = (0.001 * g * g) / (1 - 0.999**2)
    expected = start - 0.05 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(rl.logits, expected, rtol=1e-10, atol=1e-12)


def test_unmeasured_rewards_do_not_poison_the_update(space):
    rl = make_rl(space, seed=5)
    drive(rl, separable, 20)
    logits, baseline = rl.logits.copy(), rl.baseline
    p = rl.ask()
    rl.tell(p, observe(float("nan")))
    np.testing.assert_array_equal(rl.logits, logits)
    assert rl.baseline == baseline and rl.skipped == 1
    assert np.all(np.isfinite(rl.logits))


def test_policy_concentrates_on_the_optimum_of_a_separable_reward(space):
    rl = make_rl(space, seed=6, learning_rate=0.05)
    drive(rl, separable, 2500)
    probs = rl.probabilities()
    optimum = WEIGHTS.argmax(axis=1)
    np.testing.assert_array_equal(probs.argmax(axis=1), optimum)
    assert probs[np.arange(N_EDGES), optimum].min() > 0.8


def test_reinforce_and_tpe_refuse_spaces_without_categorical_codes():
    for name in ("reinforce", "tpe"):
        with pytest.raises(StrategyError, match="categorical .index. encoding"):
            make_strategy(name, _OpaqueSpace(), PROBLEM, np.random.default_rng(0))


def test_reinforce_same_seed_same_proposals(space):
    a = drive(make_rl(space, seed=9), separable, 200)
    b = drive(make_rl(space, seed=9), separable, 200)
    c = drive(make_rl(space, seed=10), separable, 200)
    assert a == b and a != c


# -- TPE ---------------------------------------------------------------------------------------
def make_tpe(space, seed=0, **hp) -> TPE:
    return make_strategy("tpe", space, PROBLEM, np.random.default_rng(seed), hp)


def test_tpe_defaults_are_hyperopts():
    config = TPE.Config()
    assert (config.gamma, config.n_startup, config.n_ei_candidates, config.prior_weight, config.linear_forgetting) == (
        0.25, 20, 24, 1.0, 25,
    )


def test_split_sizes():
    # hyperopt: min(ceil(0.25 * sqrt(n)), 25); paper quantile: ceil(0.25 * n)
    assert n_good(100, 0.25, "sqrt", 25) == 3
    assert n_good(20, 0.25, "sqrt", 25) == 2
    assert n_good(40000, 0.25, "sqrt", 25) == 25
    assert n_good(100, 0.25, "quantile", 25) == 25
    assert n_good(1, 0.25, "quantile", 25) == 1


def test_linear_forgetting_weights_match_hyperopt_formula():
    np.testing.assert_array_equal(linear_forgetting_weights(25, 25), np.ones(25))
    w = linear_forgetting_weights(30, 25)  # ramp from 1/30 to 1 over the 5 oldest, then ones
    np.testing.assert_allclose(w[:5], [1 / 30, 1 / 30 + (1 - 1 / 30) / 4 * 1, 1 / 30 + (1 - 1 / 30) / 4 * 2,
                                       1 / 30 + (1 - 1 / 30) / 4 * 3, 1.0])
    np.testing.assert_array_equal(w[5:], np.ones(25))


def test_l_over_g_equals_the_hand_computed_closed_form(space):
    """Four observations, gamma 0.5 (quantile split: 2 good), prior weight 1, 5 ops per edge.

    Good codes (losses 1, 2): edge 0 -> [0, 0]; every other edge -> [1, 2].
    Bad codes  (losses 3, 4): edge 0 -> [4, 4]; every other edge -> [1, 3].
    l(edge 0) = (counts + 1) / 7 = [3, 1, 1, 1, 1] / 7;  g(edge 0) = [1, 1, 1, 1, 3] / 7.
    l(other)  = [1, 2, 2, 1, 1] / 7;                      g(other)  = [1, 2, 1, 2, 1] / 7.
    """
    tpe = make_tpe(space, gamma=0.5, split="quantile", prior_weight=1.0, linear_forgetting=0)
    codes = np.array([
        [4, 1, 1, 1, 1, 1],  # loss 3 (bad)
        [0, 1, 1, 1, 1, 1],  # loss 1 (good)
        [4, 3, 3, 3, 3, 3],  # loss 4 (bad)
        [0, 2, 2, 2, 2, 2],  # loss 2 (good)
    ])
    losses = np.array([3.0, 1.0, 4.0, 2.0])
    l_probs, g_probs = tpe.densities(codes, losses)
    np.testing.assert_allclose(l_probs[0], np.array([3, 1, 1, 1, 1]) / 7)
    np.testing.assert_allclose(g_probs[0], np.array([1, 1, 1, 1, 3]) / 7)
    for e in range(1, N_EDGES):
        np.testing.assert_allclose(l_probs[e], np.array([1, 2, 2, 1, 1]) / 7)
        np.testing.assert_allclose(g_probs[e], np.array([1, 2, 1, 2, 1]) / 7)
    candidates = np.array([[0, 2, 2, 2, 2, 2], [4, 3, 3, 3, 3, 3], [0, 1, 3, 2, 0, 4]])
    # l/g per edge: edge0 op0 3, op4 1/3; other edges op2 2, op3 1/2, op1 1, op0 1, op4 1
    expected = np.log([3 * 2**5, (1 / 3) * 0.5**5, 3 * 1 * 0.5 * 2 * 1 * 1])
    np.testing.assert_allclose(tpe.log_ratio(candidates, l_probs, g_probs), expected, rtol=1e-12)


def test_tpe_proposes_the_candidate_with_the_largest_ratio(space):
    """After start-up, the proposal beats every other candidate drawn from l(x) in l/g."""
    tpe = make_tpe(space, seed=3, n_startup=10)
    drive(tpe, separable, 10)
    codes = np.stack(tpe._codes)
    l_probs, g_probs = tpe.densities(codes, np.asarray(tpe._losses))
    probe = np.random.default_rng()
    probe.bit_generator.state = tpe.rng.bit_generator.state
    u = probe.random((tpe.config.n_ei_candidates, N_EDGES))
    candidates = (np.cumsum(l_probs, axis=1)[None] < u[:, :, None]).sum(axis=2)  # inverse-CDF draws
    best = candidates[np.argmax(tpe.log_ratio(candidates, l_probs, g_probs))]
    assert tpe.ask().arch == format_arch(best)


def test_pending_proposals_count_as_worst(space):
    tpe = make_tpe(space, seed=1, n_startup=3)
    first = [tpe.ask() for _ in range(3)]
    assert np.isinf(tpe._losses).all()
    tpe.tell(first[1], observe(50.0))
    assert tpe._losses[1] == -50.0 and np.isinf(tpe._losses[0])
    tpe.tell(first[0], observe(float("nan")))
    assert np.isinf(tpe._losses[0])
    assert tpe.ask() is not None


@pytest.fixture(scope="module")
def seed_mean(nb201_cifar10):
    values = nb201_cifar10.store.seed_mean("valid_acc")
    space = nb201_cifar10.space
    return {space.arch_at(i): float(values[i]) for i in range(space.size)}, float(np.max(values))


def test_tpe_beats_random_search_on_nb201_cifar10(space, seed_mean):
    """Mean regret after 100 evaluations over 30 seeds (real seed-mean table), with a margin."""
    table, optimum = seed_mean
    regrets = {}
    for name in ("tpe", "rs"):
        finals = []
        for seed in range(30):
            strategy = make_strategy(name, space, PROBLEM, np.random.default_rng(seed))
            finals.append(optimum - max(table[a] for a in drive(strategy, table.__getitem__, 100)))
        regrets[name] = np.asarray(finals)
    diff = regrets["rs"].mean() - regrets["tpe"].mean()
    se = np.sqrt(regrets["rs"].var(ddof=1) / 30 + regrets["tpe"].var(ddof=1) / 30)
    assert diff > 0.1 and diff / se > 3, (regrets["tpe"].mean(), regrets["rs"].mean())


def test_tpe_same_seed_same_proposals(space):
    a = drive(make_tpe(space, seed=2), separable, 80)
    b = drive(make_tpe(space, seed=2), separable, 80)
    c = drive(make_tpe(space, seed=3), separable, 80)
    assert a == b and a != c


# -- end to end --------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["reinforce", "tpe"])
@pytest.mark.parametrize("workers", [1, 4])
def test_run_search_end_to_end(nb201_cifar10, strategy, workers):
    budget = Budget(evaluations=50)
    first = run_search(nb201_cifar10, strategy, seed=5, budget=budget, n_workers=workers)
    again = run_search(nb201_cifar10, strategy, seed=5, budget=budget, n_workers=workers)
    assert len(first) == 50
    assert np.all(np.diff(first["best_valid"].to_numpy()) >= 0)
    assert first["arch"].tolist() == again["arch"].tolist()


@pytest.mark.parametrize("hp", [{}, {"linear_forgetting": 5}, {"split": "quantile"}, {"linear_forgetting": 0},
                                {"gamma": 0.9, "linear_forgetting": 3}])
def test_tpe_incremental_densities_equal_the_from_scratch_ones(space, hp):
    """The counts kept incrementally (issue 20) give the densities `densities()` computes from the whole
    history, at every step, with pending proposals, unmeasured results and tied losses."""
    tpe = make_tpe(space, seed=4, n_startup=5, **hp)
    rng = np.random.default_rng(11)
    pending = []
    for _ in range(300):
        pending.append(tpe.ask())
        if len(pending) >= 3:  # three workers, results arrive out of order
            done = pending.pop(int(rng.integers(len(pending))))
            value = float("nan") if rng.random() < 0.1 else round(float(rng.normal()), 1)  # ties and NaN
            tpe.tell(done, observe(value))
        if len(tpe._losses) >= 2:
            l_ref, g_ref = tpe.densities(np.stack(tpe._codes), np.asarray(tpe._losses))
            l_inc, g_inc = tpe._incremental_densities()
            np.testing.assert_allclose(l_inc, l_ref, rtol=0, atol=1e-14)
            np.testing.assert_allclose(g_inc, g_ref, rtol=0, atol=1e-14)
