"""Train architectures of the benchmark spaces for real, and measure them untrained.

`build_network(space, arch, num_classes)` gives a PyTorch network for an architecture string of a
space the trainer knows (nb201; nb101 when harness.spaces.nb101 is present). `train.train` trains
it reproducibly, and `proxies` counts parameters and FLOPs and computes zero-cost proxies. This
package is a low-level library: re-training the incumbents of a results folder (`nas-harness
validate`) reads results and the catalogue, so it lives above, in `harness.validation`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from tabular.errors import NasHarnessError

if TYPE_CHECKING:  # torch is imported when a network is built, not when the CLI starts
    from torch import nn

BUILDABLE = ("nb201", "nb101", "darts")


def build_network(space: str, arch: str, num_classes: int, *, C: int | None = None, N: int | None = None,
                  in_channels: int = 3) -> nn.Module:
    """The network of `arch` in `space`. C and N: NB201's width and cells per stage (default 16 and 5);
    for NB101 C is the stem width (default 128) and N the cells per stack (default 3); for DARTS C is
    the initial cell width (default 36) and N the total number of cells (default 20)."""
    if space == "nb201":
        from harness.trainer.nb201_net import DEFAULT_C, DEFAULT_N, NB201Network

        return NB201Network(arch, num_classes, C=C or DEFAULT_C, N=N or DEFAULT_N, in_channels=in_channels)
    if space == "nb101":
        from harness.trainer.nb101_net import DEFAULT_MODULES, DEFAULT_STEM, NB101Network

        return NB101Network.from_arch(
            arch,
            num_classes,
            stem_channels=C or DEFAULT_STEM,
            modules_per_stack=N or DEFAULT_MODULES,
            in_channels=in_channels,
        )
    if space == "darts":
        from harness.trainer.darts_net import DEFAULT_C, DEFAULT_LAYERS, DartsNetwork

        return DartsNetwork(arch, num_classes, C=C or DEFAULT_C, layers=N or DEFAULT_LAYERS, in_channels=in_channels)
    raise NasHarnessError(
        f"the trainer cannot build networks of search space {space!r}; it builds {', '.join(BUILDABLE)}"
    )


__all__ = ["BUILDABLE", "build_network"]
