"""Converters of the official NAS-Bench-201 `.pth` and NATS-tss files, on exact-format fixtures.

Truth comes from outside the converter: the official get_more_info/get_cost_info outputs on real
NATS archive files (format_vectors.json), the semantics of FORMATS.md §2.6 transcribed in
tests/official_fixtures.py, and the per-seed values written into the fixture files.
"""
from __future__ import annotations

import bz2
import hashlib
import json
import os
import pickle
import zipfile
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.catalog.official import nb201_order
from harness.spaces.nb201 import NB201Space
from tabular.converters import nats_tss, nb201_pth
from tabular.errors import NasHarnessError, StoreError
from tabular.store import open_store
from tabular.writer import StoreData
from tests import official_fixtures as fx
from tests.conftest import shared_doc

ORDER = nb201_order()  # the NB201 index the catalogue passes to these converters

OUR_NAME = {
    "cifar10-valid": "cifar10-valid",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "ImageNet16-120": "imagenet16-120",
}
ROLE_OF_FIELD = {"accuracy": "acc", "loss": "loss"}


@pytest.fixture(scope="module")
def meta_archs() -> list[str]:
    space = NB201Space()
    return [space.arch_at(i) for i in range(space.size)]


@pytest.fixture(scope="module")
def vectors() -> list[dict[str, Any]]:
    return json.loads(shared_doc("format_vectors.json").read_text())["nats_tss_sample_get_more_info"]


@pytest.fixture(scope="module")
def vector_archs(vectors, meta_archs) -> dict[int, dict[str, Any]]:
    """Indices 0, 11, 284 reproducing the official outputs, plus random archs with 1-2 seeds."""
    archs = fx.official_vector_archs(vectors, meta_archs)
    rng = np.random.default_rng(1)
    for index, long_seeds in ((5, [888]), (42, [777, 999]), (15624, [999])):
        archs[index] = {
            "200": fx.random_arch(rng, index, meta_archs[index], "200", 200, {ds: long_seeds for ds in fx.DATASETS}),
            "12": fx.random_arch(
                rng, index, meta_archs[index], "12", 12, {"cifar10-valid": [111, 777], "cifar100": [111]}
            ),
        }
    return archs


@pytest.fixture(scope="module")
def vector_folder(tmp_path_factory, meta_archs, vector_archs) -> Path:
    folder = tmp_path_factory.mktemp("nats") / "NATS-tss-v1_0-3ffb9-simple"
    return fx.write_nats_folder(folder, meta_archs, vector_archs, unpadded=(42,))


# -- helpers -------------------------------------------------------------------------------------
def _arrays(data: StoreData | Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[int]]:
    """(metrics, statics, seeds) of an in-memory StoreData or an opened store."""
    if isinstance(data, StoreData):
        return (
            {k: np.asarray(m.values) for k, m in data.metrics.items()},
            {k: np.asarray(s.values) for k, s in data.static.items()},
            list(data.seeds),
        )
    return (
        {m: np.asarray(data.metric_array(m)) for m in data.metric_names},
        {s: np.asarray(data.static(s)) for s in data.static_names},
        data.seeds.tolist(),
    )


def _seed_mean(values: np.ndarray) -> np.ndarray:
    """Mean over seeds with NaN for none measured (as BenchmarkStore.seed_mean), without warnings."""
    count = np.sum(~np.isnan(values), axis=0)
    total = np.nansum(values, axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def assert_matches_reference(
    data: Any, archs: dict[int, dict[str, Any]], dataset: str, hp: str, n_archs: int = 15625
) -> None:
    """Every architecture, every epoch: store seed means == get_more_info(is_random=False), and
    every per-seed value == the value written into the file; unevaluated rows are NaN."""
    metrics, static, seeds = _arrays(data)
    evaluated = []
    for index, by_hp in archs.items():
        state = by_hp.get(hp)
        if not state or dataset not in state["dataset_seed"]:
            continue
        evaluated.append(index)
        runs = {s: state["all_results"][(dataset, s)] for s in state["dataset_seed"][dataset]}
        epochs = next(iter(runs.values()))["epochs"]
        assert metrics["train_acc"].shape[1:] == (len(seeds), epochs)
        # The reference recomputes sums from scratch (quadratic in epochs): sample long schedules.
        check = range(epochs) if epochs <= 20 else sorted({0, 1, epochs // 3, epochs - 2, epochs - 1})
        for e in check:
            ref = fx.reference_more_info(state, dataset, e)
            for key, value in ref.items():
                role, field = key.split("-", 1)
                if field in ROLE_OF_FIELD:
                    got = _seed_mean(metrics[f"{role}_{ROLE_OF_FIELD[field]}"][index, :, e])
                elif role == "train":
                    got = _seed_mean(metrics["train_time"][index, :, e])
                    got = got if field == "all-time" else got / (e + 1)
                elif role == "valid":
                    total = _seed_mean(metrics["valid_eval_time"][index, :, : e + 1]).sum()
                    got = total if field == "all-time" else total / (e + 1)
                else:
                    continue  # test/valtest evaluation times are not stored
                assert got == pytest.approx(value, rel=1e-12, abs=1e-9), (index, dataset, hp, e, key)
            # a set the official API leaves out at this epoch is NaN in the store
            for role in fx.ROLES[dataset]:
                if f"{role}-accuracy" not in ref:
                    assert np.isnan(metrics[f"{role}_acc"][index, :, e]).all()
        for s, run in runs.items():
            k = seeds.index(s)
            assert metrics["train_acc"][index, k].tolist() == [float(run["train_acc1es"][e]) for e in range(epochs)]
            assert metrics["train_loss"][index, k].tolist() == [float(run["train_losses"][e]) for e in range(epochs)]
            if run["train_times"] is None:
                assert np.isnan(metrics["train_time"][index, k]).all()
            else:
                cumulative = list(accumulate(float(run["train_times"][e]) for e in range(epochs)))
                np.testing.assert_allclose(metrics["train_time"][index, k], cumulative, rtol=1e-13)
            for role, setname in fx.ROLES[dataset].items():
                for field, source in (("acc", "eval_acc1es"), ("loss", "eval_losses")):
                    want = [float(run[source].get(f"{setname}@{e}", np.nan)) for e in range(epochs)]
                    np.testing.assert_array_equal(metrics[f"{role}_{field}"][index, k], want)
            for other in set(seeds) - set(runs):
                assert np.isnan(metrics["train_acc"][index, seeds.index(other)]).all()
        cost = fx.reference_cost_info(state, dataset)
        assert static["flops"][index] == pytest.approx(cost["flops"], rel=1e-12)
        assert static["params"][index] == pytest.approx(cost["params"], rel=1e-12)
        if cost["latency"] is None:
            assert np.isnan(static["latency"][index])
        else:
            assert static["latency"][index] == pytest.approx(cost["latency"], rel=1e-12)
    assert evaluated, "fixture has no architecture for this store"
    unevaluated = np.ones(n_archs, dtype=bool)
    unevaluated[evaluated] = False
    for values in metrics.values():
        assert np.isnan(values).all(axis=(1, 2))[unevaluated].all()
    assert np.isnan(static["flops"][unevaluated]).all()


# -- the official test vectors -----------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("dataset", fx.DATASETS)
def test_nats_folder_reproduces_official_outputs(vector_folder, vectors, vector_archs, dataset):
    """Seed means of the stores equal the real-data get_more_info / get_cost_info outputs to 1e-9."""
    stores = {
        d.name: d for d in nats_tss.iter_stores(vector_folder, select={(dataset, "200"), (dataset, "12")}, order=ORDER)
    }
    assert sorted(stores) == sorted([f"nats-tss/{OUR_NAME[dataset]}", f"nats-tss/{OUR_NAME[dataset]}-12ep"])
    checked = 0
    for v in (v for v in vectors if v["dataset"] == dataset):
        data = stores["nats-tss/" + OUR_NAME[dataset] + ("" if v["hp"] == "200" else "-12ep")]
        metrics, static, seeds = _arrays(data)
        row, epochs = v["index"], int(v["hp"])
        assert data.fidelities.tolist() == list(range(1, epochs + 1))
        if "get_cost_info" in v:
            for key in ("flops", "params", "latency"):
                assert static[key][row] == pytest.approx(v["get_cost_info"][key], abs=1e-9, rel=0)
            continue
        assert seeds == sorted(v["seeds_averaged"])
        info = v["get_more_info"]
        for key, value in info.items():
            role, _, field = key.rpartition("-")
            if field in ROLE_OF_FIELD:
                got = _seed_mean(metrics[f"{role}_{ROLE_OF_FIELD[field]}"][row, :, -1])
            elif key == "train-all-time":
                got = _seed_mean(metrics["train_time"][row, :, -1])
            elif key == "train-per-time":
                got = _seed_mean(metrics["train_time"][row, :, -1]) / epochs
            elif key in ("valid-all-time", "valid-per-time"):
                total = _seed_mean(metrics["valid_eval_time"][row]).sum()
                got = total if key == "valid-all-time" else total / epochs
            else:
                assert key.startswith(("test-", "valtest-")) and key.endswith("-time"), key
                continue  # test-set evaluation times are not stored
            assert got == pytest.approx(value, abs=1e-9, rel=0), (v["index"], v["hp"], dataset, key)
            checked += 1
        # roles the official API does not report for this dataset are absent from the store
        assert ("valid_acc" in metrics) == ("valid-accuracy" in info)
        assert ("valtest_acc" in metrics) == ("valtest-accuracy" in info)
    assert checked >= 6 * 6  # 3 archs x 2 schedules x at least train (4) and test (2) keys
    for hp in ("200", "12"):
        data = stores["nats-tss/" + OUR_NAME[dataset] + ("" if hp == "200" else "-12ep")]
        assert_matches_reference(data, vector_archs, dataset, hp)
        assert data.valid_metric == ("" if dataset == "cifar10" else "valid_acc")
        assert (data.test_metric, data.cost_metric, data.search_space) == ("test_acc", "train_time", "nb201")
        assert (
            data.seeds.tolist()
            == {"200": [777, 888, 999], "12": [111, 777] if dataset == "cifar10-valid" else [111]}[hp]
        )


def test_fixture_pickles_reference_only_the_official_globals(vector_folder):
    """FORMATS.md §2.5 [V]: real NATS pickles name OrderedDict, numpy.core...scalar and numpy.dtype."""
    for name in ("meta.pickle.pbz2", "000000.pickle.pbz2"):
        raw = bz2.decompress((vector_folder / name).read_bytes())
        assert raw[:2] == b"\x80\x04"  # protocol 4
        assert fx.pickle_globals(raw) <= fx.OFFICIAL_GLOBALS
    assert fx.pickle_globals(bz2.decompress((vector_folder / "000000.pickle.pbz2").read_bytes())) == fx.OFFICIAL_GLOBALS


def test_folder_provenance_hash_is_over_the_files_read(vector_folder):
    data = next(nats_tss.iter_stores(vector_folder, select={("cifar10", "12")}, order=ORDER))
    lines = [f"meta.pickle.pbz2\t{hashlib.sha256((vector_folder / 'meta.pickle.pbz2').read_bytes()).hexdigest()}\n"]
    for index in (0, 5, 11, 42, 284, 15624):
        name = f"{index}.pickle.pbz2" if index == 42 else f"{index:06d}.pickle.pbz2"
        lines.append(f"{name}\t{hashlib.sha256((vector_folder / name).read_bytes()).hexdigest()}\n")
    source = data.provenance["sources"][0]
    assert source["sha256"] == hashlib.sha256("".join(lines).encode()).hexdigest()
    assert data.provenance["licence"] == "MIT" and "NATS-Bench" in data.provenance["citation"]
    assert data.provenance["evaluated_archs"] == 3  # 0, 11, 284 ran 12 epochs on cifar10


def test_single_file_matches_the_reference(tmp_path, meta_archs, small_archs):
    path = fx.write_nats_single(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2", meta_archs, small_archs)
    stores = list(nats_tss.iter_stores(path, select={("cifar10-valid", "12"), ("ImageNet16-120", "12")}, order=ORDER))
    assert [d.name for d in stores] == ["nats-tss/cifar10-valid-12ep", "nats-tss/imagenet16-120-12ep"]
    assert_matches_reference(stores[0], small_archs, "cifar10-valid", "12")
    assert_matches_reference(stores[1], small_archs, "ImageNet16-120", "12")
    assert stores[0].provenance["sources"][0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


# -- NAS-Bench-201 .pth ------------------------------------------------------------------------
def _pth_archs(meta_archs: list[str], version: str, long_epochs: int = 6) -> dict[int, dict[str, Any]]:
    """{index: {'less': ..., 'full': ...}} like v1_0 (less on cifar10-valid only, no times) or v1_1.

    The 'full' runs are shortened to `long_epochs` epochs to keep the stores small; their layout
    (x-valid etc. only at the last epoch) is that of the 200-epoch schedule.
    """
    rng = np.random.default_rng(7)
    times = version == "v1_1"
    less_seeds = {"cifar10-valid": [111, 777], "cifar10": [111], "cifar100": [111], "ImageNet16-120": [111]}
    if version == "v1_0":
        less_seeds = {"cifar10-valid": [111]}
    layout = {3: [777, 888, 999], 1462: [888], 9000: [777, 999]}
    out = {}
    for index, seeds in layout.items():
        out[index] = {
            "less": fx.random_arch(rng, index, meta_archs[index], "12", 12, less_seeds, times=times),
            "full": fx.random_arch(
                rng, index, meta_archs[index], "200", long_epochs, {ds: seeds for ds in fx.DATASETS}, times=times
            ),
        }
    return out


def _by_hp(archs: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {i: {"12": a["less"], "200": a["full"]} for i, a in archs.items()}


def test_pth_v1_1_legacy_round_trips_every_field(tmp_path, meta_archs):
    archs = _pth_archs(meta_archs, "v1_1")
    path = fx.write_nb201_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth", meta_archs, archs, legacy=True)
    assert not zipfile.is_zipfile(path)
    paths = nb201_pth.convert(path, tmp_path / "stores", order=ORDER)
    names = sorted(p.relative_to(tmp_path / "stores").as_posix() for p in paths)
    expected = [f"nb201-v1_1/{OUR_NAME[ds]}{suffix}.h5" for ds in fx.DATASETS for suffix in ("", "-12ep")]
    assert names == sorted(expected)
    for dataset in fx.DATASETS:
        for hp, suffix in (("200", ""), ("12", "-12ep")):
            with open_store(tmp_path / "stores" / f"nb201-v1_1/{OUR_NAME[dataset]}{suffix}.h5") as store:
                assert_matches_reference(store, _by_hp(archs), dataset, hp)
                assert store.cost_metric == "train_time"
                assert store.provenance["sources"][0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
                assert store.metric_attrs("train_time")["unit"] == "s"
                assert not store.higher_is_better("train_loss") and store.higher_is_better("test_acc")


def test_pth_zip_serialization_reads_the_same(tmp_path, meta_archs):
    archs = _pth_archs(meta_archs, "v1_1")
    path = fx.write_nb201_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth", meta_archs, archs, legacy=False)
    assert zipfile.is_zipfile(path)
    (data,) = nb201_pth.iter_stores(path, select={("cifar100", "200")}, order=ORDER)
    assert data.name == "nb201-v1_1/cifar100"
    assert_matches_reference(data, _by_hp(archs), "cifar100", "200")


@pytest.mark.parametrize("file_name", ["NAS-Bench-201-v1_0-e61699.pth", "renamed.pth"])
def test_pth_v1_0_has_no_times_and_only_cifar10_valid_12_epochs(tmp_path, meta_archs, file_name):
    archs = _pth_archs(meta_archs, "v1_0")
    path = fx.write_nb201_pth(tmp_path / file_name, meta_archs, archs, legacy=True)
    paths = nb201_pth.convert(path, tmp_path / "stores", order=ORDER)
    names = sorted(p.relative_to(tmp_path / "stores").as_posix()[:-3] for p in paths)
    assert names == sorted([f"nb201-v1_0/{OUR_NAME[ds]}" for ds in fx.DATASETS] + ["nb201-v1_0/cifar10-valid-12ep"])
    with open_store(tmp_path / "stores" / "nb201-v1_0/cifar10-valid-12ep.h5") as store:
        assert_matches_reference(store, _by_hp(archs), "cifar10-valid", "12")
        assert np.isnan(store.metric_array("train_time")).all()
        assert store.cost_metric == "" and "valid_eval_time" not in store.metric_names
        assert store.seeds.tolist() == [111]


def test_pth_refuses_to_overwrite_without_force(tmp_path, meta_archs):
    archs = _pth_archs(meta_archs, "v1_0")
    path = fx.write_nb201_pth(tmp_path / "NAS-Bench-201-v1_0-e61699.pth", meta_archs, archs)
    out = tmp_path / "stores"
    nb201_pth.convert(path, out, select={("cifar10", "200")}, order=ORDER)
    target = out / "nb201-v1_0" / "cifar10.h5"
    before = target.stat().st_mtime_ns
    with pytest.raises(StoreError, match="--force"):
        nb201_pth.convert(path, out, select={("cifar10", "200")}, order=ORDER)
    assert target.stat().st_mtime_ns == before
    nb201_pth.convert(path, out, select={("cifar10", "200")}, force=True, order=ORDER)
    assert [p.name for p in out.rglob("*.tmp")] == []


# -- damaged and foreign input -----------------------------------------------------------------
@pytest.fixture(scope="module")
def small_archs(meta_archs) -> dict[int, dict[str, Any]]:
    """Short-schedule NATS records (4 'long' epochs) for tests that need files, not 200 epochs."""
    rng = np.random.default_rng(11)
    return {
        i: {
            "200": fx.random_arch(rng, i, meta_archs[i], "200", 4, {ds: [777, 888] for ds in fx.DATASETS}),
            "12": fx.random_arch(rng, i, meta_archs[i], "12", 12, {ds: [111] for ds in fx.DATASETS}),
        }
        for i in (0, 11, 284)
    }


def _one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("legacy", [True, False])
def test_truncated_pth_is_one_clear_error(tmp_path, meta_archs, legacy):
    path = fx.write_nb201_pth(
        tmp_path / "NAS-Bench-201-v1_1-096897.pth", meta_archs, _pth_archs(meta_archs, "v1_0"), legacy=legacy
    )
    fx.truncate(path, 0.6)
    with pytest.raises(NasHarnessError) as excinfo:
        nb201_pth.convert(path, tmp_path / "stores", order=ORDER)
    assert "truncated or corrupt" in _one_line_error(excinfo)
    assert not (tmp_path / "stores").exists()


@pytest.mark.parametrize("victim", ["meta.pickle.pbz2", "000284.pickle.pbz2"])
def test_truncated_nats_folder_file_is_one_clear_error(tmp_path, meta_archs, small_archs, victim):
    folder = fx.write_nats_folder(tmp_path / "simple", meta_archs, {i: small_archs[i] for i in (0, 284)})
    fx.truncate(folder / victim, 0.5)
    with pytest.raises(NasHarnessError) as excinfo:
        nats_tss.convert(folder, tmp_path / "stores", order=ORDER)
    message = _one_line_error(excinfo)
    assert victim in message and "truncated or corrupt" in message


def test_truncated_nats_single_file_is_one_clear_error(tmp_path, meta_archs, small_archs):
    path = fx.write_nats_single(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2", meta_archs, {0: small_archs[0]})
    fx.truncate(path, 0.7)
    with pytest.raises(NasHarnessError) as excinfo:
        list(nats_tss.iter_stores(path, order=ORDER))
    assert "truncated or corrupt" in _one_line_error(excinfo)


class _Foreign:
    """Pickles as a call of a global that no NATS file references."""

    def __reduce__(self):
        return (os.getpid, ())


def test_nats_pickle_naming_a_foreign_global_is_refused(tmp_path, meta_archs, small_archs):
    folder = fx.write_nats_folder(tmp_path / "simple", meta_archs, {0: small_archs[0]})
    (folder / "000000.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps({"12": _Foreign()}, protocol=4)))
    with pytest.raises(NasHarnessError, match="refusing to unpickle"):
        list(nats_tss.iter_stores(folder, order=ORDER))


def test_meta_archs_in_another_order_is_refused(tmp_path, meta_archs, small_archs):
    shuffled = list(meta_archs)
    shuffled[0], shuffled[1] = shuffled[1], shuffled[0]
    folder = fx.write_nats_folder(tmp_path / "simple", shuffled, {11: small_archs[11]})
    with pytest.raises(NasHarnessError, match=r"meta_archs\[0\]"):
        list(nats_tss.iter_stores(folder, order=ORDER))


def test_results_filed_under_the_wrong_index_are_refused(tmp_path, meta_archs, small_archs):
    folder = fx.write_nats_folder(tmp_path / "simple", meta_archs, {0: small_archs[0]})
    (folder / "000000.pickle.pbz2").rename(folder / "000007.pickle.pbz2")
    with pytest.raises(NasHarnessError, match="index 7"):
        list(nats_tss.iter_stores(folder, order=ORDER))


def test_unexpected_seed_labels_extend_the_seed_axis(tmp_path, meta_archs):
    rng = np.random.default_rng(3)
    archs = {9: {"200": fx.random_arch(rng, 9, meta_archs[9], "200", 4, {"cifar10": [555, 888]})}}
    folder = fx.write_nats_folder(tmp_path / "simple", meta_archs, archs)
    (data,) = nats_tss.iter_stores(folder, order=ORDER)
    assert data.name == "nats-tss/cifar10" and data.seeds.tolist() == [555, 888]
    assert_matches_reference(data, archs, "cifar10", "200")


def test_tar_archive_asks_to_unpack(tmp_path):
    tar = tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar"
    tar.write_bytes(b"\0" * 1024)
    with pytest.raises(NasHarnessError, match="unpack it first"):
        nats_tss.convert(tar, tmp_path / "stores", order=ORDER)


# -- catalogue and command line ----------------------------------------------------------------
def test_catalogue_lists_official_benchmarks_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path))
    from harness.benchmarks import benchmark_names, get_spec, load_benchmark, source_status
    from tabular.errors import SourceMissingError

    names = set(benchmark_names())
    for family in ("nb201-v1_1", "nats-tss"):
        assert {f"{family}/{OUR_NAME[ds]}{sfx}" for ds in fx.DATASETS for sfx in ("", "-12ep")} <= names
    assert {f"nb201-v1_0/{OUR_NAME[ds]}" for ds in fx.DATASETS} | {"nb201-v1_0/cifar10-valid-12ep"} <= names
    assert "nb201-v1_0/cifar100-12ep" not in names  # v1_0 ran 12 epochs on cifar10-valid only
    status = source_status(get_spec("nb201-v1_1/cifar100"))
    assert str(tmp_path / "sources" / "NAS-Bench-201-v1_1-096897.pth") in status and "\n" not in status
    assert "nas-harness convert nb201-pth" in status
    with pytest.raises(SourceMissingError, match="NATS-tss-v1_0-3ffb9-simple"):
        load_benchmark("nats-tss/cifar10")


def test_catalogue_builds_from_a_source_in_the_data_folder(tmp_path, monkeypatch, meta_archs, small_archs):
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path))
    from harness.benchmarks import get_spec, load_benchmark, source_status
    from tabular.data_dir import store_path

    fx.write_nats_folder(tmp_path / "sources" / "NATS-tss-v1_0-3ffb9-simple", meta_archs, small_archs)
    assert source_status(get_spec("nats-tss/cifar100-12ep")).startswith("ready")
    bench = load_benchmark("nats-tss/cifar100-12ep")
    try:
        assert bench.space.name == "nb201" and bench.store.name == "nats-tss/cifar100-12ep"
        assert_matches_reference(bench.store, small_archs, "cifar100", "12")
        row = bench.space.index_of(meta_archs[284])
        assert bench.store.query("test_acc", [row], fidelity=12.0)[0] == pytest.approx(
            fx.reference_more_info(small_archs[284]["12"], "cifar100", 11)["test-accuracy"], abs=1e-12)
    finally:
        bench.store.close()
    # loading the folder once cached the other stores of the same source
    assert store_path("nats-tss/imagenet16-120").is_file() and store_path("nats-tss/cifar10-valid-12ep").is_file()


@pytest.mark.slow
def test_cli_convert_writes_refuses_and_forces(tmp_path, monkeypatch, capsys, meta_archs, small_archs):
    from harness.cli import main

    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))
    folder = fx.write_nats_folder(tmp_path / "NATS-tss-v1_0-3ffb9-simple", meta_archs, small_archs)
    out = tmp_path / "out"
    assert main(["convert", "nats-tss", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(
        str(out / f"nats-tss/{OUR_NAME[ds]}{sfx}.h5") for ds in fx.DATASETS for sfx in ("", "-12ep")
    )
    with open_store(out / "nats-tss" / "cifar10-valid.h5") as store:
        assert_matches_reference(store, small_archs, "cifar10-valid", "200")
    assert main(["convert", "nats-tss", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert main(["convert", "nats-tss", str(folder), "--out", str(out), "--force"]) == 0
    capsys.readouterr()
    # a .pth with no --out lands in the data folder's stores
    pth = fx.write_nb201_pth(tmp_path / "NAS-Bench-201-v1_0-e61699.pth", meta_archs, _pth_archs(meta_archs, "v1_0", 3))
    assert main(["convert", "nb201-pth", str(pth)]) == 0
    assert (tmp_path / "data" / "stores" / "nb201-v1_0" / "cifar10-valid-12ep.h5").is_file()
    fx.truncate(folder / "000011.pickle.pbz2")
    assert main(["convert", "nats-tss", str(folder), "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "000011.pickle.pbz2" in err
