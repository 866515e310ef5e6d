"""One results model (harness.results): report, regress and rank-stats --strategies read the same
runs, with the same labels and counts, from a folder that mixes variants, benchmarks, a failed run,
a duplicate, a killed run and one still running elsewhere."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import regress as rg
from harness.app import run_config
from harness.report import build_report
from harness.results import (
    MANIFEST,
    STATUSES,
    TRAJECTORY,
    TrajectoryError,
    load_results,
    read_trajectory,
    run_lock,
)
from tabular.hashing import sha256_file

BENCHES = ("nb201/cifar10", "nb201/cifar100")
SEEDS = (0, 1, 2)
METHODS = ("rs[replace=false]", "rs[replace=true]")
EXPECTED_COUNTS = {"complete": 12, "failed": 1, "partial": 1, "damaged": 0, "duplicate": 1, "running-elsewhere": 1}
NOT_USED = {"duplicate": 1, "failed": 1, "partial": 1, "running-elsewhere": 1}


def config(bench: str, seed: int, replace: bool, evaluations: int = 8) -> dict:
    """A resolved run config as `nas-harness run` records it."""
    return {"benchmark": {"name": bench, "seed_policy": "sample", "fixed_seed": None, "objectives": None},
            "budget": {"evaluations": evaluations, "sim_seconds": None}, "n_workers": 1, "seed": seed,
            "strategy": {"name": "rs", "charge_repeats": True, "replace": replace}}


@pytest.fixture(scope="module")
def mixed(data_home, tmp_path_factory) -> Path:
    """2 benchmarks x rs and rs(replace=true) x 3 seeds, a shorter duplicate of one run, a failed run,
    a killed run (run.log only) and a run folder that another process is still running."""
    root = tmp_path_factory.mktemp("model") / "results"
    for bench in BENCHES:
        for replace in (False, True):
            for seed in SEEDS:
                assert run_config(config(bench, seed, replace), [], root)["status"] == "complete"
    assert run_config(config(BENCHES[0], 0, False, evaluations=5), [], root)["status"] == "complete"  # the duplicate
    source = next(p for p in sorted(root.iterdir()) if (p / MANIFEST).is_file())
    failed = root / ("f" * 16)
    failed.mkdir()
    manifest = json.loads((source / MANIFEST).read_text())
    manifest.update(status="failed", error="RuntimeError: out of memory", config=config(BENCHES[1], 9, True))
    for key in ("trajectory_sha256", "trajectory_rows"):
        manifest.pop(key, None)
    (failed / MANIFEST).write_text(json.dumps(manifest))
    killed = root / ("0" * 16)
    killed.mkdir()
    (killed / "run.log").write_text(f"t INFO harness.app: run {'0' * 16}: strategy=rs benchmark={BENCHES[0]} seed=7\n")
    (root / ("1" * 16)).mkdir()  # held by the fixture's test through run_lock: running elsewhere
    return root


def test_report_regress_and_rank_stats_agree_on_labels_and_counts(mixed):
    from harness.rank_stats import strategy_concordance

    with run_lock(mixed / ("1" * 16)) as held:
        assert held
        result = load_results(mixed)
        report = build_report(mixed, n_boot=100)
        groups = rg.load_result_set(mixed)
        scores = rg.load_runs(mixed)
        concordance = strategy_concordance(mixed, by="benchmark")
    assert set(STATUSES) == set(EXPECTED_COUNTS)
    assert result.counts() == EXPECTED_COUNTS
    assert report.result.counts() == EXPECTED_COUNTS
    cells = {(b, m) for b in BENCHES for m in METHODS}
    # report: what its leaderboard table holds, from the report's own tables
    final = report.final_table
    assert {(t, m) for t, m in zip(final["task"], final["method"], strict=True)} == cells
    assert set(final["n_seeds"]) == {len(SEEDS)}
    assert set(report.runs_table["status"].value_counts().items()) == {(k, v) for k, v in EXPECTED_COUNTS.items() if v}
    # regress: same cells, same seeds, and every run it did not use counted by the same statuses
    assert set(groups.groups) == cells
    assert all(g.seeds == list(SEEDS) for g in groups.groups.values())
    assert {k: len(v) for k, v in scores.skipped.items()} == NOT_USED
    assert f"used {len(cells) * len(SEEDS)} runs, skipped {sum(NOT_USED.values())}" in " ".join(groups.notes)
    # rank-stats --strategies: the same labels rank, on the same benchmarks
    assert concordance.overall is not None
    assert sorted(concordance.overall.objects) == list(METHODS)
    assert sorted(concordance.overall.raters) == sorted(BENCHES)
    # the duplicate is the shorter run of (cifar10, rs[replace=false], seed 0): the longest is kept
    (dup,) = [r for r in result.runs if r.status == "duplicate"]
    (kept,) = [r for r in result.cell(BENCHES[0], METHODS[0]) if r.seed == 0]
    assert (dup.task, dup.method, dup.seed) == (kept.task, kept.method, 0)
    assert len(dup.trajectory) == 5 and len(kept.trajectory) == 8 and kept.run_id in dup.reason


def test_without_the_live_lock_the_run_reads_as_killed(mixed):
    counts = load_results(mixed).counts()
    assert counts["running-elsewhere"] == 0 and counts["partial"] == 2


def test_symlinked_run_folders_are_never_followed(mixed, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(mixed, root, symlinks=True)
    outside = tmp_path / "outside"
    run = next(p for p in sorted(root.iterdir()) if (p / TRAJECTORY).is_file())
    run.rename(outside)
    run.symlink_to(outside, target_is_directory=True)
    result = load_results(root)
    assert run.name in result.ignored and all(r.run_id != run.name for r in result.runs)


def test_the_typed_reader_refuses_strings_and_truncation(tmp_path):
    path = tmp_path / TRAJECTORY
    pd.DataFrame({"step": [1, 2], "regret": ["0.5", "0.25"], "arch": ["a", "b"]}).to_parquet(path)
    with pytest.raises(TrajectoryError, match=r"is damaged \(column 'regret' holds"):
        read_trajectory(path)
    pd.DataFrame({"step": [1, 2], "regret": [0.5, 0.25], "cost": [None, None]}).to_parquet(path)
    frame = read_trajectory(path)
    assert frame["cost"].dtype == np.float64 and frame["regret"].tolist() == [0.5, 0.25]
    with pytest.raises(TrajectoryError, match="no column 'valid_mean'"):
        read_trajectory(path, ["step", "valid_mean"])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TrajectoryError, match=r"is damaged \(unreadable: "):
        read_trajectory(path)
    assert sha256_file(path)  # the file is still there: the reader never deletes
