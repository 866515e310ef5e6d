"""One-shot searches (DARTS, GDAS, SPOS) and a zero-cost search on NB201, judged on a table.

Why: weight-sharing methods pick a cell by training a supernet, not by querying a table; to compare
them with the tabular strategies we record, after every epoch, the cell they would return and its
table accuracy (seed mean of the benchmark's validation metric) and regret against the table
optimum, together with the real seconds spent. Everything random is a function of the seed: the
initial weights (trainer.seeded_init), each epoch's shuffle (trainer.epoch_generator) and each
epoch's architecture sampling (its own generator of (seed, epoch)), with deterministic kernels on.

Methods (first-order, scaled down by `OneShotConfig`):
- darts: edge output = sum_o softmax(alpha_e)_o op_o(x); per step one Adam step on alpha with a
  validation batch, then one SGD step on the weights with a training batch (Liu et al. 2019, the
  first-order variant). Pick = argmax alpha per edge.
- gdas: per step, one Gumbel-softmax sample per edge (shared by all cells) at temperature tau;
  the forward runs only the sampled op, scaled by the straight-through factor (hard one-hot minus
  the detached soft sample plus the soft sample, value 1), so alpha gets gradients; tau falls
  linearly from tau_max to tau_min over the epochs (Dong & Yang, CVPR 2019). Pick = argmax alpha.
- spos: supernet trained with one uniformly sampled op per edge per step (Guo et al. 2020), then
  random search: `spos_candidates` uniform cells scored by the supernet's validation accuracy
  (BatchNorm with batch statistics, running statistics left untouched); pick = the best.
- zerocost: `zerocost_samples` uniform cells, each built untrained with the trainer and scored by
  one trainer proxy on one training minibatch; pick = best score so far.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from harness.oneshot.supernet import NB201Supernet
from harness.spaces.nb201 import N_EDGES, N_OPS, OPS, format_arch
from harness.trainer.data import Splits, load_digits
from harness.trainer.train import deterministic, epoch_generator, seeded_init
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

METHODS = ("darts", "gdas", "spos", "zerocost")
OP_COLUMNS = tuple(f"op_{name}" for name in OPS)


@dataclass(frozen=True)
class OneShotConfig:
    """Scaled-down defaults (CPU, digits, seconds). The papers' settings are in docs/ONESHOT.md."""

    C: int = 4
    N: int = 1
    epochs: int = 4
    batch_size: int = 64
    input_size: int = 16  # digits are upsampled from 8x8 to this size
    data_limit: int | None = 512  # at most this many images per split (None = all)
    split_seed: int = 0
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    grad_clip: float = 5.0
    alpha_lr: float = 3e-4
    alpha_betas: tuple[float, float] = (0.5, 0.999)
    alpha_weight_decay: float = 1e-3
    tau_max: float = 10.0
    tau_min: float = 0.1
    spos_candidates: int = 20
    zerocost_proxy: str = "synflow"
    zerocost_samples: int = 20
    threads: int = 1

    def check(self) -> None:
        if self.C < 1 or self.N < 1 or self.epochs < 1 or self.batch_size < 2 or self.input_size < 4:
            raise NasHarnessError(f"one-shot config needs C, N, epochs >= 1, batch size >= 2, input size >= 4; got {self}")
        if not (self.w_lr > 0 and self.alpha_lr > 0 and 0 < self.tau_min <= self.tau_max):
            raise NasHarnessError("one-shot config needs w_lr > 0, alpha_lr > 0 and 0 < tau_min <= tau_max")
        if self.spos_candidates < 1 or self.zerocost_samples < 1:
            raise NasHarnessError("spos_candidates and zerocost_samples must be >= 1")


def _generator(seed: int, epoch: int, purpose: str) -> torch.Generator:
    digest = hashlib.sha256(f"nas-harness-oneshot:{purpose}:{seed}:{epoch}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def _lr(cfg: OneShotConfig, progress: float) -> float:
    """Cosine from w_lr to w_lr_min over the run (DARTS's schedule)."""
    return cfg.w_lr_min + 0.5 * (cfg.w_lr - cfg.w_lr_min) * (1.0 + math.cos(math.pi * progress / cfg.epochs))


def tau_at(cfg: OneShotConfig, epoch: int) -> float:
    """GDAS temperature of `epoch` (0-based): linear from tau_max (first) to tau_min (last epoch)."""
    if cfg.epochs == 1:
        return cfg.tau_max
    return cfg.tau_max - (cfg.tau_max - cfg.tau_min) * epoch / (cfg.epochs - 1)


def gumbel_hard(alpha: torch.Tensor, tau: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One Gumbel-softmax sample per edge: (straight-through one-hot weights (6, 5), chosen ops (6,))."""
    u = torch.rand(alpha.shape, generator=gen).clamp_(1e-10, 1.0 - 1e-7)
    gumbel = -torch.log(-torch.log(u))
    soft = F.softmax((F.log_softmax(alpha, dim=-1) + gumbel) / tau, dim=-1)
    index = soft.argmax(dim=-1)
    hard = F.one_hot(index, N_OPS).to(soft.dtype)
    return hard - soft.detach() + soft, index


def uniform_choice(gen: torch.Generator) -> tuple[int, ...]:
    """SPOS's path: one op per edge, uniformly and independently."""
    return tuple(int(c) for c in torch.randint(0, N_OPS, (N_EDGES,), generator=gen))


def op_histogram(codes: tuple[int, ...] | list[int]) -> dict[str, int]:
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=N_OPS)
    return {col: int(n) for col, n in zip(OP_COLUMNS, counts)}


# -- supernet training ------------------------------------------------------------------------
def _batches(n: int, batch: int, gen: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=gen)
    return [order[i:i + batch] for i in range(0, n - 1, batch) if len(order[i:i + batch]) > 1]


def _evaluate(model: NB201Supernet, splits: Splits, weights: torch.Tensor | None, choice: tuple[int, ...] | None,
              batch_stats: bool = False) -> tuple[float, float]:
    """(loss, accuracy %) on the validation split; batch_stats: BatchNorm uses batch statistics and
    its running statistics are left as they were (SPOS scores candidates this way)."""
    x_all, y_all = splits.x_valid, splits.y_valid
    saved = {k: v.clone() for k, v in model.state_dict().items()} if batch_stats else None
    model.train(batch_stats)
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(y_all), 512):
            x, y = splits.normalise(x_all[start:start + 512]), y_all[start:start + 512]
            logits = model(x, weights, choice)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    if saved is not None:
        model.load_state_dict(saved)
    n = max(1, len(y_all))
    return loss_sum / n, 100.0 * correct / n


class _Search:
    """One supernet search; `epoch()` trains one epoch and returns its record (without table columns)."""

    def __init__(self, method: str, splits: Splits, seed: int, cfg: OneShotConfig):
        self.method, self.splits, self.seed, self.cfg = method, splits, seed, cfg
        in_ch = splits.input_shape[0]
        self.model = seeded_init(lambda: NB201Supernet(splits.num_classes, C=cfg.C, N=cfg.N, in_channels=in_ch), seed)
        self.alpha = torch.nn.Parameter(1e-3 * torch.randn(N_EDGES, N_OPS, generator=_generator(seed, -1, "alpha")))
        self.w_opt = torch.optim.SGD(self.model.parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum, weight_decay=cfg.w_weight_decay)
        self.a_opt = torch.optim.Adam([self.alpha], lr=cfg.alpha_lr, betas=cfg.alpha_betas, weight_decay=cfg.alpha_weight_decay)
        self.rng = np.random.default_rng([seed, 7])  # SPOS's random search over candidates

    def _loss(self, idx: torch.Tensor, part: str, weights: torch.Tensor | None, choice: tuple[int, ...] | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x_all, y_all = (self.splits.x_train, self.splits.y_train) if part == "train" else (self.splits.x_valid, self.splits.y_valid)
        x, y = self.splits.normalise(x_all[idx]), y_all[idx]
        logits = self.model(x, weights, choice)
        return F.cross_entropy(logits, y), logits, y

    def _arch_weights(self, gen: torch.Generator, tau: float) -> tuple[torch.Tensor | None, tuple[int, ...] | None]:
        if self.method == "darts":
            return F.softmax(self.alpha, dim=-1), None
        if self.method == "gdas":
            hard, index = gumbel_hard(self.alpha, tau, gen)
            return hard, tuple(int(i) for i in index)
        return None, uniform_choice(gen)

    def epoch(self, epoch: int) -> dict[str, Any]:
        cfg, s = self.cfg, self.splits
        shuffle = epoch_generator(self.seed, epoch)
        sampler = _generator(self.seed, epoch, "arch")
        train_batches = _batches(len(s.y_train), cfg.batch_size, shuffle)
        valid_batches = _batches(len(s.y_valid), cfg.batch_size, shuffle)
        tau = tau_at(cfg, epoch)
        self.model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for i, idx in enumerate(train_batches):
            if self.method in ("darts", "gdas"):  # first-order: alpha step on a validation batch, weights fixed
                weights, choice = self._arch_weights(sampler, tau)
                self.a_opt.zero_grad(set_to_none=True)
                loss, _, _ = self._loss(valid_batches[i % len(valid_batches)], "valid", weights, choice)
                loss.backward()
                self.a_opt.step()
            for group in self.w_opt.param_groups:
                group["lr"] = _lr(cfg, epoch + i / len(train_batches))
            weights, choice = self._arch_weights(sampler, tau)
            if weights is not None:
                weights = weights.detach()
            self.w_opt.zero_grad(set_to_none=True)
            loss, logits, y = self._loss(idx, "train", weights, choice)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.w_opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        record: dict[str, Any] = {"train_loss": loss_sum / seen, "train_acc": 100.0 * correct / seen}
        if self.method == "spos":
            codes, (v_loss, v_acc) = self._random_search()
        else:
            codes = tuple(int(c) for c in self.alpha.detach().argmax(dim=-1))
            weights = F.softmax(self.alpha.detach(), dim=-1)
            v_loss, v_acc = _evaluate(self.model, s, weights if self.method == "darts" else None,
                                      None if self.method == "darts" else codes)
        record.update({"valid_loss": v_loss, "valid_acc": v_acc, "codes": codes, "tau": tau if self.method == "gdas" else math.nan,
                       "alpha": self.alpha.detach().clone()})
        return record

    def _random_search(self) -> tuple[tuple[int, ...], tuple[float, float]]:
        candidates = self.rng.integers(0, N_OPS, size=(self.cfg.spos_candidates, N_EDGES))
        best: tuple[tuple[int, ...], tuple[float, float]] | None = None
        for row in candidates:
            codes = tuple(int(c) for c in row)
            score = _evaluate(self.model, self.splits, None, codes, batch_stats=True)
            if best is None or score[1] > best[1][1]:
                best = (codes, score)
        return best  # type: ignore[return-value]


# -- the public entry point -------------------------------------------------------------------
def _table(benchmark_name: str) -> tuple[Any, np.ndarray, np.ndarray, float]:
    from harness.benchmarks import load_benchmark

    bench = load_benchmark(benchmark_name)
    if bench.space.name != "nb201":
        raise NasHarnessError(f"one-shot search runs on the NB201 cell space; {benchmark_name!r} is a {bench.space.name} benchmark")
    store = bench.store
    valid = np.asarray(store.seed_mean(store.valid_metric))
    test = np.asarray(store.seed_mean(store.test_metric)) if store.test_metric else np.full(valid.shape, np.nan)
    return bench, valid, test, float(store.best(store.valid_metric)[1])


def _load_data(cfg: OneShotConfig) -> Splits:
    return load_digits(seed=cfg.split_seed, size=cfg.input_size, limit=cfg.data_limit)


def run_oneshot(method: str, benchmark_name: str, seed: int, config: OneShotConfig | dict[str, Any] | None = None) -> pd.DataFrame:
    """Run `method` (darts, gdas, spos, zerocost) on digits; one row per epoch (zerocost: per scored cell).

    Columns: method, seed, epoch, arch, arch_index, valid_mean, test_mean (table seed means; NaN
    when the table has no test metric), regret (table optimum of the validation seed mean minus the
    pick's), train_loss/train_acc/valid_loss/valid_acc of the supernet (zerocost: NaN, and `score`
    holds the proxy), seconds (cumulative real compute), tau (GDAS), alpha (flattened, DARTS/GDAS),
    and op_<name> counts of the picked cell.
    """
    if method not in METHODS:
        raise NasHarnessError(f"unknown one-shot method {method!r}; choose one of {', '.join(METHODS)}")
    cfg = config if isinstance(config, OneShotConfig) else OneShotConfig(**(config or {}))
    cfg.check()
    bench, valid, test, optimum = _table(benchmark_name)
    try:
        splits = _load_data(cfg)
        device = torch.device("cpu")
        with deterministic(device, cfg.threads):
            if method == "zerocost":
                rows = _zerocost_rows(splits, seed, cfg)
            else:
                rows = _supernet_rows(method, splits, seed, cfg)
        for row in rows:
            index = bench.space.index_of(row["arch"])
            row.update({"arch_index": index, "valid_mean": float(valid[index]), "test_mean": float(test[index]),
                        "regret": optimum - float(valid[index])})
    finally:
        bench.store.close()
    frame = pd.DataFrame(rows)
    frame.insert(0, "method", method)
    frame.insert(1, "seed", seed)
    frame.attrs["config"] = asdict(cfg)
    frame.attrs["data"] = splits.describe()
    frame.attrs["table_optimum"] = optimum
    return frame


def _supernet_rows(method: str, splits: Splits, seed: int, cfg: OneShotConfig) -> list[dict[str, Any]]:
    search = _Search(method, splits, seed, cfg)
    rows, seconds = [], 0.0
    for epoch in range(cfg.epochs):
        started = time.perf_counter()
        rec = search.epoch(epoch)
        seconds += time.perf_counter() - started
        codes = rec.pop("codes")
        alpha = rec.pop("alpha")
        rows.append({"epoch": epoch + 1, "arch": format_arch(codes), **rec, "seconds": seconds,
                     "alpha": alpha.reshape(-1).tolist() if method != "spos" else None, **op_histogram(codes)})
        log.info("%s seed %d epoch %d: %s valid %.2f%%", method, seed, epoch + 1, rows[-1]["arch"], rec["valid_acc"])
    return rows


def zerocost_scores(archs: list[str], splits: Splits, seed: int, cfg: OneShotConfig) -> list[float]:
    """The trainer's proxy `cfg.zerocost_proxy` of each untrained cell (built with seed `seed`)."""
    from harness.trainer import build_network
    from harness.trainer.proxies import compute_proxies

    gen = epoch_generator(seed, 0)
    idx = torch.randperm(len(splits.y_train), generator=gen)[:cfg.batch_size]
    x, y = splits.normalise(splits.x_train[idx]), splits.y_train[idx]
    scores = []
    for arch in archs:
        net = seeded_init(lambda a=arch: build_network("nb201", a, splits.num_classes, C=cfg.C, N=cfg.N,
                                                       in_channels=splits.input_shape[0]), seed)
        scores.append(compute_proxies(net, x, y, (cfg.zerocost_proxy,), seed=seed)[cfg.zerocost_proxy])
    return scores


def _zerocost_rows(splits: Splits, seed: int, cfg: OneShotConfig) -> list[dict[str, Any]]:
    rng = np.random.default_rng([seed, 11])
    codes_all = rng.integers(0, N_OPS, size=(cfg.zerocost_samples, N_EDGES))
    rows, seconds, best = [], 0.0, (-math.inf, None)
    for k, row in enumerate(codes_all):
        codes = tuple(int(c) for c in row)
        started = time.perf_counter()
        score = zerocost_scores([format_arch(codes)], splits, seed, cfg)[0]
        seconds += time.perf_counter() - started
        if best[1] is None or score > best[0]:
            best = (score, codes)
        rows.append({"epoch": k + 1, "arch": format_arch(best[1]), "score": best[0], "train_loss": math.nan, "train_acc": math.nan,
                     "valid_loss": math.nan, "valid_acc": math.nan, "seconds": seconds, **op_histogram(best[1])})
    return rows
