"""The report's view of a results folder: harness.results' one model, plus report-only formatting.

Runs are discovered, classified (complete / failed / partial / damaged / duplicate /
running-elsewhere), labelled and de-duplicated by `harness.results.load_results`, the same code
that `nas-harness regress`, `rank-stats --strategies`, `validate` and `surrogate fit --results` use,
so all of them agree on every label and count. The names below are re-exported for the report's
modules and for older imports.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.results import (  # noqa: F401  (re-exported for the report's modules)
    REAL_CLOCK,
    REQUIRED_COLUMNS,
    RUN_ID_RE,
    SIMULATED_CLOCK,
    STATUSES,
    ResultSet,
    Run,
    budget_text,
    load_results,
    value_text,
)
from harness.results import classify as _classify  # noqa: F401  (older name, used by tests)
from harness.results.resultset import CLOCK_WORDS  # noqa: F401

REPORT_MARKER = "report.json"


def seed_ranges(seeds: Iterable[Any]) -> str:
    """Seeds as sorted, compressed ranges: 0-9, 20-29 -> "0–9, 20–29"; [3, 5] -> "3, 5"; "–" for none.

    Runs of two consecutive seeds are written out ("4, 5"), longer runs as first–last; duplicates
    count once. Seeds that are not integers (unknown, None) are listed last as "?".
    """
    seeds = list(seeds)
    values = sorted({int(s) for s in seeds if s is not None})
    unknown = any(s is None for s in seeds)
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{values[i]}–{values[j]}")
        else:
            parts.extend(str(v) for v in values[i:j + 1])
        i = j + 1
    if unknown:
        parts.append("?")
    return ", ".join(parts) or "–"
