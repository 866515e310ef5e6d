"""One-shot NAS, second part: second-order DARTS, SPOS's evolution, the DARTS-space searches, memory
checks, datasets, GPU presets."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call
from torch.nn import functional as F

from harness.oneshot import OneShotConfig, oneshot_space, run_oneshot
from harness.oneshot.evolution import evolve
from harness.oneshot.memory import estimate
from harness.oneshot.search import _load_data, _supernet_rows, unrolled_alpha_grad
from harness.oneshot.supernet import NB201Supernet
from harness.spaces import darts
from tabular.errors import NasHarnessError, SourceMissingError
from tests.conftest import REPO, assert_preset_composes, shared_file

TINY = {"C": 2, "N": 1, "layers": 3, "epochs": 2, "batch_size": 32, "input_size": 8, "data_limit": 96,
        "spos_population": 4, "spos_iterations": 2, "spos_topk": 2, "zerocost_samples": 3}


# -- second-order DARTS -----------------------------------------------------------------------
def _exact_unrolled_grad(model, alpha, train, valid, xi, momentum, wd, buffers):
    """d/d alpha of L_valid(w - xi (m buf + grad_w L_train(w, alpha) + wd w), alpha), by double backprop."""
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    alpha = alpha.detach().clone().requires_grad_(True)
    w = {n: p.detach().clone().requires_grad_(True) for n, p in zip(names, params, strict=True)}
    loss_t = F.cross_entropy(functional_call(model, w, (train[0], F.softmax(alpha, -1))), train[1])
    grads = torch.autograd.grad(loss_t, list(w.values()), create_graph=True)
    moved = {
        n: w[n] - xi * (g + wd * w[n] + (momentum * b if b is not None else 0.0))
        for n, g, b in zip(names, grads, buffers, strict=True)
    }
    loss_v = F.cross_entropy(functional_call(model, moved, (valid[0], F.softmax(alpha, -1))), valid[1])
    return torch.autograd.grad(loss_v, alpha)[0]


class _SmoothMixedNet(torch.nn.Module):
    """Two mixed "edges" of three smooth ops each: the gradient with respect to alpha is smooth in the
    weights, so a central difference must agree with double backprop to O(eps^2). (A ReLU network's
    is only piecewise smooth: a difference across a kink is not a derivative, in DARTS as here.)"""

    def __init__(self):
        super().__init__()
        self.ops = torch.nn.ModuleList(torch.nn.ModuleList(torch.nn.Linear(5, 5) for _ in range(3)) for _ in range(2))
        self.head = torch.nn.Linear(5, 4)

    def forward(self, x, weights, choice=None):
        for edge, ops in enumerate(self.ops):
            x = (
                weights[edge, 0] * torch.tanh(ops[0](x))
                + weights[edge, 1] * torch.sin(ops[1](x))
                + weights[edge, 2] * ops[2](x)
            )
        return self.head(x)


@pytest.mark.parametrize("with_momentum", [False, True])
def test_second_order_gradient_equals_double_backprop(with_momentum):
    torch.manual_seed(0)
    model = _SmoothMixedNet().double()
    alpha = torch.nn.Parameter(0.3 * torch.randn(2, 3, dtype=torch.float64))
    train = (torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 4, (16,)))
    valid = (torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 4, (16,)))
    buffers = [0.1 * torch.randn_like(p) if with_momentum else None for p in model.parameters()]
    before = [p.detach().clone() for p in model.parameters()]
    xi, momentum, wd = 0.5, 0.9, 3e-4
    ours = unrolled_alpha_grad(model, alpha, lambda a: F.softmax(a, -1), train, valid, xi, momentum, wd, buffers)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))  # weights restored exactly
    exact = _exact_unrolled_grad(model, alpha, train, valid, xi, momentum, wd, buffers)
    # The gradient without the implicit term (xi = 0 in the inner step) is measurably different,
    # so the comparison below would catch a missing or wrong Hessian-vector term.
    first = _exact_unrolled_grad(model, alpha, train, valid, 0.0, momentum, wd, buffers)
    gap = float((exact - first).norm())
    assert gap > 1e-2 * float(exact.norm())
    assert float((ours - exact).norm()) < 1e-3 * gap


@pytest.mark.slow
def test_second_order_darts_runs_deterministically_and_differs_from_first_order(data_home):
    cfg = {**TINY, "epochs": 1, "darts_order": 2}
    a, b = run_oneshot("darts", "nb201/cifar10", 1, cfg), run_oneshot("darts", "nb201/cifar10", 1, cfg)
    first = run_oneshot("darts", "nb201/cifar10", 1, {**cfg, "darts_order": 1})
    assert np.array_equal(np.asarray(a["alpha"].tolist()), np.asarray(b["alpha"].tolist()))
    assert not np.allclose(np.asarray(a["alpha"].tolist()), np.asarray(first["alpha"].tolist()))


# -- SPOS's evolution ----------------------------------------------------------------------------
RADICES = oneshot_space("nb201").radices


def test_evolution_scores_new_candidates_and_keeps_a_monotone_top_k():
    calls: list[tuple[int, ...]] = []

    def score(g):
        calls.append(g)
        return float(sum(g))

    result = evolve(score, RADICES, np.random.default_rng(0), population=8, iterations=5, topk=3, mutation_prob=0.2)
    assert len(calls) == len(set(calls)) == result.n_scored == 8 * 5  # every iteration scores 8 new genomes
    assert all(0 <= v < r for g in calls for v, r in zip(g, RADICES, strict=True))
    tops = np.asarray([t[0] for t in result.top_by_iteration])
    assert (np.diff(tops) >= 0).all() and result.best_score == max(sum(g) for g in calls) == tops[-1]


def test_evolution_beats_random_search_at_equal_evaluations():
    """On a separable fitness over the DARTS genome (24 positions), with the paper's settings."""
    radices = oneshot_space("darts").radices
    weights = np.random.default_rng(5).normal(size=(len(radices), max(radices)))

    def fitness(g):
        return float(sum(weights[i, v] for i, v in enumerate(g)))

    optimum = sum(max(weights[i, :r]) for i, r in enumerate(radices))
    wins = 0
    for seed in range(5):
        ev = evolve(
            fitness, radices, np.random.default_rng(seed), population=50, iterations=20, topk=10, mutation_prob=0.1
        )
        rng = np.random.default_rng(100 + seed)
        rs = max(fitness(tuple(int(v) for v in rng.integers(0, radices))) for _ in range(ev.n_scored))
        wins += ev.best_score > rs
        assert ev.best_score <= optimum + 1e-12
    assert wins == 5


def test_mutation_redraws_each_position_with_the_given_probability():
    """With top-k 1 every child descends from one parent: the share of changed positions among the
    mutation children is p (1 - 1/r) in expectation (a redraw may give the same value)."""
    from scipy.stats import binomtest

    seen: list[tuple[int, ...]] = []
    result = evolve(lambda g: (seen.append(g), 0.0 if len(seen) > 1 else 1.0)[1], (7,) * 40, np.random.default_rng(3),
                    population=200, iterations=2, topk=1, mutation_prob=0.25)
    parent = np.asarray(seen[0])
    assert result.best == tuple(parent)
    mutants = np.asarray(seen[200 + 100:])  # second half of generation 2: mutation children
    changed = int((mutants != parent).sum())
    assert binomtest(changed, mutants.size, 0.25 * 6 / 7).pvalue > 1e-3


def test_spos_on_nb201_reports_the_number_of_scored_candidates(data_home):
    frame = run_oneshot("spos", "nb201/cifar10", 0, TINY)
    assert frame["candidates_scored"].tolist() == [4 * 2] * 2
    rnd = run_oneshot("spos", "nb201/cifar10", 0, {**TINY, "spos_search": "random", "spos_candidates": 5})
    assert (rnd["candidates_scored"] <= 5).all()


# -- the DARTS space ---------------------------------------------------------------------------
def test_darts_genome_is_the_space_index_digit_by_digit():
    space = oneshot_space("darts")
    ds = darts.DartsSpace()
    rng = np.random.default_rng(0)
    for index in ds.sample_indices(rng, 50):
        arch = ds.arch_at(int(index))
        normal, reduce = (darts.cell_code(c) for c in darts.parse(arch))
        genome = []
        for cell_code in (normal, reduce):
            digits = []
            for t in range(darts.N_NODES - 1, -1, -1):
                cell_code, digit = divmod(cell_code, darts.NODE_RADIX[t])
                pair, rest = divmod(digit, darts.N_OPS * darts.N_OPS)
                digits = [pair, *divmod(rest, darts.N_OPS)] + digits
            genome += digits
        assert space.arch_of_genome(genome) == arch


@pytest.mark.slow
@pytest.mark.parametrize("method", ["darts", "gdas", "spos"])
def test_darts_space_searches_pick_valid_cells(method):
    space = oneshot_space("darts")
    cfg = OneShotConfig(**TINY)
    rows = _supernet_rows(method, space, _load_data(cfg), 0, cfg, torch.device("cpu"))
    assert len(rows) == cfg.epochs
    for row in rows:
        genotype = darts.parse(row["arch"])  # a valid DARTS genotype
        ops = [op for cell in genotype for node in cell for _, op in node]
        assert [row[f"op_{name}"] for name in darts.OPS] == np.bincount(ops, minlength=darts.N_OPS).tolist()
        if method != "spos":
            from harness.oneshot.darts_supernet import derive_genotype

            alpha = torch.tensor(row["alpha"]).reshape(space.alpha_shape)
            assert row["arch"] == derive_genotype(F.softmax(alpha, dim=-1))


@pytest.mark.slow
def test_darts_space_run_on_nb301_yahpo_looks_up_the_surrogate(tmp_path, monkeypatch):
    folder = shared_file("nb301", "yahpo_nb301_v1", "model.onnx").parent
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "yahpo_nb301_v1").symlink_to(folder)
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path))
    from harness.benchmarks import load_benchmark
    from surrogates.nb301_yahpo import YahpoNB301

    frame = run_oneshot("gdas", "nb301/yahpo", 0, {**TINY, "epochs": 1})
    yahpo = YahpoNB301(folder)
    predicted = yahpo.predict("val_accuracy", frame["arch"].tolist(), 98)[0]
    assert np.allclose(frame["valid_mean"], predicted, atol=1e-5)
    bench = load_benchmark("nb301/yahpo")
    optimum = bench.store.reference_optimum("val_accuracy")
    bench.store.close()
    assert np.allclose(frame["regret"], optimum - predicted, atol=1e-5)


# -- memory, data, bad input ---------------------------------------------------------------------
def test_meta_memory_trace_equals_a_real_forward():
    """The meta-device trace must see exactly the tensors a real CPU forward saves for backward."""
    saved = 0

    def pack(t):
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    torch.manual_seed(0)
    model = NB201Supernet(10, C=3, N=1, in_channels=3).train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(2, 3, 8, 8), weights=torch.full((6, 5), 0.2))
    est = estimate(
        lambda: NB201Supernet(10, C=3, N=1, in_channels=3), (3, 8, 8), 64, lambda: {"weights": torch.full((6, 5), 0.2)}
    )
    assert est.saved_bytes_per_sample * 2 == saved
    assert est.parameter_bytes == 4 * sum(p.numel() for p in model.parameters())
    assert est.total_bytes == 4 * est.parameter_bytes + 64 * est.saved_bytes_per_sample


def test_a_config_that_does_not_fit_is_refused_before_training(data_home):
    with pytest.raises(NasHarnessError, match=r"needs about .* GiB but 0.01 GiB is available") as info:
        run_oneshot(
            "darts", "nb201/cifar10", 0, {"C": 16, "N": 5, "batch_size": 64, "input_size": 32, "memory_limit_gb": 0.01}
        )
    assert "\n" not in str(info.value) and "lower batch_size" in str(info.value)


def test_missing_dataset_and_unsupported_space_are_one_line_errors(data_home, tmp_path, monkeypatch):
    with pytest.raises(SourceMissingError) as info:
        run_oneshot("darts", "nb201/cifar10", 0, {**TINY, "dataset": "cifar10", "data_root": str(tmp_path / "nowhere")})
    assert (
        "\n" not in str(info.value) and "cifar" in str(info.value).lower() and "strategy.data_root" in str(info.value)
    )
    with pytest.raises(NasHarnessError, match="supernets for the nb201 and darts cell spaces"):
        oneshot_space("nbgraph")
    with pytest.raises(NasHarnessError, match="darts_order"):
        run_oneshot("darts", "nb201/cifar10", 0, {**TINY, "darts_order": 3})
    with pytest.raises(NasHarnessError, match="spos_search"):
        run_oneshot("spos", "nb201/cifar10", 0, {**TINY, "spos_search": "bayes"})


@pytest.mark.slow
def test_cifar10_batches_train_the_supernet(data_home, tmp_path):
    """A CIFAR-10 folder in the official python-pickle format (written here, random pixels) is read
    by the trainer's loader and trains the supernet at its native 32x32 size."""
    import pickle

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (40, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, 40).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))
    frame = run_oneshot(
        "gdas", "nb201/cifar10", 0, {**TINY, "epochs": 1, "dataset": "cifar10", "data_root": str(tmp_path)}
    )
    assert frame.attrs["data"]["input_shape"] == [3, 32, 32] and frame.attrs["data"]["dataset"] == "cifar10"


# -- GPU presets ---------------------------------------------------------------------------------
@pytest.mark.parametrize("preset, expected", [
    ("darts_nb201_paper", {"name": "darts", "C": 16, "N": 5, "epochs": 50, "w_weight_decay": 0.0005, "w_nesterov": True,
                           "darts_order": 1, "dataset": "cifar10", "data_limit": None}),
    ("darts2_nb201_paper", {"name": "darts", "darts_order": 2, "epochs": 50}),
    ("gdas_nb201_paper", {"name": "gdas", "epochs": 240, "tau_max": 10.0, "tau_min": 0.1}),
    ("spos_nb201_paper", {"name": "spos", "epochs": 100, "spos_population": 50, "spos_iterations": 20, "spos_topk": 10,
                          "spos_bn_batches": 20}),
    ("darts_nb301_paper", {"name": "darts", "C": 16, "layers": 8, "w_weight_decay": 0.0003, "darts_order": 2}),
    ("zerocost_nb201_paper", {"name": "zerocost", "C": 16, "N": 5, "zerocost_samples": 1000}),
])
def test_paper_presets_compose_with_their_published_settings(preset, expected):
    assert_preset_composes(preset, expected)


def test_a_typo_in_a_one_shot_override_is_refused():
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException

    from harness.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        with pytest.raises(ConfigCompositionException):
            compose(config_name="config", overrides=["strategy=darts", "strategy.darts_ordr=2"])


# -- one-shot runs in the grid and in regress ------------------------------------------------------
@pytest.mark.slow
def test_oneshot_grid_runs_are_compared_by_epochs_in_regress(tmp_path):
    import os
    import subprocess
    import sys

    from harness.regress import load_run

    env = dict(os.environ, NAS_HARNESS_DATA=str(tmp_path / "data"))
    sweep = tmp_path / "results"
    overrides = [
        f"strategy.{k}={'null' if v is None else v}"
        for k, v in TINY.items()
        if k in ("C", "N", "epochs", "batch_size", "input_size", "data_limit")
    ]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "-m",
            f"hydra.sweep.dir={sweep}",
            "benchmark=nb201/cifar10",
            "strategy=darts",
            "seed=0,1",
            *overrides,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    folders = sorted(p.parent for p in sweep.glob("*/manifest.json"))
    assert len(folders) == 2
    import pandas as pd

    for folder in folders:
        trajectory = pd.read_parquet(folder / "trajectory.parquet")
        assert (trajectory["clock"] == "real").all() and len(trajectory) == TINY["epochs"]
        result = load_run(folder)
        assert (result.budget_kind, result.budget) == ("evaluations", TINY["epochs"])
        assert result.final == pytest.approx(float(trajectory["regret"].iloc[-1]))
        assert load_run(folder, budget=1).final == pytest.approx(float(trajectory["regret"].iloc[0]))
        with pytest.raises(NasHarnessError, match="compare one-shot runs after N epochs"):
            load_run(folder, time_budget=10.0)


def test_spos_bn_recalibration_is_the_mean_of_the_batch_statistics_and_is_undone():
    from harness.oneshot.search import _generator, _Search

    cfg = OneShotConfig(**{**TINY, "spos_bn_batches": 2})
    splits = _load_data(cfg)
    search = _Search("spos", oneshot_space("nb201"), splits, 0, cfg, torch.device("cpu"))
    before = {k: v.clone() for k, v in search.model.state_dict().items()}
    choice = (1, 2, 3, 4, 0, 3)
    search._recalibrate_bn(choice)
    # The stem's BatchNorm sees the stem convolution's output, which no path choice changes:
    # its recalibrated running mean is the average of the 2 batches' per-channel means.
    order = torch.randperm(len(splits.y_train), generator=_generator(0, 0, "bn"))
    conv, bn = search.model.stem[0], search.model.stem[1]
    with torch.no_grad():
        means = [
            conv(splits.normalise(splits.x_train[order[k * 32 : (k + 1) * 32]])).mean(dim=(0, 2, 3)) for k in range(2)
        ]
    assert torch.allclose(bn.running_mean, (means[0] + means[1]) / 2, atol=1e-6)
    search.model.load_state_dict(before)
    search._evaluate(None, choice, batch_stats=True)
    after = search.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # scoring leaves the supernet as it was


@pytest.mark.slow
@pytest.mark.parametrize("method, benchmark_space", [("spos", "nb201"), ("gdas", "darts")])
def test_oneshot_searches_are_bitwise_equal_across_processes(tmp_path, method, benchmark_space):
    """Same config and seed in two fresh processes (different hash seeds): identical supernet state."""
    import os
    import subprocess
    import sys

    script = (
        "import hashlib, sys, torch\n"
        "from harness.oneshot import OneShotConfig, oneshot_space\n"
        "from harness.oneshot.search import _load_data, _Search\n"
        f"cfg = OneShotConfig(**{TINY!r})\n"
        f"s = _Search({method!r}, oneshot_space({benchmark_space!r}), _load_data(cfg), 5, cfg, torch.device('cpu'))\n"
        "arch = [s.epoch(e)['arch'] for e in range(2)]\n"
        "h = hashlib.sha256()\n"
        "for k, v in sorted(s.model.state_dict().items()): h.update(k.encode()); h.update(v.cpu().numpy().tobytes())\n"
        "h.update(s.alpha.detach().numpy().tobytes())\n"
        "print(h.hexdigest(), arch)\n"
    )
    outs = []
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, NAS_HARNESS_DATA=str(tmp_path))
        out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        outs.append(out.stdout.strip())
    assert outs[0] == outs[1] and "|" in outs[0]  # the same state hash and the same picks
