"""Progress of `nas-harness report` on stderr: one tqdm bar over its stages, silent when stderr is not a terminal.

Why stages: reading the runs with the statistics (bootstrap bands, tests), then the plots and the
page, each take seconds on a large grid; the bar says which one is running and for how long (its
clock is redrawn twice a second, as a stage reports no progress of its own). tqdm's `disable=None`
turns it off when stderr is not a terminal (pipes, CI logs, tests), so nothing is added to
captured output.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

REFRESH_S = 0.5


@contextmanager
def stages(names: list[str], desc: str = "report") -> Iterator[Callable[[str], None]]:
    """A context giving `step(name)`: marks the previous stage done and shows `name` as running."""
    from tqdm import tqdm

    bar = tqdm(total=len(names), unit="stage", disable=None, file=sys.stderr, leave=False,
               bar_format=desc + ": {desc} ({n_fmt}/{total_fmt}) [{elapsed}]")  # fmt: skip
    started = [False]
    stop = threading.Event()

    def step(name: str) -> None:
        if started[0]:
            bar.update(1)
        started[0] = True
        bar.set_description_str(name)

    def tick() -> None:
        while not stop.wait(REFRESH_S):
            bar.refresh()

    clock = None if bar.disable else threading.Thread(target=tick, name="report-progress", daemon=True)
    if clock is not None:
        clock.start()
    try:
        yield step
        if started[0]:
            bar.update(1)
    finally:
        stop.set()
        if clock is not None:
            clock.join()
        bar.close()
