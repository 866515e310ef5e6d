"""One-shot searches (DARTS, GDAS, SPOS; ENAS, RSPS, SETN) and a zero-cost search, judged on a benchmark.

Why: weight-sharing methods pick a cell by training a supernet, not by querying a table; to compare
them with the tabular strategies we record, after every epoch, the cell they would return and its
benchmark accuracy (seed mean of the validation metric, or a surrogate's prediction on the DARTS
space) and regret against the benchmark's optimum, together with the real seconds spent. Everything
random is a function of the seed: the initial weights (trainer.seeded_init), each epoch's shuffle
(trainer.epoch_generator) and each epoch's architecture sampling (its own generator of (seed,
epoch)), with deterministic kernels on. Spaces: NB201 and the DARTS space (harness.oneshot.spaces).

Methods (scaled down by `OneShotConfig`; docs/ONESHOT.md lists the papers' settings):
- darts: edge output = sum_o softmax(alpha_e)_o op_o(x); per step one Adam step on alpha with a
  validation batch, then one SGD step on the weights with a training batch (Liu et al. 2019).
  `darts_order` 1 takes alpha's gradient at the current weights; 2 takes it at the weights after
  one virtual SGD step (w' = w - xi * (momentum * buffer + grad + weight_decay * w), xi = the
  current weight learning rate), with the Hessian-vector product by central finite differences at
  eps = 0.01 / ||grad_w' L_valid|| (the paper's Eq. 7-8). Pick = the space's rule on softmax(alpha).
- gdas: per step, one Gumbel-softmax sample per edge (shared by all cells of a type) at
  temperature tau; the forward runs only the sampled op, scaled by the straight-through factor
  (value 1), so alpha gets gradients; tau falls linearly from tau_max to tau_min over the epochs
  (Dong & Yang, CVPR 2019). First order. Pick = the space's rule on softmax(alpha).
- spos: supernet trained with one uniformly sampled path per step (Guo et al. 2020), then, after
  every epoch, an evolutionary search (harness.oneshot.evolution; `spos_search=random` for a
  random search of `spos_candidates` cells) over the supernet's validation accuracy (BatchNorm
  with batch statistics, running statistics left untouched); pick = the best.
- enas, rsps, setn: single-path supernets whose pick is the best of sampled candidates by one-batch
  validation accuracy (LSTM controller, uniform cells, templates of alpha): harness.oneshot.sampled.
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
from torch import nn
from torch.nn import functional as F

from harness.oneshot.registry import ONESHOT_METHODS
from harness.oneshot.spaces import OneShotSpace, gumbel_hard, oneshot_space
from harness.trainer.data import DATASETS, Splits, load_dataset, load_digits
from harness.trainer.train import deterministic, epoch_generator, resolve_device, seeded_init
from tabular.errors import NasHarnessError, SourceMissingError

log = logging.getLogger(__name__)

METHODS = ONESHOT_METHODS  # darts, gdas, spos, enas, rsps, setn, zerocost
SAMPLED = ("enas", "rsps", "setn")  # harness.oneshot.sampled
SPOS_SEARCHES = ("evolution", "random")

__all__ = ["METHODS", "OneShotConfig", "check_memory", "gumbel_hard", "memory_estimate", "run_oneshot", "tau_at",
           "unrolled_alpha_grad", "zerocost_scores"]


@dataclass(frozen=True)
class OneShotConfig:
    """Scaled-down defaults (CPU, digits, seconds). The papers' settings are in docs/ONESHOT.md and
    in conf/strategy/*_paper.yaml."""

    C: int = 4
    N: int = 1  # NB201: cells per stage
    layers: int = 5  # DARTS space: cells in the supernet (reductions at layers//3 and 2*layers//3)
    epochs: int = 4
    batch_size: int = 64
    dataset: str = "digits"  # or cifar10 / cifar100 / imagenet16-120 from data_root (harness.trainer.data)
    data_root: str = ""  # folder of the dataset's files ("" = <data>/datasets/<name>)
    input_size: int = 16  # digits are upsampled from 8x8 to this size; other datasets keep theirs
    data_limit: int | None = 512  # at most this many images per split (None = all)
    split_seed: int = 0
    device: str = "cpu"  # cpu, cuda[:N] or auto; bitwise repeatable on the CPU only
    memory_limit_gb: float = 0.0  # refuse configs estimated above this (0 = the device's free memory)
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    w_nesterov: bool = False  # NB201's search configs use Nesterov momentum
    grad_clip: float = 5.0
    alpha_lr: float = 3e-4
    alpha_betas: tuple[float, float] = (0.5, 0.999)
    alpha_weight_decay: float = 1e-3
    darts_order: int = 1
    tau_max: float = 10.0
    tau_min: float = 0.1
    spos_search: str = "evolution"
    spos_population: int = 10
    spos_iterations: int = 3
    spos_topk: int = 4
    spos_mutation_prob: float = 0.1
    spos_candidates: int = 20  # spos_search=random only
    spos_bn_batches: int = 0  # 0: score with batch statistics; k: recalibrate BN on k training batches (SPOS paper)
    zerocost_proxy: str = "synflow"
    zerocost_samples: int = 20
    w_lr_period: int = 0  # cosine period in epochs (0 = epochs); ENAS's NB201 config uses 10
    select_batch_size: int = 0  # ENAS/RSPS/SETN: one validation batch of this size per candidate (0 = batch_size)
    enas_hidden: int = 32
    enas_layers: int = 2
    enas_temperature: float = 5.0
    enas_tanh_constant: float = 2.5
    enas_lr: float = 0.001
    enas_betas: tuple[float, float] = (0.0, 0.999)
    enas_eps: float = 0.001
    enas_entropy_weight: float = 0.0001
    enas_baseline_decay: float = 0.99
    enas_train_steps: int = 2  # controller steps per epoch (authors: 50)
    enas_aggregate: int = 4  # samples averaged per controller step (authors: 20)
    enas_candidates: int = 10  # controller samples scored for each epoch's pick (authors: 10)
    enas_final_candidates: int = 20  # ... for the last epoch's (authors: 100)
    rsps_candidates: int = 20  # uniform cells scored per epoch (authors: 100)
    setn_candidates: int = 20  # templates scored per epoch (authors: 100)
    setn_select: str = "topk"  # topk: the most probable cells under softmax(alpha) (authors); sample: drawn from it
    setn_train_sampling: str = "uniform"  # weight-step paths: uniform (authors' code) or alpha (templates)
    threads: int = 1

    def check(self) -> None:
        if self.C < 1 or self.N < 1 or self.layers < 3 or self.epochs < 1 or self.batch_size < 2 or self.input_size < 4:
            raise NasHarnessError(
                f"one-shot config needs C, N, epochs >= 1, layers >= 3, batch size >= 2, input size >= 4; got {self}"
            )
        if not (self.w_lr > 0 and self.alpha_lr > 0 and 0 < self.tau_min <= self.tau_max):
            raise NasHarnessError("one-shot config needs w_lr > 0, alpha_lr > 0 and 0 < tau_min <= tau_max")
        if self.darts_order not in (1, 2):
            raise NasHarnessError(f"darts_order must be 1 (first order) or 2 (second order), got {self.darts_order}")
        if self.spos_search not in SPOS_SEARCHES:
            raise NasHarnessError(f"spos_search must be one of {', '.join(SPOS_SEARCHES)}, got {self.spos_search!r}")
        if self.spos_candidates < 1 or self.zerocost_samples < 1:
            raise NasHarnessError("spos_candidates and zerocost_samples must be >= 1")
        if (self.spos_population < 2 or self.spos_iterations < 1 or not 1 <= self.spos_topk <= self.spos_population
                or not 0.0 <= self.spos_mutation_prob <= 1.0):
            raise NasHarnessError("SPOS evolution needs spos_population >= 2, spos_iterations >= 1, "
                                  "1 <= spos_topk <= spos_population and 0 <= spos_mutation_prob <= 1")
        if self.spos_bn_batches < 0:
            raise NasHarnessError(f"spos_bn_batches must be >= 0, got {self.spos_bn_batches}")
        if self.dataset not in DATASETS:
            raise NasHarnessError(
                f"unknown dataset {self.dataset!r} for one-shot search; choose one of {', '.join(DATASETS)}"
            )
        if self.memory_limit_gb < 0:
            raise NasHarnessError(
                f"memory_limit_gb must be >= 0 (0 = the device's free memory), got {self.memory_limit_gb}"
            )
        if self.w_lr_period < 0:
            raise NasHarnessError(f"w_lr_period must be >= 0 (0 = epochs), got {self.w_lr_period}")


def _generator(seed: int, epoch: int, purpose: str) -> torch.Generator:
    digest = hashlib.sha256(f"nas-harness-oneshot:{purpose}:{seed}:{epoch}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def _lr(cfg: OneShotConfig, progress: float) -> float:
    """Cosine from w_lr to w_lr_min over the run (DARTS's schedule), or with period w_lr_period epochs
    when set (NB201's ENAS config: T_max = 10, so the rate goes down and up again)."""
    period = cfg.w_lr_period or cfg.epochs
    return cfg.w_lr_min + 0.5 * (cfg.w_lr - cfg.w_lr_min) * (1.0 + math.cos(math.pi * progress / period))


def tau_at(cfg: OneShotConfig, epoch: int) -> float:
    """GDAS temperature of `epoch` (0-based): linear from tau_max (first) to tau_min (last epoch)."""
    if cfg.epochs == 1:
        return cfg.tau_max
    return cfg.tau_max - (cfg.tau_max - cfg.tau_min) * epoch / (cfg.epochs - 1)


# -- DARTS's second-order architecture gradient ---------------------------------------------
def unrolled_alpha_grad(model: nn.Module, alpha: torch.Tensor, to_weights: Any,
                        train_batch: tuple[torch.Tensor, torch.Tensor], valid_batch: tuple[torch.Tensor, torch.Tensor],
                        xi: float, momentum: float, weight_decay: float,
                        momentum_buffers: list[torch.Tensor | None]) -> torch.Tensor:
    """d L_valid(w*(alpha), alpha) / d alpha with w* one virtual SGD step from w (module docstring).

    The model's weights are restored exactly before returning; only `alpha`'s gradient is computed
    (the caller assigns it). `to_weights(alpha)` maps the logits to the forward's op weights.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    (x_t, y_t), (x_v, y_v) = train_batch, valid_batch
    grads = torch.autograd.grad(F.cross_entropy(model(x_t, to_weights(alpha).detach()), y_t), params)
    backup = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for p, g, buf in zip(params, grads, momentum_buffers, strict=True):
                step = g + weight_decay * p
                if buf is not None:
                    step = step + momentum * buf
                p.sub_(xi * step)
        valid_loss = F.cross_entropy(model(x_v, to_weights(alpha)), y_v)
        d_alpha, *d_w = torch.autograd.grad(valid_loss, [alpha, *params], allow_unused=True)
        d_w = [torch.zeros_like(p) if d is None else d for p, d in zip(params, d_w, strict=True)]
        eps = 0.01 / float(torch.sqrt(sum((d * d).sum() for d in d_w)).clamp_min(1e-12))

        def train_grad_at(sign: float) -> torch.Tensor:
            with torch.no_grad():
                for p, b, d in zip(params, backup, d_w, strict=True):
                    p.copy_(b + sign * eps * d)
            return torch.autograd.grad(F.cross_entropy(model(x_t, to_weights(alpha)), y_t), alpha)[0]

        hessian_vector = (train_grad_at(1.0) - train_grad_at(-1.0)) / (2.0 * eps)
    finally:
        with torch.no_grad():
            for p, b in zip(params, backup, strict=True):
                p.copy_(b)
    return d_alpha - xi * hessian_vector


# -- supernet training ------------------------------------------------------------------------
def _batches(n: int, batch: int, gen: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=gen)
    return [order[i:i + batch] for i in range(0, n - 1, batch) if len(order[i:i + batch]) > 1]


class _Search:
    """One supernet search; `epoch()` trains one epoch and returns its record (without table columns)."""

    def __init__(self, method: str, space: OneShotSpace, splits: Splits, seed: int, cfg: OneShotConfig,
                 device: torch.device):
        self.method, self.space, self.splits = method, space, splits
        self.seed, self.cfg, self.device = seed, cfg, device
        in_ch = splits.input_shape[0]
        self.model = seeded_init(lambda: space.build(splits.num_classes, in_ch, cfg), seed).to(device)
        alpha0 = 1e-3 * torch.randn(space.alpha_shape, generator=_generator(seed, -1, "alpha"))
        self.alpha = torch.nn.Parameter(alpha0.to(device))
        self.w_opt = torch.optim.SGD(self.model.parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum,
                                     weight_decay=cfg.w_weight_decay, nesterov=cfg.w_nesterov)
        self.a_opt = torch.optim.Adam([self.alpha], lr=cfg.alpha_lr, betas=cfg.alpha_betas,
                                      weight_decay=cfg.alpha_weight_decay)
        self.rng = np.random.default_rng([seed, 7])  # SPOS's search over candidates

    def _batch(self, idx: torch.Tensor, part: str) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.splits
        x_all, y_all = (s.x_train, s.y_train) if part == "train" else (s.x_valid, s.y_valid)
        return self.splits.normalise(x_all[idx]).to(self.device), y_all[idx].to(self.device)

    def _arch_weights(self, gen: torch.Generator, tau: float) -> tuple[torch.Tensor | None, Any]:
        if self.method == "darts":
            return F.softmax(self.alpha, dim=-1), None
        if self.method == "gdas":
            hard, index = gumbel_hard(self.alpha, tau, gen)
            return hard, index.cpu()
        return None, self.space.path_of_genome(self.space.uniform_genome(gen))

    def _momentum_buffers(self) -> list[torch.Tensor | None]:
        return [self.w_opt.state.get(p, {}).get("momentum_buffer") for p in self.model.parameters() if p.requires_grad]

    def epoch_streams(self, epoch: int) -> tuple[np.random.Generator, list, list]:
        """An epoch's random streams, all functions of (seed, epoch): the architecture sampler, then the
        training and validation batches from the epoch's shuffle (drawn in that order)."""
        cfg, s = self.cfg, self.splits
        shuffle = epoch_generator(self.seed, epoch)
        sampler = _generator(self.seed, epoch, "arch")
        train_batches = _batches(len(s.y_train), cfg.batch_size, shuffle)
        valid_batches = _batches(len(s.y_valid), cfg.batch_size, shuffle)
        return sampler, train_batches, valid_batches

    def epoch(self, epoch: int) -> dict[str, Any]:
        cfg = self.cfg
        sampler, train_batches, valid_batches = self.epoch_streams(epoch)
        tau = tau_at(cfg, epoch)
        self.model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for i, idx in enumerate(train_batches):
            lr = _lr(cfg, epoch + i / len(train_batches))
            train = self._batch(idx, "train")
            if self.method in ("darts", "gdas"):  # alpha step on a validation batch
                valid = self._batch(valid_batches[i % len(valid_batches)], "valid")
                self.a_opt.zero_grad(set_to_none=True)
                if self.method == "darts" and cfg.darts_order == 2:
                    self.alpha.grad = unrolled_alpha_grad(self.model, self.alpha, lambda a: F.softmax(a, dim=-1),
                                                          train, valid, lr, cfg.w_momentum, cfg.w_weight_decay,
                                                          self._momentum_buffers())
                else:
                    weights, choice = self._arch_weights(sampler, tau)
                    F.cross_entropy(self.model(valid[0], weights, choice), valid[1]).backward()
                self.a_opt.step()
            for group in self.w_opt.param_groups:
                group["lr"] = lr
            weights, choice = self._arch_weights(sampler, tau)
            if weights is not None:
                weights = weights.detach()
            self.w_opt.zero_grad(set_to_none=True)
            logits = self.model(train[0], weights, choice)
            loss = F.cross_entropy(logits, train[1])
            loss.backward()
            if cfg.grad_clip > 0:  # 0: no clipping
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.w_opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == train[1]).sum())
            seen += len(idx)
        record: dict[str, Any] = {"train_loss": loss_sum / seen, "train_acc": 100.0 * correct / seen}
        if self.method == "spos":
            arch, (v_loss, v_acc), n_scored = self._spos_search()
        else:
            weights = F.softmax(self.alpha.detach(), dim=-1)
            arch = self.space.derive(weights)
            if self.method == "darts":
                v_loss, v_acc = self._evaluate(weights, None)
            else:  # GDAS: the argmax path of alpha, with BatchNorm's batch statistics: the running ones
                # mix the statistics of every path sampled in training (as for SPOS's candidates)
                v_loss, v_acc = self._evaluate(None, weights.argmax(dim=-1).cpu(), batch_stats=True)
            n_scored = 0
        record.update({"arch": arch, "valid_loss": v_loss, "valid_acc": v_acc,
                       "tau": tau if self.method == "gdas" else math.nan,
                       "alpha": self.alpha.detach().cpu().clone(), "candidates_scored": n_scored})
        return record

    def _recalibrate_bn(self, choice: Any) -> None:
        """SPOS's BatchNorm recalibration: running statistics recomputed (cumulative average) for one
        path on the first `spos_bn_batches` training batches of a fixed order (a function of the seed)."""
        bns = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        order = torch.randperm(len(self.splits.y_train), generator=_generator(self.seed, 0, "bn"))
        self.model.train()
        with torch.no_grad():
            for k in range(self.cfg.spos_bn_batches):
                idx = order[k * self.cfg.batch_size:(k + 1) * self.cfg.batch_size]
                if len(idx) < 2:
                    break
                self.model(self._batch(idx, "train")[0], None, choice)
        for m, momentum in zip(bns, momenta, strict=True):
            m.momentum = momentum

    def _evaluate(self, weights: torch.Tensor | None, choice: Any, batch_stats: bool = False) -> tuple[float, float]:
        """(loss, accuracy %) on the validation split. batch_stats (SPOS's candidates): BatchNorm uses
        each validation batch's statistics, or, with spos_bn_batches > 0, statistics recalibrated for
        this path; either way the supernet's own running statistics are restored afterwards."""
        model, s = self.model, self.splits
        saved = {k: v.clone() for k, v in model.state_dict().items()} if batch_stats else None
        recalibrate = batch_stats and self.cfg.spos_bn_batches > 0
        if recalibrate:
            self._recalibrate_bn(choice)
        model.train(batch_stats and not recalibrate)
        loss_sum, correct = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(s.y_valid), 512):
                x = s.normalise(s.x_valid[start:start + 512]).to(self.device)
                y = s.y_valid[start:start + 512].to(self.device)
                logits = model(x, weights, choice)
                loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
        if saved is not None:
            model.load_state_dict(saved)
        n = max(1, len(s.y_valid))
        return loss_sum / n, 100.0 * correct / n

    def _spos_search(self) -> tuple[str, tuple[float, float], int]:
        from harness.oneshot.evolution import evolve

        scores: dict[tuple[int, ...], tuple[float, float]] = {}

        def score(genome: tuple[int, ...]) -> float:
            scores[genome] = self._evaluate(None, self.space.path_of_genome(genome), batch_stats=True)
            return scores[genome][1]

        cfg = self.cfg
        if cfg.spos_search == "evolution":
            result = evolve(score, self.space.radices, self.rng, population=cfg.spos_population,
                            iterations=cfg.spos_iterations, topk=cfg.spos_topk, mutation_prob=cfg.spos_mutation_prob)
            best = result.best
        else:
            radices = np.asarray(self.space.radices)
            candidates = self.rng.integers(0, radices, size=(cfg.spos_candidates, radices.size))
            best = None
            for row in candidates:
                genome = tuple(int(c) for c in row)
                if genome not in scores:
                    score(genome)
                if best is None or scores[genome][1] > scores[best][1]:
                    best = genome
        return self.space.arch_of_genome(best), scores[best], len(scores)


# -- the public entry point -------------------------------------------------------------------
class _Table:
    """The benchmark a search is judged on: validation/test seed means by row, and the optimum."""

    def __init__(self, benchmark_name: str):
        from harness.benchmarks import load_benchmark
        from harness.engine import regret_optimum, row_means

        self.bench = load_benchmark(benchmark_name)
        store = self.bench.store
        try:
            self.space = oneshot_space(self.bench.space.name)
        except NasHarnessError:
            store.close()
            raise
        self.valid = row_means(store, store.valid_metric)
        self.test = row_means(store, store.test_metric) if store.test_metric else None
        maximize = store.higher_is_better(store.valid_metric)
        if not maximize:
            store.close()
            raise NasHarnessError(f"one-shot search needs a benchmark whose validation metric is an accuracy; "
                                  f"{benchmark_name!r} minimises {store.valid_metric}")
        self.optimum = regret_optimum(store, self.valid, maximize)

    def lookup(self, arch: str) -> dict[str, Any]:
        index = self.bench.space.index_of(arch)
        valid = float(self.valid[index])
        test = float(self.test[index]) if self.test is not None else math.nan
        return {"arch_index": index, "valid_mean": valid, "test_mean": test, "regret": self.optimum - valid}

    def close(self) -> None:
        self.bench.store.close()


def _load_data(cfg: OneShotConfig) -> Splits:
    if cfg.dataset == "digits":
        return load_digits(seed=cfg.split_seed, size=cfg.input_size, limit=cfg.data_limit)
    try:
        return load_dataset(cfg.dataset, cfg.data_root or None, seed=cfg.split_seed, limit=cfg.data_limit)
    except SourceMissingError as err:  # the trainer's message names its CLI flag; say the config key here
        raise SourceMissingError(
            str(err).replace("pass --data-root", "set data_root (strategy.data_root=... in a grid)")
        ) from None


NATIVE_SIZE = {"cifar10": 32, "cifar100": 32, "imagenet16-120": 16}


def input_spec(cfg: OneShotConfig) -> tuple[tuple[int, int, int], int]:
    """(input shape, number of classes) of the config's dataset, known before loading it."""
    from harness.trainer.data import NUM_CLASSES

    side = cfg.input_size if cfg.dataset == "digits" else NATIVE_SIZE[cfg.dataset]
    return (3, side, side), NUM_CLASSES[cfg.dataset]


def memory_estimate(method: str, space: OneShotSpace, cfg: OneShotConfig) -> Any:
    """The training-step memory estimate (harness.oneshot.memory.MemoryEstimate) of a supernet method:
    DARTS (and SETN's alpha step) runs every op of every edge; GDAS, SPOS, ENAS, RSPS one path per step."""
    from harness.oneshot.memory import estimate

    shape, classes = input_spec(cfg)

    def forward_args() -> dict[str, Any]:
        if method in ("darts", "setn"):
            return {"weights": torch.full(space.alpha_shape, 1.0 / space.alpha_shape[-1])}
        return {"choice": space.path_of_genome(tuple(r - 1 for r in space.radices))}

    return estimate(lambda: space.build(classes, shape[0], cfg), shape, cfg.batch_size, forward_args)


def check_memory(method: str, space: OneShotSpace, cfg: OneShotConfig, device: torch.device) -> None:
    """Refuse, in one line, a config whose training step would not fit (harness.oneshot.memory).
    Runs before the data are loaded, so a paper-sized config fails in a second, not after minutes."""
    from harness.oneshot.memory import GIB, available_bytes

    if method == "zerocost":
        return
    est = memory_estimate(method, space, cfg)
    shape, _ = input_spec(cfg)
    limit = int(cfg.memory_limit_gb * GIB) if cfg.memory_limit_gb > 0 else available_bytes(device)
    if est.total_bytes > limit:
        raise NasHarnessError(
            f"{method} on the {space.name} supernet (C={cfg.C}, {'N' if space.name == 'nb201' else 'layers'}="
            f"{space.network_depth(cfg)}, batch {cfg.batch_size}, input {'x'.join(map(str, shape))}) needs about "
            f"{est.total_bytes / GIB:.2f} GiB but {limit / GIB:.2f} GiB is available on {device}; "
            "lower batch_size, C, N/layers or input_size, or run on a larger device")


def run_oneshot(
    method: str, benchmark_name: str, seed: int, config: OneShotConfig | dict[str, Any] | None = None
) -> pd.DataFrame:
    """Run `method` (darts, gdas, spos, enas, rsps, setn, zerocost); one row per epoch (zerocost: per scored cell).

    Columns: method, seed, epoch, arch, arch_index, valid_mean, test_mean (benchmark seed means;
    NaN when it has no test metric), regret (benchmark optimum of the validation seed mean minus
    the pick's), train_loss/train_acc/valid_loss/valid_acc of the supernet (zerocost: NaN, and
    `score` holds the proxy), seconds (cumulative real compute), tau (GDAS), alpha (flattened,
    DARTS/GDAS/SETN), candidates_scored (SPOS/ENAS/RSPS/SETN), baseline/reward/controller_entropy
    (ENAS), and op_<name> counts of the picked cell (the space's ops).
    """
    if method not in METHODS:
        raise NasHarnessError(f"unknown one-shot method {method!r}; choose one of {', '.join(METHODS)}")
    cfg = config if isinstance(config, OneShotConfig) else OneShotConfig(**(config or {}))
    cfg.check()
    device = resolve_device(cfg.device)
    if cfg.device == "auto" and device.type == "cpu":
        log.warning(
            "%s: device=auto found no CUDA GPU; training on the CPU (the paper presets take hours to days there)",
            method,
        )
    table = _Table(benchmark_name)
    try:
        if method in SAMPLED:
            from harness.oneshot.sampled import check_sampled

            check_sampled(method, table.space.name, cfg)
        check_memory(method, table.space, cfg, device)
        splits = _load_data(cfg)
        if (tuple(splits.input_shape), splits.num_classes) != input_spec(cfg):  # the estimate's assumption
            raise NasHarnessError(
                f"{cfg.dataset} loaded as {tuple(splits.input_shape)} with {splits.num_classes} classes, "
                f"expected {input_spec(cfg)}; check the dataset files"
            )
        with deterministic(device, cfg.threads):
            if method == "zerocost":
                rows = _zerocost_rows(table.space, splits, seed, cfg, device)
            else:
                rows = _supernet_rows(method, table.space, splits, seed, cfg, device)
        for row in rows:
            row.update(table.lookup(row["arch"]))
    finally:
        table.close()
    frame = pd.DataFrame(rows)
    frame.insert(0, "method", method)
    frame.insert(1, "seed", seed)
    frame.attrs["config"] = asdict(cfg)
    frame.attrs["data"] = splits.describe()
    frame.attrs["table_optimum"] = table.optimum
    frame.attrs["space"] = table.space.name
    frame.attrs["device"] = str(device)
    return frame


def _op_histogram(space: OneShotSpace, arch: str) -> dict[str, int]:
    return {f"op_{name}": int(n) for name, n in zip(space.op_names, space.op_counts(arch), strict=True)}


def _supernet_rows(method: str, space: OneShotSpace, splits: Splits, seed: int, cfg: OneShotConfig,
                   device: torch.device) -> list[dict[str, Any]]:
    if method in SAMPLED:  # ENAS, RSPS, SETN: their own module (it builds on _Search)
        from harness.oneshot.sampled import search_class

        search = search_class(method)(method, space, splits, seed, cfg, device)
    else:
        search = _Search(method, space, splits, seed, cfg, device)
    rows, seconds = [], 0.0
    for epoch in range(cfg.epochs):
        started = time.perf_counter()
        rec = search.epoch(epoch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - started
        alpha = rec.pop("alpha")
        rows.append({"epoch": epoch + 1, **rec, "seconds": seconds,
                     "alpha": alpha.reshape(-1).tolist() if alpha is not None and method != "spos" else None,
                     **_op_histogram(space, rec["arch"])})
        log.info("%s seed %d epoch %d: %s valid %.2f%%", method, seed, epoch + 1, rec["arch"], rec["valid_acc"])
    return rows


def zerocost_scores(archs: list[str], splits: Splits, seed: int, cfg: OneShotConfig, space: str = "nb201",
                    device: torch.device | None = None) -> list[float]:
    """The trainer's proxy `cfg.zerocost_proxy` of each untrained cell (built with seed `seed`)."""
    from harness.trainer import build_network
    from harness.trainer.proxies import compute_proxies

    device = device or torch.device("cpu")
    depth = oneshot_space(space).network_depth(cfg)
    gen = epoch_generator(seed, 0)
    idx = torch.randperm(len(splits.y_train), generator=gen)[:cfg.batch_size]
    x, y = splits.normalise(splits.x_train[idx]).to(device), splits.y_train[idx].to(device)
    scores = []
    for arch in archs:
        net = seeded_init(lambda a=arch: build_network(space, a, splits.num_classes, C=cfg.C, N=depth,
                                                       in_channels=splits.input_shape[0]), seed).to(device)
        scores.append(compute_proxies(net, x, y, (cfg.zerocost_proxy,), seed=seed)[cfg.zerocost_proxy])
    return scores


def _zerocost_rows(
    space: OneShotSpace, splits: Splits, seed: int, cfg: OneShotConfig, device: torch.device
) -> list[dict[str, Any]]:
    rng = np.random.default_rng([seed, 11])
    genomes = rng.integers(0, np.asarray(space.radices), size=(cfg.zerocost_samples, len(space.radices)))
    rows, seconds, best = [], 0.0, (-math.inf, None)
    for k, genome in enumerate(genomes):
        arch = space.arch_of_genome(genome)
        started = time.perf_counter()
        score = zerocost_scores([arch], splits, seed, cfg, space.name, device)[0]
        seconds += time.perf_counter() - started
        if best[1] is None or score > best[0]:
            best = (score, arch)
        rows.append(
            {
                "epoch": k + 1, "arch": best[1], "score": best[0], "train_loss": math.nan, "train_acc": math.nan,
                "valid_loss": math.nan, "valid_acc": math.nan, "seconds": seconds, **_op_histogram(space, best[1]),
            }
        )
    return rows
