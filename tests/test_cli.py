"""The command line: listing, querying, and one-line errors for user mistakes."""
from __future__ import annotations

import json
import subprocess
import sys

from harness.cli import main


def test_benchmarks_lists_the_defaults(data_home, capsys):
    assert main(["benchmarks", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"nb201/cifar10", "nb201/cifar100", "nb201/imagenet16-120"} <= set(rows)
    assert rows["nb201/cifar10"]["status"].startswith("ready")


def test_query_best_and_by_arch(nb201_cifar10, capsys):
    assert main(["query", "nb201/cifar10"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert abs(best["seed_mean"] - 91.61) < 0.05
    assert main(["query", "nb201/cifar10", "--arch", best["arch"], "--metric", "valid_acc,params"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["index"] == best["best_index"] and row["valid_acc"] == best["seed_mean"]
    # A comma list without --arch ranks by its first metric (it used to be one unknown metric name).
    assert main(["query", "nb201/cifar10", "--metric", "test_acc,valid_acc"]) == 0
    by_test = json.loads(capsys.readouterr().out)
    test_means = nb201_cifar10.store.seed_mean("test_acc")
    assert by_test["metric"] == "test_acc" and by_test["best_index"] == int(test_means.argmax())
    assert by_test["seed_mean"] == float(test_means.max())


def test_user_errors_are_one_line(data_home, capsys):
    assert main(["query", "nb201/cifar11"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown benchmark 'nb201/cifar11'" in err and "nb201/cifar10" in err
    assert main(["query", "nb201/cifar10", "--arch", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown op 'conv'" in err


def test_python_dash_m_entry_point_has_no_traceback(data_home):
    proc = subprocess.run([sys.executable, "-m", "harness", "query", "nope/x"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
