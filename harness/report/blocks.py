"""The document model of a report page: one `Block` per heading, paragraph, table, figure or list.

Its own module so that every section writer (harness.report.document, harness.report.ops_blocks)
and both page writers (Markdown, HTML) share one type without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Block:
    """One element of a report page; Markdown and HTML are both written from a list of these, so they agree."""
    kind: str  # h1 h2 h3 p table figure list
    text: str = ""
    headers: list[str] | None = None
    rows: list[list[str]] | None = None
    items: list[str] | None = None
    figure: str = ""  # plot stem under plots/
