"""Loading a model folder or Hub repo written by ``save_pretrained``: the config checked and bounded by the weights
file before anything is built, the policy checked against the weights' header before anything large is allocated,
then the model set up and its weights loaded. A folder that only holds a pickle goes to ``zoo_runs``."""

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from safetensors.torch import load_file
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from sb3_large.hub.format import ALGORITHMS, CONFIG_NAME, WEIGHTS_NAME, printable
from sb3_large.hub.locate import locate, model_file, parse_config
from sb3_large.hub.origin import with_origin
from sb3_large.hub.schema import ConfigError, check_top_level, space_from_json, validate_config
from sb3_large.hub.settings import decode_settings, init_kwargs
from sb3_large.hub.sizes import check_header, check_size, expected_tensors, read_header
from sb3_large.hub.trust import decode_kwargs, resolve_class
from sb3_large.hub.zoo_runs import HUB_ZOO_STATISTICS, load_pickled
from sb3_large.internals import rebuild
from sb3_large.policies.common import LargePolicyMixin, check_features_extractor, check_optimizer

# What numpy says when an array's byte size (or one of its dimensions, past 2**63) exceeds what it can index.
NUMPY_SIZE_LIMITS = ("array is too big", "Maximum allowed dimension exceeded")
Header = dict[str, tuple[tuple[int, ...], str]]


def load_pretrained(
    source: str | os.PathLike,
    env=None,
    device: str = "auto",
    revision: str | None = None,
    trust_pickle: bool = False,
    trust_modules: Iterable[str] = (),
) -> BaseAlgorithm:
    """A ready SB3 model from a folder or Hub repo written by ``save_pretrained`` (or, with ``trust_pickle``, from
    an SB3 zip, a folder or repo holding one, or an RL Zoo run).

    Classes named in the config are imported only from trusted modules (see ``sb3_large.hub.trust``);
    ``trust_modules=["my_pkg"]`` adds a package whose code you trust. The config's layers are bounded by the
    weights file before anything is built, and the weights' names, shapes and dtypes are checked against the
    config's policy before anything large is allocated; NaN or Inf is refused. The ``env`` of a model trained
    under VecNormalize is wrapped in its statistics.
    """
    trust_modules = [trust_modules] if isinstance(trust_modules, str) else list(trust_modules)
    path = Path(source).expanduser()
    if path.suffix == ".zip" and path.is_file():
        return load_pickled(path.parent, path.parent, path.name, trust_pickle, env, device)
    folder, root = locate(source, revision, (CONFIG_NAME, WEIGHTS_NAME))
    if not (folder / CONFIG_NAME).is_file():
        if trust_pickle and not path.is_dir():
            folder, root = locate(source, revision, ("*.zip", HUB_ZOO_STATISTICS))
        return load_pickled(folder, root, None, trust_pickle, env, device)
    config = parse_config(folder, root)
    check_top_level(config, ALGORITHMS)  # another format or algorithm: refused before the weights are opened
    weights = model_file(folder, WEIGHTS_NAME, root)
    header = read_header(weights)
    check_size(config, header)
    validate_config(config, ALGORITHMS)
    model = _unbuilt_model(config, env, device, trust_modules)
    _check_policy_fits(model, header)
    _set_up(model)
    _load_weights(model, weights, config)
    return with_origin(model, config.get("env_id"), config.get("vec_normalize"))


def _unbuilt_model(config: dict[str, Any], env, device: str, trust_modules: list[str]) -> OffPolicyAlgorithm:
    """The model a checked config describes, on ``env`` or on its spaces alone; its networks not built yet."""
    algo_class: Any = ALGORITHMS[config["algorithm"]]  # an off-policy algorithm class
    policy_class = _policy_class(config, algo_class, trust_modules)
    policy_kwargs = decode_kwargs(config["policy_kwargs"], "policy_kwargs", trust_modules)
    observation_space = space_from_json(config["observation_space"])
    action_space = space_from_json(config["action_space"])
    algorithm_kwargs = _algorithm_kwargs(config, algo_class, policy_kwargs, action_space)
    kwargs = dict(algorithm_kwargs, policy_kwargs=policy_kwargs, device=device)
    if env is not None:
        model = algo_class(policy_class, env, _init_setup_model=False, **kwargs)
        for name, space in (("observation_space", observation_space), ("action_space", action_space)):
            if getattr(model, name) != space:
                raise ValueError(f"env: its {name} {getattr(model, name)} differs from the model's {space}")
    else:
        model = algo_class(policy_class, None, _init_setup_model=False, **kwargs)
        model.observation_space, model.action_space, model.n_envs = observation_space, action_space, 1
        if getattr(model, "target_entropy", None) == "auto":  # SAC/TQC derive it from an env we do not have
            model.target_entropy = -float(np.prod(model.action_space.shape))
    return model


def _policy_class(config: dict[str, Any], algo_class: Any, trust_modules: list[str]) -> type:
    """The config's policy class: from a trusted module, and a policy of its algorithm."""
    policy_class = resolve_class(config["policy_class"], "policy_class", trust_modules)
    policy_base = algo_class.policy_aliases["MlpPolicy"]
    if not issubclass(policy_class, policy_base):
        raise ConfigError(
            "policy_class",
            f"{config['policy_class']!r} is not a policy of {config['algorithm']} "
            f"({policy_base.__module__}.{policy_base.__qualname__} subclass)",
        )
    return policy_class


def _algorithm_kwargs(
    config: dict[str, Any], algo_class: type, policy_kwargs: dict[str, Any], action_space: spaces.Box
) -> dict[str, Any]:
    """The config's ``algorithm_kwargs`` as the algorithm's kwargs, each one it takes."""
    algorithm_kwargs = decode_settings(config.get("algorithm_kwargs", {}), action_space)
    taken = init_kwargs(algo_class)
    for key in algorithm_kwargs:
        if key not in taken:
            raise ConfigError(f"algorithm_kwargs.{key}", f"{config['algorithm']} takes no such setting")
    if "use_sde" in taken and "use_sde" not in algorithm_kwargs:  # written before use_sde was stored there
        algorithm_kwargs["use_sde"] = bool(policy_kwargs.get("use_sde", False))
    return algorithm_kwargs


def _check_policy_fits(model: OffPolicyAlgorithm, header: Header) -> None:
    """The policy the config describes, built on the meta device, against the weights file's header."""
    try:
        if not issubclass(model.policy_class, LargePolicyMixin):  # SB3's own policies: the checks ours run themselves
            check_features_extractor(model.observation_space, model.policy_kwargs)
            check_optimizer(model.policy_kwargs)
        expected = expected_tensors(model)
    except (ValueError, TypeError, RuntimeError, AssertionError) as exc:  # SB3 asserts, torch raises RuntimeError
        raise ValueError(printable(f"{CONFIG_NAME}: the policy cannot be built: {exc}")) from None
    check_header(header, expected)


def _set_up(model: OffPolicyAlgorithm) -> None:
    """Build the model's networks, optimizers and replay buffer, as its constructor would have."""
    try:
        rebuild(model)
    except (MemoryError, ValueError) as exc:
        # The policy fits (it is the weights file's size): memory errors, and numpy's refusals of an array past its
        # size or dimension limits, are the replay buffer's.
        if isinstance(exc, MemoryError) or any(limit in str(exc) for limit in NUMPY_SIZE_LIMITS):
            raise ConfigError(
                "algorithm_kwargs.buffer_size",
                f"a replay buffer of {model.buffer_size} transitions cannot be allocated here ({exc})",
            ) from None
        raise ValueError(printable(f"{CONFIG_NAME}: algorithm_kwargs: the model cannot be set up: {exc}")) from None


def _load_weights(model: OffPolicyAlgorithm, weights: Path, config: dict[str, Any]) -> None:
    """The weights file's tensors (finite ones only) into the policy, and the return scale's statistics."""
    tensors = load_file(str(weights), device="cpu")
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(th.isfinite(tensor).all()):
            raise ValueError(f"{WEIGHTS_NAME}: tensor {name!r} holds NaN or Inf; refusing non-finite weights")
    # Every tensor, target networks included (the header matched them all); not strict only for the OFENet
    # optimizer's extra state, which a Hub model does not carry.
    model.policy.load_state_dict(tensors, strict=False)
    if config.get("return_scale") is not None:  # the schema checked that return_bound built one
        model.return_scale.load_statistics(config["return_scale"])  # type: ignore[attr-defined]
