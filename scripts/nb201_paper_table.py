"""The NB201 paper's Table 5 from the `+experiment=nb201_paper` arms, in one process (no run folders).

Each arm's strategy and benchmark are composed from conf/ exactly as `nas-harness run
+experiment=nb201_paper` composes them (Hydra compose with `+nb201_paper_arm=<arm>` and the
experiment's 12,000-s budget); every run's final pick (`incumbent_arch`) is scored by its 200-epoch
test accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120 (seed means), as `report --score-on` does.
Prints a markdown table with the paper's numbers and the distance in paper standard deviations:

    python scripts/nb201_paper_table.py --seeds 100
    python scripts/nb201_paper_table.py --seeds 500 --arms rs,re,reinforce,bohb
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from harness.benchmarks import load_benchmark  # noqa: E402
from harness.config import register_configs, strategy_hyperparameters  # noqa: E402
from harness.engine import Budget, run_search  # noqa: E402

# Dong & Yang, ICLR 2020, Table 5 (500 runs): mean, sd on CIFAR-10, CIFAR-100, ImageNet16-120.
PAPER = {
    "re": ((93.92, 0.30), (71.84, 0.99), (45.54, 1.03)),
    "rs": ((93.70, 0.36), (71.04, 1.07), (44.57, 1.25)),
    "reinforce": ((93.85, 0.37), (71.71, 1.09), (45.24, 1.18)),
    "bohb": ((93.61, 0.52), (70.85, 1.28), (44.42, 1.49)),
}
LABEL = {"re": "REA", "rs": "RS", "reinforce": "REINFORCE", "bohb": "BOHB"}
SCORE_ON = ("nb201/cifar10", "nb201/cifar100", "nb201/imagenet16-120")


def arm_config(arm: str) -> tuple[str, str, dict, float]:
    """(strategy, benchmark, hyperparameters, sim_seconds) of one arm, composed from conf/."""
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose("config", overrides=[f"+nb201_paper_arm={arm}", "budget=sim_time", "budget.sim_seconds=12000"])
    strategy, params = strategy_hyperparameters(OmegaConf.to_container(cfg.strategy, resolve=True))
    return strategy, str(cfg.benchmark.name), params, float(cfg.budget.sim_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--arms", default="re,rs,reinforce,bohb")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    tests = []
    for name in SCORE_ON:
        bench = load_benchmark(name)
        tests.append(bench.store.seed_mean("test_acc", 200.0))
    space = load_benchmark(SCORE_ON[0]).space
    rows = []
    for arm in args.arms.split(","):
        strategy, bench_name, params, seconds = arm_config(arm)
        bench = load_benchmark(bench_name)
        picks, evals, distinct = [], [], []
        start = time.perf_counter()
        for seed in range(args.seeds):
            traj = run_search(bench, strategy, seed=seed, budget=Budget(sim_seconds=seconds), hyperparameters=params,
                              seed_policy="sample")
            picks.append(space.index_of(traj["incumbent_arch"].iloc[-1]))
            evals.append(len(traj))
            distinct.append(traj["arch_index"].nunique())
        scores = [t[np.asarray(picks)] for t in tests]
        rows.append((arm, scores, evals, distinct))
        print(f"{arm}: {strategy} on {bench_name}, {args.seeds} runs in {time.perf_counter() - start:.0f} s, "
              f"evaluations {np.mean(evals):.1f} ({min(evals)}-{max(evals)}), distinct {np.mean(distinct):.1f}",
              file=sys.stderr)
    print("| method | evaluations (distinct) | CIFAR-10 ours | paper | d | CIFAR-100 ours | paper | d | "
          "ImageNet16-120 ours | paper | d |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for arm, scores, evals, distinct in rows:
        cells = []
        for s, (mean, sd) in zip(scores, PAPER[arm], strict=True):
            d = (s.mean() - mean) / sd
            cells += [f"{s.mean():.2f} ± {s.std(ddof=1):.2f}", f"{mean:.2f} ± {sd:.2f}", f"{d:+.2f}"]
        print(f"| {LABEL[arm]} | {np.mean(evals):.1f} ({np.mean(distinct):.1f}) | " + " | ".join(cells) + " |")
    print(f"\n{args.seeds} runs per method; d = (ours - paper) / paper sd; s.e. of a mean = sd / sqrt({args.seeds}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
