"""Hyperband and BOHB: the bracket schedule against Li et al. 2018, successive halving, the BOHB
model (Falkner et al. 2018 / HpBandSter rules), the engine end to end on a synthetic store."""
from __future__ import annotations

import math
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from harness.engine import Budget, run_search
from harness.spaces import get_space
from harness.strategies import Objective, Observation, Problem, StrategyError, make_strategy
from harness.strategies.bohb import CategoricalKDE
from harness.strategies.hyperband import hyperband_brackets, snap_budget
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


@pytest.mark.parametrize("r_min, r_max, eta",
                         [(1, 27, 3), (1, 16, 2), (1, 256, 4), (4, 108, 3), (1, 200, 3), (2, 64, 2), (1, 1000, 10)])
def test_brackets_follow_the_formulas(r_min, r_max, eta):
    got = hyperband_brackets(r_min, r_max, eta)
    want = _li_algorithm_1(r_min, r_max, eta)
    assert [[n for n, _ in b] for b in got] == [[n for n, _ in b] for b in want]
    for gb, wb in zip(got, want, strict=True):
        assert [r for _, r in gb] == pytest.approx([r for _, r in wb], rel=1e-12)
    # successive halving keeps floor(n_i / eta); every bracket ends at the max budget
    for bracket in got:
        assert all(b[0] == a[0] // eta for a, b in zip(bracket, bracket[1:], strict=False))
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
    for rung, nxt in zip(rungs, rungs[1:], strict=False):
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
    runs = [[p.arch for p in _drive(make_strategy("hyperband", space, _problem(), np.random.default_rng(s)), space,
                                    200)]
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
    assert "\n" not in str(info.value) and "nominal_budgets=true" in str(info.value)


@pytest.mark.parametrize("strategy", ["hyperband", "bohb"])
def test_engine_run_on_a_multi_fidelity_store(synth, strategy):
    store = synth.store
    df = run_search(synth, strategy, seed=3, budget=Budget(evaluations=200))
    assert len(df) == 200
    assert df.fidelity.tolist()[:121] == [r for n, r in PAPER_TABLE_R81_ETA3[0] for _ in range(n)]
    # a promoted configuration is charged the cumulative (from-scratch) cost at its new fidelity
    want = [store.query("train_time", [row], fidelity=f, seed_policy="fixed", seed=s)[0]
            for row, f, s in zip(df.arch_index, df.fidelity, df.seed_used, strict=True)]
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
    codes = space.encode(list(archs[20:60]), "index")  # what was observed at budget 3.0, encoded afresh
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


# -- HpBandSter's bracket sizes (issue 19) ------------------------------------------------------------
# HpBandSter `optimizers/bohb.py` (= hyperband.py) `get_next_iteration`, evaluated by hand:
#   max_SH_iter = -int(log(min/max) / log(eta)) + 1;  s = max_SH_iter - 1 - (iteration % max_SH_iter)
#   n0 = int(floor(max_SH_iter / (s + 1)) * eta**s);  ns = [max(int(n0 * eta**-i), 1) for i in 0..s]
#   budgets = max_budget * eta ** -linspace(max_SH_iter - 1, 0, max_SH_iter)
# 12 -> 200, eta 3: log(12/200)/log(3) = -2.56, max_SH_iter = 3, budgets 22.2, 66.7, 200;
#   s = 2: n0 = floor(3/3) * 9 = 9 -> 9, 3, 1;  s = 1: n0 = floor(3/2) * 3 = 3 -> 3, 1;  s = 0: n0 = 3 -> 3.
# 1 -> 81, eta 3: max_SH_iter = 5; n0 = 1*81, 1*27, 1*9, 2*3, 5*1 -> 81..1, 27..1, 9, 3, 1, 6, 2, 5.
HPBANDSTER_12_200_ETA3 = [[(9, 200 / 9), (3, 200 / 3), (1, 200.0)], [(3, 200 / 3), (1, 200.0)], [(3, 200.0)]]
HPBANDSTER_1_81_ETA3 = [
    [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    [(27, 3), (9, 9), (3, 27), (1, 81)],
    [(9, 9), (3, 27), (1, 81)],
    [(6, 27), (2, 81)],
    [(5, 81)],
]


def _hpbandster_float(min_budget: float, max_budget: float, eta: float) -> list[list[tuple[int, float]]]:
    """HpBandSter's own float expressions, transcribed (valid where its float log is not on an integer)."""
    max_sh_iter = -int(np.log(min_budget / max_budget) / np.log(eta)) + 1
    budgets = max_budget * np.power(eta, -np.linspace(max_sh_iter - 1, 0, max_sh_iter))
    out = []
    for s in range(max_sh_iter - 1, -1, -1):
        n0 = int(np.floor(max_sh_iter / (s + 1)) * eta**s)
        ns = [max(int(n0 * eta ** (-i)), 1) for i in range(s + 1)]
        out.append(list(zip(ns, budgets[-s - 1:].tolist(), strict=True)))
    return out


@pytest.mark.parametrize("lo, hi, eta, want", [(12, 200, 3, HPBANDSTER_12_200_ETA3), (1, 81, 3, HPBANDSTER_1_81_ETA3)])
def test_hpbandster_bracket_sizes_by_hand(lo, hi, eta, want):
    got = hyperband_brackets(lo, hi, eta, "hpbandster")
    assert [[n for n, _ in b] for b in got] == [[n for n, _ in b] for b in want]
    for gb, wb in zip(got, want, strict=True):
        assert [r for _, r in gb] == pytest.approx([r for _, r in wb], rel=1e-12)


@pytest.mark.parametrize("lo, hi, eta",
                         [(12, 200, 3), (1, 200, 3), (4, 108, 3), (1, 16, 2), (1, 256, 4), (3, 100, 2.5)])
def test_hpbandster_rule_equals_its_float_code(lo, hi, eta):
    got = hyperband_brackets(lo, hi, eta, "hpbandster")
    want = _hpbandster_float(lo, hi, eta)
    assert [[n for n, _ in b] for b in got] == [[n for n, _ in b] for b in want]
    for gb, wb in zip(got, want, strict=True):
        assert [r for _, r in gb] == pytest.approx([r for _, r in wb], rel=1e-12)


def test_li_and_hpbandster_differ_where_the_issue_says():
    li = hyperband_brackets(12, 200, 3, "li")
    assert [[n for n, _ in b] for b in li] == [[9, 3, 1], [5, 1], [3]]  # ceil(3/2 * 3) = 5
    assert [[n for n, _ in b] for b in hyperband_brackets(12, 200, 3, "hpbandster")] == [[9, 3, 1], [3, 1], [3]]


def test_bohb_defaults_to_hpbandster_and_hyperband_to_li(space):
    problem = _problem((12.0, 200.0))
    hb = make_strategy("hyperband", space, problem, np.random.default_rng(0), {"eta": 3})
    bo = make_strategy("bohb", space, problem, np.random.default_rng(0), {"eta": 3})
    assert [[n for n, _ in b] for b in hb.brackets] == [[9, 3, 1], [5, 1], [3]]
    assert [[n for n, _ in b] for b in bo.brackets] == [[9, 3, 1], [3, 1], [3]]


# -- nominal budgets --------------------------------------------------------------------------------
PAPER_BOHB = {"eta": 3.0, "min_budget": 12.0, "max_budget": 200.0, "nominal_budgets": True, "num_samples": 4,
              "random_fraction": 0.0, "min_bandwidth": 0.3}  # conf/strategy/bohb_nb201.yaml


@pytest.mark.parametrize("strategy", ["hyperband", "bohb"])
def test_nominal_budgets_run_on_one_fidelity_and_evaluate_it_always(space, strategy):
    shared = ("eta", "min_budget", "max_budget", "nominal_budgets")
    hp = {k: v for k, v in PAPER_BOHB.items() if strategy == "bohb" or k in shared}
    hp["bracket_rule"] = "hpbandster"
    strat = make_strategy(strategy, space, _problem((12.0,)), np.random.default_rng(2), hp)
    proposals = _drive(strat, space, 60, value=lambda sp, arch, fid: _value(sp, arch, 12.0))
    assert {p.fidelity for p in proposals} == {None}  # None: the benchmark's highest fidelity
    cycle = [200 / 9] * 9 + [200 / 3] * 3 + [200.0] + [200 / 3] * 3 + [200.0] + [200.0] * 3
    assert [p.tag[4] for p in proposals] == pytest.approx([cycle[i % 20] for i in range(60)])
    # a promoted configuration is one of its rung's best, evaluated again at the next budget
    first = [p.arch for p in proposals[:9]]
    values = [_value(space, a, 12.0) for a in first]
    assert {p.arch for p in proposals[9:12]} == {first[i] for i in np.argsort(values)[-3:]}


@pytest.mark.parametrize("hp, match", [
    ({"nominal_budgets": True}, "nominal_budgets=true needs 0 < min_budget <= max_budget"),
    ({"nominal_budgets": True, "min_budget": 12.0}, "min_budget=12.0, max_budget=0.0"),
    ({"bracket_rule": "ceil"}, "bracket_rule must be one of li, hpbandster"),
    ({"budget_rounding": "nearest"}, "budget_rounding must be one of up, down"),
    ({"incumbent_rule": "last"}, "incumbent_rule must be one of max_budget, any_budget"),
])
def test_budget_settings_are_refused_in_one_line(space, hp, match):
    for strategy in ("hyperband", "bohb"):
        with pytest.raises(StrategyError, match=match) as info:
            make_strategy(strategy, space, _problem((12.0,)), np.random.default_rng(0), hp)
        assert "\n" not in str(info.value)


def test_nominal_incumbent_is_the_best_at_the_max_budget(data_home):
    """The engine's pick with nominal budgets is HpBandSter's get_incumbent_id: the best loss among
    the results at the max budget (before any, the largest budget so far), not the best seen."""
    from harness.benchmarks import load_benchmark

    bench = load_benchmark("nb201/cifar10-12ep")
    cycle = np.array([200 / 9] * 9 + [200 / 3] * 3 + [200.0] + [200 / 3] * 3 + [200.0] + [200.0] * 3)
    differs = 0
    for seed in range(6):
        traj = run_search(bench, "bohb", seed=seed, budget=Budget(sim_seconds=12000), hyperparameters=PAPER_BOHB)
        budgets = cycle[np.arange(len(traj)) % len(cycle)]
        np.testing.assert_allclose(traj["budget"].to_numpy(), budgets, rtol=1e-12)  # recorded in the trajectory
        valid, archs = traj["valid"].to_numpy(), traj["arch"].tolist()
        for step in range(len(traj)):  # the incumbent after every step, recomputed independently
            level = budgets[: step + 1].max()
            eligible = [i for i in range(step + 1) if budgets[i] == level]
            best = max(eligible, key=lambda i: (valid[i], -i))  # earliest on ties
            assert traj["incumbent_arch"].iloc[step] == archs[best]
            differs += traj["incumbent_arch"].iloc[step] != archs[int(np.argmax(valid[: step + 1]))]
        assert set(traj["fidelity"]) == {12.0} and 80 <= len(traj) <= 125
    assert differs > 0  # the rule matters: a new best at a low budget waits for its promotion


def test_any_budget_incumbent_is_the_best_seen(synth):
    hp = {"incumbent_rule": "any_budget"}
    traj = run_search(synth, "bohb", seed=4, budget=Budget(evaluations=150), hyperparameters=hp)
    valid = traj["valid"].to_numpy()
    for step in (10, 80, 149):
        assert traj["arch"].iloc[int(np.argmax(valid[: step + 1]))] == traj["incumbent_arch"].iloc[step]


# -- the NATS-Bench variant: budgets 1.33, 4, 12 truncated to epochs --------------------------------
def test_snap_budget_rounds_up_or_down():
    epochs = [float(e) for e in range(1, 13)]
    assert [snap_budget(b, epochs, "down") for b in (12 / 9, 4.0, 12.0, 3.9999999999)] == [1.0, 4.0, 12.0, 4.0]
    assert [snap_budget(b, epochs, "up") for b in (12 / 9, 4.0, 12.0)] == [2.0, 4.0, 12.0]
    with pytest.raises(StrategyError, match="below the benchmark's smallest fidelity"):
        snap_budget(0.5, epochs, "down")


def test_nats_preset_reads_epochs_1_4_12(space):
    """exps/NATS-algos/bohb.py: iepoch = int(budget) - 1 on the 12-epoch schedule (fidelities 1..12, as
    the official nats-tss/*-12ep stores): budget 12/9 = 1.33 is epoch 1, not 2."""
    from omegaconf import OmegaConf

    conf = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "strategy" / "bohb_nats.yaml")
    hp = {k: v for k, v in OmegaConf.to_container(conf).items() if k != "defaults"}
    strat = make_strategy("bohb", space, _problem(tuple(float(e) for e in range(1, 13))), np.random.default_rng(0), hp)
    assert strat.brackets == [[(9, 1.0), (3, 4.0), (1, 12.0)], [(3, 4.0), (1, 12.0)], [(3, 12.0)]]
    proposals = _drive(strat, space, 20)
    assert [p.fidelity for p in proposals] == [1.0] * 9 + [4.0] * 3 + [12.0] + [4.0] * 3 + [12.0] * 4


def test_nats_preset_end_to_end_on_a_12_epoch_schedule(tmp_path):
    """The engine with strategy/bohb_nats on a store shaped like the official nats-tss/*-12ep ones
    (fidelities 1..12, cumulative train_time; tests/test_convert_nb201.py checks that the official
    files convert to exactly that): epochs 1, 4, 12 asked, each charged its cumulative time, and the
    pick the best result at any epoch."""
    from omegaconf import OmegaConf

    bench = synthetic_benchmark(tmp_path / "nats12.h5", fidelities=tuple(float(e) for e in range(1, 13)))
    conf = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "strategy" / "bohb_nats.yaml")
    hp = {k: v for k, v in OmegaConf.to_container(conf).items() if k not in ("defaults", "name")}
    try:
        traj = run_search(bench, "bohb", seed=0, budget=Budget(sim_seconds=20000), hyperparameters=hp)
        cycle = [1.0] * 9 + [4.0] * 3 + [12.0] + [4.0] * 3 + [12.0] + [12.0] * 3
        assert traj["fidelity"].tolist() == [cycle[i % 20] for i in range(len(traj))]
        time = bench.store.metric_array("train_time")
        fi = traj["fidelity"].to_numpy().astype(int) - 1
        np.testing.assert_array_equal(traj["cost"].to_numpy(), time[traj["arch_index"], traj["seed_used"], fi])
        best = int(np.argmax(traj["valid"].to_numpy()))
        assert traj["incumbent_arch"].iloc[-1] == traj["arch"].iloc[best]
    finally:
        bench.store.close()


# -- HpBandSter's KDE exactly (kde_rule = hpbandster) -----------------------------------------------
def _statsmodels_aitchison_aitken(h, xi, x, num_levels=None):
    """statsmodels.nonparametric.kernels.aitchison_aitken, transcribed (levels = distinct values)."""
    xi = xi.reshape(xi.size)
    if num_levels is None:
        num_levels = np.asarray(np.unique(xi).size)
    with np.errstate(divide="ignore"):
        kernel_value = np.ones(xi.size) * h / (num_levels - 1)
    idx = xi == x
    kernel_value[idx] = (idx * (1 - h))[idx]
    return kernel_value


def _statsmodels_pdf(data, bw, x):
    """KDEMultivariate(var_type='u' * d).pdf(x): gpke(...) / nobs, the mean over data of the products."""
    kval = np.empty(data.shape)
    for j in range(data.shape[1]):
        kval[:, j] = _statsmodels_aitchison_aitken(bw[j], data[:, j].astype(float), float(x[j]))
    with np.errstate(invalid="ignore", over="ignore"):
        return kval.prod(axis=1).sum(axis=0) / data.shape[0]


def test_hpbandster_kde_is_statsmodels_with_an_uncapped_bandwidth():
    rng = np.random.default_rng(3)
    choices = np.array([5, 5, 5, 3])
    data = np.stack([rng.integers(0, c, 9) for c in choices], axis=1)
    data[:, 3] = 2  # a constant column: statsmodels divides by zero levels - 1
    kde = CategoricalKDE(data, choices, 0.3, "hpbandster")
    raw = 1.06 * data.std(axis=0) * 9 ** (-1 / (4 + 4))  # statsmodels' normal_reference
    assert kde.bw == pytest.approx(np.maximum(raw, 0.3))  # clipped below at min_bandwidth only
    assert (kde.bw[:3] > 1).any()  # above (c - 1) / c and even 1: the regime of the NB201 paper's BOHB
    grid = np.array(list(product(*(range(c) for c in choices))))
    got = kde.pdf(grid)
    want = np.array([_statsmodels_pdf(data, kde.bw, x) for x in grid])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    assert got[finite] == pytest.approx(want[finite], rel=1e-12)
    assert (np.isinf(got) == np.isinf(want)).all()


def test_hpbandster_pick_follows_its_loop(space):
    """BOHB._hpbandster_pick against HpBandSter's get_config loop written out with Python's max()."""
    bohb = _bohb(space, kde_rule="hpbandster", num_samples=8)
    rng = np.random.default_rng(5)
    for trial in range(200):
        good = CategoricalKDE(rng.integers(0, 5, (7, 6)), np.full(6, 5), 0.3, "hpbandster")
        bad = CategoricalKDE(rng.integers(0, 5, (8, 6)), np.full(6, 5), 0.3, "hpbandster")
        if trial % 3 == 0:
            good.data[:, 0] = 1  # a constant column makes some densities infinite or NaN
            good.levels[0] = 1
        candidates = rng.integers(0, 5, (8, 6))
        index = bohb.table.indices(candidates)
        best, best_vector = np.inf, None
        for k in range(8):  # HpBandSter 0.7.4 config_generators/bohb.py get_config
            g, l_ = float(bad.pdf(candidates[k])[0]), float(good.pdf(candidates[k])[0])
            val = max(1e-32, g) / max(l_, 1e-32)  # Python floats: inf / inf is NaN, NaN keeps its place in max
            if not np.isfinite(val) and np.isfinite(l_):
                best_vector = k
                break
            if val < best:
                best, best_vector = val, k
        got = bohb._hpbandster_pick(candidates, index, good, bad)
        assert got == (None if best_vector is None else space.arch_at(int(index[best_vector])))


def test_kde_rule_is_checked(space):
    with pytest.raises(StrategyError, match="kde_rule must be one of bounded, hpbandster"):
        _bohb(space, kde_rule="statsmodels")


def test_pattern_counts_give_the_direct_kdes_split_bandwidths_and_densities():
    """harness.strategies.kde_counts (issue 20) against bohb.CategoricalKDE on the same data: the same
    good/bad sets at every step (ties, unmeasured results), bandwidths and densities to rounding."""
    from harness.strategies.bohb import CategoricalKDE
    from harness.strategies.kde_counts import IncrementalSplit

    rng = np.random.default_rng(0)
    n_choices = np.array([5, 5, 5, 5, 5, 5])
    split = IncrementalSplit(n_choices, 7, 15)
    codes, losses = [], []
    for _ in range(400):
        code = rng.integers(0, 5, size=6)
        loss = float(np.round(rng.normal(), 1)) if rng.random() > 0.1 else np.inf
        codes.append(code)
        losses.append(loss)
        split.add(code, loss)
        n = len(losses)
        n_good, n_bad = max(7, (15 * n) // 100), max(7, (85 * n) // 100)
        order = np.argsort(np.asarray(losses), kind="stable")
        good, bad = np.asarray(codes)[order[:n_good]], np.asarray(codes)[order[n_good:n_good + n_bad]]
        assert (split.good.n, split.bad.n) == (len(good), len(bad))
        if len(good) <= 6 or len(bad) <= 6:
            continue
        for counts, data in ((split.good, good), (split.bad, bad)):
            direct = CategoricalKDE(data, n_choices, 1e-3)
            np.testing.assert_allclose(counts.bandwidth(1e-3), direct.bw, rtol=1e-12, atol=1e-15)
            points = rng.integers(0, 5, size=(32, 6))
            np.testing.assert_allclose(counts.pdf(points, direct.bw), direct.pdf(points), rtol=1e-12, atol=0)
        ranks = rng.integers(len(good), size=5)
        np.testing.assert_array_equal(split.good_rows(ranks), good[ranks])
