"""How much memory one supernet training step needs, checked before a search starts.

Why: a supernet holds every op of every edge, so a config copied from a paper (C=16, N=5, batch 64,
32x32) can need gigabytes; finding out after data loading, or by the OOM killer, wastes the run.
We trace one forward pass on PyTorch's `meta` device (shapes only, no memory, milliseconds) and
add up what autograd saves for the backward pass (`saved_tensors_hooks` sees every such tensor),
which is what dominates training memory; parameters count four times (weights, gradients,
momentum, and DARTS second-order's copy). The estimate scales linearly in the batch size.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

GIB = 1024**3


@dataclass(frozen=True)
class MemoryEstimate:
    parameter_bytes: int
    saved_bytes_per_sample: int
    batch_size: int

    @property
    def total_bytes(self) -> int:
        return 4 * self.parameter_bytes + self.saved_bytes_per_sample * self.batch_size


def _size(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def estimate(build: Callable[[], nn.Module], input_shape: tuple[int, ...], batch_size: int,
             forward_args: Callable[[], dict[str, Any]]) -> MemoryEstimate:
    """Trace `build()(x, **forward_args())` with a batch of 2 on the meta device (see the module docstring).

    `forward_args` is called inside the meta-device context, so tensors it makes are meta tensors too.
    """
    saved = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += _size(t)
        return t

    with torch.device("meta"):
        model = build().train()
        x = torch.empty((2, *input_shape))
        kwargs = forward_args()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(x, **kwargs)
    params = sum(_size(p) for p in model.parameters())
    return MemoryEstimate(parameter_bytes=params, saved_bytes_per_sample=saved // 2, batch_size=batch_size)


def available_bytes(device: torch.device) -> int:
    """Free memory of a CUDA device, or MemAvailable of this machine for the CPU."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
