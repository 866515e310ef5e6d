"""Self-describing run results: RUN_ID, manifest, atomic writes and manifest validation.

A run's folder `<sweep>/<RUN_ID>/` holds `trajectory.parquet` and `manifest.json`. RUN_ID is a hash
of the resolved run config (no output paths in it), so the same run always lands in the same
folder and a re-run grid finds its finished runs. The manifest is written last and records the
trajectory's sha256: a result is valid only when both files exist and agree, so a run killed at
any point is simply run again.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tabular.atomic import atomic_path
from tabular.errors import NasHarnessError

TRAJECTORY = "trajectory.parquet"
MANIFEST = "manifest.json"
LOG = "run.log"
# The run's clock: one-shot strategies time their trajectory (sim_time, cost) in real compute
# seconds and mark it with CLOCK_COLUMN = REAL_CLOCK on every row; engine trajectories have no
# such column and their clock is simulated (the benchmark's recorded training time).
CLOCK_COLUMN = "clock"
REAL_CLOCK = "real"
SIMULATED_CLOCK = "simulated"


def run_id(config: dict[str, Any]) -> str:
    """Stable 16-hex-digit id of a resolved run config (key order and process do not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_trajectory(path: Path, trajectory: pd.DataFrame) -> None:
    """Write a trajectory atomically, so a killed run never leaves a half-written file that looks whole."""
    with atomic_path(path) as tmp:
        trajectory.to_parquet(tmp, index=False)


class ManifestError(NasHarnessError):
    """A manifest.json that exists but is not what `nas-harness run` writes (not JSON, wrong shape or types)."""


MANIFEST_STATUSES = ("running", "complete", "failed")
# Top-level manifest fields and their JSON types (harness.app._run_into writes them). A field may be
# absent unless REQUIRED says otherwise; when present it must have its type (int never accepts bool).
MANIFEST_FIELDS: dict[str, tuple[type, ...]] = {
    "run_id": (str,), "status": (str,), "config": (dict,), "overrides": (list,), "strategy": (str,),
    "benchmark": (str,), "seed": (int,), "start_time": (str,), "end_time": (str,), "wall_seconds": (int, float),
    "python": (str,), "platform": (str,), "host": (str,), "versions": (dict,), "git_commit": (str, type(None)),
    "git_dirty": (bool, type(None)),
    "benchmark_sha256": (str,), "benchmark_provenance": (dict,), "benchmark_path": (str,),
    "trajectory_sha256": (str,), "trajectory_rows": (int,), "error": (str,), "traceback": (str,),
}
MANIFEST_REQUIRED = ("status", "config", "strategy", "benchmark", "seed")
MANIFEST_REQUIRED_COMPLETE = ("benchmark_sha256", "trajectory_sha256", "trajectory_rows")
# config.<key>: type, required
CONFIG_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "strategy": ((dict,), True), "benchmark": ((dict,), True), "seed": ((int,), True),
    "budget": ((dict,), True), "n_workers": ((int,), True),
}
_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
               bool: "a boolean", type(None): "null"}


def _json_kind(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False  # JSON true/false is not a number or a seed
    return isinstance(value, types)


def _manifest_problem(data: Any) -> str | None:
    """What makes `data` not a manifest `nas-harness run` writes; None when it is one."""
    if not isinstance(data, dict):
        return f"it holds {_json_kind(data)}, not an object"
    required = MANIFEST_REQUIRED + (MANIFEST_REQUIRED_COMPLETE if data.get("status") == "complete" else ())
    missing = [k for k in required if k not in data]
    if missing:
        return "no " + ", ".join(repr(k) for k in missing)
    for key, types in MANIFEST_FIELDS.items():
        if key in data and not _type_ok(data[key], types):
            want = " or ".join(_JSON_NAMES.get(t, t.__name__) for t in types)
            return f"{key!r} is {_json_kind(data[key])} {data[key]!r:.40}, expected {want}"
    if data["status"] not in MANIFEST_STATUSES:
        return f"'status' is {data['status']!r:.40}, expected one of {', '.join(MANIFEST_STATUSES)}"
    if data.get("trajectory_rows", 0) < 0:
        return "'trajectory_rows' is negative"
    config = data["config"]
    for key, (config_types, needed) in CONFIG_FIELDS.items():
        if key not in config:
            if needed:
                return f"no 'config.{key}'"
        elif not _type_ok(config[key], config_types):
            return (f"'config.{key}' is {_json_kind(config[key])} {config[key]!r:.40}, "
                    f"expected {_JSON_NAMES[config_types[0]]}")
    for key in ("strategy", "benchmark"):
        if not isinstance(config[key].get("name"), str):
            return f"'config.{key}.name' is {_json_kind(config[key].get('name'))}, expected a string"
    if not isinstance(config["benchmark"].get("seed_policy"), str):
        policy = config["benchmark"].get("seed_policy")
        return f"'config.benchmark.seed_policy' is {_json_kind(policy)}, expected a string"
    for key, types in (("evaluations", (int, type(None))), ("sim_seconds", (int, float, type(None)))):
        value = config["budget"].get(key)
        if not _type_ok(value, types):
            return f"'config.budget.{key}' is {_json_kind(value)} {value!r:.40}, expected a number or null"
    return None


def validate_manifest(data: Any, where: str | Path) -> dict[str, Any]:
    """`data` (a parsed manifest.json) when it has the fields and types `nas-harness run` writes.

    The one check every reader of manifests (report, regress, reproduce, the grid's resume) goes
    through, so a hand-edited or foreign manifest gives one line naming the file instead of a
    KeyError or TypeError deep inside whichever command read it. Raises ManifestError.
    """
    problem = _manifest_problem(data)
    if problem is not None:
        raise _damaged(where, problem)
    return data


def _damaged(where: str | Path, problem: str) -> ManifestError:
    return ManifestError(f"{where} is damaged ({problem}); delete the run folder or re-run the grid to redo it")


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The validated manifest of a run folder; NasHarnessError when it is missing, ManifestError when damaged."""
    path = run_dir / MANIFEST
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise NasHarnessError(f"{path} does not exist; {run_dir} is not a finished run folder") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"unreadable: {type(exc).__name__}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _damaged(path, f"not valid JSON: {exc.msg}") from None
    except RecursionError:  # json's decoder recurses once per nesting level
        raise _damaged(path, "not valid JSON: nested too deeply") from None
    return validate_manifest(data, path)


def result_problem(run_dir: Path) -> str | None:
    """None when the run folder holds a complete, consistent result; else what is wrong with it.

    A damaged manifest (harness.results.validate_manifest) is a problem like any other, so the
    grid's resume runs such a run again.
    """
    return result_state(run_dir)[0]


def result_state(run_dir: Path) -> tuple[str | None, dict[str, Any] | None, pq.ParquetFile | None]:
    """result_problem's verdict with what it read: (problem or None, the validated manifest or None,
    the trajectory opened as a ParquetFile when nothing is wrong), for callers that go on to use them
    (the grid's closing summary) instead of reading the run folder again."""
    if not (run_dir / MANIFEST).is_file():
        return "no manifest", None, None
    try:
        manifest = read_manifest(run_dir)
    except ManifestError:
        return "damaged manifest", None, None
    problem, parquet = result_check(run_dir, manifest)
    return problem, manifest, parquet


def result_check(run_dir: Path, manifest: dict[str, Any]) -> tuple[str | None, pq.ParquetFile | None]:
    """(what is wrong with the result of a run whose validated `manifest` was already read, or None; the
    trajectory opened as a ParquetFile when nothing is wrong).

    Why separate from result_problem: a reader of thousands of runs (the report) reads each manifest
    once and each trajectory file once (its bytes are hashed, then parsed from memory), instead of
    opening both twice.
    """
    if manifest["status"] != "complete":
        return f"status {manifest['status']!r}", None
    traj_path = run_dir / TRAJECTORY
    try:
        data = traj_path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return "no trajectory", None
    if hashlib.sha256(data).hexdigest() != manifest["trajectory_sha256"]:
        return "trajectory does not match the manifest's sha256", None
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data), pre_buffer=False)
        rows = parquet.metadata.num_rows
    except Exception:  # pyarrow raises several types for damaged files
        return "unreadable trajectory", None
    if rows != manifest["trajectory_rows"]:
        return "trajectory row count differs from the manifest", None
    return None, parquet
