"""What an ``sb3_large_config.json`` may hold, checked field by field before anything is built or imported: its
fields and their JSON types, the algorithm's settings, VecNormalize's and the return scale's statistics, the spaces
(a Box's bounds against its dtype) and how deep lists and objects nest; messages quote file content escaped
(``printable``). Which classes a config may name is ``trust``'s.
"""

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from sb3_large.compile_modes import COMPILE_MODES
from sb3_large.hub.format import CONFIG_NAME, FORMAT_VERSION, MAX_NESTING, printable
from sb3_large.precision import PRECISIONS

BOX_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "bool")

TRAIN_FREQ_UNITS = ("step", "episode")
# SB3's action noises stored as data: kind -> its settings (VectorizedActionNoise is stored as the noise it copies).
NOISE_SETTINGS = {"normal": ("mean", "sigma"), "ornstein_uhlenbeck": ("mean", "sigma", "theta", "dt")}


def _finite(value: Any) -> bool:
    """A finite JSON number (``json`` also reads ``Infinity`` and ``NaN``); bools are not numbers."""
    try:
        return _is(value, float) and math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _numbers(value: Any, minimum: float = -math.inf) -> bool:
    """A non-empty, rectangular (nested) list of finite numbers, none below ``minimum``."""
    if not isinstance(value, list) or not all(_finite(v) and v >= minimum for v in _leaves(value)):
        return False
    try:
        return np.array(value, dtype=np.float64).size > 0
    except ValueError:  # ragged
        return False


def _valid_learning_rate(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"linear_from"} and _finite(value["linear_from"]) and value["linear_from"] > 0
    return _finite(value) and value > 0


def _valid_ent_coef(value: Any) -> bool:
    if value == "auto":
        return True
    if isinstance(value, str) and value.startswith("auto_"):
        try:
            return math.isfinite(float(value[5:])) and float(value[5:]) > 0
        except ValueError:
            return False
    return _finite(value) and value >= 0


def _valid_action_noise(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, dict) or value.get("kind") not in NOISE_SETTINGS:
        return False
    settings = NOISE_SETTINGS[value["kind"]]
    arrays = _numbers(value.get("mean")) and _numbers(value.get("sigma"), minimum=0)
    return (
        set(value) == {"kind", *settings}
        and arrays
        and np.shape(value["mean"]) == np.shape(value["sigma"])
        and all(_finite(value[key]) and value[key] > 0 for key in settings[2:])
    )


def _between(low: float, high: float = math.inf) -> Any:
    return lambda v: _finite(v) and low <= v <= high


def _above(low: float) -> Any:
    return lambda v: _finite(v) and v > low


# Settings of a JSON object: name -> (JSON type, check, what the check means).
Settings = dict[str, tuple[type, Any, str]]
# The algorithm's plain-data settings: what a fine-tune needs beyond the networks. ``object``: several JSON types.
ALGORITHM_KWARGS: Settings = {
    "learning_rate": (
        object,
        _valid_learning_rate,
        'a number > 0, or {"linear_from": a number > 0} (RL Zoo\'s "lin_")',
    ),
    "gamma": (float, _between(0, 1), "a number in [0, 1]"),
    "tau": (float, _between(0, 1), "a number in [0, 1]"),
    "batch_size": (int, lambda v: v >= 1, "a positive integer"),
    "buffer_size": (int, lambda v: v >= 1, "a positive integer"),
    "learning_starts": (int, lambda v: v >= 0, "a non-negative integer"),
    "train_freq": (
        list,
        lambda v: len(v) == 2 and _is(v[0], int) and v[0] >= 1 and v[1] in TRAIN_FREQ_UNITS,
        "[a positive integer, 'step' or 'episode']",
    ),
    "gradient_steps": (int, lambda v: v >= -1, "an integer >= -1"),
    "n_steps": (int, lambda v: v >= 1, "a positive integer"),
    "action_noise": (
        object,
        _valid_action_noise,
        "null, {kind: 'normal', mean, sigma} or {kind: 'ornstein_uhlenbeck', mean, sigma, theta, dt}",
    ),
    "ent_coef": (object, _valid_ent_coef, "a number >= 0, 'auto' or 'auto_<initial value>'"),
    "target_update_interval": (int, lambda v: v >= 1, "a positive integer"),
    "target_entropy": (object, lambda v: v == "auto" or _finite(v), "a number or 'auto'"),
    "policy_delay": (int, lambda v: v >= 1, "a positive integer"),
    "target_policy_noise": (float, _between(0), "a number >= 0"),
    "target_noise_clip": (float, _between(0), "a number >= 0"),
    # The algorithm writes use_sde into the policy kwargs, so a gSDE policy is only rebuilt with it.
    "use_sde": (bool, lambda v: True, "true or false"),
    "sde_sample_freq": (int, lambda v: v >= -1, "an integer >= -1"),
    "use_sde_at_warmup": (bool, lambda v: True, "true or false"),
    "top_quantiles_to_drop_per_net": (int, lambda v: v >= 0, "a non-negative integer"),
    "compile": (object, lambda v: v in COMPILE_MODES, " or ".join(map(json.dumps, COMPILE_MODES))),
    "precision": (str, lambda v: v in PRECISIONS, " or ".join(map(repr, PRECISIONS))),
    "return_bound": (object, lambda v: v is None or _above(0)(v), "null or a number > 0"),
    "actor_update_interval": (int, lambda v: v >= 1, "a positive integer"),
}
# The statistics and settings of the VecNormalize wrapper a model was trained under (Box observations).
VEC_NORMALIZE: Settings = {
    "norm_obs": (bool, lambda v: True, "true or false"),
    "norm_reward": (bool, lambda v: True, "true or false"),
    "clip_obs": (float, _above(0), "a number > 0"),
    "clip_reward": (float, _above(0), "a number > 0"),
    "gamma": (float, _between(0, 1), "a number in [0, 1]"),
    "epsilon": (float, _above(0), "a number > 0"),
    "obs_mean": (list, _numbers, "a (nested) list of numbers"),
    "obs_var": (list, lambda v: _numbers(v, minimum=0), "a (nested) list of numbers >= 0"),
    "obs_count": (float, _above(0), "a number > 0"),
    "ret_mean": (float, _finite, "a number"),
    "ret_var": (float, _between(0), "a number >= 0"),
    "ret_count": (float, _above(0), "a number > 0"),
}

# The running statistics of a learner's return scale (``sb3_large.return_scale``), with ``return_bound`` set.
RETURN_SCALE: Settings = {
    "count": (float, _between(0), "a number >= 0"),
    "mean": (float, _finite, "a number"),
    "var": (float, _between(0), "a number >= 0"),
    "max_abs": (float, _between(0), "a number >= 0"),
}


class ConfigError(ValueError):
    """An ``sb3_large_config.json`` that does not follow the format; the message names the field."""

    def __init__(self, field: str, problem: str):
        super().__init__(printable(f"{CONFIG_NAME}: {field}: {problem}"))


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is(value: Any, kind: type) -> bool:
    """JSON typing: bools are not numbers, and an integer is a valid float."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _expect(value: Any, kind: type, field: str, what: str) -> None:
    if not _is(value, kind):
        raise ConfigError(field, f"expected {what}, got {_type_name(value)} {value!r:.80}")


def _check_space(value: Any, field: str) -> None:
    _expect(value, dict, field, "an object {type, low, high, dtype}")
    if set(value) != {"type", "low", "high", "dtype"}:
        raise ConfigError(field, f"expected the keys type, low, high, dtype; got {', '.join(sorted(value))}")
    if value["type"] != "Box":
        raise ConfigError(f"{field}.type", f"only 'Box' is stored, got {value['type']!r:.80}")
    if value["dtype"] not in BOX_DTYPES:
        raise ConfigError(f"{field}.dtype", f"{value['dtype']!r:.80} is not one of {', '.join(BOX_DTYPES)}")
    bounds = {}
    for key in ("low", "high"):
        try:
            if any(isinstance(v, (bool, str)) or v is None for v in _leaves(value[key])):
                raise ValueError("only numbers are allowed")
            bounds[key] = np.array(value[key], dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ConfigError(f"{field}.{key}", f"expected a (nested) list of numbers: {exc}") from None
        if bounds[key].ndim == 0 or bounds[key].size == 0 or np.isnan(bounds[key]).any():
            raise ConfigError(f"{field}.{key}", "expected a non-empty (nested) list of numbers without NaN")
        _check_bounds(value[key], np.dtype(value["dtype"]), f"{field}.{key}")
    if bounds["low"].shape != bounds["high"].shape:
        raise ConfigError(field, f"low has shape {bounds['low'].shape}, high {bounds['high'].shape}")
    if (bounds["low"] > bounds["high"]).any():
        raise ConfigError(field, "low is above high")


def _check_bounds(values: Any, dtype: np.dtype, field: str) -> None:
    """A Box's bounds as written (exact integers, not their float64 copies) against what its ``dtype`` holds:
    numpy would refuse an integer out of range only when the space is built, and turn a float out of range into
    an infinity."""
    integers = dtype.kind != "f"
    low: float
    high: float
    if integers:
        low, high = (0, 1) if dtype.kind == "b" else (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
        allowed = f"integers in [{low}, {high}]"
    else:
        low, high = -float(np.finfo(dtype).max), float(np.finfo(dtype).max)
        allowed = f"numbers in [{low!r}, {high!r}], or -Infinity or Infinity"
    bad = next((v for v in _leaves(values) if not _fits(v, low, high, integers)), None)
    if bad is not None:
        raise ConfigError(field, f"{bad!r:.80} is not a value of dtype {dtype}: expected {allowed}")


def _fits(value: float, low: float, high: float, integers: bool) -> bool:
    if math.isinf(value):
        return not integers  # an unbounded dimension of a float Box
    return low <= value <= high and (not integers or value == int(value))


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _check_kwargs_json(value: Any, field: str) -> None:
    """Policy kwargs: JSON values, with classes only as ``{"__class__": "pkg.module.Class"}``."""
    if isinstance(value, list):
        for idx, item in enumerate(value):
            _check_kwargs_json(item, f"{field}[{idx}]")
    elif isinstance(value, dict):
        if "__class__" in value:
            if set(value) != {"__class__"} or not isinstance(value["__class__"], str):
                raise ConfigError(field, 'a class is written {"__class__": "package.module.Class"} and nothing else')
            return
        for key, item in value.items():
            _check_kwargs_json(item, f"{field}.{key}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(field, f"{value} is not a finite number")


def _check_settings(values: Any, settings: Settings, field: str, required: bool) -> None:
    _expect(values, dict, field, "an object")
    for key, value in values.items():
        if key not in settings:
            raise ConfigError(f"{field}.{key}", f"unknown; allowed: {', '.join(settings)}")
        kind, check, what = settings[key]
        if not _is(value, kind) or not check(value):
            raise ConfigError(f"{field}.{key}", f"expected {what}, got {value!r:.80}")
    missing = [key for key in settings if key not in values] if required else []
    if missing:
        raise ConfigError(f"{field}.{missing[0]}", "required field is missing")


def check_nesting(value: Any, field: str) -> None:
    """Refuse lists and objects nested deeper than ``MAX_NESTING``: walked without recursion, holding one iterator
    per level, so that neither the call stack nor memory grows with a list's length."""
    levels = [iter([value])]
    while levels:
        for item in levels[-1]:
            if isinstance(item, (dict, list)) and item:
                if len(levels) > MAX_NESTING:
                    raise ConfigError(field, f"lists and objects are nested more than {MAX_NESTING} levels deep")
                levels.append(iter(item.values() if isinstance(item, dict) else item))
                break
        else:  # this level is done: back to the one above, where its iterator left off
            levels.pop()


def check_top_level(config: Any, algorithms: Iterable[str]) -> None:
    """The checks that read no nested value: a JSON object of the known fields, this format and a known algorithm.
    They come first, so that a config of another format or kind is refused before its values are walked."""
    if not isinstance(config, dict):
        raise ConfigError("(top level)", f"expected a JSON object, got {_short(config)}")
    required = ("format_version", "algorithm", "policy_class", "policy_kwargs", "observation_space", "action_space")
    optional = ("algorithm_kwargs", "vec_normalize", "return_scale", "env_id", "versions", "parameters", "metrics")
    missing = [key for key in required if key not in config]
    if missing:
        raise ConfigError(missing[0], "required field is missing")
    unknown = sorted(set(config) - set(required) - set(optional))
    if unknown:
        raise ConfigError(unknown[0], f"unknown field; allowed: {', '.join(required + optional)}")
    if config["format_version"] != FORMAT_VERSION or isinstance(config["format_version"], bool):
        raise ConfigError("format_version", f"{_short(config['format_version'])} is not {FORMAT_VERSION}")
    algorithms = list(algorithms)
    if config["algorithm"] not in algorithms:
        raise ConfigError("algorithm", f"{_short(config['algorithm'])} is not one of {', '.join(algorithms)}")


def _short(value: Any) -> str:
    """``value`` as quoted in a message before its nesting is checked: a list or object by its type and length
    alone, since its ``repr`` would recurse as deep as it is nested."""
    return f"{_type_name(value)} of length {len(value)}" if isinstance(value, (list, dict)) else f"{value!r:.80}"


def validate_config(config: Any, algorithms: Iterable[str]) -> dict[str, Any]:
    """``config`` as read from JSON, checked field by field; a ``ConfigError`` naming the first bad field."""
    check_top_level(config, algorithms)
    for key, value in config.items():
        check_nesting(value, key)
    _expect(config["policy_class"], str, "policy_class", "a dotted class path")
    _expect(config["policy_kwargs"], dict, "policy_kwargs", "an object")
    _check_kwargs_json(config["policy_kwargs"], "policy_kwargs")
    _check_space(config["observation_space"], "observation_space")
    _check_space(config["action_space"], "action_space")
    _check_settings(config.get("algorithm_kwargs", {}), ALGORITHM_KWARGS, "algorithm_kwargs", required=False)
    if config.get("vec_normalize") is not None:
        _check_settings(config["vec_normalize"], VEC_NORMALIZE, "vec_normalize", required=True)
        shape = np.shape(config["observation_space"]["low"])
        for key in ("obs_mean", "obs_var"):
            if np.shape(config["vec_normalize"][key]) != shape:
                raise ConfigError(f"vec_normalize.{key}", f"expected the observations' shape {shape}")
    if config.get("return_scale") is not None:
        _check_settings(config["return_scale"], RETURN_SCALE, "return_scale", required=True)
        if config.get("algorithm_kwargs", {}).get("return_bound") is None:
            raise ConfigError("return_scale", "statistics of a return scale, but algorithm_kwargs.return_bound is null")
    if config.get("env_id") is not None:
        _expect(config["env_id"], str, "env_id", "a string or null")
    _expect(config.get("metrics", {}), dict, "metrics", "an object")
    for key, kind, what in (("versions", str, "a string"), ("parameters", int, "an integer")):
        _expect(config.get(key, {}), dict, key, "an object")
        for name, value in config.get(key, {}).items():
            _expect(value, kind, f"{key}.{name}", what)
    return config


def space_from_json(data: Mapping[str, Any]) -> spaces.Box:
    """A validated space entry (``_check_space``) as a gymnasium Box."""
    dtype = np.dtype(data["dtype"])
    return spaces.Box(np.array(data["low"], dtype=dtype), np.array(data["high"], dtype=dtype), dtype=dtype)
