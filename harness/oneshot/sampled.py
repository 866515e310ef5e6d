"""Single-path weight-sharing searches that pick among sampled candidates: ENAS, RSPS and SETN.

Why a module of its own: the three methods share one loop (train the supernet one sampled path per
step, then score candidate cells on one validation batch each and keep the best), and they differ
only in where the paths and candidates come from. They reuse the DARTS/GDAS/SPOS machinery of
harness.oneshot.search (`_Search`: the supernet, optimiser, batches, seeded generators, the full
validation pass), so their run folders, trajectories and op histograms are the same.

Protocols (the NB201 authors' code, AutoDL-Projects exps/NAS-Bench-201-algos/; docs/ONESHOT.md
cites files and commit; sizes are scaled down by OneShotConfig and restored by the *_paper presets):
- enas (Pham et al. 2018, the authors' ENAS.py): per epoch, (1) one SGD step per training batch on a
  path sampled from the LSTM controller (harness.oneshot.controller; no gradient to it), then (2)
  `enas_train_steps` controller steps, each averaging the REINFORCE gradient of `enas_aggregate`
  samples; the reward of a sample is the supernet's accuracy (fraction) on one validation batch with
  the sampled path, plus `enas_entropy_weight` times the controller's entropy; a moving-average
  baseline (decay `enas_baseline_decay`); Adam, gradient clipped at norm 5. Pick: the best of
  `enas_candidates` controller samples (the last epoch: `enas_final_candidates`), each scored on
  one validation batch.
- rsps (Li & Talwalkar 2019, the authors' RANDOM-NAS.py): one uniformly sampled path per training
  step; pick: the best of `rsps_candidates` uniform cells, each scored on one validation batch.
- setn (Dong & Yang 2019, the authors' SETN.py): per step, one SGD step on a path sampled uniformly
  (`setn_train_sampling: uniform`, the authors' code) or from softmax(alpha) (`alpha`: the paper's
  template sampling), then one Adam step on alpha through the mixed supernet (softmax(alpha) as op
  weights, first order) on a validation batch. Pick: among `setn_candidates` templates, the `topk`
  most probable cells under softmax(alpha) (the authors' `return_topK`) or templates `sample`d from
  it, each scored on one validation batch. NB201 only: the method has no rule for the DARTS
  space's input choices.

Candidates are scored with BatchNorm's batch statistics (the authors' supernets keep no running
statistics), the supernet's own running statistics restored afterwards. The reported `valid_acc`
is the pick's accuracy on the whole validation split, as the authors' `valid_func`.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from harness.oneshot.controller import Controller, reinforce_loss, sample_templates, top_templates
from harness.oneshot.search import _batches, _generator, _lr, _Search
from harness.trainer.train import seeded_init
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

SAMPLED_METHODS = ("enas", "rsps", "setn")
SETN_SELECT = ("topk", "sample")
SETN_TRAIN = ("uniform", "alpha")
Genome = tuple[int, ...]


def check_sampled(method: str, space_name: str, cfg: Any) -> None:
    """Refuse, in one line, what a sampled-path method cannot run (before any data are loaded)."""
    if method == "setn" and space_name != "nb201":
        raise NasHarnessError(f"setn is defined on the NB201 space only (its template rule has no DARTS-space "
                              f"input choices), not {space_name!r}; use enas, rsps, spos, darts or gdas there")
    if min(cfg.enas_train_steps, cfg.enas_aggregate, cfg.enas_candidates, cfg.enas_final_candidates,
           cfg.rsps_candidates, cfg.setn_candidates, cfg.enas_hidden, cfg.enas_layers) < 1:
        raise NasHarnessError("enas_train_steps, enas_aggregate, enas_candidates, enas_final_candidates, enas_hidden, "
                              "enas_layers, rsps_candidates and setn_candidates must be >= 1")
    if not (0.0 <= cfg.enas_baseline_decay <= 1.0 and cfg.enas_temperature > 0 and cfg.enas_lr > 0):
        raise NasHarnessError("ENAS needs 0 <= enas_baseline_decay <= 1, enas_temperature > 0 and enas_lr > 0")
    if cfg.setn_select not in SETN_SELECT or cfg.setn_train_sampling not in SETN_TRAIN:
        raise NasHarnessError(f"setn_select must be one of {', '.join(SETN_SELECT)} and setn_train_sampling one of "
                              f"{', '.join(SETN_TRAIN)}; got {cfg.setn_select!r}, {cfg.setn_train_sampling!r}")
    if cfg.select_batch_size < 0:
        raise NasHarnessError(f"select_batch_size must be >= 0 (0 = batch_size), got {cfg.select_batch_size}")


class SampledSearch(_Search):
    """ENAS, RSPS or SETN on one supernet (module docstring); `epoch()` returns `_Search`'s record."""

    def __init__(self, method: str, *args: Any) -> None:
        super().__init__(method, *args)
        cfg = self.cfg
        self.controller: Controller | None = None
        self.baseline: float | None = None
        if method == "enas":
            radices = self.space.radices
            controller = seeded_init(lambda: Controller(radices, cfg.enas_hidden, cfg.enas_layers,
                                                        cfg.enas_tanh_constant, cfg.enas_temperature), self.seed + 1)
            assert isinstance(controller, Controller)
            self.controller = controller.to(self.device)
            self.c_opt = torch.optim.Adam(controller.parameters(), lr=cfg.enas_lr, betas=cfg.enas_betas,
                                          eps=cfg.enas_eps)

    # -- scoring -----------------------------------------------------------------------------------
    def _score_batch(self, genome: Genome, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        """Accuracy (%) of one path on one batch, BatchNorm with the batch's statistics; the running
        statistics are put back, so scoring never changes the supernet."""
        bns = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
               and m.running_mean is not None and m.running_var is not None and m.num_batches_tracked is not None]
        saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())  # type: ignore[union-attr]
                 for m in bns]
        was_training = self.model.training
        self.model.train()
        with torch.no_grad():
            logits = self.model(batch[0], None, self.space.path_of_genome(genome))
        with torch.no_grad():
            for m, (mean, var, count) in zip(bns, saved, strict=True):
                m.running_mean.copy_(mean)  # type: ignore[union-attr]
                m.running_var.copy_(var)  # type: ignore[union-attr]
                m.num_batches_tracked.copy_(count)  # type: ignore[union-attr]
        self.model.train(was_training)
        return 100.0 * float((logits.argmax(1) == batch[1]).float().mean())

    def _select_batches(self, epoch: int) -> list[torch.Tensor]:
        size = self.cfg.select_batch_size or self.cfg.batch_size
        return _batches(len(self.splits.y_valid), size, _generator(self.seed, epoch, "select"))

    def _best_of(self, genomes: list[Genome], epoch: int) -> tuple[Genome, int]:
        """The candidate with the best one-batch accuracy (candidate k on batch k mod n; ties: the first),
        and how many distinct cells were scored."""
        batches = self._select_batches(epoch)
        scores = [self._score_batch(g, self._batch(batches[k % len(batches)], "valid")) for k, g in enumerate(genomes)]
        return genomes[int(np.argmax(scores))], len(set(genomes))

    # -- training --------------------------------------------------------------------------------
    def _train_path(self, sampler: torch.Generator) -> Genome:
        if self.method == "enas":
            assert self.controller is not None
            with torch.no_grad():
                return self.controller(sampler).genome
        if self.method == "setn" and self.cfg.setn_train_sampling == "alpha":
            return sample_templates(self.alpha, 1, sampler)[0]
        return self.space.uniform_genome(sampler)

    def _step(self, params: list[torch.Tensor], optimizer: torch.optim.Optimizer, clip: float) -> None:
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()

    def epoch(self, epoch: int) -> dict[str, Any]:
        cfg = self.cfg
        sampler, train_batches, valid_batches = self.epoch_streams(epoch)
        self.model.train()
        if self.controller is not None:
            self.controller.eval()
        loss_sum, correct, seen = 0.0, 0, 0
        for i, idx in enumerate(train_batches):
            for group in self.w_opt.param_groups:
                group["lr"] = _lr(cfg, epoch + i / len(train_batches))
            train = self._batch(idx, "train")
            genome = self._train_path(sampler)
            self.w_opt.zero_grad(set_to_none=True)
            logits = self.model(train[0], None, self.space.path_of_genome(genome))
            loss = F.cross_entropy(logits, train[1])
            loss.backward()
            self._step(list(self.model.parameters()), self.w_opt, cfg.grad_clip)
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == train[1]).sum())
            seen += len(idx)
            if self.method == "setn":  # alpha through the mixed supernet on a validation batch
                valid = self._batch(valid_batches[i % len(valid_batches)], "valid")
                self.a_opt.zero_grad(set_to_none=True)
                F.cross_entropy(self.model(valid[0], F.softmax(self.alpha, dim=-1), None), valid[1]).backward()
                self.a_opt.step()
        record: dict[str, Any] = {"train_loss": loss_sum / seen, "train_acc": 100.0 * correct / seen,
                                  "baseline": math.nan, "reward": math.nan, "controller_entropy": math.nan}
        if self.method == "enas":
            record.update(self._train_controller(epoch, valid_batches, sampler))
        last = epoch == cfg.epochs - 1
        genome, n_scored = self._best_of(self._candidates(epoch, sampler, last), epoch)
        v_loss, v_acc = self._evaluate(None, self.space.path_of_genome(genome), batch_stats=True)
        record.update({"arch": self.space.arch_of_genome(genome), "valid_loss": v_loss, "valid_acc": v_acc,
                       "tau": math.nan, "alpha": self.alpha.detach().cpu().clone() if self.method == "setn" else None,
                       "candidates_scored": n_scored})
        return record

    def _candidates(self, epoch: int, sampler: torch.Generator, last: bool) -> list[Genome]:
        cfg = self.cfg
        if self.method == "enas":
            assert self.controller is not None
            with torch.no_grad():
                count = cfg.enas_final_candidates if last else cfg.enas_candidates
                return [self.controller(sampler).genome for _ in range(count)]
        if self.method == "setn":
            if cfg.setn_select == "topk":
                return top_templates(self.alpha.detach().cpu(), cfg.setn_candidates)
            return sample_templates(self.alpha, cfg.setn_candidates, sampler)
        return [self.space.uniform_genome(sampler) for _ in range(cfg.rsps_candidates)]

    def _train_controller(self, epoch: int, valid_batches: list[torch.Tensor],
                          sampler: torch.Generator) -> dict[str, float]:
        """ENAS's controller phase (module docstring): the epoch's mean reward and entropy, the last baseline."""
        cfg = self.cfg
        controller = self.controller
        assert controller is not None
        controller.train()
        self.c_opt.zero_grad(set_to_none=True)
        rewards, entropies = [], []
        for step in range(cfg.enas_train_steps * cfg.enas_aggregate):
            batch = self._batch(valid_batches[step % len(valid_batches)], "valid")
            sample = controller(sampler)
            accuracy = self._score_batch(sample.genome, batch) / 100.0
            loss, reward, self.baseline = reinforce_loss(sample, accuracy, self.baseline, cfg.enas_entropy_weight,
                                                         cfg.enas_baseline_decay)
            (loss / cfg.enas_aggregate).backward()
            rewards.append(reward)
            entropies.append(float(sample.entropy.detach()))
            if (step + 1) % cfg.enas_aggregate == 0:
                self._step(list(controller.parameters()), self.c_opt, 5.0)
                self.c_opt.zero_grad(set_to_none=True)
        controller.eval()
        return {"baseline": float(self.baseline if self.baseline is not None else math.nan),
                "reward": float(np.mean(rewards)), "controller_entropy": float(np.mean(entropies))}


def search_class(method: str) -> Callable[..., _Search]:
    """The search object of a sampled-path method (harness.oneshot.search builds it)."""
    if method not in SAMPLED_METHODS:
        raise NasHarnessError(f"{method!r} is not a sampled-path one-shot method ({', '.join(SAMPLED_METHODS)})")
    return SampledSearch
