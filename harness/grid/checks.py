"""What `nas-harness run` checks before Hydra starts, so a grid that cannot run fails in one line.

- The command line: `-m`/`--multirun` and Hydra's other options are accepted anywhere; an unknown
  option is refused (Hydra's own parser would print its usage and our internal arguments).
- Output folders: `hydra.sweep.dir` / `hydra.run.dir` must be a folder or creatable as one.
- Launchers: an optional launcher plugin that is missing, or Slurm where there is none.

Checks that need the composed config (a default output folder, a Ray cluster to reach) happen
inside Hydra's sweeper and launcher and raise `GridSetupError` (printed as one line by run_app).
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from tabular.errors import NasHarnessError

PREFIX = "nas-harness: error: "
RAY_LAUNCHERS = ("ray", "ray_cluster", "ray_aws")
SLURM_LAUNCHERS = ("slurm", "submitit_slurm")


class GridSetupError(NasHarnessError):
    """A grid that cannot start (an output path that is a file, no Ray cluster to reach).

    Found inside Hydra's sweeper or launcher, it leaves Hydra as `SystemExit(hydra_exit_message(exc))`:
    Hydra reports any Exception with a traceback (or, for its own compact errors, three lines), but
    lets SystemExit through, and run_app prints its message as one line and exits 1.
    """


def hydra_exit_message(exc: NasHarnessError) -> str:
    """The one line run_app prints for a user error raised inside Hydra (see GridSetupError)."""
    return PREFIX + str(exc)


def _hydra_options() -> dict[str, object]:
    """Hydra's command-line options (option string -> argparse action), from Hydra's own parser."""
    from hydra._internal.utils import get_args_parser

    return {s: action for action in get_args_parser()._actions for s in action.option_strings}


def normalise_argv(argv: list[str]) -> tuple[list[str], bool]:
    """(argv with every option, and its value, before the overrides; whether it asks for a multirun).

    Hydra's parser takes options only before the KEY=VALUE overrides, and its error for one after
    them lists every later argument, ours included. An option Hydra does not know is refused here
    in one line.
    """
    options = _hydra_options()
    front: list[str] = []
    overrides: list[str] = []
    multirun = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            overrides.append(arg)
            continue
        name, has_value, _ = arg.partition("=")
        action = options.get(name)
        if action is None:
            raise NasHarnessError(
                f"unknown option {name} for `nas-harness run` (options: -m/--multirun, --cfg job|hydra|all, --info, "
                "--config-name, --config-dir; overrides are KEY=VALUE); see `nas-harness run --help`"
            )
        if name in ("-m", "--multirun"):
            multirun = True
            continue
        front.append(arg)
        nargs, choices = getattr(action, "nargs", 0), getattr(action, "choices", None)
        if has_value or nargs == 0 or i >= len(argv):
            continue
        if nargs is None or (nargs == "?" and choices is not None and argv[i] in choices):
            front.append(argv[i])
            i += 1
    return (["-m"] if multirun else []) + front + overrides, multirun


def override_value(argv: list[str], key: str) -> str | None:
    """The plain value that the overrides in `argv` give `key` (the last one wins); None when they give
    none, or one Hydra will resolve itself (an interpolation, a sweep) or report (a parse error)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    found = None
    parser = OverridesParser.create()
    for arg in argv:
        if arg.startswith("-") or key not in arg:
            continue
        try:
            override = parser.parse_override(arg)
        except Exception:  # Hydra reports it, with its own message, when it parses the same argument
            continue
        if override.key_or_group != key or override.is_sweep_override() or override.is_delete():
            continue
        value = override.value()
        found = value if isinstance(value, str) and "${" not in value else None
    return found


def check_output_dir(path: str | Path, key: str) -> None:
    """Refuse an output folder that is a file, or lies under a file: Hydra would fail with a traceback."""
    path = Path(path)
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            if not candidate.is_dir():
                where = "is" if candidate == path else f"lies under {candidate}, which is"
                raise GridSetupError(
                    f"{key}={path} {where} not a folder (a file of that name exists); choose another "
                    f"{key}= (a folder, or one that does not exist yet), or move that file away"
                )
            return


def _default_dir(key: str) -> str | None:
    """The value conf/config.yaml gives `key` (hydra.run.dir or hydra.sweep.dir), when it is a plain path."""
    from omegaconf import OmegaConf

    from harness.config import CONF_DIR

    try:
        value = OmegaConf.select(OmegaConf.load(Path(CONF_DIR) / "config.yaml"), key, throw_on_missing=False)
    except Exception:  # Hydra reports a broken config itself
        return None
    return value if isinstance(value, str) and "${" not in value else None


def check_output_dirs(argv: list[str], multirun: bool) -> None:
    """Check the output folder that the overrides name (or conf/config.yaml's default), before Hydra starts;
    the grid sweeper checks the composed value again (an experiment preset may set its own)."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    value = override_value(argv, key)
    if value is None and not any(a.startswith("+experiment") for a in argv):
        value = _default_dir(key)
    if value is not None:
        try:
            check_output_dir(value, key)
        except GridSetupError as exc:  # raised outside Hydra here: the CLI prints it
            raise NasHarnessError(str(exc)) from None


def _launcher(argv: list[str]) -> str | None:
    """The launcher a `hydra/launcher=NAME` override selects, if any (the last one wins)."""
    chosen = None
    for arg in argv:
        key, sep, value = arg.replace(" ", "").lstrip("+").partition("=")
        if sep and key == "hydra/launcher":
            chosen = value
    return chosen


def check_launcher(argv: list[str]) -> None:
    """One clear line when the chosen launcher cannot work here (Hydra or submitit would say far less,
    after a 30-line traceback): its plugin is missing, or it is Slurm on a machine without Slurm."""
    launcher = _launcher(argv)
    if launcher in RAY_LAUNCHERS and importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None:
        raise NasHarnessError(
            f"hydra/launcher={launcher} needs the Ray launcher plugin: "
            'pip install -e ".[ray]" (from the repository root)'
        )
    if launcher in SLURM_LAUNCHERS:
        if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
            raise NasHarnessError(
                f"hydra/launcher={launcher} needs the submitit plugin: pip install hydra-submitit-launcher"
            )
        missing = [tool for tool in ("srun", "sbatch") if shutil.which(tool) is None]
        if missing:
            raise NasHarnessError(
                f"hydra/launcher={launcher} needs Slurm, but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} "
                "not on PATH here: run nas-harness on a Slurm login node, or use hydra/launcher=local (this machine's "
                "cores) or hydra/launcher=submitit_local"
            )
