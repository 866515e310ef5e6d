"""Train one network with a short, seeded, resumable schedule.

Why: re-training a search's picks is only evidence if it can be repeated. Everything random in a
run is a function of the seed: the initial weights are drawn under `torch.manual_seed(seed)` (in a
forked RNG, so the caller's global RNG is untouched), and every epoch's shuffling and augmentation
come from a fresh `torch.Generator` seeded with (seed, epoch). An epoch therefore needs no RNG state
from the one before, and a checkpoint (model, optimiser, BatchNorm statistics, history) written
atomically after each epoch lets an interrupted run resume to bitwise-identical final metrics on
the CPU. Deterministic kernels are switched on and the thread count is fixed for the duration of
a run, then restored.

Default schedule = NB201's (hyper-opts 12E/200E): SGD, Nesterov momentum 0.9, learning rate 0.1
with cosine decay to 0 over the whole run updated every iteration, weight decay 5e-4 on all
parameters, batch 256, cross-entropy; NB201's short schedule has 12 epochs, its full one 200.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from harness.trainer.data import AUGMENT_DEFAULT, AUGMENTATIONS, Splits, augment
from tabular.atomic import atomic_path
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class TrainConfig:
    """The schedule; defaults are NB201's except `epochs` (12 = NB201's short schedule)."""

    epochs: int = 12
    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    augment: str = ""  # "" = the dataset's default (crop+flip for CIFAR/ImageNet16, none for digits)
    seed: int = 0
    eval_batch_size: int = 1000

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.eval_batch_size < 1:
            raise NasHarnessError(
                f"epochs must be >= 1 and batch size >= 2, got epochs={self.epochs}, batch size={self.batch_size}"
            )
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise NasHarnessError(
                "need lr > 0, weight decay >= 0, 0 <= momentum < 1; "
                f"got {self.lr}, {self.weight_decay}, {self.momentum}"
            )
        if self.augment and self.augment not in AUGMENTATIONS:
            raise NasHarnessError(f"unknown augmentation {self.augment!r}; choose one of {', '.join(AUGMENTATIONS)}")
        if self.nesterov and self.momentum == 0:
            raise NasHarnessError("Nesterov momentum needs momentum > 0; pass --no-nesterov or a momentum")


@dataclass
class TrainResult:
    """Final (or, when stopped early, latest) metrics of one training run; accuracies in percent."""

    epochs_done: int
    complete: bool
    history: list[dict[str, float]] = field(default_factory=list)
    valid_acc: float = math.nan
    valid_loss: float = math.nan
    test_acc: float = math.nan
    test_loss: float = math.nan
    train_seconds: float = 0.0
    resumed_at_epoch: int = 0

    def metrics(self) -> dict[str, Any]:
        """Everything that must be identical between two runs with the same seed (no timings)."""
        hist = [{k: v for k, v in h.items() if k != "seconds"} for h in self.history]
        return {"valid_acc": self.valid_acc, "valid_loss": self.valid_loss, "test_acc": self.test_acc,
                "test_loss": self.test_loss, "history": hist}


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` = the first CUDA GPU when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise NasHarnessError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NasHarnessError(f"device {name!r} asked for, but no CUDA GPU is available; use --device cpu")
    return device


@contextmanager
def deterministic(device: torch.device, threads: int | None = None) -> Iterator[None]:
    """Deterministic kernels and a fixed CPU thread count for the block; the old settings come back after.

    On CUDA some kernels (e.g. the backward of adaptive average pooling) have no deterministic
    version: there we only warn, and bitwise repeatability is promised on the CPU only.
    """
    old = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
           torch.get_num_threads(), torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old[0], warn_only=old[1])
        torch.set_num_threads(old[2])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = old[3], old[4]


def seeded_init(builder: Any, seed: int) -> nn.Module:
    """Call `builder()` with the global torch RNG seeded, without changing the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder()


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of one epoch's shuffle and augmentation: a function of (seed, epoch) only."""
    digest = hashlib.sha256(f"nas-harness-trainer:{seed}:{epoch}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def cosine_lr(base: float, progress: float, total: float) -> float:
    """Cosine decay from `base` to 0: lr at `progress` epochs out of `total` (NB201's per-iteration update)."""
    return 0.5 * base * (1.0 + math.cos(math.pi * progress / total))


def evaluate(model: nn.Module, splits: Splits, part: str, device: torch.device, batch_size: int) -> tuple[float, float]:
    """(mean cross-entropy, top-1 accuracy in percent) on the `valid` or `test` split, in eval mode."""
    x_all, y_all = (splits.x_valid, splits.y_valid) if part == "valid" else (splits.x_test, splits.y_test)
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(y_all), batch_size):
            x = _to(splits.normalise(x_all[start:start + batch_size]), device)
            y = y_all[start:start + batch_size].to(device)
            logits = model(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    n = max(1, len(y_all))
    return loss_sum / n, 100.0 * correct / n


def _to(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Images in channels-last layout, which the model uses too: oneDNN's convolutions and pooling
    are 1.4-3x faster in it on the CPU (measured on NB201 cells); the values computed are the same
    functions, and one fixed layout keeps runs repeatable."""
    return x.to(device).contiguous(memory_format=torch.channels_last)


def _steps(n: int, batch: int) -> int:
    # The last partial batch is kept unless it has a single image (BatchNorm cannot train on one).
    full, rest = divmod(n, batch)
    return full + (1 if rest > 1 else 0)


def _save(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load(path: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise NasHarnessError(
            f"checkpoint {path} is unreadable ({type(exc).__name__}); delete it to start that architecture again"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise NasHarnessError(
            f"{path} is not a trainer checkpoint of format {CHECKPOINT_FORMAT}; delete it to start again"
        )
    if state.get("identity") != identity:
        theirs = state.get("identity") or {}
        diff = sorted(k for k in set(theirs) | set(identity) if theirs.get(k) != identity.get(k))
        raise NasHarnessError(f"checkpoint {path} was written for another setting (differs in {', '.join(diff)}); "
                              "use another output folder or delete the checkpoint")
    return state


def train(
    model: nn.Module,
    splits: Splits,
    config: TrainConfig,
    *,
    device: torch.device | None = None,
    checkpoint: Path | None = None,
    identity: dict[str, Any] | None = None,
    max_epochs_this_call: int | None = None,
    progress: bool = False,
    desc: str = "",
    threads: int | None = None,
) -> TrainResult:
    """Train `model` (freshly initialised by the caller) on `splits`; resumes from `checkpoint`.

    `identity` describes what is trained (architecture, data, config); a checkpoint written for a
    different identity is refused. `max_epochs_this_call` stops after that many epochs of this call
    (the result then has complete=False): used to test that resuming reproduces an uninterrupted run.
    """
    config.check()
    device = device or resolve_device("auto")
    kind = config.augment or AUGMENT_DEFAULT.get(splits.name, "none")
    identity = json.loads(json.dumps({**(identity or {}), "config": asdict(config), "augment": kind,
                                      "data": splits.describe()}, default=str))
    try:
        with deterministic(device, threads):
            return _train(
                model, splits, config, kind, device, checkpoint, identity, max_epochs_this_call, progress, desc
            )
    except torch.OutOfMemoryError:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise NasHarnessError(
            f"out of memory on {device} training {desc or 'the network'} with batch size {config.batch_size}; "
            "lower --batch-size (or --eval-batch-size), or use --device cpu"
        ) from None
    except RuntimeError as exc:
        if "can't allocate memory" not in str(exc):  # the CPU allocator's out-of-memory error
            raise
        raise NasHarnessError(
            f"out of memory on the CPU training {desc or 'the network'} with batch size {config.batch_size}; "
            "lower --batch-size (or --eval-batch-size), -C or -N"
        ) from None


def _train(
    model: nn.Module,
    splits: Splits,
    config: TrainConfig,
    kind: str,
    device: torch.device,
    checkpoint: Path | None,
    identity: dict[str, Any],
    max_epochs: int | None,
    progress: bool,
    desc: str,
) -> TrainResult:
    from tqdm.auto import tqdm

    model.to(device=device, memory_format=torch.channels_last)
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=config.nesterov)
    result = TrainResult(epochs_done=0, complete=False)
    state = _load(checkpoint, identity) if checkpoint else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimizer"])
        result.epochs_done = result.resumed_at_epoch = int(state["epoch"])
        result.history = list(state["history"])
        result.train_seconds = float(state["train_seconds"])
        log.info("%s: resuming after epoch %d from %s", desc, result.epochs_done, checkpoint)
    n = len(splits.y_train)
    steps = _steps(n, config.batch_size)
    if steps == 0:
        raise NasHarnessError(f"the training split of {splits.name} has {n} images: too few to train")
    stop = config.epochs if max_epochs is None else min(config.epochs, result.epochs_done + max_epochs)
    # disable=None: tqdm draws only on a terminal, so logs and pipes get no bar lines
    bar = tqdm(total=config.epochs * steps, initial=result.epochs_done * steps, desc=desc, unit="batch",
               disable=None if progress else True, leave=True, dynamic_ncols=True)
    try:
        for epoch in range(result.epochs_done, stop):
            started = time.perf_counter()
            model.train()
            gen = epoch_generator(config.seed, epoch)
            order = torch.randperm(n, generator=gen)
            loss_sum, correct, seen = 0.0, 0, 0
            for i in range(steps):
                lr = cosine_lr(config.lr, epoch + i / steps, config.epochs)
                for group in optimiser.param_groups:
                    group["lr"] = lr
                idx = order[i * config.batch_size:(i + 1) * config.batch_size]
                x = _to(splits.standardise(augment(splits.raw_unit(splits.x_train[idx]), kind, gen)), device)
                y = splits.y_train[idx].to(device)
                optimiser.zero_grad(set_to_none=True)
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                loss.backward()
                optimiser.step()
                loss_sum += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(idx)
                bar.update(1)
            seconds = time.perf_counter() - started
            valid_loss, valid_acc = evaluate(model, splits, "valid", device, config.eval_batch_size)
            result.train_seconds += seconds
            result.history.append(
                {
                    "epoch": epoch + 1,
                    "lr_last": lr,
                    "train_loss": loss_sum / seen,
                    "train_acc": 100.0 * correct / seen,
                    "valid_loss": valid_loss,
                    "valid_acc": valid_acc,
                    "seconds": seconds,
                }
            )
            result.epochs_done = epoch + 1
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", valid=f"{valid_acc:.2f}%")
            if checkpoint:
                _save(checkpoint, {"format": CHECKPOINT_FORMAT, "identity": identity, "epoch": epoch + 1,
                                   "model": model.state_dict(), "optimizer": optimiser.state_dict(),
                                   "history": result.history, "train_seconds": result.train_seconds})
    finally:
        bar.close()
    if result.history:
        result.valid_loss, result.valid_acc = result.history[-1]["valid_loss"], result.history[-1]["valid_acc"]
    result.complete = result.epochs_done >= config.epochs
    if result.complete:
        result.test_loss, result.test_acc = evaluate(model, splits, "test", device, config.eval_batch_size)
    return result


def seconds_per_step(model: nn.Module, splits: Splits, config: TrainConfig, *, device: torch.device, steps: int = 2,
                     threads: int | None = None) -> float:
    """Measured wall seconds of one training step (forward, backward, SGD update) of `model`.

    Why: `validate` announces how long it will take before it starts, extrapolated from real steps
    on this machine under its current load. One untimed warm-up step (oneDNN builds its kernels
    then), then the mean of `steps` timed ones, on a deep copy trained on the first batch of the
    training split, so neither `model` nor any RNG changes and the validation stays bit-identical.
    """
    import copy

    net = copy.deepcopy(model).to(device=device, memory_format=torch.channels_last).train()
    optimiser = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=config.nesterov)
    batch = min(config.batch_size, len(splits.y_train))
    x = _to(splits.normalise(splits.x_train[:batch]), device)
    y = splits.y_train[:batch].to(device)
    with deterministic(device, threads):
        started = 0.0
        for i in range(steps + 1):
            if i == 1:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                started = time.perf_counter()
            optimiser.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return (time.perf_counter() - started) / max(1, steps)


def estimate_seconds(step_seconds: float, splits: Splits, config: TrainConfig, epochs_left: int) -> float:
    """Seconds to train `epochs_left` more epochs at `step_seconds` per step, with evaluations.

    A forward pass costs about a third of a training step (backward is about twice the forward),
    so evaluating n images counts as n / batch_size / 3 steps: the validation split after every
    epoch, the test split once at the end.
    """
    steps = _steps(len(splits.y_train), config.batch_size)
    eval_steps = len(splits.y_valid) / config.batch_size / 3.0
    test_steps = len(splits.y_test) / config.batch_size / 3.0
    return step_seconds * (epochs_left * (steps + eval_steps) + (test_steps if epochs_left > 0 else 0.0))
