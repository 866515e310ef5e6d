"""Progress of `nas-harness report` on stderr: one bar over its stages (harness.progress: tqdm, shown only
once the wait has lasted a few seconds and only when stderr is a terminal).

Why stages: reading the runs with the statistics (bootstrap bands, tests), then the plots and the
page, each take seconds on a large grid and report no progress of their own; the bar says which
one is running and for how long (its clock is redrawn twice a second from a helper thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harness.progress import DELAY, REFRESH_S, progress_bar


@contextmanager
def stages(names: list[str], desc: str = "report") -> Iterator[Callable[[str], None]]:
    """A context giving `step(name)`: marks the previous stage done and shows `name` as running."""
    bar = progress_bar(len(names), unit="stage", bar_format=desc + ": {desc} ({n_fmt}/{total_fmt}) [{elapsed}]")
    started = [False]
    stop = threading.Event()

    def step(name: str) -> None:
        if started[0]:
            bar.update(1)
        started[0] = True
        bar.set_description_str(name, refresh=False)

    def tick() -> None:
        if stop.wait(DELAY):
            return
        while not stop.wait(REFRESH_S):
            bar.refresh()

    clock = None if bar.disable else threading.Thread(target=tick, name=f"{desc}-progress", daemon=True)
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
