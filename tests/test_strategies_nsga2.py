"""NSGA-II: non-dominated sorting and crowding distance against brute force (Deb et al. 2002's
definitions), the generational loop, and the engine's Pareto front on real NB201 data."""
from __future__ import annotations

import numpy as np
import pytest

from harness.engine import Budget, run_search
from harness.spaces import get_space
from harness.strategies import Objective, Observation, Problem, StrategyError, make_strategy
from harness.strategies.nsga2 import crowding_distance, non_dominated_ranks, select_survivors
from tests.synthetic_benchmarks import params, quality, synthetic_benchmark


# -- brute force, written from the definitions -----------------------------------------------------
def _dominates(a, b) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def _brute_ranks(points) -> list[int]:
    """Peel non-dominated sets one after another (the definition of the fronts)."""
    left = list(range(len(points)))
    ranks = [0] * len(points)
    rank = 0
    while left:
        front = [i for i in left if not any(_dominates(points[j], points[i]) for j in left if j != i)]
        for i in front:
            ranks[i] = rank
        left = [i for i in left if i not in front]
        rank += 1
    return ranks


def _brute_crowding(points) -> list[float]:
    """Deb et al. 2002, Sec. III-B, for distinct values: boundary points infinite, interior
    points the sum over objectives of the normalised side length of their cuboid."""
    n, m = len(points), len(points[0])
    dist = [0.0] * n
    for k in range(m):
        order = sorted(range(n), key=lambda i: points[i][k])
        lo, hi = points[order[0]][k], points[order[-1]][k]
        dist[order[0]] = dist[order[-1]] = float("inf")
        for pos in range(1, n - 1):
            dist[order[pos]] += (points[order[pos + 1]][k] - points[order[pos - 1]][k]) / (hi - lo)
    return dist


@pytest.mark.parametrize("m, integer", [(2, False), (3, False), (2, True), (3, True)])
def test_ranks_match_brute_force(m, integer):
    rng = np.random.default_rng(m + 10 * integer)
    for _ in range(5):
        pts = rng.integers(0, 6, (70, m)).astype(float) if integer else rng.random((70, m))
        assert non_dominated_ranks(pts).tolist() == _brute_ranks(pts.tolist())


@pytest.mark.parametrize("m", [2, 3])
def test_crowding_matches_brute_force(m):
    rng = np.random.default_rng(m)
    pts = rng.random((25, m))
    assert crowding_distance(pts).tolist() == pytest.approx(_brute_crowding(pts.tolist()))


def test_known_small_example():
    #            A       B       C       D       E       F
    pts = np.array([[5, 1], [4, 4], [1, 5], [3, 3], [2, 2], [1, 1]], dtype=float)
    assert non_dominated_ranks(pts).tolist() == [0, 0, 0, 1, 2, 3]
    # front {A, B, C}: B's cuboid spans (5 - 1) / (5 - 1) in each objective
    assert crowding_distance(pts[:3]).tolist() == [np.inf, 2.0, np.inf]


def test_unmeasured_points_form_the_last_front():
    pts = np.array([[1.0, 1.0], [-np.inf, 9.0], [0.5, 0.5], [2.0, -np.inf]])
    assert non_dominated_ranks(pts).tolist() == [0, 2, 1, 2]


def test_survivors_are_whole_fronts_then_the_least_crowded():
    rng = np.random.default_rng(3)
    pts = rng.random((60, 2))
    ranks = _brute_ranks(pts.tolist())
    keep, kept_rank, kept_crowd = select_survivors(pts, 30)
    assert len(keep) == 30 and kept_rank.tolist() == [ranks[i] for i in keep]
    # every kept point has rank <= every dropped point; on the split front the kept ones are the
    # most spread (largest crowding distance within that front)
    worst = max(ranks[i] for i in keep)
    dropped = [i for i in range(60) if i not in set(keep.tolist())]
    assert all(ranks[i] >= worst for i in dropped)
    split = [i for i in range(60) if ranks[i] == worst]
    crowd = dict(zip(split, _brute_crowding(pts[split].tolist()), strict=True))
    kept_split = [i for i in keep if ranks[i] == worst]
    dropped_split = [i for i in dropped if ranks[i] == worst]
    assert min(crowd[i] for i in kept_split) >= max((crowd[i] for i in dropped_split), default=-1)
    # the crowding the next tournaments use is the one computed on the whole split front
    on_split = [j for j, i in enumerate(keep) if ranks[i] == worst]
    assert kept_crowd[on_split].tolist() == pytest.approx([crowd[int(keep[j])] for j in on_split])


# -- the strategy, driven directly ----------------------------------------------------------------
@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


PROBLEM = Problem((Objective("valid_acc", True), Objective("params", False)), (200.0,))


def _evaluate(space, arch):
    codes = space.op_codes[space.index_of(arch)]
    return Observation({"valid_acc": float(100 * quality(codes)[0]), "params": float(params(codes)[0])}, 200.0, 1.0)


def _drive(strategy, space, n):
    out = []
    for _ in range(n):
        p = strategy.ask()
        out.append(p)
        strategy.tell(p, _evaluate(space, p.arch))
    return out


def test_generations_and_elitism(space):
    nsga = make_strategy("nsga2", space, PROBLEM, np.random.default_rng(0), {"population_size": 20})
    proposals = _drive(nsga, space, 20)
    assert nsga.generation == 1
    parents = {a for a, _ in nsga._parents}
    assert parents == {p.arch for p in proposals}  # P_0 survives whole: the pool has 20 members
    proposals += _drive(nsga, space, 20)
    # P_1 = the best 20 of P_0 + Q_0 by rank and crowding (checked against brute-force ranks)
    pool = [p.arch for p in proposals]
    pts = np.array([_evaluate(space, a).scores(PROBLEM) for a in pool])
    ranks = _brute_ranks(pts.tolist())
    kept = {a for a, _ in nsga._parents}
    worst = max(ranks[pool.index(a)] for a in kept)
    assert all(ranks[i] <= worst for i, a in enumerate(pool) if a in kept)
    assert all(ranks[i] >= worst for i, a in enumerate(pool) if a not in kept)
    assert len(set(pool)) == 40  # eliminate_duplicates: nothing proposed twice


def test_waits_at_the_generation_boundary(space):
    nsga = make_strategy("nsga2", space, PROBLEM, np.random.default_rng(1), {"population_size": 4})
    asked = [nsga.ask() for _ in range(4)]
    assert nsga.ask() is None  # all of P_0 is out; the next generation needs its results
    for p in asked:
        nsga.tell(p, _evaluate(space, p.arch))
    assert nsga.ask() is not None


def test_uniform_crossover_mixes_parent_codes(space):
    nsga = make_strategy("nsga2", space, PROBLEM, np.random.default_rng(2), {"crossover_prob": 1.0})
    a, b = space.arch_at(0), space.arch_at(1)
    ca, cb = space.encode([a, b], "index")
    for _ in range(20):
        k1, k2 = (space.encode([k], "index")[0] for k in nsga._crossover(a, b))
        assert np.all((k1 == ca) | (k1 == cb))
        assert np.all(np.where(k1 == ca, k2 == cb, k2 == ca) | (ca == cb))  # complementary children


def test_nsga2_is_deterministic(space):
    runs = [
        [
            p.arch
            for p in _drive(
                make_strategy("nsga2", space, PROBLEM, np.random.default_rng(s), {"population_size": 10}), space, 60
            )
        ]
        for s in (4, 4, 5)
    ]
    assert runs[0] == runs[1] and runs[0] != runs[2]


# -- the engine ------------------------------------------------------------------------------------
def test_single_objective_is_refused_before_any_evaluation(nb201_cifar10, monkeypatch):
    import harness.engine as engine

    monkeypatch.setattr(
        engine._Evaluator, "evaluate", lambda self, p: (_ for _ in ()).throw(AssertionError("evaluated"))
    )
    with pytest.raises(StrategyError, match="'nsga2' needs at least 2 objectives, got 1") as info:
        run_search(nb201_cifar10, "nsga2", seed=0, budget=Budget(evaluations=10))
    assert "\n" not in str(info.value)


def _brute_front_rows(df, objectives):
    signs = {"valid_acc": 1.0, "params": -1.0}
    pts = [
        tuple(signs[o] * v for o, v in zip(objectives, row, strict=True))
        for row in df[[f"obj_{o}" for o in objectives]].to_numpy()
    ]
    rows = df.arch_index.tolist()
    return sorted({rows[i] for i, p in enumerate(pts) if not any(_dominates(q, p) for q in pts)})


@pytest.mark.parametrize("workers, population", [(1, 100), (3, 30)])
def test_engine_pareto_front_on_nb201(nb201_cifar10, workers, population):
    objectives = ["valid_acc", "params"]
    df = run_search(nb201_cifar10, "nsga2", seed=2, budget=Budget(evaluations=250), objectives=objectives,
                    n_workers=workers, hyperparameters={"population_size": population})
    assert len(df) == 250
    assert (df.fidelity == nb201_cifar10.store.fidelities[-1]).all()
    assert df.best_valid.is_monotonic_increasing
    front = [int(r) for r in df.pareto_front.iloc[-1].split(";")]
    assert front == _brute_front_rows(df, objectives)
    again = run_search(nb201_cifar10, "nsga2", seed=2, budget=Budget(evaluations=250), objectives=objectives,
                       n_workers=workers, hyperparameters={"population_size": population})
    assert again.arch.tolist() == df.arch.tolist()


def test_survives_unmeasured_architectures(tmp_path):
    bench = synthetic_benchmark(tmp_path / "nan.h5", fidelities=(200.0,), nan_fraction=0.2)
    try:
        df = run_search(bench, "nsga2", seed=0, budget=Budget(evaluations=120), objectives=["valid_acc", "latency"],
                        hyperparameters={"population_size": 20})
    finally:
        bench.store.close()
    assert len(df) == 120 and df.valid.isna().any()
    front = [int(r) for r in df.pareto_front.iloc[-1].split(";")]
    assert not df.set_index("arch_index").loc[front, "valid"].isna().any()
