"""NAS-Bench-301 benchmarks: YAHPO's ONNX surrogate on real data, the official-folder loader on
fixtures with the official layout, and (with the engine's row-less hook) RS/RE runs and a grid."""
from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from harness.spaces import get_space
from harness.spaces.darts import nb301_config
from surrogates.benchmark import SurrogateStore
from surrogates.data import from_zc_json
from surrogates.nb301_official import OfficialNB301
from surrogates.quality import judge
from tabular.errors import NasHarnessError, SourceMissingError
from tests.conftest import REPO, shared_file

SMALL_REFERENCE = {"n_sample": 300, "n_starts": 1, "max_steps": 5}


@pytest.fixture(scope="module")
def yahpo():
    pytest.importorskip("onnxruntime")
    from surrogates.nb301_yahpo import YahpoNB301

    return YahpoNB301(shared_file("nb301", "yahpo_nb301_v1", "model.onnx").parent)


@pytest.fixture(scope="module")
def real_nb301():
    return from_zc_json(shared_file("nb301", "zc_proxies_nb301.json"))


def test_yahpo_input_follows_the_nb301_config_and_yahpo_encoding(yahpo, real_nb301):
    """x_cat rebuilt from NB301's configuration dict (tested against official vectors) and the
    folder's encoding.json, in YAHPO nb301 v1's column order (edges 0..13 per cell, then inputs)."""
    encoding = json.loads((yahpo.folder / "encoding.json").read_text())
    order = [f"edge_{c}_{e}" for c in ("normal", "reduce") for e in range(14)] + [
        f"inputs_node_{c}_{t}" for c in ("normal", "reduce") for t in (3, 4, 5)
    ]
    for arch in real_nb301.archs[:25]:
        config = {k.split(":")[-1]: v for k, v in nb301_config(arch).items()}
        expected = [encoding["NetworkSelectorDatasetInfo_COLON_darts_COLON_" + n][config.get(n, "#na#")] for n in order]
        assert yahpo.x_cat(arch)[0].tolist() == expected


def test_yahpo_ranks_the_real_nb301_evaluations(yahpo, real_nb301):
    report = judge(yahpo, real_nb301, fidelity=98)["val_accuracy"]["vs_mean"]
    print(
        f"\nYAHPO nb301 vs 725 real NB301 evaluations: tau={report['kendall']:.3f} sKT={report['sparse_kendall']:.3f} "
        f"rho={report['spearman']:.3f} R2={report['r2']:.3f} bias={report['bias']:+.2f}"
    )
    assert report["n"] == 725 and report["kendall"] > 0.6 and report["spearman"] > 0.8
    predicted = yahpo.predict("val_accuracy", real_nb301.archs, 98)[0]
    assert 94.3 <= np.median(predicted) <= 95.1  # the shared README's epoch-98 range


def test_yahpo_is_multi_fidelity_with_cumulative_runtime(yahpo, real_nb301):
    archs = real_nb301.archs[:5]
    acc = np.stack([yahpo.predict("val_accuracy", archs, e)[0] for e in (5, 30, 98)])
    runtime = np.stack([yahpo.predict("runtime", archs, e)[0] for e in (5, 30, 98)])
    assert (np.diff(acc, axis=0) > 0).all() and (np.diff(runtime, axis=0) > 0).all()
    assert yahpo.fidelities.tolist() == list(range(1, 99))
    for bad in (0, 99, 12.5):
        with pytest.raises(NasHarnessError, match="epochs 1..98"):
            yahpo.predict("val_accuracy", archs, bad)


def test_yahpo_benchmark_is_catalogued_with_a_clear_missing_source(tmp_path, monkeypatch):
    from harness.benchmarks import get_spec, source_status

    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path))
    spec = get_spec("nb301/yahpo")
    assert spec.space == "darts"
    status = source_status(spec)
    assert "yahpo_nb301_v1" in status and "model.onnx" in status and "\n" not in status
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "yahpo_nb301_v1").symlink_to(shared_file("nb301", "yahpo_nb301_v1", "model.onnx").parent)
    assert source_status(spec).startswith("ready")


# -- the official NB301 folders (fixtures in their layout) ------------------------------------------------
def _booster(seed: int):
    import xgboost

    rng = np.random.default_rng(seed)
    X = rng.integers(-1, 7, size=(200, 56)).astype(float)
    y = 90 + X[:, 10] * 0.3 - X[:, 32] * 0.2 + rng.normal(0, 0.1, 200)
    return xgboost.train({"max_depth": 3, "seed": seed, "nthread": 1}, xgboost.DMatrix(X, label=y), num_boost_round=20)


@pytest.fixture(scope="module")
def official_folder(tmp_path_factory):
    """nb_models_1.0/xgb_v1.0 with 3 members (pickled Boosters) and lgb_runtime_v1.0 (configs only)."""
    root = tmp_path_factory.mktemp("nb_models") / "nb_models_1.0"
    xgb_dir = root / "xgb_v1.0"
    for i in range(3):
        member = xgb_dir / f"surrogate_model_{i}"
        member.mkdir(parents=True)
        (member / "surrogate_model.model").write_bytes(pickle.dumps(_booster(i)))
        (member / "data_config.json").write_text(json.dumps({"seed": i}))
        (member / "model_config.json").write_text(json.dumps({"model": "xgb"}))
    runtime = root / "lgb_runtime_v1.0"
    (runtime / "0").mkdir(parents=True)
    (runtime / "0" / "surrogate_model.model").write_bytes(b"not a pickle: lightgbm is absent in the test environment")
    (runtime / "model_config.json").write_text(json.dumps({"model": "lgb_time"}))
    return root


def test_official_xgb_ensemble_is_the_mean_and_spread_of_its_members(official_folder, caplog):
    import xgboost

    try:
        import lightgbm  # noqa: F401
        has_lightgbm = True
    except ImportError:
        has_lightgbm = False
    space = get_space("darts")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(20)]
    with caplog.at_level(logging.WARNING):
        if has_lightgbm:
            pytest.skip("lightgbm is installed; the fixture's runtime model is not a real LightGBM model")
        model = OfficialNB301(official_folder / "xgb_v1.0", official_folder / "lgb_runtime_v1.0")
    members = [_booster(i) for i in range(3)]
    matrix = xgboost.DMatrix(space.encode(archs, "nb301"))
    expected = np.stack([b.predict(matrix) for b in members])
    mean, spread = model.predict("val_accuracy", archs)
    assert np.allclose(mean, expected.mean(axis=0)) and np.allclose(spread, expected.std(axis=0))
    assert model.noisy and model.roles["cost_metric"] == ""
    assert "pip install lightgbm" in caplog.text and "budget.evaluations" in model.runtime_note
    with pytest.raises(NasHarnessError, match="pip install lightgbm"):
        model.predict("runtime", archs)
    store = SurrogateStore(model, name="nb301/official", reference=SMALL_REFERENCE)
    rows = np.array([space.index_of(a) for a in archs])
    assert np.allclose(store.query("val_accuracy", rows, seed_policy="mean"), mean)
    a = store.query("val_accuracy", rows, seed_policy="sample", rng=np.random.default_rng(4))
    assert np.array_equal(a, store.query("val_accuracy", rows, seed_policy="sample", rng=np.random.default_rng(4)))


def test_official_folders_explain_what_is_wrong(tmp_path, official_folder):
    with pytest.raises(SourceMissingError, match="models_1.0.zip"):
        OfficialNB301(tmp_path / "nowhere")
    empty = tmp_path / "xgb_v1.0"
    empty.mkdir()
    with pytest.raises(SourceMissingError, match="no surrogate_model.model"):
        OfficialNB301(empty)
    gnn = tmp_path / "gnn_gin_v1.0"
    (gnn / "0").mkdir(parents=True)
    (gnn / "0" / "surrogate_model.model").write_bytes(b"")
    (gnn / "model_config.json").write_text(json.dumps({"model": "gnn_gin"}))
    with pytest.raises(NasHarnessError, match="GNN surrogates are not supported"):
        OfficialNB301(gnn)


# -- runs on the DARTS space (engine hook) -----------------------------------------------------------
def test_rs_and_re_run_on_nb301_yahpo_deterministically(yahpo, tmp_path, monkeypatch):
    from harness.benchmarks import Benchmark
    from harness.engine import Budget, run_search

    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path))
    space = get_space("darts")
    bench = Benchmark(
        "nb301/yahpo", space, SurrogateStore(yahpo, name="nb301/yahpo", space=space, reference=SMALL_REFERENCE)
    )
    reference = bench.store.reference_optimum("val_accuracy")
    for strategy in ("rs", "re"):
        a = run_search(bench, strategy, seed=1, budget=Budget(evaluations=40))
        b = run_search(bench, strategy, seed=1, budget=Budget(evaluations=40))
        assert a.drop(columns="wall_time").equals(b.drop(columns="wall_time"))
        best = a.loc[a["valid"].idxmax()]
        assert a.iloc[-1]["regret"] == pytest.approx(
            reference - yahpo.predict("val_accuracy", [space.arch_at(int(best["arch_index"]))], 98)[0][0]
        )
        assert a["test_mean"].isna().all() and (a["cost"] > 0).all()
    timed = run_search(bench, "re", seed=0, budget=Budget(sim_seconds=10 * 86400))
    assert 0 < timed["sim_time"].iloc[-1] <= 10 * 86400


@pytest.mark.slow
def test_grid_of_rs_and_re_on_nb301_yahpo_runs_and_reports(tmp_path):
    if not (REPO / "conf" / "benchmark" / "nb301" / "yahpo.yaml").is_file():
        pytest.skip("conf/benchmark/nb301/yahpo.yaml missing: run python scripts/gen_configs.py")
    home = tmp_path / "data"
    (home / "sources").mkdir(parents=True)
    (home / "sources" / "yahpo_nb301_v1").symlink_to(shared_file("nb301", "yahpo_nb301_v1", "model.onnx").parent)
    env = dict(os.environ, NAS_HARNESS_DATA=str(home))
    sweep = tmp_path / "results"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "-m",
            "hydra/launcher=basic",
            f"hydra.sweep.dir={sweep}",
            "benchmark=nb301/yahpo",
            "strategy=rs,re",
            "seed=0,1",
            "budget.evaluations=30",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    manifests = [json.loads(p.read_text()) for p in sweep.glob("*/manifest.json")]
    assert len(manifests) == 4 and all(m["status"] == "complete" for m in manifests)
    assert all(m["benchmark_provenance"]["reference_optimum"]["val_accuracy"]["n_sample"] == 2000 for m in manifests)
    report = subprocess.run([sys.executable, "-m", "harness", "report", str(sweep), "--out", str(tmp_path / "report")],
                            cwd=REPO, env=env, capture_output=True, text=True)
    assert report.returncode == 0, report.stderr[-2000:]
    leaderboard = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "nb301/yahpo" in leaderboard and "| re |" in leaderboard and "| rs |" in leaderboard



def test_a_surrogate_fitted_on_real_nb301_data_is_a_darts_benchmark(real_nb301, tmp_path, monkeypatch):
    from harness.benchmarks import get_spec, load_benchmark
    from harness.catalog.surrogate import open_benchmark
    from surrogates.fitted import fit_surrogate
    from surrogates.splits import random_split

    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path))
    s = fit_surrogate(
        real_nb301,
        name="nb301-xgb",
        kind="xgb",
        n_members=3,
        split=random_split(real_nb301.n, n_train=600, seed=0),
        params={"n_estimators": 60},
    )
    s.save()
    assert get_spec("surrogate/nb301-xgb").space == "darts"
    bench = open_benchmark("surrogate/nb301-xgb")
    store = bench.store
    assert store.n_archs == get_space("darts").size and store.seeds.size == 10
    rows = np.array([bench.space.index_of(a) for a in real_nb301.archs[:5]])
    assert np.allclose(store.query("val_accuracy", rows), s.predict("val_accuracy", real_nb301.archs[:5])[0])
    from harness.engine import Budget, run_search

    bench = load_benchmark("surrogate/nb301-xgb")
    traj = run_search(bench, "re", seed=0, budget=Budget(evaluations=30))
    assert len(traj) == 30 and np.isfinite(traj["regret"]).all()
