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

import numpy as np
import pandas as pd

from harness.report.budgets import OK, Cut, cut_index, majority_value
from harness.report.stats import IncrementalFront2D, bootstrap_band, hypervolume

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


def run_curves(traj: pd.DataFrame, horizon: float | None = None) -> RunCurves:
    """A run's anytime curves; the incumbent's validation value is the valid_mean of the first row that
    evaluated it (NaN when no row did). A dict per run: a report reads thousands of runs, and a pandas
    map per run cost more than everything else it does with them."""
    valid_of: dict[object, float] = {}
    archs, values = traj["arch"].tolist(), traj["valid_mean"].to_numpy(dtype=np.float64).tolist()
    for arch, value in zip(archs, values, strict=True):  # two columns of one frame
        valid_of.setdefault(_key(arch), value)
    nan = float("nan")
    inc_valid = np.array([valid_of.get(_key(a), nan) for a in traj["incumbent_arch"].tolist()], dtype=np.float64)
    return RunCurves(
        valid=inc_valid,
        test=traj["incumbent_test_mean"].to_numpy(dtype=np.float64),
        regret=traj["regret"].to_numpy(dtype=np.float64),
        sim_time=traj["sim_time"].to_numpy(dtype=np.float64),
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


def band(x: np.ndarray, values: np.ndarray, *, n_boot: int, seed: int) -> Band | None:
    """Band over the columns of `values` (runs x points) where every run is finite; None if none."""
    y = np.asarray(values, dtype=np.float64)
    ok = np.all(np.isfinite(y), axis=0)
    if not ok.any():
        return None
    mean, lo, hi = bootstrap_band(y[:, ok], n_boot=n_boot, seed=seed)
    return Band(np.asarray(x)[ok], mean, lo, hi, int(y.shape[0]))


def majority_runs(curves: list[RunCurves], reach: list[float]) -> tuple[list[RunCurves], float]:
    """The runs whose `reach` (length, or time horizon) is at least what more than half of them reached,
    and that value: a band then spans what most runs did, and one stray short run cannot truncate it
    (the budget rule of harness.report.budgets.default_budget, applied per method)."""
    target = majority_value(reach)
    return [c for c, r in zip(curves, reach, strict=True) if r >= target], target


def by_evaluations(curves: list[RunCurves], metric: str, *, n_boot: int, seed: int) -> Band | None:
    """Mean and band over evaluations 1..N, N = the length more than half of the runs reached (those runs)."""
    kept, target = majority_runs(curves, [float(len(c)) for c in curves])
    length = int(target)
    y = np.vstack([c.metric(metric)[:length] for c in kept])
    return band(np.arange(1, length + 1), y, n_boot=n_boot, seed=seed)


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
    idx = np.searchsorted(curve.sim_time, grid, side="right") - 1
    y = curve.metric(metric)
    out = np.where(idx >= 0, y[np.clip(idx, 0, None)], np.nan)
    out[grid > curve.end] = np.nan
    return out


def by_time(curves: list[RunCurves], metric: str, grid: np.ndarray, *, n_boot: int, seed: int) -> Band | None:
    """Mean and band on `grid` over the runs that reached the length or the time horizon that more than
    half of them reached (horizons of evaluation-budgeted runs all differ; a stray short run reaches neither)."""
    long_enough = majority_value([float(len(c)) for c in curves])
    late_enough = majority_value([float(c.end) for c in curves])
    kept = [c for c in curves if len(c) >= long_enough or c.end >= late_enough]
    y = np.vstack([on_grid(c, metric, grid) for c in kept])
    return band(grid, y, n_boot=n_boot, seed=seed)


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
    traj: pd.DataFrame, objectives: list[str], maximize: list[bool], max_fidelity: float
) -> np.ndarray:
    """(steps, d) objective values in minimisation form; NaN rows for evaluations that cannot enter
    the front (below the highest fidelity, or with an unmeasured objective)."""
    cols = [f"obj_{name}" for name in objectives]
    pts = traj[cols].to_numpy(dtype=np.float64) * np.where(maximize, -1.0, 1.0)
    keep = (traj["fidelity"].to_numpy(dtype=np.float64) == max_fidelity) & np.all(np.isfinite(pts), axis=1)
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
