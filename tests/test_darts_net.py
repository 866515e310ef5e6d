"""The DARTS evaluation network against the paper's published numbers."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from harness.spaces.base import ArchitectureError  # noqa: E402
from harness.trainer.darts_net import DartsNetwork, count_parameters  # noqa: E402

# DARTS (second order) cell of the paper, "DARTS_V2" in its code's genotypes, written by hand in the
# space's string format (one |op~input|op~input| group per intermediate node).
DARTS_V2 = (
    "normal=|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~1|skip_connect~0|"
    "+|skip_connect~0|dil_conv_3x3~2|;"
    "reduce=|max_pool_3x3~0|max_pool_3x3~1|+|skip_connect~2|max_pool_3x3~1|+|max_pool_3x3~0|skip_connect~2|"
    "+|skip_connect~2|max_pool_3x3~1|"
)


def test_darts_v2_parameter_count_equals_the_official_log():
    # The official CIFAR-10 training log of DARTS_V2 (C=36, 20 cells) prints "param size = 3.349342MB",
    # i.e. 3,349,342 parameters without the auxiliary head (the paper's 3.3M).
    net = DartsNetwork(DARTS_V2, 10, C=36, layers=20, auxiliary=True)
    assert count_parameters(net) == 3_349_342
    # The auxiliary head reads cell 13's output (4 * 4C = 576 channels): 1x1 conv to 128 + BN,
    # 2x2 conv to 768 + BN, linear to 10 classes.
    aux = 576 * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * 10 + 10
    assert count_parameters(net, include_auxiliary=True) == 3_349_342 + aux
    # Off by default: no auxiliary parameters at all.
    assert count_parameters(DartsNetwork(DARTS_V2, 10), include_auxiliary=True) == 3_349_342


@pytest.mark.slow
def test_forward_gives_logits_and_auxiliary_logits_when_asked():
    net = DartsNetwork(DARTS_V2, 10)
    x = torch.randn(2, 3, 32, 32)
    assert net(x).shape == (2, 10)
    aux_net = DartsNetwork(DARTS_V2, 10, C=8, layers=5, auxiliary=True).train()
    logits, aux = aux_net.forward_with_aux(x)
    assert logits.shape == (2, 10) and aux.shape == (2, 10)
    assert aux_net.eval().forward_with_aux(x)[1] is None


def _one_step_loss(arch: str, seed: int, drop_path_prob: float = 0.0) -> float:
    torch.manual_seed(seed)
    net = DartsNetwork(arch, 10, C=8, layers=5, drop_path_prob=drop_path_prob).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    loss = torch.nn.functional.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(net(x), y))


@pytest.mark.slow
def test_small_network_trains_one_step_deterministically():
    first = _one_step_loss(DARTS_V2, seed=0)
    assert first == _one_step_loss(DARTS_V2, seed=0)
    assert first != _one_step_loss(DARTS_V2, seed=1)


def test_drop_path_is_off_by_default_and_random_when_on():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    net = DartsNetwork(DARTS_V2, 10, C=8, layers=5).train()
    assert torch.equal(net(x), net(x))
    net.drop_path_prob = 0.5
    torch.manual_seed(1)
    a = net(x)
    torch.manual_seed(2)
    assert not torch.equal(a, net(x))


def test_reduction_cells_halve_resolution_and_double_width():
    net = DartsNetwork(DARTS_V2, 10, C=8, layers=5)  # reductions at cells 1 and 3
    s0 = s1 = net.stem(torch.randn(1, 3, 32, 32))
    shapes = []
    for cell in net.cells:
        s0, s1 = s1, cell(s0, s1)
        shapes.append(tuple(s1.shape[1:]))
    assert shapes == [(32, 32, 32), (64, 16, 16), (64, 16, 16), (128, 8, 8), (128, 8, 8)]


def test_bad_input_is_refused():
    with pytest.raises(ArchitectureError):
        DartsNetwork("normal=|sep_conv_3x3~0|;reduce=", 10)
    with pytest.raises(ArchitectureError):
        DartsNetwork(DARTS_V2, 10, C=0)
    with pytest.raises(ArchitectureError, match="even"):
        DartsNetwork(DARTS_V2, 10, C=4, layers=3).eval()(torch.randn(1, 3, 7, 7))


def test_build_network_knows_the_darts_space():
    from harness.spaces import get_space
    from harness.trainer import build_network

    arch = get_space("darts").sample(__import__("numpy").random.default_rng(0))
    net = build_network("darts", arch, 10, C=4, N=3)
    import torch

    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
