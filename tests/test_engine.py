"""The run engine: simulated time, budgets, trajectories, determinism, and the RS closed form."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy.special import gammaln

from harness.engine import TRAJECTORY_COLUMNS, Budget, run_search
from harness.strategies import BUILTIN, StrategyError
from tabular.errors import NasHarnessError

REPO = Path(__file__).resolve().parents[1]


def expected_max_without_replacement(values: np.ndarray, k: int) -> float:
    """E[max of k draws without replacement] = sum_j v_(j) * C(j-1, k-1) / C(N, k) (sorted ascending)."""
    v = np.sort(values)
    n = v.size
    j = np.arange(1, n + 1)
    valid = j >= k
    log_p = np.full(n, -np.inf)
    jj = j[valid]
    log_p[valid] = (gammaln(jj) - gammaln(k) - gammaln(jj - k + 1)) - (
        gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    )
    return float(np.sum(v * np.exp(log_p)))


def test_closed_form_on_a_tiny_table_equals_enumeration():
    from itertools import combinations

    values = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    for k in range(1, 7):
        brute = np.mean([max(c) for c in combinations(values, k)])
        assert expected_max_without_replacement(values, k) == pytest.approx(brute, rel=1e-12)


@pytest.mark.slow
def test_random_search_matches_the_closed_form(nb201_cifar10):
    """Mean best-validation curve of RS over 1,000 seeds vs the exact expectation (seed policy mean)."""
    budgets = (10, 50, 100, 200)
    finals = {k: [] for k in budgets}
    for seed in range(1000):
        traj = run_search(nb201_cifar10, "rs", seed=seed, budget=Budget(evaluations=200), seed_policy="mean")
        best = traj["best_valid"].to_numpy()
        for k in budgets:
            finals[k].append(best[k - 1])
    table = nb201_cifar10.store.seed_mean("valid_acc")
    for k in budgets:
        sample = np.asarray(finals[k])
        se = sample.std(ddof=1) / np.sqrt(sample.size)
        assert abs(sample.mean() - expected_max_without_replacement(table, k)) < 3 * se, k


def test_trajectory_columns_and_accounting(nb201_cifar10):
    store = nb201_cifar10.store
    traj = run_search(nb201_cifar10, "rs", seed=3, budget=Budget(evaluations=60))
    # every column but `budget`, which only strategies with nominal budgets (hyperband, bohb) write
    assert list(traj.columns) == [c for c in TRAJECTORY_COLUMNS if c != "budget"]
    assert traj["step"].tolist() == list(range(1, 61))
    top = store.fidelity_index(None)  # strategies without fidelities evaluate at the highest one
    raw_valid = store.metric_array("valid_acc")[:, :, top]
    raw_time = store.metric_array("train_time")[:, :, top]
    seeds = traj["seed_used"].to_numpy()
    rows = traj["arch_index"].to_numpy()
    np.testing.assert_array_equal(traj["valid"].to_numpy(), raw_valid[rows, seeds])
    np.testing.assert_array_equal(traj["cost"].to_numpy(), raw_time[rows, seeds])
    np.testing.assert_allclose(traj["sim_time"].to_numpy(), np.cumsum(traj["cost"].to_numpy()), rtol=1e-12)
    np.testing.assert_array_equal(traj["valid_mean"].to_numpy(), store.seed_mean("valid_acc")[rows])
    assert np.all(np.diff(traj["best_valid"]) >= 0)
    assert np.all(np.diff(traj["regret"]) <= 0)
    best_so_far = np.maximum.accumulate(traj["valid"].to_numpy())
    np.testing.assert_array_equal(traj["best_valid"].to_numpy(), best_so_far)
    inc_rows = [nb201_cifar10.space.index_of(a) for a in traj["incumbent_arch"]]
    _, optimum = store.best("valid_acc")
    # incumbent_arch is canonical; its regret is computed on the row actually evaluated
    assert all(r >= 0 for r in inc_rows)
    assert traj["regret"].min() >= 0 and optimum - traj["valid_mean"].max() <= traj["regret"].iloc[-1] + 1e-12
    assert traj["arch"].tolist() == [nb201_cifar10.space.canonical(nb201_cifar10.space.arch_at(r)) for r in rows]


def test_asynchronous_workers_never_exceed_n(nb201_cifar10):
    n_workers = 4
    traj = run_search(nb201_cifar10, "rs", seed=1, budget=Budget(evaluations=80), n_workers=n_workers)
    finish = traj["sim_time"].to_numpy()
    start = finish - traj["cost"].to_numpy()
    assert np.all(np.diff(finish) >= 0)
    bounds = np.unique(np.concatenate([start, finish]))
    eps = 1e-6  # start is recomputed as finish - cost, so it carries rounding error
    for t in (bounds[:-1] + bounds[1:]) / 2:
        assert np.sum((start < t - eps) & (t + eps < finish)) <= n_workers
    serial = run_search(nb201_cifar10, "rs", seed=1, budget=Budget(evaluations=80), n_workers=1)
    assert finish[-1] < serial["sim_time"].iloc[-1] / 2


def test_sim_seconds_budget(nb201_cifar10):
    budget = 50_000.0
    traj = run_search(nb201_cifar10, "rs", seed=2, budget=Budget(sim_seconds=budget))
    assert traj["sim_time"].iloc[-1] <= budget
    full = run_search(nb201_cifar10, "rs", seed=2, budget=Budget(evaluations=len(traj) + 1))
    assert full["sim_time"].iloc[-1] > budget  # the next evaluation would have overrun the budget


def test_repeats_are_charged_unless_configured(nb201_cifar10):
    def repeats(charge: bool):
        traj = run_search(nb201_cifar10, "rs", seed=0, budget=Budget(evaluations=400),
                          hyperparameters={"replace": True, "charge_repeats": charge}, seed_policy="mean")
        dup = traj["arch_index"].duplicated().to_numpy()
        return traj, dup

    # With 400 draws from 15,625 architectures a repeat is all but certain (P(no repeat) < 1e-2).
    traj, dup = repeats(True)
    assert dup.any() and np.all(traj["cost"].to_numpy()[dup] > 0)
    traj, dup = repeats(False)
    assert dup.any() and np.all(traj["cost"].to_numpy()[dup] == 0) and np.all(traj["cost"].to_numpy()[~dup] > 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"budget": Budget(evaluations=0)}, "positive integer"),
        ({"budget": Budget(evaluations=-5)}, "positive integer"),
        ({"budget": Budget(sim_seconds=-1.0)}, "positive"),
        ({"budget": Budget()}, "no budget"),
        ({"strategy": "gradient_descent"}, "unknown strategy 'gradient_descent'; choose one of"),
        ({"hyperparameters": {"population": 3}}, "no hyperparameter population; valid: charge_repeats, replace"),
        ({"hyperparameters": {"replace": "yes"}}, "true/false"),
        ({"seed_policy": "median"}, "unknown seed policy"),
        ({"objectives": ["valid_acc", "latency@pixel9"]}, "no objective 'latency@pixel9'"),
        ({"n_workers": 0}, "n_workers"),
    ],
)
def test_bad_input_fails_before_any_evaluation(nb201_cifar10, kwargs, message):
    args = {"strategy": "rs", "seed": 0, "budget": Budget(evaluations=5)} | kwargs
    strategy = args.pop("strategy")
    with pytest.raises((NasHarnessError, StrategyError), match=message):
        run_search(nb201_cifar10, strategy, **args)


DETERMINISM_SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    from harness.benchmarks import load_benchmark
    from harness.engine import Budget, run_search
    strategy, evaluations, workers, store = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    if store == "-":
        bench, objectives = load_benchmark("nb201/cifar10"), None
    else:  # a multi-fidelity synthetic store for Hyperband and BOHB
        from harness.benchmarks import Benchmark
        from harness.spaces import get_space
        from tabular.store import open_store
        bench, objectives = Benchmark("synthetic", get_space("nb201"), open_store(store)), None
    if strategy == "nsga2":
        objectives = ["valid_acc", "params"]
    traj = run_search(bench, strategy, seed=11, budget=Budget(evaluations=evaluations), n_workers=workers,
                      objectives=objectives)
    print(hashlib.sha256(traj.drop(columns=["wall_time"]).to_csv(index=False).encode()).hexdigest())
    """
)
MULTI_FIDELITY = {"hyperband", "bohb"}


def _trajectory_hash_in_subprocess(strategy: str, evaluations: int, workers: int, hashseed: str, store: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=hashseed, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT, strategy, str(evaluations), str(workers), store],
                         capture_output=True, text=True, env=env, check=True, cwd=REPO)
    return out.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(BUILTIN))
def test_identical_trajectories_across_processes(data_home, tmp_path, strategy):
    """Same config and seed: identical trajectory in two processes with different hash seeds."""
    store = "-"
    if strategy in MULTI_FIDELITY:
        from tests.synthetic_benchmarks import synthetic_benchmark

        store = str(tmp_path / "mf.h5")
        synthetic_benchmark(Path(store)).store.close()
    evaluations = 25 if strategy in ("bananas", "gpbo") else 60
    a = _trajectory_hash_in_subprocess(strategy, evaluations, 3, "0", store)
    b = _trajectory_hash_in_subprocess(strategy, evaluations, 3, "12345", store)
    assert a == b and len(a) == 64


def test_in_process_determinism_and_seed_sensitivity(nb201_cifar10):
    a = run_search(nb201_cifar10, "rs", seed=5, budget=Budget(evaluations=30)).drop(columns="wall_time")
    b = run_search(nb201_cifar10, "rs", seed=5, budget=Budget(evaluations=30)).drop(columns="wall_time")
    c = run_search(nb201_cifar10, "rs", seed=6, budget=Budget(evaluations=30)).drop(columns="wall_time")
    assert a.equals(b) and not a.equals(c)
    digest = hashlib.sha256(a.to_csv().encode()).hexdigest()
    assert digest == hashlib.sha256(b.to_csv().encode()).hexdigest()


# -- the lean evaluation path (issue 20) ------------------------------------------------------------
@pytest.mark.parametrize("policy", ["sample", "mean", "fixed"])
def test_evaluation_reader_reads_what_query_answers(nb201_cifar10, policy):
    """One read of a row = the policy's value by `query`, then the same seed's other metrics by `query`."""
    store = nb201_cifar10.store
    metrics = ("test_acc", "train_time")
    fixed = int(store.seeds[1])
    reader = store.evaluation_reader("valid_acc", metrics, seed_policy=policy, seed=fixed,
                                     rng=np.random.default_rng(5))
    probe = np.random.default_rng(5)  # the same stream, consumed by query one row at a time
    rows = np.random.default_rng(0).integers(store.n_archs, size=300)
    for k, row in enumerate(rows.tolist()):
        fi = k % len(store.fidelities)
        fidelity = float(store.fidelities[fi])
        seed, values = reader.read(row, fi)
        value, used = store.query("valid_acc", [row], fidelity=fidelity, seed_policy=policy, seed=fixed, rng=probe,
                                  return_seed=True)
        assert seed == int(used[0])
        np.testing.assert_array_equal(values[0], value[0])
        for metric, got in zip(metrics, values[1:], strict=True):
            if seed == -1:
                want = store.query(metric, [row], fidelity=fidelity, seed_policy="mean")[0]
            else:
                want = store.query(metric, [row], fidelity=fidelity, seed_policy="fixed", seed=seed)[0]
            np.testing.assert_array_equal(got, want)


def test_evaluation_reader_validates_once_with_one_line_errors(nb201_cifar10):
    store = nb201_cifar10.store
    with pytest.raises(NasHarnessError, match="no metric 'nope'"):
        store.evaluation_reader("valid_acc", ("nope",))
    with pytest.raises(NasHarnessError, match="seed"):
        store.evaluation_reader("valid_acc", (), seed_policy="fixed", seed=99)
    reader = store.evaluation_reader("valid_acc", ())
    with pytest.raises(NasHarnessError, match="out of range"):
        reader.read(store.n_archs, 0)


class _PlainStore:
    """A store that is not a BenchmarkStore (as a surrogate is): the engine reads it through `query`."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.mark.parametrize("strategy, kwargs", [
    ("rs", {"seed_policy": "sample"}),
    ("re", {"seed_policy": "fixed", "fixed_seed": 2, "n_workers": 3}),
    ("ls", {"seed_policy": "mean"}),
    ("nsga2", {"objectives": ["valid_acc", "latency", "train_time"], "n_workers": 2}),
])
def test_the_table_fast_path_equals_the_generic_query_path(nb201_cifar10, strategy, kwargs):
    """Trajectories through EvaluationReader (tables) and through Store.query (any store) are identical."""
    from harness.benchmarks import Benchmark

    plain = Benchmark(**{**nb201_cifar10.__dict__, "store": _PlainStore(nb201_cifar10.store)})
    fast = run_search(nb201_cifar10, strategy, seed=8, budget=Budget(evaluations=150), **kwargs)
    slow = run_search(plain, strategy, seed=8, budget=Budget(evaluations=150), **kwargs)
    assert list(fast.columns) == list(slow.columns)
    for column in fast.columns:
        if column != "wall_time":
            assert fast[column].equals(slow[column]), column
