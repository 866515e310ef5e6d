"""Stores carry a sha256 of their arrays, and open_store refuses one whose values changed after writing."""
from __future__ import annotations

import hashlib
import json
import logging

import h5py
import numpy as np
import pytest

from harness.cli import main as cli_main
from tabular import MetricArray, StaticMetric, StoreData, StoreError, open_store, write_store

KEY = "data_sha256"


def make_data(n: int = 40, seed: int = 0) -> StoreData:
    rng = np.random.default_rng(seed)
    valid = rng.normal(80, 5, size=(n, 3, 2))
    valid[rng.random(valid.shape) < 0.2] = np.nan
    return StoreData(
        name="toy/checksum",
        search_space="toy",
        arch_strings=[f"arch-{i}" for i in range(n)],
        arch_encoding=rng.integers(0, 5, size=(n, 4)),
        fidelities=np.array([12.0, 200.0]),
        seeds=np.array([777, 888, 999]),
        metrics={
            "valid_acc": MetricArray(valid, "%", True),
            "train_time": MetricArray(rng.uniform(100, 200, size=(n, 3, 2)), "s", False),
        },
        static={"params": StaticMetric(rng.uniform(0, 1, n), "M", "params")},
        cost_metric="train_time",
        test_metric="",
        provenance={"sources": [{"name": "toy", "sha256": "0" * 64}]},
    )


def independent_checksum(path) -> str:
    """docs/FORMAT.md, "Data checksum", recomputed with h5py and hashlib only: for each dataset in the
    documented order, `path:dtype:shape\\n` and then its bytes in C order."""
    digest = hashlib.sha256()
    with h5py.File(path, "r") as handle:
        names = ["archs/str", "archs/encoding", "archs/id", "fidelities", "seeds"]
        names += [f"metrics/{k}" for k in sorted(handle["metrics"])] + [f"static/{k}" for k in sorted(handle["static"])]
        for name in names:
            values = handle[name][()]
            digest.update(f"{name}:{values.dtype.str}:{','.join(map(str, values.shape))}\n".encode())
            digest.update(values.tobytes(order="C"))
    return digest.hexdigest()


def recorded_checksum(path) -> str:
    with h5py.File(path, "r") as handle:
        return json.loads(handle.attrs["provenance"])[KEY]


@pytest.fixture
def store_file(tmp_path):
    return write_store(make_data(), tmp_path / "toy.h5")


def test_recorded_checksum_is_the_documented_sha256_and_an_untouched_store_opens(store_file):
    recorded = recorded_checksum(store_file)
    assert recorded == independent_checksum(store_file)
    data = make_data()
    with open_store(store_file) as store:
        assert store.provenance[KEY] == recorded
        assert store.provenance["sources"] == data.provenance["sources"]
        np.testing.assert_array_equal(store.metric_array("valid_acc"), data.metrics["valid_acc"].values)
    assert KEY not in data.provenance  # the caller's StoreData is not changed
    other = make_data(seed=1)
    assert recorded_checksum(write_store(other, store_file.with_name("other.h5"))) != recorded


def test_one_flipped_float_is_refused_in_one_line(store_file):
    with h5py.File(store_file, "r+") as handle:
        ds = handle["metrics/valid_acc"]
        before = ds[5, 1, 0]
        ds[5, 1, 0] = before + 1.0 if np.isfinite(before) else 50.0
    assert independent_checksum(store_file) != recorded_checksum(store_file)
    with pytest.raises(StoreError) as info:
        open_store(store_file)
    message = str(info.value)
    assert "corrupted" in message and "--force" in message and "\n" not in message and str(store_file) in message


def test_one_flipped_bit_in_the_file_is_refused(store_file):
    with h5py.File(store_file, "r") as handle:
        offset = handle["static/params"].id.get_offset()
    raw = bytearray(store_file.read_bytes())
    raw[offset + 8 * 17] ^= 0x01  # lowest mantissa bit of params[17]
    store_file.write_bytes(bytes(raw))
    with h5py.File(store_file, "r") as handle:  # still a readable HDF5 file with one value changed
        assert handle["static/params"][17] != make_data().static["params"].values[17]
    with pytest.raises(StoreError, match="corrupted"):
        open_store(store_file)


def test_swapped_metrics_are_refused(store_file):
    """Same bytes under other names: the checksum covers which dataset holds them."""
    with h5py.File(store_file, "r+") as handle:
        handle.move("metrics/valid_acc", "metrics/tmp")
        handle.move("metrics/train_time", "metrics/valid_acc")
        handle.move("metrics/tmp", "metrics/train_time")
    with pytest.raises(StoreError, match="corrupted"):
        open_store(store_file)


def test_lazy_verification_refuses_the_first_read(store_file):
    with h5py.File(store_file, "r+") as handle:
        handle["metrics/train_time"][0, 0, 0] = -1.0
    with open_store(store_file, verify="lazy") as store:
        assert store.n_archs == 40 and store.metric_names == ["train_time", "valid_acc"]
        with pytest.raises(StoreError, match="corrupted"):
            store.query("valid_acc", [0, 1])
        with pytest.raises(StoreError, match="corrupted"):
            _ = store.arch_strings
    with pytest.raises(StoreError, match="verify="):
        open_store(store_file, verify="never")


def test_chunked_compressed_copy_with_the_same_values_still_verifies(store_file):
    """The checksum is of the values, not of the file layout another HDF5 writer chose."""
    with h5py.File(store_file, "r+") as handle:
        values = handle["metrics/valid_acc"][()]
        attrs = dict(handle["metrics/valid_acc"].attrs)
        del handle["metrics/valid_acc"]
        ds = handle.create_dataset("metrics/valid_acc", data=values, chunks=(8, 3, 2), compression="gzip")
        ds.attrs.update(attrs)
    with open_store(store_file) as store:
        np.testing.assert_array_equal(store.metric_array("valid_acc"), make_data().metrics["valid_acc"].values)
    with h5py.File(store_file, "r+") as handle:
        handle["metrics/valid_acc"][3, 0, 1] = 1.5
    with pytest.raises(StoreError, match="corrupted"):
        open_store(store_file)


def test_format_1_store_without_checksum_opens_unverified(store_file, caplog):
    with h5py.File(store_file, "r+") as handle:
        provenance = json.loads(handle.attrs["provenance"])
        del provenance[KEY]
        handle.attrs["provenance"] = json.dumps(provenance)
        handle.attrs["format_version"] = 1
        handle["metrics/valid_acc"][0, 0, 0] = 1.0  # nothing to check it against
    with caplog.at_level(logging.DEBUG, logger="tabular.store"), open_store(store_file) as store:
        assert store.format_version == 1 and store.metric_array("valid_acc")[0, 0, 0] == 1.0
    assert any("written before stores carried a data checksum" in r.getMessage() for r in caplog.records)


def test_a_checksum_is_verified_whatever_format_version_says(store_file):
    """Setting format_version back to 1 (the unchecked legacy format) does not skip the check."""
    with h5py.File(store_file, "r+") as handle:
        handle.attrs["format_version"] = 1
        handle["metrics/valid_acc"][0, 0, 0] = 1.0
    assert independent_checksum(store_file) != recorded_checksum(store_file)
    with pytest.raises(StoreError, match="corrupted"):
        open_store(store_file)


def test_format_2_store_without_checksum_or_with_bad_provenance_is_refused(store_file):
    with h5py.File(store_file, "r+") as handle:
        provenance = json.loads(handle.attrs["provenance"])
        del provenance[KEY]
        handle.attrs["provenance"] = json.dumps(provenance)
    with pytest.raises(StoreError, match=f"records no {KEY}"):
        open_store(store_file)
    with h5py.File(store_file, "r+") as handle:
        handle.attrs["provenance"] = "[1, 2"
    with pytest.raises(StoreError, match="provenance attribute is not a JSON object"):
        open_store(store_file)


def test_cli_prints_one_line_for_a_corrupted_store(store_file, capsys):
    assert cli_main(["rank-stats", str(store_file), "valid_acc", "train_time"]) == 0
    capsys.readouterr()
    with h5py.File(store_file, "r+") as handle:
        handle["metrics/valid_acc"][1, 1, 1] = 0.0
    assert cli_main(["rank-stats", str(store_file), "valid_acc", "train_time"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas-harness: error: ") and "corrupted" in err and "\n" not in err


@pytest.mark.slow
def test_corrupted_cached_store_is_refused_then_rebuilt_once_deleted(tmp_path, monkeypatch):
    """A catalogue store in $NAS_HARNESS_DATA: refused while corrupted, rebuilt from its source when deleted."""
    from harness.benchmarks import load_benchmark
    from tabular.data_dir import store_path

    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))
    bench = load_benchmark("nbgraph/cora")
    path, truth = bench.store.path, np.array(bench.store.metric_array(bench.store.valid_metric))
    bench.store.close()
    assert path == store_path("nbgraph/cora") and recorded_checksum(path) == independent_checksum(path)
    with h5py.File(path, "r+") as handle:
        handle[f"metrics/{bench.store.valid_metric}"][0, 0, -1] += 1.0
    with pytest.raises(StoreError, match="corrupted.*delete it so that it is rebuilt"):
        load_benchmark("nbgraph/cora")
    path.unlink()
    rebuilt = load_benchmark("nbgraph/cora")
    np.testing.assert_array_equal(rebuilt.store.metric_array(rebuilt.store.valid_metric), truth)
    rebuilt.store.close()
