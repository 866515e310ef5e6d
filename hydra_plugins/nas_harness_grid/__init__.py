"""Hydra plugins of nas-harness: the `grid` sweeper and launcher (see grid.py)."""
