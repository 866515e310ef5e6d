"""The DARTS-space supernet: mixed-edge closed form, single-path op counts, DARTS's derivation rule,
the choice <-> genotype round trip, shapes, weight inheritance by the trainer's network, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from harness.oneshot.darts_supernet import (
    N_SUPER_OPS,
    SUPER_OPS,
    DartsSupernet,
    MixedEdge,
    choice_of_arch,
    derive_genotype,
)
from harness.spaces.base import ArchitectureError
from harness.spaces.darts import EDGE_START, OPS, DartsSpace, from_genotype, parse
from harness.trainer.darts_net import DartsNetwork

# The published DARTS (second order) cell, DARTS_V2 in the paper's genotypes.py.
DARTS_V2 = {
    "normal": [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
               ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    "reduce": [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
               ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
}
# Its path by hand: SUPER_OPS indices none 0, max 1, avg 2, skip 3, sep3 4, sep5 5, dil3 6, dil5 7;
# edges 0-1 node 0, 2-4 node 1, 5-8 node 2, 9-13 node 3.
DARTS_V2_CHOICE = ((4, 4, 4, 4, 0, 3, 4, 0, 0, 3, 0, 6, 0, 0),
                   (1, 1, 0, 1, 3, 1, 0, 3, 0, 0, 1, 3, 0, 0))


def _bn(y, bn):
    return F.batch_norm(y, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)


def _dw_pw_bn(x, mods, stride, padding, dilation):
    """ReLU, depthwise conv, pointwise conv, BN written with torch.nn.functional."""
    _, dw, pw, bn = mods
    y = F.conv2d(F.relu(x), dw.weight, stride=stride, padding=padding, dilation=dilation, groups=x.shape[1])
    return _bn(F.conv2d(y, pw.weight), bn)


def _by_hand(name, module, x, stride):
    """The DARTS op `name` (paper's definition) computed from `module`'s parameters by hand."""
    if name == "none":
        return torch.zeros_like(x[:, :, ::stride, ::stride])
    if name == "max_pool_3x3":
        return F.max_pool2d(x, 3, stride, 1)
    if name == "avg_pool_3x3":
        return F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)
    if name == "skip_connect":
        if stride == 1:
            return x
        r = F.relu(x)
        y = torch.cat(
            [F.conv2d(r, module.conv_a.weight, stride=2), F.conv2d(r[:, :, 1:, 1:], module.conv_b.weight, stride=2)], 1
        )
        return _bn(y, module.bn)
    k = int(name[-1])
    if name.startswith("sep_conv"):
        mods = list(module)
        y = _dw_pw_bn(x, mods[:4], stride, k // 2, 1)
        return _dw_pw_bn(y, mods[4:], 1, k // 2, 1)
    return _dw_pw_bn(x, list(module), stride, k - 1, 2)  # dil_conv


@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_edge_is_the_weighted_sum_of_its_ops(stride):
    torch.manual_seed(0)
    edge = MixedEdge(4, stride).train()
    x = torch.randn(4, 4, 8, 8)
    w = torch.softmax(torch.randn(N_SUPER_OPS), dim=0)
    expected = sum(w[o] * _by_hand(name, edge.ops[o], x, stride) for o, name in enumerate(SUPER_OPS))
    out = edge(x, w)
    assert out.shape == (4, 4, 8 // stride, 8 // stride)
    assert torch.allclose(out, expected, atol=1e-5)
    # Single op: equals that op alone, scaled by its weight when weights come too.
    for o, name in enumerate(SUPER_OPS):
        alone = _by_hand(name, edge.ops[o], x, stride)
        assert torch.allclose(edge(x, choice=o), alone, atol=1e-5)
        assert torch.allclose(edge(x, w, choice=o), w[o] * alone, atol=1e-5)


def _count_calls(net):
    calls = {op: 0 for op in SUPER_OPS}
    for module in net.modules():
        if isinstance(module, MixedEdge):
            for name, op in zip(SUPER_OPS, module.ops, strict=True):
                op.register_forward_hook(lambda m, i, o, name=name: calls.__setitem__(name, calls[name] + 1))
    return calls


@pytest.mark.slow
@pytest.mark.parametrize("layers", [3, 5])
def test_single_path_forward_runs_exactly_the_chosen_ops(layers):
    torch.manual_seed(0)
    net = DartsSupernet(10, C=2, layers=layers)
    calls = _count_calls(net)
    rng = np.random.default_rng(layers)
    choice = rng.integers(0, N_SUPER_OPS, size=(2, 14))
    choice[:, :3] = 0  # some none edges for sure
    n_reduce = len({layers // 3, 2 * layers // 3})
    n_normal = layers - n_reduce
    net(torch.randn(2, 3, 8, 8), choice=torch.as_tensor(choice))
    expected = {
        op: n_normal * int((choice[0] == o).sum()) + n_reduce * int((choice[1] == o).sum())
        for o, op in enumerate(SUPER_OPS)
    }
    expected["none"] = 0
    assert calls == expected
    # Mixed mode runs every op (none included) once per edge per cell.
    for op in calls:
        calls[op] = 0
    net(torch.randn(2, 3, 8, 8), weights=torch.full((2, 14, 8), 1 / 8))
    assert calls == {op: 14 * layers for op in SUPER_OPS}


@pytest.mark.slow
def test_one_hot_weights_equal_the_single_path_and_gdas_gradient_reaches_chosen_weights():
    torch.manual_seed(0)
    net = DartsSupernet(5, C=2, layers=3).train()
    x = torch.randn(3, 3, 8, 8)
    choice = torch.as_tensor(choice_of_arch(from_genotype(DARTS_V2)))
    onehot = F.one_hot(choice, N_SUPER_OPS).float().requires_grad_(True)
    single = net(x, choice=choice)
    assert torch.allclose(net(x, weights=onehot), single, atol=1e-5)
    both = net(x, weights=onehot, choice=choice)
    assert torch.allclose(both, single, atol=1e-5)
    both.square().sum().backward()
    grad = onehot.grad
    chosen = F.one_hot(choice, N_SUPER_OPS).bool() & (choice != 0).unsqueeze(-1)
    assert (grad[~chosen] == 0).all()  # unchosen ops (and chosen none) get no signal
    assert (grad[chosen] != 0).all()


def _weights_for(genotype_lists, rng, none_on_unused=0.0):
    """Small noise everywhere, 1.0 on the genotype's (edge, op) entries."""
    w = rng.uniform(0.0, 0.1, size=(2, 14, 8))
    w[:, :, 0] = none_on_unused
    for c, cell in enumerate(("normal", "reduce")):
        pairs = genotype_lists[cell]
        for t in range(4):
            for op, src in pairs[2 * t:2 * t + 2]:
                w[c, EDGE_START[t] + src, 1 + OPS.index(op)] = 1.0
                w[c, EDGE_START[t] + src, 0] = 0.0
    return torch.as_tensor(w)


def test_derive_genotype_reads_the_published_darts_v2_cell():
    rng = np.random.default_rng(0)
    expected = from_genotype(DARTS_V2)
    for none_weight in (0.0, 5.0):  # a heavy `none` on unused edges must not matter
        arch = derive_genotype(_weights_for(DARTS_V2, rng, none_weight))
        assert arch == expected
        assert parse(arch) == parse(expected)
    assert choice_of_arch(expected) == DARTS_V2_CHOICE
    # The reduce cell's node 1 lists input 1 before input 2 in the string (ascending inputs).
    assert "|max_pool_3x3~1|skip_connect~2|" in expected.split(";")[1].split("+")[1]


def test_derive_genotype_ties_and_dominant_none():
    w = torch.zeros(2, 14, 8)
    # Normal cell. Node 0 (edges 0, 1): all weights equal -> both edges, op max_pool (lowest index).
    w[0, 0:2, :] = 0.5
    # Node 1 (edges 2-4): all equal strengths -> inputs 0 and 1; on edge 3 avg_pool ties sep_conv_5x5.
    w[0, 2:5, 1] = 0.3
    w[0, 3, 1] = 0.0
    w[0, 3, 2] = 0.3
    w[0, 3, 5] = 0.3
    # Node 2 (edges 5-8): input 3 has none=0.9 and sep_conv_3x3=0.08; input 0 has none=0 and
    # dil_conv_5x5=0.05; input 1 has max 0.07 on skip; input 2 has 0.01 -> keep inputs 3 and 1.
    w[0, 8, 0], w[0, 8, 4] = 0.9, 0.08
    w[0, 5, 7] = 0.05
    w[0, 6, 3] = 0.07
    w[0, 7, 6] = 0.01
    # Node 3 (edges 9-13): only none is nonzero on inputs 0-3; input 4 has sep_conv_5x5 -> inputs 4
    # and (all others tie at 0) input 0 with max_pool (first op on a tie of zeros).
    w[0, 9:13, 0] = 1.0
    w[0, 13, 5] = 0.2
    # Reduce cell: every weight on none, equal -> inputs 0, 1 with max_pool for every node.
    w[1, :, 0] = 1.0
    expected = ("normal=|max_pool_3x3~0|max_pool_3x3~1|+|max_pool_3x3~0|avg_pool_3x3~1|"
                "+|skip_connect~1|sep_conv_3x3~3|+|max_pool_3x3~0|sep_conv_5x5~4|;"
                "reduce=" + "+".join(["|max_pool_3x3~0|max_pool_3x3~1|"] * 4))
    assert derive_genotype(w) == expected
    assert derive_genotype(w.numpy()) == expected


def test_choice_of_arch_round_trips_through_derive_for_random_archs():
    space = DartsSpace()
    rng = np.random.default_rng(0)
    for index in space.sample_indices(rng, 200):
        arch = space.arch_at(int(index))
        choice = choice_of_arch(arch)
        codes = np.asarray(choice)
        assert codes.shape == (2, 14) and ((codes > 0).sum(axis=1) == 8).all()
        for c in range(2):  # exactly 2 active edges per node
            assert [int((codes[c, EDGE_START[t]:EDGE_START[t] + t + 2] > 0).sum()) for t in range(4)] == [2, 2, 2, 2]
        onehot = F.one_hot(torch.as_tensor(choice), N_SUPER_OPS).float()
        assert derive_genotype(onehot) == arch


@pytest.mark.slow
@pytest.mark.parametrize("side", [16, 32])
def test_output_shapes(side):
    torch.manual_seed(0)
    net = DartsSupernet(7, C=4, layers=5)
    assert net.classifier.in_features == 4 * 4 * 4  # C doubled twice, 4 nodes concatenated
    seen = []
    net.cells[-1].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    out = net(torch.randn(2, 3, side, side), weights=torch.softmax(torch.randn(2, 14, 8), dim=-1))
    assert out.shape == (2, 7)
    assert seen == [(2, 64, side // 4, side // 4)]
    assert [cell.reduction for cell in net.cells] == [False, True, False, True, False]


@pytest.mark.slow
def test_chosen_path_is_the_trainers_network_with_inherited_weights():
    """Load the path's supernet weights into harness.trainer.darts_net.DartsNetwork of the same
    genotype: identical parameter count and identical logits."""
    torch.manual_seed(0)
    arch = from_genotype(DARTS_V2)
    supernet = DartsSupernet(6, C=4, layers=4, in_channels=1)
    net = DartsNetwork(arch, 6, C=4, layers=4, in_channels=1)
    state = supernet.state_dict()
    genotype = parse(arch)
    mapped = {}
    for key in net.state_dict():
        parts = key.split(".")
        if parts[0] == "cells" and parts[2] == "edges":
            i, pos = int(parts[1]), int(parts[3])
            t, k = divmod(pos, 2)
            src, op = genotype[1 if net.cells[i].reduction else 0][t][k]
            key_super = ".".join(["cells", str(i), "edges", str(EDGE_START[t] + src), "ops", str(op + 1)] + parts[4:])
        else:
            key_super = key
        mapped[key] = state[key_super]
    net.load_state_dict(mapped)
    x = torch.randn(3, 1, 16, 16)
    choice = choice_of_arch(arch)
    for mode in (True, False):
        supernet.train(mode)
        net.train(mode)
        assert torch.allclose(supernet(x, choice=choice), net(x), atol=1e-5)
    # Parameters on the path = the trainer network's parameters.
    supernet.zero_grad()
    supernet(x, choice=choice).sum().backward()
    used = sum(p.numel() for p in supernet.parameters() if p.grad is not None)
    assert used == sum(p.numel() for p in net.parameters())


def test_bad_input_is_refused():
    net = DartsSupernet(3, C=2, layers=3)
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ArchitectureError, match="needs op weights"):
        net(x)
    with pytest.raises(ArchitectureError, match="shape"):
        net(x, weights=torch.zeros(14, 8))
    with pytest.raises(ArchitectureError, match="torch tensor"):
        net(x, weights=np.zeros((2, 14, 8)))
    with pytest.raises(ArchitectureError, match="shape"):
        net(x, choice=(0,) * 14)
    with pytest.raises(ArchitectureError, match=r"\[0, 8\)"):
        net(x, choice=torch.full((2, 14), 8))
    with pytest.raises(ArchitectureError, match=r"\[0, 8\)"):
        net(x, choice=[[-1] * 14, [0] * 14])
    with pytest.raises(ArchitectureError, match="integer"):
        net(x, choice=torch.full((2, 14), 1.0))
    with pytest.raises(ArchitectureError):
        net(x, choice=[[0] * 14, [0] * 13])
    with pytest.raises(ArchitectureError, match="C, layers"):
        DartsSupernet(3, C=0)
    with pytest.raises(ArchitectureError, match="shape"):
        derive_genotype(torch.zeros(2, 14, 7))
    with pytest.raises(ArchitectureError, match="non-finite"):
        derive_genotype(torch.full((2, 14, 8), float("nan")))
    with pytest.raises(ArchitectureError):
        choice_of_arch("normal=|sep_conv_3x3~0|")
    with pytest.raises(ArchitectureError, match="even"):  # odd map at a reduction
        net(torch.randn(1, 3, 7, 7), choice=DARTS_V2_CHOICE)
