"""Surrogate models and surrogate benchmarks (issue 7): not implemented yet in this release."""
