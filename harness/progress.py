"""Progress bars for the commands that can wait (benchmarks --build, convert, rank-stats, surrogate fit).

One helper so every command behaves alike: a tqdm bar on stderr that appears only once the wait
has lasted DELAY seconds (short commands print nothing extra) and never when stderr is not a
terminal (tqdm's `disable=None`), so pipes, logs and tests get no bar lines.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DELAY = 3.0  # seconds before a bar appears: only waits a user notices get one
REFRESH_S = 0.5


def progress_bar(total: float | None = None, desc: str = "", unit: str = "it", **kwargs: Any) -> Any:
    """A tqdm bar (use as a context manager: `with progress_bar(n, "fit") as bar: ... bar.update()`)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None, delay=DELAY, leave=False,
                dynamic_ncols=True, **kwargs)


@contextmanager
def waiting(desc: str) -> Iterator[Any]:
    """A bar with a running clock for one long call that reports no progress of its own (a model fit, a
    bootstrap); it appears after DELAY seconds and is redrawn twice a second from a helper thread."""
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, file=sys.stderr, disable=None, leave=False, delay=DELAY,
               bar_format="{desc} [{elapsed}]")
    stop = threading.Event()

    def tick() -> None:
        if stop.wait(DELAY):
            return
        while not stop.wait(REFRESH_S):
            bar.refresh()

    clock = None if bar.disable else threading.Thread(target=tick, name=f"{desc}-progress", daemon=True)
    if clock is not None:
        clock.start()
    try:
        yield bar
    finally:
        stop.set()
        if clock is not None:
            clock.join()
        bar.close()
