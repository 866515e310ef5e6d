"""The grid's progress bar on stderr, fed by the runs that report to the driver's ledger folder."""
from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path


def count_jobs(argv: list[str]) -> int | None:
    """Number of jobs a `-m` sweep will launch (product of the sweep lists), for the progress bar's total."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in argv if not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # Hydra reports the problem itself when it parses the same overrides
        return None
    total = 1
    for override in parsed:
        if override.is_sweep_override():
            total *= len(list(override.sweep_string_iterator()))
    return total


def progress(ledger: Path, total: int | None, stop: threading.Event) -> None:
    """Progress bar fed by the ledger until `stop` is set; reads each entry once (a grid can have thousands)."""
    from tqdm import tqdm

    seen: set[str] = set()
    failed = 0
    with tqdm(total=total, unit="run", desc="grid", file=sys.stderr, disable=None) as bar:
        while True:
            done = stop.is_set()
            new = [
                p
                for p in os.scandir(ledger)
                if p.name.endswith(".json") and not p.name.startswith(".") and p.name not in seen
            ]
            for entry in new:
                seen.add(entry.name)
                try:
                    failed += json.loads(Path(entry.path).read_text())["status"] == "failed"
                except (OSError, ValueError):
                    pass
            if new:
                bar.update(len(new))
                bar.set_postfix(failed=failed, refresh=False)
            if done:
                return
            stop.wait(0.5)
