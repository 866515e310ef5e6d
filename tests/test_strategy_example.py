"""The example strategy in docs/STRATEGIES.md runs as written, registered by its import path."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from harness.engine import Budget, run_search

DOC = Path(__file__).resolve().parents[1] / "docs" / "STRATEGIES.md"


def test_documented_example_runs(nb201_cifar10, tmp_path, monkeypatch):
    text = DOC.read_text()
    block = re.search(r"## A 30-line example.*?```python\n(.*?)```", text, re.S).group(1)
    assert len(block.strip().splitlines()) <= 32
    (tmp_path / "greedy_example.py").write_text(block)
    monkeypatch.syspath_prepend(str(tmp_path))
    traj = run_search(nb201_cifar10, "greedy_example:Greedy", seed=0, budget=Budget(evaluations=60),
                      hyperparameters={"n_init": 5}, seed_policy="mean")
    assert len(traj) == 60
    # After the random start every proposal is a one-edit mutation of the best seen so far.
    space = nb201_cifar10.space
    archs = traj["arch_index"].to_numpy()
    valid = traj["valid"].to_numpy()
    for step in range(5, 60):
        best_before = archs[int(np.argmax(valid[:step]))]
        assert space.arch_at(int(archs[step])) in space.neighbours(space.arch_at(int(best_before)))
    sys.modules.pop("greedy_example", None)
