"""`nas-harness --help`, `benchmarks`, table-only runs and launcher workers import no heavy library.

torch, scipy, scikit-learn, xgboost, onnxruntime and matplotlib are imported only by the commands,
strategies and benchmarks that use them. Each check runs in a fresh interpreter, since the test
process itself has imported most of them already.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "scipy", "sklearn", "xgboost", "onnxruntime", "matplotlib")


def fresh(code: str, home: Path) -> dict:
    """Run `code` in a new interpreter; it must print one JSON object as its last line."""
    env = dict(os.environ, NAS_HARNESS_DATA=str(home))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_help_benchmarks_runs_and_workers_import_nothing_heavy(data_home, tmp_path):
    out = fresh(
        f"""
        import contextlib, io, json, sys
        HEAVY = {HEAVY!r}
        loaded = {{}}

        def heavy():
            return sorted(m for m in HEAVY if m in sys.modules)

        from harness.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as text:
            try:
                main(["--help"])
            except SystemExit:
                pass
        assert "proxies" in text.getvalue() and "report" in text.getvalue()
        loaded["--help"] = heavy()
        with contextlib.redirect_stdout(io.StringIO()) as text:
            assert main(["benchmarks"]) == 0
        assert "nb201/cifar10" in text.getvalue() and "nb301/yahpo" in text.getvalue()
        loaded["benchmarks"] = heavy()

        from harness.app import execute_run, run_configs
        config = {{"benchmark": {{"name": "nb201/cifar10", "seed_policy": "sample", "fixed_seed": None,
                                "objectives": None}},
                  "strategy": {{"name": "rs", "charge_repeats": True, "replace": False}},
                  "budget": {{"evaluations": 20, "sim_seconds": None}}, "seed": 0, "n_workers": 1}}
        trajectory, _ = execute_run(config)
        assert len(trajectory) == 20
        loaded["execute_run"] = heavy()
        # What a launcher worker does with its batch (hydra_plugins/nas_harness_grid).
        (entry,) = run_configs([(dict(config, seed=1), ["seed=1"])], {str(tmp_path / "grid")!r})
        assert entry["status"] == "complete", entry
        loaded["worker"] = heavy()
        for strategy in ("re", "ls", "tpe", "reinforce"):
            execute_run(dict(config, strategy={{"name": strategy}}))
        loaded["table strategies"] = heavy()
        # The whole `nas-harness run` path: Hydra composition, every schema, the run itself.
        assert main(["run", "strategy=rs", "budget.evaluations=10", "hydra.run.dir={tmp_path / "single"}"]) == 0
        loaded["nas-harness run"] = heavy()
        print(json.dumps(loaded))
    """,
        data_home,
    )
    assert out == {k: [] for k in ("--help", "benchmarks", "execute_run", "worker", "table strategies", "nas-harness "
                                                                                                        "run")}


@pytest.mark.slow
def test_model_based_strategies_still_get_their_libraries(data_home):
    """The imports moved into functions still happen where they are needed (gpbo: scikit-learn)."""
    out = fresh("""
        import json, sys
        from harness.benchmarks import load_benchmark
        from harness.engine import Budget, run_search
        import harness.strategies.gp_bo
        before = "sklearn" in sys.modules
        run_search(load_benchmark("nb201/cifar10"), "gpbo", seed=0, budget=Budget(evaluations=12))
        print(json.dumps({"before": before, "after": "sklearn" in sys.modules, "scipy": "scipy" in sys.modules}))
    """, data_home)
    assert out == {"before": False, "after": True, "scipy": True}


def test_deferred_commands_have_their_modules_help_and_real_parsers():
    import argparse
    import importlib

    from harness.cli import DEFERRED_COMMANDS, build_parser

    for command, (module, function, help_text) in DEFERRED_COMMANDS.items():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        getattr(importlib.import_module(module), function)(sub)
        real = {a.dest: a.help for a in sub._choices_actions}
        assert real[command] == help_text, command
        # Named on the command line, the command gets its real parser (with its own arguments).
        full = build_parser(command=command)
        sub_full = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
        assert sub_full.choices[command].add_help, command
    with pytest.raises(SystemExit):
        build_parser(command="report").parse_args(["report"])  # RESULTS_DIR is required
    args = build_parser(command="report").parse_args(["report", "results"])
    assert args.results_dir == "results" and callable(args.func)


def test_cli_dispatch_finds_the_command_after_options(capsys):
    from harness.cli import main

    with pytest.raises(SystemExit):
        main(["-v", "report", "--help"])
    assert "--budgets" in capsys.readouterr().out  # the real report parser, not the stub


def test_one_shot_schemas_are_built_on_demand_and_type_checked():
    import dataclasses

    from hydra.core.config_store import ConfigStore

    from harness.config import register_configs
    from harness.oneshot.search import OneShotConfig

    register_configs()
    node = ConfigStore.instance().load("strategy/darts_schema.yaml").node
    defaults = OneShotConfig()
    scalar = [
        f.name
        for f in dataclasses.fields(OneShotConfig)
        if isinstance(getattr(defaults, f.name), (bool, int, float, str))
    ]
    assert node.name == "darts" and scalar and all(node[k] == getattr(defaults, k) for k in scalar)
    with pytest.raises(Exception, match="epochs"):
        node.epochs = "abc"  # the schema's types hold


def test_lazy_surrogates_package(data_home):
    import surrogates
    from harness.catalog import surrogate as catalog_surrogate
    from surrogates import fitted

    assert surrogates.fit_surrogate is fitted.fit_surrogate and "judge" in dir(surrogates)
    with pytest.raises(AttributeError):
        surrogates.no_such_name  # noqa: B018
    assert catalog_surrogate.MANIFEST_NAME == fitted.MANIFEST
    out = fresh("""
        import json, sys
        import harness.surrogate_cli
        from surrogates import nb301_yahpo
        print(json.dumps(sorted(m for m in ("scipy", "sklearn", "xgboost", "onnxruntime") if m in sys.modules)))
    """, data_home)
    assert out == []


def test_loading_a_cached_store_and_listing_import_no_converter_nor_pandas(data_home):
    """Issue 20 item 3: converters (several import pandas) are imported only to convert.

    `load_benchmark("nb201/cifar10")` with its store cached, `nas-harness benchmarks` and the
    catalogue listing must import no `tabular.converters` module and no pandas.
    """
    from harness.benchmarks import ensure_store

    assert ensure_store("nb201/cifar10").is_file()  # converted here once, so the fresh processes find it cached
    out = fresh("""
        import contextlib, io, json, sys

        def loaded():
            return sorted(m for m in sys.modules if m == "pandas" or m.startswith("tabular.converters"))

        seen = {}
        from harness.benchmarks import load_benchmark
        bench = load_benchmark("nb201/cifar10")
        assert bench.store.path.is_file() and bench.space.size == 15625
        seen["load_benchmark"] = loaded()
        from harness.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as text:
            assert main(["benchmarks"]) == 0
        assert "nb201/cifar10" in text.getvalue() and "nbgraph/cora" in text.getvalue()
        seen["benchmarks"] = loaded()
        from harness.convert import converter_kinds
        assert {"table", "nb201-pth", "nats-tss", "nb101-tfrecord", "hwnasbench"} <= set(converter_kinds())
        seen["converter kinds"] = loaded()
        print(json.dumps(seen))
    """, data_home)
    assert out == {"load_benchmark": [], "benchmarks": [], "converter kinds": []}


def test_converting_still_imports_its_converter(data_home, tmp_path):
    """The lazy imports still happen where a conversion needs them (the check above is not vacuous)."""
    out = fresh(f"""
        import json, sys
        import pandas as pd
        from harness.convert import convert
        from harness.spaces import get_space
        space = get_space("nb201")
        path = {str(tmp_path / "t.csv")!r}
        pd.DataFrame({{"arch": [space.arch_at(0)], "valid_acc": [91.0]}}).to_csv(path, index=False)
        convert("table", __import__("pathlib").Path(path), __import__("pathlib").Path({str(tmp_path / "t.h5")!r}))
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("tabular.converters"))))
    """, data_home)
    assert "tabular.converters.generic_table" in out and "tabular.converters.nb201_shipped" not in out
