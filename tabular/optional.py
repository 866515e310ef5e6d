"""Optional dependencies: one line naming the extra to install, instead of an ImportError traceback.

PyTorch is the `torch` extra (`pip install 'nas-harness[torch]'`): a core install serves tabular,
surrogate and report work without it, and only the trainer, `validate`, `proxies`, the one-shot
strategies and `convert nb201-pth` need it. This module is in the lowest layer so every layer can use
it, and it imports nothing heavy itself.
"""
from __future__ import annotations

from types import ModuleType

from tabular.errors import NasHarnessError

TORCH_EXTRA = "pip install 'nas-harness[torch]'"


class MissingExtraError(NasHarnessError):
    """A feature needs an optional dependency that is not installed; the message names the extra."""


def torch_missing(exc: BaseException) -> bool:
    """Whether `exc` is the failed import of torch itself (not of a module torch or our code lacks):
    a ModuleNotFoundError naming `torch` or one of its submodules."""
    name = getattr(exc, "name", None) or ""
    return isinstance(exc, ModuleNotFoundError) and (name == "torch" or name.startswith("torch."))


def missing_torch_error(feature: str) -> MissingExtraError:
    """The one-line error for `feature` (e.g. "the one-shot strategy darts") run without PyTorch."""
    return MissingExtraError(f"{feature} needs PyTorch, an optional extra of nas-harness: {TORCH_EXTRA}")


def require_torch(feature: str) -> ModuleType:
    """The `torch` module, or a MissingExtraError saying `feature` needs the torch extra.

    Call it at the entry of a torch-only feature, before importing the modules that import torch, so
    a core install fails with one line that says what to install rather than a traceback.
    """
    try:
        import torch
    except ModuleNotFoundError as exc:
        if not torch_missing(exc):
            raise
        raise missing_torch_error(feature) from None
    return torch


__all__ = ["TORCH_EXTRA", "MissingExtraError", "missing_torch_error", "require_torch", "torch_missing"]
