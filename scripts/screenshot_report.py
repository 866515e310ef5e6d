#!/usr/bin/env python3
"""Render a report's index.html in headless Chromium and save a PNG screenshot.

Why: the HTML report is meant to be self-contained (plotly.js and SVG inline, no network); a
screenshot taken with networking disabled shows that its plots really render, which neither the
Markdown nor a file-exists check can. `dump_dom` gives the page as the browser left it, for tests
(the report's `#selftest`). Usage:

    python scripts/screenshot_report.py RESULTS/report/index.html [--out shot.png] [--width 1400] [--height 3000]

Needs Debian's `chromium` (apt-get install -y chromium); exits 2 with a one-line message if it is
missing or fails.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("screenshot_report")
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium-compatible browser on PATH, or None."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(html: Path, png: Path, *, width: int = 1400, height: int = 3000, browser: str | None = None,
               timeout_s: float = 120.0) -> Path:
    """Screenshot `html` into `png` with networking and background services off; returns `png`."""
    browser = browser or find_chromium()
    if browser is None:
        raise RuntimeError("no chromium found on PATH; install it with `apt-get install -y chromium`")
    html = Path(html).resolve()
    if not html.is_file():
        raise RuntimeError(f"{html} does not exist; write a report first with `nas-harness report RESULTS_DIR`")
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="nas-harness-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={width},{height}", html.as_uri()]
        log.info("running %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if not png.is_file() or png.stat().st_size == 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {tail[0]}")
    return png


def dump_dom(html: Path, *, fragment: str = "", budget_ms: int = 10000, browser: str | None = None,
             timeout_s: float = 180.0) -> str:
    """The DOM of `html` (address + `#fragment`) after `budget_ms` of virtual time, as headless Chromium serialises
    it: what the page's own scripts made of it (the report's `#selftest` writes its findings into it)."""
    browser = browser or find_chromium()
    if browser is None:
        raise RuntimeError("no chromium found on PATH; install it with `apt-get install -y chromium`")
    html = Path(html).resolve()
    if not html.is_file():
        raise RuntimeError(f"{html} does not exist; write a report first with `nas-harness report RESULTS_DIR`")
    url = html.as_uri() + (f"#{fragment}" if fragment else "")
    with tempfile.TemporaryDirectory(prefix="nas-harness-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={profile}",
               f"--virtual-time-budget={budget_ms}", "--dump-dom", url]
        log.info("running %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0 or "<html" not in proc.stdout:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"chromium dumped no page (exit {proc.returncode}): {tail[0]}")
    return proc.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", help="the report's index.html")
    parser.add_argument("--out", help="PNG to write (default: next to the HTML, screenshot.png)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--browser", help="browser executable (default: chromium on PATH)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    html = Path(args.html)
    out = Path(args.out) if args.out else html.with_name("screenshot.png")
    try:
        path = screenshot(html, out, width=args.width, height=args.height, browser=args.browser)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        sys.stderr.write(f"screenshot_report: error: {exc}\n")
        return 2
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
