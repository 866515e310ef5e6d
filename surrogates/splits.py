"""Train/test splits of a training set: random, or leave one group (strategy) out as in NB301.

NAS-Bench-301 judged its surrogates on the architectures found by one optimizer after training on
the others' ("leave one optimizer out"): a surrogate that only interpolates between the regions
other optimizers visited is caught out. Here a group is any label of the training table (the
strategy that found the architecture, by default), so the same split works for tables built from
nas-harness results.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tabular.errors import NasHarnessError


@dataclass(frozen=True)
class Split:
    """Row positions of a training set used for fitting and for judging, and how they were chosen."""

    kind: str  # "random", "leave-out" or "all"
    train: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)
    seed: int | None = None
    left_out: str | None = None

    def describe(self) -> dict[str, Any]:
        """Provenance: enough to rebuild the split from the same training data."""
        out = {k: v for k, v in asdict(self).items() if k not in ("train", "test")}
        return out | {"n_train": int(self.train.size), "n_test": int(self.test.size)}


def random_split(n: int, *, n_train: int | None = None, train_fraction: float | None = None, seed: int = 0) -> Split:
    """`n_train` rows (or a fraction) drawn uniformly without replacement; the rest is the test set."""
    if (n_train is None) == (train_fraction is None):
        raise NasHarnessError("give either n_train or train_fraction for a random split")
    if n_train is None:
        assert train_fraction is not None
        if not 0 < train_fraction < 1:
            raise NasHarnessError(f"train_fraction must be in (0, 1), got {train_fraction}")
        n_train = int(round(train_fraction * n))
    if not 1 <= n_train < n:
        raise NasHarnessError(
            f"cannot train on {n_train} of {n} architectures: leave at least one for testing (n_train in 1..{n - 1})"
        )
    order = np.random.default_rng(seed).permutation(n)
    return Split("random", np.sort(order[:n_train]), np.sort(order[n_train:]), seed=seed)


def leave_out_split(groups: np.ndarray, left_out: str, *, n_train: int | None = None, seed: int = 0) -> Split:
    """Test on every row of group `left_out`; train on the others (optionally `n_train` of them)."""
    groups = np.asarray(groups).astype(str)
    test = np.flatnonzero(groups == str(left_out))
    train = np.flatnonzero(groups != str(left_out))
    if test.size == 0:
        raise NasHarnessError(
            f"no architecture of group {left_out!r} to leave out; groups: {', '.join(sorted(set(groups.tolist())))}"
        )
    if train.size == 0:
        raise NasHarnessError(f"every architecture belongs to group {left_out!r}; nothing is left to train on")
    if n_train is not None:
        if not 1 <= n_train <= train.size:
            raise NasHarnessError(
                f"n_train={n_train} but only {train.size} architectures are outside group {left_out!r}"
            )
        train = np.sort(np.random.default_rng(seed).choice(train, size=n_train, replace=False))
    return Split("leave-out", train, test, seed=seed, left_out=str(left_out))


def all_rows(n: int) -> Split:
    """Fit on everything (no held-out set, so no quality report)."""
    return Split("all", np.arange(n), np.arange(0), seed=None)
