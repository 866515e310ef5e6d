"""A report's output folder: which folders may be written, the report.json marker, and stale files.

The output folder is refused when it is non-empty and not a previous report (unless --force,
which replaces same-named files and keeps all others); rewriting a previous report removes only the
files that report itself listed, and of those only report file names that resolve inside the
output folder (stale_files). Nothing is written through a symbolic link that leads out of the
results folder or out of the output folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from harness.report.labels import PLOTS
from harness.report.load import REPORT_MARKER
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

GENERATOR = "nas-harness report"


# Every file name a report writes (render_files), and the plots' pattern: rewriting a previous
# report.json cannot make `report` delete anything else. A new output file must be added here.
REPORT_FILES = frozenset(
    {
        "leaderboard.md",
        "leaderboard.csv",
        "leaderboard.tex",
        "search_cost.csv",
        "runs.csv",
        "curves.csv",
        "hypervolume.csv",
        "op_histograms.csv",
        "index.html",
        "transfer.md",
        "transfer.csv",
        "transfer_runs.csv",
    }
)  # the last three: --score-on
PLOT_FILE_RE = re.compile(rf"^{PLOTS}/[A-Za-z0-9_-]+\.(png|svg)$")


def is_report_file(rel: str) -> bool:
    """True for a relative path (forward slashes) that a report writes: a known name or plots/<stem>.png|svg."""
    return rel in REPORT_FILES or PLOT_FILE_RE.match(rel) is not None


def _read_marker(out: Path) -> tuple[dict | None, str]:
    """(marker, "") for a previous report's report.json; (None, why) when there is none or it is damaged.

    A damaged marker (not JSON, not an object, not ours, `files` not a list of strings) is treated
    as absent: the folder then counts as someone else's, which is refused without --force.
    """
    path = out / REPORT_MARKER
    if not path.is_file():
        return None, ""
    try:
        marker = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None, "it is not valid JSON"
    if not isinstance(marker, dict) or marker.get("generator") != GENERATOR:
        return None, f"it is not a {GENERATOR!r} marker"
    files = marker.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None, "its 'files' is not a list of file names"
    return marker, ""


def check_out_dir(out: Path, results_root: Path, force: bool) -> dict | None:
    """Refuse an output folder we could clobber; returns the previous report's marker, if any."""
    for folder in (out, out / PLOTS):
        if folder.is_symlink():
            raise NasHarnessError(
                f"{folder} is a symbolic link (to {os.readlink(folder)}); a report is written only into a real folder: "
                "remove the link, or pass the folder it points to as --out"
            )
    if out.resolve() == results_root.resolve():
        raise NasHarnessError(
            f"--out {out} is the results folder itself; choose a subfolder (default: {results_root / 'report'})"
        )
    if out.exists() and not out.is_dir():
        raise NasHarnessError(f"--out {out} exists and is not a folder")
    previous, damaged = _read_marker(out) if out.is_dir() else (None, "")
    if out.is_dir() and any(out.iterdir()) and previous is None and not force:
        why = f" ({REPORT_MARKER} is there but {damaged}, so it is ignored)" if damaged else ""
        raise NasHarnessError(
            f"--out {out} is not empty and holds no previous report{why}; "
            "choose an empty folder, or pass --force to write "
            "into it (same-named files are replaced, other files are kept)"
        )
    return previous


def stale_files(previous: dict, out: Path, keep: set[str] | dict[str, bytes]) -> list[Path]:
    """Files of the previous report (its report.json `files`) that this one no longer writes and may delete.

    Only report file names (is_report_file) that resolve, symlinks followed, strictly inside `out`
    qualify; every other entry (absolute paths, `..`, symlinks leading out, names a report never
    writes) is left alone with a warning, whatever report.json says.
    """
    root = out.resolve()
    found = []
    for rel in previous.get("files", []):
        if rel in keep:
            continue
        path = out / rel
        if not is_report_file(rel):
            log.warning("%s lists %r, which is not a file a report writes; left alone", out / REPORT_MARKER, rel)
            continue
        resolved = path.resolve()
        if resolved == root or not resolved.is_relative_to(root):
            log.warning("%s lists %r, which leads outside %s; left alone", out / REPORT_MARKER, rel, out)
            continue
        if path.is_file():
            found.append(path)
    return found
