"""``LargeSampler``: RL Zoo's sampler for one algorithm over large policies (SAC, TD3, TQC, CrossQ).

A trial draws, in this order (Optuna's seeded samplers draw in call order): the body (``_sample_body``), RL Zoo's
usual hyperparameters (``_sample_usual``), then each part of ``ALGORITHM_PARTS`` the algorithm has: ``tau`` where
there are target networks, TD3's action noise, TQC's quantiles, CrossQ's ``policy_delay``.
"""

import math
from collections.abc import Callable, Mapping
from itertools import product
from typing import Any

import numpy as np
import optuna
from gymnasium import spaces
from rl_zoo3.utils import get_class_by_name
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

from sb3_large.zoo.callbacks import callbacks_for
from sb3_large.zoo.space import SearchSpace, searched_algorithm

NOISE_TYPES = ("normal", "ornstein-uhlenbeck", None)


def _log2_range(widths: tuple[int, int]) -> tuple[int, int]:
    return int(math.log2(widths[0])), int(math.log2(widths[1]))


def _pick(choices: tuple[bool, ...], wanted: bool) -> bool:
    return wanted if wanted in choices else choices[0]


def current_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A stored trial's parameters under this sampler's names: trials of the search before actor and critic
    widths were apart (one ``log2_width``; no observation normalization, categorical critics or replay ratio)
    keep what they trained with."""
    params = dict(params)
    if "log2_width" in params:
        log2_width = params.pop("log2_width")
        params.setdefault("log2_actor_width", log2_width)
        params.setdefault("log2_critic_width", log2_width)
    return {"normalize_obs": False, "q_distribution": False, "replay_ratio": 1, **params}


def _sample_body(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """The networks: architecture, widths, depth, activation, norm, OFENet, observation normalization, critics."""
    params: dict[str, Any] = {
        "arch": trial.suggest_categorical("arch", space.archs),
        "log2_actor_width": trial.suggest_int("log2_actor_width", *_log2_range(space.actor_widths or space.widths)),
        "log2_critic_width": trial.suggest_int("log2_critic_width", *_log2_range(space.critic_widths or space.widths)),
        "depth": trial.suggest_int("depth", *space.depths),
        "activation": trial.suggest_categorical("activation", space.activations),
        "norm": trial.suggest_categorical("norm", space.norms),
        "ofenet": trial.suggest_categorical("ofenet", space.ofenet),
    }
    if params["ofenet"]:
        params["ofenet_layers"] = trial.suggest_int("ofenet_layers", *space.ofenet_layers)
        params["ofenet_growth"] = trial.suggest_int("ofenet_growth", *space.ofenet_growth)
    params["normalize_obs"] = trial.suggest_categorical("normalize_obs", space.normalize_obs)
    params["q_distribution"] = trial.suggest_categorical("q_distribution", space.q_distribution)
    return params


def _sample_usual(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """RL Zoo's usual off-policy hyperparameters, under RL Zoo's names, and the replay ratio."""
    return {
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 1e-4, 0.03, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 2e-3, log=True),
        "batch_size_pow": trial.suggest_int("batch_size_pow", 5, 10),
        "train_freq": trial.suggest_int("train_freq", 1, 10),
        "replay_ratio": trial.suggest_categorical("replay_ratio", space.replay_ratios),
    }


def _sample_tau(trial: optuna.Trial) -> dict[str, Any]:
    """Target networks (SAC, TD3, TQC): the Polyak coefficient."""
    return {"tau": trial.suggest_float("tau", 1e-3, 0.08, log=True)}


def _sample_action_noise(trial: optuna.Trial) -> dict[str, Any]:
    """TD3: the exploration noise."""
    return {
        "noise_type": trial.suggest_categorical("noise_type", NOISE_TYPES),
        "noise_std": trial.suggest_float("noise_std", 0.0, 0.5),
    }


def _sample_quantiles(trial: optuna.Trial) -> dict[str, Any]:
    """TQC: quantiles per critic, and how many of the top ones each drops."""
    n_quantiles = trial.suggest_int("n_quantiles", 5, 50)
    # Drop fewer than every quantile (RL Zoo's rule): no target quantile left makes the critic loss NaN.
    most = min(n_quantiles - 1, 5)
    return {
        "n_quantiles": n_quantiles,
        "top_quantiles_to_drop_per_net": trial.suggest_int("top_quantiles_to_drop_per_net", 0, most),
    }


def _sample_policy_delay(trial: optuna.Trial) -> dict[str, Any]:
    """CrossQ: critic updates per actor update."""
    return {"policy_delay": trial.suggest_int("policy_delay", 1, 5)}


# The per-algorithm parts, in the order a trial draws them: the ``SearchedAlgorithm`` flag that turns each on.
ALGORITHM_PARTS: tuple[tuple[str, Callable[[optuna.Trial], dict[str, Any]]], ...] = (
    ("targets", _sample_tau),
    ("action_noise", _sample_action_noise),
    ("quantiles", _sample_quantiles),
    ("policy_delay", _sample_policy_delay),
)
# The hyperparameters those parts give that go to the model as they are (TQC's n_quantiles is a policy kwarg).
PLAIN_HYPERPARAMS = ("tau", "top_quantiles_to_drop_per_net", "policy_delay")


def _action_noise(noise_type: str, noise_std: float, n_actions: int):
    noise_class = NormalActionNoise if noise_type == "normal" else OrnsteinUhlenbeckActionNoise
    return noise_class(mean=np.zeros(n_actions), sigma=noise_std * np.ones(n_actions))


def _smallest_body(space: SearchSpace, arch: str, norm: str, activation: str, options_on: bool) -> dict[str, Any]:
    """A trial's parameters for a small body: OFENet, observation normalization and categorical critics all on
    (where the space allows them) or all off."""
    return {
        "arch": arch,
        "norm": norm,
        "activation": activation,
        "log2_actor_width": 1,
        "log2_critic_width": 1,
        "depth": space.depths[0],
        "ofenet": _pick(space.ofenet, options_on),
        "ofenet_layers": space.ofenet_layers[0],
        "ofenet_growth": space.ofenet_growth[0],
        "normalize_obs": _pick(space.normalize_obs, options_on),
        "q_distribution": _pick(space.q_distribution, options_on),
        "n_quantiles": 5,  # TQC's fewest
    }


class LargeSampler:
    """RL Zoo's sampler for one algorithm (``HYPERPARAMS_SAMPLER[algo]``) over large policies: SAC, TD3, TQC, CrossQ.

    RL Zoo's usual hyperparameters keep their RL Zoo parameter names (``one_minus_gamma``, ``learning_rate``,
    ``batch_size_pow``, ``train_freq``; ``tau`` where there are target networks; TD3's ``noise_type`` /
    ``noise_std``; TQC's ``n_quantiles`` / ``top_quantiles_to_drop_per_net``); ``replay_ratio`` makes
    ``gradient_steps = train_freq * replay_ratio``. The space is checked for the algorithm when the sampler is
    made, by building the algorithm's policy for every body a trial can draw, so that a bad space stops the
    search before its first trial. ``hyperparams(params)`` turns a trial's parameters into YAML-ready
    hyperparameters.
    """

    def __init__(self, algo: str, space: SearchSpace):
        self.algo = algo
        self.algorithm = searched_algorithm(algo)
        self.space = space
        # A stand-in env whose observation fits a fixed OFENet predict_dims: the manager checks the real one.
        obs_dims = max(3, space.ofenet_kwargs.get("predict_dims") or 0)
        self.check(spaces.Box(-1.0, 1.0, (obs_dims,), dtype=np.float32), spaces.Box(-1.0, 1.0, (1,), dtype=np.float32))

    def check(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        """Refuse, naming the field, a space with a combination a trial could draw that does not build for these
        env spaces: a bad one would stop the whole study at that trial, not prune it."""
        space, algorithm = self.space, self.algorithm
        if True in space.q_distribution and not algorithm.categorical_critics:
            raise ValueError(
                f"search_space.q_distribution: {self.algo}'s learner does not train categorical critics "
                "(sb3_large.SAC and TD3 do); allowed here: [false]"
            )
        fixed = sorted(set(space.policy_kwargs) & algorithm.sampled_policy_kwargs())
        if fixed:
            raise ValueError(f"search_space.policy_kwargs.{fixed[0]}: sampled by the search, cannot be fixed")
        # Every body a trial can draw, built small.
        for arch, norm, activation in product(space.archs, space.norms, space.activations):
            for options_on in (False, True):  # OFENet, obs normalization, categorical critics: off, then on
                policy, policy_kwargs = self.policy(_smallest_body(space, arch, norm, activation, options_on))
                try:
                    get_class_by_name(policy)(observation_space, action_space, lambda _: 1e-3, **policy_kwargs)
                except (ValueError, TypeError, KeyError) as exc:
                    raise ValueError(
                        f"search_space: {self.algo} with arch {arch!r}, norm {norm!r}, activation {activation!r} "
                        f"fails: {exc}"
                    ) from None

    def __call__(self, trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
        """RL Zoo's sampler signature: the trial's hyperparameters as model constructor kwargs."""
        if additional_args.get("using_her_replay_buffer"):
            raise ValueError("LargeSampler: HER replay buffers are not searched; use stock rl_zoo3.train")
        kwargs = self.hyperparams(self.sample(trial))
        kwargs.pop("callback")
        kwargs["policy"] = get_class_by_name(kwargs["policy"])
        noise_type, noise_std = kwargs.pop("noise_type", None), kwargs.pop("noise_std", None)
        if noise_type is not None:
            kwargs["action_noise"] = _action_noise(noise_type, noise_std, n_actions)
        return kwargs

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Draw one trial's parameters (Optuna names; RL Zoo's for the usual hyperparameters)."""
        params = {**_sample_body(trial, self.space), **_sample_usual(trial, self.space)}
        for flag, sample_part in ALGORITHM_PARTS:
            if getattr(self.algorithm, flag):
                params.update(sample_part(trial))
        trial.set_user_attr("actor_width", 2 ** params["log2_actor_width"])
        trial.set_user_attr("critic_width", 2 ** params["log2_critic_width"])
        trial.set_user_attr("gamma", 1 - params["one_minus_gamma"])
        trial.set_user_attr("batch_size", 2 ** params["batch_size_pow"])
        trial.set_user_attr("gradient_steps", params["train_freq"] * params["replay_ratio"])
        return params

    def policy(self, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """A trial's policy: its dotted path and its ``policy_kwargs`` (the search space's fixed ones included)."""
        space = self.space
        policy_kwargs: dict[str, Any] = {
            **space.policy_kwargs,
            "arch": params["arch"],
            "depth": params["depth"],
            "activation": params["activation"],
            "norm": params["norm"],
            "actor_net": {"width": 2 ** params["log2_actor_width"]},
            "critic_net": {"width": 2 ** params["log2_critic_width"]},
        }
        if params["ofenet"]:
            policy_kwargs["ofenet_kwargs"] = {
                **space.ofenet_kwargs,
                "layers": params["ofenet_layers"],
                "growth": params["ofenet_growth"],
            }
        if params["normalize_obs"]:
            policy_kwargs["normalize_obs"] = True
            if space.obs_norm_kwargs:
                policy_kwargs["obs_norm_kwargs"] = dict(space.obs_norm_kwargs)
        if params["q_distribution"]:
            policy_kwargs["q_distribution"] = dict(space.q_distribution_kwargs)
        if self.algorithm.quantiles:
            policy_kwargs["n_quantiles"] = params["n_quantiles"]
        return self.algorithm.policies[bool(params["ofenet"])], policy_kwargs

    def hyperparams(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's parameters as RL Zoo YAML hyperparameters (dotted-path policy, ``callback`` list)."""
        policy, policy_kwargs = self.policy(params)
        hyperparams = {
            "policy": policy,
            "policy_kwargs": policy_kwargs,
            "callback": callbacks_for(policy_kwargs),
            "gamma": 1 - params["one_minus_gamma"],
            "learning_rate": params["learning_rate"],
            "batch_size": 2 ** params["batch_size_pow"],
            "train_freq": params["train_freq"],
            # Gradient steps per env step (n_envs=1, as RL Zoo's sampler assumes): the replay ratio.
            "gradient_steps": params["train_freq"] * params["replay_ratio"],
        }
        hyperparams.update({name: params[name] for name in PLAIN_HYPERPARAMS if name in params})
        if params.get("noise_type") is not None:
            hyperparams["noise_type"] = params["noise_type"]
            hyperparams["noise_std"] = params["noise_std"]
        return hyperparams


__all__ = ["LargeSampler", "current_params"]
