"""Progress bars for the commands that can wait (benchmarks --build, convert, rank-stats, surrogate fit, report).

One helper so every command behaves alike: a tqdm bar on stderr that appears only once the wait
has lasted DELAY seconds (short commands print nothing extra) and never when stderr is not a
terminal (tqdm's `disable=None`), so pipes, logs and tests get no bar lines.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
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
def _ticking(bar: Any, name: str) -> Iterator[None]:
    """Redraw `bar` twice a second from a helper thread once DELAY has passed (its clock keeps running while
    the caller's one long step reports nothing), and close it at the end."""
    stop = threading.Event()

    def tick() -> None:
        if stop.wait(DELAY):
            return
        while not stop.wait(REFRESH_S):
            bar.refresh()

    clock = None if bar.disable else threading.Thread(target=tick, name=f"{name}-progress", daemon=True)
    if clock is not None:
        clock.start()
    try:
        yield
    finally:
        stop.set()
        if clock is not None:
            clock.join()
        bar.close()


@contextmanager
def waiting(desc: str) -> Iterator[Any]:
    """A bar with a running clock for one long call that reports no progress of its own (a model fit, a
    bootstrap); it appears after DELAY seconds."""
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, file=sys.stderr, disable=None, leave=False, delay=DELAY,
               bar_format="{desc} [{elapsed}]")
    with _ticking(bar, desc):
        yield bar


@contextmanager
def stages(names: list[str], desc: str = "report") -> Iterator[Callable[[str], None]]:
    """One bar over a command's stages (`nas-harness report`: reading and statistics, plots, the page), which
    report no progress of their own: the context gives `step(name)`, which marks the previous stage done and
    shows `name` as running, with its clock."""
    bar = progress_bar(len(names), unit="stage", bar_format=desc + ": {desc} ({n_fmt}/{total_fmt}) [{elapsed}]")
    started = [False]

    def step(name: str) -> None:
        if started[0]:
            bar.update(1)
        started[0] = True
        bar.set_description_str(name, refresh=False)

    with _ticking(bar, desc):
        yield step
        if started[0]:
            bar.update(1)
