"""The report's plot speed-ups must not change what the plots show.

The truth here is matplotlib's own drawing: a figure drawn with `_merge_minor_xticks` must give the same
pixels as the same figure with matplotlib's per-tick minor ticks, and the same tick marks in its SVG.
"""

from __future__ import annotations

import gc
import io
import re

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from harness.report.plots import _figure, _gc_paused, _merge_minor_xticks  # noqa: E402


def _log_panels(merge: bool):
    """Three log-x panels like the report's time curves (step lines, bands, grid, symlog regret)."""
    fig = _figure(15, 5.4, left=0.055, right=0.99, top=0.86, bottom=0.3, wspace=0.25)
    axes = fig.subplots(1, 3)
    rng = np.random.default_rng(0)
    for i, ax in enumerate(axes):
        x = np.geomspace(0.031 * (i + 1), 7.3 * (i + 1), 80)
        y = np.cumsum(rng.random(80))
        ax.step(x, y, where="post", lw=1.8, label="a")
        ax.fill_between(x, y - 1, y + 1, step="post", alpha=0.2, lw=0)
        ax.set_xscale("log")
        ax.tick_params(labelsize=10)
        ax.grid(True, alpha=0.3)
        ax.set_title(f"panel {i}")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center")
    if merge:
        for ax in axes:
            _merge_minor_xticks(ax)
    return fig


def _render(fig, fmt: str) -> bytes:
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "test"}):  # fixed marker ids, so two SVGs compare
        fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else {"Software": None})
    return buf.getvalue()


def test_merged_minor_ticks_draw_the_same_pixels_as_matplotlibs_ticks():
    from matplotlib.image import imread

    ref = imread(io.BytesIO(_render(_log_panels(merge=False), "png")))
    new = imread(io.BytesIO(_render(_log_panels(merge=True), "png")))
    assert ref.shape == new.shape
    assert np.array_equal(ref, new)


def test_merged_minor_ticks_put_the_same_marks_into_the_svg():
    """Same marker uses at the same positions; only their grouping (one line vs one group per tick) differs."""
    use = re.compile(r'<use xlink:href="#(m[0-9a-f]+)" x="([-0-9.]+)" y="([-0-9.]+)"')

    def marks(svg: bytes) -> list[tuple[str, str, str]]:
        return sorted(use.findall(svg.decode()))

    ref, new = marks(_render(_log_panels(False), "svg")), marks(_render(_log_panels(True), "svg"))
    assert len(ref) > 30  # the minor ticks of three log axes are there at all
    assert ref == new


def test_merged_minor_ticks_are_not_data_lines():
    fig = _log_panels(merge=True)
    for ax in fig.axes:
        assert all(line.get_label().startswith("_") for line in ax.get_lines()[1:])  # the step line is first
        assert ax.get_legend_handles_labels()[1] == ["a"]


def test_merge_leaves_linear_axes_alone():
    fig = _figure(4, 3)
    ax = fig.subplots()
    ax.plot([1, 2, 3], [1, 4, 9])
    before = _render(fig, "png")
    _merge_minor_xticks(ax)
    assert _render(fig, "png") == before
    assert not ax.artists


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_pause_restores_the_collectors_state(enabled):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with _gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), _gc_paused():
            raise RuntimeError("boom")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
