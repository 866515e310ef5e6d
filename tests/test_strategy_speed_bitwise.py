"""BOHB and REINFORCE give bit-identical trajectories after their speed-up (issue 20).

The digests below were recorded from the code before the speed-up (commit b7d3f4d: harness/strategies/
bohb.py, kde_counts.py, hyperband.py and reinforce.py unchanged) with `trajectory_digest` of
tests/test_engine_bitwise.py (every column but wall_time). Why this test exists: the speed-up rewrote
BOHB's KDE fit, densities and HpBandSter pick, and REINFORCE's sampling and Adam step, with the
promise that every random draw and every float stays the same; 640 such digests (40 seeds of each case
below) matched when it was made, and these few keep checking it. The cases: the preset
conf/strategy/bohb_nb201.yaml (HpBandSter kernels, nominal budgets, 4 samples, no random fraction) and
variants (random fraction and 64 samples; the bounded kernel with and without pattern counts), and
REINFORCE with the NB101 learning rate 0.1 and with its defaults; on nb201/cifar10-12ep within 12,000
simulated seconds (the nb201_paper experiment) and on nb201/cifar10 with 300 evaluations.

Also checked against independent truth: numpy's own std, unique and the plain density expressions
(`test_kde_pieces_are_numpy_bit_for_bit`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from harness.engine import Budget, run_search
from harness.strategies.bohb import CategoricalKDE, column_std, distinct_per_column
from tests.test_engine_bitwise import trajectory_digest

_PRESET = {k: v for k, v in yaml.safe_load((Path(__file__).resolve().parents[1] / "conf" / "strategy" /
                                            "bohb_nb201.yaml").read_text()).items() if k not in ("name", "defaults")}
_NOMINAL = {"nominal_budgets": True, "min_budget": 12.0, "max_budget": 200.0}
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "bohb-preset": ("bohb", _PRESET),
    "bohb-preset-rf": ("bohb", {**_PRESET, "random_fraction": 1 / 3, "num_samples": 64}),
    "bohb-default-nominal": ("bohb", _NOMINAL),
    "bohb-nocounts-nominal": ("bohb", {**_NOMINAL, "kde_counts": False}),
    "bohb-default": ("bohb", {}),
    "bohb-nocounts": ("bohb", {"kde_counts": False}),
    "reinforce-preset": ("reinforce", {"learning_rate": 0.1}),
    "reinforce-default": ("reinforce", {}),
}
SETTINGS = {"12ep-t12000": ("nb201/cifar10-12ep", Budget(sim_seconds=12000)),
            "c10-e300": ("nb201/cifar10", Budget(evaluations=300))}

# "config/setting/seed" -> digest, recorded before the speed-up (module docstring)
DIGESTS = {
    'bohb-preset/12ep-t12000/0': 'af71f0cefbe8c718320441ed1db178c7295a2eadabb16cb946e53850bed424a9',
    'bohb-preset/12ep-t12000/1': '5085cb345c7e55605d6995f5ac7004e172ef3e469678b5a999c3352d0381858d',
    'bohb-preset/12ep-t12000/7': '5bc1cebe3faa11ea3ea8ead01ca13af3eb0d7acce833a83392f7b4e1863c369b',
    'bohb-preset-rf/12ep-t12000/3': 'a312e6c067707e535032fa9be3545d386804c9959365fa4766facd50c59e8376',
    'bohb-default-nominal/12ep-t12000/4': '1335612154cee6b5d5c896140f9955d23603bb58bd8cca55186bcf96213c3fa8',
    'bohb-nocounts-nominal/12ep-t12000/5': 'ffba0e95d90e3c0aafba34bc46304cabbac62873d2757a4f105fabf6484e5b19',
    'bohb-default/c10-e300/6': '9549f38f6e1e97d65da93e814ac3535778eb609c6dc4f93dac8b87ef45bd8524',
    'bohb-nocounts/c10-e300/8': 'e8968762deadb9ed7c6d87250e70a3018e5735d78d1310e7f40b231e5fe3d93e',
    'bohb-preset/c10-e300/9': '30f309f156ff69b180d2983794fbfee654f965106351811bd375bb1e81ced4a7',
    'reinforce-preset/12ep-t12000/0': '5da6fe63318f4111dc9cb8a397b69159aae6be431f52152cf54599b4865608f4',
    'reinforce-preset/12ep-t12000/1': 'd44c3d27b1d0918288a65eeb7c4cdf2658a40bdc0680868dd8557ee0382ec231',
    'reinforce-default/12ep-t12000/2': 'c672c0012e61a13d42f3c11efcf43a28ab7cdbb50d73c1bc1b258f85d9386773',
    'reinforce-preset/c10-e300/3': '5562b603fd966b3c2a803157daa45e109f1f1dbe75de449754a77474342cf7fb',
    'reinforce-default/c10-e300/4': '5c9b2f18942db875112ad021690be00f8d65044c101054b8930ba61baa06d81d',
}


@pytest.fixture(scope="module")
def benchmarks():
    from harness.benchmarks import load_benchmark

    loaded = {key: load_benchmark(name) for key, (name, _) in SETTINGS.items()}
    yield loaded
    for bench in loaded.values():
        bench.store.close()


@pytest.mark.parametrize("case", sorted(DIGESTS))
def test_trajectory_matches_the_one_before_the_speed_up(benchmarks, case):
    config, setting, seed = case.split("/")
    strategy, hp = CONFIGS[config]
    trajectory = run_search(benchmarks[setting], strategy, seed=int(seed), budget=SETTINGS[setting][1],
                            hyperparameters=dict(hp))
    assert len(trajectory) > 0
    assert trajectory_digest(trajectory) == DIGESTS[case], case


def test_kde_pieces_are_numpy_bit_for_bit():
    """The faster std, level count and densities equal numpy's plain expressions, bit for bit."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        n, d, m = int(rng.integers(1, 80)), int(rng.integers(1, 8)), int(rng.integers(1, 40))
        choices = rng.integers(1, 7, size=d)
        data = np.stack([rng.integers(0, c, n) for c in choices], axis=1)
        if rng.random() < 0.3:  # a constant column: statsmodels' infinite kernel
            data[:, rng.integers(d)] = 0
        points = np.stack([rng.integers(0, c, m) for c in choices], axis=1)
        assert column_std(data).tobytes() == data.std(axis=0).tobytes()
        assert distinct_per_column(data).tolist() == [np.unique(data[:, j]).size for j in range(d)]
        for rule in ("bounded", "hpbandster"):
            kde = CategoricalKDE(data, choices, float(rng.choice([1e-3, 0.3])), rule)
            with np.errstate(all="ignore"):
                if rule == "hpbandster":
                    other = kde.bw / (kde.levels - 1)
                else:
                    other = np.where(kde.levels > 1, kde.bw / np.maximum(kde.levels - 1, 1), 0.0)
                plain = np.where(points[:, None, :] == data[None, :, :], 1.0 - kde.bw, other).prod(axis=2).mean(axis=1)
                assert kde.pdf(points).tobytes() == plain.tobytes()
                assert kde.pdf_codes(points).tobytes() == plain.tobytes()
