"""NAS-Bench-Graph space and stores, checked against the nas-bench-graph package's own code and data."""
from __future__ import annotations

import hashlib
import itertools
import json
import pickle

import numpy as np
import pytest

from harness.benchmarks import load_benchmark
from harness.spaces import ArchitectureError, get_space
from harness.spaces.nbgraph import LINKS, OPS
from tabular.converters.nbgraph import DATASETS, light_file, read_light_table
from tabular.errors import StoreError
from tests.conftest import shared_doc

nbg_arch = pytest.importorskip("nas_bench_graph.architecture")
nbg_read = pytest.importorskip("nas_bench_graph.readbench")

ALL_SKIP_KEY = 88888


def package_key(link, ops) -> int:
    return nbg_arch.Arch(list(link), list(ops)).valid_hash()


def split(arch: str) -> tuple[list[int], list[str]]:
    """Test-side reading of the documented string format link=a,b,c,d;ops=w,x,y,z."""
    link_part, ops_part = arch.split(";")
    assert link_part.startswith("link=") and ops_part.startswith("ops=")
    return [int(x) for x in link_part[5:].split(",")], ops_part[4:].split(",")


@pytest.fixture(scope="module")
def space():
    return get_space("nbgraph")


@pytest.fixture(scope="module")
def raw():
    return {ds: nbg_read.light_read(ds) for ds in DATASETS}


@pytest.fixture(scope="module")
def stores(data_home):
    loaded = {ds: load_benchmark(f"nbgraph/{ds}") for ds in DATASETS}
    yield {ds: b.store for ds, b in loaded.items()}
    for bench in loaded.values():
        bench.store.close()


@pytest.fixture(scope="module")
def row_of_key(stores):
    """Store row of each package key, found by hashing the store's own arch strings with the package."""
    strings = stores["cora"].arch_strings.tolist()
    mapping = {package_key(*split(s)): row for row, s in enumerate(strings)}
    assert len(mapping) == len(strings)
    return mapping


# -- the space -----------------------------------------------------------------------------------
def test_space_size_and_keys(space, raw):
    assert space.size == 26206
    assert np.all(np.diff(space.keys) > 0)
    assert set(space.keys.tolist()) == set(raw["cora"])


def test_constants_equal_the_package():
    assert list(OPS) == nbg_arch.gnn_list
    assert [list(link) for link in LINKS] == nbg_arch.link_list


def test_big_datasets_share_one_key_set_and_proteins_is_the_restricted_subset(raw):
    keys = set(raw["cora"])
    for ds in DATASETS[:-1]:
        assert set(raw[ds]) == keys, ds
    allowed = {nbg_arch.gnn_list.index(op) for op in nbg_arch.gnn_list_proteins}
    restricted = {k for k in keys if {int(c) for c in f"{k:05d}"[1:]} <= allowed}
    assert set(raw["proteins"]) == restricted and len(restricted) == 2021


def test_space_is_every_package_hash_but_all_skip(space):
    links = [lk for lk in itertools.product(range(4), repeat=4) if all(lk[i] <= i for i in range(4))]
    hashes = {package_key(lk, ops) for lk in links for ops in itertools.product(nbg_arch.gnn_list, repeat=4)}
    assert hashes == set(space.keys.tolist()) | {ALL_SKIP_KEY}


def test_arch_at_spells_the_key_and_round_trips(space):
    for i in range(space.size):
        arch = space.arch_at(i)
        assert package_key(*split(arch)) == space.keys[i]
        assert space.index_of(arch) == i
    assert space.indices_of([space.arch_at(5), space.arch_at(7)]).tolist() == [5, 7]


def test_format_vectors(space, stores):
    vectors = json.loads(shared_doc("format_vectors.json").read_text())["nas_bench_graph"]
    assert len(vectors) == 8
    store = stores["cora"]
    for vec in vectors:
        arch = "link=" + ",".join(map(str, vec["link"])) + ";ops=" + ",".join(vec["ops"])
        index = space.index_of(arch)
        assert space.keys[index] == vec["valid_hash"]
        canonical = space.arch_at(index)
        assert space.canonical(arch) == canonical and space.index_of(canonical) == index
        assert package_key(*split(canonical)) == vec["valid_hash"]
        entry = vec["light_bench_cora_entry"]
        assert store.query("valid_acc", [index])[0] == pytest.approx(entry["valid_perf"] * 100, rel=1e-12)
        assert store.query("test_acc", [index])[0] == pytest.approx(entry["perf"] * 100, rel=1e-12)
        assert store.static("latency", [index])[0] == entry["latency"]
        assert store.static("params", [index])[0] == entry["para"]


@pytest.mark.parametrize(
    "arch",
    [
        "link=0,1,2,1;ops=gcn,gin,fc,conv",  # unknown op
        "link=0,2,2,1;ops=gcn,gin,fc,cheb",  # link[1] > 1
        "link=1,1,2,1;ops=gcn,gin,fc,cheb",  # link[0] must be 0
        "link=0,1,-1,1;ops=gcn,gin,fc,cheb",
        "link=0,1,2;ops=gcn,gin,fc,cheb",
        "link=0,1,2,1;ops=gcn,gin,fc,cheb,gat",
        "link=0,1,x,1;ops=gcn,gin,fc,cheb",
        "link=0,1,2,1",
        "ops=gcn,gin,fc,cheb;link=0,1,2,1;ops=gcn,gin,fc,cheb",
        "0,1,2,1 gcn gin fc cheb",
        "link=0,1,2,3;ops=skip,skip,skip,skip",  # the all-skip cell is not in the space
        "link=0,0,0,0;ops=skip,skip,skip,skip",
        "",
    ],
)
def test_bad_strings_raise_one_line_errors(space, arch):
    with pytest.raises(ArchitectureError) as info:
        space.index_of(arch)
    assert "\n" not in str(info.value)


def test_non_string_and_index_out_of_range(space):
    with pytest.raises(ArchitectureError):
        space.index_of(61237)
    with pytest.raises(ArchitectureError):
        space.arch_at(space.size)


def _edit_keys(link, ops) -> set[int]:
    """Keys one op or link-entry edit away, by the package's hash (test-side enumeration)."""
    out = set()
    for pos in range(4):
        for op in nbg_arch.gnn_list:
            out.add(package_key(link, ops[:pos] + [op] + ops[pos + 1 :]))
        for src in range(pos + 1):
            out.add(package_key(link[:pos] + [src] + link[pos + 1 :], ops))
    return out


def test_neighbours_are_the_distinct_canonical_single_edits(space):
    rng = np.random.default_rng(1)
    for index in rng.choice(space.size, 60, replace=False):
        arch = space.arch_at(int(index))
        link, ops = split(arch)
        nbrs = space.neighbours(arch)
        assert nbrs == space.neighbours(arch)
        assert len(set(nbrs)) == len(nbrs) and arch not in nbrs
        assert all(space.canonical(n) == n for n in nbrs)
        expected = _edit_keys(link, ops) - {int(space.keys[index]), ALL_SKIP_KEY}
        assert {package_key(*split(n)) for n in nbrs} == expected


def test_neighbours_of_a_non_canonical_spelling_equal_its_canonical_ones(space):
    assert space.neighbours("link=0,1,2,1;ops=gcn,gin,fc,cheb") == space.neighbours("link=0,1,1,2;ops=gcn,gin,cheb,fc")


def test_mutate_returns_a_different_canonical_neighbour(space):
    rng = np.random.default_rng(2)
    for _ in range(200):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        assert space.canonical(child) == child
        assert child != space.canonical(arch)
        assert child in space.neighbours(arch)
    a = [space.mutate("link=0,1,2,1;ops=gcn,gin,fc,cheb", np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]


def test_mutate_reaches_several_neighbours(space):
    rng = np.random.default_rng(3)
    arch = "link=0,1,2,3;ops=gcn,gin,fc,cheb"
    seen = {space.mutate(arch, rng) for _ in range(300)}
    assert len(seen) > 10


def test_encodings(space):
    archs = [space.arch_at(i) for i in (0, 100, 20000, space.size - 1)]
    digits = np.array([[int(c) for c in f"{space.keys[space.index_of(a)]:05d}"] for a in archs])
    assert space.encode(archs, "index").tolist() == digits.tolist()
    onehot = space.encode(archs, "onehot")
    assert onehot.shape == (4, 9 + 4 * 9)
    assert onehot[:, :9].argmax(1).tolist() == digits[:, 0].tolist()
    blocks = onehot[:, 9:].reshape(4, 4, 9)
    assert np.all(blocks.sum(2) == 1) and blocks.argmax(2).tolist() == digits[:, 1:].tolist()
    with pytest.raises(ArchitectureError):
        space.encode(archs, "path")


# -- the stores ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", DATASETS)
def test_every_store_value_equals_the_raw_package(stores, raw, row_of_key, dataset):
    store, table = stores[dataset], raw[dataset]
    rows = np.array([row_of_key[k] for k in table])
    expect = {f: np.array([float(e[f]) for e in table.values()]) for f in ("valid_perf", "perf", "latency", "para")}
    valid = store.metric_array("valid_acc")[:, 0, 0]
    test = store.metric_array("test_acc")[:, 0, 0]
    np.testing.assert_allclose(valid[rows], expect["valid_perf"] * 100, rtol=1e-12, atol=0)
    np.testing.assert_allclose(test[rows], expect["perf"] * 100, rtol=1e-12, atol=0)
    assert np.array_equal(store.static("latency")[rows], expect["latency"])
    assert np.array_equal(store.static("params")[rows], expect["para"])
    absent = np.setdiff1d(np.arange(store.n_archs), rows)
    assert absent.size == store.n_archs - len(table)
    for name in ("valid_acc", "test_acc"):
        assert np.isnan(store.metric_array(name)[absent]).all()
        assert not np.isnan(store.metric_array(name)[rows]).any()
    assert np.isnan(store.static("latency")[absent]).all()


def test_store_metadata(stores):
    store = stores["cora"]
    assert store.search_space == "nbgraph" and store.n_archs == 26206
    assert (store.valid_metric, store.test_metric, store.cost_metric) == ("valid_acc", "test_acc", "")
    assert store.seeds.tolist() == [0] and store.fidelities.tolist() == [1.0]
    assert store.metric_attrs("valid_acc")["unit"] == "%"
    source = store.provenance["sources"][0]
    assert source["sha256"] == hashlib.sha256(light_file("cora").read_bytes()).hexdigest()
    assert store.provenance["licence"].startswith("Apache-2.0")


def test_proteins_best_ignores_untrained_rows(stores, raw):
    row, value = stores["proteins"].best("valid_acc")
    assert value == pytest.approx(100 * max(e["valid_perf"] for e in raw["proteins"].values()), rel=1e-12)


def test_light_reader_refuses_foreign_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("should not run",))

    path = tmp_path / "evil.bench"
    path.write_bytes(pickle.dumps({1: Evil()}))
    with pytest.raises(StoreError):
        read_light_table(path)
