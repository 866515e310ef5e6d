"""Trajectories are bit-identical to those of the engine before the lean evaluation path (issue 20).

The digests below were recorded by running this file as a script against older code on PYTHONPATH
(`PYTHONPATH=<a checkout of the commit> python tests/test_engine_bitwise.py CASE...`): every case but
Hyperband's and BOHB's from commit 3dd7c85a (the release before the lean evaluation path, the
`budget` column and BOHB's paper-faithful brackets: so these trajectories are byte for byte what that
release wrote), Hyperband's and BOHB's from commit d162be3e (after their `budget` column and bracket
rule changed on purpose, before any engine optimisation). Each digest covers every trajectory column
except `wall_time` (the machine's clock), in column order, plus the column names and the stop reason.
Hyperband and BOHB are covered too; a deliberate change of their behaviour (not of the engine's)
is the only reason to re-record their entries, and the re-recording must be said in the commit.
"""
from __future__ import annotations

import hashlib
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.engine import Budget, run_search

# name -> (strategy, run_search keyword arguments)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "rs-sample-w1": ("rs", dict(seed=3, budget=Budget(evaluations=120), seed_policy="sample")),
    "rs-mean-w4": ("rs", dict(seed=4, budget=Budget(evaluations=120), seed_policy="mean", n_workers=4)),
    "rs-fixed-w1": ("rs", dict(seed=5, budget=Budget(evaluations=80), seed_policy="fixed", fixed_seed=1)),
    "rs-time-w4": ("rs", dict(seed=6, budget=Budget(sim_seconds=40_000.0), n_workers=4)),
    "re-sample-w1": ("re", dict(seed=7, budget=Budget(evaluations=150))),
    "re-mean-w4": ("re", dict(seed=8, budget=Budget(evaluations=150), seed_policy="mean", n_workers=4)),
    "re-time-w1": ("re", dict(seed=9, budget=Budget(sim_seconds=30_000.0, evaluations=300))),
    "ls-sample-w1": ("ls", dict(seed=10, budget=Budget(evaluations=120))),
    "ls-fixed-w4": ("ls", dict(seed=11, budget=Budget(evaluations=120), seed_policy="fixed", n_workers=4)),
    "tpe-sample-w1": ("tpe", dict(seed=12, budget=Budget(evaluations=80))),
    "tpe-mean-w4": ("tpe", dict(seed=13, budget=Budget(evaluations=80), seed_policy="mean", n_workers=4)),
    "bananas-sample-w1": ("bananas", dict(seed=14, budget=Budget(evaluations=25))),
    "gpbo-sample-w1": ("gpbo", dict(seed=15, budget=Budget(evaluations=25))),
    "reinforce-sample-w1": ("reinforce", dict(seed=16, budget=Budget(evaluations=120))),
    "reinforce-mean-w4": ("reinforce", dict(seed=17, budget=Budget(evaluations=120), seed_policy="mean",
                                            n_workers=4)),
    "hyperband-sample-w1": ("hyperband", dict(seed=18, budget=Budget(evaluations=120))),
    "hyperband-time-w4": ("hyperband", dict(seed=19, budget=Budget(sim_seconds=30_000.0), n_workers=4)),
    # kde_counts=false: the direct KDE of the recorded engine; the default counts the same model's
    # patterns (harness.strategies.kde_counts) and may break exact ties by rounding the other way.
    "bohb-sample-w1": ("bohb", dict(seed=20, budget=Budget(evaluations=120), hyperparameters={"kde_counts": False})),
    "nsga2-sample-w1": ("nsga2", dict(seed=21, budget=Budget(evaluations=120), objectives=["valid_acc", "params"])),
    "nsga2-fixed-w4": ("nsga2", dict(seed=22, budget=Budget(evaluations=120), seed_policy="fixed", fixed_seed=2,
                                     n_workers=4, objectives=["valid_acc", "latency"])),
}

# Recorded from the pre-optimisation engine (see the module docstring).
DIGESTS: dict[str, str] = {
    'rs-sample-w1': '9cd05e85b3a7f3d92cc59070ab667a955522dd3a4eaf40517aa59cbbf069e85e',
    'rs-mean-w4': '65f8d8f3409100678f86ff68f97523206b114b7f5f368eaa1aacd1298fd8aece',
    'rs-fixed-w1': 'ee4a8c243622eb4935feaac94345f1b2fd9904cbfdec40388d19141611079053',
    'rs-time-w4': 'fb4fb3363404d0b4750babce0d4495c4ed6b630918c9f7cbf75c4808ff68dd15',
    're-sample-w1': '610cfd76555a2e8ebb2a94c24acc92a06aed682132c3c47fb21ced7b390824c9',
    're-mean-w4': '89e7ff572a1864e1da23cb85f15c3dc19cd46b95d157f566edbef395c05ab065',
    're-time-w1': '6eb0dec347ef16eb9da7611403d6470fd531262bd636c9163aacdd344b1771a5',
    'ls-sample-w1': '94400629668656714542d02118a9a618171aeff5f00e2668bbb7b2b52ae1c0f0',
    'ls-fixed-w4': 'a3041b2460e13d7e346fcb729016a47e11d04d3bffea4279efb06b7ffbdb6036',
    'tpe-sample-w1': '946b182ae100cc25ff89266fb94a8262bb0e77984a5004d80dc487bf2f62ec8d',
    'tpe-mean-w4': 'c05840e8e3133eacbd59a29ad8877d46872ddc14e2221212d69b0e0566c385dd',
    'bananas-sample-w1': 'a75099bc660c74680006afa89adfe96fa5da6e6549b70899d28d27781a96cfee',
    'gpbo-sample-w1': '950ceef9d35c29d58270e29fabd3487d52182fa67482116afd0637d305ddce21',
    'reinforce-sample-w1': 'd2c654dc38814f5728d9026b19a936304ccaea78d29fdd5736081eb074e2cd5c',
    'reinforce-mean-w4': 'cd720efc1945222fbf6528507fa12dd5a7b5fd29875f7454b56b739eba611af2',
    'hyperband-sample-w1': '3e395cbb04a5e7df66866cbad41264984aa9af77a1a7fb9c8af5886586d79895',
    'hyperband-time-w4': 'aa740ee2c2f498478d3940731ad61bda33946d65a8fbc281c07e0fa96c73d31c',
    'bohb-sample-w1': 'eb3f66d8a30c263489c6b85aac7c1a24064943057996016b544e0cd401677cc5',
    'nsga2-sample-w1': '1064f2b91c6cfe1e8125f444fe627cb5861ac629aa4155447599f4a195d66c58',
    'nsga2-fixed-w4': 'a89535a9be8caf192f2ae8b421daa17d11dee4384d746124c2f670696a85542d',
}


def trajectory_digest(trajectory: pd.DataFrame) -> str:
    """sha256 over every column but wall_time (raw float64/int64 bytes, strings joined), names and stop reason."""
    digest = hashlib.sha256()
    digest.update(repr(list(trajectory.columns)).encode())
    digest.update(str(trajectory.attrs.get("stop_reason")).encode())
    for name in trajectory.columns:
        if name == "wall_time":
            continue
        column = trajectory[name]
        digest.update(name.encode() + b"\0" + str(column.dtype).encode() + b"\0")
        if column.dtype.kind in "iufb":  # numbers: their exact bytes
            digest.update(np.ascontiguousarray(column.to_numpy()).tobytes())
        else:  # strings (pandas' str dtype or object): their text, never object pointers
            digest.update("\x1f".join(map(str, column.tolist())).encode())
    return digest.hexdigest()


def run_case(bench: Any, name: str) -> pd.DataFrame:
    strategy, kwargs = CASES[name]
    return run_search(bench, strategy, **kwargs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_trajectory_is_bit_identical_to_the_recorded_one(nb201_cifar10, name):
    trajectory = run_case(nb201_cifar10, name)
    assert len(trajectory) > 0
    assert trajectory_digest(trajectory) == DIGESTS[name], name


def test_digest_sees_a_one_ulp_change(nb201_cifar10):
    """The digest is sensitive: a single value moved by one ulp changes it."""
    trajectory = run_case(nb201_cifar10, "rs-sample-w1")
    before = trajectory_digest(trajectory)
    changed = trajectory.copy()
    changed.attrs = dict(trajectory.attrs)
    changed.loc[5, "valid"] = np.nextafter(changed.loc[5, "valid"], np.inf)
    assert trajectory_digest(changed) != before
    changed.loc[5, "valid"] = trajectory.loc[5, "valid"]
    assert trajectory_digest(changed) == before


@pytest.mark.parametrize("name", ["rs-sample-w1", "nsga2-fixed-w4", "hyperband-sample-w1"])
def test_frame_from_blocks_equals_the_dict_constructor(nb201_cifar10, name, monkeypatch):
    """The trajectory frame built from its blocks (pandas >= 3) is the frame pd.DataFrame(dict) builds:
    same columns, dtypes, values and block layout (what a Parquet writer sees)."""
    import harness.engine.columns as columns

    fast = run_case(nb201_cifar10, name)
    monkeypatch.setattr(columns, "_from_blocks", None)
    plain = run_case(nb201_cifar10, name)
    assert list(fast.columns) == list(plain.columns)
    assert list(fast.dtypes) == list(plain.dtypes)
    assert fast.attrs == plain.attrs
    pd.testing.assert_frame_equal(fast.drop(columns="wall_time"), plain.drop(columns="wall_time"), check_exact=True)
    assert [b.dtype for b in fast._mgr.blocks] == [b.dtype for b in plain._mgr.blocks]


if __name__ == "__main__":  # record: prints the DIGESTS dict for the engine as it is now
    from harness.benchmarks import load_benchmark

    bench = load_benchmark("nb201/cifar10")
    print("DIGESTS: dict[str, str] = {")
    for case in (sys.argv[1:] or CASES):
        print(f"    {case!r}: {trajectory_digest(run_case(bench, case))!r},", flush=True)
    print("}")
