"""Trajectories are bit-identical to those of the engine before the lean evaluation path (issue 20).

The digests below were recorded from the pre-optimisation engine at commit
d162be3eecf62295d581c3916328849db17b79c7 (`git rev-parse HEAD` then) by
running this file as a script against that commit's code (`git archive` of it on PYTHONPATH:
`PYTHONPATH=<copy> python tests/test_engine_bitwise.py`), i.e. without any change to
harness/engine.py, tabular/store.py or the strategies. Each digest covers every trajectory column
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
    'rs-sample-w1': 'e9b0da9dd76b71fc258dd49b79890f603728236347b3e40cd2a8792ff75a6ee7',
    'rs-mean-w4': '2f497a8661a3ded81e97bd8eb62a7665ecf87663a5092db107e355fd2e70ccb5',
    'rs-fixed-w1': '60291cf615d9e9e2bea4e6cbaf002795e3dc621de0ce6ee18f4dbac4690c0791',
    'rs-time-w4': '5b3b2dc6fd8f2775775e661de00963fcf02e83dc78272de4d49d6ebb75fb2663',
    're-sample-w1': 'a38823df64097983c45552172da1bcb435035cb2325126cc6021c508cf95f699',
    're-mean-w4': '75d6341de8cdf1411faf5d80f604ce974db38c8130c28296628d8d6b63c12a6d',
    're-time-w1': '26c705bc5bfb4a3c9ba73d049a5a1ceff8deb0fd162319b52f9cb46914bf6ee0',
    'ls-sample-w1': '247b581a177164de78f9c28f85be146ef833d6ff8f6fb1a875f42ee9d5774205',
    'ls-fixed-w4': 'f6d2db9fcf359c0dad7b04ab5509b4a22d98c94696842f97a82a06bfa3d2c1a7',
    'tpe-sample-w1': '7c9fcd889e4d7265bdcc5c9f53978a5244cf997c15354ad0a8a292fb71539735',
    'tpe-mean-w4': '4a971d0be1961ee737625163a28ced25e5b63486ecf621980adc93d3bad4edc3',
    'bananas-sample-w1': '38218685472d62be01d1efaccad0cc2d6509ab2199be2535612b13d81718fa99',
    'gpbo-sample-w1': 'f9ce7647f93e50e755edc0844d0aabe9c279965488344c22b34df023dcb52729',
    'reinforce-sample-w1': 'cb5b99e1739a5cdecd00748cd94aa1823a707b44d4155c75d95ab3a391a14d53',
    'reinforce-mean-w4': '46d336d583e7e6ee359a970845978b6fd82ca1cfb530cd1e559a163441d6f12d',
    'hyperband-sample-w1': '3e395cbb04a5e7df66866cbad41264984aa9af77a1a7fb9c8af5886586d79895',
    'hyperband-time-w4': 'aa740ee2c2f498478d3940731ad61bda33946d65a8fbc281c07e0fa96c73d31c',
    'bohb-sample-w1': 'eb3f66d8a30c263489c6b85aac7c1a24064943057996016b544e0cd401677cc5',
    'nsga2-sample-w1': 'c3c622c9ad94c3a05c12aafe68f306d861d93f60e36462f4e8ac5c52e9e2dcfc',
    'nsga2-fixed-w4': 'ccd1cd48b43fa47907e6368991c9116b941353da2ed4167111ecb0234ee87c9c',
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


if __name__ == "__main__":  # record: prints the DIGESTS dict for the engine as it is now
    from harness.benchmarks import load_benchmark

    bench = load_benchmark("nb201/cifar10")
    print("DIGESTS: dict[str, str] = {")
    for case in (sys.argv[1:] or CASES):
        print(f"    {case!r}: {trajectory_digest(run_case(bench, case))!r},", flush=True)
    print("}")
