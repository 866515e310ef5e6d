"""Zero-cost proxies, parameter and FLOP counts against closed forms and published values.

Closed forms: on networks small enough to differentiate by hand (one linear layer, two linear
layers) each proxy has an exact value. Published values: NAS-Bench-Suite-Zero's proxies of NB201
cells (../shared/data/nb201/zc_proxies_nb201.json), computed with the same definitions on CIFAR-10
with another initialisation, so only rank agreement is expected: measured on 3 random subsets,
synflow (data-free, batch of one all-ones input) reaches Spearman 0.998-0.999 on 40 cells and
grad_norm / snip / jacov on a batch of 8 digits reach 0.93-0.99 on 12 cells; the thresholds
(0.95 and 0.8) leave room for other subsets without letting a wrong definition pass: the parameter
count alone ranks the same subsets like the published proxies with Spearman 0.38-0.70, and fails.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from harness.trainer.nb201_net import NB201Network
from harness.trainer.proxies import (
    PROXIES,
    compute_proxies,
    count_flops,
    count_parameters,
    grad_norm,
    jacov,
    snip,
    synflow,
)
from harness.trainer.train import seeded_init
from tabular.errors import NasHarnessError
from tests.conftest import shared_file


def _batch(n: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 2, 2, generator=g), torch.randint(0, 4, (n,), generator=g)


def _linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 4, bias=False))


def test_grad_norm_and_snip_of_a_linear_softmax_classifier():
    """dL/dW = (softmax(Wx) - onehot(y))^T x / n for the mean cross-entropy (numpy, float64)."""
    net, (x, y) = _linear(), _batch()
    w = net[1].weight.detach().double().numpy()
    xs = x.reshape(5, -1).double().numpy()
    z = xs @ w.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(5), y.numpy()] -= 1
    grad = p.T @ xs / 5
    assert grad_norm(net, x, y) == pytest.approx(np.linalg.norm(grad), rel=1e-5)
    assert snip(net, x, y) == pytest.approx(np.abs(w * grad).sum(), rel=1e-5)


def test_synflow_of_two_linear_layers_is_twice_the_path_norm():
    """R = 1^T |W2| |W1| 1 + sum |b2|; each layer's sum of W * dR/dW equals the path term."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 6, bias=False), nn.BatchNorm1d(6), nn.Linear(6, 4))
    x, y = _batch()
    w1, w2 = (net[i].weight.detach().double().abs().numpy() for i in (1, 3))
    path = np.ones(4) @ w2 @ w1 @ np.ones(12)
    assert synflow(net, x, y) == pytest.approx(2 * path, rel=1e-10)


def test_jacov_of_a_linear_map_has_a_closed_form():
    """Every sample's input gradient of sum(Wx) is the column sums of W: the correlation matrix is
    all ones, with eigenvalues n and 0 (n-1 times)."""
    net, (x, y) = _linear(), _batch(6)
    k = 1e-5
    expected = -(math.log(6 + k) + 1 / (6 + k) + 5 * (math.log(k) + 1 / k))
    assert jacov(net, x, y) == pytest.approx(expected, rel=1e-4)


def test_flop_count_closed_form():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1, stride=2, bias=False),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    conv1 = 5 * 5 * (3 * 9 * 8) + 5 * 5 * 8
    conv2 = 3 * 3 * (8 * 4)
    fc = 4 * 10 + 10
    assert count_flops(net, (3, 5, 5)) == conv1 + conv2 + fc
    assert count_parameters(net) == (3 * 9 * 8 + 8) + 8 * 4 + (40 + 10)


def test_proxies_are_deterministic_and_leave_the_network_alone():
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    net = seeded_init(lambda: NB201Network(arch, 10, C=4, N=1), 0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    a, b = compute_proxies(net, x, y), compute_proxies(net, x, y)
    assert a == b and set(a) == set(PROXIES) and all(math.isfinite(v) for v in a.values())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    with pytest.raises(NasHarnessError, match="unknown zero-cost proxy"):
        compute_proxies(net, x, y, ("fisher",))


def test_shared_gradient_pass_gives_each_proxy_its_own_value():
    """compute_proxies computes dL/dW once for grad_norm and snip, and jacov without weight
    gradients: each value must equal the proxy's own function run alone, bit for bit."""
    from harness.trainer.proxies import grad_norm, jacov, snip, synflow

    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    net = seeded_init(lambda: NB201Network(arch, 10, C=4, N=1), 3)
    x, y = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 10
    alone = {"grad_norm": grad_norm(net, x, y), "snip": snip(net, x, y), "synflow": synflow(net, x),
             "jacov": jacov(net, x)}
    assert compute_proxies(net, x, y) == alone
    # jacov's input gradient does not depend on whether weight gradients are also computed
    x1 = x.clone().requires_grad_(True)
    net.train()(x1).sum().backward()
    j = x1.grad.reshape(8, -1).double().numpy()
    eig = np.linalg.eigvalsh(np.corrcoef(j))
    assert alone["jacov"] == pytest.approx(float(-np.sum(np.log(eig + 1e-5) + 1.0 / (eig + 1e-5))), rel=1e-9)


def test_proxies_progress_is_quiet_outside_a_terminal(data_home, tmp_path, capsys):
    from harness.trainer.train import TrainConfig
    from harness.validation import ValidationSetting, proxy_table

    setting = ValidationSetting(limit=64, C=4, N=1, threads=1, train=TrainConfig(seed=0))
    frame = proxy_table("nb201/cifar10", archs=None, sample=2, sample_seed=0, setting=setting, progress=True)
    assert len(frame) == 2
    assert capsys.readouterr().err == ""  # pytest's capture is not a terminal: no bar


@pytest.fixture(scope="module")
def published():
    from harness.spaces.nb201 import format_arch
    from tabular.converters.analog import nb201_codes

    doc = json.loads(shared_file("nb201", "zc_proxies_nb201.json").read_text())["cifar10"]
    keys = sorted(doc)
    codes = nb201_codes(np.array([[int(v) for v in k.strip("()").split(",")] for k in keys]))
    return [(format_arch(c), doc[k]) for c, k in zip(codes, keys, strict=True)]


def _agreement(published, names, n, batch, seed):
    from harness.trainer.data import load_digits

    digits = load_digits(0, limit=64)
    x, y = digits.normalise(digits.x_train[:batch]), digits.y_train[:batch]
    rows = np.random.default_rng(seed).choice(len(published), n, replace=False)
    ours, theirs = {p: [] for p in names}, {p: [] for p in names}
    torch.set_num_threads(1)
    for r in rows:
        arch, entry = published[r]
        values = compute_proxies(seeded_init(lambda arch=arch: NB201Network(arch, 10), 0), x, y, names)
        for p in names:
            ours[p].append(values[p])
            theirs[p].append(entry[p]["score"])
    return {p: stats.spearmanr(ours[p], theirs[p]).statistic for p in names}


@pytest.mark.slow
def test_synflow_ranks_like_the_published_values(published):
    threads = torch.get_num_threads()
    try:
        rho = _agreement(published, ("synflow",), 30, 1, seed=11)
    finally:
        torch.set_num_threads(threads)
    assert rho["synflow"] > 0.95


@pytest.mark.slow
def test_data_dependent_proxies_rank_like_the_published_values(published):
    threads = torch.get_num_threads()
    try:
        rho = _agreement(published, ("grad_norm", "snip", "jacov"), 10, 8, seed=12)
    finally:
        torch.set_num_threads(threads)
    assert min(rho.values()) > 0.8, rho


def test_proxy_table_is_read_by_rank_stats(data_home, tmp_path):
    """The `proxies` output aligns by architecture in `rank-stats` (the contract of the issue)."""
    from harness.rank_stats import resolve_sources
    from harness.trainer.train import TrainConfig
    from harness.validation import ValidationSetting, proxy_table

    archs = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
             "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|",
             "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|skip_connect~1|nor_conv_3x3~2|"]
    out = tmp_path / "zc.csv"
    setting = ValidationSetting(limit=64, C=4, N=1, threads=1, train=TrainConfig(seed=0))
    frame = proxy_table("nb201/cifar10", archs=archs, sample=0, sample_seed=0, setting=setting, out=out)
    (source,) = resolve_sources([f"{out}:synflow"])
    for _, row in frame.iterrows():
        assert source.values[int(row["index"])] == pytest.approx(row["synflow"])
    assert np.isfinite(source.values).sum() == 3
    with pytest.raises(NasHarnessError, match="exists; pass --force"):
        proxy_table("nb201/cifar10", archs=archs, sample=0, sample_seed=0, setting=setting, out=out)
