"""Exclusive, self-expiring claims on run folders, safe across processes, hosts and killed jobs.

Two grids that share a results folder (the same grid launched twice, or overlapping grids on a
cluster) must never run a run twice, and a run whose holder died (kill -9, a Slurm job killed at
its time limit, a node that went away) must not stay blocked. A run folder's lock is the file
`<run>/.lock`, created with O_CREAT|O_EXCL (atomic, also on NFS v3+). It records:

- `host`, `boot_id` and `pid_ns` (the machine, its boot and the pid namespace) and `pid` and
  `start` (the process's start time in clock ticks since boot, from /proc/<pid>/stat). On the
  same machine, boot and pid namespace, a lock whose pid is gone, or whose pid now belongs to a
  process with another start time (pid reuse), is stale at once.
- a heartbeat: the file's mtime, refreshed every `heartbeat_s` seconds by a daemon thread while
  the run executes. A lock whose heartbeat is older than `expiry_s` is stale wherever its holder
  runs: this is what frees the locks of other hosts and of jobs killed at their time limit.

Both times come from the environment (so they also reach Slurm jobs, and can be set per job with
`hydra.job.env_set`): NAS_HARNESS_LOCK_HEARTBEAT (default 30 s) and NAS_HARNESS_LOCK_EXPIRY
(default 180 s, at least twice the heartbeat; minutes, because NFS clients may cache a file's
mtime for up to a minute). Every machine sharing a results folder should use the same values.

Taking over a stale lock is serialised by a second O_EXCL file, `<run>/.lock.takeover`: the taker
re-reads the lock under it, checks that it is still the same stale file (inode and mtime), removes
it and competes for the lock again with O_EXCL, so two takers can never both win. A holder checks
that the lock still carries its token at every heartbeat and before it writes results
(`RunLock.held`); a holder that lost its lock (it stalled for longer than the expiry) writes nothing.
Removing a lock (a takeover, a holder's release) renames it to a private name first and checks it
there, so a lock that replaced the one checked is put back instead of deleted (`_remove_if`).
"""
from __future__ import annotations

import functools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

LOCK = ".lock"
TAKEOVER_SUFFIX = ".takeover"
HEARTBEAT_ENV = "NAS_HARNESS_LOCK_HEARTBEAT"
EXPIRY_ENV = "NAS_HARNESS_LOCK_EXPIRY"
DEFAULT_HEARTBEAT_S = 30.0
DEFAULT_EXPIRY_S = 180.0


@dataclass(frozen=True)
class LockTiming:
    """How often a holder refreshes its lock, and how old a heartbeat may get before the lock is stale."""

    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    expiry_s: float = DEFAULT_EXPIRY_S


def lock_timing(environ: dict[str, str] | None = None) -> LockTiming:
    """The lock timing set in the environment; NasHarnessError naming the variable when it is unusable."""
    env = os.environ if environ is None else environ
    values = {}
    for name, default in ((HEARTBEAT_ENV, DEFAULT_HEARTBEAT_S), (EXPIRY_ENV, DEFAULT_EXPIRY_S)):
        text = env.get(name, "").strip()
        try:
            value = float(text) if text else default
        except ValueError:
            raise NasHarnessError(
                f"{name}={text!r} is not a number of seconds; unset it or set e.g. {name}={default:g}"
            ) from None
        if not value > 0 or value == float("inf"):
            raise NasHarnessError(f"{name}={text} must be a positive, finite number of seconds")
        values[name] = value
    heartbeat, expiry = values[HEARTBEAT_ENV], values[EXPIRY_ENV]
    if expiry < 2 * heartbeat:
        raise NasHarnessError(
            f"{EXPIRY_ENV}={expiry:g} must be at least twice {HEARTBEAT_ENV}={heartbeat:g} seconds "
            "(a lock whose holder is alive would otherwise look stale between two heartbeats)"
        )
    return LockTiming(heartbeat, expiry)


def _read_first_line(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.readline().strip() or None
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def _boot_id() -> str | None:
    return _read_first_line("/proc/sys/kernel/random/boot_id")


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """Start time of process `pid` in clock ticks since boot (/proc/<pid>/stat field 22); None when unknown."""
    line = _read_first_line(f"/proc/{pid}/stat")
    if line is None:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
    fields = line[line.rfind(")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists in our pid namespace."""
    if pid <= 0:
        return False  # os.kill(0 or negative) would signal process groups
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def _machine() -> dict[str, Any]:
    """Who we are, as far as telling whether a lock's pid can be checked here."""
    return {"host": socket.gethostname(), "boot_id": _boot_id(), "pid_ns": _pid_namespace()}


def stale_reason(
    owner: dict[str, Any] | None, mtime: float, timing: LockTiming, now: float | None = None
) -> str | None:
    """Why a lock with this content and mtime is stale; None while its holder may still be running.

    `owner` is the lock's parsed content, or None when it is unreadable or still being written (an
    empty file right after O_EXCL): such a lock is judged by its heartbeat alone.
    """
    age = (time.time() if now is None else now) - mtime
    if isinstance(owner, dict):
        here = _machine()
        local = all(owner.get(key) == here[key] for key in here)
        pid = owner.get("pid")
        if local and isinstance(pid, int) and not isinstance(pid, bool):
            if not pid_alive(pid):
                return f"its process {pid} on this host is gone"
            start, now_start = owner.get("start"), process_start(pid)
            if isinstance(start, int) and now_start is not None and start != now_start:
                return f"pid {pid} now belongs to another process (started at tick {now_start}, not {start})"
    if age > timing.expiry_s:
        holder = f"{owner.get('host')} pid {owner.get('pid')}" if isinstance(owner, dict) else "an unreadable holder"
        return f"its heartbeat ({holder}) is {age:.0f} s old, more than {timing.expiry_s:g} s"
    return None


def _parse_owner(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _read_owner(lock: Path) -> dict[str, Any] | None:
    try:
        raw = lock.read_bytes()
    except OSError:
        return None
    return _parse_owner(raw)


def _snapshot(path: Path) -> tuple[os.stat_result, bytes] | None:
    """The status and content of one file, both read through one descriptor (so they belong to the
    same file even if the name is replaced meanwhile); None when there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return st, b"".join(chunks)
    finally:
        os.close(fd)


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_mtime_ns) == (b.st_dev, b.st_ino, b.st_mtime_ns)


def _remove_if(lock: Path, expected: tuple[os.stat_result, bytes] | None = None, token: str | None = None) -> bool:
    """Remove the lock file if it is still `expected` (same file, same content) or carries `token`.

    Unlinking by name after a check could remove a lock that replaced the checked one in between
    (a holder's own release racing a takeover, or two takers). Instead the lock is renamed to a
    private name (atomic), checked there, and put back with link() (which never overwrites) when it
    turns out to be someone else's. True when the expected lock was removed."""
    tomb = lock.with_name(f"{lock.name}.{uuid.uuid4().hex}.removed")
    try:
        os.rename(lock, tomb)
    except FileNotFoundError:
        return False
    try:
        got = _snapshot(tomb)
        if got is not None:
            if expected is not None:
                mine = _same_file(got[0], expected[0]) and got[1] == expected[1]
            else:
                owner = _parse_owner(got[1])
                mine = isinstance(owner, dict) and owner.get("token") == token
            if mine:
                return True
        try:
            os.link(tomb, lock)  # another process's lock: put it back
        except FileExistsError:
            log.warning(
                "lock %s changed hands while it was being removed; its holder will find it lost and write nothing", lock
            )
        except OSError:  # a file system without hard links: move it back unless a new lock is there
            if not os.path.lexists(lock):
                try:
                    os.rename(tomb, lock)
                except OSError:
                    pass
        return False
    finally:
        tomb.unlink(missing_ok=True)


def lock_holder(run_dir: Path, timing: LockTiming | None = None) -> dict[str, Any] | None:
    """The content of the run folder's lock while it is held (not stale); None when free or stale.

    For readers such as a grid's summary or a report, to tell "still running elsewhere" from "killed".
    """
    lock = Path(run_dir) / LOCK
    try:
        st = os.stat(lock)
    except FileNotFoundError:
        return None
    owner = _read_owner(lock)
    if stale_reason(owner, st.st_mtime, timing or lock_timing()) is not None:
        return None
    return owner or {}


class RunLock:
    """What `run_lock` yields: truthy when this process holds the run folder.

    `held()` re-reads the lock file (cheap) and says whether it still carries our token; `lost` is set
    by the heartbeat thread when it finds that another process took the lock over.
    """

    def __init__(self, path: Path, token: str, acquired: bool) -> None:
        self.path = path
        self.token = token
        self.acquired = acquired
        self.lost = False

    def __bool__(self) -> bool:
        return self.acquired

    def held(self) -> bool:
        """Whether this process still holds the lock (the file carries our token): checked before writing results."""
        if not self.acquired or self.lost:
            return False
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self.lost = True
            return False
        except OSError:  # a passing file-system error is no evidence that someone else holds it
            return True
        owner = _parse_owner(raw)  # None for an empty or partial file: another process's fresh lock
        self.lost = owner is None or owner.get("token") != self.token
        return not self.lost

    def _beat(self, period: float, stop: threading.Event) -> None:
        while not stop.wait(period):
            if not self.held():
                log.warning("lock %s was taken over by another process; this run will not write results", self.path)
                return
            try:
                os.utime(self.path)
            except OSError:  # vanished between the check and the touch: the next check says so
                pass


def _try_create(lock: Path, content: bytes) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, content)
    finally:
        os.close(fd)
    return True


def _take_over(lock: Path, seen: os.stat_result, timing: LockTiming) -> bool:
    """Remove the stale lock `seen`, serialised with other takers; True when it was removed."""
    mutex = lock.with_name(lock.name + TAKEOVER_SUFFIX)
    for _ in range(2):
        try:
            os.close(os.open(mutex, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            break
        except FileExistsError:
            # Another process is taking over right now (microseconds). A takeover file older than
            # the expiry was left by a taker that died inside that window: clear it and try again.
            try:
                if time.time() - os.stat(mutex).st_mtime <= timing.expiry_s:
                    return False
                mutex.unlink(missing_ok=True)
            except OSError:
                pass
    else:
        return False
    try:
        now = _snapshot(lock)  # the content judged and the mtime judged are those of one file
        if now is None:
            return True  # released meanwhile: compete for it with O_EXCL
        if not _same_file(now[0], seen):
            return False  # a new holder, or a heartbeat: not the lock we judged stale
        reason = stale_reason(_parse_owner(now[1]), now[0].st_mtime, timing)
        if reason is None:
            return False
        log.info("taking over the lock %s: %s", lock, reason)
        return _remove_if(lock, expected=now)
    finally:
        mutex.unlink(missing_ok=True)


@contextmanager
def run_lock(run_dir: Path, timing: LockTiming | None = None) -> Iterator[RunLock]:
    """Exclusive claim on a run folder; yields a RunLock that is falsy when another live holder has it.

    While held, a daemon thread refreshes the lock's heartbeat every `timing.heartbeat_s` seconds;
    the lock is removed on exit if it is still ours. See the module docstring for staleness rules.
    """
    timing = timing or lock_timing()
    lock = Path(run_dir) / LOCK
    token = uuid.uuid4().hex
    me = {**_machine(), "pid": os.getpid(), "start": process_start(os.getpid()), "token": token,
          "created": time.time(), "heartbeat_s": timing.heartbeat_s, "expiry_s": timing.expiry_s}
    content = json.dumps(me).encode()
    acquired = False
    for _ in range(3):
        if _try_create(lock, content):
            acquired = True
            break
        try:
            seen = os.stat(lock)
        except FileNotFoundError:
            continue  # released between our attempt and the stat
        if stale_reason(_read_owner(lock), seen.st_mtime, timing) is None:
            break
        if not _take_over(lock, seen, timing):
            break
    claim = RunLock(lock, token, acquired)
    if not acquired:
        yield claim
        return
    stop = threading.Event()
    beat = threading.Thread(target=claim._beat, args=(timing.heartbeat_s, stop), daemon=True, name=f"heartbeat {lock}")
    beat.start()
    try:
        yield claim
    finally:
        stop.set()
        beat.join()
        if not claim.lost:
            _remove_if(lock, token=token)  # only if it still carries our token
