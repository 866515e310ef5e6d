"""A user's own table keyed by plain ids becomes a benchmark that can be queried and searched."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.benchmarks import benchmark_names, load_benchmark
from harness.cli import main
from harness.engine import Budget, run_search


def test_id_table_converts_lists_and_searches(tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    ids = [f"net{i:03d}" for i in range(40)]
    table = pd.DataFrame({"arch_id": np.repeat(ids, 2), "seed": np.tile([0, 1], 40),
                          "valid_acc": rng.uniform(50, 90, 80), "train_time": rng.uniform(10, 20, 80)})
    source = tmp_path / "mine.csv"
    table.to_csv(source, index=False)
    assert main(["convert", "table", str(source)]) == 0
    assert "table/mine" in benchmark_names()
    bench = load_benchmark("table/mine")
    assert bench.space.size == 40 and bench.space.name.startswith("ids:")
    expected = table.groupby("arch_id")["valid_acc"].mean()
    best_row, best = bench.store.best("valid_acc")
    assert best == expected.max() and bench.space.arch_at(best_row) == expected.idxmax()
    traj = run_search(bench, "rs", seed=0, budget=Budget(evaluations=40), seed_policy="mean")
    assert sorted(traj["arch_index"]) == list(range(40))  # without replacement: every id once
    assert traj["regret"].iloc[-1] == 0.0
    for strategy in ("re", "ls", "tpe"):
        assert len(run_search(bench, strategy, seed=1, budget=Budget(evaluations=30))) == 30
    bench.store.close()


@pytest.mark.slow
def test_converted_table_is_a_grid_benchmark(tmp_path):
    """`benchmark=table/<stem>` works in `nas-harness run` without a file in conf/benchmark/."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    rng = np.random.default_rng(1)
    ids = [f"m{i}" for i in range(30)]
    table = pd.DataFrame({"arch_id": ids, "valid_acc": rng.uniform(50, 90, 30)})
    source = tmp_path / "grid_table.csv"
    table.to_csv(source, index=False)
    env = dict(os.environ, NAS_HARNESS_DATA=str(tmp_path / "data"))
    repo = Path(__file__).resolve().parents[1]

    def run(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "harness", *a], cwd=repo, env=env, capture_output=True, text=True)
    assert run("convert", "table", str(source)).returncode == 0
    proc = run("run", "-m", "benchmark=table/grid_table", "strategy=rs,re", "seed=0,1", "budget.evaluations=10",
               f"hydra.sweep.dir={tmp_path / 'results'}")
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert "complete 4" in proc.stderr
