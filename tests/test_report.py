"""`nas-harness report`: statistics against independent truth, and a report built from a real grid."""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.report import build_report
from harness.report.cli import add_parser
from harness.report.curves import RunCurves, hv_curve, objective_points, on_grid, reach
from harness.report.reference import expected_incumbent, expected_max, rs_reference
from harness.report.render import document, render_files, write_report
from harness.report.stats import (
    IncrementalFront2D,
    bootstrap_band,
    cd_cliques,
    friedman,
    friedman_from_ranks,
    hypervolume,
    hypervolume_2d,
    nemenyi_cd,
    nemenyi_q,
    rank_rows,
)
from tabular.errors import NasHarnessError

REPO = Path(__file__).resolve().parents[1]


def report_cli(argv: list[str]) -> int:
    """The `report` sub-command through a tiny argparse, as harness.cli will wire it."""
    parser = argparse.ArgumentParser(prog="nas-harness")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", *argv])
    return args.func(args)


# -- the random-search reference ---------------------------------------------------------------------
def test_expected_incumbent_equals_enumeration_of_random_search():
    # Every draw order of a small table with tied validation values, incumbent updated only on a
    # strictly better value (the engine's rule), averaged over all orders: the exact expectation.
    select = np.array([3.0, 1.0, 3.0, 2.0, 5.0, 2.0, 0.5])
    test = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0])
    n = select.size
    ks = np.arange(1, n + 1)
    brute_valid = np.zeros(n)
    brute_test = np.zeros(n)
    perms = list(itertools.permutations(range(n)))
    for perm in perms:
        best = None
        for k, arch in enumerate(perm):
            if best is None or select[arch] > select[best]:
                best = arch
            brute_valid[k] += select[best]
            brute_test[k] += test[best]
    brute_valid /= len(perms)
    brute_test /= len(perms)
    got = expected_incumbent(select, {"valid": select, "test": test}, ks)
    np.testing.assert_allclose(got["valid"], brute_valid, rtol=1e-12)
    np.testing.assert_allclose(got["test"], brute_test, rtol=1e-12)
    # E[max of k] over all k-subsets, computed directly.
    for k in ks:
        subsets = list(itertools.combinations(select, int(k)))
        assert expected_max(select, np.array([k]))[0] == pytest.approx(np.mean([max(s) for s in subsets]), rel=1e-12)


def test_reference_matches_monte_carlo_and_the_engine_on_nb201(nb201_cifar10):
    from harness.engine import Budget, run_search

    store = nb201_cifar10.store
    valid = store.seed_mean(store.valid_metric)
    rng = np.random.default_rng(12345)
    ref = rs_reference(store, np.array([5, 20, 60]), seed_policy="mean")
    assert ref.exact and ref.optimum == pytest.approx(float(np.nanmax(valid)))
    for col, k in enumerate((5, 60)):
        draws = np.array([valid[rng.choice(valid.size, size=k, replace=False)].max() for _ in range(4000)])
        se = draws.std(ddof=1) / np.sqrt(draws.size)
        assert abs(draws.mean() - ref.valid_mean[[0, 2][col]]) < 4 * se
    # Random search in the engine, observing seed means: its mean regret after 20 evaluations.
    regrets = []
    for seed in range(250):
        traj = run_search(nb201_cifar10, "rs", seed=seed, budget=Budget(evaluations=20), seed_policy="mean")
        regrets.append(traj["regret"].iloc[-1])
    regrets = np.array(regrets)
    assert abs(regrets.mean() - ref.regret[1]) < 4 * regrets.std(ddof=1) / np.sqrt(regrets.size)


# -- ranks, Friedman, Nemenyi ------------------------------------------------------------------------
def test_average_ranks_with_ties_by_hand():
    scores = np.array([[0.5, 0.2, 0.2, 0.9], [1.0, 2.0, 3.0, 4.0], [3.0, 3.0, 3.0, 3.0]])
    by_hand = np.array([[3, 1.5, 1.5, 4], [1, 2, 3, 4], [2.5, 2.5, 2.5, 2.5]])
    np.testing.assert_array_equal(rank_rows(scores), by_hand)
    np.testing.assert_allclose(rank_rows(scores).mean(axis=0), [6.5 / 3, 6 / 3, 7 / 3, 10.5 / 3])


def _independent_ranks(matrix: np.ndarray) -> np.ndarray:
    """rank = 1 + (#smaller) + (#equal others) / 2, element by element."""
    out = np.zeros_like(matrix, dtype=float)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            out[i, j] = 1 + sum(w < v for w in row) + (sum(w == v for w in row) - 1) / 2
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_friedman_statistic_equals_scipy(seed):
    data = np.random.default_rng(seed).integers(0, 4, size=(7, 5)).astype(float)  # many ties
    ref = sps.friedmanchisquare(*data.T)
    ours = friedman_from_ranks(_independent_ranks(data))
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert friedman(data).statistic == pytest.approx(ref.statistic, rel=1e-12)


def test_nemenyi_critical_values_match_demsar_table():
    table = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}
    for k, q in table.items():
        assert nemenyi_q(k, 0.05) == pytest.approx(q, abs=1.1e-3)  # the table is good to one unit in its last digit
    assert nemenyi_cd(4, 3) == pytest.approx(2.569 * np.sqrt(4 * 5 / 18), abs=1e-3)
    assert cd_cliques(np.array([1.0, 1.5, 3.9, 4.0]), cd=1.0) == [(0, 1), (2, 3)]


# -- hypervolume --------------------------------------------------------------------------------------
def _grid_hv(points: np.ndarray, ref: np.ndarray) -> int:
    """Count unit cells [c, c+1)^d dominated by some point (integer coordinates): the exact volume."""
    count = 0
    for cell in itertools.product(*(range(int(r)) for r in ref)):
        if any(np.all(p <= np.array(cell)) for p in points):
            count += 1
    return count


@pytest.mark.parametrize("seed", range(4))
def test_hypervolume_equals_brute_force_grid(seed):
    rng = np.random.default_rng(seed)
    pts2 = rng.integers(0, 12, size=(9, 2)).astype(float)
    ref2 = np.array([12.0, 12.0])
    assert hypervolume_2d(pts2, ref2) == _grid_hv(pts2, ref2)
    front = IncrementalFront2D(ref2)
    for x, y in pts2:
        front.add(x, y)
    assert front.volume == _grid_hv(pts2, ref2)
    pts3 = rng.integers(0, 6, size=(7, 3)).astype(float)
    ref3 = np.array([6.0, 6.0, 6.0])
    assert hypervolume(pts3, ref3) == _grid_hv(pts3, ref3)
    # Points outside the reference box add nothing; a single point is a rectangle.
    assert hypervolume_2d(np.array([[13.0, 1.0]]), ref2) == 0.0
    assert hypervolume_2d(np.array([[0.25, 0.5]]), np.array([1.0, 1.0])) == pytest.approx(0.375)


def test_hypervolume_curve_of_a_trajectory_by_hand():
    traj = pd.DataFrame({"fidelity": [200.0, 12.0, 200.0, 200.0, 200.0],
                         "obj_valid_acc": [90.0, 99.0, 92.0, 91.0, np.nan], "obj_params": [3.0, 0.0, 5.0, 1.0, 0.0]})
    pts = objective_points(traj, ["valid_acc", "params"], [True, False], 200.0)
    assert np.isnan(pts[1]).all() and np.isnan(pts[4]).all()  # below the top fidelity / unmeasured
    finite = pts[np.isfinite(pts).all(axis=1)]
    lo, hi = finite.min(axis=0), finite.max(axis=0)
    # Normalised (accuracy maximised, so negated): (1, .5), (0, 1), (.5, 0) against the worst point (1, 1):
    # the first two lie on the reference box's edge and add nothing; the third adds (1 - .5) * (1 - 0).
    np.testing.assert_allclose(hv_curve((pts - lo) / (hi - lo), np.ones(2)), [0, 0, 0, 0.5, 0.5])


# -- bootstrap and curves -------------------------------------------------------------------------------
def test_bootstrap_band_is_deterministic_and_contains_the_mean():
    y = np.random.default_rng(3).normal(size=(8, 50)).cumsum(axis=1)
    mean, lo, hi = bootstrap_band(y, n_boot=500, seed=7)
    mean2, lo2, hi2 = bootstrap_band(y, n_boot=500, seed=7)
    np.testing.assert_array_equal(lo, lo2)
    np.testing.assert_array_equal(hi, hi2)
    np.testing.assert_allclose(mean, y.mean(axis=0))
    assert np.all(lo <= mean) and np.all(mean <= hi) and np.all(hi > lo)
    _, lo3, _ = bootstrap_band(y, n_boot=500, seed=8)
    assert not np.array_equal(lo, lo3)


def test_bootstrap_sums_are_exact_whatever_the_order():
    """The resampled means are exact sums (harness.report.stats.exact_sum_grid), so BLAS's summation
    order (kernel, threads) cannot change a band's bits: checked against exact rational arithmetic."""
    from fractions import Fraction

    from harness.report.stats import exact_sum_grid, resample_counts

    rng = np.random.default_rng(11)
    n = 500
    y = rng.normal(size=(n, 6)) * np.array([1e-6, 1e-2, 1.0, 50.0, 1e3, 0.0])
    grid = exact_sum_grid(y, n)
    assert np.all(np.abs(grid - y) <= 2.0 ** -42 * np.abs(y).max(axis=0))  # a negligible move
    counts = resample_counts(n, n_boot=50, seed=2)
    sums = counts @ grid
    np.testing.assert_array_equal(sums, counts[:, ::-1] @ grid[::-1])  # reversed order: same bits
    for b, k in [(0, 0), (3, 2), (49, 4)]:
        exact = sum(Fraction(int(c)) * Fraction(float(v)) for c, v in zip(counts[b], grid[:, k], strict=True))
        assert sums[b, k] == float(exact)


def test_time_step_function_and_search_cost():
    c = RunCurves(
        valid=np.array([1.0, 2.0, 3.0]),
        test=np.full(3, np.nan),
        regret=np.array([2.0, 0.5000000000001, 0.0]),
        sim_time=np.array([10.0, 20.0, 40.0]),
    )
    out = on_grid(c, "valid", np.array([5.0, 10.0, 15.0, 20.0, 39.0, 40.0, 41.0]))
    np.testing.assert_array_equal(out, [np.nan, 1.0, 1.0, 2.0, 2.0, 3.0, np.nan])
    assert reach(c, 0.5) == (2, 20.0 / 3600)
    assert reach(c, 0.1) == (3, 40.0 / 3600)
    assert reach(RunCurves(c.valid, c.test, np.array([3.0, 2.0, 1.5]), c.sim_time), 1.0) is None


# -- a report from a real grid -----------------------------------------------------------------------------
def _nas(args: list[str], home: Path) -> subprocess.Popen:
    env = dict(os.environ, NAS_HARNESS_DATA=str(home))
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def grid(data_home, tmp_path_factory):
    """4 random-search configurations x 2 benchmarks x 5 seeds x 30 evaluations, plus one shorter run of
    an existing seed (duplicate), one of a new seed (mixed budgets), two failed runs and a killed run."""
    from harness.benchmarks import ensure_store

    for name in ("nb201/cifar10", "nbgraph/cora"):
        ensure_store(name)  # convert once, before two grids run at the same time
    root = tmp_path_factory.mktemp("grid")
    results, extra = root / "results", root / "extra"
    common = ["run", "-m", "hydra/launcher=basic", "strategy=rs"]
    first = _nas(
        [
            *common,
            f"hydra.sweep.dir={results}",
            "strategy.replace=false,true",
            "strategy.charge_repeats=true,false",
            "benchmark=nb201/cifar10,nbgraph/cora",
            "seed=range(0,5)",
            "budget.evaluations=30",
        ],
        data_home,
    )
    second = _nas([*common, f"hydra.sweep.dir={extra}", "benchmark=nbgraph/cora", "seed=0,7", "budget.evaluations=20",
                   "budget.sim_seconds=null,100"], data_home)
    _, err = first.communicate()
    assert first.returncode == 0, err
    _, err = second.communicate()
    assert second.returncode == 1 and "complete 2, failed 2" in err, err
    for run in extra.iterdir():
        if not run.name.startswith(".") and run.is_dir():
            run.rename(results / run.name)
    killed = results / "0123456789abcdef"
    killed.mkdir()
    (killed / "run.log").write_text(
        "t INFO harness.app: run 0123456789abcdef: strategy=rs benchmark=nb201/cifar10 seed=9\n"
    )
    return data_home, results


@pytest.fixture(scope="module")
def written(grid):
    _, results = grid  # NAS_HARNESS_DATA is the session's data folder (conftest.data_home)
    assert report_cli([str(results), "--budgets", "20,30"]) == 0
    return results / "report"


def _runs_from_parquet(results: Path) -> pd.DataFrame:
    """Independent reading: manifest + trajectory of every complete, non-duplicate run."""
    rows = []
    for manifest_path in sorted(results.glob("*/manifest.json")):
        m = json.loads(manifest_path.read_text())
        if m["status"] != "complete":
            continue
        s = m["config"]["strategy"]
        traj = pd.read_parquet(manifest_path.parent / "trajectory.parquet")
        rows.append(
            {
                "task": m["benchmark"],
                "seed": m["seed"],
                "len": len(traj),
                "traj": traj,
                "method": f"rs[charge_repeats={str(s['charge_repeats']).lower()},replace={str(s['replace']).lower()}]",
            }
        )
    df = pd.DataFrame(rows).sort_values("len", ascending=False)
    return df.drop_duplicates(["task", "method", "seed"])


def test_report_writes_every_file(written):
    for name in (
        "leaderboard.md",
        "leaderboard.csv",
        "leaderboard.tex",
        "index.html",
        "runs.csv",
        "search_cost.csv",
        "report.json",
    ):
        assert (written / name).is_file() and (written / name).stat().st_size > 0, name
    for stem in (
        "curves_nb201_cifar10_evaluations",
        "curves_nb201_cifar10_time",
        "curves_nbgraph_cora_evaluations",
        "cd_20",
        "cd_30",
    ):
        for ext in ("png", "svg"):
            assert (written / "plots" / f"{stem}.{ext}").stat().st_size > 1000, stem
    assert not (written / "plots" / "curves_nbgraph_cora_time.png").exists()  # cora records no training cost
    page = (written / "index.html").read_text()
    assert page.count("Plotly.newPlot(") == 3 and "<script src" not in page and "<link" not in page  # plotly.js inline
    assert 'src="http' not in page and "url(http" not in page
    tex = (written / "leaderboard.tex").read_text()
    assert "\\begin{tabular}" in tex and "\\toprule" in tex


def test_csv_equals_recomputation_from_parquet(grid, written):
    _, results = grid
    runs = _runs_from_parquet(results)
    csv = pd.read_csv(written / "leaderboard.csv")
    for budget in (20, 30):
        means = {}
        for (task, method), cell in runs.groupby(["task", "method"]):
            reached = [t for t in cell["traj"] if len(t) >= budget]
            regret = np.array([t["regret"].iloc[budget - 1] for t in reached])
            test = np.array([t["incumbent_test_mean"].iloc[budget - 1] for t in reached])
            row = csv[
                (csv["budget_kind"] == "evaluations")
                & (csv["budget_value"] == budget)
                & (csv["task"] == task)
                & (csv["method"] == method)
            ]
            assert len(row) == 1
            row = row.iloc[0]
            assert (
                row["n_seeds"] == len(reached)
                and row["runs"] == len(cell)
                and row["n_short"] == len(cell) - len(reached)
            )
            assert row["regret_mean"] == pytest.approx(regret.mean(), rel=1e-12)
            assert row["regret_se"] == pytest.approx(regret.std(ddof=1) / np.sqrt(regret.size), rel=1e-9)
            assert row["regret_median"] == pytest.approx(np.median(regret), rel=1e-12)
            # Both benchmarks have a test metric (nb201/*: the shipped NATS-Bench 200-epoch test accuracy).
            assert np.isfinite(test).all()
            assert row["test_mean"] == pytest.approx(test.mean(), rel=1e-12)
            means[(task, method)] = regret.mean()
        tasks = sorted({t for t, _ in means})
        methods = sorted({m for _, m in means})
        matrix = np.array([[means[(t, m)] for m in methods] for t in tasks])
        avg = sps.rankdata(matrix, axis=1).mean(axis=0)
        for m, a in zip(methods, avg, strict=True):
            got = csv[(csv["budget_value"] == budget) & (csv["method"] == m)]["avg_rank"].unique()
            assert got == pytest.approx([a])


def test_unused_runs_are_counted_and_listed(written):
    runs = pd.read_csv(written / "runs.csv")
    counts = runs["status"].value_counts().to_dict()
    assert counts == {"complete": 41, "failed": 2, "duplicate": 1, "partial": 1}
    md = (written / "leaderboard.md").read_text()
    assert "41 complete, 2 failed, 1 partial, 0 damaged, 1 duplicate" in md
    assert "0123456789abcdef" in md and "records no training cost" in md and "mixed budgets on nbgraph/cora" in md
    assert "no test metric" not in md  # nb201/* and nbgraph/cora both have one
    assert "Friedman χ²" in md and "CD = " in md
    assert "| 14 | Reporting details |" in md  # all 14 checklist items
    marker = json.loads((written / "report.json").read_text())
    assert marker["complete"] and marker["counts"]["failed"] == 2


@pytest.mark.slow
def test_deterministic_numbers_and_output_folder_policy(grid, written, tmp_path):
    _, results = grid
    report = build_report(results, budgets=[20, 30])
    again = render_files(report)
    for name in ("leaderboard.csv", "curves.csv", "search_cost.csv", "leaderboard.md", "plots/cd_30.svg"):
        assert again[name] == (written / name).read_bytes(), name
    # A user's folder is refused without --force, then written into with it, keeping the user's file.
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    with pytest.raises(NasHarnessError, match="not empty and holds no previous report"):
        report_cli([str(results), "--out", str(user)])
    write_report(report, user, force=True, files=again)
    assert (user / "notes.txt").read_text() == "keep me" and (user / "index.html").is_file()
    # A previous report is replaced; of the files it listed, those not written again are removed.
    previous = tmp_path / "previous"
    shutil.copytree(written, previous)
    marker = json.loads((previous / "report.json").read_text())
    (previous / "plots" / "cd_99.png").write_bytes(b"old")
    (previous / "plots" / "unlisted.png").write_bytes(b"user")
    marker["files"].append("plots/cd_99.png")
    (previous / "report.json").write_text(json.dumps(marker))
    write_report(report, previous, files=again)
    assert not (previous / "plots" / "cd_99.png").exists() and (previous / "plots" / "unlisted.png").exists()


def test_folder_without_runs_is_refused_in_one_line(tmp_path):
    (tmp_path / "something").mkdir()
    with pytest.raises(NasHarnessError) as info:
        report_cli([str(tmp_path)])
    assert "no runs under" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(NasHarnessError, match="--budgets"):
        report_cli([str(tmp_path), "--budgets", "ten"])


@pytest.mark.slow
def test_screenshot_renders_the_plots(written, tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import screenshot_report
    finally:
        sys.path.pop(0)
    if screenshot_report.find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    png = screenshot_report.screenshot(written / "index.html", tmp_path / "shot.png", width=1000, height=1600)
    from matplotlib.image import imread

    image = imread(png)
    assert image.shape[:2] == (1600, 1000)
    assert len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 50  # text and coloured plots, not a blank page


# -- time budgets ----------------------------------------------------------------------------------------
TIME_BUDGET = 40000.0  # about 20 evaluations on nb201/cifar10 and 10 on nb201/cifar100 (200-epoch training times)
TIME_SEEDS = range(6)


def _app_run(
    root: Path, strategy: str, bench: str, seed: int, *, evaluations=None, sim_seconds=None, seed_policy="sample"
) -> None:
    """One run written by the app's own run writer (manifest + trajectory), as `nas-harness run` does."""
    from harness.app import run_config

    config = {"benchmark": {"name": bench, "seed_policy": seed_policy, "fixed_seed": None, "objectives": None},
              "budget": {"evaluations": evaluations, "sim_seconds": sim_seconds}, "n_workers": 1, "seed": seed,
              "strategy": {"name": strategy, "charge_repeats": True}}
    assert run_config(config, [], root)["status"] == "complete"


@pytest.fixture(scope="module")
def time_grid(data_home, tmp_path_factory):
    """rs, re and reinforce x nb201/cifar10, nb201/cifar100 x 6 seeds with budget.sim_seconds only (the
    NAS-Bench-201 protocol), and a copy with evaluation-budgeted runs of a second cifar10 task added."""
    root = tmp_path_factory.mktemp("time_grid")
    timed, mixed = root / "timed", root / "mixed"
    for strategy in ("rs", "re", "reinforce"):
        for bench in ("nb201/cifar10", "nb201/cifar100"):
            for seed in TIME_SEEDS:
                _app_run(timed, strategy, bench, seed, sim_seconds=TIME_BUDGET)
    shutil.copytree(timed, mixed)
    for strategy in ("rs", "re", "reinforce"):
        for seed in TIME_SEEDS:  # seed_policy=mean makes this a different task: nb201/cifar10[seed_policy=mean]
            _app_run(mixed, strategy, "nb201/cifar10", seed, evaluations=15 + seed, seed_policy="mean")
    return timed, mixed


def _parquet_runs(results: Path) -> list[dict]:
    """Independent reading of every run folder: manifest fields and the raw trajectory."""
    out = []
    for path in sorted(results.glob("*/manifest.json")):
        m = json.loads(path.read_text())
        bench = m["config"]["benchmark"]
        # In the mixed folder, the seed policy differs between nb201/cifar10 runs, so it labels those tasks.
        task = bench["name"] + (
            f"[seed_policy={bench['seed_policy']}]" if results.name == "mixed" and bench["name"].endswith("10") else ""
        )
        out.append({"task": task, "method": m["strategy"], "budget": m["config"]["budget"], "seed": m["seed"],
                    "traj": pd.read_parquet(path.parent / "trajectory.parquet")})
    return out


def _scan(traj: pd.DataFrame, t: float) -> int | None:
    """Brute force: walk the rows in step order and keep the last one that completed by t."""
    found = None
    for i, (_, row) in enumerate(traj.sort_values("step").iterrows()):
        if row["sim_time"] <= t:
            found = i
    return found


def test_incumbent_at_time_equals_a_brute_force_scan(time_grid):
    from harness.report.budgets import EMPTY, OK, SHORT, Cut
    from harness.report.curves import run_curves
    from harness.report.load import load_results

    timed, _ = time_grid
    runs = {r.run_id: r for r in load_results(timed).complete}
    rng = np.random.default_rng(0)
    for run in list(runs.values())[::4]:
        traj = pd.read_parquet(run.path / "trajectory.parquet")
        curve = run_curves(run.trajectory, run.horizon)
        assert run.horizon == TIME_BUDGET  # the time budget stopped it
        times = np.concatenate(
            [
                rng.uniform(0, TIME_BUDGET, 15),
                traj["sim_time"].to_numpy(),
                traj["sim_time"].to_numpy() - 1e-6,
                [TIME_BUDGET, 0.0],
            ]
        )
        for t in times:
            i = _scan(traj, t)
            got, status = curve.index(Cut("sim_seconds", float(t)))
            if i is None:
                assert status == EMPTY and np.isnan(curve.value("regret", Cut("sim_seconds", float(t))))
                continue
            assert status == OK and got == i
            assert curve.value("regret", Cut("sim_seconds", float(t))) == traj["regret"].iloc[i]
            np.testing.assert_equal(
                curve.value("test", Cut("sim_seconds", float(t))), traj["incumbent_test_mean"].iloc[i]
            )
            inc = traj["incumbent_arch"].iloc[i]
            assert (
                curve.value("valid", Cut("sim_seconds", float(t)))
                == traj.loc[traj["arch"] == inc, "valid_mean"].iloc[0]
            )
        # Beyond the time budget the incumbent is unknown: the run is left out, not extrapolated.
        assert curve.index(Cut("sim_seconds", TIME_BUDGET + 1))[1] == SHORT
    # A run that stopped on its evaluations count is known only up to its last completion.
    short = run_curves(traj.iloc[:5], None)
    assert short.index(Cut("sim_seconds", float(traj["sim_time"].iloc[4])))[0] == 4
    assert short.index(Cut("sim_seconds", float(traj["sim_time"].iloc[4]) + 1))[1] == SHORT


@pytest.mark.slow
def test_time_budgeted_report_compares_at_the_time_budget(time_grid, tmp_path):
    timed, _ = time_grid
    report = build_report(timed, n_boot=100)
    (budget,) = report.budgets
    assert budget.uniform is not None and budget.uniform.kind == "sim_seconds" and budget.uniform.value == TIME_BUDGET
    assert "time budget of every run" in report.budgets_note
    runs = _parquet_runs(timed)
    lengths = {len(r["traj"]) for r in runs}
    assert len(lengths) > 3  # the runs really differ in evaluations
    (lb,) = report.leaderboards
    assert lb.tasks == ["nb201/cifar10", "nb201/cifar100"] and lb.methods == ["re", "reinforce", "rs"]
    ft = report.final_table.set_index(["task", "method"])
    for i, task in enumerate(lb.tasks):
        for j, method in enumerate(lb.methods):
            last = np.array(
                [
                    r["traj"].sort_values("step")["regret"].iloc[-1]
                    for r in runs
                    if r["task"] == task and r["method"] == method
                ]
            )
            assert last.size == len(TIME_SEEDS) and lb.n[i, j] == last.size
            assert lb.mean_regret[i, j] == pytest.approx(last.mean(), rel=1e-12)
            assert ft.loc[(task, method), "regret_se"] == pytest.approx(last.std(ddof=1) / np.sqrt(last.size), rel=1e-9)
    # The written report says where it compares, names the CD plot after the budget and compresses seed lists.
    assert report_cli([str(timed), "--out", str(tmp_path / "r"), "--bootstrap", "100"]) == 0
    md = (tmp_path / "r" / "leaderboard.md").read_text()
    assert "### At 40,000 simulated seconds" in md and "after 40000 evaluations" not in md
    assert "| 0–5 |" in md and "40,000 simulated s" in md
    assert (tmp_path / "r" / "plots" / "cd_40000s.svg").stat().st_size > 1000
    assert "at 40,000 simulated seconds" in (tmp_path / "r" / "leaderboard.tex").read_text()


def test_explicit_time_and_evaluation_budgets(time_grid):
    timed, mixed = time_grid
    t = 15000.0
    report = build_report(mixed, budgets=[5], time_budgets=[t], n_boot=100)
    assert [b.key for b in report.budgets] == ["5 evaluations", "15000 simulated s"]
    ft = report.final_table
    runs = _parquet_runs(mixed)
    for r_task, r_method in {(r["task"], r["method"]) for r in runs}:
        cell = [r for r in runs if r["task"] == r_task and r["method"] == r_method]
        values, short = [], 0
        for r in cell:
            traj = r["traj"].sort_values("step").reset_index(drop=True)
            horizon = TIME_BUDGET if r["budget"]["sim_seconds"] else traj["sim_time"].iloc[-1]
            i = _scan(traj, t)
            if horizon < t:
                short += 1
            elif i is not None:
                values.append(traj["regret"].iloc[i])
        row = ft[(ft["budget"] == "15000 simulated s") & (ft["task"] == r_task) & (ft["method"] == r_method)].iloc[0]
        assert row["n_seeds"] == len(values) and row["n_short"] == short
        assert row["regret_mean"] == pytest.approx(np.mean(values), rel=1e-12)
        row5 = ft[(ft["budget"] == "5 evaluations") & (ft["task"] == r_task) & (ft["method"] == r_method)].iloc[0]
        assert row5["regret_mean"] == pytest.approx(np.mean([r["traj"]["regret"].iloc[4] for r in cell]), rel=1e-12)
    with pytest.raises(NasHarnessError, match="--time-budgets 90,000 exceed every run's time horizon"):
        build_report(timed, time_budgets=[90000.0], n_boot=100)
    with pytest.raises(NasHarnessError, match="--time-budgets"):
        report_cli([str(timed), "--time-budgets", "-5"])


def test_mixed_budgets_choose_per_task_and_say_so(time_grid):
    _, mixed = time_grid
    report = build_report(mixed, n_boot=100)
    (budget,) = report.budgets
    mean_task = "nb201/cifar10[seed_policy=mean]"
    assert budget.uniform is None and budget.key == "per-task default"
    assert (
        budget.cut("nb201/cifar10[seed_policy=sample]").value == TIME_BUDGET
        and budget.cut("nb201/cifar100").kind == "sim_seconds"
    )
    # lengths 15..20 (3 runs each): 17 is the largest length that more than half of the task's runs reached
    assert budget.cut(mean_task).kind == "evaluations" and budget.cut(mean_task).value == 17
    assert any("budgets differ between tasks" in w for w in report.warnings)
    assert any(w.startswith(f"{mean_task}: runs differ in budget") and "6 shorter runs" in w for w in report.warnings)
    assert "each task is compared at its own default budget" in report.budgets_note
    (lb,) = report.leaderboards
    runs = _parquet_runs(mixed)
    for i, task in enumerate(lb.tasks):
        for j, method in enumerate(lb.methods):
            trajs = [r["traj"] for r in runs if r["task"] == task and r["method"] == method]
            want = ([t["regret"].iloc[16] for t in trajs if len(t) >= 17] if task == mean_task
                    else [t["regret"].iloc[-1] for t in trajs])
            assert lb.mean_regret[i, j] == pytest.approx(np.mean(want), rel=1e-12)
    blocks = "\n".join(b.text + " ".join(b.headers or []) for b in document(report, {}))
    assert "At each task's own default budget" in blocks and f"{mean_task} (17 evaluations)" in blocks


def test_seed_lists_are_compressed_to_ranges():
    from harness.report.load import seed_ranges

    assert seed_ranges(range(500)) == "0–499"
    assert seed_ranges(list(range(10)) + list(range(20, 30))) == "0–9, 20–29"
    assert seed_ranges([29, 3, 5, 4, 4, 7, 8]) == "3–5, 7, 8, 29"
    assert seed_ranges([1, 2]) == "1, 2" and seed_ranges([7]) == "7" and seed_ranges([]) == "–"
    assert seed_ranges([0, 1, 2, None]) == "0–2, ?"
