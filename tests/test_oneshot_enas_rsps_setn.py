"""ENAS, RSPS and SETN (harness/oneshot/sampled.py, controller.py): the controller and the template
sampler against hand-computed cases, end-to-end runs with table look-ups, reproducibility, refusals."""
from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import stats
from torch.nn import functional as F

from harness.oneshot import OneShotConfig, oneshot_space, run_oneshot
from harness.oneshot.controller import (
    Controller,
    reinforce_loss,
    sample_templates,
    template_log_probs,
    top_templates,
    update_baseline,
)
from harness.oneshot.search import _load_data, _supernet_rows
from harness.spaces import darts
from harness.spaces.nb201 import N_OPS, OPS, parse
from harness.trainer.train import deterministic
from tabular.errors import NasHarnessError
from tests.conftest import REPO, assert_preset_composes
from tests.test_oneshot import _raw_nb201_cifar10

METHODS = ("enas", "rsps", "setn")
TINY = {"C": 2, "N": 1, "layers": 3, "epochs": 2, "batch_size": 32, "input_size": 8, "data_limit": 96,
        "enas_train_steps": 2, "enas_aggregate": 2, "enas_candidates": 3, "enas_final_candidates": 4,
        "rsps_candidates": 4, "setn_candidates": 4}


# -- the ENAS controller, by hand ------------------------------------------------------------------
def _constant_controller(radices, bias, tanh_constant=2.5, temperature=5.0) -> Controller:
    """A controller whose logits do not depend on the LSTM: prediction weights 0, bias `bias`, so every
    position's logits are tanh_constant * tanh(bias[:r] / temperature)."""
    ctl = Controller(radices, hidden=4, layers=2, tanh_constant=tanh_constant, temperature=temperature)
    with torch.no_grad():
        ctl.pred.weight.zero_()
        ctl.pred.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return ctl


def _np_log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


BIAS = [3.0, -1.0, 0.5, 7.0, -4.0]


def test_log_probability_and_entropy_of_a_cell_equal_the_closed_form():
    radices, genome = (5, 5, 3, 5), (3, 0, 2, 4)
    ctl = _constant_controller(radices, BIAS)
    sample = ctl(genome=genome)
    z = 2.5 * np.tanh(np.asarray(BIAS) / 5.0)
    want_logp = want_h = 0.0
    for r, g in zip(radices, genome, strict=True):
        logp = _np_log_softmax(z[:r])  # position with radix 3 uses the first 3 logits only
        want_logp += logp[g]
        want_h += -(np.exp(logp) * logp).sum()
    assert sample.genome == genome
    assert float(sample.log_prob.detach()) == pytest.approx(want_logp, rel=1e-5)
    assert float(sample.entropy.detach()) == pytest.approx(want_h, rel=1e-5)
    # greedy = the argmax of each position's logits
    assert ctl(greedy=True).genome == (3, 3, 0, 3)


@pytest.mark.slow
def test_controller_samples_follow_its_distribution():
    ctl = _constant_controller((5,), BIAS)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad(), deterministic(torch.device("cpu"), 1):
        draws = [ctl(gen).genome[0] for _ in range(2000)]
    p = np.exp(_np_log_softmax(2.5 * np.tanh(np.asarray(BIAS) / 5.0)))
    counts = np.bincount(draws, minlength=5)
    assert stats.chisquare(counts, 2000 * p).pvalue > 1e-3
    # and a sample's log-probability is the log-probability of the genome it returned
    s = ctl(torch.Generator().manual_seed(3))
    assert float(s.log_prob.detach()) == pytest.approx(float(ctl(genome=s.genome).log_prob.detach()), abs=1e-6)


def test_reinforce_update_with_baseline_and_entropy_bonus_is_the_hand_computed_gradient():
    radices, genome = (5, 5), (3, 1)
    ctl = _constant_controller(radices, BIAS)
    z_raw = np.asarray(BIAS) / 5.0
    z = 2.5 * np.tanh(z_raw)
    p = np.exp(_np_log_softmax(z))
    entropy = 2 * float(-(p * np.log(p)).sum())
    accuracy, baseline, weight, decay = 0.8, 0.5, 0.01, 0.9
    loss, reward, new_baseline = reinforce_loss(ctl(genome=genome), accuracy, baseline, weight, decay)
    # the entropy bonus enters the reward as a value
    assert reward == pytest.approx(accuracy + weight * entropy, rel=1e-6)
    # the baseline moves towards the reward first: b' = b - (1 - decay)(b - R)
    assert new_baseline == pytest.approx(baseline - (1 - decay) * (baseline - reward), rel=1e-12)
    advantage = reward - new_baseline
    loss.backward()
    # d/d bias_j of -A * sum_i log p(g_i) = -A * sum_i (1[j = g_i] - p_j) * dz_j/dbias_j
    dz = 2.5 * (1 - np.tanh(z_raw) ** 2) / 5.0
    want = -advantage * sum((np.eye(5)[g] - p) for g in genome) * dz
    assert np.allclose(ctl.pred.bias.grad.numpy(), want, rtol=1e-4, atol=1e-9)
    assert torch.count_nonzero(ctl.pred.weight.grad) > 0 or advantage == 0  # the LSTM output feeds the weights


def test_first_reward_starts_the_baseline_so_the_first_update_is_zero():
    ctl = _constant_controller((5,), BIAS)
    loss, reward, baseline = reinforce_loss(ctl(genome=(0,)), 0.7, None, 0.0, 0.99)
    assert baseline == reward == pytest.approx(0.7)
    assert float(loss.detach()) == 0.0
    assert update_baseline(0.7, 0.2, 0.99) == pytest.approx(0.7 - 0.01 * 0.5)


# -- SETN's templates --------------------------------------------------------------------------
def test_templates_are_drawn_from_softmax_alpha_edge_by_edge():
    alpha = torch.tensor([[1.0, 0.0, -1.0, 2.0, 0.5], [0.0, 0.0, 0.0, 0.0, 3.0], [-2.0, 1.0, 1.0, 0.0, 0.0]])
    n = 4000
    templates = np.asarray(sample_templates(alpha, n, torch.Generator().manual_seed(1)))
    probs = F.softmax(alpha.double(), dim=-1).numpy()
    for edge in range(alpha.shape[0]):
        counts = np.bincount(templates[:, edge], minlength=5)
        assert stats.chisquare(counts, n * probs[edge]).pvalue > 1e-3
    # edges are independent: the joint frequency of (edge 0, edge 1) factorises
    joint = np.zeros((5, 5))
    np.add.at(joint, (templates[:, 0], templates[:, 1]), 1)
    table = stats.contingency.expected_freq(joint)
    keep = table > 5
    chi2 = float(((joint - table)[keep] ** 2 / table[keep]).sum())
    assert stats.chi2.sf(chi2, 16) > 1e-3


def test_top_templates_are_the_most_probable_cells_by_enumeration():
    torch.manual_seed(0)
    alpha = torch.randn(3, 4)
    logp = F.log_softmax(alpha.double(), dim=-1).numpy()
    every = sorted(itertools.product(range(4), repeat=3), key=lambda g: -sum(logp[e, c] for e, c in enumerate(g)))
    assert top_templates(alpha, 7) == [tuple(g) for g in every[:7]]
    assert top_templates(alpha, 1)[0] == tuple(int(i) for i in alpha.argmax(dim=-1))
    genomes = torch.tensor(every[:3])
    want = [sum(logp[e, c] for e, c in enumerate(g)) for g in every[:3]]
    assert np.allclose(template_log_probs(alpha, genomes).numpy(), want)


# -- end to end ------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_each_method_picks_valid_cells_whose_table_values_are_in_the_trajectory(data_home, method):
    raw = _raw_nb201_cifar10()  # the raw package's per-seed values, independent of our store
    means = {key: float(np.mean(entry["val_acc"])) for key, entry in raw.items()}
    frame = run_oneshot(method, "nb201/cifar10", 0, TINY)
    again = run_oneshot(method, "nb201/cifar10", 0, TINY)
    assert len(frame) == TINY["epochs"]
    for _, row in frame.iterrows():
        ops = parse(row["arch"])  # a valid NB201 cell
        key = "".join(str(c) for c in ops)
        assert row["valid_mean"] == pytest.approx(means[key], abs=1e-9)
        assert row["regret"] == pytest.approx(max(means.values()) - means[key], abs=1e-9)
        assert [row[f"op_{op}"] for op in OPS] == np.bincount(ops, minlength=N_OPS).tolist()
        assert row["candidates_scored"] >= 1 and 0.0 <= row["valid_acc"] <= 100.0
    assert (frame["seconds"].diff().dropna() > 0).all()
    columns = [c for c in frame.columns if c not in ("seconds", "alpha")]
    assert frame[columns].equals(again[columns])  # same config and seed, same picks and losses
    if method == "enas":
        assert np.isfinite(frame["baseline"]).all() and (frame["controller_entropy"] > 0).all()
    if method == "setn":  # alpha was trained, and each pick is among the top templates of some alpha
        assert not np.allclose(frame["alpha"].iloc[0], frame["alpha"].iloc[1])
        alpha = torch.tensor(frame["alpha"].iloc[-1]).reshape(6, 5)
        assert tuple(parse(frame["arch"].iloc[-1])) in top_templates(alpha, TINY["setn_candidates"])


def test_enas_controller_learns_from_rewards(data_home):
    """The controller's parameters move during the search (the REINFORCE steps happened), but not
    with enas_lr tiny enough to be no step at all relative to float precision."""
    from harness.oneshot.sampled import SampledSearch

    cfg = OneShotConfig(**{**TINY, "epochs": 1})
    search = SampledSearch("enas", oneshot_space("nb201"), _load_data(cfg), 0, cfg, torch.device("cpu"))
    before = [p.detach().clone() for p in search.controller.parameters()]
    with deterministic(torch.device("cpu"), 1):
        record = search.epoch(0)
    moved = sum(not torch.equal(a, b) for a, b in zip(before, search.controller.parameters(), strict=True))
    assert moved > 0 and math.isfinite(record["reward"])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["enas", "rsps"])
def test_darts_space_sampled_searches_pick_valid_cells(method):
    space = oneshot_space("darts")
    cfg = OneShotConfig(**{**TINY, "epochs": 1, "data_limit": 64})
    with deterministic(torch.device("cpu"), 1):
        rows = _supernet_rows(method, space, _load_data(cfg), 0, cfg, torch.device("cpu"))
    genotype = darts.parse(rows[0]["arch"])
    ops = [op for cell in genotype for node in cell for _, op in node]
    assert [rows[0][f"op_{name}"] for name in darts.OPS] == np.bincount(ops, minlength=darts.N_OPS).tolist()


def test_bad_settings_and_setn_on_the_darts_space_are_one_line_errors(data_home):
    from harness.oneshot.sampled import check_sampled

    with pytest.raises(NasHarnessError, match="NB201 space only") as info:
        check_sampled("setn", "darts", OneShotConfig())
    assert "\n" not in str(info.value)
    bad_settings = ({"setn_select": "best"}, {"enas_aggregate": 0}, {"enas_baseline_decay": 1.5},
                    {"select_batch_size": -1})
    for bad in bad_settings:
        with pytest.raises(NasHarnessError):
            run_oneshot("setn" if "setn_select" in bad else "enas", "nb201/cifar10", 0, {**TINY, **bad})
    with pytest.raises(NasHarnessError, match="w_lr_period"):
        run_oneshot("rsps", "nb201/cifar10", 0, {**TINY, "w_lr_period": -1})


@pytest.mark.parametrize("preset, expected", [
    ("enas_nb201_paper", {"name": "enas", "C": 16, "N": 5, "epochs": 250, "batch_size": 128, "w_lr": 0.05,
                          "w_lr_min": 0.0005,
                          "w_lr_period": 10, "w_weight_decay": 0.00025, "enas_hidden": 32, "enas_temperature": 5.0,
                          "enas_tanh_constant": 2.5, "enas_lr": 0.001, "enas_entropy_weight": 0.0001,
                          "enas_baseline_decay": 0.99, "enas_train_steps": 50, "enas_aggregate": 20,
                          "enas_final_candidates": 100}),
    ("rsps_nb201_paper", {"name": "rsps", "epochs": 250, "batch_size": 64, "w_lr": 0.025, "rsps_candidates": 100,
                          "select_batch_size": 512, "grad_clip": 5.0}),
    ("setn_nb201_paper", {"name": "setn", "epochs": 250, "alpha_lr": 0.0003, "alpha_weight_decay": 0.001,
                          "setn_candidates": 100, "setn_select": "topk", "setn_train_sampling": "uniform",
                          "grad_clip": 0.0}),
])
def test_paper_presets_compose_with_the_authors_settings(preset, expected):
    assert_preset_composes(preset, expected)
    assert "f46486e21b71ae6459a700be720d7648b5429569" in (REPO / "conf" / "strategy" / f"{preset}.yaml").read_text()


@pytest.mark.slow
def test_grid_runs_are_bitwise_equal_to_in_process_runs_across_processes(tmp_path, data_home):
    """`nas-harness run` in a fresh process (another hash seed) writes the trajectory this process computes."""
    import pandas as pd

    small = {k: TINY[k] for k in ("C", "N", "epochs", "batch_size", "input_size", "data_limit", "enas_train_steps",
                                  "enas_aggregate", "enas_candidates", "enas_final_candidates", "rsps_candidates",
                                  "setn_candidates")}
    env = dict(os.environ, PYTHONHASHSEED="7", NAS_HARNESS_DATA=os.environ.get("NAS_HARNESS_DATA", str(data_home)))
    sweep = tmp_path / "results"
    for method in METHODS:  # one grid per method: `strategy.C=` must not reach a default tabular strategy
        run = subprocess.run([sys.executable, "-m", "harness", "run", "-m", "hydra/launcher=basic",
                              f"hydra.sweep.dir={sweep}",
                              "benchmark=nb201/cifar10", f"strategy={method}", "seed=3",
                              *[f"strategy.{k}={v}" for k, v in small.items()]],
                             cwd=REPO, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]
    folders = sorted(p.parent for p in sweep.glob("*/manifest.json"))
    assert len(folders) == 3
    for folder in folders:
        trajectory = pd.read_parquet(folder / "trajectory.parquet")
        method = json.loads((folder / "manifest.json").read_text())["strategy"]
        frame = run_oneshot(method, "nb201/cifar10", 3, small)
        assert (trajectory["clock"] == "real").all()
        assert trajectory["incumbent_arch"].tolist() == frame["arch"].tolist()
        assert np.array_equal(trajectory["valid"].to_numpy(), frame["valid_acc"].to_numpy())  # bitwise
        assert np.array_equal(trajectory["train_loss"].to_numpy(), frame["train_loss"].to_numpy())
