"""Acquisition functions shared by the model-based strategies (BANANAS, GP-BO).

Both are written for maximisation, matching `Observation.score` (larger is better), and are plain
vectorised numpy/scipy functions of the model's predictive distribution so they can be tested
against closed forms independently of any model.

* Expected improvement (Mockus 1978; Jones, Schonlau & Welch 1998, eq. 15), with the optional
  exploration offset `xi` of Lizotte (2008): EI(x) = E[max(f(x) - best - xi, 0)] for
  f(x) ~ N(mu, sigma^2), i.e. (mu - best - xi) Phi(z) + sigma phi(z), z = (mu - best - xi) / sigma.
  A larger `xi` demands a larger predicted gain, trading exploitation for exploration.
* Independent Thompson sampling (White, Neiswanger & Savani, BANANAS, AAAI 2021, Sec. 4): one
  independent draw per candidate from N(mean, std^2) of an ensemble's predictions (mean and
  population standard deviation across members, as in the official `acq_fn(..., 'its')`).
"""
from __future__ import annotations

import numpy as np


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """EI of maximising f ~ N(mu, sigma^2) over the incumbent `best`; sigma = 0 gives max(mu - best - xi, 0).

    Computed as sigma * (z Phi(z) + phi(z)), clipped at 0, which avoids the cancellation of the
    textbook form far below the incumbent (EI is never negative).
    """
    from scipy.stats import norm  # here, not at module level: importing a strategy stays light

    mu, sigma = np.broadcast_arrays(np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64))
    if np.any(np.isnan(sigma)) or np.any(sigma < 0):
        raise ValueError("expected_improvement needs non-negative predictive standard deviations")
    gain = mu - float(best) - float(xi)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = gain / sigma
        ei = sigma * (z * norm.cdf(z) + norm.pdf(z))
    return np.where(sigma > 0, np.maximum(ei, 0.0), np.maximum(gain, 0.0))


def ensemble_moments(predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std (ddof=0) over the ensemble axis of (n_members, n_candidates)."""
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.ndim != 2:
        raise ValueError(f"ensemble predictions must be (n_members, n_candidates), got shape {predictions.shape}")
    return predictions.mean(axis=0), predictions.std(axis=0)


def independent_thompson_samples(mean: np.ndarray, std: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One independent draw per candidate from N(mean, std^2): the ITS acquisition values."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    return mean + std * rng.standard_normal(mean.shape)


def its_ranking(predictions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Candidate indices, best first, by ITS over an ensemble's (n_members, n_candidates) predictions.

    Larger predictions are better. Ties (e.g. identical candidates under a zero-variance ensemble)
    keep the candidates' order, since a stable sort is used, so the ranking is reproducible.
    """
    mean, std = ensemble_moments(predictions)
    samples = independent_thompson_samples(mean, std, rng)
    return np.argsort(-samples, kind="stable")
