"""Hyperband and BOHB: the bracket schedule against Li et al. 2018, successive halving, the BOHB
model (Falkner et al. 2018 / HpBandSter rules), the engine end to end on a synthetic store."""
from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest

from harness.engine import Budget, run_search
from harness.spaces import get_space
from harness.strategies import Objective, Observation, Problem, StrategyError, make_strategy
from harness.strategies.bohb import CategoricalKDE
from harness.strategies.hyperband import hyperband_brackets
from tests.synthetic_benchmarks import quality, synthetic_benchmark

FIDS = (1.0, 3.0, 9.0, 27.0, 81.0)

# Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar, JMLR 2018, Table 1 (R = 81, eta = 3):
# (n_i, r_i) of each rung, brackets s = 4, 3, 2, 1, 0.
PAPER_TABLE_R81_ETA3 = [
    [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    [(34, 3), (11, 9), (3, 27), (1, 81)],
    [(15, 9), (5, 27), (1, 81)],
    [(8, 27), (2, 81)],
    [(5, 81)],
]


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    bench = synthetic_benchmark(tmp_path_factory.mktemp("synth") / "mf.h5")
    yield bench
    bench.store.close()


def _problem(fidelities=FIDS, n_workers=1):
    return Problem((Objective("valid_acc", True),), tuple(fidelities), n_workers)


def _value(space, arch: str, fidelity: float) -> float:
    """A fake evaluator: closed-form quality plus a deterministic fidelity-dependent wobble."""
    index = space.index_of(arch)
    q = float(quality(space.op_codes[index])[0])
    return 100 * q * fidelity / (fidelity + 10) + 3 * math.sin(index * 12.9898 + fidelity * 78.233)


def _obs(value: float, fidelity: float) -> Observation:
    return Observation({"valid_acc": value}, fidelity, fidelity)


def _drive(strategy, space, n: int, value=_value):
    """Ask/tell `n` times with one worker; returns the proposals in order."""
    out = []
    for _ in range(n):
        p = strategy.ask()
        assert p is not None
        out.append(p)
        strategy.tell(p, _obs(value(space, p.arch, p.fidelity), p.fidelity))
    return out


# -- the schedule ---------------------------------------------------------------------------------
def test_brackets_reproduce_li_et_al_table_1():
    assert hyperband_brackets(1, 81, 3) == PAPER_TABLE_R81_ETA3


def _li_algorithm_1(r_min: float, r_max: float, eta: int) -> list[list[tuple[int, float]]]:
    """Algorithm 1 of Li et al. written directly from the paper, in integer arithmetic."""
    ratio = round(r_max / r_min)
    s_max = 0
    while eta ** (s_max + 1) <= ratio:
        s_max += 1
    out = []
    for s in range(s_max, -1, -1):
        n = -(-(s_max + 1) * eta**s // (s + 1))  # ceil of an exact rational
        out.append([(n // eta**i, r_max * eta ** (i - s)) for i in range(s + 1)])
    return out


@pytest.mark.parametrize("r_min, r_max, eta", [(1, 27, 3), (1, 16, 2), (1, 256, 4), (4, 108, 3), (1, 200, 3), (2, 64, 2), (1, 1000, 10)])
def test_brackets_follow_the_formulas(r_min, r_max, eta):
    got = hyperband_brackets(r_min, r_max, eta)
    want = _li_algorithm_1(r_min, r_max, eta)
    assert [[n for n, _ in b] for b in got] == [[n for n, _ in b] for b in want]
    for gb, wb in zip(got, want):
        assert [r for _, r in gb] == pytest.approx([r for _, r in wb], rel=1e-12)
    # successive halving keeps floor(n_i / eta); every bracket ends at the max budget
    for bracket in got:
        assert all(b[0] == a[0] // eta for a, b in zip(bracket, bracket[1:]))
        assert bracket[-1][1] == pytest.approx(r_max)
    assert len(got) == math.floor(math.log(r_max / r_min, eta) + 1e-9) + 1


def test_brackets_reject_bad_parameters():
    with pytest.raises(StrategyError, match="eta"):
        hyperband_brackets(1, 81, 1)
    with pytest.raises(StrategyError, match="min_budget"):
        hyperband_brackets(10, 5, 3)


def test_budgets_snap_up_to_available_fidelities(space):
    hb = make_strategy("hyperband", space, _problem(tuple(float(f) for f in range(1, 201))), np.random.default_rng(0))
    # geometric budgets 200/81, 200/27, 200/9, 200/3, 200 -> the next available epoch at or above
    assert [f for _, f in hb.brackets[0]] == [3.0, 8.0, 23.0, 67.0, 200.0]
    assert [n for n, _ in hb.brackets[0]] == [81, 27, 9, 3, 1]


# -- successive halving ---------------------------------------------------------------------------
def test_one_bracket_asks_the_scheduled_fidelities(space):
    hb = make_strategy("hyperband", space, _problem(), np.random.default_rng(1))
    proposals = _drive(hb, space, 121 + 34)
    fids = [p.fidelity for p in proposals]
    want = [r for n, r in PAPER_TABLE_R81_ETA3[0] for _ in range(n)]
    assert fids[:121] == want
    assert fids[121:] == [3.0] * 34  # the next bracket (s = 3) starts 34 configurations at r = 3


def test_promotions_keep_the_top_k(space):
    hb = make_strategy("hyperband", space, _problem(), np.random.default_rng(2))
    proposals = _drive(hb, space, 121)
    rungs, start = [], 0
    for n, _ in PAPER_TABLE_R81_ETA3[0]:
        rungs.append(proposals[start:start + n])
        start += n
    for rung, nxt in zip(rungs, rungs[1:]):
        ranked = sorted(rung, key=lambda p: -_value(space, p.arch, p.fidelity))
        # equal values only come from the same architecture sampled twice, so the multiset of the
        # top k architectures is unambiguous
        assert sorted(p.arch for p in nxt) == sorted(p.arch for p in ranked[: len(nxt)])
        assert len(nxt) == len(rung) // 3


def test_unmeasured_architectures_are_never_promoted_over_measured(space):
    hb = make_strategy("hyperband", space, _problem(), np.random.default_rng(3))
    unmeasured = set()

    def value(sp, arch, fidelity):
        if sp.index_of(arch) % 2 == 0:
            unmeasured.add(arch)
            return float("nan")
        return _value(sp, arch, fidelity)

    proposals = _drive(hb, space, 121, value)
    rung1 = proposals[81:108]
    # rung 0 had ~40 measured configurations, more than the 27 promoted: no NaN goes through
    assert not any(p.arch in unmeasured for p in rung1)


def test_several_workers_open_the_next_bracket_or_wait(space):
    problem = _problem((1.0, 3.0), n_workers=4)  # eta 3: brackets [(3, 1), (1, 3)] and [(2, 3)]
    strict = make_strategy("hyperband", space, problem, np.random.default_rng(0), {"overlap_brackets": False})
    first = [strict.ask() for _ in range(3)]
    assert [p.fidelity for p in first] == [1.0] * 3
    assert strict.ask() is None  # waits for the rung's results
    overlap = make_strategy("hyperband", space, problem, np.random.default_rng(0))
    asked = [overlap.ask() for _ in range(4)]
    assert [p.fidelity for p in asked] == [1.0, 1.0, 1.0, 3.0]  # bracket 2 starts while 1 waits
    assert asked[3].tag[0] == 1
    for p in asked[:3]:
        overlap.tell(p, _obs(_value(space, p.arch, 1.0), 1.0))
    nxt = overlap.ask()
    assert nxt.tag[:2] == (0, 1) and nxt.fidelity == 3.0  # the older bracket's promotion comes first


def test_hyperband_is_deterministic(space):
    runs = [[p.arch for p in _drive(make_strategy("hyperband", space, _problem(), np.random.default_rng(s)), space, 200)]
            for s in (5, 5, 6)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


# -- the engine ------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["hyperband", "bohb"])
def test_single_fidelity_benchmark_fails_before_any_evaluation(data_home, monkeypatch, strategy):
    import harness.engine as engine
    from harness.benchmarks import load_benchmark

    single = load_benchmark("nb201/cifar10-12ep")  # the 12-epoch slice: one fidelity
    assert len(single.store.fidelities) == 1

    def no_evaluation(self, proposal):
        raise AssertionError("evaluated before the problem check")

    monkeypatch.setattr(engine._Evaluator, "evaluate", no_evaluation)
    with pytest.raises(StrategyError, match="needs a benchmark with several fidelities") as info:
        run_search(single, strategy, seed=0, budget=Budget(evaluations=10))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("strategy", ["hyperband", "bohb"])
def test_engine_run_on_a_multi_fidelity_store(synth, strategy):
    store = synth.store
    df = run_search(synth, strategy, seed=3, budget=Budget(evaluations=200))
    assert len(df) == 200
    assert df.fidelity.tolist()[:121] == [r for n, r in PAPER_TABLE_R81_ETA3[0] for _ in range(n)]
    # a promoted configuration is charged the cumulative (from-scratch) cost at its new fidelity
    want = [store.query("train_time", [row], fidelity=f, seed_policy="fixed", seed=s)[0]
            for row, f, s in zip(df.arch_index, df.fidelity, df.seed_used)]
    assert df.cost.to_numpy() == pytest.approx(np.asarray(want))
    assert np.all(np.diff(df.sim_time) >= 0)
    again = run_search(synth, strategy, seed=3, budget=Budget(evaluations=200))
    assert again.arch.tolist() == df.arch.tolist()


@pytest.mark.parametrize("strategy", ["hyperband", "bohb"])
def test_engine_run_with_several_workers(synth, strategy):
    df = run_search(synth, strategy, seed=1, budget=Budget(evaluations=300), n_workers=4)
    assert len(df) == 300
    assert df.sim_time.is_monotonic_increasing
    assert set(df.fidelity) == set(FIDS)


def test_max_budget_above_the_benchmark_is_refused(synth):
    with pytest.raises(StrategyError, match="max_budget"):
        run_search(synth, "hyperband", seed=0, budget=Budget(evaluations=5), hyperparameters={"max_budget": 100})


# -- BOHB's model ----------------------------------------------------------------------------------
def test_aitchison_aitken_kde_is_a_normalised_density():
    rng = np.random.default_rng(0)
    choices = np.array([5, 3, 4])
    data = np.stack([rng.integers(0, c, 12) for c in choices], axis=1)
    kde = CategoricalKDE(data, choices, 1e-3)
    grid = np.array(list(product(*(range(c) for c in choices))))
    assert kde.pdf(grid).sum() == pytest.approx(1.0)
    # the normal-reference rule on the codes, floored at min_bandwidth and capped where the
    # Aitchison-Aitken kernel becomes uniform, (c - 1) / c
    raw = 1.06 * data.std(axis=0) * 12 ** (-1 / (4 + 3))
    assert kde.bw == pytest.approx(np.clip(raw, 1e-3, (choices - 1) / choices))
    x = grid[17]
    brute = np.mean([np.prod([(1 - kde.bw[j]) if x[j] == row[j] else kde.bw[j] / (choices[j] - 1) for j in range(3)])
                     for row in data])
    assert kde.pdf(x[None])[0] == pytest.approx(brute)


def test_constant_column_keeps_the_minimum_bandwidth():
    data = np.array([[1, 0], [1, 1], [1, 2], [1, 0]])
    kde = CategoricalKDE(data, np.array([5, 3]), 1e-3)
    assert kde.bw[0] == 1e-3
    assert np.isfinite(kde.pdf(np.array([[0, 0], [1, 0]]))).all()


def _bohb(space, seed=0, **hp):
    return make_strategy("bohb", space, _problem(), np.random.default_rng(seed), hp)


def test_model_uses_the_largest_budget_with_enough_points(space):
    bohb = _bohb(space)
    rng = np.random.default_rng(0)
    archs = [space.arch_at(int(i)) for i in rng.choice(space.size, 60, replace=False)]
    for a in archs[:20]:
        bohb.observe(a, 1.0, rng.random())
    assert bohb.model()[0] == 1.0
    # d = 6, min_points = 7: 13 points give a bad set of 6 <= d rows, no model (HpBandSter's rule)
    for a in archs[20:33]:
        bohb.observe(a, 3.0, rng.random())
    assert bohb.model()[0] == 1.0
    bohb.observe(archs[33], 3.0, rng.random())
    budget, good, bad = bohb.model()
    assert budget == 3.0 and good.data.shape == (7, 6) and bad.data.shape == (7, 6)
    # the good set is the best max(7, 15% of N) observations
    for a in archs[34:60]:
        bohb.observe(a, 3.0, rng.random())
    codes = np.asarray(bohb._codes[3.0])
    losses = np.asarray(bohb._losses[3.0])
    _, good, bad = bohb.model()
    best = codes[np.argsort(losses)[:7]]
    assert sorted(map(tuple, good.data)) == sorted(map(tuple, best))
    assert bad.data.shape[0] == min(max(7, (85 * 40) // 100), 40 - 7)  # the rest, capped by what is left


def test_kde_sampling_prefers_good_configurations(space):
    """Objective = number of conv3x3 edges: uniform sampling averages 6 * 1/5 = 1.2."""
    bohb = _bohb(space, seed=4)
    rng = np.random.default_rng(4)
    for i in rng.choice(space.size, 300, replace=False):
        codes = space.op_codes[i]
        bohb.observe(space.arch_at(int(i)), 81.0, float((codes == 3).sum() + 0.5 * (codes == 2).sum()))
    _, good, bad = bohb.model()
    picks = space.encode([bohb.model_sample(good, bad) for _ in range(300)], "index")
    count = (picks == 3).sum(axis=1)
    # 1.2 is the exact uniform mean; the standard error of 300 draws is below 0.07
    assert count.mean() > 1.2 + 10 * count.std(ddof=1) / math.sqrt(count.size)


@pytest.mark.parametrize("fraction", [1 / 3, 0.0, 1.0])
def test_random_fraction_once_a_model_exists(space, fraction):
    bohb = _bohb(space, seed=7, random_fraction=fraction)
    rng = np.random.default_rng(7)
    for i in rng.choice(space.size, 40, replace=False):
        bohb.observe(space.arch_at(int(i)), 81.0, rng.random())
    flags = [bohb.sample_config(1.0)[1] for _ in range(900)]
    p_model = 1 - fraction
    got = np.mean(flags)
    assert abs(got - p_model) <= 4 * math.sqrt(p_model * (1 - p_model) / len(flags)) + 1e-12


def test_without_a_model_bohb_samples_at_random(space):
    bohb = _bohb(space, seed=8)
    proposals = _drive(bohb, space, 81)  # the first rung of the first bracket: no data yet
    assert not any(p.tag[3] for p in proposals[:7])  # no model before min_points results
    later = _drive(bohb, space, 200)
    assert any(p.tag[3] for p in later)


def test_bohb_is_deterministic(space):
    runs = [[p.arch for p in _drive(_bohb(space, seed=s), space, 250)] for s in (9, 9, 10)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_bohb_refuses_bad_hyperparameters(space):
    for hp in ({"random_fraction": 1.5}, {"top_n_percent": 0}, {"num_samples": 0}, {"min_bandwidth": 0.0}):
        with pytest.raises(StrategyError):
            _bohb(space, **hp)
