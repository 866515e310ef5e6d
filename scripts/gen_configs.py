"""Regenerate conf/benchmark/** and conf/strategy/*.yaml from the code.

Benchmark files come from the catalogue (one per benchmark, `family/dataset.yaml`); strategy files
list every hyperparameter with its paper default, read from the strategy's Config dataclass.
tests/test_app.py checks that the files and the code agree, so run this after adding either:

    python scripts/gen_configs.py
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.benchmarks import benchmark_names, get_spec  # noqa: E402
from harness.strategies import BUILTIN, get_strategy_class  # noqa: E402


def _yaml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value) if value == "" or not value.replace("_", "").replace("-", "").isalnum() else value
    return repr(value)


def benchmark_yaml(name: str) -> str:
    spec = get_spec(name)
    return (
        "# @package benchmark\n"
        f"# {spec.source}\n"
        f"name: {name}\n"
        "seed_policy: sample\n"
        "fixed_seed: null\n"
        "objectives: null\n"
    )


def strategy_yaml(name: str) -> str:
    cls = get_strategy_class(name)
    doc = (cls.__module__ and sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
    lines = [
        f"# {doc[0]}" if doc else f"# {name}",
        "# Defaults and their sources: see the module docstring of " + cls.__module__ + ".",
        "defaults:",
        f"  - {name}_schema",
        "  - _self_",
        "",
        f"name: {name}",
    ]
    defaults = cls.Config()
    for field in dataclasses.fields(cls.Config):
        lines.append(f"{field.name}: {_yaml_value(getattr(defaults, field.name))}")
    return "\n".join(lines) + "\n"


def expected_files() -> dict[Path, str]:
    # Stores a user converted locally (harness/catalog/local.py) are theirs, not the project's.
    shipped = [n for n in benchmark_names() if not get_spec(n).source.startswith("a store converted locally")]
    files = {ROOT / "conf" / "benchmark" / f"{name}.yaml": benchmark_yaml(name) for name in shipped}
    for name in BUILTIN:
        try:
            files[ROOT / "conf" / "strategy" / f"{name}.yaml"] = strategy_yaml(name)
        except Exception as exc:  # a strategy module missing in a partial checkout
            print(f"skipping strategy {name}: {exc}", file=sys.stderr)
    return files


def main() -> None:
    for path, text in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
