"""Rank statistics between architecture metrics, and concordance of strategy rankings.

Why: a benchmark is only useful if its cheap signals (validation accuracy, 12-epoch accuracy,
zero-cost proxies, latency on one device) rank architectures like the expensive truth (test
accuracy, 200 epochs, latency on another device). This package measures that agreement with the
statistics the NAS literature reports, so the numbers in docs/STATISTICS.md come from one place.
It is split by job:

- `stats`: the statistics on plain arrays (Spearman, Kendall tau-b, sparse Kendall, bootstrap CIs,
  top-k agreement, Kendall's W); no files, no benchmarks;
- `spec`: the grammar of source arguments (`ORIGIN:COLUMN[:MOD...]`);
- `sources`: loading sources (stores, tables, zero-cost JSON) into vectors aligned by architecture;
- `pairs`: one comparison of two sources (`correlate`, `PairResult`);
- `concordance`: Kendall's W of strategy rankings in a results folder (`rank-stats --strategies`).

The command line is `harness.stats_cli`. The names below are the public API (`from harness import
rank_stats as rk; rk.correlate(...)`).
"""

from __future__ import annotations

from harness.rank_stats.concordance import StrategyConcordance, strategy_concordance
from harness.rank_stats.pairs import PairResult, correlate
from harness.rank_stats.sources import (
    ARCH_COLUMNS,
    INDEX_COLUMNS,
    STORE_SUFFIXES,
    Source,
    align_by_id,
    resolve_sources,
)
from harness.rank_stats.spec import TABLE_SUFFIXES, Spec, is_table, parse_spec, parse_specs
from harness.rank_stats.stats import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_LEVEL,
    Concordance,
    bootstrap_correlations,
    finite_pairs,
    kendall,
    kendall_replicates,
    kendalls_w,
    parse_k,
    percentile_ci,
    sparse_kendall,
    spearman,
    spearman_replicates,
    top_k_membership,
    top_k_overlap,
)

__all__ = [
    "ARCH_COLUMNS",
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_LEVEL",
    "INDEX_COLUMNS",
    "STORE_SUFFIXES",
    "TABLE_SUFFIXES",
    "Concordance",
    "PairResult",
    "Source",
    "Spec",
    "StrategyConcordance",
    "align_by_id",
    "bootstrap_correlations",
    "correlate",
    "finite_pairs",
    "is_table",
    "kendall",
    "kendall_replicates",
    "kendalls_w",
    "parse_k",
    "parse_spec",
    "parse_specs",
    "percentile_ci",
    "resolve_sources",
    "sparse_kendall",
    "spearman",
    "spearman_replicates",
    "strategy_concordance",
    "top_k_membership",
    "top_k_overlap",
]
