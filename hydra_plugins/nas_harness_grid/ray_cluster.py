"""`hydra/launcher=ray_cluster`: the Ray plugin's launcher, with a one-line error for a cluster it cannot reach.

With `hydra.launcher.ray.init.address=auto` (or `ray://...`, or RAY_ADDRESS) and no cluster there,
`ray.init` raises ConnectionError, which Hydra would print as a traceback; here it becomes one line
that says what to do (a SystemExit, which Hydra lets through to run_app; see
harness.grid.checks.GridSetupError). Nothing has run at that point (ray.init comes first in the
plugin's launch).

The class exists only when the Ray plugin is installed (`pip install -e ".[ray]"`); Hydra imports
every module of hydra_plugins, so this one must import without it. (No `from __future__ import
annotations`: Hydra execs plugin modules outside sys.modules.)
"""

from collections.abc import Sequence

from hydra.core.utils import JobReturn

try:
    from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher
except ImportError:  # the optional plugin is not installed: harness.grid.checks says which extra to install
    RayLauncher = None  # type: ignore[assignment,misc]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


if RayLauncher is not None:

    class CheckedRayLauncher(RayLauncher):  # type: ignore[misc,valid-type]
        """RayLauncher whose connection failures are one line that says what to do."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            """The plugin's launch, with a connection failure turned into one line (SystemExit) that says what to do."""
            from harness.grid.checks import GridSetupError, hydra_exit_message

            try:
                return super().launch(job_overrides, initial_job_idx)
            except ConnectionError as exc:
                address: str | None = None
                try:
                    address = self.ray_cfg.init.get("address")
                except Exception:  # the address is only for the message
                    pass
                error = GridSetupError(
                    "hydra/launcher=ray_cluster could not reach a Ray cluster "
                    f"(address {address or 'from RAY_ADDRESS'}): "
                    f"{_first_line(exc)}; start one (`ray start --head` on the head node) or fix "
                    "hydra.launcher.ray.init.address, or leave it null to run on a local Ray"
                )
                raise SystemExit(hydra_exit_message(error)) from None
