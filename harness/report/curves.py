"""Anytime curves of single runs and their mean with a bootstrap band, against evaluations and time.

A run's curve is read from its trajectory alone: after step t the incumbent is `incumbent_arch`;
its seed-mean validation value is the `valid_mean` of the row that evaluated it (equal to
optimum - regret for maximised metrics), its test value is `incumbent_test_mean`, and its regret
is `regret`. A method's curve averages its runs only where *every* run has a value, so each point
rests on the same n seeds: against evaluations up to the shortest run, against simulated time from
the latest first completion to the earliest time horizon (the time up to which a run's incumbent is
known: its time budget, or its last completion when it stopped on its evaluations count; see
harness.report.budgets). A run is never extrapolated past what it recorded.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import Protocol

import numpy as np
import pandas as pd

from harness.report.budgets import OK, Cut, cut_index, majority_value
from harness.report.stats import IncrementalFront2D, bootstrap_band, hypervolume, resample_counts

METRICS = ("valid", "test", "regret")
DELTAS = (0.1, 0.5, 1.0)


@dataclass
class RunCurves:
    """Per-step anytime values of one run (index i = after i+1 completed evaluations)."""

    valid: np.ndarray
    test: np.ndarray
    regret: np.ndarray
    sim_time: np.ndarray
    horizon: float | None = None  # simulated time up to which the incumbent is known; None = the last completion

    @property
    def end(self) -> float:
        """The time horizon, or the last completion when none was given."""
        return float(self.sim_time[-1]) if self.horizon is None else float(self.horizon)

    def __len__(self) -> int:
        return int(self.regret.size)

    def metric(self, name: str) -> np.ndarray:
        return getattr(self, name)

    def at(self, name: str, budget: int) -> float:
        """Value after `budget` evaluations; NaN if the run stopped earlier."""
        y = self.metric(name)
        return float(y[budget - 1]) if 1 <= budget <= y.size else float("nan")

    def index(self, cut: Cut) -> tuple[int, str]:
        """Row of the run's state at `cut` and its status (harness.report.budgets.cut_index)."""
        return cut_index(self.sim_time, self.end, cut)

    def value(self, name: str, cut: Cut) -> float:
        """Value of `name` at `cut`: after N evaluations, or of the incumbent at simulated time t
        (last completion with sim_time <= t); NaN when the run's budget ends before the cut or
        nothing had completed by then."""
        i, status = self.index(cut)
        return float(self.metric(name)[i]) if status == OK else float("nan")


def _key(value: object) -> object:
    """A dict key for an architecture string; every missing value (None, NaN, pd.NA) is one key, as in pandas."""
    return None if value is None or value is pd.NA or (isinstance(value, float) and value != value) else value


class ColumnSource(Protocol):
    """Anything with numpy columns by name: a harness.results.Run, a harness.results.trajectory.Trajectory."""

    def column(self, name: str) -> np.ndarray: ...


def column_of(source: pd.DataFrame | ColumnSource, name: str) -> np.ndarray:
    """Column `name` of a DataFrame or of a run (Run.column: no DataFrame built) as a numpy array."""
    if isinstance(source, pd.DataFrame):
        return source[name].to_numpy()
    return source.column(name)


def _first_values(archs: list, values: list[float]) -> dict[object, float]:
    """Architecture -> value of its first row. Built backwards so that the first row wins, in one C-level pass;
    when any architecture is missing (None, NaN, pd.NA) every missing one becomes one key, as in pandas."""
    first = dict(zip(reversed(archs), reversed(values), strict=True))
    if set(map(type, first)) <= {str}:
        return first
    valid_of: dict[object, float] = {}
    for arch, value in zip(archs, values, strict=True):
        valid_of.setdefault(_key(arch), value)
    return valid_of


def run_curves(traj: pd.DataFrame | ColumnSource, horizon: float | None = None) -> RunCurves:
    """A run's anytime curves from its trajectory (a DataFrame, or a Run read through `Run.column`); the
    incumbent's validation value is the valid_mean of the first row that evaluated it (NaN when no row did).
    A dict per run and no pandas: a report reads thousands of runs, and pandas' per-column cost there was
    more than everything else it does with them."""
    archs = column_of(traj, "arch").tolist()
    values = np.asarray(column_of(traj, "valid_mean"), dtype=np.float64).tolist()
    valid_of = _first_values(archs, values)
    nan = float("nan")
    incumbents = column_of(traj, "incumbent_arch").tolist()
    if set(map(type, valid_of)) <= {str} and set(map(type, incumbents)) <= {str}:
        found = list(map(valid_of.get, incumbents, repeat(nan)))
    else:
        found = [valid_of.get(_key(a), nan) for a in incumbents]
    return RunCurves(
        valid=np.array(found, dtype=np.float64),
        test=np.asarray(column_of(traj, "incumbent_test_mean"), dtype=np.float64),
        regret=np.asarray(column_of(traj, "regret"), dtype=np.float64),
        sim_time=np.asarray(column_of(traj, "sim_time"), dtype=np.float64),
        horizon=horizon,
    )


@dataclass
class Band:
    """Mean over n runs with a bootstrap band, on the points `x` where all n runs have a value."""

    x: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n: int


def band(x: np.ndarray, values: np.ndarray, *, n_boot: int, seed: int, counts: np.ndarray | None = None) -> Band | None:
    """Band over the columns of `values` (runs x points) where every run is finite; None if none.
    `counts`: the resampling of these runs (harness.report.stats.resample_counts), when already drawn."""
    y = np.asarray(values, dtype=np.float64)
    ok = np.all(np.isfinite(y), axis=0)
    if not ok.any():
        return None
    mean, lo, hi = bootstrap_band(y[:, ok], n_boot=n_boot, seed=seed, counts=counts)
    return Band(np.asarray(x)[ok], mean, lo, hi, int(y.shape[0]))


def _counts(runs: int, n_boot: int, seed: int) -> np.ndarray | None:
    """The resampling of `runs` runs shared by several bands (None for one run: nothing to resample)."""
    return resample_counts(runs, n_boot=n_boot, seed=seed) if runs > 1 else None


def majority_runs(curves: list[RunCurves], reach: list[float]) -> tuple[list[RunCurves], float]:
    """The runs whose `reach` (length, or time horizon) is at least what more than half of them reached,
    and that value: a band then spans what most runs did, and one stray short run cannot truncate it
    (the budget rule of harness.report.budgets.default_budget, applied per method)."""
    target = majority_value(reach)
    return [c for c, r in zip(curves, reach, strict=True) if r >= target], target


def by_evaluations(curves: list[RunCurves], metric: str, *, n_boot: int, seed: int) -> Band | None:
    """Mean and band over evaluations 1..N, N = the length more than half of the runs reached (those runs)."""
    return bands_by_evaluations(curves, (metric,), n_boot=n_boot, seed=seed)[metric]


def bands_by_evaluations(
    curves: list[RunCurves], metrics: tuple[str, ...] | list[str], *, n_boot: int, seed: int
) -> dict[str, Band | None]:
    """`by_evaluations` of several metrics of the same runs, drawing their bootstrap resampling once."""
    kept, target = majority_runs(curves, [float(len(c)) for c in curves])
    length = int(target)
    x = np.arange(1, length + 1)
    counts = _counts(len(kept), n_boot, seed)
    return {m: band(x, np.vstack([c.metric(m)[:length] for c in kept]), n_boot=n_boot, seed=seed, counts=counts)
            for m in metrics}


def time_grid(curves: list[RunCurves], n_points: int = 200) -> np.ndarray | None:
    """Log-spaced simulated-time grid spanning every run of a task; None when no time was recorded."""
    firsts = [c.sim_time[c.sim_time > 0] for c in curves]
    firsts = [f[0] for f in firsts if f.size]
    if not firsts:
        return None
    lo = float(min(firsts))
    hi = float(max(c.end if np.isfinite(c.end) else c.sim_time[-1] for c in curves))
    if not hi > lo:
        return np.array([lo])
    grid = np.geomspace(lo, hi, n_points)
    grid[0], grid[-1] = lo, hi
    return grid


def on_grid(curve: RunCurves, metric: str, grid: np.ndarray) -> np.ndarray:
    """Step function of the run on `grid`: the value after the last completion at or before t;
    NaN before the first completion and after the run's time horizon (`RunCurves.end`)."""
    return _on_grid(curve, (metric,), grid)[metric]


def _on_grid(curve: RunCurves, metrics: tuple[str, ...] | list[str], grid: np.ndarray) -> dict[str, np.ndarray]:
    """`on_grid` of several metrics of one run, locating the grid points in its time once."""
    idx = np.searchsorted(curve.sim_time, grid, side="right") - 1
    before = idx < 0
    after = grid > curve.end
    at = np.clip(idx, 0, None)
    out = {}
    for metric in metrics:
        values = curve.metric(metric)[at]
        values[before] = np.nan
        values[after] = np.nan
        out[metric] = values
    return out


def by_time(curves: list[RunCurves], metric: str, grid: np.ndarray, *, n_boot: int, seed: int) -> Band | None:
    """Mean and band on `grid` over the runs that reached the length or the time horizon that more than
    half of them reached (horizons of evaluation-budgeted runs all differ; a stray short run reaches neither)."""
    return bands_by_time(curves, (metric,), grid, n_boot=n_boot, seed=seed)[metric]


def bands_by_time(
    curves: list[RunCurves], metrics: tuple[str, ...] | list[str], grid: np.ndarray, *, n_boot: int, seed: int
) -> dict[str, Band | None]:
    """`by_time` of several metrics of the same runs: each run located on the grid once, resampled once."""
    long_enough = majority_value([float(len(c)) for c in curves])
    late_enough = majority_value([float(c.end) for c in curves])
    kept = [c for c in curves if len(c) >= long_enough or c.end >= late_enough]
    points = [_on_grid(c, metrics, grid) for c in kept]
    counts = _counts(len(kept), n_boot, seed)
    return {m: band(grid, np.vstack([p[m] for p in points]), n_boot=n_boot, seed=seed, counts=counts)
            for m in metrics}


def reach(curve: RunCurves, delta: float) -> tuple[int, float] | None:
    """(evaluations, simulated hours) at which regret first fell to <= delta; None if never.

    A relative tolerance of 1e-9 keeps `optimum - value` rounding (e.g. 0.1000000000009) from
    hiding a run that reached exactly delta.
    """
    hit = np.flatnonzero(curve.regret <= delta * (1 + 1e-9) + 1e-12)
    if hit.size == 0:
        return None
    i = int(hit[0])
    return i + 1, float(curve.sim_time[i] / 3600.0)


# -- multi-objective -----------------------------------------------------------------------------
def objective_points(
    traj: pd.DataFrame | ColumnSource, objectives: list[str], maximize: list[bool], max_fidelity: float
) -> np.ndarray:
    """(steps, d) objective values in minimisation form; NaN rows for evaluations that cannot enter
    the front (below the highest fidelity, or with an unmeasured objective)."""
    cols = [f"obj_{name}" for name in objectives]
    fidelity = np.asarray(column_of(traj, "fidelity"), dtype=np.float64)
    values = [np.asarray(column_of(traj, c), dtype=np.float64) for c in cols]
    raw = np.column_stack(values) if values else np.empty((fidelity.size, 0))
    pts = raw * np.where(maximize, -1.0, 1.0)
    keep = (fidelity == max_fidelity) & np.all(np.isfinite(pts), axis=1)
    pts[~keep] = np.nan
    return pts


def hv_curve(points: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume of the points seen so far after each step (NaN rows are skipped)."""
    n, d = points.shape
    out = np.zeros(n)
    if d == 2:
        front = IncrementalFront2D(ref)
        for i, (x, y) in enumerate(points):
            out[i] = front.volume if np.isnan(x) else front.add(float(x), float(y))
        return out
    seen: list[np.ndarray] = []
    for i, p in enumerate(points):
        if not np.isnan(p).any():
            seen.append(p)
        out[i] = hypervolume(np.array(seen), ref) if seen else 0.0
    return out
