"""One-shot (weight-sharing) and training-free NAS on the NB201 and DARTS cell spaces.

Why: the tabular strategies never train anything; these methods train one supernet that holds every
cell of a space at once (DARTS, GDAS, SPOS, ENAS, RSPS, SETN) or score untrained networks (zero-cost proxies), and
then look the cell they pick up in the benchmark (a table, or a surrogate on the DARTS space), so that their picks
can be compared with the tabular strategies' on the same scale (regret against the benchmark's optimum).

The names below are imported on first use: `harness.oneshot.registry` (which methods exist) must stay
importable without torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Controller": "harness.oneshot.controller",
    "DartsSupernet": "harness.oneshot.darts_supernet",
    "METHODS": "harness.oneshot.search",
    "OneShotConfig": "harness.oneshot.search",
    "run_oneshot": "harness.oneshot.search",
    "SPACES": "harness.oneshot.spaces",
    "oneshot_space": "harness.oneshot.spaces",
    "MixedEdge": "harness.oneshot.supernet",
    "NB201Supernet": "harness.oneshot.supernet",
    "SampledSearch": "harness.oneshot.sampled",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness.oneshot' has no attribute {name!r}")


__all__ = sorted(_LAZY)
