"""Cheap measures of an untrained network: size, FLOPs and zero-cost proxies.

Size and FLOPs say what an architecture costs; zero-cost proxies (Abdelfattah et al., "Zero-Cost
Proxies for Lightweight NAS", ICLR 2021) try to say how well it will train, from one minibatch and
no training, so that `nas-harness rank-stats` can check how well they rank the table's accuracy on
any NB201 subset. Definitions (sums run over the weight tensors of every Conv2d and Linear layer):

- grad_norm = sum over layers of ||dL/dW||_2, L the cross-entropy of the minibatch;
- snip      = sum of |W * dL/dW| (Lee et al. 2019: the connection sensitivity of every weight);
- synflow   = sum of W * dR/dW with all parameters replaced by their absolute values, BatchNorm
              layers removed, an all-ones input of one sample, R = sum of the output, in float64
              (Tanaka et al. 2020: data-free, the l1 path norm through the network);
- jacov     = -sum_i [log(v_i + k) + 1/(v_i + k)], k = 1e-5, over the eigenvalues v_i of the
              correlation matrix of the per-sample input gradients dsum(y)/dx of the minibatch
              (Mellor et al. 2020, "NAS without training", v1 score; higher is better).

The network is in training mode (BatchNorm uses batch statistics), as in the authors' code. Every
proxy is computed on a deep copy, so the caller's network and its weights are left unchanged.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

PROXIES = ("grad_norm", "snip", "synflow", "jacov")
_JACOV_K = 1e-5


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (what NB201's `params` counts, there in millions)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def count_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of Conv2d and Linear layers (plus bias additions) for one input.

    NB201 counts FLOPs this way (only convolutions and linear layers; pooling, BatchNorm and ReLU
    are free), reported in millions as `flops`; we count with forward hooks on one input of
    `input_shape` = (channels, height, width), in evaluation mode and without gradients.
    """
    total = 0

    def conv_hook(module: nn.Conv2d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        positions = output.shape[0] * output.shape[2] * output.shape[3]
        per_position = kh * kw * (module.in_channels // module.groups) * module.out_channels
        total += positions * per_position + (positions * module.out_channels if module.bias is not None else 0)

    def linear_hook(module: nn.Linear, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        rows = output.numel() // module.out_features
        total += rows * module.in_features * module.out_features + (
            rows * module.out_features if module.bias is not None else 0
        )

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _loss_gradients(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> nn.Module:
    """A training-mode copy of `model` whose weights hold dL/dW of the minibatch's cross-entropy."""
    net = copy.deepcopy(model)
    net.train()
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(inputs), targets).backward()
    return net


def _grad_norm_of(net: nn.Module) -> float:
    return float(sum(m.weight.grad.norm().item() for m in _weighted_layers(net) if m.weight.grad is not None))


def _snip_of(net: nn.Module) -> float:
    return float(
        sum((m.weight * m.weight.grad).abs().sum().item() for m in _weighted_layers(net) if m.weight.grad is not None)
    )


def grad_norm(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    return _grad_norm_of(_loss_gradients(model, inputs, targets))


def snip(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    return _snip_of(_loss_gradients(model, inputs, targets))


def _without_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            _without_batchnorm(child)


def synflow(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> float:
    net = copy.deepcopy(model)
    _without_batchnorm(net)
    net = net.double().train()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    ones = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=inputs.device)
    net(ones).sum().backward()
    return float(
        sum((m.weight * m.weight.grad).sum().item() for m in _weighted_layers(net) if m.weight.grad is not None)
    )


def jacov(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> float:
    net = copy.deepcopy(model).train()
    for p in net.parameters():
        p.requires_grad_(False)  # only dy/dx is needed: skipping the weight gradients halves the backward pass
    x = inputs.detach().clone().requires_grad_(True)
    net(x).sum().backward()
    jacobians = x.grad.reshape(x.shape[0], -1).double().cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(jacobians)
    if not np.all(np.isfinite(corr)):
        return -math.inf  # a constant Jacobian row (e.g. a cell that ignores its input): no information
    eigenvalues = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(eigenvalues + _JACOV_K) + 1.0 / (eigenvalues + _JACOV_K)))


_FUNCTIONS: dict[str, Callable[..., float]] = {"grad_norm": grad_norm, "snip": snip, "synflow": synflow, "jacov": jacov}
_FROM_LOSS_GRADIENTS: dict[str, Callable[[nn.Module], float]] = {"grad_norm": _grad_norm_of, "snip": _snip_of}


def compute_proxies(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, names: tuple[str, ...] = PROXIES,
                    *, seed: int = 0) -> dict[str, float]:
    """The named zero-cost proxies of `model` on one minibatch; deterministic for a given seed."""
    unknown = [n for n in names if n not in _FUNCTIONS]
    if unknown:
        from tabular.errors import NasHarnessError

        raise NasHarnessError(f"unknown zero-cost proxy {', '.join(unknown)}; known: {', '.join(PROXIES)}")
    out: dict[str, float] = {}
    shared: nn.Module | None = None  # grad_norm and snip read the same dL/dW: one backward pass serves both
    for name in names:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if name in _FROM_LOSS_GRADIENTS:
                if shared is None:
                    shared = _loss_gradients(model, inputs, targets)
                out[name] = _FROM_LOSS_GRADIENTS[name](shared)
            else:
                out[name] = _FUNCTIONS[name](model, inputs, targets)
    return out
