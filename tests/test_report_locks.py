"""A report tells a run still running elsewhere from one whose job was killed: by the lock's heartbeat."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from harness.report.load import _classify
from harness.run_lock import LOCK, run_lock


def _lock_from_another_host(run_dir: Path, age_s: float) -> None:
    lock = run_dir / LOCK
    lock.write_text(
        json.dumps({"host": "node-elsewhere", "boot_id": "x", "pid_ns": "y", "pid": 4242, "start": 1, "token": "t"})
    )
    then = time.time() - age_s
    os.utime(lock, (then, then))


def test_a_stale_lock_reads_as_killed_and_a_fresh_one_as_running(tmp_path: Path) -> None:
    killed, running = tmp_path / "killed", tmp_path / "running"
    killed.mkdir()
    running.mkdir()
    _lock_from_another_host(killed, age_s=10 * 24 * 3600)  # a Slurm job killed at its time limit long ago
    _lock_from_another_host(running, age_s=1.0)
    assert _classify(killed).reason == "no manifest: the run was killed before it finished"
    assert _classify(running).reason == "no manifest: still running (lock held)"


def test_a_lock_held_by_this_process_reads_as_running(tmp_path: Path) -> None:
    with run_lock(tmp_path) as held:
        assert held
        assert _classify(tmp_path).reason == "no manifest: still running (lock held)"
    assert _classify(tmp_path).reason == "no manifest: the run was killed before it finished"
