"""The report's fast reading path gives what the plain pandas path gives (issue 20: `report` on 2,000 runs).

Independent truth: `pd.read_parquet` (the reader used before), pandas' `Series.map` (the old
incumbent lookup) and `result_problem` (the grid's check, which `classify` now shares its reads with).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.report.curves import run_curves
from harness.results import (
    TRAJECTORY,
    TrajectoryTypeError,
    classify,
    read_trajectory,
    result_problem,
)
from tests.results_fixtures import write_run


def _frame(steps: list[int]) -> pd.DataFrame:
    n = len(steps)
    return pd.DataFrame(
        {
            "step": steps,
            "arch": [f"a{i % 3}" for i in range(n)],
            "arch_index": list(range(n)),
            "valid_mean": [float(10 + i) for i in range(n)],
            "sim_time": np.cumsum(np.arange(1.0, n + 1)),
            "incumbent_arch": ["a0", "a1", "zz", "a2", "a1"][:n],
            "incumbent_test_mean": np.linspace(1, 2, n),
            "regret": np.linspace(2, 0, n),
            "fidelity": [200.0] * n,
            "cost": [1.5] * n,
            "valid": [None] * n,  # a column of nulls: read as float NaN
        }
    )


def _old_read(path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    frame["valid"] = frame["valid"].astype("float64")
    return frame


@pytest.mark.parametrize("steps", [[1, 2, 3, 4, 5], [3, 1, 2, 5, 4]])
def test_classify_reads_what_pandas_reads(tmp_path, steps):
    run_dir = write_run(tmp_path / "0123456789abcdef", _frame(steps))
    run = classify(run_dir)
    assert run.status == "complete" and result_problem(run_dir) is None
    truth = _old_read(run_dir / TRAJECTORY).sort_values("step", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(run.trajectory, truth, check_exact=True)
    assert run.trajectory["step"].tolist() == sorted(steps)
    pd.testing.assert_frame_equal(read_trajectory(run_dir / TRAJECTORY), _old_read(run_dir / TRAJECTORY))
    sub = read_trajectory(run_dir / TRAJECTORY, ["regret", "step"])
    pd.testing.assert_frame_equal(sub, _old_read(run_dir / TRAJECTORY)[["regret", "step"]])


def test_classify_agrees_with_result_problem_on_damage(tmp_path):
    rows = write_run(tmp_path / "0123456789abcdef", _frame([1, 2, 3]), rows=7)
    assert classify(rows).status == "damaged"
    assert classify(rows).reason == result_problem(rows) == "trajectory row count differs from the manifest"
    edited = write_run(tmp_path / "1123456789abcdef", _frame([1, 2, 3]))
    (edited / TRAJECTORY).write_bytes((edited / TRAJECTORY).read_bytes()[:-9])
    assert classify(edited).reason == result_problem(edited) == "trajectory does not match the manifest's sha256"
    gone = write_run(tmp_path / "2123456789abcdef", _frame([1, 2, 3]))
    (gone / TRAJECTORY).unlink()
    assert classify(gone).reason == result_problem(gone) == "no trajectory"


def test_non_numeric_column_still_refused(tmp_path):
    frame = _frame([1, 2, 3]).assign(cost=["x", "y", "z"])
    run_dir = write_run(tmp_path / "0123456789abcdef", frame)
    with pytest.raises(TrajectoryTypeError, match="column 'cost' holds str values such as 'x'"):
        classify(run_dir)


def test_run_curves_incumbent_value_matches_pandas_map():
    frame = _frame([1, 2, 3, 4, 5])
    frame.loc[4, "incumbent_arch"] = None  # a missing incumbent and one ("zz") never evaluated: NaN
    valid_of = pd.Series(frame["valid_mean"].to_numpy(), index=frame["arch"].to_numpy())
    truth = frame["incumbent_arch"].map(valid_of[~valid_of.index.duplicated(keep="first")]).to_numpy(np.float64)
    got = run_curves(frame).valid
    np.testing.assert_array_equal(got, truth)
    assert got[0] == 10.0 and got[1] == 11.0 and np.isnan(got[2]) and got[3] == 12.0  # first evaluation's value
