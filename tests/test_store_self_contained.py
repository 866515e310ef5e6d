"""A store answers only with values stored in its own file (issue 18, items 1-2; docs/FORMAT.md).

Each crafted file below is made with h5py from a good store, and then *re-signed*: its recorded
data_sha256 is recomputed over what h5py reads through the link (as a forger would), so that the
new layout check is the only thing that can refuse it. Before that check, every one of them opened
and served values that are not in the file, or one metric as another.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from harness.cli import main as cli_main
from tabular import MetricArray, StaticMetric, StoreData, StoreError, open_store, write_store

KEY = "data_sha256"
REPO = Path(__file__).resolve().parents[1]


def make_data(n: int = 30) -> StoreData:
    rng = np.random.default_rng(0)
    return StoreData(
        name="toy/contained",
        search_space="toy",
        arch_strings=[f"a{i}" for i in range(n)],
        arch_encoding=np.arange(n).reshape(-1, 1),
        fidelities=np.array([12.0, 200.0]),
        seeds=np.array([0, 1]),
        metrics={"valid_acc": MetricArray(rng.uniform(50, 90, (n, 2, 2)), "%", True),
                 "test_acc": MetricArray(rng.uniform(50, 90, (n, 2, 2)), "%", True),
                 "train_time": MetricArray(rng.uniform(10, 20, (n, 2, 2)), "s", False)},
        static={"params": StaticMetric(rng.uniform(0, 1, n), "M", "params")},
        valid_metric="valid_acc", test_metric="test_acc", cost_metric="train_time",
        provenance={"sources": [{"name": "toy", "sha256": "0" * 64}]},
    )


def resign(path: Path) -> None:
    """Record the documented data checksum of what h5py reads now (links followed), as a forger would."""
    digest = hashlib.sha256()
    with h5py.File(path, "r+") as handle:
        names = ["archs/str", "archs/encoding", "archs/id", "fidelities", "seeds"]
        names += [f"metrics/{k}" for k in sorted(handle["metrics"])] + [f"static/{k}" for k in sorted(handle["static"])]
        for name in names:
            values = handle[name][()]
            digest.update(f"{name}:{values.dtype.str}:{','.join(map(str, values.shape))}\n".encode())
            digest.update(values.tobytes(order="C"))
        provenance = json.loads(handle.attrs["provenance"])
        provenance[KEY] = digest.hexdigest()
        handle.attrs["provenance"] = json.dumps(provenance)


def _take(handle: h5py.File, name: str) -> tuple[np.ndarray, dict]:
    values, attrs = handle[name][()], dict(handle[name].attrs)
    del handle[name]
    return values, attrs


def external_link(path: Path) -> str:
    other = path.with_suffix(".outside")  # not *.h5: the catalogue would list it
    with h5py.File(path, "r+") as handle:
        values, attrs = _take(handle, "metrics/valid_acc")
        with h5py.File(other, "w") as out:
            out.create_dataset("valid_acc", data=values + 5.0).attrs.update(attrs)  # better than the truth
        handle["metrics/valid_acc"] = h5py.ExternalLink(str(other), "/valid_acc")
    return "external link"


def soft_link(path: Path) -> str:
    with h5py.File(path, "r+") as handle:
        _take(handle, "metrics/valid_acc")
        handle["metrics/valid_acc"] = h5py.SoftLink("/metrics/test_acc")  # selection on test data
    return "soft link"


def hard_link_alias(path: Path) -> str:
    with h5py.File(path, "r+") as handle:
        _take(handle, "metrics/valid_acc")
        handle["metrics/valid_acc"] = handle["metrics/test_acc"]  # a second name of one dataset
    return "second name"


def virtual_dataset(path: Path) -> str:
    other = path.with_suffix(".outside")  # not *.h5: the catalogue would list it
    with h5py.File(path, "r+") as handle:
        values, attrs = _take(handle, "metrics/valid_acc")
        with h5py.File(other, "w") as out:
            out.create_dataset("valid_acc", data=values + 5.0)
        layout = h5py.VirtualLayout(shape=values.shape, dtype=values.dtype)
        layout[...] = h5py.VirtualSource(str(other), "valid_acc", shape=values.shape)
        handle.create_virtual_dataset("metrics/valid_acc", layout).attrs.update(attrs)
    return "virtual dataset"


def external_storage(path: Path) -> str:
    raw = path.with_name("outside.bin")
    with h5py.File(path, "r+") as handle:
        values, attrs = _take(handle, "metrics/valid_acc")
        raw.write_bytes(np.ascontiguousarray(values + 5.0).tobytes())
        ds = handle.create_dataset("metrics/valid_acc", shape=values.shape, dtype=values.dtype,
                                   external=[(str(raw), 0, values.nbytes)])
        ds.attrs.update(attrs)
    return "external file"


CRAFTS = [external_link, soft_link, hard_link_alias, virtual_dataset, external_storage]


@pytest.fixture
def store_file(tmp_path):
    return write_store(make_data(), tmp_path / "toy.h5")


@pytest.mark.parametrize("craft", CRAFTS, ids=lambda c: c.__name__)
def test_a_store_whose_values_live_elsewhere_is_refused_in_one_line(store_file, craft):
    words = craft(store_file)
    resign(store_file)
    with h5py.File(store_file, "r") as handle:  # the forgery is real: h5py serves values through it
        assert np.isfinite(handle["metrics/valid_acc"][()]).all()
    for verify in ("open", "lazy"):
        with pytest.raises(StoreError) as info:
            open_store(store_file, verify=verify)
        message = str(info.value)
        assert "\n" not in message and "/metrics/valid_acc" in message and words in message
        assert "may not contain" in message or "own data" in message


def test_a_format_1_store_with_external_raw_storage_is_refused(store_file):
    """Issue 18 item 2: no checksum to compare, so only the layout check stands between the user and
    another file's bytes served as accuracies."""
    external_storage(store_file)
    with h5py.File(store_file, "r+") as handle:
        provenance = json.loads(handle.attrs["provenance"])
        del provenance[KEY]
        handle.attrs["provenance"] = json.dumps(provenance)
        handle.attrs["format_version"] = 1
    with pytest.raises(StoreError, match="keeps its values in the external file"):
        open_store(store_file)


def test_plain_layouts_still_open(store_file):
    """Chunked (compressed) and compact datasets hold their bytes in the file: allowed."""
    truth = make_data()
    with h5py.File(store_file, "r+") as handle:
        values, attrs = _take(handle, "metrics/valid_acc")
        chunked = handle.create_dataset("metrics/valid_acc", data=values, chunks=(5, 2, 2), compression="gzip")
        chunked.attrs.update(attrs)
        seeds = handle["seeds"][()]
        del handle["seeds"]
        space = h5py.h5s.create_simple(seeds.shape)
        plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        plist.set_layout(h5py.h5d.COMPACT)
        dsid = h5py.h5d.create(handle.id, b"seeds", h5py.h5t.py_create(seeds.dtype), space, dcpl=plist)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, seeds)
    with open_store(store_file) as store:
        np.testing.assert_array_equal(store.metric_array("valid_acc"), truth.metrics["valid_acc"].values)
        np.testing.assert_array_equal(store.seeds, truth.seeds)


@pytest.mark.parametrize("craft", [external_link, external_storage], ids=lambda c: c.__name__)
def test_rank_stats_refuses_in_one_line(store_file, craft, capsys):
    craft(store_file)
    resign(store_file)
    assert cli_main(["rank-stats", str(store_file), "valid_acc", "train_time"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas-harness: error: ") and "\n" not in err and "/metrics/valid_acc" in err


def _cached_store(data: Path) -> Path:
    """The cached store of a built-in benchmark (nbgraph/cora, converted from its PyPI package)."""
    from harness.benchmarks import ensure_store

    return ensure_store("nbgraph/cora")


@pytest.mark.parametrize("craft", [soft_link, virtual_dataset], ids=lambda c: c.__name__)
def test_query_and_load_refuse_a_catalogue_store_in_one_line(tmp_path, monkeypatch, capsys, craft):
    from harness.benchmarks import load_benchmark

    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))
    path = _cached_store(tmp_path / "data")
    with h5py.File(path, "r+") as handle:  # valid_acc becomes another dataset's name or a window on a file
        metric = str(handle.attrs["valid_metric"])
        if "test_acc" not in handle["metrics"]:
            handle["metrics/test_acc"] = handle[f"metrics/{metric}"][()] + 1.0
        if metric != "valid_acc":
            handle.move(f"metrics/{metric}", "metrics/valid_acc")
            handle.attrs["valid_metric"] = "valid_acc"
    craft(path)
    resign(path)
    capsys.readouterr()
    assert cli_main(["query", "nbgraph/cora"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas-harness: error: ") and "\n" not in err
    assert str(path) in err and "/metrics/valid_acc" in err
    with pytest.raises(StoreError, match="/metrics/valid_acc"):
        load_benchmark("nbgraph/cora")


@pytest.mark.slow
def test_run_refuses_a_catalogue_store_with_an_external_link(tmp_path, monkeypatch):
    """The grid (`nas-harness run`) exits non-zero with the one-line reason and writes no result."""
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))
    path = _cached_store(tmp_path / "data")
    with h5py.File(path, "r+") as handle:
        metric = str(handle.attrs["valid_metric"])
        if metric != "valid_acc":
            handle.move(f"metrics/{metric}", "metrics/valid_acc")
            handle.attrs["valid_metric"] = "valid_acc"
    external_link(path)
    resign(path)
    env = dict(os.environ, NAS_HARNESS_DATA=str(tmp_path / "data"))
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "benchmark=nbgraph/cora", "strategy=rs",
                           "budget.evaluations=5", f"hydra.run.dir={results}", f"hydra.sweep.dir={results}"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "external link" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not list(results.rglob("trajectory.parquet"))
