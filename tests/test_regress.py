"""`nas-harness regress`: statistics against closed forms, planted regressions, false-positive rate, and
every way a result folder can be wrong."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness import regress as rg
from harness.engine import TRAJECTORY_COLUMNS, Budget, run_search
from harness.results import MANIFEST, TRAJECTORY, run_id, write_trajectory
from harness.stats_cli import add_rank_stats_parser, add_regress_parser
from harness.strategies.base import Proposal, Strategy, StrategyConfig
from harness.testing import assert_no_regression
from tabular.atomic import atomic_write_bytes
from tabular.errors import NasHarnessError
from tabular.hashing import sha256_file

SHA = "5" * 64


# -- a planted regression: random search that re-proposes every architecture `repeats` times ------
@dataclass
class RepeatingConfig(StrategyConfig):
    repeats: int = 4


class RepeatingRandomSearch(Strategy):
    """Uniform random search that wastes evaluations on repeats: with repeats=4 it sees a quarter as
    many architectures as rs for the same budget (the kind of bug regress must catch)."""

    name = "repeating_rs"
    Config = RepeatingConfig

    def __init__(self, space, problem, rng, config):
        super().__init__(space, problem, rng, config)
        self._arch: str | None = None
        self._left = 0

    def ask(self) -> Proposal:
        if self._left == 0:
            self._arch, self._left = self.space.sample(self.rng), self.config.repeats
        self._left -= 1
        return Proposal(self._arch)

    def tell(self, proposal, observation) -> None:
        pass


# -- result folders -------------------------------------------------------------------------------
def run_config(
    seed: int,
    budget: int | None,
    bench: str = "nb201/cifar10",
    strategy: str = "rs",
    sim_seconds: float | None = None,
    **params,
) -> dict:
    """A resolved run config shaped like the one `nas-harness run` records."""
    return {"benchmark": {"name": bench, "seed_policy": "sample", "fixed_seed": None, "objectives": None},
            "budget": {"evaluations": budget, "sim_seconds": sim_seconds}, "n_workers": 1, "seed": seed,
            "strategy": {"name": strategy, "charge_repeats": True, **params}}


def write_run(root: Path, config: dict, regret, *, sha: str = SHA, status: str = "complete") -> Path:
    """A run folder with the files and manifest fields that `nas-harness run` writes. `regret` is a
    regret curve (the other columns are zeros) or a whole trajectory from run_search."""
    rid = run_id(config)
    run_dir = root / rid
    run_dir.mkdir(parents=True)
    if isinstance(regret, pd.DataFrame):
        traj = regret
    else:
        regret = np.asarray(regret, dtype=float)
        traj = pd.DataFrame({c: np.zeros(regret.size) for c in TRAJECTORY_COLUMNS})
        traj["step"] = np.arange(1, regret.size + 1)
        traj["regret"] = regret
    write_trajectory(run_dir / TRAJECTORY, traj)
    manifest = {"run_id": rid, "status": status, "config": config, "strategy": config["strategy"]["name"],
                "benchmark": config["benchmark"]["name"], "seed": config["seed"], "benchmark_sha256": sha,
                "trajectory_sha256": sha256_file(run_dir / TRAJECTORY), "trajectory_rows": len(traj),
                "versions": {"nas-harness": "0.1.0"}, "git_commit": None}
    atomic_write_bytes(run_dir / MANIFEST, json.dumps(manifest).encode())
    return run_dir


def synthetic_set(root: Path, level: float, seeds=range(8), budget: int = 20, sha: str = SHA, **params) -> Path:
    """Runs whose regret curve decays to `level` + seed noise (so the final and mean regret are known)."""
    for seed in seeds:
        noise = 0.05 * ((seed * 7919) % 13) / 13
        write_run(root, run_config(seed, budget, **params), level + noise + np.linspace(1.0, 0.0, budget), sha=sha)
    return root


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nas-harness")
    sub = parser.add_subparsers(dest="command", required=True)
    add_regress_parser(sub)
    add_rank_stats_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def group_set(name: str, final, auc, budget: int = 100) -> rg.GroupSet:
    final, auc = np.asarray(final, float), np.asarray(auc, float)
    group = rg.Group("nb201/cifar10", "rs", "rs", {}, budget, [SHA], list(range(final.size)), final, auc)
    return rg.GroupSet(Path(name), {(group.benchmark, group.strategy): group})


# -- statistics -----------------------------------------------------------------------------------
def test_holm_by_hand_and_against_the_step_down_procedure():
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06.
    np.testing.assert_allclose(rg.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02], atol=1e-15)
    rng = np.random.default_rng(0)
    for m in range(1, 9):
        for _ in range(25):
            p = np.round(rng.uniform(0, 0.1, m) ** 1.5, 4)  # rounding makes ties
            adjusted = rg.holm(p)
            for alpha in (0.005, 0.01, 0.02, 0.05):
                # Holm: walk up the sorted p-values, reject while p_(j) < alpha / (m - j), stop at the first failure.
                rejected = set()
                for j, i in enumerate(np.argsort(p, kind="stable")):
                    if p[i] * (m - j) >= alpha:
                        break
                    rejected.add(int(i))
                assert rejected == set(np.flatnonzero(adjusted < alpha).tolist())
            assert np.all(adjusted >= p) and np.all(adjusted <= 1)


def test_worse_p_value_is_one_sided_mann_whitney_candidate_greater():
    rng = np.random.default_rng(1)
    base, cand = rng.normal(0, 1, 20), rng.normal(0.8, 1, 25)
    assert rg.worse_p_value(base, cand) == stats.mannwhitneyu(cand, base, alternative="greater").pvalue
    assert rg.worse_p_value(base, cand) < 0.05 < 0.95 < rg.worse_p_value(cand, base)
    assert rg.worse_p_value(np.zeros(5), np.zeros(5)) == 1.0  # all tied: no evidence


def test_bootstrap_ci_of_mean_difference():
    rng = np.random.default_rng(2)
    base, cand = rng.normal(0, 1, 30), rng.normal(0.5, 1, 30)
    a = rg.bootstrap_mean_diff_ci(base, cand, n_boot=2000, seed=3)
    assert (
        a
        == rg.bootstrap_mean_diff_ci(base, cand, n_boot=2000, seed=3)
        != rg.bootstrap_mean_diff_ci(base, cand, n_boot=2000, seed=4)
    )
    diff = cand.mean() - base.mean()
    assert a[0] < diff < a[1]
    # The percentile interval is close to the normal-theory one for these sample sizes.
    se = np.sqrt(base.var(ddof=1) / 30 + cand.var(ddof=1) / 30)
    assert a[0] == pytest.approx(diff - 1.96 * se, abs=0.1) and a[1] == pytest.approx(diff + 1.96 * se, abs=0.1)


def test_flags_need_both_tolerance_and_significance():
    base = np.linspace(0.0, 1.0, 20)
    report = rg.compare_sets(
        group_set("b", base, base), group_set("c", base + 0.5, base + 0.05), tolerance=0.1, n_boot=100
    )
    final, auc = report.rows
    assert final.regression and final.p_holm < 0.05 and final.diff == pytest.approx(0.5)
    assert not auc.regression and auc.diff == pytest.approx(0.05)  # within tolerance
    better = rg.compare_sets(group_set("b", base, base), group_set("c", base - 0.5, base - 0.5), n_boot=100)
    assert not better.regressed  # improvements never fail the gate


# -- the real engine: false-positive rate and a planted regression --------------------------------
@pytest.fixture(scope="module")
def rs_seeds(nb201_cifar10):
    """Final regret and AUC of 200 seeds of rs on nb201/cifar10 at 100 evaluations (about 3 s)."""
    final, auc = [], []
    for seed in range(200):
        regret = run_search(nb201_cifar10, "rs", seed=seed, budget=Budget(evaluations=100)).regret.to_numpy()
        final.append(regret[-1])
        auc.append(regret.mean())
    return np.array(final), np.array(auc)


def test_false_positive_rate_over_random_seed_splits(rs_seeds):
    """Two halves of one strategy's seeds are flagged at most alpha + margin of the time.

    100 random splits of 200 seeds into 100 + 100. Holm over the two metrics bounds the per-split
    false alarm probability by alpha = 0.05; the margin 0.05 allows for sampling (P[Bin(100, 0.05) > 10]
    is about 1 %). docs/STATISTICS.md reports the rate over 1000 splits.
    """
    final, auc = rs_seeds
    rng = np.random.default_rng(2024)
    flagged = 0
    for _ in range(100):
        perm = rng.permutation(200)
        a, b = perm[:100], perm[100:]
        flagged += rg.compare_sets(
            group_set("a", final[a], auc[a]), group_set("b", final[b], auc[b]), n_boot=1
        ).regressed
    assert flagged / 100 <= 0.05 + 0.05


def test_planted_regression_is_flagged_and_same_strategy_is_not(nb201_cifar10, rs_seeds):
    final, auc = rs_seeds
    worse = [
        run_search(
            nb201_cifar10, f"{__name__}:RepeatingRandomSearch", seed=1000 + s, budget=Budget(evaluations=100)
        ).regret.to_numpy()
        for s in range(30)
    ]
    wf, wa = np.array([r[-1] for r in worse]), np.array([r.mean() for r in worse])
    report = rg.compare_sets(group_set("rs", final[:30], auc[:30]), group_set("worse", wf, wa), n_boot=500)
    assert all(r.regression for r in report.rows), rg.format_table(report)
    same = rg.compare_sets(
        group_set("rs", final[:30], auc[:30]), group_set("rs2", final[30:60], auc[30:60]), n_boot=500
    )
    assert not same.regressed, rg.format_table(same)


def test_regularized_evolution_with_sample_size_1_is_flagged(nb201_cifar10):
    """The issue's example: RE degraded to a random mutation walk (sample_size=1)."""
    from harness.strategies import StrategyError, get_strategy_class

    try:
        get_strategy_class("re")
    except StrategyError:
        pytest.skip("regularized evolution is not available in this checkout")

    def runs(hp, seeds):
        curves = [
            run_search(
                nb201_cifar10, "re", seed=s, budget=Budget(evaluations=100), hyperparameters=hp
            ).regret.to_numpy()
            for s in seeds
        ]
        return [c[-1] for c in curves], [c.mean() for c in curves]

    report = rg.compare_sets(
        group_set("re", *runs({}, range(30))), group_set("re1", *runs({"sample_size": 1}, range(30, 60))), n_boot=500
    )
    assert any(r.regression for r in report.rows), rg.format_table(report)


# -- result folders, CLI, baselines ---------------------------------------------------------------
@pytest.fixture(scope="module")
def engine_sets(nb201_cifar10, tmp_path_factory):
    """Folders of real trajectories: rs seeds 0-19, rs seeds 20-39, and the planted regression
    written under the strategy name rs (as if a code change had broken rs)."""
    root = tmp_path_factory.mktemp("engine_sets")
    for name, strategy, seeds in [("base", "rs", range(20)), ("same", "rs", range(20, 40)),
                                  ("worse", f"{__name__}:RepeatingRandomSearch", range(20))]:
        for seed in seeds:
            traj = run_search(nb201_cifar10, strategy, seed=seed, budget=Budget(evaluations=60))
            write_run(root / name, run_config(seed, 60, replace=False), traj["regret"], sha=nb201_cifar10.store.sha256)
    return root


def test_cli_exit_codes_report_and_pytest_helper(engine_sets, tmp_path, capsys):
    base, same, worse = (engine_sets / n for n in ("base", "same", "worse"))
    assert cli(["regress", str(base), str(same), "--bootstrap", "200", "--out", str(tmp_path)]) == 0
    assert "no significant regression" in capsys.readouterr().out
    assert (tmp_path / "regress.md").read_text().startswith("# nas-harness regress")
    assert cli(["regress", str(base), str(worse), "--bootstrap", "200", "--out", str(tmp_path / "w.md")]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "significant regression(s)" in out
    # A huge tolerance forgives the same data.
    assert cli(["regress", str(base), str(worse), "--tolerance", "100", "--out", str(tmp_path)]) == 0
    assert_no_regression(same, base, n_boot=200)
    with pytest.raises(AssertionError, match="REGRESSION"):
        assert_no_regression(worse, base, n_boot=200)


def test_compact_baseline_round_trip(engine_sets, tmp_path):
    base, worse = engine_sets / "base", engine_sets / "worse"
    out = tmp_path / "baseline.json"
    assert cli(["regress", "--save-baseline", str(base), str(out)]) == 0
    doc = json.loads(out.read_text())
    assert out.stat().st_size < 20_000 and doc["groups"][0]["budget"] == 60 and len(doc["groups"][0]["seeds"]) == 20
    assert doc["groups"][0]["benchmark_sha256"] == [
        json.loads(next(base.glob("*/manifest.json")).read_text())["benchmark_sha256"]
    ]
    assert {"numpy", "scipy"} <= set(doc["versions"])
    from_json = rg.regress(out, worse, n_boot=200)
    from_dir = rg.regress(base, worse, n_boot=200)
    assert [(r.p, r.diff, r.ci) for r in from_json.rows] == [(r.p, r.diff, r.ci) for r in from_dir.rows]
    assert cli(["regress", str(out), str(worse), "--out", str(tmp_path)]) == 1
    with pytest.raises(NasHarnessError, match="--force"):
        rg.save_baseline(base, out)
    with pytest.raises(NasHarnessError, match="cannot be cut"):
        rg.regress(out, worse, budget=30)


def test_real_app_run_folders_are_read(data_home, nb201_cifar10, tmp_path):
    """Folders written by the app's own run writer (not our test helper) load with the right values."""
    from harness.app import run_config as app_run_config

    for seed in (0, 1, 2):
        config = run_config(seed, 25, replace=False)
        assert app_run_config(config, [], tmp_path)["status"] == "complete"
    loaded = rg.load_runs(tmp_path)
    assert len(loaded.runs) == 3 and not loaded.skipped
    for run in loaded.runs:
        regret = pd.read_parquet(run.path / TRAJECTORY)["regret"].to_numpy()
        assert run.final == regret[-1] and run.auc == pytest.approx(regret.mean(), abs=1e-15) and run.budget == 25
        assert run.benchmark_sha256 == nb201_cifar10.store.sha256 and run.strategy == "rs"


def test_partial_results_are_counted_and_bad_input_gets_one_line(tmp_path):
    base = synthetic_set(tmp_path / "base", 0.5)
    cand = synthetic_set(tmp_path / "cand", 0.5, seeds=range(8, 16))
    some_trajectory = (next(cand.glob("*/" + TRAJECTORY))).read_bytes()
    orphan = cand / "orphan"  # not a RUN_ID folder: ignored, and said so
    orphan.mkdir()
    (orphan / TRAJECTORY).write_bytes(some_trajectory)
    killed = cand / ("ab" * 8)  # a RUN_ID folder without manifest: a partial run
    killed.mkdir()
    (killed / TRAJECTORY).write_bytes(some_trajectory)
    write_run(cand, run_config(99, 20), np.ones(20), status="failed")
    report = rg.regress(base, cand, n_boot=50)
    assert report.rows[0].n_cand == 8
    text = " ".join(report.notes)
    assert "used 8 runs, skipped 2" in text and "1 partial" in text and "1 failed" in text
    assert "ignored 1 folder(s) that are not RUN_ID folders: orphan" in text
    (tmp_path / "empty").mkdir()
    with pytest.raises(NasHarnessError, match="no runs under"):
        rg.regress(base, tmp_path / "empty")
    with pytest.raises(NasHarnessError, match="does not exist"):
        rg.regress(base, tmp_path / "missing")
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(NasHarnessError, match="not a regress baseline"):
        rg.regress(tmp_path / "junk.json", cand)


@pytest.mark.parametrize("content", ["{}", "not json", '{"format": "nas-harness/regress-baseline", "groups": []}'])
def test_a_bad_candidate_file_is_called_the_candidate(tmp_path, content, capsys):
    """`regress A FILE`: the error about FILE names it the candidate, never "baseline" (issue 18, item 14)."""
    base = synthetic_set(tmp_path / "base", 0.5)
    bad = tmp_path / "cand.json"
    bad.write_text(content)
    with pytest.raises(NasHarnessError) as err:
        rg.regress(base, bad)
    message = str(err.value)
    assert message.startswith(f"candidate {bad} ") and "baseline " + str(bad) not in message and "\n" not in message
    with pytest.raises(NasHarnessError, match=f"^candidate {tmp_path / 'missing.json'} does not exist"):
        rg.regress(base, tmp_path / "missing.json")
    with pytest.raises(NasHarnessError, match=f"^baseline {bad} "):
        rg.regress(bad, base)


def test_data_change_is_refused_unless_allowed(tmp_path):
    base = synthetic_set(tmp_path / "base", 0.5)
    cand = synthetic_set(tmp_path / "cand", 0.5, sha="6" * 64)
    with pytest.raises(NasHarnessError, match="--allow-data-change") as err:
        rg.regress(base, cand)
    assert "\n" not in str(err.value) and "555555555555" in str(err.value)
    assert cli(["regress", str(base), str(cand), "--allow-data-change", "--out", str(tmp_path)]) == 0
    report = rg.regress(base, cand, allow_data_change=True, n_boot=50)
    assert any(n.startswith("WARNING: benchmark store") for n in report.notes)


def test_budgets_mixed_truncated_and_padded(tmp_path):
    base = synthetic_set(tmp_path / "base", 0.5, budget=20)
    cand = synthetic_set(tmp_path / "cand", 0.5, budget=30)
    with pytest.raises(NasHarnessError, match="--budget 20"):
        rg.regress(base, cand)
    report = rg.regress(base, cand, budget=20, n_boot=50)
    curve = 0.5 + np.linspace(1.0, 0.0, 30)[:20]  # seed 0 has zero noise
    cand_groups = rg.load_result_set(cand, budget=20).groups
    assert cand_groups[("nb201/cifar10", "rs")].auc[0] == pytest.approx(curve.mean())
    assert cand_groups[("nb201/cifar10", "rs")].final[0] == pytest.approx(curve[-1])
    assert report.rows[0].n_base == report.rows[0].n_cand == 8
    synthetic_set(tmp_path / "mixed", 0.5, budget=20)
    synthetic_set(tmp_path / "mixed", 0.5, seeds=range(8, 10), budget=30)
    with pytest.raises(NasHarnessError, match="different budgets"):
        rg.regress(base, tmp_path / "mixed")
    with pytest.raises(NasHarnessError, match="fewer than 25 evaluations"):
        rg.regress(base, cand, budget=25)  # base runs have only 20 evaluations
    # A run that ended early (strategy out of proposals) keeps its incumbent until step B.
    short = tmp_path / "short"
    write_run(short, run_config(0, 10), [3.0, 2.0, 1.0, 1.0])
    (run,) = rg.load_runs(short).runs
    assert run.final == 1.0 and run.auc == pytest.approx((3 + 2 + 1 + 1 + 6 * 1.0) / 10) and run.padded == 6


def test_strategy_variants_are_labelled_and_matched(tmp_path):
    base = synthetic_set(tmp_path / "base", 0.5, replace=False)
    cand = synthetic_set(tmp_path / "cand", 0.5, replace=False)
    synthetic_set(tmp_path / "cand", 0.9, replace=True)
    groups = rg.load_result_set(cand).groups
    assert set(groups) == {("nb201/cifar10", "rs[replace=false]"), ("nb201/cifar10", "rs[replace=true]")}
    report = rg.regress(base, cand, n_boot=50)
    assert {r.strategy for r in report.rows} == {"rs[replace=false]"} and report.only_candidate == [
        "nb201/cifar10 x rs[replace=true]"
    ]
    assert not report.regressed


def test_cli_argument_errors(tmp_path):
    with pytest.raises(NasHarnessError, match="BASELINE CANDIDATE"):
        cli(["regress", str(tmp_path)])
    with pytest.raises(NasHarnessError, match="no other paths"):
        cli(["regress", str(tmp_path), "--save-baseline", str(tmp_path), str(tmp_path / "b.json")])
    base = synthetic_set(tmp_path / "base", 0.5)
    with pytest.raises(NasHarnessError, match="--alpha"):
        cli(["regress", str(base), str(base), "--alpha", "1.5"])


# -- Kendall's W from a results folder (rank-stats --strategies) -----------------------------------
def test_strategy_concordance_across_benchmarks_and_seed_splits(tmp_path, capsys):
    from harness.rank_stats import strategy_concordance

    # Mean final regret orders: b1 A<B<C, b2 A<C<B, b3 B<A<C. Rank sums 4, 6, 8 around a mean of 6:
    # S = 8 and W = 12 S / (m^2 (n^3 - n)) = 96 / 216.
    levels = {
        "b1": {"A": 0.1, "B": 0.2, "C": 0.3},
        "b2": {"A": 0.1, "B": 0.3, "C": 0.2},
        "b3": {"A": 0.2, "B": 0.1, "C": 0.3},
    }
    for bench, by_strategy in levels.items():
        for strat, level in by_strategy.items():
            for seed in range(3):
                regret = np.full(10, level + 0.001 * seed)
                write_run(tmp_path, run_config(seed, 10, bench=f"nb201/{bench}", strategy=strat), regret)
    res = strategy_concordance(tmp_path, by="benchmark")
    assert res.overall.w == pytest.approx(96 / 216, abs=1e-12) and res.overall.m == 3 and res.overall.n == 3
    assert res.overall.p_value == pytest.approx(stats.chi2.sf(3 * 2 * 96 / 216, 2), rel=1e-12)
    # Within each benchmark the strategies are separated by far more than the seed noise: every split agrees.
    split = strategy_concordance(tmp_path, by="seeds", splits=2)
    assert all(c.w == pytest.approx(1.0) for c in split.per_benchmark.values()) and set(split.per_benchmark) == {
        f"nb201/{b}" for b in levels
    }
    assert cli(["rank-stats", "--strategies", str(tmp_path)]) == 0
    assert "Kendall's W = 0.4444" in capsys.readouterr().out
    with pytest.raises(NasHarnessError, match="fewer seeds"):
        strategy_concordance(tmp_path, by="seeds", splits=4)


# -- simulated-time budgets ------------------------------------------------------------------------
T = 100_000.0  # about 50 evaluations of nb201/cifar10 (200-epoch training times)


def _time_avg_by_hand(sim_time: np.ndarray, regret: np.ndarray, t_end: float) -> float:
    """Area under the step function, segment by segment, divided by the time from the first completion."""
    area, t0 = 0.0, sim_time[0]
    for i in range(sim_time.size):
        if sim_time[i] > t_end:
            break
        right = t_end if i + 1 == sim_time.size else min(sim_time[i + 1], t_end)
        area += regret[i] * (right - sim_time[i])
    return area / (t_end - t0)


def test_time_average_by_hand():
    from harness.report.budgets import time_average

    # [10, 30): 3, [30, 60): 2, [60, 100]: 1 -> (60 + 60 + 40) / 90; the row at 120 lies after the budget.
    assert time_average(np.array([10.0, 30.0, 60.0, 120.0]), np.array([3.0, 2.0, 1.0, 0.0]), 100.0) == pytest.approx(
        160 / 90, rel=1e-15
    )
    assert time_average(np.array([100.0]), np.array([4.0]), 100.0) == 4.0  # first completion at the budget itself


@pytest.fixture(scope="module")
def time_sets(nb201_cifar10, tmp_path_factory):
    """Real trajectories with budget.sim_seconds only (runs differ in their number of evaluations):
    rs seeds 0-19, rs seeds 20-39, the planted regression under the name rs, and rs with an
    evaluations budget (seeds 40-59)."""
    root = tmp_path_factory.mktemp("time_sets")
    sha = nb201_cifar10.store.sha256
    for name, strategy, seeds in [("base", "rs", range(20)), ("same", "rs", range(20, 40)),
                                  ("worse", f"{__name__}:RepeatingRandomSearch", range(20))]:
        for seed in seeds:
            traj = run_search(nb201_cifar10, strategy, seed=seed, budget=Budget(sim_seconds=T))
            write_run(root / name, run_config(seed, None, sim_seconds=T, replace=False), traj, sha=sha)
    for seed in range(40, 60):
        traj = run_search(nb201_cifar10, "rs", seed=seed, budget=Budget(evaluations=60))
        write_run(root / "evals", run_config(seed, 60, replace=False), traj, sha=sha)
    return root


def test_time_budgeted_runs_are_read_at_the_time_budget(time_sets):
    loaded = rg.load_runs(time_sets / "base")
    assert len(loaded.runs) == 20 and not loaded.skipped
    lengths = set()
    for run in loaded.runs:
        traj = pd.read_parquet(run.path / TRAJECTORY).sort_values("step")
        lengths.add(len(traj))
        s, r = traj["sim_time"].to_numpy(), traj["regret"].to_numpy()
        assert run.budget_kind == "sim_seconds" and run.budget == T
        assert run.final == r[-1] and s[-1] <= T  # the engine stops before the evaluation that would end after T
        assert run.auc == pytest.approx(_time_avg_by_hand(s, r, T), rel=1e-12)
        # --time-budget cuts at an earlier time: the incumbent of the last evaluation completed by then.
        cut = rg.load_run(run.path, time_budget=T / 2)
        i = max(j for j in range(s.size) if s[j] <= T / 2)
        assert cut.final == r[i] and cut.auc == pytest.approx(_time_avg_by_hand(s, r, T / 2), rel=1e-12)
    assert len(lengths) > 3  # the runs really differ in their number of evaluations


def test_time_budgeted_planted_regression_is_flagged_and_same_strategy_is_not(time_sets):
    same = rg.regress(time_sets / "base", time_sets / "same", n_boot=200)
    assert not same.regressed and {r.budget for r in same.rows} == {"100,000 simulated s"}, rg.format_table(same)
    worse = rg.regress(time_sets / "base", time_sets / "worse", n_boot=200)
    assert all(r.regression for r in worse.rows), rg.format_table(worse)
    assert "time-avg regret (AUC)" in rg.format_table(worse)


def test_time_and_evaluation_budgets_need_a_common_cut(time_sets, tmp_path):
    with pytest.raises(NasHarnessError, match="--time-budget 100000") as err:
        rg.regress(time_sets / "base", time_sets / "evals")
    assert "\n" not in str(err.value)
    # 60 evaluations of rs reach about 120,000 s, so both sets know their incumbent at 50,000 s.
    report = rg.regress(time_sets / "base", time_sets / "evals", time_budget=50_000, n_boot=200)
    assert not report.regressed and report.rows[0].n_base == report.rows[0].n_cand == 20
    with pytest.raises(NasHarnessError, match="not both"):
        cli(["regress", str(time_sets / "base"), str(time_sets / "evals"), "--budget", "10", "--time-budget", "5e4"])
    # Cutting beyond what a run recorded skips it (counted): no incumbent is known after its time budget,
    # and a run the time budget stopped is never padded to more evaluations.
    with pytest.raises(NasHarnessError, match="20 time horizon shorter than 1,000,000 simulated s"):
        rg.load_runs(time_sets / "base", time_budget=T * 10)
    with pytest.raises(NasHarnessError, match=r"fewer than 200 evaluations \(the time budget ended the run\)"):
        rg.load_runs(time_sets / "base", budget=200)
    # A time-budget baseline records its kind (format version 2) and cannot be cut to another budget.
    out = tmp_path / "baseline.json"
    assert cli(["regress", "--save-baseline", str(time_sets / "base"), str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["version"] == 2 and doc["groups"][0]["budget_kind"] == "sim_seconds" and doc["groups"][0]["budget"] == T
    from_json, from_dir = (
        rg.regress(out, time_sets / "worse", n_boot=200),
        rg.regress(time_sets / "base", time_sets / "worse", n_boot=200),
    )
    assert [(r.p, r.diff, r.ci) for r in from_json.rows] == [(r.p, r.diff, r.ci) for r in from_dir.rows]
    with pytest.raises(NasHarnessError, match="cannot be cut"):
        rg.regress(out, time_sets / "worse", time_budget=50_000)


def test_variant_labels_agree_across_benchmarks(tmp_path):
    """A setting that varies on one benchmark labels the strategy on every benchmark; one that differs
    only between benchmarks (per-benchmark tuning) labels nothing."""
    mixed, tuned = tmp_path / "mixed", tmp_path / "tuned"
    for seed in (0, 1):
        write_run(mixed, run_config(seed, 10, "a", "re", population=10), np.ones(10) + seed)
        write_run(mixed, run_config(seed, 10, "a", "re", population=20), np.ones(10) + seed)
        write_run(mixed, run_config(seed, 10, "b", "re", population=10), np.ones(10) + seed)
        write_run(tuned, run_config(seed, 10, "a", "re", population=10), np.ones(10) + seed)
        write_run(tuned, run_config(seed, 10, "b", "re", population=20), np.ones(10) + seed)
    assert sorted(rg.load_result_set(mixed).groups) == [("a", "re[population=10]"), ("a", "re[population=20]"),
                                                        ("b", "re[population=10]")]
    assert sorted(rg.load_result_set(tuned).groups) == [("a", "re"), ("b", "re")]

def test_a_baseline_saved_with_older_labels_still_matches(tmp_path):
    """Labels once quoted string values (`rs[kind="a"]`); today they are bare (`rs[kind=a]`, the report's format).
    A saved baseline with the old labels still pairs each group with the candidate's same settings."""
    for kind, level in (("a", 0.5), ("b", 0.9)):
        synthetic_set(tmp_path / "cand", level, kind=kind)
    out = tmp_path / "baseline.json"
    rg.save_baseline(tmp_path / "cand", out)
    doc = json.loads(out.read_text())
    assert sorted(g["strategy"] for g in doc["groups"]) == ["rs[kind=a]", "rs[kind=b]"]
    for g in doc["groups"]:
        g["strategy"] = g["strategy"].replace("kind=a", 'kind="a"').replace("kind=b", 'kind="b"')
    out.write_text(json.dumps(doc))
    report = rg.regress(out, tmp_path / "cand", n_boot=50)
    assert not report.only_baseline and not report.only_candidate and len(report.rows) == 4 and not report.regressed
