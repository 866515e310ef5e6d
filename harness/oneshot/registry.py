"""The one registry of one-shot (weight-sharing and training-free) methods.

Why a module of its own: results, reports and the grid app must know which strategy names are
one-shot searches (their clock is real compute seconds, they ignore `budget`) without importing
torch, so this module imports nothing heavy. Adding a method means one entry here and its code in
`harness.oneshot`.
"""
from __future__ import annotations

# name -> one line saying what the method is (the CLI's help lists it)
ONESHOT_REGISTRY: dict[str, str] = {
    "darts": "DARTS (Liu et al. 2019): continuous relaxation, first or second order",
    "gdas": "GDAS (Dong & Yang 2019): Gumbel-softmax sampled single path",
    "spos": "SPOS (Guo et al. 2020): uniform single-path supernet, then evolution",
    "enas": "ENAS (Pham et al. 2018): LSTM controller trained by REINFORCE on supernet rewards",
    "rsps": "RSPS (Li & Talwalkar 2019): uniform single-path supernet, best of sampled cells",
    "setn": "SETN (Dong & Yang 2019): templates from the learned alpha, evaluated by the supernet",
    "zerocost": "zero-cost proxies: best untrained cell by a trainer proxy",
}

ONESHOT_METHODS: tuple[str, ...] = tuple(ONESHOT_REGISTRY)


def is_oneshot(strategy: str) -> bool:
    """True when `strategy` names a one-shot search (real-clock trajectory, no budget)."""
    return strategy in ONESHOT_REGISTRY
