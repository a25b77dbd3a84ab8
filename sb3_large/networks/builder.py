"""The one builder every network uses: a ``NetSpec`` (what to build) and ``build(spec, in_dim)``."""

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from torch import nn

from sb3_large.checks import check_choice, check_int
from sb3_large.networks import registry
from sb3_large.networks.layers import NORMS, activation_class


@dataclass(frozen=True)
class NetSpec:
    """What to build for one network body; validated on creation, so bad input fails when the policy is built.

    ``norm=None`` lets the architecture choose (``"none"`` for MLP-like bodies, ``"layer"`` for ``residual``).
    ``arch_kwargs`` are extra options of the architecture (e.g. ``expansion`` for ``residual``).
    """

    arch: str = "densenet"
    width: int = 2048
    depth: int = 2
    activation: str | type[nn.Module] = "relu"
    norm: str | None = None
    arch_kwargs: Mapping = field(default_factory=dict)

    def __post_init__(self):
        check_int("width", self.width)
        check_int("depth", self.depth)
        activation_class(self.activation)
        if self.norm is not None:
            check_choice("norm", self.norm, NORMS)
        if not isinstance(self.arch_kwargs, Mapping):
            raise TypeError(f"arch_kwargs: must be a mapping, got {type(self.arch_kwargs).__name__}")
        _check_signature(self.arch, registry.get(self.arch), self.options())

    def options(self) -> dict:
        """Keyword arguments the architecture factory receives."""
        return dict(width=self.width, depth=self.depth, activation=self.activation, norm=self.norm, **self.arch_kwargs)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def _check_signature(arch: str, factory, options: dict) -> None:
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL][1:]
    for name in options:
        if name not in accepted:
            raise TypeError(f"{name}: architecture {arch!r} does not take this option; it takes: {', '.join(accepted)}")


def build(spec: NetSpec, in_dim: int) -> tuple[nn.Module, int]:
    """Build the body ``in_dim -> out_dim`` described by ``spec``; returns ``(module, out_dim)``."""
    in_dim = check_int("in_dim", in_dim)
    module, out_dim = registry.get(spec.arch)(in_dim, **spec.options())
    if not isinstance(module, nn.Module) or isinstance(out_dim, bool) or not isinstance(out_dim, int) or out_dim <= 0:
        raise TypeError(
            f"arch: factory of {spec.arch!r} must return (nn.Module, positive int), "
            f"got ({type(module).__name__}, {out_dim!r})"
        )
    return module, out_dim


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters of ``module`` (shared tensors counted once)."""
    return sum(p.numel() for p in module.parameters())
