"""The NB201 space against the official order, NATS-Bench's isomorphism strings and its own rules."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.spaces import ArchitectureError, get_space
from harness.spaces.nb201 import OPS, PATH_DIM, parse, unique_str
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


# Anchors published with the benchmark (FORMATS.md §2.4, asserted by the official generator script).
ANCHORS = {
    0: "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    1: "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    15624: "|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|none~0|nor_conv_1x1~1|nor_conv_1x1~2|",
    1651: "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    1835: "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    1462: "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    7581: "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
}


@pytest.mark.parametrize("index, arch", sorted(ANCHORS.items()))
def test_published_anchors(space, index, arch):
    assert space.arch_at(index) == arch
    assert space.index_of(arch) == index


def test_index_round_trip_is_a_bijection(space):
    archs = [space.arch_at(i) for i in range(space.size)]
    assert len(set(archs)) == space.size == 15625
    assert [space.index_of(a) for a in archs[::97]] == list(range(0, space.size, 97))


@pytest.mark.parametrize(
    "filename, column",
    [
        ("nats_tss_test_acc_200ep.csv", "ArchitectureString"),
        ("naslib_val_acc_200ep.csv", "arch_str"),
        ("help_latency_26devices.csv", "arch_str"),
    ],
)
def test_every_row_of_the_real_tables(space, filename, column):
    table = pd.read_csv(shared_file("nb201", filename))
    assert len(table) == space.size
    expected = table[column].tolist()
    assert [space.arch_at(i) for i in range(space.size)] == expected
    assert [space.index_of(a) for a in expected] == list(range(space.size))


def test_mini_nb201_pickle_rows(space):
    table = pd.read_pickle(shared_file("nb201", "mini_nb201_12ep.pd"))
    strings = table["arch"].tolist() if isinstance(table["arch"].iloc[0], str) else table["cellstr"].tolist()
    assert [space.index_of(a) for a in strings] == list(range(len(strings)))


def test_unique_strings_equal_nats_bench(space):
    table = pd.read_csv(shared_file("nb201", "nats_tss_test_acc_200ep.csv"))
    ours = [unique_str(tuple(row)) for row in space.op_codes.tolist()]
    assert ours == table["UniqueString"].tolist()


def test_6466_isomorphism_classes(space):
    assert space.n_classes == 6466


def test_canonical_is_a_class_representative(space):
    # Node 1 feeds nothing (its out-edges are `none`), so its own op cannot matter.
    a = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|"
    b = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|"
    assert unique_str(parse(a)) == unique_str(parse(b))
    assert space.canonical(a) == space.canonical(b)
    canon = space.canonical(a)
    assert space.index_of(canon) <= min(space.index_of(a), space.index_of(b))
    assert space.canonical(canon) == canon
    c = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert space.canonical(c) != canon


@pytest.mark.parametrize(
    "bad, message",
    [
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
        ("|none~0|+|none~0|none~1|", "3 '\\+'-separated nodes"),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "must be op~0"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "needs 2 inputs"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "written"),
    ],
)
def test_bad_strings_are_one_line_errors(space, bad, message):
    with pytest.raises(ArchitectureError, match=message):
        space.index_of(bad)


def _edits(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(parse(a), parse(b), strict=True))


def test_mutation_changes_exactly_one_edge_and_covers_the_neighbourhood(space):
    rng = np.random.default_rng(0)
    arch = space.arch_at(1)
    neighbours = space.neighbours(arch)
    assert len(neighbours) == len(set(neighbours)) == 24
    assert all(_edits(arch, n) == 1 for n in neighbours)
    seen = {space.mutate(arch, rng) for _ in range(2000)}
    assert seen == set(neighbours)


def test_sampling_is_reproducible_and_uniform(space):
    a = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert len(set(a)) == 1
    rng = np.random.default_rng(1)
    idx = space.sample_indices(rng, 200000)
    counts = np.bincount(idx % 5, minlength=5)
    assert counts.min() > 0.95 * counts.mean()


def test_onehot_encoding(space):
    archs = [space.arch_at(i) for i in range(100)]
    enc = space.encode(archs, "onehot")
    assert enc.shape == (100, 30)
    assert np.all(enc.sum(axis=1) == 6)
    for arch, row in zip(archs, enc, strict=True):
        assert [int(np.argmax(row[5 * k : 5 * k + 5])) for k in range(6)] == list(parse(arch))


def _brute_force_paths(arch: str) -> set[tuple[str, ...]]:
    """Enumerate input->output paths edge by edge, independently of the vectorised encoder."""
    ops = dict(zip([(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)], [OPS[c] for c in parse(arch)], strict=True))
    paths: set[tuple[str, ...]] = set()

    def walk(node: int, seq: tuple[str, ...]) -> None:
        if node == 3:
            paths.add(seq)
            return
        for (to, src), op in ops.items():
            if src == node and op != "none":
                walk(to, seq + (op,))

    walk(0, ())
    return paths


def test_path_encoding_against_brute_force(space):
    archs = [space.arch_at(i) for i in range(0, space.size, 53)]
    enc = space.encode(archs, "path")
    assert enc.shape[1] == PATH_DIM == 84
    for arch, row in zip(archs, enc, strict=True):
        assert int(row.sum()) == len(_brute_force_paths(arch))
    assert space.encode([ANCHORS[1651]], "path").sum() == 0
    with pytest.raises(ArchitectureError, match="no encoding"):
        space.encode(archs, "graph")
