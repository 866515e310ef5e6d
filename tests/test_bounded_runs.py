"""Every run ends: unbounded budgets on a tiny space stop with a recorded reason, within a time limit.

The space here has 12 architectures (3 categorical positions with 2, 3 and 2 choices) and its store 3
fidelities, so every strategy exhausts it, gets stuck on it, or reaches the evaluation cap quickly.
Before the engine had these stops, most strategies looped forever under these budgets (the
alarm below turns that into a failure instead of a hung test).
"""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import engine
from harness.benchmarks import Benchmark
from harness.engine import Budget, run_search
from harness.spaces.base import ArchitectureError, SearchSpace
from harness.strategies import Observation, Proposal, Strategy
from tabular.errors import NasHarnessError
from tabular.store import open_store
from tabular.writer import MetricArray, StaticMetric, StoreData, write_store

REPO = Path(__file__).resolve().parents[1]
CHOICES = (2, 3, 2)
FIDELITIES = (1.0, 3.0, 9.0)
STRATEGIES = ("rs", "re", "ls", "bananas", "gpbo", "tpe", "reinforce", "hyperband", "bohb", "nsga2")
HYPERPARAMETERS = {"bananas": {"encoding": "onehot", "epochs": 20}}
OBJECTIVES = {"nsga2": ["valid_acc", "params"]}
TIME_LIMIT_S = 120


class TinySpace(SearchSpace):
    """All code vectors of CHOICES as strings "a-b-c"; one edit changes one position."""

    name = "tiny"
    encodings = ("index", "onehot")

    def __init__(self) -> None:
        self._archs = ["-".join(map(str, c)) for c in itertools.product(*(range(k) for k in CHOICES))]
        self._row = {a: i for i, a in enumerate(self._archs)}

    @property
    def size(self) -> int:
        return len(self._archs)

    def index_of(self, arch: str) -> int:
        try:
            return self._row[arch]
        except (KeyError, TypeError):
            raise ArchitectureError(f"{arch!r} is not an architecture of the tiny space") from None

    def arch_at(self, index: int) -> str:
        return self._archs[self.check_index(index)]

    def canonical(self, arch: str) -> str:
        return self.arch_at(self.index_of(arch))

    def _codes(self, arch: str) -> list[int]:
        self.index_of(arch)
        return [int(c) for c in arch.split("-")]

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        codes = self._codes(arch)
        position = int(rng.integers(len(CHOICES)))
        other = int(rng.integers(CHOICES[position] - 1))
        codes[position] = other + (other >= codes[position])
        return "-".join(map(str, codes))

    def neighbours(self, arch: str) -> list[str]:
        codes = self._codes(arch)
        out = []
        for position, k in enumerate(CHOICES):
            for value in range(k):
                if value != codes[position]:
                    out.append("-".join(map(str, codes[:position] + [value] + codes[position + 1:])))
        return out

    def encode(self, archs: list[str], kind: str = "index") -> np.ndarray:
        self._check_encoding(kind)
        codes = np.array([self._codes(a) for a in archs], dtype=np.int64).reshape(len(archs), len(CHOICES))
        if kind == "index":
            return codes
        return np.concatenate([np.eye(k)[codes[:, p]] for p, k in enumerate(CHOICES)], axis=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Benchmark:
    space = TinySpace()
    n, rng = space.size, np.random.default_rng(0)
    quality = rng.random(n)
    fid = np.asarray(FIDELITIES)
    valid = 50 + 40 * quality[:, None, None] * (fid / fid[-1])[None, None, :] + rng.normal(0, 1, (n, 2, fid.size))
    data = StoreData(
        name="test/tiny", search_space="tiny", arch_strings=[space.arch_at(i) for i in range(n)],
        arch_encoding=space.encode([space.arch_at(i) for i in range(n)]), fidelities=fid, seeds=np.arange(2),
        metrics={"valid_acc": MetricArray(valid, "%", True), "test_acc": MetricArray(valid - 1, "%", True),
                 "train_time": MetricArray(np.broadcast_to(10.0 * fid, valid.shape).copy(), "s", False)},
        static={"params": StaticMetric(1 + rng.random(n), "M", "params")},
        cost_metric="train_time",
    )
    path = tmp_path_factory.mktemp("tiny") / "tiny.h5"
    write_store(data, path)
    store = open_store(path)
    yield Benchmark("test/tiny", space, store)
    store.close()


@contextmanager
def time_limit(seconds: float):
    """Fail (instead of hanging) when the block runs longer than `seconds`."""
    def expired(signum, frame):
        raise TimeoutError(f"the run did not stop within {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_stop(trajectory: pd.DataFrame, bench: Benchmark, n_workers: int = 1) -> str:
    """The recorded reason, checked against the trajectory itself."""
    reason = trajectory.attrs["stop_reason"]
    cap = engine.EVALUATIONS_PER_ARCH * bench.space.size * len(FIDELITIES)
    assert 0 < len(trajectory) <= cap
    top = trajectory[trajectory["fidelity"] == FIDELITIES[-1]]
    if reason == engine.STOP_EXHAUSTED:
        assert set(top["arch_index"]) == set(range(bench.space.size))
    elif reason == engine.STOP_CAP:
        assert len(trajectory) == cap
        assert set(top["arch_index"]) != set(range(bench.space.size))
    elif reason == engine.STOP_STALLED:
        assert n_workers == 1  # completion order = proposal order: the last proposals are the tail
        keys = list(zip(trajectory["arch_index"], trajectory["fidelity"], strict=True))
        head, tail = keys[: -engine.MAX_REPEATS], keys[-engine.MAX_REPEATS:]
        assert set(tail) <= set(head)
        assert keys[-engine.MAX_REPEATS - 1] not in keys[: -engine.MAX_REPEATS - 1]  # the streak began there
    else:
        assert reason == engine.STOP_STRATEGY, reason
    return reason


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(
    "budget", [Budget(evaluations=10**9), Budget(sim_seconds=1e300)], ids=["evaluations=1e9", "sim_seconds=1e300"]
)
def test_every_strategy_stops_on_an_unbounded_budget(tiny, strategy, budget):
    # charge_repeats=False makes re-proposals free, so simulated time stops advancing once the
    # space is used up: a finite time budget alone can never end such a run.
    hyper = {**HYPERPARAMETERS.get(strategy, {}), "charge_repeats": budget.evaluations is not None}
    started = time.perf_counter()
    with time_limit(TIME_LIMIT_S):
        trajectory = run_search(tiny, strategy, seed=1, budget=budget, hyperparameters=hyper,
                                objectives=OBJECTIVES.get(strategy))
    reason = check_stop(trajectory, tiny)
    assert reason != engine.STOP_EVALUATIONS and time.perf_counter() - started < TIME_LIMIT_S


@pytest.mark.parametrize("strategy", ["re", "tpe", "hyperband"])
def test_several_workers_stop_too(tiny, strategy):
    with time_limit(TIME_LIMIT_S):
        trajectory = run_search(tiny, strategy, seed=2, budget=Budget(evaluations=10**9), n_workers=4)
    assert check_stop(trajectory, tiny, n_workers=4) in (engine.STOP_EXHAUSTED, engine.STOP_CAP)


class Scripted(Strategy):
    """A strategy whose proposals depend only on how many it has made (`_n`); it learns nothing."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self._n = 0

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        pass


class Stubborn(Scripted):
    """Proposes the first architecture forever."""

    name = "stubborn"

    def ask(self) -> Proposal | None:
        return Proposal(self.space.arch_at(0))


class LowCycler(Scripted):
    """Cycles over every architecture at the lowest fidelity only: never exhausts the space, and a
    repeat streak never reaches MAX_REPEATS before the evaluation cap."""

    name = "lowcycler"

    def ask(self) -> Proposal | None:
        self._n += 1
        return Proposal(self.space.arch_at(self._n % self.space.size), self.problem.fidelities[0])


class Quitter(Scripted):
    """Proposes three architectures, then nothing."""

    name = "quitter"

    def ask(self) -> Proposal | None:
        self._n += 1
        return Proposal(self.space.arch_at(self._n)) if self._n <= 3 else None


def test_a_strategy_stuck_on_one_architecture_stops_after_max_repeats(tiny, monkeypatch):
    # On this space the evaluation cap (360) comes long before 10,000 repeats; a smaller streak
    # limit shows the rule itself. On nb201/cifar10 (cap 312,500: two fidelities) the real limit is what ends such runs.
    monkeypatch.setattr(engine, "MAX_REPEATS", 50)
    with time_limit(TIME_LIMIT_S):
        trajectory = run_search(tiny, f"{__name__}:Stubborn", seed=0, budget=Budget(sim_seconds=1e300),
                                hyperparameters={"charge_repeats": False})
    assert trajectory.attrs["stop_reason"] == engine.STOP_STALLED
    assert len(trajectory) == 1 + 50  # one new evaluation, then the repeats
    assert (trajectory["arch_index"] == 0).all() and (trajectory["cost"].iloc[1:] == 0).all()
    check_stop(trajectory, tiny)


def test_the_streak_restarts_at_every_new_architecture(tiny, monkeypatch):
    monkeypatch.setattr(engine, "MAX_REPEATS", 5)
    # LowCycler repeats nothing until it has proposed all 12 architectures once.
    trajectory = run_search(tiny, f"{__name__}:LowCycler", seed=0, budget=Budget(evaluations=10**9))
    assert trajectory.attrs["stop_reason"] == engine.STOP_STALLED and len(trajectory) == 12 + 5


def test_an_explicit_budget_is_spent_on_repeats(tiny):
    trajectory = run_search(tiny, f"{__name__}:Stubborn", seed=0, budget=Budget(evaluations=300))
    assert len(trajectory) == 300 and trajectory.attrs["stop_reason"] == engine.STOP_EVALUATIONS


def test_the_evaluation_cap_ends_a_run_that_keeps_repeating_slowly(tiny):
    with time_limit(TIME_LIMIT_S):
        trajectory = run_search(tiny, f"{__name__}:LowCycler", seed=0, budget=Budget(evaluations=10**9))
    assert trajectory.attrs["stop_reason"] == engine.STOP_CAP
    assert len(trajectory) == engine.EVALUATIONS_PER_ARCH * 12 * 3 == engine.evaluation_cap(tiny)
    assert (trajectory["fidelity"] == FIDELITIES[0]).all()


def test_a_strategy_that_stops_proposing_ends_the_run(tiny):
    trajectory = run_search(tiny, f"{__name__}:Quitter", seed=0, budget=Budget(evaluations=100))
    assert list(trajectory["arch_index"]) == [1, 2, 3]
    assert trajectory.attrs["stop_reason"] == engine.STOP_STRATEGY


def test_budget_reasons_and_identical_trajectories(tiny):
    by_count = run_search(tiny, "re", seed=4, budget=Budget(evaluations=7))
    assert len(by_count) == 7 and by_count.attrs["stop_reason"] == engine.STOP_EVALUATIONS
    by_time = run_search(tiny, "re", seed=4, budget=Budget(sim_seconds=200.0))
    assert by_time.attrs["stop_reason"] == engine.STOP_SIM_SECONDS
    assert list(by_time["sim_time"]) == [90.0, 180.0]  # every evaluation at 9 epochs costs 90 s
    # Random search without replacement sees every architecture once, in a permutation.
    rs = run_search(tiny, "rs", seed=4, budget=Budget(evaluations=10**9))
    assert sorted(rs["arch_index"]) == list(range(12)) and rs.attrs["stop_reason"] == engine.STOP_EXHAUSTED


def test_the_stop_reason_survives_the_parquet_file(tiny, tmp_path):
    from harness.results import write_trajectory

    trajectory = run_search(tiny, "rs", seed=0, budget=Budget(evaluations=10**9))
    write_trajectory(tmp_path / "t.parquet", trajectory)
    assert pd.read_parquet(tmp_path / "t.parquet").attrs["stop_reason"] == engine.STOP_EXHAUSTED


@pytest.mark.parametrize("budget, message", [
    (Budget(sim_seconds=float("inf")), "budget.sim_seconds=inf without budget.evaluations"),
    (Budget(evaluations=float("inf")), "budget.evaluations must be a positive integer, got inf"),
    (Budget(evaluations=float("nan")), "budget.evaluations must be a positive integer, got nan"),
    (Budget(sim_seconds=float("nan")), "budget.sim_seconds must be positive, got nan"),
    (Budget(), "no budget given"),
])
def test_a_budget_that_cannot_end_is_refused_in_one_line(tiny, budget, message):
    with pytest.raises(NasHarnessError) as info:
        run_search(tiny, "rs", seed=0, budget=budget)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_infinite_budget_with_an_evaluation_limit_is_fine(tiny):
    trajectory = run_search(tiny, "re", seed=0, budget=Budget(evaluations=5, sim_seconds=float("inf")))
    assert len(trajectory) == 5


@pytest.mark.slow
def test_the_cli_refuses_an_unbounded_budget_in_one_line(tmp_path, data_home):
    env = dict(os.environ, NAS_HARNESS_DATA=str(data_home))
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "budget.evaluations=null", "budget.sim_seconds=inf",
                           f"hydra.run.dir={tmp_path}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "budget.sim_seconds=inf without budget.evaluations" in lines[0] and lines[0].startswith(
        "nas-harness: error:"
    )


class MemoryProbe(LowCycler):
    """LowCycler that records the traced memory at every ask (into a preallocated array)."""

    name = "memoryprobe"
    readings = np.zeros(0, dtype=np.int64)

    def ask(self) -> Proposal | None:
        import tracemalloc

        if self._n < MemoryProbe.readings.size:
            MemoryProbe.readings[self._n] = tracemalloc.get_traced_memory()[0]
        return super().ask()


def test_memory_grows_by_a_compact_row_per_evaluation(tiny):
    """While a run goes on, memory grows by one compact trajectory row per evaluation (13 numbers
    of 8 bytes, 2 shared strings), not by a dict of Python objects per row (about 1 KB)."""
    import tracemalloc

    MemoryProbe.readings = np.zeros(400, dtype=np.int64)
    tracemalloc.start()
    try:
        trajectory = run_search(tiny, f"{__name__}:MemoryProbe", seed=0, budget=Budget(evaluations=360))
    finally:
        tracemalloc.stop()
    assert len(trajectory) == 360
    per_row = (MemoryProbe.readings[340] - MemoryProbe.readings[40]) / 300
    assert 0 < per_row < 400, per_row


def test_the_manifest_records_why_the_run_stopped(tmp_path, data_home):
    """`nas-harness run` writes the engine's stop reason into the manifest (RS on nb201 exhausts nothing at 20)."""
    import json

    from harness.app import run_config
    from harness.results import MANIFEST

    config = {"benchmark": {"name": "nb201/cifar10", "seed_policy": "sample", "fixed_seed": None, "objectives": None},
              "budget": {"evaluations": 20, "sim_seconds": None}, "n_workers": 1, "seed": 0, "strategy": {"name": "rs"}}
    entry = run_config(config, [], tmp_path)
    assert entry["status"] == "complete"
    manifest = json.loads((tmp_path / entry["run_id"] / MANIFEST).read_text())
    assert manifest["stop_reason"] == "budget.evaluations"


@pytest.fixture(scope="module")
def free_tiny(tiny, tmp_path_factory) -> Benchmark:
    """The tiny benchmark with a cost metric that is zero (or negative) everywhere."""
    store = tiny.store
    metrics = {m: MetricArray(np.asarray(store.metric_array(m)), "s" if m == "train_time" else "%", m != "train_time")
               for m in store.metric_names}
    metrics["train_time"] = MetricArray(
        -np.abs(np.asarray(store.metric_array("train_time"))) * np.arange(2)[None, :, None], "s", False
    )
    data = StoreData(
        name="test/free",
        search_space="tiny",
        arch_strings=list(store.arch_strings),
        arch_encoding=store.arch_encoding,
        fidelities=store.fidelities,
        seeds=store.seeds,
        metrics=metrics,
        static={"params": StaticMetric(np.asarray(store.static("params")), "M", "params")},
        cost_metric="train_time",
    )
    path = tmp_path_factory.mktemp("free") / "free.h5"
    write_store(data, path)
    free = open_store(path)
    yield Benchmark("test/free", tiny.space, free)
    free.close()


def test_a_time_budget_that_free_evaluations_never_reach_stops(free_tiny, monkeypatch):
    # The space is exhausted after 12 new architectures; a streak limit of 5 shows the rule first.
    monkeypatch.setattr(engine, "MAX_REPEATS", 5)
    with time_limit(TIME_LIMIT_S):
        trajectory = run_search(free_tiny, "rs", seed=0, budget=Budget(sim_seconds=100.0))
    assert trajectory.attrs["stop_reason"] == engine.STOP_FREE and len(trajectory) == 5
    assert (trajectory["cost"] == 0).all() and (
        trajectory["sim_time"] == 0
    ).all()  # negative costs never run the clock back
    with_count = run_search(free_tiny, "rs", seed=0, budget=Budget(sim_seconds=100.0, evaluations=8))
    assert with_count.attrs["stop_reason"] == engine.STOP_EVALUATIONS and len(with_count) == 8
