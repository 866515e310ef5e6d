"""BANANAS and GP-BO: acquisition functions against closed forms and Monte Carlo, the neural
predictor's backpropagation against finite differences and torch, the strategies' contracts
(determinism, NaN results, pending proposals, exhaustion) and end-to-end runs on nb201/cifar10."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.spaces.base import ArchitectureError, SearchSpace
from harness.spaces.nb201 import NB201Space
from harness.strategies import Objective, Observation, Problem, StrategyError, make_strategy
from harness.strategies.acquisition import (
    ensemble_moments,
    expected_improvement,
    independent_thompson_samples,
    its_ranking,
)
from harness.strategies.bananas import MLPEnsemble

PROBLEM = Problem(objectives=(Objective("valid_acc", True),), fidelities=(200.0,))
SPACE = NB201Space()  # read-only: its op-code table is built once for the fake evaluator
FAST_BANANAS = {"epochs": 30}  # unit tests of the loop need a fitted model, not a good one


# ---------------------------------------------------------------------------- expected improvement
def test_ei_closed_form_at_the_incumbent():
    # mu = best: EI = sigma * phi(0) = sigma / sqrt(2 pi)
    sigma = np.array([1.0, 0.5, 3.0])
    np.testing.assert_allclose(
        expected_improvement(np.full(3, 2.0), sigma, best=2.0), sigma / math.sqrt(2 * math.pi), rtol=1e-12
    )
    assert float(expected_improvement(0.0, 1.0, 0.0)) == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-12)


@pytest.mark.parametrize(
    "mu, sigma, best", [(0.0, 1.0, 0.5), (2.0, 0.5, 1.0), (-1.0, 2.0, 1.0), (1.0, 0.1, 1.3), (5.0, 1.5, 1.0)]
)
def test_ei_matches_monte_carlo(mu, sigma, best):
    draws = np.random.default_rng(7).normal(mu, sigma, size=2_000_000)
    gain = np.maximum(draws - best, 0.0)
    se = gain.std() / math.sqrt(gain.size)
    assert float(expected_improvement(mu, sigma, best)) == pytest.approx(gain.mean(), abs=5 * se + 1e-12)


def test_ei_xi_is_a_raised_bar_and_sigma_zero_is_the_plain_gain():
    mu, sigma = np.array([1.0, 2.0, 0.2]), np.array([0.3, 1.0, 2.0])
    for xi in (0.0, 0.1, 1.0):
        np.testing.assert_allclose(
            expected_improvement(mu, sigma, 0.5, xi=xi), expected_improvement(mu, sigma, 0.5 + xi), rtol=1e-12
        )
    values = [expected_improvement(mu, sigma, 0.5, xi=xi) for xi in (0.0, 0.1, 0.5, 2.0)]
    assert all(np.all(a > b) for a, b in zip(values, values[1:], strict=False))  # more exploration demanded, less EI
    np.testing.assert_array_equal(expected_improvement([1.0, 0.2, 0.5], [0.0, 0.0, 0.0], 0.5, xi=0.1), [0.4, 0.0, 0.0])
    # EI grows with the mean and with the uncertainty, and is never negative far below the incumbent
    assert np.all(np.diff(expected_improvement(np.linspace(-3, 3, 50), 1.0, 0.0)) > 0)
    assert np.all(np.diff(expected_improvement(0.0, np.linspace(0.1, 3, 50), 1.0)) > 0)
    assert np.all(expected_improvement(np.array([-40.0, -1e3]), 1.0, 0.0) >= 0)
    with pytest.raises(ValueError):
        expected_improvement(0.0, -1.0, 0.0)


# ---------------------------------------------------------------------------- Thompson sampling
def test_its_draws_have_the_ensembles_mean_and_std():
    predictions = np.array(
        [
            [1.0, 5.0, -2.0, 0.0],
            [3.0, 5.5, -1.0, 0.0],
            [2.0, 4.0, -4.0, 0.0],
            [2.5, 6.5, 0.5, 0.0],
            [0.5, 5.0, -3.0, 0.0],
        ]
    )
    mean, std = ensemble_moments(predictions)
    truth_mean = predictions.sum(axis=0) / 5
    truth_std = np.sqrt(((predictions - truth_mean) ** 2).sum(axis=0) / 5)  # population std, as the paper's np.var
    np.testing.assert_allclose(mean, truth_mean)
    np.testing.assert_allclose(std, truth_std)
    rng = np.random.default_rng(3)
    n = 40_000
    draws = np.stack([independent_thompson_samples(mean, std, rng) for _ in range(n)])
    np.testing.assert_allclose(draws.mean(axis=0), truth_mean, atol=4 * truth_std.max() / math.sqrt(n))
    np.testing.assert_allclose(draws[:, :3].std(axis=0), truth_std[:3], rtol=0.03)
    assert np.all(draws[:, 3] == 0.0)  # a unanimous ensemble gives no exploration
    corr = np.corrcoef(draws[:, :3].T)
    assert np.all(np.abs(corr[np.triu_indices(3, 1)]) < 0.03)  # independent across candidates


def test_its_ranking_is_by_mean_when_the_ensemble_agrees():
    means = np.array([0.3, 2.0, -1.0, 1.5])
    order = its_ranking(np.tile(means, (5, 1)), np.random.default_rng(0))
    np.testing.assert_array_equal(order, [1, 3, 0, 2])


# ---------------------------------------------------------------------------- neural predictor
def _ensemble(loss: str, seed: int = 0, d: int = 6) -> MLPEnsemble:
    ens = MLPEnsemble(3, 3, 5, loss=loss)
    rng = np.random.default_rng(seed)
    ens.init(d, rng)
    ens.params += rng.normal(scale=0.1, size=ens.params.shape)  # off the ReLU kinks of zero biases
    return ens


@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_backprop_matches_finite_differences(loss):
    ens = _ensemble(loss)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(3, 8, 6)), rng.normal(size=(3, 8))
    _, grad = ens.gradient(x, y)
    grad = grad.copy()
    numeric = np.empty_like(grad)
    h = 1e-6
    for i in range(grad.size):
        ens.params[i] += h
        up = ens.gradient(x, y)[0].sum()
        ens.params[i] -= 2 * h
        down = ens.gradient(x, y)[0].sum()
        ens.params[i] += h
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(grad, numeric, atol=1e-6)


def _torch_members(ens: MLPEnsemble, torch):
    ws = [torch.tensor(w.copy(), requires_grad=True) for w in ens.weights]
    bs = [torch.tensor(b.copy(), requires_grad=True) for b in ens.biases]
    return ws, bs


def _torch_loss(ws, bs, x, y, loss, torch):
    h = x
    for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
        h = h @ w + b
        if i < len(ws) - 1:
            h = torch.relu(h)
    diff = h[..., 0] - y
    return (diff.abs() if loss == "mae" else diff**2).mean(dim=-1).sum()


@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_backprop_matches_torch_autograd(loss):
    torch = pytest.importorskip("torch")
    ens = _ensemble(loss, seed=4)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 9, 6)), rng.normal(size=(3, 9))
    _, grad = ens.gradient(x, y)
    ws, bs = _torch_members(ens, torch)
    _torch_loss(ws, bs, torch.tensor(x), torch.tensor(y), loss, torch).backward()
    reference = [w.grad.numpy() for w in ws] + [b.grad.numpy() for b in bs]
    for ours, ref in zip(ens._grad_weights + ens._grad_biases, reference, strict=True):
        np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_training_follows_torch_adam():
    """Same initialisation and mini-batches: our Adam (Keras' epsilon placement) tracks torch's."""
    torch = pytest.importorskip("torch")
    rng_data = np.random.default_rng(5)
    x, y = rng_data.normal(size=(10, 6)), rng_data.normal(size=10)
    ours = MLPEnsemble(3, 3, 5, loss="mae", epochs=4, batch_size=4, lr=0.01).fit(x, y, np.random.default_rng(9))
    rng = np.random.default_rng(9)  # replay the same stream: initialisation, then per-epoch shuffles
    ref = MLPEnsemble(3, 3, 5, loss="mae")
    ref.init(6, rng)
    ws, bs = _torch_members(ref, torch)
    opt = torch.optim.Adam(ws + bs, lr=0.01, betas=(0.9, 0.99), eps=1e-7)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for _ in range(4):
        order = rng.permuted(np.broadcast_to(np.arange(10), (3, 10)), axis=1)
        for start in range(0, 10, 4):
            rows = torch.tensor(order[:, start:start + 4])
            opt.zero_grad()
            _torch_loss(ws, bs, xt[rows], yt[rows], "mae", torch).backward()
            opt.step()
    moved = max(np.abs(w.detach().numpy() - w0).max() for w, w0 in zip(ws, ref.weights, strict=True))
    assert moved > 0.02  # 12 steps of lr 0.01 really moved the weights
    for w, ours_w in zip(ws, ours.weights, strict=True):
        np.testing.assert_allclose(ours_w, w.detach().numpy(), atol=2e-3)


def _synthetic_targets(space: NB201Space, indices: np.ndarray) -> np.ndarray:
    """A closed-form objective of the cell: additive op effects plus one interaction."""
    codes = space.op_codes[indices]
    effect = np.array([0.0, 1.0, 2.0, 3.0, 0.5])
    return effect[codes].sum(axis=1) + 2.0 * (codes[:, 3] == 3) * (codes[:, 5] == 3)


@pytest.mark.slow
def test_predictor_fit_is_deterministic_given_the_seed_and_learns():
    space = NB201Space()
    idx = np.random.default_rng(0).choice(space.size, size=260, replace=False)
    x = space.encode([space.arch_at(i) for i in idx], "onehot")  # the target is a function of the one-hot code
    y = _synthetic_targets(space, idx)
    y = (y - y[:200].mean()) / y[:200].std()

    def fit(seed: int) -> np.ndarray:
        return MLPEnsemble(5, 10, 20, epochs=60).fit(x[:200], y[:200], np.random.default_rng(seed)).predict(x[200:])

    a, b, c = fit(1), fit(1), fit(2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (5, 60)
    mae = np.abs(a.mean(axis=0) - y[200:]).mean()
    assert mae < 0.5 * np.abs(y[200:]).mean()  # far better than predicting the training mean


# ---------------------------------------------------------------------------- the strategies
def _drive(name, hp, n, values, seed=0, workers=1, space=None):
    """Run a strategy against `values(index)` with `workers` pending at a time; return proposals."""
    space = space or NB201Space()
    strat = make_strategy(name, space, PROBLEM, np.random.default_rng(seed), hp)
    proposed, pending = [], []
    while len(proposed) < n:
        while len(pending) < workers and len(proposed) < n:
            p = strat.ask()
            if p is None:
                break
            pending.append(p)
            proposed.append(space.index_of(p.arch))
        assert pending, "the strategy returned None with nothing pending (deadlock)"
        p = pending.pop(0)  # oldest first
        strat.tell(p, Observation({"valid_acc": float(values(space.index_of(p.arch)))}, 200.0, 0.0))
    return strat, proposed


def _synthetic(index: int) -> float:
    return float(_synthetic_targets(SPACE, np.array([index]))[0])


@pytest.mark.slow
@pytest.mark.parametrize("name, hp", [("bananas", FAST_BANANAS), ("gpbo", {})])
def test_same_seed_same_proposals(name, hp):
    _, a = _drive(name, hp, 30, _synthetic, seed=3)
    _, b = _drive(name, hp, 30, _synthetic, seed=3)
    _, c = _drive(name, hp, 30, _synthetic, seed=4)
    assert a == b
    assert a != c
    assert len(set(a)) == 30  # nothing proposed twice


def test_bananas_refits_every_k_and_mutates_the_best():
    strat, proposed = _drive("bananas", {**FAST_BANANAS, "k": 5}, 30, _synthetic)
    assert strat.n_fits == 4  # proposals 11-15, 16-20, 21-25, 26-30: one fit per batch of k
    space = strat.space
    candidates = strat._candidates()
    assert candidates and not set(candidates) & set(proposed)
    scores = np.array([_synthetic(i) for i in strat._train_idx])
    best = [strat._train_idx[i] for i in np.argsort(-scores, kind="stable")[:5]]
    distance = (space.op_codes[candidates][:, None, :] != space.op_codes[best][None, :, :]).sum(axis=2)
    assert np.all(distance.min(axis=1) == 1)  # max_mutations=1: one edit from one of the best
    assert len(set(candidates)) == len(candidates)


def test_gpbo_refits_after_each_new_result():
    strat, _ = _drive("gpbo", {}, 30, _synthetic)
    assert strat.n_fits == 20  # asks 11..30 each follow a new result


@pytest.mark.parametrize("name, hp", [("bananas", FAST_BANANAS), ("gpbo", {})])
def test_nan_results_are_skipped_but_never_reproposed(name, hp):
    def values(index: int) -> float:
        return math.nan if index % 3 == 0 else _synthetic(index)

    strat, proposed = _drive(name, hp, 40, values)
    assert len(set(proposed)) == 40
    assert all(i % 3 for i in strat._train_idx)  # NaN results left out of the fit
    assert len(strat._train_idx) == sum(1 for i in proposed if i % 3)
    assert strat.n_fits > 0


@pytest.mark.slow
@pytest.mark.parametrize("name, hp", [("bananas", FAST_BANANAS), ("gpbo", {})])
def test_several_workers_never_duplicate_pending_proposals(name, hp):
    _, proposed = _drive(name, hp, 40, _synthetic, workers=4)
    assert len(set(proposed)) == 40
    strat = make_strategy(name, NB201Space(), PROBLEM, np.random.default_rng(0), hp)
    for _ in range(12):
        p = strat.ask()
        strat.tell(p, Observation({"valid_acc": _synthetic(strat.space.index_of(p.arch))}, 200.0, 0.0))
    burst = [strat.space.index_of(strat.ask().arch) for _ in range(25)]  # 25 asks, no results in between
    assert len(set(burst)) == 25


class TinySpace(SearchSpace):
    """3 binary edges: 8 architectures, to exhaust."""

    name = "tiny"
    encodings = ("onehot", "path")

    @property
    def size(self) -> int:
        return 8

    def index_of(self, arch: str) -> int:
        if len(arch) != 3 or set(arch) - {"0", "1"}:
            raise ArchitectureError(f"bad tiny arch {arch!r}")
        return int(arch, 2)

    def arch_at(self, index: int) -> str:
        return format(self.check_index(index), "03b")

    def canonical(self, arch: str) -> str:
        return arch

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        i = int(rng.integers(3))
        return arch[:i] + ("1" if arch[i] == "0" else "0") + arch[i + 1:]

    def neighbours(self, arch: str) -> list[str]:
        return [arch[:i] + ("1" if arch[i] == "0" else "0") + arch[i + 1:] for i in range(3)]

    def encode(self, archs: list[str], kind: str = "onehot") -> np.ndarray:
        self._check_encoding(kind)
        return np.array([[float(c) for c in a] for a in archs])


@pytest.mark.parametrize("name, hp", [("bananas", {**FAST_BANANAS, "num_init": 3, "k": 2}), ("gpbo", {"num_init": 3})])
def test_exhausted_space_repeats_only_after_everything_was_evaluated(name, hp):
    space = TinySpace()
    _, proposed = _drive(name, hp, 12, lambda i: float(i), space=space)
    assert sorted(proposed[:8]) == list(range(8))  # all eight before any repeat
    strat = make_strategy(name, space, PROBLEM, np.random.default_rng(1), hp)
    asked = [strat.ask() for _ in range(8)]
    assert sorted(space.index_of(p.arch) for p in asked) == list(range(8))
    assert strat.ask() is None  # everything pending: wait for a result, do not repeat


def test_bad_hyperparameters_are_refused():
    space = NB201Space()
    with pytest.raises(StrategyError, match="encoding"):
        make_strategy("bananas", space, PROBLEM, np.random.default_rng(0), {"encoding": "adjacency"})
    with pytest.raises(StrategyError, match="num_candidates"):
        make_strategy("bananas", space, PROBLEM, np.random.default_rng(0), {"num_candidates": 0})
    with pytest.raises(StrategyError, match="kernel"):
        make_strategy("gpbo", space, PROBLEM, np.random.default_rng(0), {"kernel": "linear"})
    with pytest.raises(StrategyError, match="acq_opt_type"):
        make_strategy("bananas", space, PROBLEM, np.random.default_rng(0), {"acq_opt_type": "evolution"})


# ---------------------------------------------------------------------------- end to end
@pytest.mark.slow
@pytest.mark.parametrize("name, hp", [("bananas", {}), ("gpbo", {})])
def test_run_search_on_nb201_cifar10(nb201_cifar10, name, hp):
    from harness.engine import Budget, run_search

    a = run_search(nb201_cifar10, name, seed=11, budget=Budget(evaluations=40), hyperparameters=hp)
    b = run_search(nb201_cifar10, name, seed=11, budget=Budget(evaluations=40), hyperparameters=hp)
    assert len(a) == 40 and a["arch_index"].is_unique
    assert list(a["arch"]) == list(b["arch"]) and np.array_equal(a["valid"], b["valid"])
    assert np.all(np.diff(a["best_valid"]) >= 0)
    assert np.all(a["regret"] >= 0)
    assert a["best_valid"].iloc[-1] == a["valid"].max()
    parallel = run_search(nb201_cifar10, name, seed=11, budget=Budget(evaluations=40), hyperparameters=hp, n_workers=4)
    assert len(parallel) == 40 and parallel["arch_index"].is_unique


@pytest.mark.slow
def test_model_based_search_beats_random_search(nb201_cifar10):
    """At 50 evaluations both model-based searches end far closer to the optimum than random search.

    Seeded, so deterministic; the margin (mean final regret below 0.6 x random search's, estimated
    on 30 seeds) leaves room for harmless changes of the random streams.
    """
    from harness.engine import Budget, run_search

    budget = Budget(evaluations=50)

    def final_regret(name: str, n_seeds: int) -> np.ndarray:
        return np.array(
            [run_search(nb201_cifar10, name, seed=s, budget=budget).regret.iloc[-1] for s in range(n_seeds)]
        )

    rs = final_regret("rs", 30)
    for name in ("bananas", "gpbo"):
        model = final_regret(name, 6)
        assert model.mean() < 0.6 * rs.mean(), (name, model, rs.mean())


# ---------------------------------------------------------------------------- bounded refits (issue 20)
def test_bananas_fit_epochs_bound_the_steps_of_a_fit():
    from harness.strategies.bananas import BananasConfig, fit_epochs

    cfg = BananasConfig()  # 150 epochs, batches of 32, at most 600 steps
    for n in (1, 32, 100, 128, 129, 200, 1000, 40_000):
        batches = math.ceil(n / 32)
        epochs = fit_epochs(cfg, n)
        assert epochs == max(1, min(150, 600 // batches))
        assert epochs * batches <= max(600, batches)  # one epoch at least, whatever n
    assert fit_epochs(cfg, 128) == 150  # up to 4 batches: the paper's 150 epochs, unchanged
    assert fit_epochs(BananasConfig(max_fit_steps=0), 40_000) == 150  # 0: the unbounded fit


def test_bananas_bounded_fit_is_the_unbounded_one_while_the_data_is_small():
    """Below 4 batches of data the default (bounded) and max_fit_steps=0 (unbounded) runs are identical."""
    _, bounded = _drive("bananas", FAST_BANANAS, 40, _synthetic, seed=5)
    _, unbounded = _drive("bananas", {**FAST_BANANAS, "max_fit_steps": 0}, 40, _synthetic, seed=5)
    assert bounded == unbounded
    _, long_bounded = _drive("bananas", {**FAST_BANANAS, "max_fit_steps": 10}, 40, _synthetic, seed=5)
    assert long_bounded != unbounded  # a tighter bound does change the fits (the key is wired)


@pytest.mark.slow
def test_gpbo_default_equals_the_unbounded_gp_up_to_max_train():
    """max_train=200 changes nothing while at most 200 results are measured (max_train=0, refit_every=1
    is the pre-issue-20 GP)."""
    _, bounded = _drive("gpbo", {}, 40, _synthetic, seed=2)
    _, unbounded = _drive("gpbo", {"max_train": 0, "refit_every": 1}, 40, _synthetic, seed=2)
    assert bounded == unbounded


def test_gpbo_training_subset_and_refit_schedule():
    strat, _ = _drive("gpbo", {"max_train": 12, "refit_every": 4}, 30, _synthetic, seed=1)
    rows = strat._training_rows()
    y = np.asarray(strat._train_y)
    best = set(np.argsort(-y, kind="stable")[:6].tolist())
    assert rows is not None and len(rows) == 12 and rows == sorted(rows)
    assert best <= set(rows)  # the best half
    rest = [i for i in rows if i not in best]
    assert rest == sorted(i for i in range(len(y)) if i not in best)[-len(rest):]  # then the most recent
    assert strat.n_fits == 20
    # hyperparameters optimised at every fit up to 12 results (asks 11-12), then every 4th fit
    assert strat._model is not None
    optimised = strat._model.optimizer is not None
    assert optimised == (strat._unoptimised == 0)


def test_gpbo_refuses_bad_bounds():
    for hp in ({"max_train": 1}, {"max_train": -1}, {"refit_every": 0}):
        with pytest.raises(StrategyError, match="gpbo"):
            make_strategy("gpbo", NB201Space(), PROBLEM, np.random.default_rng(0), hp)
    with pytest.raises(StrategyError, match="max_fit_steps"):
        make_strategy("bananas", NB201Space(), PROBLEM, np.random.default_rng(0), {"max_fit_steps": -1})
