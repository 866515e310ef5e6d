"""The DARTS / NAS-Bench-301 space: official feature vectors, index, sampling, mutation, errors."""
from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from harness.spaces import ArchitectureError, get_space
from harness.spaces.darts import OPS, from_compact, from_genotype, nb301_config, to_genotype
from tests.conftest import shared_doc, shared_file


@pytest.fixture(scope="module")
def space():
    return get_space("darts")


@pytest.fixture(scope="module")
def official():
    return json.loads(shared_doc("format_vectors.json").read_text())["nb301"]


def test_feature_vectors_equal_the_official_ones(space, official):
    assert len(official["vectors"]) == 2
    for vector in official["vectors"]:
        arch = from_genotype(vector["genotype"])
        features = space.encode([arch], "nb301")[0]
        assert features.tolist() == vector["xgb_lgb_feature_vector"], vector["name"]


def test_config_dict_equals_the_official_conversion(space, official):
    for vector in official["vectors"]:
        expected = {
            k.replace("NetworkSelectorDatasetInfo:darts:", ""): v
            for k, v in vector["arch_config_from_convert_genotype_to_config"].items()
        }
        ours = {
            k.replace("NetworkSelectorDatasetInfo:darts:", ""): v
            for k, v in nb301_config(from_genotype(vector["genotype"])).items()
        }
        assert ours == expected


def test_size_is_the_closed_form(space):
    per_cell = math.prod(math.comb(t + 2, 2) for t in range(4)) * 7**8
    assert space.size == per_cell**2
    assert 10**18 < space.size < 2**63  # "about 10^18 cells"; an int64 index


def test_index_is_a_bijection_and_ignores_pair_order(space):
    rng = np.random.default_rng(1)
    for index in [0, space.size - 1, *rng.integers(space.size, size=300).tolist()]:
        arch = space.arch_at(index)
        assert space.index_of(arch) == index
    arch = space.arch_at(123456789012345)
    # The same cell with each node's two pairs written the other way round.
    cells = arch.split(";")
    swapped = []
    for cell in cells:
        head, nodes = cell.split("=")
        swapped.append(
            head + "=" + "+".join("|" + "|".join(reversed(n[1:-1].split("|"))) + "|" for n in nodes.split("+"))
        )
    assert ";".join(swapped) != arch
    assert space.index_of(";".join(swapped)) == space.index_of(arch)
    with pytest.raises(ArchitectureError):
        space.arch_at(space.size)


def test_uniform_sampling_matches_the_per_node_distribution(space):
    """NB301 samples 2 distinct inputs, then 2 ops, uniformly per node: check the marginals."""
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(6000)]
    pairs, ops = Counter(), Counter()
    for a in archs:
        g = to_genotype(a)["normal"]
        pairs[(g[6][1], g[7][1])] += 1  # node 3: 10 possible input pairs
        ops.update(op for op, _ in g)
    assert len(pairs) == 10 and all(abs(c / 6000 - 0.1) < 0.02 for c in pairs.values())
    assert set(ops) == set(OPS) and all(abs(c / (8 * 6000) - 1 / 7) < 0.01 for c in ops.values())


def test_mutation_is_one_edit_and_deterministic(space):
    rng = np.random.default_rng(3)
    for _ in range(200):
        arch = space.sample(rng)
        child = space.mutate(arch, np.random.default_rng(7))
        assert child == space.mutate(arch, np.random.default_rng(7))
        assert child != arch and child in set(space.neighbours(arch))
        a, b = to_genotype(arch), to_genotype(child)

        def pairs(g):  # (cell, node, op, input) of every pair
            return Counter(
                (cell, i // 2, op, src) for cell in ("normal", "reduce") for i, (op, src) in enumerate(g[cell])
            )

        assert sum((pairs(a) - pairs(b)).values()) == 1 == sum((pairs(b) - pairs(a)).values())


def test_neighbourhood_size_is_the_closed_form(space):
    """Per cell: 8 pairs x 6 other ops, plus 2 pairs x (t unused inputs) for node t: 48 + 12."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        arch = space.sample(rng)
        neighbours = space.neighbours(arch)
        assert len(neighbours) == len(set(neighbours)) == 2 * (8 * 6 + 2 * (0 + 1 + 2 + 3))
        assert arch not in neighbours
        assert all(space.arch_at(space.index_of(n)) == n for n in neighbours)


def test_canonical_identifies_node_relabellings(space):
    # Nodes 2 and 3 (t = 0, 1) both read only the cell inputs: swapping them (and renaming the
    # references of later nodes) is the same network.
    a = {"normal": [("sep_conv_3x3", 0), ("skip_connect", 1), ("dil_conv_5x5", 0), ("max_pool_3x3", 1),
                    ("sep_conv_5x5", 2), ("avg_pool_3x3", 1), ("skip_connect", 3), ("dil_conv_3x3", 4)],
         "reduce": [("max_pool_3x3", 0), ("max_pool_3x3", 1)] * 4}
    b = {"normal": [("dil_conv_5x5", 0), ("max_pool_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 1),
                    ("sep_conv_5x5", 3), ("avg_pool_3x3", 1), ("skip_connect", 2), ("dil_conv_3x3", 4)],
         "reduce": a["reduce"]}
    arch_a, arch_b = from_genotype(a), from_genotype(b)
    assert arch_a != arch_b and space.canonical(arch_a) == space.canonical(arch_b)
    assert space.canonical(space.canonical(arch_a)) == space.canonical(arch_a)
    c = dict(b, normal=[("sep_conv_5x5", 0)] + b["normal"][1:])  # a different op: not isomorphic
    assert space.canonical(from_genotype(c)) != space.canonical(arch_a)


@pytest.mark.parametrize(
    "arch, message",
    [
        ("normal=|conv_9x9~0|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|;"
         "reduce=|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|",
         "unknown op 'conv_9x9'"),
        ("normal=|skip_connect~0|skip_connect~1|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|;"
         "reduce=|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|",
         "has 3 inputs"),
        ("normal=|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~4|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|;"
         "reduce=|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|",
         "out of range (allowed 0..2)"),
        ("normal=|skip_connect~0|skip_connect~1|+|skip_connect~2|skip_connect~2|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|;"
         "reduce=|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|",
         "takes input 2 twice"),
        ("normal=|skip_connect~0|skip_connect~1|", "must read normal="),
    ],
)
def test_bad_architectures_fail_with_one_line(space, arch, message):
    with pytest.raises(ArchitectureError) as info:
        space.index_of(arch)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_genotypes_fail_with_one_line():
    good = [("skip_connect", 0), ("skip_connect", 1)] * 4
    with pytest.raises(ArchitectureError, match="lists 7"):
        from_genotype({"normal": good[:7], "reduce": good})
    with pytest.raises(ArchitectureError, match="normal_concat"):
        from_genotype({"normal": good, "reduce": good, "normal_concat": [2, 3, 4, 5, 6]})
    with pytest.raises(ArchitectureError, match="out of range"):
        from_genotype({"normal": good[:6] + [("skip_connect", 0), ("skip_connect", 5)], "reduce": good})


def test_naslib_compact_genotypes_of_the_real_nb301_data(space):
    data = json.loads(shared_file("nb301", "zc_proxies_nb301.json").read_text())["cifar10"]
    archs = [from_compact(entry["arch"]) for entry in data.values()]
    assert len(archs) == len(set(archs)) == 725
    key = next(iter(data.values()))["arch"]  # [[(input, op) x 8], ...] with NB301's op order
    first = from_compact(key)
    compact = eval(key)  # test-only: the file's literal
    g = to_genotype(first)
    assert sorted(g["normal"]) == sorted((OPS[op], src) for src, op in compact[0])
    onehot = space.encode(archs[:50], "onehot")
    assert onehot.shape == (50, 196) and (onehot.sum(axis=1) == 16).all()
