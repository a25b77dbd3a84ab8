"""Hyperparameter search over the large-network knobs, inside RL Zoo's own ``-optimize``.

``python -m sb3_large.zoo train --algo sac|td3|tqc|crossq --env ... -optimize`` runs RL Zoo's search unchanged
(Optuna, its samplers and pruners, ``--n-jobs``, ``--storage``, its CSV report) with :class:`LargeSampler` in place
of RL Zoo's sampler: body, actor and critic widths, depth, activation, norm, OFENet, the replay ratio,
observation normalization and (where the learner trains them) categorical critics are sampled next to RL Zoo's
usual hyperparameters. The best trial is written beside the report as a YAML entry for stock
``python -m rl_zoo3.train -conf``.
"""

import copy
import glob
import math
import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from itertools import product
from typing import Any

import numpy as np
import optuna
import yaml
from gymnasium import spaces
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
from rl_zoo3.utils import ALGOS, get_class_by_name
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from sb3_large.budget import warn_if_no_gradient_steps
from sb3_large.checks import check_keys
from sb3_large.hyperparams import without_launcher_guard
from sb3_large.networks.distributional import QDistributionConfig
from sb3_large.normalization import ObsNormUpdater, RunningObsNorm
from sb3_large.ofenet import OFENet, OFENetConfig, OFENetTrainer
from sb3_large.policies.common import RENAMED, check_algorithm

OFENET_TRAINER = "sb3_large.ofenet.OFENetTrainer"
OBS_NORM_UPDATER = "sb3_large.normalization.ObsNormUpdater"
OPTIONAL_OFENET_TRAINER = "sb3_large.zoo_search.OptionalOFENetTrainer"
OPTIONAL_OBS_NORM_UPDATER = "sb3_large.zoo_search.OptionalObsNormUpdater"
# The callbacks a trial's policy needs; the search attaches them itself, so an entry's own copies are replaced.
OURS = (OFENET_TRAINER, OBS_NORM_UPDATER, OPTIONAL_OFENET_TRAINER, OPTIONAL_OBS_NORM_UPDATER)
NOISE_TYPES = ("normal", "ornstein-uhlenbeck", None)


@dataclass(frozen=True)
class SearchedAlgorithm:
    """What the search samples for one RL Zoo algorithm, beyond the shared body and RL Zoo's usual knobs.

    :param policies: dotted paths of the policy without and with OFENet
    :param targets: has target networks: ``tau`` (Polyak) is sampled
    :param categorical_critics: the learner RL Zoo runs trains ``q_distribution`` critics by cross-entropy
    :param action_noise: TD3's ``noise_type`` / ``noise_std`` are sampled
    :param quantiles: TQC's ``n_quantiles`` / ``top_quantiles_to_drop_per_net`` are sampled
    :param policy_delay: CrossQ's ``policy_delay`` is sampled
    :param space: this algorithm's defaults of ``SearchSpace`` fields
    """

    policies: tuple[str, str]
    targets: bool = True
    categorical_critics: bool = False
    action_noise: bool = False
    quantiles: bool = False
    policy_delay: bool = False
    space: Mapping[str, Any] = field(default_factory=dict)

    def sampled_policy_kwargs(self) -> set[str]:
        """Every policy kwarg a trial sets, under each name the policies accept for it."""
        names = {
            *("arch", "width", "depth", "activation", "norm", "arch_kwargs"),
            *("actor_net", "critic_net", "net_arch", "activation_fn"),
            *("ofenet_kwargs", "normalize_obs", "obs_norm_kwargs", "q_distribution"),
        }
        names |= {old for old, new in RENAMED.items() if new in names}
        return names | ({"n_quantiles"} if self.quantiles else set())


ALGORITHMS = {
    "sac": SearchedAlgorithm(
        ("sb3_large.policies.LargeSACPolicy", "sb3_large.policies.OFENetSACPolicy"), categorical_critics=True
    ),
    "td3": SearchedAlgorithm(
        ("sb3_large.policies.LargeTD3Policy", "sb3_large.policies.OFENetTD3Policy"),
        categorical_critics=True,
        action_noise=True,
    ),
    "tqc": SearchedAlgorithm(
        ("sb3_large.policies.LargeTQCPolicy",) * 2, quantiles=True, space={"q_distribution": (False,)}
    ),
    # CrossQ's bodies are batch renormalized (residual normalizes itself and takes no batch norm).
    "crossq": SearchedAlgorithm(
        ("sb3_large.policies.LargeCrossQPolicy",) * 2,
        targets=False,
        policy_delay=True,
        space={
            "archs": ("mlp", "densenet", "d2rl"),
            "norms": ("batch_renorm", "none"),
            "q_distribution": (False,),
        },
    ),
}


def searched_algorithm(algo: str) -> SearchedAlgorithm:
    """The search's settings for an RL Zoo algorithm name; a ValueError naming the searchable ones otherwise."""
    if algo not in ALGORITHMS:
        raise ValueError(
            f"algo: {algo!r} has no large-network sampler; allowed: {', '.join(ALGORITHMS)} "
            "(search other algorithms with stock python -m rl_zoo3.train -optimize)"
        )
    return ALGORITHMS[algo]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_range(name: str, value, low: int = 1) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(_is_int(v) for v in value):
        raise ValueError(f"search_space.{name}: must be [low, high] integers, got {value!r}")
    if not low <= value[0] <= value[1]:
        raise ValueError(f"search_space.{name}: need {low} <= low <= high, got {list(value)}")
    return int(value[0]), int(value[1])


def _width_range(name: str, value) -> tuple[int, int]:
    widths = _int_range(name, value)
    if any(w & (w - 1) for w in widths):
        raise ValueError(f"search_space.{name}: low and high must be powers of two, got {list(widths)}")
    return widths


def _choices(name: str, value, allowed: tuple | None = None) -> tuple:
    if isinstance(value, (str, bool)) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"search_space.{name}: must be a non-empty list, got {value!r}")
    if allowed is not None:
        for item in value:
            if item not in allowed:
                raise ValueError(f"search_space.{name}: {item!r} is not allowed; allowed: {list(allowed)}")
    return tuple(value)


@dataclass(frozen=True)
class SearchSpace:
    """The large-network options a search samples; ``[low, high]`` ranges are inclusive.

    The actor's and the critics' widths are sampled apart, each from ``actor_widths`` / ``critic_widths``
    (default: ``widths``). ``SearchSpace.from_kwargs(values, algo)`` starts from that algorithm's defaults
    (CrossQ: batch-renormalized bodies; TQC, CrossQ: no categorical critics).

    :param archs: architectures to try (registered names)
    :param widths: ``[low, high]`` layer width, powers of two, sampled on a log scale
    :param actor_widths: ``[low, high]`` the actor's width (``None``: ``widths``)
    :param critic_widths: ``[low, high]`` the critics' width (``None``: ``widths``)
    :param depths: ``[low, high]`` number of layers (residual blocks)
    :param activations: activation names to try
    :param norms: ``none`` / ``layer`` / ``batch`` / ``batch_renorm``; every one must suit every arch and the
        algorithm (``residual`` takes no batch norm; ``batch_renorm`` only under CrossQ, which has no targets)
    :param ofenet: which of ``[false, true]`` to try for "OFENet features under the body"
    :param ofenet_layers: ``[low, high]`` DenseNet layers of each OFENet network
    :param ofenet_growth: ``[low, high]`` units per OFENet layer
    :param replay_ratios: gradient steps per env step to try (``gradient_steps = train_freq * ratio``)
    :param normalize_obs: which of ``[false, true]`` to try for running observation normalization
    :param q_distribution: which of ``[false, true]`` to try for categorical critics (SAC, TD3)
    :param ofenet_kwargs: fixed OFENet settings of every trial that has one (``pretrain_steps``, ``predict_dims``...)
    :param obs_norm_kwargs: fixed observation-normalization settings of every trial that has it (``clip``...)
    :param q_distribution_kwargs: fixed settings of every trial's categorical critics (``bins``, ``kind``...)
    :param policy_kwargs: fixed policy kwargs of every trial (``ensemble_critics``, ``optimizer_kwargs``...)
    """

    archs: tuple[str, ...] = ("mlp", "densenet", "d2rl", "residual")
    widths: tuple[int, int] = (64, 2048)
    actor_widths: tuple[int, int] | None = None
    critic_widths: tuple[int, int] | None = None
    depths: tuple[int, int] = (1, 4)
    activations: tuple[str, ...] = ("relu", "swish", "elu")
    norms: tuple[str, ...] = ("none", "layer")
    ofenet: tuple[bool, ...] = (False, True)
    ofenet_layers: tuple[int, int] = (2, 8)
    ofenet_growth: tuple[int, int] = (16, 64)
    replay_ratios: tuple[int, ...] = (1, 2)
    normalize_obs: tuple[bool, ...] = (False, True)
    q_distribution: tuple[bool, ...] = (False, True)
    ofenet_kwargs: Mapping[str, Any] = field(default_factory=dict)
    obs_norm_kwargs: Mapping[str, Any] = field(default_factory=dict)
    q_distribution_kwargs: Mapping[str, Any] = field(default_factory=dict)
    policy_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalise lists from YAML into tuples once, here
        set_(self, "archs", _choices("archs", self.archs))
        set_(self, "activations", _choices("activations", self.activations))
        set_(self, "norms", _choices("norms", self.norms))
        for name in ("ofenet", "normalize_obs", "q_distribution"):
            set_(self, name, _choices(name, getattr(self, name), (False, True)))
        replay_ratios = _choices("replay_ratios", self.replay_ratios)
        if not all(_is_int(r) and r >= 1 for r in replay_ratios):
            raise ValueError(f"search_space.replay_ratios: must be positive integers, got {list(replay_ratios)}")
        set_(self, "replay_ratios", replay_ratios)
        set_(self, "depths", _int_range("depths", self.depths))
        set_(self, "ofenet_layers", _int_range("ofenet_layers", self.ofenet_layers))
        set_(self, "ofenet_growth", _int_range("ofenet_growth", self.ofenet_growth))
        set_(self, "widths", _width_range("widths", self.widths))
        for name in ("actor_widths", "critic_widths"):
            if getattr(self, name) is not None:
                set_(self, name, _width_range(name, getattr(self, name)))
        for name in ("ofenet_kwargs", "obs_norm_kwargs", "q_distribution_kwargs", "policy_kwargs"):
            if not isinstance(getattr(self, name), Mapping):
                raise ValueError(f"search_space.{name}: must be a mapping, got {getattr(self, name)!r}")
        for name in ("layers", "growth"):
            if name in self.ofenet_kwargs:
                raise ValueError(f"search_space.ofenet_kwargs.{name}: sampled; set search_space.ofenet_{name} instead")
        OFENetConfig.from_kwargs(dict(self.ofenet_kwargs))
        RunningObsNorm.from_kwargs(1, dict(self.obs_norm_kwargs))
        QDistributionConfig.from_kwargs(self.q_distribution_kwargs)

    @classmethod
    def from_kwargs(cls, values: Mapping[str, Any] | None, algo: str | None = None) -> "SearchSpace":
        """A space from ``search_space`` options; with ``algo``, unset options take that algorithm's defaults."""
        values = check_keys("search_space", values, (f.name for f in fields(cls)))
        defaults = {} if algo is None else dict(searched_algorithm(algo).space)
        return cls(**{**defaults, **values})


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
                params = {
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
                policy, policy_kwargs = self.policy(params)
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
            noise_class = NormalActionNoise if noise_type == "normal" else OrnsteinUhlenbeckActionNoise
            kwargs["action_noise"] = noise_class(mean=np.zeros(n_actions), sigma=noise_std * np.ones(n_actions))
        return kwargs

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Draw one trial's parameters (Optuna names; RL Zoo's for the usual hyperparameters)."""
        space, algorithm = self.space, self.algorithm
        params: dict[str, Any] = {
            "arch": trial.suggest_categorical("arch", space.archs),
            "log2_actor_width": trial.suggest_int("log2_actor_width", *_log2_range(space.actor_widths or space.widths)),
            "log2_critic_width": trial.suggest_int(
                "log2_critic_width", *_log2_range(space.critic_widths or space.widths)
            ),
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
        params["one_minus_gamma"] = trial.suggest_float("one_minus_gamma", 1e-4, 0.03, log=True)
        params["learning_rate"] = trial.suggest_float("learning_rate", 1e-5, 2e-3, log=True)
        params["batch_size_pow"] = trial.suggest_int("batch_size_pow", 5, 10)
        params["train_freq"] = trial.suggest_int("train_freq", 1, 10)
        params["replay_ratio"] = trial.suggest_categorical("replay_ratio", space.replay_ratios)
        if algorithm.targets:
            params["tau"] = trial.suggest_float("tau", 1e-3, 0.08, log=True)
        if algorithm.action_noise:
            params["noise_type"] = trial.suggest_categorical("noise_type", NOISE_TYPES)
            params["noise_std"] = trial.suggest_float("noise_std", 0.0, 0.5)
        if algorithm.quantiles:
            params["n_quantiles"] = trial.suggest_int("n_quantiles", 5, 50)
            # Drop fewer than every quantile (RL Zoo's rule): no target quantile left makes the critic loss NaN.
            most = min(params["n_quantiles"] - 1, 5)
            params["top_quantiles_to_drop_per_net"] = trial.suggest_int("top_quantiles_to_drop_per_net", 0, most)
        if algorithm.policy_delay:
            params["policy_delay"] = trial.suggest_int("policy_delay", 1, 5)
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
        for name in ("tau", "top_quantiles_to_drop_per_net", "policy_delay"):
            if name in params:
                hyperparams[name] = params[name]
        if params.get("noise_type") is not None:
            hyperparams["noise_type"] = params["noise_type"]
            hyperparams["noise_std"] = params["noise_std"]
        return hyperparams


def _callback_name(entry) -> str:
    return next(iter(entry)) if isinstance(entry, Mapping) else entry


def callbacks_without_ours(callbacks) -> list:
    """An entry's ``callback`` value as a list, minus the OFENet trainers and observation-statistics updaters that
    the search attaches to the trials whose policy needs them."""
    if callbacks is None:
        return []
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    return [c for c in callbacks if _callback_name(c) not in OURS]


def callbacks_for(policy_kwargs: Mapping[str, Any]) -> list[str]:
    """The callbacks a large policy with these kwargs needs: OFENet's trainer, the observation-statistics updater."""
    callbacks = [OFENET_TRAINER] if policy_kwargs.get("ofenet_kwargs") is not None else []
    return callbacks + ([OBS_NORM_UPDATER] if policy_kwargs.get("normalize_obs") else [])


def merge_entry(base: Mapping[str, Any], hyperparams: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` (an RL Zoo YAML entry) with a trial's hyperparameters; OFENet's trainer and the observation-statistics
    updater exactly when the trial's policy needs them."""
    entry = {**base, **hyperparams}
    callbacks = callbacks_without_ours(base.get("callback")) + list(hyperparams.get("callback", []))
    if callbacks:
        entry["callback"] = callbacks
    else:
        entry.pop("callback", None)
    return entry


class OptionalOFENetTrainer(OFENetTrainer):
    """``OFENetTrainer`` that idles when the policy has no OFENet: search trials with and without OFENet share
    one callback list."""

    @property
    def active(self) -> bool:
        return isinstance(getattr(self.model.policy, "ofenet", None), OFENet)

    def _on_training_start(self) -> None:
        if self.active:
            super()._on_training_start()

    def _on_rollout_end(self) -> None:
        if self.active:
            super()._on_rollout_end()


class OptionalObsNormUpdater(ObsNormUpdater):
    """``ObsNormUpdater`` that idles when the policy does not normalize observations: search trials with and
    without it share one callback list."""

    @property
    def active(self) -> bool:
        return isinstance(getattr(self.model.policy, "obs_norm", None), RunningObsNorm)

    def _on_training_start(self) -> None:
        if self.active:
            super()._on_training_start()

    def _on_step(self) -> bool:
        return super()._on_step() if self.active else True


_FLOAT_TAG = "tag:yaml.org,2002:float"


class _ZooDumper(yaml.SafeDumper):
    """Writes every float as ``!!float x``, RL Zoo's style (PyYAML reads a bare ``3e-4`` as a string)."""

    def choose_scalar_style(self) -> str:
        # A tagged scalar is quoted by default; ``!!float 0.0003`` reads better and loads the same.
        return "" if self.event.tag == _FLOAT_TAG else super().choose_scalar_style()


_ZooDumper.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _FLOAT_TAG]
    for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
}
_STOCK_RESOLVER = yaml.resolver.Resolver()


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.ScalarNode:
    return dumper.represent_scalar(_FLOAT_TAG, repr(value))


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # With no float resolver a string like "0.5" would be written bare, and read back as a float: quote it.
    looks_float = _STOCK_RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _FLOAT_TAG
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'" if looks_float else None)


_ZooDumper.add_representer(float, _represent_float)
_ZooDumper.add_representer(str, _represent_str)


def dump_entry(env_id: str, entry: Mapping[str, Any], header: str = "") -> str:
    """YAML text of ``{env_id: entry}`` for ``rl_zoo3.train -conf``; ``header`` lines become comments."""
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + yaml.dump({env_id: dict(entry)}, Dumper=_ZooDumper, sort_keys=False, default_flow_style=False)


def write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


@contextmanager
def bound(table: dict, key: str, value) -> Iterator[None]:
    """``table[key] = value`` for the duration of the block, then the old value (or none) again."""
    missing = object()
    old = table.get(key, missing)
    table[key] = value
    try:
        yield
    finally:
        if old is missing:
            del table[key]
        else:
            table[key] = old


class LargeExperimentManager(ExperimentManager):
    """RL Zoo's ``ExperimentManager`` whose ``-optimize`` searches the large-network space (SAC, TD3, TQC, CrossQ).

    Everything else is RL Zoo's: the trial loop, Optuna's sampler and pruner, ``--n-jobs``, the report. After the
    search the best trial is written as ``<report>.yml`` beside RL Zoo's ``<report>.csv``: the YAML entry the
    search started from, with the trial's hyperparameters (``self.best_entry_path``). ``-optimize`` for an
    algorithm without a large-network sampler is refused when the manager is made, before any trial. For a training
    run, an entry whose policy belongs to another algorithm is refused before any env is made, and a budget that
    ends before ``learning_starts`` is warned of.

    :param search_space: what to sample (default: ``SearchSpace.from_kwargs({}, algo)``)
    """

    def __init__(self, *args, search_space: SearchSpace | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.large_sampler: LargeSampler | None = None
        if self.optimize_hyperparameters or (self.trial_id is not None and self.algo in ALGORITHMS):
            # An algorithm without a sampler is refused here, naming those that have one.
            space = search_space if search_space is not None else SearchSpace.from_kwargs({}, self.algo)
            self.large_sampler = LargeSampler(self.algo, space)
        self.base_entry: dict[str, Any] = {}
        self.study: optuna.Study | None = None  # the study the trials run in, known from the first trial
        self.best_entry_path: str | None = None

    def _loads_trial(self) -> bool:
        # Optuna numbers trials from 0: trial 0 is a trial, not a missing id.
        return bool(self.large_sampler and self.storage and self.study_name) and self.trial_id is not None

    def read_hyperparameters(self) -> tuple[dict[str, Any], dict[str, Any]]:
        hyperparams, saved = super().read_hyperparameters()
        if self.trial_id == 0 and self.storage and self.study_name:
            # RL Zoo tests the id for truth and so skips trial 0, Optuna's first: applied here as RL Zoo applies the
            # others, under the command line's -params.
            hyperparams.update(self.load_trial(self.storage, self.study_name, self.trial_id))
            hyperparams.update(self.custom_hyperparams or {})
            saved = OrderedDict((key, hyperparams[key]) for key in sorted(hyperparams))
        if self._loads_trial():
            # --trial-id put a trial's hyperparameters over the entry: its callbacks must now fit its policy.
            for values in (hyperparams, saved):
                callbacks = callbacks_without_ours(values.get("callback")) + callbacks_for(values["policy_kwargs"])
                if callbacks:
                    values["callback"] = callbacks
                else:
                    values.pop("callback", None)
        self.base_entry = copy.deepcopy(dict(saved))
        return hyperparams, saved

    def load_trial(self, storage: str, study_name: str, trial_id: int | None = None, convert: bool = True):
        params = super().load_trial(storage, study_name, trial_id, convert=False)
        if not convert:
            return params
        # Only our sampler draws an ``arch``; a stock ``rl_zoo3.train -optimize`` trial is RL Zoo's to convert.
        if self.large_sampler is None or "arch" not in params:
            return HYPERPARAMS_CONVERTER[self.algo](params)
        return self.large_sampler.hyperparams(current_params(params))

    def _preprocess_hyperparams(self, hyperparams: dict[str, Any]):
        # This launcher is what an entry's guard asks for: RL Zoo would build it as a callback, and stop.
        if (callbacks := without_launcher_guard(hyperparams.get("callback"))) is not None:
            hyperparams["callback"] = callbacks
        else:
            hyperparams.pop("callback", None)
        processed = super()._preprocess_hyperparams(hyperparams)
        policy = processed[0].get("policy")
        if isinstance(policy, type) and not self.optimize_hyperparameters:  # a search samples its own policy
            try:
                check_algorithm(policy, ALGOS[self.algo])
            except TypeError as exc:  # the entry's mistake: one line, before any env is made
                raise SystemExit(str(exc)) from None
        if self.optimize_hyperparameters and self.large_sampler is not None:
            # One callback list serves every trial, with or without OFENet and observation normalization.
            callbacks = callbacks_without_ours(self.specified_callbacks)
            self.specified_callbacks = [*callbacks, OPTIONAL_OFENET_TRAINER, OPTIONAL_OBS_NORM_UPDATER]
        return processed

    def learn(self, model: BaseAlgorithm) -> None:
        if isinstance(model, OffPolicyAlgorithm):  # RL Zoo's learn() counts from 0 (reset_num_timesteps)
            warn_if_no_gradient_steps(self.n_timesteps, model.learning_starts)
        super().learn(model)

    def objective(self, trial: optuna.Trial) -> float:
        self.study = trial.study
        return super().objective(trial)

    def hyperparameters_optimization(self) -> None:
        if self.large_sampler is None:
            super().hyperparameters_optimization()
            return
        # The space against this env's spaces (OFENet's predict_dims, ...), before the study starts.
        env = self.create_envs(n_envs=1, no_log=True)
        try:
            self.large_sampler.check(env.observation_space, env.action_space)
        finally:
            env.close()
        with bound(HYPERPARAMS_SAMPLER, self.algo, self.large_sampler):
            super().hyperparameters_optimization()
        if self.study is not None:
            self.best_entry_path = self.write_best_entry(self.study, self.large_sampler)

    def write_best_entry(self, study: optuna.Study, sampler: LargeSampler) -> str:
        """Write the best trial's YAML entry beside the newest matching report; returns its path."""
        prefix = f"report_{self.env_name}_{self.n_trials}-trials-{self.n_timesteps}-{self.sampler}-{self.pruner}_"
        reports = glob.glob(os.path.join(glob.escape(os.path.join(self.log_folder, self.algo)), prefix + "*.csv"))
        stamp = max((int(os.path.basename(r)[len(prefix) : -4]) for r in reports), default=None)
        name = f"{prefix}{stamp}.yml" if stamp is not None else f"{prefix[:-1]}.yml"
        path = os.path.join(self.log_folder, self.algo, name)
        best = study.best_trial
        entry = merge_entry(self.base_entry, sampler.hyperparams(current_params(best.params)))
        train = f"--algo {self.algo} --env {self.env_name.gym_id} -conf {path}"
        header = f"Best of {len(study.trials)} trials (trial {best.number}, mean eval return {best.value:.6g}).\n"
        if "q_distribution" in entry["policy_kwargs"]:
            header += (
                "Categorical critics: sb3_large.SAC / TD3 train them by cross-entropy (stock SB3 would regress their "
                f"expected value):\npython -m sb3_large.zoo train {train}"
            )
        else:
            header += f"python -m rl_zoo3.train {train}"
        write_atomic(path, dump_entry(self.env_name.gym_id, entry, header))
        print(f"Best trial's YAML entry: {path}")
        return path


__all__ = [
    "ALGORITHMS",
    "LargeExperimentManager",
    "LargeSampler",
    "OptionalOFENetTrainer",
    "OptionalObsNormUpdater",
    "SearchSpace",
    "SearchedAlgorithm",
    "dump_entry",
    "merge_entry",
]
