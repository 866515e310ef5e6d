"""harness.run_lock: exclusive run folders across processes and hosts, heartbeats, stale takeover."""
from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import run_lock as rl
from harness.grid.summary import EXIT_INCOMPLETE
from harness.results import result_problem
from tabular.errors import NasHarnessError

REPO = Path(__file__).resolve().parents[1]
FAST = rl.LockTiming(heartbeat_s=0.2, expiry_s=1.5)
CTX = multiprocessing.get_context("fork")


def _write_lock(run_dir: Path, owner: dict, age_s: float = 0.0) -> Path:
    lock = run_dir / rl.LOCK
    lock.write_text(json.dumps(owner))
    then = time.time() - age_s
    os.utime(lock, (then, then))
    return lock


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _local_owner(pid: int, start: int | None) -> dict:
    return {**rl._machine(), "pid": pid, "start": start, "token": "someone-else"}


def _race(run_dir: str, barrier, results, hold_s: float) -> None:
    barrier.wait()
    with rl.run_lock(Path(run_dir), FAST) as lock:
        results.put(bool(lock))
        if lock:
            time.sleep(hold_s)


def _race_many(run_dir: Path, n: int = 8, hold_s: float = 0.3) -> list[bool]:
    barrier, results = CTX.Barrier(n), CTX.Queue()
    procs = [CTX.Process(target=_race, args=(str(run_dir), barrier, results, hold_s)) for _ in range(n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("start", ["free", "dead-pid", "foreign-expired"])
def test_racing_processes_never_both_acquire(tmp_path, start):
    """Eight processes released at once: exactly one holds the run, also when they all find a stale
    lock to take over (a naive unlink-and-create lets two win about once in 25 rounds)."""
    for round_ in range(8):
        run_dir = tmp_path / f"{start}{round_}"
        run_dir.mkdir()
        if start == "dead-pid":
            _write_lock(run_dir, _local_owner(_dead_pid(), None))
        elif start == "foreign-expired":
            _write_lock(run_dir, {"host": "node-17.cluster", "pid": 4242, "token": "x"}, age_s=60)
        outcomes = _race_many(run_dir)
        assert outcomes.count(True) == 1, outcomes
        assert not (run_dir / rl.LOCK).exists() and not (run_dir / (rl.LOCK + rl.TAKEOVER_SUFFIX)).exists()


def test_foreign_host_lock_is_respected_while_its_heartbeat_is_fresh(tmp_path):
    owner = {
        "host": "node-17.cluster",
        "boot_id": "b",
        "pid_ns": "pid:[1]",
        "pid": os.getpid(),
        "start": 1,
        "token": "t",
    }
    lock = _write_lock(tmp_path, owner, age_s=FAST.expiry_s / 2)
    with rl.run_lock(tmp_path, FAST) as claim:
        assert not claim
    assert json.loads(lock.read_text()) == owner  # untouched
    assert rl.lock_holder(tmp_path, FAST) == owner
    # Same lock, heartbeat older than the expiry: taken over, and our claim is in the file.
    _write_lock(tmp_path, owner, age_s=FAST.expiry_s + 1)
    assert rl.lock_holder(tmp_path, FAST) is None
    with rl.run_lock(tmp_path, FAST) as claim:
        assert claim and claim.held()
        assert json.loads(lock.read_text())["token"] == claim.token
    assert not lock.exists()


def test_same_host_lock_of_a_dead_process_is_taken_over_at_once(tmp_path):
    lock = _write_lock(tmp_path, _local_owner(_dead_pid(), None))  # fresh heartbeat
    with rl.run_lock(tmp_path, FAST) as claim:
        assert claim
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_reused_pid_is_taken_over_and_the_real_holder_is_respected(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = rl.process_start(sleeper.pid)
        assert start is not None
        # The pid is alive and its start time matches: a live holder on this host.
        _write_lock(tmp_path, _local_owner(sleeper.pid, start))
        with rl.run_lock(tmp_path, FAST) as claim:
            assert not claim
        # The same pid with another start time: the holder died and its pid went to another process.
        _write_lock(tmp_path, _local_owner(sleeper.pid, start - 1))
        with rl.run_lock(tmp_path, FAST) as claim:
            assert claim
    finally:
        sleeper.kill()
        sleeper.wait()


def test_process_start_agrees_with_uptime_even_for_odd_process_names(tmp_path):
    ticks = os.sysconf("SC_CLK_TCK")
    before = float(Path("/proc/uptime").read_text().split()[0])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "open('/proc/self/comm', 'w').write('x) (1 2 3'); print(flush=True); import time; time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        after = float(Path("/proc/uptime").read_text().split()[0])
        proc.stdout.readline()
        comm = Path(f"/proc/{proc.pid}/comm").read_text().strip()
        start = rl.process_start(proc.pid)
        assert ")" in comm  # the parser had to skip a name with parentheses and spaces
        assert before - 0.05 <= start / ticks <= after + 0.05
    finally:
        proc.kill()
        proc.wait()
    assert rl.process_start(proc.pid) is None  # reaped: no such process


def _hold_as_foreign_host(run_dir: str, ready, hold_s: float) -> None:
    rl._machine = lambda: {"host": "node-99.cluster", "boot_id": "other", "pid_ns": "other"}
    with rl.run_lock(Path(run_dir), FAST) as claim:
        assert claim
        ready.set()
        time.sleep(hold_s)


@pytest.mark.slow
def test_heartbeat_keeps_a_long_run_locked_and_a_killed_holder_expires(tmp_path):
    """A holder on "another host" (its pid cannot be checked here) runs for longer than the expiry:
    its heartbeat keeps the lock. Killed like a Slurm job at its time limit, its lock expires."""
    ready = CTX.Event()
    holder = CTX.Process(target=_hold_as_foreign_host, args=(str(tmp_path), ready, 60))
    holder.start()
    try:
        assert ready.wait(20)
        lock = tmp_path / rl.LOCK
        first_beat = lock.stat().st_mtime
        time.sleep(FAST.expiry_s * 1.5)
        assert lock.stat().st_mtime > first_beat  # refreshed
        with rl.run_lock(tmp_path, FAST) as claim:
            assert not claim
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
        with rl.run_lock(tmp_path, FAST) as claim:
            assert not claim  # its last heartbeat is still recent
        time.sleep(FAST.expiry_s + 0.5)
        with rl.run_lock(tmp_path, FAST) as claim:
            assert claim
    finally:
        if holder.is_alive():
            holder.kill()
            holder.join()


def test_a_holder_that_lost_its_lock_notices_and_leaves_the_new_lock(tmp_path):
    with rl.run_lock(tmp_path, FAST) as claim:
        assert claim.held()
        other = {"host": "node-17.cluster", "pid": 1, "token": "new-holder"}
        (tmp_path / rl.LOCK).write_text(json.dumps(other))
        deadline = time.time() + 5
        while not claim.lost and time.time() < deadline:
            time.sleep(0.05)
        assert claim.lost and not claim.held()
    assert json.loads((tmp_path / rl.LOCK).read_text()) == other


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"[" * 100_000])
def test_a_lock_replaced_by_undecodable_bytes_is_lost_not_an_error(tmp_path, content):
    """Whatever replaced our lock (binary bytes, JSON nested past the parser's limit), it is not ours."""
    with rl.run_lock(tmp_path, rl.LockTiming(heartbeat_s=60, expiry_s=120)) as claim:
        (tmp_path / rl.LOCK).write_bytes(content)
        assert not claim.held() and claim.lost
    assert (tmp_path / rl.LOCK).read_bytes() == content  # left to whoever wrote it


class _SwapOnParse:
    """json.loads that, on its `nth` call, replaces the lock file by `other`'s (after parsing the text
    it was given): another process acting between a lock check and what follows from it."""

    def __init__(self, lock: Path, other: dict, nth: int):
        self.lock, self.other, self.nth, self.calls = lock, other, nth, 0
        self.real = json.loads

    def __call__(self, text, *args, **kwargs):
        value = self.real(text, *args, **kwargs)
        self.calls += 1
        if self.calls == self.nth:
            self.lock.unlink(missing_ok=True)
            self.lock.write_text(json.dumps(self.other))
        return value


def test_release_never_removes_a_lock_that_replaced_ours_after_the_check(tmp_path, monkeypatch):
    lock = tmp_path / rl.LOCK
    other = {"host": "node-17.cluster", "pid": 1, "token": "took-over"}
    with rl.run_lock(tmp_path, rl.LockTiming(heartbeat_s=60, expiry_s=120)) as claim:
        assert claim
        monkeypatch.setattr(rl.json, "loads", _SwapOnParse(lock, other, nth=1))  # the release's own check
    monkeypatch.undo()
    assert json.loads(lock.read_text()) == other
    assert [p.name for p in tmp_path.iterdir()] == [rl.LOCK]  # and no leftover of the removal


def test_a_takeover_never_removes_a_live_lock_that_replaced_the_stale_one(tmp_path, monkeypatch):
    """The taker judges the stale lock's content and mtime; if a live holder's lock takes its place
    before the removal, that lock stays and the taker does not acquire."""
    lock = _write_lock(tmp_path, {"host": "node-17.cluster", "pid": 4242, "token": "dead"}, age_s=60)
    live = {"host": "node-18.cluster", "pid": 7, "token": "live"}
    monkeypatch.setattr(rl.json, "loads", _SwapOnParse(lock, live, nth=2))  # 1: run_lock's look, 2: the takeover's
    with rl.run_lock(tmp_path, FAST) as claim:
        acquired = bool(claim)
    monkeypatch.undo()
    assert json.loads(lock.read_text()) == live
    assert not acquired


def test_a_takeover_file_left_by_a_dead_taker_does_not_block(tmp_path):
    _write_lock(tmp_path, _local_owner(_dead_pid(), None))
    mutex = tmp_path / (rl.LOCK + rl.TAKEOVER_SUFFIX)
    mutex.write_text("")
    with rl.run_lock(tmp_path, FAST) as claim:
        assert not claim  # a fresh takeover file: someone is taking over right now
    old = time.time() - FAST.expiry_s - 1
    os.utime(mutex, (old, old))
    with rl.run_lock(tmp_path, FAST) as claim:
        assert claim
    assert not mutex.exists()


def test_a_lock_being_written_is_not_stale(tmp_path):
    (tmp_path / rl.LOCK).write_text("")  # created with O_EXCL, content not written yet
    with rl.run_lock(tmp_path, FAST) as claim:
        assert not claim


@pytest.mark.parametrize(
    "env, message",
    [
        ({rl.HEARTBEAT_ENV: "soon"}, "NAS_HARNESS_LOCK_HEARTBEAT='soon' is not a number"),
        ({rl.EXPIRY_ENV: "-5"}, "must be a positive"),
        ({rl.HEARTBEAT_ENV: "60", rl.EXPIRY_ENV: "90"}, "at least twice"),
    ],
)
def test_bad_lock_timing_is_one_clear_line(tmp_path, env, message):
    with pytest.raises(NasHarnessError, match=re.escape(message)):
        rl.lock_timing(env)
    proc = subprocess.run([sys.executable, "-m", "harness", "run", f"hydra.run.dir={tmp_path}"], cwd=REPO,
                          env={**os.environ, **env}, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr
    assert list(tmp_path.iterdir()) == []
    assert rl.lock_timing({rl.HEARTBEAT_ENV: "10", rl.EXPIRY_ENV: "20"}) == rl.LockTiming(10.0, 20.0)


@pytest.mark.slow
def test_two_identical_grids_run_each_run_exactly_once(tmp_path, data_home):
    """`nas-harness run -m` twice at once on one folder: every run.log records one attempt."""
    cmd = [sys.executable, "-m", "harness", "run", "-m", "seed=range(0,16)", "strategy=rs,re",
           "budget.evaluations=1500", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}"]
    assert subprocess.run([sys.executable, "-m", "harness", "query", "nb201/cifar10"], cwd=REPO,
                          capture_output=True).returncode == 0  # convert once, before the race
    procs = [
        subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    # A grid that ends while the other still runs one of its runs is not complete: exit 3 (EXIT_INCOMPLETE).
    # The grid that ends last finds every run done, so it exits 0.
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0 and codes[1] in (0, EXIT_INCOMPLETE), [o[1][-2000:] for o in outs]
    for (_, err), proc in zip(outs, procs, strict=True):
        assert ("grid not complete" in err) == (proc.returncode == EXIT_INCOMPLETE), err
    dirs = [d for d in tmp_path.iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert len(dirs) == 32 and all(result_problem(d) is None for d in dirs)
    for d in dirs:
        attempts = re.findall(rf"run {d.name}: ", (d / "run.log").read_text())
        assert len(attempts) == 1, d
        assert not (d / rl.LOCK).exists()
    completed = [int(m) for _, err in outs for m in re.findall(r"complete (\d+)", err)]
    assert sum(completed) == 32, [err[-500:] for _, err in outs]
