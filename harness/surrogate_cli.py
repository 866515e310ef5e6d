"""`nas-harness surrogate fit|judge|list`: build, judge and list surrogates from the command line.

    nas-harness surrogate fit NAME --benchmark nb201/cifar10 --model xgb --members 5 --n-train 1000
    nas-harness surrogate judge --benchmark nb201/cifar10 --model xgb,rf --n-train 100,1000,10000
    nas-harness surrogate judge --table zc_proxies_nb301.json --surrogate nb301/yahpo
    nas-harness surrogate list

`fit` saves to `<data>/surrogates/NAME/` and prints the quality report; the surrogate is then the
benchmark `surrogate/NAME`. harness/cli.py wires `add_parser` in; errors are NasHarnessError (one
line, exit 2) as for every other command.

Layer: this is the app layer. It opens benchmarks of the catalogue and reads run results through
`harness.results`, then hands plain data (stores, arrays) down to the `surrogates` package, which
sits below both and imports neither.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from tabular.errors import NasHarnessError


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def _params(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise NasHarnessError(f"--param {item!r} must be KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _add_data_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--benchmark", help="a tabular benchmark of the catalogue, e.g. nb201/cifar10 (measured data)")
    src.add_argument("--table", help="a CSV/Parquet table (arch[, seed], metrics) or zc_proxies_nb301.json")
    src.add_argument("--results", help="a folder of nas-harness run results (groups = strategies)")
    p.add_argument("--space", help="search space of --table's arch column (e.g. nb201, nbgraph, darts)")
    p.add_argument(
        "--metric", action="append", help="metric(s) to fit, first = validation metric (default: the data's roles)"
    )
    p.add_argument("--fidelity", type=float, help="fidelity to fit at (default: the highest)")
    p.add_argument(
        "--group-column", default=None, help="--table column naming who found each architecture (for --leave-out)"
    )


def training_data_from_results(results_dir: str | Path, *, metric: str = "valid_mean") -> Any:
    """The architectures the complete runs of a results folder evaluated, grouped by strategy label.

    Why here: runs are found, classified and labelled by the one results reader (`harness.results`),
    so the groups are the strategy labels `report`, `regress` and `rank-stats --strategies` show,
    and the runs counted are the ones they count. All runs must be on one benchmark; the target is
    the trajectory's `valid_mean` (the table's seed mean) at the row actually evaluated, so a
    surrogate fitted on these and judged on a left-out strategy repeats NB301's protocol.
    """
    from harness.benchmarks import load_benchmark
    from harness.results import load_results
    from surrogates.data import from_evaluations

    # Folder-name order, as the runs were always read: the training rows, and so a seeded split, stay the same.
    runs = sorted(load_results(results_dir).complete, key=lambda run: run.path.name)
    benches = sorted({run.benchmark for run in runs})
    if len(benches) != 1:
        raise NasHarnessError(f"{results_dir} mixes benchmarks {benches}; collect runs of one benchmark")
    bench = benches[0]
    opened = load_benchmark(bench)  # its space, bound to its store where rows are the store's (NB101)
    space = opened.space
    opened.store.close()
    rows, values, groups = [], [], []
    for run in runs:
        traj = run.trajectory
        if traj is None or metric not in traj.columns:
            raise NasHarnessError(f"{run.path}: its trajectory has no column {metric!r}")
        rows.append(traj["arch_index"].to_numpy(dtype=np.int64))
        values.append(traj[metric].to_numpy(dtype=np.float64))
        groups.append(np.full(len(traj), run.method, dtype=object))
    source = {"kind": "results", "name": bench, "path": str(Path(results_dir).resolve()), "sha256": ""}
    return from_evaluations(space, np.concatenate(rows), np.concatenate(values), np.concatenate(groups), source=source)


def _encoding(given: str | None, data: Any) -> str:
    """`--encoding`, else onehot, else the space's first encoding (an ids table offers only `index`)."""
    if given:
        return given
    encodings = data.search_space().encodings
    return "onehot" if "onehot" in encodings else str(encodings[0])


def load_data(args: argparse.Namespace) -> Any:
    """TrainingData from --benchmark, --table or --results."""
    from surrogates import data as sdata

    if args.benchmark:
        from harness.benchmarks import load_benchmark
        from tabular.store import BenchmarkStore

        bench = load_benchmark(args.benchmark)
        if not isinstance(bench.store, BenchmarkStore):
            raise NasHarnessError(f"{args.benchmark} is itself a surrogate; fit and judge on measured data (a table)")
        # bench.space is bound to the store: a converted table's structured/ids space has no rows without it
        return sdata.from_store(bench.store, metrics=args.metric, fidelity=args.fidelity, space=bench.space)
    if args.table:
        path = Path(args.table)
        if path.suffix == ".json":
            return sdata.from_zc_json(path)
        if not args.space:
            raise NasHarnessError("--table needs --space naming the search space of its arch column")
        return sdata.from_table(
            path, space=args.space, metrics=args.metric, group_column=args.group_column, fidelity=args.fidelity
        )
    return training_data_from_results(args.results)


def _cmd_fit(args: argparse.Namespace) -> int:
    from harness.progress import waiting
    from surrogates.fitted import check_name, fit_surrogate, surrogates_dir
    from surrogates.quality import format_report
    from surrogates.splits import all_rows, leave_out_split, random_split

    check_name(args.name)
    target = surrogates_dir() / args.name
    if target.exists() and not args.force:
        raise NasHarnessError(f"{target} already exists; pass --force to replace the surrogate")
    data = load_data(args)
    if args.leave_out:
        if data.groups is None:
            raise NasHarnessError("--leave-out needs groups: --table with --group-column, or --results")
        split = leave_out_split(data.groups, args.leave_out, n_train=args.n_train, seed=args.seed)
    elif args.n_train is not None:
        split = random_split(data.n, n_train=args.n_train, seed=args.seed)
    elif args.train_fraction is not None:
        split = random_split(data.n, train_fraction=args.train_fraction, seed=args.seed)
    else:
        split = all_rows(data.n)
    with waiting(f"fitting {args.name}"):
        surrogate = fit_surrogate(
            data,
            name=args.name,
            kind=args.model,
            n_members=args.members,
            split=split,
            encoding=_encoding(args.encoding, data),
            seed=args.seed,
            params=_params(args.param),
            bootstrap=False if args.no_bootstrap else None,
            metrics=args.metric,
        )
    folder = surrogate.save(force=args.force)
    reports = {m: i["quality"] for m, i in surrogate.info.items() if i["quality"]}
    if args.json:
        print(
            json.dumps(
                {"name": args.name, "path": str(folder), "split": surrogate.split, "quality": reports},
                indent=2,
                default=str,
            )
        )
    else:
        if reports:
            print(format_report(reports))
        else:
            print("fitted on every architecture: no held-out set, so no quality report")
        if surrogate.space.startswith(("structured:", "ids:")):
            print(f"saved {folder}; judge it with `nas-harness surrogate judge --benchmark {data.source.get('name')} "
                  f"--surrogate {args.name}` (a surrogate of a converted table's space is not a benchmark of its own)")
        else:
            print(f"saved {folder}; run it as benchmark surrogate/{args.name}")
    return 0


def _predictor(name: str) -> Any:
    """The predictor behind a surrogate benchmark: NB301's (nb301/yahpo, nb301/official) or a fitted one."""
    if name.startswith("nb301/"):
        from harness.catalog.nb301 import open_benchmark
        from surrogates.benchmark import SurrogateStore

        store = open_benchmark(name).store
        if not isinstance(store, SurrogateStore):  # the catalogue opens NB301 as a surrogate store
            raise NasHarnessError(f"{name} is not answered by a surrogate; judge fitted surrogates or nb301/...")
        return store.predictor
    from surrogates.fitted import load_surrogate

    surrogate = load_surrogate(name.removeprefix("surrogate/"))
    surrogate.bound_space = table_space(surrogate.space)
    return surrogate


def table_space(space: str) -> Any:
    """The space of a converted table bound to its store (structured:NAME, ids:NAME), else None.

    Why: those spaces' architectures are their table's rows, so a surrogate fitted on one encodes
    architectures only through the table's store (`mybench/mini` for `structured:mybench/mini`).
    """
    prefix = next((p for p in ("structured:", "ids:") if space.startswith(p)), None)
    if prefix is None:
        return None
    from harness.benchmarks import load_benchmark

    table = space[len(prefix):]
    try:
        bench = load_benchmark(table)
    except NasHarnessError as exc:
        raise NasHarnessError(f"space {space!r} is the rows of the converted table {table!r}, which cannot be opened "
                              f"({exc}); convert the table again") from None
    bench.store.close()
    return bench.space


def _cmd_judge(args: argparse.Namespace) -> int:
    from surrogates.judging import format_rows, judge_models
    from surrogates.quality import format_report, judge

    data = load_data(args)
    if args.surrogate:
        predictor = _predictor(args.surrogate)
        common = [m for m in data.metrics if m in predictor.metric_info]
        valid = data.roles["valid_metric"]
        mapping = {m: m for m in common} or {valid: predictor.roles["valid_metric"]}
        reports = judge(predictor, data, metrics=mapping, fidelity=args.fidelity)
        print(json.dumps(reports, indent=2) if args.json else format_report(reports))
        return 0
    if not args.n_train and not args.leave_out:
        raise NasHarnessError("give --n-train sizes and/or --leave-out groups (or --surrogate to score a fitted one)")
    rows = judge_models(
        data,
        models=args.model.split(","),
        n_train=args.n_train,
        leave_out=args.leave_out,
        repeats=args.repeats,
        seed=args.seed,
        n_members=args.members,
        encoding=_encoding(args.encoding, data),
        metric=(args.metric or [None])[0],
    )
    print(json.dumps(rows, indent=2, default=str) if args.json else format_rows(rows))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from surrogates.fitted import read_manifest, saved_surrogates

    rows: list[dict[str, Any]] = []
    for name, folder in saved_surrogates():
        try:
            m = read_manifest(folder)
        except NasHarnessError as exc:
            rows.append({"name": name, "problem": str(exc)})
            continue
        valid = m["roles"].get("valid_metric", "")
        q = (m["metrics"].get(valid, {}).get("quality") or {}).get("vs_mean") or {}
        rows.append(
            {
                "name": name,
                "space": m["space"],
                "metric": valid,
                "model": m["metrics"].get(valid, {}).get("model", ""),
                "members": m["metrics"].get(valid, {}).get("n_members", 0),
                "trained_on": m.get("training", {}).get("name", ""),
                "n_train": m.get("split", {}).get("n_train"),
                "r2": q.get("r2"),
                "kendall": q.get("kendall"),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no fitted surrogates; fit one with `nas-harness surrogate fit NAME --benchmark nb201/cifar10`")

    def fmt(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    for r in rows:
        if "problem" in r:
            print(f"{r['name']}: {r['problem']}")
            continue
        print(
            f"surrogate/{r['name']}  space={r['space']}  {r['metric']}: {r['model']} x{r['members']}  "
            f"trained on {r['trained_on']} "
            f"(n={r['n_train']})  R2={fmt(r['r2'])}  tau={fmt(r['kendall'])}"
        )
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `surrogate` command group to nas-harness's argparse sub-parsers."""
    from surrogates.models import MODEL_KINDS

    group = subparsers.add_parser("surrogate", help="fit, judge and list surrogate models of benchmarks")
    sub = group.add_subparsers(dest="surrogate_command", required=True)

    p = sub.add_parser("fit", help="fit a surrogate, report its quality on held-out architectures, save it")
    p.add_argument("name", help="surrogate name; the benchmark becomes surrogate/NAME")
    _add_data_args(p)
    p.add_argument("--model", default="xgb", choices=MODEL_KINDS)
    p.add_argument(
        "--members", type=int, default=5, help="ensemble size (its spread is the seed noise; 1 = deterministic)"
    )
    p.add_argument("--no-bootstrap", action="store_true", help="members differ by seed only (NB301), no bagging")
    p.add_argument(
        "--encoding", default=None,
        help="the space's encoding used as features (onehot, path, nb301, ...; default onehot, else the first)",
    )
    split = p.add_mutually_exclusive_group()
    split.add_argument("--n-train", type=int, help="train on N random architectures, judge on the rest")
    split.add_argument("--train-fraction", type=float, help="train on this fraction, judge on the rest")
    p.add_argument("--leave-out", help="judge on the architectures of this group, train on the others (NB301)")
    p.add_argument("--param", action="append", help="model parameter KEY=VALUE (repeatable), e.g. n_estimators=800")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace a saved surrogate of that name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser(
        "judge", help="judge models on measured data (fit on N, test on the rest), or score a saved surrogate"
    )
    _add_data_args(p)
    p.add_argument(
        "--surrogate", help="score this surrogate on all the data instead (NAME, nb301/yahpo, nb301/official)"
    )
    p.add_argument("--model", default="xgb", help=f"comma-separated models among {', '.join(MODEL_KINDS)}")
    p.add_argument("--n-train", type=_ints, help="comma-separated training-set sizes, e.g. 100,1000,10000")
    p.add_argument("--leave-out", action="append", help="left-out group (repeatable; 'all' = each group in turn)")
    p.add_argument("--members", type=int, default=1)
    p.add_argument("--encoding", default=None, help="as for fit (default onehot, or the space's only encoding)")
    p.add_argument("--repeats", type=int, default=1, help="random splits per size (seeds seed, seed+1, ...)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_judge)

    p = sub.add_parser("list", help="list saved surrogates with their quality")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_list)
    return group
