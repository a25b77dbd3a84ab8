"""Architecture registry: name -> factory, read from the entry-point group ``sb3_large.architectures``.

The built-ins are declared in the same group (``entry_points.txt``), so a third-party package that
declares ``my_arch = my_pkg.module:factory`` there is usable as ``arch="my_arch"`` with no change here.
A factory is ``factory(in_dim: int, *, width, depth, activation, norm, **extras) -> (nn.Module, out_dim)``.
"""

import warnings
from collections.abc import Callable
from importlib.metadata import entry_points

GROUP = "sb3_large.architectures"

Factory = Callable[..., tuple]

# Keyed by (name, "module:attr") so each entry point is imported (and warned about) once per process,
# while entry points added later to the path are still found on the next lookup.
_loaded: dict[tuple[str, str], Factory | Exception] = {}
_warned_duplicates: set[tuple[str, str]] = set()


def _load(ep) -> Factory | Exception:
    key = (ep.name, ep.value)
    if key not in _loaded:
        try:
            factory = ep.load()
            if not callable(factory):
                raise TypeError(f"{ep.value} is not callable")
            _loaded[key] = factory
        except Exception as exc:  # a broken plugin must not take the others down
            _loaded[key] = exc
            warnings.warn(
                f"sb3_large: architecture plugin {ep.name!r} ({ep.value}) failed to load and is skipped: {exc!r}",
                RuntimeWarning,
                stacklevel=3,
            )
    return _loaded[key]


def _scan() -> tuple[dict[str, Factory], dict[str, Exception]]:
    factories: dict[str, Factory] = {}
    broken: dict[str, Exception] = {}
    for ep in entry_points(group=GROUP):
        loaded = _load(ep)
        if isinstance(loaded, Exception):
            broken.setdefault(ep.name, loaded)
        elif ep.name not in factories:
            factories[ep.name] = loaded
        elif factories[ep.name] is not loaded and (ep.name, ep.value) not in _warned_duplicates:
            _warned_duplicates.add((ep.name, ep.value))
            warnings.warn(
                f"sb3_large: architecture {ep.name!r} is declared twice; ignoring {ep.value}",
                RuntimeWarning,
                stacklevel=3,
            )
    return factories, broken


def available() -> list[str]:
    """Names of the architectures that loaded, sorted."""
    return sorted(_scan()[0])


def get(name: str) -> Factory:
    """The factory registered under ``name``; a ValueError listing the known names otherwise."""
    factories, broken = _scan()
    if name in factories:
        return factories[name]
    if name in broken:
        raise ValueError(f"arch: architecture plugin {name!r} failed to load: {broken[name]!r}")
    known = ", ".join(sorted(factories)) or "none (is sb3-large installed? run `pip install -e .`)"
    raise ValueError(
        f"arch: unknown architecture {name!r}; known: {known} "
        f"(other names come from installed plugins, entry-point group {GROUP!r})"
    )
