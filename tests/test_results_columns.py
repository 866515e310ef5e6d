"""A run's trajectory kept as Arrow (issue 20: `report` on 2,000 runs) reads as the plain pandas path reads it.

Independent truth: `pd.read_parquet` of the file the engine wrote (the reader used before), the frame's own
columns, and np.add.at (the bootstrap's former resampling).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.app import run_config
from harness.report.curves import bands_by_evaluations, bands_by_time, by_evaluations, by_time, run_curves, time_grid
from harness.report.stats import bootstrap_band, exact_sum_grid, resample_counts
from harness.results import TRAJECTORY, classify, load_results
from tests.results_fixtures import write_run


def _config(seed: int) -> dict:
    return {"benchmark": {"name": "nb201/cifar10", "seed_policy": "sample", "fixed_seed": None, "objectives": None},
            "budget": {"evaluations": 12, "sim_seconds": None}, "n_workers": 1, "seed": seed,
            "strategy": {"name": "rs", "charge_repeats": True, "replace": False}}


@pytest.fixture(scope="module")
def engine_runs(data_home, tmp_path_factory):
    root = tmp_path_factory.mktemp("columns") / "results"
    for seed in (0, 1, 2):
        assert run_config(_config(seed), [], root)["status"] == "complete"
    return root


def _assert_columns_match(run) -> None:
    frame = run.trajectory
    assert run.column_names == list(frame.columns) and run.n_rows == len(frame)
    for name in frame.columns:
        got, want = run.column(name), frame[name].to_numpy()
        assert got.dtype == want.dtype, name
        assert not got.flags.writeable  # cached and shared: nobody may change it in place
        if want.dtype.kind == "O":
            assert [None if v != v else v for v in got.tolist()] == [None if v != v else v for v in want.tolist()]
            assert [type(v) for v in got.tolist()] == [type(v) for v in want.tolist()], name
        else:
            np.testing.assert_array_equal(got, want)


def test_engine_run_reads_as_pandas_reads_it(engine_runs):
    result = load_results(engine_runs)
    assert len(result.complete) == 3
    for run in result.complete:
        assert run.traj is not None and run.traj.table is not None  # held as Arrow: no frame built at load
        truth = pd.read_parquet(run.path / TRAJECTORY)
        frame = run.trajectory
        pd.testing.assert_frame_equal(frame, truth, check_exact=True)
        assert list(frame.columns) == list(truth.columns) and dict(frame.dtypes) == dict(truth.dtypes)
        assert frame.attrs == truth.attrs and frame.attrs.get("stop_reason")
        assert run.trajectory is frame  # built once
        _assert_columns_match(run)
        assert run.horizon == pytest.approx(float(truth["sim_time"].iloc[-1]))
        from_frame, from_run = run_curves(truth, run.horizon), run_curves(run, run.horizon)
        for metric in ("valid", "test", "regret", "sim_time"):
            np.testing.assert_array_equal(getattr(from_run, metric), getattr(from_frame, metric))


def _frame(steps: list[int], **changes) -> pd.DataFrame:
    n = len(steps)
    frame = pd.DataFrame({
        "step": steps, "arch": [f"a{i % 3}" for i in range(n)], "arch_index": list(range(n)),
        "valid_mean": [float(10 + i) for i in range(n)], "sim_time": np.cumsum(np.arange(1.0, n + 1)),
        "incumbent_arch": ["a0", "a1", "zz", "a2", "a1"][:n], "incumbent_test_mean": np.linspace(1, 2, n),
        "regret": np.linspace(2, 0, n), "fidelity": [200.0] * n, "cost": [1.5, np.nan, 2.0, 1.0, 0.5][:n],
    })  # fmt: skip
    return frame.assign(**changes)


@pytest.mark.parametrize(
    ("case", "frame", "index", "arrow"),
    [
        ("plain", _frame([1, 2, 3, 4, 5]), False, True),
        ("text with nulls", _frame([1, 2, 3, 4, 5], incumbent_arch=["a0", None, "a1", None, "a2"]), False, True),
        ("ints with nulls", _frame([1, 2, 3, 4, 5], seed_used=pd.array([1, None, 2, 3, 4], dtype="Int64")), False,
         True),
        ("null numeric column", _frame([1, 2, 3, 4, 5], valid=[None] * 5), False, False),
        ("steps out of order", _frame([3, 1, 2, 5, 4]), False, False),
        ("stored index", _frame([1, 2, 3, 4, 5]).set_index(pd.Index([7, 8, 9, 10, 11], name="i")), True, False),
    ],
)
def test_odd_trajectories_read_as_before(tmp_path, case, frame, index, arrow):
    """Whatever the file holds, `trajectory` is what the former reader built (read, nulls to float, sorted by
    step with a fresh index) and `column` is its column; only plain files stay Arrow-held."""
    run_dir = write_run(tmp_path / "0123456789abcdef", frame, index=index)
    run = classify(run_dir)
    assert run.status == "complete", (case, run.reason)
    truth = pd.read_parquet(run_dir / TRAJECTORY)
    if "valid" in truth.columns:
        truth["valid"] = truth["valid"].astype("float64")
    truth = truth.sort_values("step", kind="stable").reset_index(drop=True) if case in (
        "steps out of order", "stored index") else truth
    pd.testing.assert_frame_equal(run.trajectory, truth, check_exact=True)
    assert (run.traj.table is not None) == arrow
    _assert_columns_match(run)
    curves = run_curves(run)
    np.testing.assert_array_equal(curves.valid, run_curves(truth).valid)


def test_shared_resampling_equals_the_former_bootstrap():
    """resample_counts is np.add.at's count matrix; bands drawn together equal bands drawn one by one."""
    n, n_boot, seed = 7, 300, 3
    picks = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n))
    np.add.at(counts, (np.repeat(np.arange(n_boot), n), picks.ravel()), 1.0)
    np.testing.assert_array_equal(resample_counts(n, n_boot=n_boot, seed=seed), counts)
    y = np.random.default_rng(0).normal(size=(n, 9))
    boot = counts @ exact_sum_grid(y, n) / n
    alpha = (1.0 - 0.95) / 2.0  # the band's level, as bootstrap_band computes it
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    mean, lo2, hi2 = bootstrap_band(y, n_boot=n_boot, seed=seed)
    np.testing.assert_array_equal(mean, y.mean(axis=0))
    np.testing.assert_array_equal(lo2, lo)
    np.testing.assert_array_equal(hi2, hi)


def _old_on_grid(curve, metric: str, grid: np.ndarray) -> np.ndarray:
    """The former step function on a grid (np.where over all points, then NaN past the horizon)."""
    idx = np.searchsorted(curve.sim_time, grid, side="right") - 1
    y = curve.metric(metric)
    out = np.where(idx >= 0, y[np.clip(idx, 0, None)], np.nan)
    out[grid > curve.end] = np.nan
    return out


def test_bands_of_several_metrics_equal_one_by_one(engine_runs):
    """Bands drawn together (one resampling, one grid lookup per run) equal each band computed on its own."""
    result = load_results(engine_runs)
    curves = [run_curves(r, r.horizon) for r in result.complete]
    length = min(len(c) for c in curves)  # all runs reach 12 evaluations: the majority length
    grid = time_grid(curves)
    together = bands_by_evaluations(curves, ("valid", "regret"), n_boot=200, seed=1)
    timed = bands_by_time(curves, ("valid", "regret"), grid, n_boot=200, seed=1)
    for metric in ("valid", "regret"):
        evals = np.vstack([c.metric(metric)[:length] for c in curves])
        on_time = np.vstack([_old_on_grid(c, metric, grid) for c in curves])
        for got, y, x in ((together[metric], evals, np.arange(1, length + 1)), (timed[metric], on_time, grid)):
            ok = np.all(np.isfinite(y), axis=0)
            mean, lo, hi = bootstrap_band(y[:, ok], n_boot=200, seed=1)
            assert got is not None and got.n == 3
            for part, want in (("x", x[ok]), ("mean", mean), ("lo", lo), ("hi", hi)):
                np.testing.assert_array_equal(getattr(got, part), want)
        for got, want in ((together[metric], by_evaluations(curves, metric, n_boot=200, seed=1)),
                          (timed[metric], by_time(curves, metric, grid, n_boot=200, seed=1))):
            assert want is not None
            np.testing.assert_array_equal(got.hi, want.hi)
