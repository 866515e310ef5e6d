"""Both kinds of store answer the one declared interface, tabular.protocol.Store (issue 17, item 5)."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from harness import engine
from surrogates.benchmark import SurrogateStore
from surrogates.data import from_store
from surrogates.fitted import fit_surrogate
from tabular.errors import StoreError
from tabular.protocol import MEAN_SEED, Store
from tabular.store import BenchmarkStore

REPO = Path(__file__).resolve().parents[1]


def protocol_members() -> set[str]:
    return {name for name in vars(Store) if not name.startswith("_")}


@pytest.fixture(scope="module")
def surrogate_store(nb201_cifar10):
    data = from_store(nb201_cifar10.store).subset(np.arange(150))
    surrogate = fit_surrogate(data, name="proto", kind="knn", n_members=3, metrics=["valid_acc", "train_time"])
    return SurrogateStore(surrogate, name="surrogate/proto")


def test_both_stores_have_every_member_of_the_protocol(nb201_cifar10, surrogate_store):
    members = protocol_members()
    assert {"query", "row_means", "reference_optimum", "tabulated", "row_archs", "seeds"} <= members
    for store in (nb201_cifar10.store, surrogate_store):
        missing = sorted(m for m in members if not hasattr(store, m))
        assert not missing, f"{type(store).__name__} lacks {missing}"
    assert BenchmarkStore.tabulated is True and SurrogateStore.tabulated is False


def test_a_table_declares_its_rows_and_no_reference(nb201_cifar10):
    store = nb201_cifar10.store
    means = store.row_means(store.valid_metric)
    np.testing.assert_array_equal(means, store.seed_mean(store.valid_metric))
    assert np.isnan(store.row_means("")).all() and store.row_means("").shape == (store.n_archs,)
    assert store.reference_optimum(store.valid_metric) is None
    assert engine.regret_optimum(store, means, True) == float(np.nanmax(store.seed_mean(store.valid_metric)))
    assert store.row_archs() is store.arch_strings


def test_a_surrogate_declares_lazy_rows_and_its_reference(surrogate_store):
    store = surrogate_store
    assert store.row_archs() is None
    lookup = store.row_means("valid_acc")
    rows = np.array([3, 77, 15_000])
    assert [lookup[r] for r in rows] == store.query("valid_acc", rows, seed_policy="mean").tolist()
    assert np.isnan(store.row_means("")[5])


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"seed_policy": "fixed"}, "seed_policy='fixed' needs a seed label"),
    ({"seed_policy": "sample"}, "seed_policy='sample' needs rng=numpy.random.Generator"),
    ({"seed_policy": "median"}, "unknown seed policy 'median'; choose one of fixed, mean, sample"),
])
def test_both_stores_refuse_the_same_seed_policy_requests_with_the_same_words(nb201_cifar10, surrogate_store,
                                                                               kwargs, words):
    messages = []
    for store in (nb201_cifar10.store, surrogate_store):
        with pytest.raises(StoreError) as info:
            store.query(store.valid_metric, [0, 1], **kwargs)
        messages.append(str(info.value).split("; available")[0])
        assert words in str(info.value)
    assert messages[0] == messages[1]


def test_mean_queries_report_the_mean_seed_label_in_both(nb201_cifar10, surrogate_store):
    for store in (nb201_cifar10.store, surrogate_store):
        _, used = store.query(store.valid_metric, [0, 1, 2], seed_policy="mean", return_seed=True)
        assert (used == MEAN_SEED).all()


def test_no_attribute_probing_of_stores_in_the_core():
    """The engine, the catalogue and the reports read what a store can do from the protocol."""
    probe = re.compile(r"(getattr|hasattr)\(\s*(self\.)?(bench\.)?store\b")
    engine_modules = [str(p.relative_to(REPO)) for p in sorted((REPO / "harness" / "engine").glob("*.py"))]
    for path in [*engine_modules, "harness/benchmarks.py", "harness/report/reference.py",
                 "harness/report/checklist.py", "harness/report/__init__.py"]:
        text = (REPO / path).read_text()
        assert not probe.search(text), f"{path} probes a store"
    assert "bind_store" not in inspect.getsource(engine)
