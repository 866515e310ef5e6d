"""A user's own table keyed by plain ids becomes a benchmark that can be queried and searched."""
from __future__ import annotations

import numpy as np
import pandas as pd

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
