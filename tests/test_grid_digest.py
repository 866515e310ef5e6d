"""The grid's closing table (harness.grid.digest) from what grid_outcomes already read (issue 20).

Why: a grid of thousands of runs printed its method x benchmark table by reading every manifest and
trajectory a second time after checking them; grid_outcomes now keeps each complete run's strategy,
benchmark and final regret from its one check. The table must be the one the files give.
"""
from __future__ import annotations

import copy

import pandas as pd

from harness.grid.digest import grid_lines
from harness.grid.run_folder import run_config
from harness.grid.summary import grid_outcomes
from harness.results import TRAJECTORY, run_id

BASE = {"benchmark": {"name": "nb201/cifar10", "seed_policy": "sample", "fixed_seed": None, "objectives": None},
        "strategy": {"name": "rs"}, "budget": {"evaluations": 6, "sim_seconds": None}, "seed": 0, "n_workers": 1}


def _config(strategy: str, seed: int) -> dict:
    config = copy.deepcopy(BASE)
    config["strategy"]["name"], config["seed"] = strategy, seed
    return config


def test_closing_table_from_the_checked_files_equals_reading_them(tmp_path, data_home):
    jobs = []
    for strategy in ("rs", "re"):
        for seed in range(3):
            config = _config(strategy, seed)
            entry = run_config(config, [f"strategy={strategy}", f"seed={seed}"], tmp_path)
            assert entry["status"] == "complete", entry
            jobs.append({"run_id": run_id(config), "overrides": entry.get("overrides", []), "status": "complete"})
    outcomes = grid_outcomes(tmp_path, jobs)
    assert all(o["status"] == "complete" and "found" in o for o in outcomes)
    for outcome, job in zip(outcomes, jobs, strict=True):
        regret = pd.read_parquet(tmp_path / job["run_id"] / TRAJECTORY)["regret"].iloc[-1]
        assert outcome["found"][2] == regret  # the very float the file holds
    kept = grid_lines(outcomes)
    read = grid_lines([{k: v for k, v in o.items() if k != "found"} for o in outcomes])  # each run read again
    assert kept == read
    assert [line.split()[:3] for line in kept[1:]] == [["re", "nb201/cifar10", "3"], ["rs", "nb201/cifar10", "3"]]


def test_final_regret_reads_numbers_only():
    """The last regret of a numeric column (NaN for none or a null); None for columns the typed reader
    refuses (text, booleans) or a missing column, so such runs stay out of the table."""
    import io
    import math

    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.grid.digest import final_regret

    def last(frame: pd.DataFrame):
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        return final_regret(pq.ParquetFile(pa.BufferReader(buffer.getvalue())))

    assert last(pd.DataFrame({"regret": [0.5, 0.25]})) == 0.25
    assert last(pd.DataFrame({"regret": [3, 2]})) == 2.0
    assert math.isnan(last(pd.DataFrame({"regret": [1.0, None]})))
    assert math.isnan(last(pd.DataFrame({"regret": pd.Series([], dtype=float)})))
    for refused in ({"regret": ["0.5"]}, {"regret": [True]}, {"other": [1.0]}):
        assert last(pd.DataFrame(refused)) is None
