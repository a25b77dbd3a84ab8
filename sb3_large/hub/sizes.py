"""Bounds on a model folder's weights before anything large is built: the config's policy against the size of the
weights file (read from its safetensors header alone), capped in layers and critics, then the header against the
policy the config describes, built on the meta device (shapes and dtypes only, nothing allocated).
"""

import math
import re
from pathlib import Path
from typing import Any

import torch as th
from safetensors import SafetensorError, safe_open
from stable_baselines3.common.base_class import BaseAlgorithm
from torch.overrides import TorchFunctionMode

from sb3_large.checks import is_int
from sb3_large.hub.format import CONFIG_NAME, WEIGHTS_NAME, printable
from sb3_large.hub.schema import ConfigError
from sb3_large.internals import is_all_true

# The names safetensors gives torch dtypes in a file's header.
SAFETENSORS_DTYPES = {
    th.float64: "F64",
    th.float32: "F32",
    th.float16: "F16",
    th.bfloat16: "BF16",
    th.int64: "I64",
    th.int32: "I32",
    th.int16: "I16",
    th.int8: "I8",
    th.uint8: "U8",
    th.bool: "BOOL",
}
# The dtypes a policy's weights have: only tensors of these count toward the size bound (a file padded with
# one-byte integers holds no weights).
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
# Caps on the settings that multiply the modules a policy builds, far above any real model (a few to a few dozen
# layers, ensembles of 2 to 10 critics): the size bound alone allows a small file to describe thousands of layers,
# each built (on the meta device) before the weights are compared.
MAX_LAYERS = 64
MAX_CRITICS = 64
# ... and on all the layers of a policy together (every critic's, stacked or not: each is built on its own).
MAX_POLICY_LAYERS = 1024
# Weight names of the critics (the online ones; targets are copies): separate Q networks, stacked ones.
SEPARATE_CRITIC = re.compile(r"critic\.qf(\d+)\.")
STACKED_CRITICS = "critic.q_ensemble."


class _MetaTensors(TorchFunctionMode):
    """Under ``torch.device("meta")``: keep ``.to(device)`` on meta tensors, skip data-dependent value checks.

    SB3's policies move each network to their device while it is built; a meta tensor cannot be copied out.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is th.Tensor.to and args[0].is_meta:
            return args[0]
        if func is is_all_true() and args[0].is_meta:  # torch.distributions' argument validation
            return True
        return func(*args, **(kwargs or {}))


def expected_tensors(model: BaseAlgorithm) -> dict[str, th.Tensor]:
    """The policy's state dict as shapes and dtypes only: built on the meta device, so nothing is allocated."""
    with th.device("meta"), _MetaTensors():
        policy = model.policy_class(model.observation_space, model.action_space, lambda _: 0.0, **model.policy_kwargs)
    return policy_weights(policy)


def policy_weights(policy: th.nn.Module) -> dict[str, th.Tensor]:
    # Optimizer states (OFENet's extra state) are training state, not weights: a Hub model carries none.
    return {k: v for k, v in policy.state_dict().items() if not k.endswith("_extra_state")}


def read_header(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """The weights file's tensors as names -> (shape, dtype), read from its header alone."""
    try:
        with safe_open(str(path), framework="pt") as weights:
            return {
                k: (tuple(weights.get_slice(k).get_shape()), weights.get_slice(k).get_dtype()) for k in weights.keys()
            }
    except (SafetensorError, OSError) as exc:
        raise ValueError(
            printable(f"{WEIGHTS_NAME}: cannot be read ({exc}); the file is missing, truncated or corrupt")
        ) from None


def _layers(kwargs: dict[str, Any], names: tuple[str, str], widths: Any, widths_name: str) -> tuple[int, str | None]:
    """The hidden layers of one network of the policy as ``policies.common.resolve_specs`` settles them (its own
    ``depth``, else as many as SB3's ``net_arch`` widths, else the shared ``depth``), and the setting that says so;
    0 and None where none is written."""
    for name in names:  # the new name and the old one
        own = kwargs.get(name)
        if isinstance(own, dict) and is_int(own.get("depth")):
            return max(own["depth"], 0), f"{name}.depth {own['depth']}"
    if isinstance(widths, list):
        return len(widths), f"{widths_name} of length {len(widths)}"
    if is_int(kwargs.get("depth")):
        return max(kwargs["depth"], 0), f"depth {kwargs['depth']}"
    return 0, None


def _least_size(kwargs: dict[str, Any]) -> tuple[int, int, str]:
    """Lower bounds on the number of tensors and of numbers in the state dict of the policy ``kwargs`` describe,
    and the settings they come from; read from the settings as written, before they are checked one by one.

    Every hidden layer and every network's output layer holds a weight tensor of at least one number, in each
    critic; stacked critics (``ensemble_critics``) share tensors but not numbers. The bodies' ``depth``,
    ``net_arch``'s length, ``n_critics`` and OFENet's ``layers`` are the settings that multiply the modules a policy
    builds.
    """
    net_arch = kwargs.get("net_arch")
    if isinstance(net_arch, dict):
        (pi, qf), names = (net_arch.get("pi"), net_arch.get("qf")), ("net_arch.pi", "net_arch.qf")
    else:
        (pi, qf), names = (net_arch, net_arch), ("net_arch", "net_arch")
    actor_depth, actor_words = _layers(kwargs, ("actor_net", "actor"), pi, names[0])
    critic_depth, critic_words = _layers(kwargs, ("critic_net", "critic"), qf, names[1])
    n_critics = max(kwargs["n_critics"], 1) if is_int(kwargs.get("n_critics")) else 1
    # The policy takes the old name ``ofenet`` when ``ofenet_kwargs`` is missing or null (``PolicyOptions.take``).
    ofenet = next((kwargs[name] for name in ("ofenet_kwargs", "ofenet") if isinstance(kwargs.get(name), dict)), None)
    ofenet_layers = max(ofenet["layers"], 0) if isinstance(ofenet, dict) and is_int(ofenet.get("layers")) else 0
    critic_tensors = critic_depth + 1 if kwargs.get("ensemble_critics") is True else (critic_depth + 1) * n_critics
    tensors = actor_depth + 1 + critic_tensors + 2 * ofenet_layers
    numbers = actor_depth + 1 + (critic_depth + 1) * n_critics + 2 * ofenet_layers
    words = [
        actor_words,
        critic_words,
        f"n_critics {n_critics}" if "n_critics" in kwargs else None,
        f"ofenet_kwargs.layers {ofenet_layers}" if ofenet_layers else None,
    ]
    return tensors, numbers, ", ".join(dict.fromkeys(w for w in words if w)) or "its settings"


def _check_caps(kwargs: dict[str, Any]) -> None:
    """Refuse a size-like setting above its cap (``MAX_LAYERS``, ``MAX_CRITICS``), as written."""
    sizes: list[tuple[str, Any, int, str]] = [
        ("depth", kwargs.get("depth"), MAX_LAYERS, "layers"),
        ("n_critics", kwargs.get("n_critics"), MAX_CRITICS, "critics"),
    ]
    for name in ("actor_net", "actor", "critic_net", "critic"):
        if isinstance(kwargs.get(name), dict):
            sizes.append((f"{name}.depth", kwargs[name].get("depth"), MAX_LAYERS, "layers"))
    for name in ("ofenet_kwargs", "ofenet"):
        if isinstance(kwargs.get(name), dict):
            sizes.append((f"{name}.layers", kwargs[name].get("layers"), MAX_LAYERS, "layers"))
    net_arch = kwargs.get("net_arch")
    widths = (
        {"net_arch": net_arch}
        if not isinstance(net_arch, dict)
        else {f"net_arch.{k}": net_arch.get(k) for k in ("pi", "qf")}
    )
    for name, value in widths.items():
        if isinstance(value, list):
            sizes.append((name, len(value), MAX_LAYERS, "layers"))
    for name, value, cap, what in sizes:
        if is_int(value) and value > cap:
            raise ConfigError(
                f"policy_kwargs.{name}",
                f"{value} {what}, more than the {cap} allowed (no real model approaches it; nothing was built)",
            )


def check_size(config: Any, header: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """Refuse a config whose policy has more layers than the weights file holds, before its settings are checked
    one by one (a list of a million layer widths) and before anything is built (the work of building a policy,
    even on the meta device, grows with its layers, not with the file)."""
    kwargs = config.get("policy_kwargs") if isinstance(config, dict) else None
    if not isinstance(kwargs, dict):
        return  # not a config: validate_config says what is wrong
    _check_caps(kwargs)
    tensors, numbers, words = _least_size(kwargs)
    if numbers > MAX_POLICY_LAYERS:  # each layer holds at least one number: ``numbers`` counts the layers
        raise ConfigError(
            "policy_kwargs",
            f"{words}: a policy of at least {numbers} layers, more than the {MAX_POLICY_LAYERS} allowed (no real "
            "model approaches it; nothing was built)",
        )
    floating = {name: (shape, dtype) for name, (shape, dtype) in header.items() if dtype in FLOAT_DTYPES}
    held = sum(math.prod(shape) for shape, _ in floating.values())
    if tensors > len(floating) or numbers > held:
        raise ConfigError(
            "policy_kwargs",
            f"{words}: a policy of at least {tensors} weight tensors of {numbers} numbers, but {WEIGHTS_NAME} "
            f"holds {len(floating)} floating-point tensors of {held} numbers; the config does not describe these "
            "weights (nothing was built)",
        )
    critics = _critics_in(floating)
    if is_int(kwargs.get("n_critics")) and critics is not None and kwargs["n_critics"] != critics:
        raise ConfigError(
            "policy_kwargs.n_critics",
            f"{kwargs['n_critics']}, but {WEIGHTS_NAME} holds {critics} critics; the config does not describe these "
            "weights (nothing was built)",
        )


def _critics_in(header: dict[str, tuple[tuple[int, ...], str]]) -> int | None:
    """How many critics the weights file holds: separate Q networks (SB3's and ours) are ``critic.qf<i>``, our
    stacked ones ``critic.q_ensemble`` with the critics along the first dimension; None for another layout.

    The numbers bound alone lets stacked critics multiply (their tensors do not), and each is built on its own."""
    separate = {match.group(1) for name in header if (match := SEPARATE_CRITIC.match(name))}
    if separate:
        return len(separate)
    stacked = [shape[0] for name, (shape, _) in header.items() if name.startswith(STACKED_CRITICS) and shape]
    return max(stacked) if stacked else None


def check_header(header: dict[str, tuple[tuple[int, ...], str]], expected: dict[str, th.Tensor]) -> None:
    """The weights file's header (names, shapes, dtypes) against the policy the config describes."""
    missing, unexpected = sorted(set(expected) - set(header)), sorted(set(header) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{WEIGHTS_NAME} does not match {CONFIG_NAME}: missing tensors {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for name, tensor in expected.items():
        want = (tuple(tensor.shape), SAFETENSORS_DTYPES.get(tensor.dtype, str(tensor.dtype)))
        if header[name] != want:
            raise ValueError(
                f"{WEIGHTS_NAME} does not match {CONFIG_NAME}: tensor {name!r} is {header[name][1]} "
                f"{list(header[name][0])}, the policy needs {want[1]} {list(want[0])}"
            )
