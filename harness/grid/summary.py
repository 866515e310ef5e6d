"""The grid's closing summary: each run's outcome as the results folder shows it, and the exit code.

Exit codes of `nas-harness run` (docs/EXPERIMENTS.md, "Summary and exit code"):

- 0: every run of the grid has a result (complete now, or skipped because it already had one);
- 1: at least one run failed (a FAILED line each, with its error and log), or Hydra or the
  launcher could not start the grid (2: a mistake found before Hydra started, harness.grid.checks);
- 3 (EXIT_INCOMPLETE): no run failed, but some are still running in another process that holds
  their live lock (`running-elsewhere`): the grid is not complete yet; run it again later.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness.grid.digest import digest, final_regret
from harness.grid.run_folder import ELSEWHERE, linked_path
from harness.results import LOG, read_manifest
from harness.results.manifest import result_state
from harness.run_lock import lock_holder
from tabular.errors import NasHarnessError

EXIT_FAILED = 1
EXIT_INCOMPLETE = 3


def grid_outcomes(results_root: Path, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run's outcome as its folder under `results_root` shows it (the driver's view).

    The workers' own reports only say which runs the grid had and which were skipped or left to
    another grid: a run counts as complete only when the driver finds a valid result, as failed
    with its manifest's error when the manifest says so, and as failed with the problem otherwise
    (a worker killed before writing, or workers writing to a folder the driver does not see). A
    run left to another grid that has its result by now counts as skipped. A complete or skipped run's
    entry also has `found`: (strategy, benchmark, final regret) for the closing table
    (harness.grid.digest). A run whose launcher job did not return (status None: the sweeper gives
    the reason as its error) and whose lock is still
    live is still running (its job outlived the launcher's wait); without a result it failed. A
    run folder that is a symbolic link counts as failed whatever it leads to.
    """
    out = []
    for job in jobs:
        rid, reported = job["run_id"], job.get("status")
        run_dir = Path(results_root) / rid
        entry = {"run_id": rid, "overrides": job.get("overrides") or [], "log": str(run_dir / LOG), "error": ""}
        link = linked_path(run_dir)
        problem, manifest, parquet = ("no run folder", None, None) if not run_dir.is_dir() else result_state(run_dir)
        if link is not None:
            entry["status"] = "failed"
            entry["error"] = str(job.get("error") or f"{link} is a symbolic link; remove it and run the grid again")
        elif problem is None:
            entry["status"] = "skipped" if reported in ("skipped", ELSEWHERE) else "complete"
            assert manifest is not None and parquet is not None
            # What the closing table needs, from the files just checked (a grid of thousands must not read them twice).
            entry["found"] = (str(manifest.get("strategy")), str(manifest.get("benchmark")), final_regret(parquet))
        elif reported in (ELSEWHERE, None) and lock_holder(run_dir) is not None:  # None: its job did not return
            entry["status"] = ELSEWHERE
        else:
            entry["status"] = "failed"
            try:
                manifest = read_manifest(run_dir)
            except NasHarnessError:
                manifest = {}
            if manifest.get("status") == "failed":
                entry["error"] = str(manifest.get("error") or "failed (no error recorded)")
            else:
                said = f"the worker reported {reported!r}"
                if reported is None and job.get("error"):  # its launcher job died: the sweeper says how
                    said = str(job["error"])
                entry["error"] = f"no result in {run_dir} ({problem}); {said}"
                if reported == "complete":
                    entry["error"] += ": is hydra.sweep.dir an absolute path on a file system the workers share?"
        out.append(entry)
    return out


def summarise(entries: list[dict[str, Any]]) -> int:
    """Print the grid's counts and one FAILED line per failed run (stderr); returns the exit code.

    1 when any run failed; 3 when none failed but some are still running elsewhere (the grid is not
    complete: a script that goes on to `report` must not take it for done); 0 otherwise.
    """
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["status"]] = counts.get(e["status"], 0) + 1
    failures = [e for e in entries if e["status"] == "failed"]
    line = "runs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    if not failures and counts.get(ELSEWHERE):
        print(
            f"{line}; grid not complete: {counts[ELSEWHERE]} run(s) are being run by another process that holds "
            f"their lock; run the same command again once it has finished (exit code {EXIT_INCOMPLETE})",
            file=sys.stderr,
        )
        return EXIT_INCOMPLETE
    if len(entries) > 1 or any(e["status"] != "complete" for e in entries):
        print(line, file=sys.stderr)
    for e in failures:
        print(f"FAILED {e['run_id']} [{' '.join(e['overrides'])}]: {e['error']} (log: {e['log']})", file=sys.stderr)
    digest(entries)  # stdout: the run's best architecture, or the grid's method x benchmark table
    return EXIT_FAILED if failures else 0
