"""`nas-harness run`'s guidance: the overrides checked before Hydra starts, custom strategies, and `run --help`.

Why before Hydra: Hydra reports a wrong config group or key with a multi-line message, a list that
mixes internal `*_schema` entries with the real choices, and a hint about HYDRA_FULL_ERROR; and it
lets `+key=value` add any key at all (`+budget.evaluation=5` ran 200 evaluations and recorded the
junk key in the manifest). Here every override is checked against the structured schema
(harness.config) and the config folders, and the first problem is refused in one line with a
"did you mean" from difflib. A strategy named `package.module:Class` gets its own ConfigStore
entry, built from its Config, before Hydra composes (Hydra's launchers hand the ConfigStore to
their workers).
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tabular.errors import NasHarnessError

# Config groups a user selects (`strategy=re`); any other `a/b=` group (hydra/launcher, ...) is Hydra's.
GROUPS = ("strategy", "benchmark", "budget", "experiment")
GRID_KEYS_HELP = (
    ("strategy=NAME", "a strategy below, a preset (re_nb101, ...), or your own package.module:Class"),
    ("benchmark=FAMILY/DATASET", "a benchmark below, e.g. nb201/cifar10 (`nas-harness benchmarks`)"),
    ("seed=N", "the run's seed; a grid: seed=0,1,2 or seed='range(0,10)'"),
    ("budget.evaluations=N", "stop after N evaluations (default 200)"),
    ("budget.sim_seconds=S", "stop after S simulated seconds (training time the benchmark records)"),
    ("n_workers=N", "simulated asynchronous workers (default 1)"),
    ("benchmark.seed_policy=P", "fixed | mean | sample (default sample): which training seed a query returns"),
    ("benchmark.fixed_seed=S", "the seed label for seed_policy=fixed"),
    ("benchmark.objectives=[A,B]", "multi-objective runs, e.g. [valid_acc,params] with strategy=nsga2"),
    ("strategy.NAME=VALUE", "a hyperparameter of the chosen strategy (`nas-harness strategies NAME`)"),
    ("grid.batch_size=N", "runs per launcher job in a grid (default: automatic)"),
    ("hydra.run.dir=DIR / hydra.sweep.dir=DIR", "where results go (default results/)"),
    ("hydra/launcher=NAME", "local (default, all cores), joblib, slurm, submitit_local, ray_cluster"),
    ("+experiment=NAME", "a paper protocol: nb201_paper, nb201_paper_official, nb201_paper_nats, nb101_paper"),
    ("hydra.searchpath=[file://DIR]", "also read config groups (DIR/strategy/*.yaml, ...) from your own folder"),
)


def _one_line(exc: BaseException) -> str:
    """The first line of an OmegaConf/Hydra message (the rest is `full_key:`/`object_type=` detail)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _suggest(word: str, choices: Iterable[str]) -> str:
    """`: did you mean X?` for the closest choice (difflib's candidates, ranked by edit distance; a choice the
    word merely extends, `rss` -> `rs`, wins a tie), or "" when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=5, cutoff=0.6)
    if not close:
        return ""
    best = min(close, key=lambda c: (_distance(word, c), not (word.startswith(c) or c.startswith(word)), len(c)))
    return f": did you mean {best}?"


def _say(head: str, suggestion: str, tail: str) -> str:
    """One line: `head: did you mean X? tail`, or `head. tail` when nothing is close."""
    return f"{head}{suggestion} {tail}" if suggestion else f"{head}. {tail}"


def is_custom(name: str) -> bool:
    """A strategy named by its class (`package.module:Class`) rather than a config file."""
    return ":" in name


# ---------------------------------------------------------------------------------------------- options

def _searchpath_dirs(overrides: list[Any]) -> list[Path] | None:
    """The `file://` folders a `hydra.searchpath=[...]` override adds; None when it adds something we cannot list."""
    dirs: list[Path] = []
    for o in overrides:
        if o.key_or_group.lstrip("+") != "hydra.searchpath":
            continue
        value = o.value()
        for entry in value if isinstance(value, list) else [value]:
            entry = str(entry)
            if entry.startswith("file://"):
                dirs.append(Path(entry[len("file://"):]))
            else:  # pkg:// or a bare path: Hydra will resolve it; do not second-guess the group lists
                return None
    return dirs


def _yaml_options(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml")}


def _store_options(group: str) -> set[str]:
    """The ConfigStore's options of `group` (nested folders as a/b), the internal `*_schema` ones left out."""
    from hydra.core.config_store import ConfigStore

    def walk(node: Any, prefix: str) -> Iterator[str]:
        for key, value in node.items():
            if isinstance(value, dict):
                yield from walk(value, f"{prefix}{key}/")
            elif key.endswith(".yaml") and not key[:-5].endswith("_schema"):
                yield prefix + key[:-5]

    node = ConfigStore.instance().repo.get(group, {})
    return set(walk(node, "")) if isinstance(node, dict) else set()


def group_options(group: str, extra_dirs: Iterable[Path] = ()) -> list[str]:
    """What a user may select in `group`: the YAML files of conf/ (and of user folders), plus ConfigStore entries."""
    from harness.config import CONF_DIR

    found = _yaml_options(Path(CONF_DIR) / group) | _store_options(group)
    for folder in extra_dirs:
        found |= _yaml_options(folder / group)
    return sorted(found)


def _strategy_name(option: str, extra_dirs: Iterable[Path] = (), depth: int = 0) -> str | None:
    """The strategy a `strategy=` option runs: its YAML's `name:`, following its defaults (re_nb101 -> re)."""
    from omegaconf import OmegaConf

    from harness.config import CONF_DIR

    if is_custom(option):
        return option
    if depth > 5:
        return None
    for folder in (Path(CONF_DIR), *extra_dirs):
        path = folder / "strategy" / f"{option}.yaml"
        if not path.is_file():
            continue
        data = OmegaConf.to_container(OmegaConf.load(path))
        if not isinstance(data, dict):
            return None
        if isinstance(data.get("name"), str):
            return data["name"]
        for parent in data.get("defaults") or []:
            if isinstance(parent, str) and parent not in ("_self_",) and not parent.endswith("_schema"):
                return _strategy_name(parent, extra_dirs, depth + 1)
        return None
    return None


# ---------------------------------------------------------------------------------------------- schemas

@functools.lru_cache(maxsize=64)
def _strategy_node(name: str):
    """The structured config of a tabular strategy's hyperparameters (None for one-shot or unknown ones)."""
    from omegaconf import OmegaConf

    from harness.config import strategy_schema
    from harness.oneshot.registry import ONESHOT_METHODS
    from harness.strategies.base import StrategyError

    if name in ONESHOT_METHODS:
        from harness.config import oneshot_schema
        from tabular.optional import MissingExtraError

        try:
            return OmegaConf.structured(oneshot_schema(name))
        except MissingExtraError:  # no torch: the run is refused in one line while Hydra composes
            return None
    try:
        return OmegaConf.structured(strategy_schema(name))
    except StrategyError as exc:
        raise NasHarnessError(str(exc)) from None


def _run_node():
    from omegaconf import OmegaConf

    from harness.config import RunConf

    return OmegaConf.structured(RunConf)


def _keys(node: Any, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    out = []
    for key in node.keys() if isinstance(node, DictConfig) else []:
        full = f"{prefix}{key!s}"
        out.append(full)
        try:
            child = node._get_node(key)
        except Exception:  # a missing value (strategy: ???) has no children
            continue
        if isinstance(child, DictConfig):
            out.extend(_keys(child, full + "."))
    return out


def register_custom_strategy(name: str) -> None:
    """Put `strategy/<package.module:Class>` in the ConfigStore: `name` plus the class's own Config fields.

    One line (NasHarnessError) when the module or class cannot be imported or is not a Strategy.
    """
    from hydra.core.config_store import ConfigStore

    from harness.config import strategy_schema
    from harness.strategies.base import StrategyError

    try:
        schema = strategy_schema(name)
    except StrategyError as exc:
        raise NasHarnessError(f"strategy={name}: {exc}") from None
    ConfigStore.instance().store(group="strategy", name=name, node=schema, provider="nas-harness")


# ---------------------------------------------------------------------------------------------- checks

def _values(override: Any) -> list[Any]:
    """Every value an override gives (each choice of a sweep); [] for sweeps we do not expand (interval, glob)."""
    if not override.is_sweep_override():
        return [override.value()]
    from hydra.core.override_parser.types import ChoiceSweep, RangeSweep

    value = override.value()
    if isinstance(value, ChoiceSweep):
        return list(value.list)
    if isinstance(value, RangeSweep):
        return list(override.sweep_iterator())
    return []


def _plain(value: Any) -> bool:
    """A value OmegaConf can take as it is (not an interpolation, nor a Hydra function we leave to Hydra)."""
    if isinstance(value, str):
        return "${" not in value
    if isinstance(value, (list, dict)):
        return all(_plain(v) for v in (value.values() if isinstance(value, dict) else value))
    return value is None or isinstance(value, (bool, int, float))


def _check_group(group: str, value: Any, extra: list[Path] | None) -> None:
    if not isinstance(value, str):
        raise NasHarnessError(f"{group}={value!r}: give a name, e.g. {group}={group_options(group)[0]}")
    if group == "strategy" and is_custom(value):
        register_custom_strategy(value)
        return
    if extra is None:
        return  # a pkg:// search path: Hydra knows its groups
    options = group_options(group, extra)
    if value in options or f"{value}_schema" in _store_options_all(group):
        return
    if group == "benchmark":
        raise NasHarnessError(_say(f"unknown benchmark {value!r} (no config benchmark/{value})",
                                   _suggest(value, options), "`nas-harness benchmarks` lists them all"))
    hint = " or your own package.module:Class (docs/STRATEGIES.md)" if group == "strategy" else ""
    raise NasHarnessError(_say(f"unknown {group} {value!r} (no config {group}/{value})", _suggest(value, options),
                               f"Choose one of {', '.join(options)}{hint}"))


def _store_options_all(group: str) -> set[str]:
    from hydra.core.config_store import ConfigStore

    node = ConfigStore.instance().repo.get(group, {})
    return {k[:-5] for k in node if k.endswith(".yaml")} if isinstance(node, dict) else set()


def check_overrides(argv: list[str]) -> None:
    """Refuse, in one line, the first override that names an unknown group option or key, or a wrong type.

    Checked: `strategy=`/`benchmark=`/`budget=`/`experiment=` options (every choice of a sweep), keys
    (with or without `+`/`++`) against the run schema and the chosen strategies' hyperparameters,
    and each value against the key's type. `hydra.*` and `hydra/...` are Hydra's and left to it.
    A custom `package.module:Class` strategy is imported and registered here (register_custom_strategy).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    overrides = []
    for arg in argv:
        if arg.startswith("-"):
            continue
        try:
            overrides.append(parser.parse_override(arg))
        except Exception as exc:  # Hydra's grammar error: say it in one line
            raise NasHarnessError(f"cannot read the override {arg!r}: {_one_line(exc)}") from None
    extra = _searchpath_dirs(overrides)
    strategies: list[str] = ["rs"]  # conf/config.yaml's default
    experiment = False
    for o in overrides:
        key = o.key_or_group
        if key in GROUPS:
            if key == "experiment":
                experiment = True
            if o.is_delete():
                continue
            values = _values(o)
            for value in values:
                _check_group(key, value, extra)
            if key == "strategy" and values:
                strategies = [str(v) for v in values]
    names = {_strategy_name(s, extra or ()) for s in strategies}
    run_node = _run_node()
    known = set(_keys(run_node))
    hyper: dict[str, Any] = {}
    if None not in names and not experiment:
        for name in names:
            node = _strategy_node(str(name))
            if node is None:
                hyper = {}
                break
            hyper[str(name)] = node
    for o in overrides:
        key = o.key_or_group
        if key in GROUPS or key.split(".")[0] == "hydra" or "/" in key or o.is_delete():
            continue
        if key.startswith("strategy."):
            _check_hyperparameter(o, key, hyper, strategies)
            continue
        if key not in known:
            drop = "(A leading + adds a new key; every real key exists already: drop the +.) " if o.is_add() else ""
            keys = ", ".join(sorted(known - {"grid.batch_file"}))
            raise NasHarnessError(_say(f"{o.input_line}: {key} is not a setting of `nas-harness run`",
                                       _suggest(key, known), f"{drop}The keys: {keys}"))
        if o.is_add():  # Hydra would refuse it in several lines ("Could not append to config")
            raise NasHarnessError(f"{o.input_line}: {key} exists already; set it without the +: "
                                  f"{str(o.input_line).lstrip('+')}")
        for value in _values(o):
            if _plain(value):
                try:
                    _assign(run_node, key, value)
                except Exception as exc:
                    raise NasHarnessError(f"{o.input_line}: {_one_line(exc)}") from None


def _assign(node: Any, key: str, value: Any) -> None:
    from omegaconf import OmegaConf

    OmegaConf.update(copy.deepcopy(node), key, value, merge=True, force_add=False)


def _check_hyperparameter(o: Any, key: str, hyper: dict[str, Any], strategies: list[str]) -> None:
    """`strategy.X=` must be a hyperparameter of every chosen strategy (unknown when a preset or one-shot method
    decides; Hydra checks those while composing)."""
    field = key[len("strategy."):]
    if field == "name":
        for value in _values(o):
            if isinstance(value, str) and (is_custom(value) or "." in value):
                raise NasHarnessError(f"{o.input_line}: choose your strategy with strategy={value} (strategy.name= "
                                      "would keep the default strategy's hyperparameters)")
        return
    for name, node in hyper.items():
        if field not in node:
            params = ", ".join(k for k in node if k != "name") or "none"
            raise NasHarnessError(_say(f"{o.input_line}: strategy {name} has no hyperparameter {field!r}",
                                       _suggest(field, [k for k in node if k != "name"]),
                                       f"Its hyperparameters: {params} (`nas-harness strategies {name}`)"))
        if o.is_add():
            raise NasHarnessError(f"{o.input_line}: {key} exists already; set it without the +: "
                                  f"{str(o.input_line).lstrip('+')}")
        for value in _values(o):
            if _plain(value):
                try:
                    _assign(node, field, value)
                except Exception as exc:
                    raise NasHarnessError(f"{o.input_line}: {_one_line(exc)}") from None


# ---------------------------------------------------------------------------------------------- help

def _type_name(kind: Any) -> str:
    if isinstance(kind, type):
        return kind.__name__
    return str(kind).replace("typing.", "")


def hyperparameter_lines(name: str) -> list[str]:
    """`  field: type = default` per Config field of strategy `name` (tabular, one-shot or package.module:Class)."""
    from harness.oneshot.registry import ONESHOT_REGISTRY
    from harness.strategies import get_strategy_class
    from harness.strategies.base import StrategyError

    preset: list[str] = []
    base = _strategy_name(name)
    if base is not None and base != name and not is_custom(name):  # a preset such as re_nb101: its own values first
        from omegaconf import OmegaConf

        from harness.config import CONF_DIR

        values = OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "strategy" / f"{name}.yaml"))
        given = {str(k): v for k, v in (values.items() if isinstance(values, dict) else ())
                 if k not in ("defaults", "name")}
        preset = [f"{name} is a preset of {base} (conf/strategy/{name}.yaml) setting "
                  + (", ".join(f"{k}={v}" for k, v in given.items()) or "nothing else")]
        name = base
    if name in ONESHOT_REGISTRY:
        from tabular.optional import require_torch

        require_torch(f"the one-shot strategy {name}")
        from harness.oneshot.search import OneShotConfig

        config: Any = OneShotConfig
        title = f"{name}: {ONESHOT_REGISTRY[name]}"
    else:
        try:
            cls = get_strategy_class(name)
        except StrategyError:
            from harness.strategies import strategy_names

            raise NasHarnessError(_say(f"unknown strategy {name!r}", _suggest(name, strategy_names()),
                                       f"Choose one of {', '.join(strategy_names())}, a preset (`nas-harness run "
                                       "--help`) or package.module:ClassName")) from None
        from harness.strategies import strategy_summary

        config, title = cls.Config, f"{name}: {strategy_summary(name)}"
    try:
        hints = typing.get_type_hints(config)
    except Exception:  # an annotation that does not resolve: show the raw one
        hints = {}
    lines = [title, *preset, f"hyperparameters (strategy.NAME=VALUE; defaults of {config.__name__}):"]
    defaults = config()
    for f in dataclasses.fields(config):
        lines.append(f"  {f.name}: {_type_name(hints.get(f.name, f.type))} = {getattr(defaults, f.name)!r}")
    if not dataclasses.fields(config):
        lines.append("  (none)")
    return lines


def strategy_lines() -> list[str]:
    """One line per strategy: tabular ones (harness.strategies), then one-shot ones (harness.oneshot.registry)."""
    from harness.oneshot.registry import ONESHOT_REGISTRY
    from harness.strategies import strategy_names, strategy_summary
    from harness.strategies.base import StrategyError

    names = strategy_names()
    width = max(len(n) for n in [*names, *ONESHOT_REGISTRY])
    lines = []
    for name in names:
        try:
            summary = strategy_summary(name)
        except StrategyError as exc:  # an entry point whose package is broken: say so, do not fail the help
            summary = f"(cannot import: {exc})"
        lines.append(f"  {name.ljust(width)}  {summary}")
    lines.append("  one-shot (real compute seconds; need the torch extra; docs/ONESHOT.md):")
    lines.extend(f"  {name.ljust(width)}  {text}" for name, text in ONESHOT_REGISTRY.items())
    presets = [o for o in group_options("strategy")
               if o not in names and o not in ONESHOT_REGISTRY and not is_custom(o)]
    lines.append("  presets (a strategy with a paper's settings; `nas-harness strategies PRESET` shows them):")
    lines.extend(_wrap(", ".join(presets)))
    return lines


def run_help(argv: list[str]) -> str:
    """`nas-harness run --help`: usage, grid keys, strategies, benchmarks; with `strategy=X`, X's hyperparameters."""
    chosen = [a.split("=", 1)[1] for a in argv if a.lstrip("+").startswith("strategy=")]
    if chosen:
        return "\n".join(hyperparameter_lines(chosen[-1]))
    from harness.benchmarks import benchmark_names

    width = max(len(k) for k, _ in GRID_KEYS_HELP)
    out = [
        "usage: nas-harness run [-m] KEY=VALUE ...",
        "",
        "One run, or a strategy x benchmark x seed grid with -m (comma lists and range(a,b) sweep a key).",
        "Typos, unknown keys and wrong types are refused before anything runs. Example:",
        "  nas-harness run -m strategy=rs,re benchmark=nb201/cifar10 seed='range(0,10)' budget.evaluations=100",
        "",
        "keys:",
        *(f"  {k.ljust(width)}  {text}" for k, text in GRID_KEYS_HELP),
        "",
        "strategies (a strategy's hyperparameters: `nas-harness run --help strategy=NAME` or "
        "`nas-harness strategies NAME`):",
        *strategy_lines(),
        "",
        "benchmarks (status and data: `nas-harness benchmarks`):",
        *_wrap(", ".join(benchmark_names())),
        "",
        "Hydra's own options: nas-harness run --hydra-help; the composed config: "
        "nas-harness run --cfg job KEY=VALUE...",
    ]
    return "\n".join(out)


def _wrap(text: str, width: int = 100) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False)
