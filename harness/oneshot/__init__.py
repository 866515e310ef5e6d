"""One-shot (weight-sharing) and training-free NAS on the NB201 and DARTS cell spaces.

Why: the tabular strategies never train anything; these methods train one supernet that holds every
cell of a space at once (DARTS, GDAS, SPOS) or score untrained networks (zero-cost proxies), and
then look the cell they pick up in the benchmark (a table, or a surrogate on the DARTS space), so that their picks can be compared with the
tabular strategies' on the same scale (regret against the benchmark's optimum).
"""
from __future__ import annotations

from harness.oneshot.darts_supernet import DartsSupernet
from harness.oneshot.search import METHODS, OneShotConfig, run_oneshot
from harness.oneshot.spaces import SPACES, oneshot_space
from harness.oneshot.supernet import MixedEdge, NB201Supernet

__all__ = ["METHODS", "SPACES", "DartsSupernet", "MixedEdge", "NB201Supernet", "OneShotConfig", "oneshot_space", "run_oneshot"]
