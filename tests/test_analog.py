"""analog/cifar10 checked against the raw analog-nasbench pickle, the format vectors and FORMATS.md §6."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from harness.benchmarks import load_benchmark
from harness.spaces.nb201 import parse
from tabular.converters.analog import metric_names, package_file, read_table
from tabular.errors import StoreError
from tests.conftest import shared_doc

# FORMATS.md §6, written out independently of the converter: NASLib tuple position -> (from, to)
# edge, and NASLib op code -> op name.
NASLIB_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
ACCURACIES = ("baseline_accuracy", "ptq_accuracy", "qat_accuracy", "noisy_accuracy", "analog_accuracy")
DRIFTS = [f"{fam}_drift_{t}" for fam in ("baseline", "analog") for t in (60, 3600, 86400, 2592000)]


def nb201_string(key: tuple[int, ...]) -> str:
    op = {edge: NASLIB_OPS[code] for edge, code in zip(NASLIB_EDGES, key, strict=True)}
    return (
        f"|{op[(0, 1)]}~0|+|{op[(0, 2)]}~0|{op[(1, 2)]}~1|+"
        f"|{op[(0, 3)]}~0|{op[(1, 3)]}~1|{op[(2, 3)]}~2|"
    )


class _Loose(pickle.Unpickler):
    """Test-side reader of the raw file: any analognasbench class becomes a plain attribute bag."""

    def find_class(self, module, name):
        if module == "analognasbench.data":
            return type(name, (), {})
        raise AssertionError(f"unexpected global {module}.{name}")


@pytest.fixture(scope="module")
def raw():
    with open(package_file(), "rb") as handle:
        return _Loose(handle).load()


@pytest.fixture(scope="module")
def bench(data_home):
    loaded = load_benchmark("analog/cifar10")
    yield loaded
    loaded.store.close()


def raw_values(arch) -> dict[str, float]:
    out = {name: getattr(arch, name) for name in ACCURACIES}
    for name in DRIFTS:
        out[name] = getattr(arch, name).value
        out[name + "_uncertainty"] = getattr(arch, name).uncertainty
    return out


def test_format_vectors(bench, raw):
    vectors = json.loads(shared_doc("format_vectors.json").read_text())["analog_nasbench"]
    assert len(vectors) == 6
    space, store = bench.space, bench.store
    for vec in vectors:
        key = tuple(vec["key"])
        assert nb201_string(key) == vec["nb201_arch_str"]
        index = space.index_of(vec["nb201_arch_str"])
        assert index == vec["nb201_official_index"]
        assert store.arch_strings[index] == vec["nb201_arch_str"]
        from_package = raw_values(raw[key])
        for name, value in vec["metrics"].items():
            pairs = (
                [(name, value["value"]), (name + "_uncertainty", value["uncertainty"])]
                if isinstance(value, dict)
                else [(name, value)]
            )
            for metric, expected in pairs:
                assert store.query(metric, [index])[0] == expected, metric
                assert from_package[metric] == expected, metric


def test_every_row_equals_the_raw_entry(bench, raw):
    space, store = bench.space, bench.store
    assert len(raw) == store.n_archs == 15625
    names = metric_names()
    assert sorted(names) == store.metric_names
    rows = np.array([space.index_of(nb201_string(key)) for key in raw])
    assert np.array_equal(np.sort(rows), np.arange(15625))
    expected = np.array([[raw_values(arch)[n] for n in names] for arch in raw.values()])
    for j, name in enumerate(names):
        assert np.array_equal(store.metric_array(name)[rows, 0, 0], expected[:, j]), name


def test_cells_cut_from_input_or_output_score_ten_percent(bench):
    """FORMATS.md §6: a cell with no input->output path through non-`none` edges classifies at
    chance, exactly 10%; read in NB201 terms, so a wrong tuple mapping breaks it."""
    store = bench.store
    live = np.array([parse(s) for s in store.arch_strings.tolist()]) != 0  # NB201 op 0 is `none`
    # string edge order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
    reach1 = live[:, 0]
    reach2 = live[:, 1] | (reach1 & live[:, 2])
    connected = live[:, 3] | (reach1 & live[:, 4]) | (reach2 & live[:, 5])
    baseline = store.metric_array("baseline_accuracy")[:, 0, 0]
    # FORMATS.md's two sufficient cases: all input edges none, or all output edges none.
    assert not connected[live[:, [0, 1, 3]].sum(1) == 0].any()
    assert not connected[live[:, [3, 4, 5]].sum(1) == 0].any()
    assert (~connected).sum() > 0 and np.all(baseline[~connected] == 10.0)
    assert np.all(baseline[connected] > 10.0)


def test_store_metadata(bench):
    store = bench.store
    assert store.search_space == "nb201" and bench.space.name == "nb201"
    assert (store.valid_metric, store.test_metric, store.cost_metric) == ("baseline_accuracy", "", "")
    assert store.seeds.tolist() == [0] and store.fidelities.tolist() == [200.0]
    assert store.higher_is_better("analog_accuracy") and not store.higher_is_better("analog_drift_60_uncertainty")


def test_package_api_agrees_when_importable(bench):
    """The package's own query API, where it imports (it needs pkg_resources from setuptools<82)."""
    data = pytest.importorskip("analognasbench.data", exc_type=ImportError)
    api = data.AnalogNASBench()
    store, space = bench.store, bench.space
    for key in [(0, 0, 0, 4, 3, 2), (1, 1, 2, 1, 1, 1), (4, 3, 2, 1, 0, 4)]:
        index = space.index_of(nb201_string(key))
        assert store.query("analog_accuracy", [index])[0] == api.query_metric(key, "analog_accuracy")


def test_reader_refuses_foreign_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("should not run",))

    path = tmp_path / "evil.anb"
    path.write_bytes(pickle.dumps({(0,) * 6: Evil()}))
    with pytest.raises(StoreError):
        read_table(path)
