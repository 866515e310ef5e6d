"""Quality reports: a surrogate's statistics on held-out architectures beside the noise ceiling.

For one metric the report holds, on the test architectures:

* `vs_mean`: predictions against the seed-mean target the surrogate was trained to predict;
* `vs_seed`: predictions against single seeds, averaged over seeds (tables with 2+ seeds);
* `ceiling`: one seed against another on the same architectures (averaged over seed pairs), the
  statistics of the table's own seed-to-seed noise. `vs_seed` is the figure to compare with it:
  both predict one training run. None when the data has a single seed;
* `precision`: the rounding of the sparse Kendall τ; `n_test`.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from surrogates.data import TrainingData
from surrogates.metrics import against_seeds, default_precision, noise_ceiling, regression_stats
from tabular.errors import NasHarnessError


class Predicts(Protocol):
    space: str

    def predict(
        self, metric: str, archs: list[str], fidelity: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


def metric_report(
    data: TrainingData, metric: str, prediction: np.ndarray, *, precision: float | None = None
) -> dict[str, Any]:
    """The report of one metric's predictions for every architecture of `data`."""
    m = data.metric(metric)
    prec = default_precision(m.unit) if precision is None else precision
    kw = {"precision": prec, "higher_is_better": m.higher_is_better}
    return {
        "n_test": int(np.sum(~np.isnan(m.mean))),
        "precision": prec,
        "vs_mean": regression_stats(m.mean, prediction, **kw),
        "vs_seed": against_seeds(m.per_seed, prediction, **kw),
        "ceiling": noise_ceiling(m.per_seed, **kw),
    }


def judge(predictor: Predicts, data: TrainingData, *, metrics: dict[str, str] | None = None,
          fidelity: float | None = None, precision: float | None = None) -> dict[str, dict[str, Any]]:
    """Score a fitted or official surrogate on measured data of its space.

    `metrics` maps the data's metric names to the predictor's (default: the same names, for those
    the predictor has). Raises NasHarnessError when the spaces differ.
    """
    if data.space != predictor.space:
        raise NasHarnessError(
            f"a surrogate of space {predictor.space!r} cannot be judged on data of space {data.space!r}"
        )
    pairs = metrics or {m: m for m in data.metrics}
    reports = {}
    for data_metric, model_metric in pairs.items():
        mean, _ = predictor.predict(model_metric, data.archs, fidelity)
        reports[data_metric] = metric_report(data, data_metric, mean, precision=precision)
    return reports


def format_report(reports: dict[str, dict[str, Any]]) -> str:
    """A compact text table of reports (one line per metric and comparison)."""
    lines = [f"{'metric':<16} {'vs':<8} {'n':>6} {'R2':>7} {'RMSE':>8} {'rho':>6} {'tau':>6} {'sKT':>6} {'top-k':>9}"]
    for metric, rep in reports.items():
        for label in ("vs_mean", "vs_seed", "ceiling"):
            s = rep.get(label)
            if not s:
                continue
            lines.append(
                f"{metric:<16} {label.replace('vs_', ''):<8} {int(s['n']):>6} {s['r2']:>7.3f} {s['rmse']:>8.3f} "
                f"{s['spearman']:>6.3f} {s['kendall']:>6.3f} {s['sparse_kendall']:>6.3f} "
                f"{s['topk']:>5.2f}@{int(s['k'])}"
            )
    return "\n".join(lines)
