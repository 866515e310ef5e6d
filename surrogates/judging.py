"""Judging surrogate models on measured data: fit on n architectures, report on the rest.

One row per (model, training-set size or left-out group, repeat): the quality report of the
validation metric on the held-out architectures, with the noise ceiling of those same
architectures, and the fit time. `scripts/bench_surrogates.py` and `nas-harness surrogate judge`
both use it.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from surrogates.data import TrainingData
from surrogates.fitted import fit_surrogate
from surrogates.splits import Split, leave_out_split, random_split
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)


def _row(data: TrainingData, metric: str, kind: str, split: Split, seed: int, n_members: int, encoding: str,
         params: dict[str, Any] | None) -> dict[str, Any]:
    started = time.perf_counter()
    surrogate = fit_surrogate(data, name="judge", kind=kind, n_members=n_members, split=split, encoding=encoding,
                              seed=seed, params=params, metrics=[metric])
    report = surrogate.info[metric]["quality"]
    return {
        "data": data.source.get("name", ""),
        "space": data.space,
        "metric": metric,
        "model": kind,
        "members": n_members,
        "encoding": encoding,
        "split": split.kind,
        "left_out": split.left_out,
        "n_train": int(split.train.size),
        "n_test": int(split.test.size),
        "seed": seed,
        "fit_seconds": time.perf_counter() - started,
        **{f"{k}": v for k, v in report["vs_mean"].items() if k not in ("n",)},
        "vs_seed": report["vs_seed"],
        "ceiling": report["ceiling"],
        "precision": report["precision"],
    }


def judge_models(
    data: TrainingData,
    *,
    models: list[str],
    n_train: list[int] | None = None,
    leave_out: list[str] | None = None,
    repeats: int = 1,
    seed: int = 0,
    n_members: int = 1,
    encoding: str = "onehot",
    metric: str | None = None,
    params: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Quality rows for every model x split x repeat (random splits of `n_train`, or leave-outs)."""
    metric = metric or data.roles["valid_metric"]
    measured = np.flatnonzero(~np.isnan(data.metric(metric).mean))
    data = data.subset(measured)  # judge on measured architectures only
    rows = []
    for kind in models:
        for r in range(repeats):
            split_seed = seed + r
            splits: list[Split] = []
            if leave_out:
                if data.groups is None:
                    raise NasHarnessError("a leave-out split needs groups (a table's group column, or run results)")
                groups = sorted(set(data.groups.tolist())) if leave_out == ["all"] else leave_out
                splits = [leave_out_split(data.groups, g, seed=split_seed) for g in groups]
            for n in n_train or []:
                if n >= data.n:
                    log.warning("skipping n_train=%d: the data has only %d measured architectures", n, data.n)
                    continue
                splits.append(random_split(data.n, n_train=n, seed=split_seed))
            for split in splits:
                rows.append(_row(data, metric, kind, split, split_seed, n_members, encoding, (params or {}).get(kind)))
                log.info("%s n_train=%d: tau=%.3f", kind, rows[-1]["n_train"], rows[-1]["kendall"])
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A text table of judging rows; the ceiling and vs-seed columns only when the data has seeds."""
    head = (
        f"{'data':<22} {'model':<5} {'split':<12} {'n_train':>7} {'n_test':>6} "
        f"{'R2':>6} {'RMSE':>7} {'rho':>6} {'tau':>6} "
        f"{'sKT':>6} {'top-k':>9} {'tau(seed)':>9} {'ceil tau':>8} {'ceil sKT':>8} {'fit s':>6}"
    )
    lines = [head]
    for r in rows:
        seed_tau = r["vs_seed"]["kendall"] if r.get("vs_seed") else float("nan")
        ceil = r.get("ceiling") or {}
        split = r["split"] if not r.get("left_out") else f"out:{r['left_out']}"
        lines.append(
            f"{r['data'][:22]:<22} {r['model']:<5} {split[:12]:<12} {r['n_train']:>7} {r['n_test']:>6} "
            f"{r['r2']:>6.3f} {r['rmse']:>7.3f} "
            f"{r['spearman']:>6.3f} {r['kendall']:>6.3f} {r['sparse_kendall']:>6.3f} "
            f"{r['topk']:>5.2f}@{int(r['k']):<3} "
            f"{seed_tau:>9.3f} {ceil.get('kendall', float('nan')):>8.3f} "
            f"{ceil.get('sparse_kendall', float('nan')):>8.3f} {r['fit_seconds']:>6.1f}"
        )
    return "\n".join(lines)
