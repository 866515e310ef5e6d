"""Virtual training seeds: reproducible N(0, 1) draws keyed by (seed label, architecture row).

A surrogate benchmark answers seed label s for architecture r with mean(r) + spread(r) * z(s, r).
z is a counter-based draw (splitmix64 of the key, then the normal quantile of the 53-bit uniform),
so it needs no random state at all: the same (s, r) always gives the same z, in any process, in
any order, and no global RNG is touched. A run's `sample` policy draws the *label* from the run's
own numpy Generator, exactly as a table's `sample` policy draws one of its measured seeds; the
other metrics of that evaluation (test, cost) are then read at the same label, so they come from
the same virtual training run (their noise is perfectly correlated, like a lucky seed's).
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtri

_SALT = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED_MIX = np.uint64(0xD6E8FEB86659FD93)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + _SALT
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def standard_normal(labels: np.ndarray | int, rows: np.ndarray) -> np.ndarray:
    """z(label, row) ~ N(0, 1), independent across distinct keys; shape of `rows` (labels broadcast)."""
    rows = np.asarray(rows, dtype=np.int64)
    labels = np.broadcast_to(np.asarray(labels, dtype=np.int64), rows.shape)
    with np.errstate(over="ignore"):
        key = _splitmix64(rows.astype(np.uint64)) ^ (_splitmix64(labels.astype(np.uint64)) * _SEED_MIX)
    bits = _splitmix64(key) >> np.uint64(11)  # 53 random bits
    uniform = (bits.astype(np.float64) + 0.5) / float(1 << 53)  # in (0, 1), never 0 or 1
    return ndtri(uniform)


def centred_draws(n_seeds: int, rows: np.ndarray) -> np.ndarray:
    """(len(rows), n_seeds) draws with each row's mean removed and its variance restored, so a table
    of mean + spread * draws has seed mean exactly `mean` and expected seed variance spread²."""
    rows = np.asarray(rows, dtype=np.int64)
    z = standard_normal(np.arange(n_seeds)[None, :], np.broadcast_to(rows[:, None], (rows.size, n_seeds)))
    if n_seeds < 2:
        return np.zeros_like(z)
    return (z - z.mean(axis=1, keepdims=True)) * np.sqrt(n_seeds / (n_seeds - 1))
