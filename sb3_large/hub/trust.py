"""Which classes an ``sb3_large_config.json`` may name, checked before anything is imported.

A model folder is data. Its config names classes (the policy, an activation, an optimizer) by dotted path;
they resolve only from trusted modules, checked on the name *before* any import, so a config cannot make the
loader run a module shipped next to it (a Hub clone is often the current directory, first on ``sys.path``).
Trusted: sb3_large, stable_baselines3, sb3_contrib, torch.nn, torch.optim, the modules of installed
``sb3_large.architectures`` plugins, and whatever the caller names in ``trust_modules``; from the built-in ones,
only the kinds of class a kwarg takes (``CLASS_KWARGS``, ``ACTIVATION_KWARGS``).
"""

import re
from collections.abc import Iterable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

import torch as th
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from sb3_large.hub.schema import ConfigError
from sb3_large.networks.registry import GROUP

TRUSTED_MODULES = ("sb3_large", "stable_baselines3", "sb3_contrib", "torch.nn", "torch.optim")
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
# The policy kwargs that may name a class from the built-in trusted modules, and what it must be: no other
# trusted class is in reach (SB3's algorithms, for one, call gym.make, which imports the module an env id names).
CLASS_KWARGS: dict[str, type] = {
    "features_extractor_class": BaseFeaturesExtractor,
    "optimizer_class": th.optim.Optimizer,
}
# An activation is built once per layer, so it must be parameter-free: any other torch.nn module would multiply
# the work of building a policy whatever the weights file holds (``torch.nn.Transformer()`` alone has 184 tensors).
ACTIVATION_KWARGS = ("activation", "activation_fn")
ACTIVATIONS_MODULE = "torch.nn.modules.activation"


def trusted_modules(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Module prefixes a config may name: the built-in list, installed plugins' modules, then ``extra``."""
    plugins = sorted({ep.module for ep in entry_points(group=GROUP)} - set(TRUSTED_MODULES))
    return (*TRUSTED_MODULES, *(m for m in plugins if not _within(m, TRUSTED_MODULES)), *extra)


def _within(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def resolve_class(
    path: Any, field: str, trust_modules: Iterable[str] = (), base: type = object, built_in: bool = True
) -> type:
    """The class at dotted ``path``, imported only if its module is trusted (checked on the name first), and
    a subclass of ``base``. ``built_in=False`` trusts only the caller's ``trust_modules``."""
    if not isinstance(path, str) or not _DOTTED.fullmatch(path):
        raise ConfigError(field, f"expected a dotted class path 'package.module.Class', got {path!r:.80}")
    allowed = trusted_modules(trust_modules) if built_in else tuple(trust_modules)
    module_name, _, name = path.rpartition(".")
    if not _within(module_name, allowed):
        top = module_name.split(".")[0]
        scope = "the trusted modules" if built_in else "the modules passed in trust_modules"
        raise ConfigError(
            field,
            f"{path!r} is outside {scope} ({', '.join(allowed) or 'none'}); nothing was imported. "
            f"If you trust this model's code, pass trust_modules=[{top!r}] (CLI: --trust-module {top})",
        )
    try:
        obj = getattr(import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(field, f"{path!r} cannot be imported ({exc}); is its package installed?") from None
    if not isinstance(obj, type):
        raise ConfigError(field, f"{path!r} is not a class")
    if not _within(obj.__module__, allowed):  # a trusted module may re-export a class from anywhere
        raise ConfigError(field, f"{path!r} is defined in {obj.__module__!r}, outside the trusted modules")
    if not issubclass(obj, base):
        raise ConfigError(field, f"{path!r} is not a {base.__module__}.{base.__qualname__} subclass")
    return obj


def _activation(path: str, field: str, trust_modules: tuple[str, ...]) -> type:
    """A parameter-free activation class: from ``torch.nn.modules.activation`` or the caller's ``trust_modules``,
    built with no arguments into a module of no parameters, buffers or submodules."""
    cls = resolve_class(path, field, trust_modules, th.nn.Module)
    if cls.__module__ == ACTIVATIONS_MODULE or _within(cls.__module__, trust_modules):
        try:
            module = cls()  # torch.nn's activations are small; a trust_modules class is code the caller trusts
        except TypeError:  # it needs arguments (torch.nn.MultiheadAttention)
            module = None
        if module is not None and not any((*module.parameters(), *module.buffers(), *module.children())):
            return cls
    raise ConfigError(
        field,
        f"{path!r} is not a parameter-free activation: expected a class of {ACTIVATIONS_MODULE} (torch.nn.ReLU, "
        "torch.nn.SiLU, ...) or of trust_modules that builds with no arguments and holds no parameters, buffers or "
        "submodules",
    )


def decode_kwargs(value: Any, field: str, trust_modules: Iterable[str] = (), key: str = "") -> Any:
    """Policy kwargs from JSON: ``{"__class__": path}`` entries become (trusted) classes. Under a key of
    ``CLASS_KWARGS`` the class must be of its kind, under ``ACTIVATION_KWARGS`` a parameter-free activation; under
    any other key (a custom extractor's or plugin's kwargs) it comes only from the caller's ``trust_modules``, since
    a built-in trusted class could do harm there.
    """
    trust_modules = tuple(trust_modules)
    if isinstance(value, list):
        return [decode_kwargs(v, f"{field}[{i}]", trust_modules) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if set(value) == {"__class__"}:
            if key in ACTIVATION_KWARGS:
                return _activation(value["__class__"], field, trust_modules)
            if key in CLASS_KWARGS:
                return resolve_class(value["__class__"], field, trust_modules, CLASS_KWARGS[key])
            return resolve_class(value["__class__"], field, trust_modules, built_in=False)
        return {k: decode_kwargs(v, f"{field}.{k}", trust_modules, k) for k, v in value.items()}
    return value
