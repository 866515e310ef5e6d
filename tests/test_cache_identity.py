"""The store cache serves a benchmark only its own store: a foreign file is refused, an old cache rebuilt."""
from __future__ import annotations

import shutil

import h5py
import pytest

from harness.benchmarks import ensure_store, load_benchmark
from tabular.data_dir import store_path
from tabular.errors import NasHarnessError
from tabular.schema import FORMAT_VERSION
from tabular.store import open_store
from tabular.writer import write_store
from tests.test_store import make_data


def test_a_foreign_store_at_a_benchmarks_cache_path_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path))
    target = store_path("nbgraph/cora")
    target.parent.mkdir(parents=True)
    write_store(make_data(), target)  # a toy store (another name) dropped where nbgraph/cora's cache lives
    with pytest.raises(NasHarnessError, match=r"holds the store of .*not 'nbgraph/cora'; move or delete"):
        load_benchmark("nbgraph/cora")
    assert target.is_file()  # never replaced: it is not a cache we built


def test_an_old_format_cache_of_ours_is_rebuilt_with_a_checksum(data_home, nb201_cifar10, tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path))
    target = store_path("nb201/cifar10")
    target.parent.mkdir(parents=True)
    shutil.copyfile(nb201_cifar10.store.path, target)
    with h5py.File(target, "r+") as h5:  # what a nas-harness before data checksums would have left
        h5.attrs["format_version"] = 1
    with open_store(target, verify="lazy") as old:
        assert old.format_version == 1
    ensure_store("nb201/cifar10")
    with open_store(target) as rebuilt:
        assert rebuilt.format_version == FORMAT_VERSION and len(rebuilt.provenance["data_sha256"]) == 64
