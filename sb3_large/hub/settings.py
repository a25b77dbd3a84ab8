"""A model's settings beyond its networks as JSON data and back: the algorithm's plain-data hyperparameters
(``algorithm_kwargs`` of ``sb3_large_config.json``; ``init_kwargs``: which of them an algorithm takes) and the
statistics of the ``VecNormalize`` wrapper it was trained under (``vec_normalize``).

A setting that has no data form (a learning-rate schedule or an action noise of one's own class) is not
stored; a warning says what the loaded model uses instead.
"""

import inspect
import warnings
from collections.abc import Callable, Iterable
from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from rl_zoo3.utils import SimpleLinearSchedule
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import (
    ActionNoise,
    NormalActionNoise,
    OrnsteinUhlenbeckActionNoise,
    VectorizedActionNoise,
)
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.type_aliases import TrainFreq
from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from sb3_large.hub.schema import ConfigError
from sb3_large.internals import noise_settings, progress_remaining


def _plain(value: Any) -> Any:
    """numpy scalars (SB3 computes ``target_entropy`` with numpy) as Python numbers."""
    return value.item() if isinstance(value, np.generic) else value


def _encode_learning_rate(model: BaseAlgorithm) -> float | dict[str, float]:
    value = model.learning_rate
    if isinstance(value, FloatSchedule):
        value = value.value_schedule
    if isinstance(value, ConstantSchedule):
        value = value.val
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, SimpleLinearSchedule):  # RL Zoo's "lin_<value>"
        return {"linear_from": value.initial_value}
    current = float(model.lr_schedule(progress_remaining(model)))
    warnings.warn(
        f"learning_rate: a {type(value).__name__} schedule is not stored (only numbers and RL Zoo's linear "
        f"schedule are); the saved model keeps its current learning rate {current:g}",
        UserWarning,
        stacklevel=3,
    )
    return current


def _encode_train_freq(value: TrainFreq | tuple[int, str] | int) -> list[Any]:
    if isinstance(value, TrainFreq):
        return [value.frequency, value.unit.value]
    return [value, "step"] if isinstance(value, int) else list(value)


def _encode_action_noise(noise: ActionNoise | None) -> dict[str, Any] | None:
    if isinstance(noise, VectorizedActionNoise):  # SB3's per-env copies of one noise, made again for any env
        noise = noise.base_noise
    if noise is None:
        return None
    if isinstance(noise, (NormalActionNoise, OrnsteinUhlenbeckActionNoise)):
        made_with = noise_settings(noise)
        data = {"mean": np.asarray(made_with.mean).tolist(), "sigma": np.asarray(made_with.sigma).tolist()}
        if isinstance(noise, NormalActionNoise):
            return {"kind": "normal", **data}
        return {"kind": "ornstein_uhlenbeck", **data, "theta": made_with.theta, "dt": made_with.dt}
    warnings.warn(
        f"action_noise: {type(noise).__name__} is not stored (only SB3's normal and Ornstein-Uhlenbeck noises are); "
        "the saved model has no action noise",
        UserWarning,
        stacklevel=3,
    )
    return None


def init_kwargs(algo: type) -> set[str]:
    """The kwargs ``algo(...)`` takes: those the ``__init__``s of its MRO name, down to the first that passes no
    ``**kwargs`` on (SB3's algorithms; ``sb3_large.SAC`` adds ``compile`` and ``precision``). CrossQ has a ``tau``
    attribute but no such kwarg, DDPG a ``policy_delay``."""
    names: set[str] = set()
    for klass in algo.__mro__:
        if "__init__" in vars(klass):
            params = inspect.signature(vars(klass)["__init__"]).parameters
            names |= {n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                break
    return names


def encode_settings(model: BaseAlgorithm, names: Iterable[str]) -> dict[str, Any]:
    """The model's values of the settings ``names`` as JSON values."""
    encoders: dict[str, Callable[[Any], Any]] = {
        "learning_rate": lambda _: _encode_learning_rate(model),
        "train_freq": _encode_train_freq,
        "action_noise": _encode_action_noise,
    }
    return {name: encoders.get(name, _plain)(getattr(model, name, None)) for name in names}


def decode_settings(settings: dict[str, Any], action_space: spaces.Box) -> dict[str, Any]:
    """Validated ``algorithm_kwargs`` (``sb3_large.hub.schema``) as the algorithm's kwargs."""
    kwargs = dict(settings)
    if isinstance(kwargs.get("learning_rate"), dict):
        kwargs["learning_rate"] = SimpleLinearSchedule(kwargs["learning_rate"]["linear_from"])
    if "train_freq" in kwargs:
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    if kwargs.get("action_noise") is not None:
        kwargs["action_noise"] = _noise_of(kwargs["action_noise"], action_space)
    return kwargs


def _noise_of(data: dict[str, Any], action_space: spaces.Box) -> ActionNoise:
    mean, sigma = np.array(data["mean"], dtype=np.float64), np.array(data["sigma"], dtype=np.float64)
    if mean.shape != action_space.shape:
        raise ConfigError(
            "algorithm_kwargs.action_noise", f"mean and sigma have shape {mean.shape}, the actions {action_space.shape}"
        )
    if data["kind"] == "normal":
        return NormalActionNoise(mean, sigma)
    return OrnsteinUhlenbeckActionNoise(mean, sigma, theta=data["theta"], dt=data["dt"])


def vec_normalize_to_json(vec_normalize: VecNormalize) -> dict[str, Any]:
    """A VecNormalize wrapper's settings and statistics as data (Box observations only)."""
    obs_rms = vec_normalize.obs_rms
    if not isinstance(obs_rms, RunningMeanStd):
        raise ValueError("env: VecNormalize over Dict observations is not stored (large policies take Box ones)")
    return {
        "norm_obs": bool(vec_normalize.norm_obs),
        "norm_reward": bool(vec_normalize.norm_reward),
        "clip_obs": float(vec_normalize.clip_obs),
        "clip_reward": float(vec_normalize.clip_reward),
        "gamma": float(vec_normalize.gamma),
        "epsilon": float(vec_normalize.epsilon),
        "obs_mean": obs_rms.mean.tolist(),
        "obs_var": obs_rms.var.tolist(),
        "obs_count": float(obs_rms.count),
        "ret_mean": float(vec_normalize.ret_rms.mean),
        "ret_var": float(vec_normalize.ret_rms.var),
        "ret_count": float(vec_normalize.ret_rms.count),
    }


def normalized(venv: VecEnv, stats: dict[str, Any]) -> VecNormalize:
    """``venv`` wrapped in a VecNormalize holding validated ``stats``; frozen (``training=False``), as RL Zoo's
    ``enjoy`` has it: set ``training = True`` to go on updating them while fine-tuning."""
    settings = ("norm_obs", "norm_reward", "clip_obs", "clip_reward", "gamma", "epsilon")
    env = VecNormalize(venv, training=False, **{key: stats[key] for key in settings})
    obs_rms = cast(RunningMeanStd, env.obs_rms)  # one for a Box, a dict of them for Dict observations
    obs_rms.mean = np.array(stats["obs_mean"], dtype=np.float64)
    obs_rms.var = np.array(stats["obs_var"], dtype=np.float64)
    obs_rms.count = stats["obs_count"]
    env.ret_rms.mean = np.array(stats["ret_mean"], dtype=np.float64)
    env.ret_rms.var = np.array(stats["ret_var"], dtype=np.float64)
    env.ret_rms.count = stats["ret_count"]
    return env


class SpacesOnly(gym.Env):
    """An env of a model's spaces that is never run: what VecNormalize is built on, or unpickled onto, where the
    real env is not at hand (writing or reading an RL Zoo run's ``vecnormalize.pkl``)."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space):
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        raise RuntimeError("SpacesOnly carries a model's spaces and is never run")

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        raise RuntimeError("SpacesOnly carries a model's spaces and is never run")


def spaces_only(observation_space: spaces.Space, action_space: spaces.Space) -> DummyVecEnv:
    return DummyVecEnv([lambda: SpacesOnly(observation_space, action_space)])
