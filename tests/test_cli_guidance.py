"""A command line that guides (issue 21 items 5, 6, 7, 9, 10, 11).

Typos fail in one line before anything runs; a run says what it found; `run --help`, `strategies`,
`convert --help` and `benchmarks` tell a user what there is; `query` refuses seeds without values
the same way whatever the reason; a strategy in the user's own file runs with its own Config.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[1]

GREEDY = '''
from dataclasses import dataclass

from harness.strategies import Observation, Proposal, Strategy, StrategyConfig


@dataclass
class GreedyConfig(StrategyConfig):
    n_init: int = 10


class Greedy(Strategy[GreedyConfig]):
    """Mutate the best architecture observed so far."""

    name = "greedy"
    Config = GreedyConfig

    def __init__(self, space, problem, rng, config):
        super().__init__(space, problem, rng, config)
        self.best_arch, self.best_score, self.asked = None, float("-inf"), 0

    def ask(self) -> Proposal:
        self.asked += 1
        if self.best_arch is None or self.asked <= self.config.n_init:
            return Proposal(self.space.sample(self.rng))
        return Proposal(self.space.mutate(self.best_arch, self.rng))

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        score = observation.score(self.problem)
        if score > self.best_score:
            self.best_arch, self.best_score = proposal.arch, score
'''


def nas(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NAS_HARNESS_DATA=str(home))
    env.pop("PYTHONPATH", None)  # a custom strategy must be found without it
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def runs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.exists() else []


# ---------------------------------------------------------------------------------------------- item 6

@pytest.mark.slow
def test_plus_typo_and_unknown_strategy_fail_in_one_line_before_any_run(data_home, tmp_path):
    """The judged cases, as a user types them: one line, exit != 0, no run folder, no Hydra hint."""
    out = tmp_path / "results"
    for override, expected in (("+budget.evaluation=5", "did you mean budget.evaluations?"),
                               ("strategy=rss", "did you mean rs?")):
        proc = nas(["run", override, "budget.evaluations=5", f"hydra.run.dir={out}"], REPO, data_home)
        assert proc.returncode != 0
        assert proc.stderr.count("\n") == 1 and expected in proc.stderr, proc.stderr
        assert "HYDRA_FULL_ERROR" not in proc.stderr and "_schema" not in proc.stderr
        assert proc.stdout == "" and runs(out) == []


@pytest.mark.parametrize("override, expected", [
    ("++budget.evaluation=5", "did you mean budget.evaluations?"),
    ("budget.evaluatons=10", "did you mean budget.evaluations?"),
    ("seed=abc", "could not be converted to Integer"),
    ("benchmark.seed_policy=median", "expected one of [fixed, mean, sample]"),
    ("strategy=rs,rss", "did you mean rs?"),
    ("strategy.replac=true", "did you mean replace?"),
    ("benchmark=nb201/cifar11", "did you mean nb201/cifar10?"),
    ("+seed_policy=mean", "seed_policy is not a setting"),
    ("strategy.name=my_greedy:Greedy", "strategy=my_greedy:Greedy"),
])
def test_every_typo_is_one_line(data_home, capsys, override, expected):
    argv = ["run", "-m", override] if "," in override else ["run", override]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err


def test_unknown_strategy_lists_only_user_facing_names(data_home, capsys):
    assert main(["run", "strategy=gradient_descent"]) == 2
    err = capsys.readouterr().err
    assert "strategy/gradient_descent" in err and "_schema" not in err
    for name in ("rs", "re", "tpe", "darts", "re_nb101"):
        assert f" {name}," in err or f" {name} " in err


def test_legitimate_overrides_pass_the_checks():
    from harness.run_guide import check_overrides

    check_overrides(["+experiment=nb201_paper"])
    check_overrides(["strategy=re", "strategy.population_size=20", "seed=range(0,3)", "budget.evaluations=null",
                     "benchmark.objectives=[valid_acc,params]", "hydra.sweep.dir=x", "hydra/launcher=joblib",
                     "benchmark=nb201/cifar100", "budget.sim_seconds=1e4", "benchmark.seed_policy=fixed"])
    check_overrides(["strategy=re_nb101", "strategy.sample_size=5"])  # a preset of re: re's hyperparameters


# ---------------------------------------------------------------------------------------------- item 5

@pytest.mark.slow
def test_single_run_says_where_it_wrote_and_what_it_found(data_home, nb201_cifar10, tmp_path):
    out = tmp_path / "results"
    proc = nas(["run", "strategy=re", "budget.evaluations=25", f"hydra.run.dir={out}"], tmp_path, data_home)
    assert proc.returncode == 0, proc.stderr
    (run,) = runs(out)
    first, second = proc.stdout.strip().splitlines()
    assert first.startswith("run complete: results/" + run.name)
    assert "re on nb201/cifar10, seed 0, 25 evaluations" in first
    traj = pd.read_parquet(run / "trajectory.parquet")
    arch = traj["incumbent_arch"].iloc[-1]
    assert second.startswith("best architecture: index ") and f" {arch} " in second
    row = int(second.split()[3])  # the evaluated row (a canonical string can stand for several rows)
    assert row in set(traj.loc[traj["valid"] == traj["best_valid"].iloc[-1], "arch_index"].astype(int))
    store = nb201_cifar10.store
    test = float(store.seed_mean("test_acc")[row])  # the store's test metric, independent of the trajectory
    valid_mean = float(store.seed_mean("valid_acc")[row])
    assert f"test {test:.2f}" in second and f"seed mean {valid_mean:.2f}" in second
    assert f"valid {traj['best_valid'].iloc[-1]:.2f}" in second


@pytest.mark.slow
def test_grid_ends_with_a_method_by_benchmark_table(data_home, tmp_path):
    out = tmp_path / "grid"
    proc = nas(["run", "-m", "strategy=rs,ls", "seed=0,1,2", "budget.evaluations=12", "hydra/launcher=basic",
                f"hydra.sweep.dir={out}"], tmp_path, data_home)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "results in grid: 6 run(s) with a result"
    assert lines[1].split() == ["method", "benchmark", "runs", "mean", "final", "regret"]
    finals: dict[str, list[float]] = {}
    for run in runs(out):
        manifest = json.loads((run / "manifest.json").read_text())
        finals.setdefault(manifest["strategy"], []).append(float(pd.read_parquet(run / "trajectory.parquet")
                                                                 ["regret"].iloc[-1]))
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"ls", "rs"}
    for method, values in finals.items():
        assert rows[method][1:3] == ["nb201/cifar10", "3"]
        assert rows[method][3] == f"{np.mean(values):.3f}"


# ---------------------------------------------------------------------------------------------- item 7

def test_run_help_lists_keys_strategies_and_benchmarks(capsys):
    from harness.oneshot.registry import ONESHOT_REGISTRY
    from harness.strategies import BUILTIN, strategy_summary

    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    for key in ("strategy=", "benchmark=", "seed=", "budget.evaluations=", "budget.sim_seconds=", "n_workers=",
                "benchmark.seed_policy=", "hydra.sweep.dir=", "hydra.searchpath="):
        assert key in text
    for name in BUILTIN:
        assert any(line.split()[:1] == [name] and strategy_summary(name) in line for line in text.splitlines())
    for summary in ONESHOT_REGISTRY.values():
        assert summary in text
    assert "nb201/cifar10" in text and "nbgraph/cora" in text and "nas-harness run --help strategy=NAME" in text


def test_a_strategys_hyperparameters_with_defaults_and_types(capsys):
    from harness.strategies.evolution import RegularizedEvolution

    defaults = RegularizedEvolution.Config()
    assert main(["run", "--help", "strategy=re"]) == 0
    text = capsys.readouterr().out
    assert f"population_size: int = {defaults.population_size}" in text
    assert f"sample_size: int = {defaults.sample_size}" in text
    assert main(["strategies", "re_nb101"]) == 0
    text = capsys.readouterr().out
    assert "preset of re" in text and "population_size=100" in text
    assert main(["strategies", "rss"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean rs?" in err


def test_convert_help_lists_every_kind(capsys):
    from harness.convert import converter_kinds

    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    text = capsys.readouterr().out
    listed = {line.split()[0] for line in text.split("kinds:")[1].splitlines() if line.startswith("  ")}
    assert listed == set(converter_kinds())


def test_benchmarks_table_is_compact_with_user_paths(data_home, capsys):
    assert main(["benchmarks"]) == 0
    text = capsys.readouterr().out
    assert str(data_home) not in text.split("$NAS_HARNESS_DATA is")[0] and "/shared/" not in text
    assert text.count("NAS-Bench-201-v1_1-096897.pth is missing") == 1  # nine datasets, one sentence
    assert "$NAS_HARNESS_DATA/sources/NAS-Bench-201-v1_1-096897.pth" in text
    assert all(len(line) < 200 for line in text.split("\n\n")[0].splitlines())


# ---------------------------------------------------------------------------------------------- item 10

def test_query_refuses_seeds_without_values_the_same_way(nb201_cifar10, capsys):
    assert main(["query", "nb201/cifar10", "--seed-policy", "fixed", "--seed", "1", "--fidelity", "12",
                 "--index", "5"]) == 2
    no_values = capsys.readouterr()
    assert no_values.out == "" and no_values.err.count("\n") == 1
    assert "no valid_acc for seed 1 at 12 epochs; seeds with values there: 0" in no_values.err
    assert main(["query", "nb201/cifar10", "--seed-policy", "fixed", "--seed", "777", "--index", "5"]) == 2
    unknown = capsys.readouterr().err
    assert unknown.count("\n") == 1 and "no valid_acc for seed 777; seeds with values there: 0, 1, 2" in unknown
    assert "777/888/999" in unknown
    # A seed with values is answered; a metric it lacks is null with a note, not silently.
    assert main(["query", "nb201/cifar10", "--seed-policy", "fixed", "--seed", "1", "--index", "5"]) == 0
    answered = capsys.readouterr()
    (rec,) = json.loads(answered.out)
    store = nb201_cifar10.store
    assert rec["valid_acc"] == float(store.metric_array("valid_acc")[5, store.seed_index(1), -1])
    assert rec["test_acc"] is None and "test_acc has no value for seed 1" in answered.err


def test_query_best_honours_metric_and_formats(nb201_cifar10, capsys):
    store = nb201_cifar10.store
    assert main(["query", "nb201/cifar10", "--metric", "test_acc,valid_acc"]) == 0
    best = json.loads(capsys.readouterr().out)
    row = int(np.nanargmax(store.seed_mean("test_acc")))
    assert best["best_index"] == row and best["valid_acc"] == float(store.seed_mean("valid_acc")[row])
    assert main(["query", "nb201/cifar10", "--index", "3", "--index", "7", "--metric", "valid_acc,params",
                 "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["index"]) for r in rows] == [3, 7]
    assert float(rows[1]["valid_acc"]) == pytest.approx(float(store.seed_mean("valid_acc")[7]), abs=0.005)
    assert main(["query", "nb201/cifar10", "--index", "3", "--format", "table"]) == 0
    header, line = capsys.readouterr().out.strip().splitlines()
    assert header.split()[:2] == ["index", "arch"] and line.split()[0] == "3"


# ---------------------------------------------------------------------------------------------- item 11

@pytest.mark.slow
def test_custom_strategy_from_the_current_folder_with_its_own_config(data_home, tmp_path):
    (tmp_path / "my_greedy.py").write_text(GREEDY)
    proc = nas(["run", "strategy=my_greedy:Greedy", "strategy.n_init=3", "budget.evaluations=12",
                "hydra.run.dir=out"], tmp_path, data_home)
    assert proc.returncode == 0, proc.stderr
    (run,) = runs(tmp_path / "out")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["strategy"] == {"name": "my_greedy:Greedy", "charge_repeats": True, "n_init": 3}
    assert len(pd.read_parquet(run / "trajectory.parquet")) == 12
    listed = nas(["strategies", "my_greedy:Greedy"], tmp_path, data_home)
    assert "n_init: int = 10" in listed.stdout and "Mutate the best architecture" in listed.stdout
    missing = nas(["run", "strategy=no_such_module:Greedy", "hydra.run.dir=out2"], tmp_path, data_home)
    assert missing.returncode != 0 and missing.stderr.count("\n") == 1
    assert "no module named 'no_such_module'" in missing.stderr and not (tmp_path / "out2").exists()
    typo = nas(["run", "strategy=my_greedy:Greedy", "strategy.n_ini=3"], tmp_path, data_home)
    assert typo.returncode != 0 and "did you mean n_init?" in typo.stderr and typo.stderr.count("\n") == 1


# ---------------------------------------------------------------------------------------------- item 9

def test_progress_bars_stay_quiet_when_not_a_terminal(capsys):
    import time

    from harness import progress

    with progress.progress_bar(total=2, desc="x") as bar:
        bar.update(2)
    with progress.waiting("fit"):
        time.sleep(0.05)
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_progress_bar_appears_on_a_terminal_only_after_three_seconds():
    """In a real pseudo-terminal: a 3.6 s wait gets its clock, a quick loop prints nothing."""
    pty = pytest.importorskip("pty")
    import fcntl
    import select
    import struct
    import termios

    code = ("import time\nfrom harness.progress import waiting, progress_bar\n"
            "with progress_bar(total=3, desc='quick') as bar:\n    bar.update(3)\n"
            "with waiting('slowfit'):\n    time.sleep(3.6)\nprint('done')\n")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=follower, stderr=follower, cwd=REPO)
    os.close(follower)
    out = b""
    while select.select([leader], [], [], 30)[0]:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=30) == 0
    text = out.decode(errors="replace")
    assert "slowfit [00:03]" in text and "quick" not in text and text.rstrip().endswith("done")
