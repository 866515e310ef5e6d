"""The NB101 space against official truth: the 52 real cells' hashes (their pickle keys) and the
generator's spellings (their stored adjacency), the README example and its documented hash, the
worked hashing example, and the official ModelSpec rules."""
from __future__ import annotations

import numpy as np
import pytest

from harness.spaces import get_space
from harness.spaces.base import ArchitectureError
from harness.spaces.nb101 import NB101Space, to_cell
from tests.nb101_fixtures import real_cells, vectors


@pytest.fixture(scope="module")
def cells():
    return real_cells()


@pytest.fixture(scope="module")
def space() -> NB101Space:
    return get_space("nb101")


@pytest.fixture(scope="module")
def sample(data_home, cells):
    from harness.benchmarks import load_benchmark
    from tabular.errors import SourceMissingError

    try:
        bench = load_benchmark("nb101/sample")
    except SourceMissingError as exc:  # NAS_HARNESS_NB101_SAMPLE points elsewhere
        pytest.skip(str(exc))
    yield bench
    bench.store.close()


def _reorder(matrix: np.ndarray, ops: list[str], rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """A random isomorphic spelling: a random topological order with input first, output last."""
    v = matrix.shape[0]
    placed, order = [0], []
    remaining = set(range(1, v - 1))
    while remaining:
        ready = sorted(u for u in remaining if all(w in placed for w in range(v) if matrix[w, u]))
        u = ready[int(rng.integers(len(ready)))]
        order.append(u)
        placed.append(u)
        remaining.discard(u)
    perm = [0, *order, v - 1]
    return matrix[np.ix_(perm, perm)], [ops[i] for i in perm]


def _with_dangling(matrix: np.ndarray, ops: list[str], kind: str) -> tuple[np.ndarray, list[str]]:
    """Insert an extra vertex before the output that pruning must remove: a dead end fed by every
    other vertex ('sink', which also pushes the raw edge count past 9) or a vertex that only feeds
    the output but is not reachable from the input ('source')."""
    v = matrix.shape[0]
    big = np.zeros((v + 1, v + 1), dtype=np.int8)
    big[: v - 1, : v - 1] = matrix[: v - 1, : v - 1]
    big[: v - 1, v] = matrix[: v - 1, v - 1]
    if kind == "sink":
        big[: v - 1, v - 1] = 1
    else:
        big[v - 1, v] = 1
    return big, [*ops[:-1], "maxpool3x3", ops[-1]]


# -- hash -----------------------------------------------------------------------------------------
def test_hash_of_every_real_cell(space, cells):
    for module_hash, (fixed, _) in cells.items():
        assert space.hash(fixed["module_adjacency"], fixed["module_operations"]) == module_hash


def test_readme_example_and_worked_example(space):
    spec = vectors()["nb101"]["specs"][0]
    assert space.hash(spec["matrix"], spec["ops"]) == spec["official_hash"]
    matrix, labels = to_cell(spec["matrix"], spec["ops"])
    assert matrix.tolist() == spec["pruned_matrix"] and list(labels) == spec["labeling"]
    worked = vectors()["nb101"]["worked_example"]
    from harness.spaces.nb101 import graph_hash

    assert graph_hash(np.asarray(worked["matrix"]), worked["labeling"]) == worked["final"]


def test_isomorphic_reorderings_hash_and_fold_alike(space, cells):
    rng = np.random.default_rng(0)
    for module_hash, (fixed, _) in cells.items():
        matrix, ops = np.asarray(fixed["module_adjacency"]), list(fixed["module_operations"])
        canonical = space.arch_of(matrix, ops)
        for _ in range(3):
            m, o = _reorder(matrix, ops, rng)
            assert space.hash(m, o) == module_hash
            assert space.arch_of(m, o) == canonical


def test_canonical_spelling_is_the_generators(space, cells):
    """The official files store each cell in the generator's vertex order; ours must be that order."""
    rng = np.random.default_rng(1)
    for fixed, _ in cells.values():
        matrix, ops = np.asarray(fixed["module_adjacency"]), list(fixed["module_operations"])
        m, o = _reorder(matrix, ops, rng)
        assert space.spec(space.arch_of(m, o)) == (matrix.tolist(), ops)


def test_cells_that_need_pruning_hash_as_their_pruned_form(space, cells):
    tested = 0
    for module_hash, (fixed, _) in cells.items():
        matrix, ops = np.asarray(fixed["module_adjacency"]), list(fixed["module_operations"])
        if matrix.shape[0] >= 7:
            continue
        for kind in ("sink", "source"):
            m, o = _with_dangling(matrix, ops, kind)
            assert space.hash(m, o) == module_hash
            assert space.arch_of(m, o) == space.arch_of(matrix, ops)
            tested += 1
    assert tested > 0


def test_unknown_op_on_a_pruned_vertex_is_ignored_like_the_official_api(space):
    matrix = [[0, 1, 1], [0, 0, 0], [0, 0, 0]]  # vertex 1 is a dead end, pruned before the op check
    assert space.hash(matrix, ["input", "conv5x5", "output"]) == space.hash([[0, 1], [0, 0]], ["input", "output"])


# -- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("matrix", "ops", "rule"),
    [
        ([[0, 1, 0], [0, 0, 1]], ["input", "conv3x3-bn-relu", "output"], "square"),
        ([[0, 1], [0, 0]], ["input", "conv3x3-bn-relu", "output"], "one label per vertex"),
        ([[0, 1, 0], [1, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"], "upper triangular"),
        ([[0, 2], [0, 0]], ["input", "output"], "0 or 1"),
        ([[0, 0, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"], "not connected"),
        (
            np.triu(np.ones((8, 8), dtype=int), 1) * (np.arange(8)[None, :] == np.arange(8)[:, None] + 1),
            ["input"] + ["conv3x3-bn-relu"] * 6 + ["output"],
            "too many vertices",
        ),
        (np.triu(np.ones((6, 6), dtype=int), 1), ["input"] + ["conv3x3-bn-relu"] * 4 + ["output"], "too many edges"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"], "unknown op"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["conv3x3-bn-relu", "conv3x3-bn-relu", "output"], "first op"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "maxpool3x3"], "last op"),
    ],
)
def test_invalid_specs_fail_with_one_line_naming_the_rule(space, matrix, ops, rule):
    with pytest.raises(ArchitectureError) as info:
        space.hash(matrix, ops)
    message = str(info.value)
    assert rule in message and "\n" not in message


@pytest.mark.parametrize("arch", ["", "1", "1|c3", "11|", "1.1|c5", "10.0|c3", "1x.1|c3", 7])
def test_malformed_strings_fail_with_one_line(space, arch):
    with pytest.raises(ArchitectureError) as info:
        space.canonical(arch)
    assert "\n" not in str(info.value)


def test_unbound_space_has_no_index(space):
    arch = space.arch_of([[0, 1], [0, 0]], ["input", "output"])
    for call in (lambda: space.size, lambda: space.index_of(arch), lambda: space.arch_at(0)):
        with pytest.raises(ArchitectureError, match="load a benchmark"):
            call()


# -- sampling, mutation, neighbours, encodings -----------------------------------------------------
def test_random_cells_are_valid_deterministic_and_varied(space):
    a = [space.sample(np.random.default_rng(5)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(300)]
    sizes = set()
    for arch in archs:
        matrix, ops = space.spec(arch)
        assert len(ops) <= 7 and np.sum(matrix) <= 9 and space.canonical(arch) == arch
        sizes.add(len(ops))
    assert len(sizes) >= 3 and len(set(archs)) > 150


def test_mutation_is_one_edit_and_reaches_every_neighbour(space):
    spec = vectors()["nb101"]["specs"][0]
    parent = space.arch_of(spec["matrix"], spec["ops"])
    neighbours = space.neighbours(parent)
    assert parent not in neighbours and len(set(neighbours)) == len(neighbours)
    assert len({space.hash_arch(n) for n in neighbours}) == len(neighbours)
    rng = np.random.default_rng(0)
    children = [space.mutate(parent, rng) for _ in range(600)]
    assert set(children) == set(neighbours)
    # The README cell has 7 vertices and 9 edges: only an op change keeps 7 vertices and 9 edges.
    shapes = {c: (len(space.spec(c)[1]), int(np.sum(space.spec(c)[0]))) for c in set(children)}
    op_changes = sum(shapes[c] == (7, 9) for c in children)
    assert 0 < op_changes < len(children)


def test_path_encoding_of_the_readme_cell(space):
    # Paths input->output: via conv1x1, via conv3x3, via conv3x3->conv3x3, via maxpool (hand-counted).
    spec = vectors()["nb101"]["specs"][0]
    enc = space.encode([space.arch_of(spec["matrix"], spec["ops"])], "path")[0]
    c3, c1, mp = 0, 1, 2
    expected = {1 + c1, 1 + c3, 4 + 3 * c3 + c3, 1 + mp}
    assert set(np.flatnonzero(enc).tolist()) == expected


def test_encodings_shapes_and_isomorphism_invariance(space, cells):
    rng = np.random.default_rng(2)
    fixed = next(iter(cells.values()))[0]
    matrix, ops = np.asarray(fixed["module_adjacency"]), list(fixed["module_operations"])
    m, o = _reorder(matrix, ops, rng)
    from harness.spaces.nb101 import format_cell
    from harness.spaces.nb101 import to_cell as tc

    other = format_cell(*tc(m, o))  # a non-canonical spelling of the same cell
    a = space.arch_of(matrix, ops)
    for kind, dim in (("onehot", 36), ("index", 26), ("path", 364)):
        enc = space.encode([a, other], kind)
        assert enc.shape == (2, dim) and np.array_equal(enc[0], enc[1])


# -- bound to the real sample -------------------------------------------------------------------------
def test_sample_store_matches_the_pickles(sample, cells):
    space, store = sample.space, sample.store
    assert space.size == len(cells) == 52
    for module_hash, (fixed, computed) in cells.items():
        row = space.index_of_hash(module_hash)
        assert space.index_of(space.arch_of(fixed["module_adjacency"], fixed["module_operations"])) == row
        runs = computed[108]
        for rep in range(3):
            got = store.query("valid_acc", [row], seed_policy="fixed", seed=rep)[0]
            assert got == pytest.approx(100 * runs[rep]["final_validation_accuracy"], rel=1e-12)
            got = store.query("halfway_train_time", [row], seed_policy="fixed", seed=rep)[0]
            assert got == pytest.approx(runs[rep]["halfway_training_time"], rel=1e-12)
        assert store.static("params", [row])[0] == fixed["trainable_parameters"]


def test_bound_space_folds_spellings_and_codes(sample, cells):
    space = sample.space
    rng = np.random.default_rng(3)
    from harness.spaces.codes import CodeTable
    from harness.spaces.nb101 import format_cell
    from harness.spaces.nb101 import to_cell as tc

    table = CodeTable.of(space, "test")
    for i in range(space.size):
        arch = space.arch_at(i)
        m, o = _reorder(*[np.asarray(x) if k == 0 else x for k, x in enumerate(space.spec(arch))], rng)
        assert space.index_of(format_cell(*tc(m, o))) == i
        assert table.decode(table.encode([arch])[0]) == arch
    assert table.cardinalities == (2,) * 21 + (3,) * 5
    with pytest.raises(ArchitectureError, match="not in store"):
        space.index_of(space.arch_of([[0, 1], [0, 0]], ["input", "output"]))


def test_sample_space_edits_stay_in_the_store(sample):
    space = sample.space
    rng = np.random.default_rng(4)
    for i in range(space.size):
        arch = space.arch_at(i)
        nbrs = space.neighbours(arch)
        assert nbrs and all(0 <= space.index_of(n) < space.size and n != arch for n in nbrs)
        assert space.index_of(space.mutate(arch, rng)) >= 0
        assert space.index_of(space.sample(rng)) >= 0


@pytest.mark.parametrize(
    "strategy,hp", [("rs", {}), ("re", {}), ("ls", {}), ("bananas", {"encoding": "path"}), ("gpbo", {})]
)
def test_strategies_run_on_the_sample(sample, strategy, hp):
    from harness.engine import Budget, run_search

    budget = 15 if strategy in ("bananas", "gpbo") else 25
    runs = [
        run_search(sample, strategy, seed=7, budget=Budget(evaluations=budget), hyperparameters=hp) for _ in range(2)
    ]
    df = runs[0]
    assert len(df) == budget and df["best_valid"].is_monotonic_increasing
    assert df["arch"].tolist() == runs[1]["arch"].tolist()
    assert df["valid"].between(0, 100).all() and (df["cost"] > 0).all()


def test_sample_source_missing(tmp_path, monkeypatch):
    from harness.benchmarks import get_spec, load_benchmark, source_status
    from tabular.errors import SourceMissingError

    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("NAS_HARNESS_NB101_SAMPLE", str(tmp_path / "nowhere"))
    status = source_status(get_spec("nb101/sample"))
    assert "source missing" in status and "NAS_HARNESS_NB101_SAMPLE" in status
    with pytest.raises(SourceMissingError):
        load_benchmark("nb101/sample")
