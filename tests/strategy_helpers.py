"""Shared pieces of the strategy tests: a single-objective NB201 problem and its observations."""
from __future__ import annotations

from harness.strategies import Objective, Observation, Problem

PROBLEM = Problem(objectives=(Objective("valid_acc", True),), fidelities=(200.0,))


def observe(value: float) -> Observation:
    return Observation(values={"valid_acc": float(value)}, fidelity=200.0, cost=1.0)
