"""The store format: round trips, seed policies, schema checks, atomic and non-clobbering writes."""
from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
from scipy import stats

from tabular import MetricArray, StaticMetric, StoreData, StoreError, open_store, write_store
from tabular import writer as writer_module


def make_data(n: int = 50, seeds: int = 3, fids: int = 2, seed: int = 0) -> StoreData:
    rng = np.random.default_rng(seed)
    valid = rng.normal(80, 5, size=(n, seeds, fids))
    valid[rng.random(valid.shape) < 0.2] = np.nan
    valid[0] = np.nan  # an architecture never measured
    valid[1, :, :] = np.nan
    valid[1, 2, :] = 70.0  # measured by one seed only
    return StoreData(
        name="toy/data",
        search_space="toy",
        arch_strings=[f"a{i}" for i in range(n)],
        arch_encoding=np.arange(n).reshape(-1, 1),
        fidelities=np.array([12.0, 200.0][:fids]),
        seeds=np.array([777, 888, 999][:seeds]),
        metrics={
            "valid_acc": MetricArray(valid, "%", True),
            "train_time": MetricArray(rng.uniform(100, 200, size=(n, seeds, fids)), "s", False),
        },
        static={"params": StaticMetric(rng.uniform(0, 1, n), "M", "params")},
        cost_metric="train_time",
        test_metric="",
        provenance={"sources": [{"name": "toy", "sha256": "0" * 64}]},
    )


@pytest.fixture
def store_path(tmp_path):
    data = make_data()
    path = write_store(data, tmp_path / "toy.h5")
    return path, data


def test_round_trip_every_array(store_path):
    path, data = store_path
    with open_store(path) as store:
        assert store.n_archs == 50 and store.search_space == "toy"
        assert store.arch_strings.tolist() == data.arch_strings
        np.testing.assert_array_equal(store.fidelities, data.fidelities)
        np.testing.assert_array_equal(store.seeds, data.seeds)
        for name, metric in data.metrics.items():
            np.testing.assert_array_equal(store.metric_array(name), metric.values)
        np.testing.assert_array_equal(store.static("params"), data.static["params"].values)
        assert {k: v for k, v in store.provenance.items() if k != "data_sha256"} == data.provenance
        assert len(store.provenance["data_sha256"]) == 64
        assert store.cost_metric == "train_time" and store.test_metric == ""


def test_open_is_lazy_and_memory_maps(store_path):
    path, _ = store_path
    with open_store(path) as store:
        assert store._arrays == {}
        arr = store.metric_array("valid_acc")
        assert isinstance(arr, np.memmap)


def test_mean_policy_equals_nanmean(store_path):
    path, data = store_path
    idx = np.array([5, 1, 7, 7, 49])
    with open_store(path) as store:
        for f_i, fid in enumerate(data.fidelities):
            got = store.query("valid_acc", idx, fidelity=fid, seed_policy="mean")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = np.nanmean(data.metrics["valid_acc"].values[idx, :, f_i], axis=1)
            np.testing.assert_array_equal(got, expected)
        assert np.isnan(store.query("valid_acc", [0])[0])  # never measured stays NaN
        assert store.query("valid_acc", [1])[0] == 70.0


def test_default_fidelity_is_highest(store_path):
    path, data = store_path
    with open_store(path) as store:
        np.testing.assert_array_equal(
            store.query("train_time", [3], seed_policy="fixed", seed=888),
            data.metrics["train_time"].values[[3], 1, -1],
        )


def test_fixed_policy_reads_the_seed_label(store_path):
    path, data = store_path
    idx = np.arange(50)
    with open_store(path) as store:
        got, used = store.query("valid_acc", idx, fidelity=12.0, seed_policy="fixed", seed=999, return_seed=True)
        np.testing.assert_array_equal(got, data.metrics["valid_acc"].values[:, 2, 0])
        assert set(used.tolist()) == {999}
        with pytest.raises(StoreError, match="no seed 5"):
            store.query("valid_acc", idx, seed_policy="fixed", seed=5)


def test_sample_policy_is_reproducible_and_only_picks_measured_seeds(store_path):
    path, data = store_path
    idx = np.repeat(np.arange(50), 40)
    with open_store(path) as store:
        a, seeds_a = store.query("valid_acc", idx, seed_policy="sample", rng=np.random.default_rng(3), return_seed=True)
        b, seeds_b = store.query("valid_acc", idx, seed_policy="sample", rng=np.random.default_rng(3), return_seed=True)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(seeds_a, seeds_b)
    raw = data.metrics["valid_acc"].values[:, :, -1]
    for row, value, seed in zip(idx, a, seeds_a, strict=True):
        measured = ~np.isnan(raw[row])
        if not measured.any():
            assert np.isnan(value) and seed == -1
        else:
            col = [777, 888, 999].index(int(seed))
            assert measured[col] and value == raw[row, col]
    assert set(seeds_a[idx == 1].tolist()) == {999}


def test_sample_policy_is_uniform_over_measured_seeds(tmp_path):
    data = make_data(n=3)
    data.metrics["valid_acc"].values[2] = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    path = write_store(data, tmp_path / "u.h5")
    with open_store(path) as store:
        _, seeds = store.query(
            "valid_acc", np.full(30000, 2), seed_policy="sample", rng=np.random.default_rng(0), return_seed=True
        )
    counts = [np.sum(seeds == s) for s in (777, 888, 999)]
    assert stats.chisquare(counts).pvalue > 1e-3


def test_sample_policy_needs_a_generator(store_path):
    path, _ = store_path
    with open_store(path) as store, pytest.raises(StoreError, match="Generator"):
        store.query("valid_acc", [1], seed_policy="sample")


def test_bad_queries_are_one_line_errors(store_path):
    path, _ = store_path
    with open_store(path) as store:
        with pytest.raises(StoreError, match="no metric 'nope'"):
            store.query("nope", [1])
        with pytest.raises(StoreError, match="no epochs 13"):
            store.query("valid_acc", [1], fidelity=13)
        with pytest.raises(StoreError, match="out of range"):
            store.query("valid_acc", [50])
        with pytest.raises(StoreError, match="unknown seed policy"):
            store.query("valid_acc", [1], seed_policy="median")


def test_best_respects_direction(store_path):
    path, data = store_path
    with open_store(path) as store:
        row, value = store.best("train_time")
        means = data.metrics["train_time"].values[:, :, -1].mean(axis=1)
        assert row == int(np.argmin(means)) and value == pytest.approx(means.min(), abs=1e-12)


def test_refuses_to_overwrite_without_force(store_path):
    path, data = store_path
    before = path.read_bytes()
    with pytest.raises(StoreError, match="--force"):
        write_store(data, path)
    assert path.read_bytes() == before
    data.name = "toy/changed"
    write_store(data, path, force=True)
    with open_store(path) as store:
        assert store.name == "toy/changed"


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    def boom(handle, data):
        handle.create_group("archs")
        raise KeyboardInterrupt

    monkeypatch.setattr(writer_module, "_write", boom)
    with pytest.raises(KeyboardInterrupt):
        write_store(make_data(), tmp_path / "x.h5")
    assert list(tmp_path.iterdir()) == []


def test_same_data_gives_same_bytes(tmp_path):
    a = write_store(make_data(), tmp_path / "a.h5")
    b = write_store(make_data(), tmp_path / "b.h5")
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.metrics["valid_acc"].__setattr__("values", d.metrics["valid_acc"].values[:, :2]), "shape"),
        (lambda d: d.__setattr__("fidelities", np.array([200.0, 12.0])), "increasing"),
        (lambda d: d.__setattr__("arch_strings", ["same"] * 50), "duplicate"),
        (lambda d: d.__setattr__("cost_metric", "gpu_hours"), "cost_metric"),
        (lambda d: d.static.__setitem__("lat", StaticMetric(np.zeros(50), "ms", "speed")), "kind"),
    ],
)
def test_schema_violations_are_refused(tmp_path, mutate, message):
    data = make_data()
    mutate(data)
    with pytest.raises(StoreError, match=message):
        write_store(data, tmp_path / "bad.h5")
    assert not (tmp_path / "bad.h5").exists()


def test_truncated_file_is_a_clear_error(store_path, tmp_path):
    path, _ = store_path
    broken = tmp_path / "broken.h5"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(StoreError, match="truncated or corrupt"):
        open_store(broken)


def test_foreign_hdf5_and_missing_file(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as handle:
        handle["x"] = np.zeros(3)
    with pytest.raises(StoreError, match="not a nas-harness store"):
        open_store(foreign)
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "nope.h5")


def test_damaged_store_names_the_broken_rule(store_path):
    path, _ = store_path
    with h5py.File(path, "a") as handle:
        del handle["metrics/train_time"]
        handle["metrics/train_time"] = np.zeros((50, 3, 5))
    with pytest.raises(StoreError, match="train_time.*expected"):
        open_store(path)
