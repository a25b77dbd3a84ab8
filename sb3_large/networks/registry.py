"""Architecture registry: name -> body factory.

The built-in bodies are registered here in code; third-party packages add theirs through the entry-point group
``sb3_large.architectures`` (``my_arch = my_pkg.module:factory``), read once per process. A plugin cannot
replace a built-in: such an entry point is ignored with a warning. A factory is
``factory(in_dim: int, *, width, depth, activation, norm, **extras) -> (nn.Module, out_dim)``.
"""

import functools
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points

from torch import nn

from sb3_large.networks.d2rl import d2rl
from sb3_large.networks.densenet import densenet
from sb3_large.networks.mlp import mlp
from sb3_large.networks.residual import residual
from sb3_large.networks.simbav2 import simbav2

GROUP = "sb3_large.architectures"

Factory = Callable[..., tuple[nn.Module, int]]

BUILTINS: dict[str, Factory] = {
    "mlp": mlp,
    "densenet": densenet,
    "d2rl": d2rl,
    "residual": residual,
    "simbav2": simbav2,
}


@functools.cache
def _plugins() -> tuple[dict[str, Factory], dict[str, Exception]]:
    """The installed plugins that loaded, and the errors of those that did not (each warned about once)."""
    factories: dict[str, Factory] = {}
    broken: dict[str, Exception] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in BUILTINS or ep.name in factories or ep.name in broken:
            what = "a built-in architecture" if ep.name in BUILTINS else "declared twice"
            warnings.warn(
                f"sb3_large: architecture {ep.name!r} is {what}; ignoring {ep.value}", RuntimeWarning, stacklevel=4
            )
            continue
        try:
            factory = ep.load()
            if not callable(factory):
                raise TypeError(f"{ep.value} is not callable")
            factories[ep.name] = factory
        except Exception as exc:  # a broken plugin must not take the others down
            broken[ep.name] = exc
            warnings.warn(
                f"sb3_large: architecture plugin {ep.name!r} ({ep.value}) failed to load and is skipped: {exc!r}",
                RuntimeWarning,
                stacklevel=4,
            )
    return factories, broken


def available() -> list[str]:
    """Names of the architectures that can be built, sorted: the built-ins and the plugins that loaded."""
    return sorted([*BUILTINS, *_plugins()[0]])


def get(name: str) -> Factory:
    """The factory registered under ``name``; a ValueError listing the known names otherwise."""
    if name in BUILTINS:
        return BUILTINS[name]
    factories, broken = _plugins()
    if name in factories:
        return factories[name]
    if name in broken:
        raise ValueError(f"arch: architecture plugin {name!r} failed to load: {broken[name]!r}")
    raise ValueError(
        f"arch: unknown architecture {name!r}; known: {', '.join(available())} "
        f"(other names come from installed plugins, entry-point group {GROUP!r})"
    )
