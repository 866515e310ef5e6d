"""Search spaces, looked up by name: `get_space("nb201")`."""
from __future__ import annotations

from collections.abc import Callable

from harness.spaces.base import ArchitectureError, SearchSpace
from tabular.errors import NasHarnessError


def _nb201() -> SearchSpace:
    from harness.spaces.nb201 import NB201Space

    return NB201Space()


def _nbgraph() -> SearchSpace:
    from harness.spaces.nbgraph import NBGraphSpace

    return NBGraphSpace()


def _nb101() -> SearchSpace:
    from harness.spaces.nb101 import NB101Space

    return NB101Space()


def _darts() -> SearchSpace:
    from harness.spaces.darts import DartsSpace

    return DartsSpace()


_FACTORIES: dict[str, Callable[[], SearchSpace]] = {
    "nb201": _nb201, "nbgraph": _nbgraph, "nb101": _nb101, "darts": _darts,
}


def space_names() -> list[str]:
    """The names `get_space` accepts for built-in spaces, sorted."""
    return sorted(_FACTORIES)


def get_space(name: str) -> SearchSpace:
    """A fresh space object by name (cheap; heavy tables are built lazily on first use)."""
    if name.startswith("ids:"):
        from harness.spaces.ids import IdsSpace

        return IdsSpace(name)
    if name.startswith("structured:"):  # a user table's declared positions x choices (bound to its store)
        from harness.spaces.structured import StructuredSpace

        return StructuredSpace(name)
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise NasHarnessError(f"unknown search space {name!r}; known spaces: {', '.join(space_names())}") from None
    return factory()


__all__ = ["ArchitectureError", "SearchSpace", "get_space", "space_names"]
