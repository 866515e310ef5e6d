"""The grid's progress bar on stderr, fed by the runs that report to the driver's ledger folder."""
from __future__ import annotations

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
    """Progress bar fed by the ledger until `stop` is set; reads each worker's file from where it stopped."""
    from tqdm import tqdm

    from harness.grid.ledger import LINES, read_lines

    offsets: dict[str, int] = {}
    failed = 0
    with tqdm(total=total, unit="run", desc="grid", file=sys.stderr, disable=None) as bar:
        while True:
            done = stop.is_set()
            new = 0
            for entry in os.scandir(ledger):
                if not entry.name.endswith(LINES):
                    continue
                try:
                    entries, offsets[entry.name] = read_lines(Path(entry.path), offsets.get(entry.name, 0))
                except OSError:
                    continue
                new += len(entries)
                failed += sum(e.get("status") == "failed" for e in entries if isinstance(e, dict))
            if new:
                bar.update(new)
                bar.set_postfix(failed=failed, refresh=False)
            if done:
                return
            stop.wait(0.5)
