"""Hyperparameter search over the large-network knobs, inside RL Zoo's own ``-optimize``.

``python -m sb3_large.zoo train --algo sac --env ... -optimize`` runs RL Zoo's search unchanged (Optuna, its
samplers and pruners, ``--n-jobs``, ``--storage``, its CSV report) with :class:`LargeSampler` in place of RL Zoo's
SAC/TD3 sampler: architecture, width, depth, activation, norm and OFENet are sampled next to RL Zoo's usual
hyperparameters. The best trial is written beside the report as a YAML entry for stock
``python -m rl_zoo3.train -conf``.
"""

import copy
import glob
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import optuna
import yaml
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.hyperparams_opt import HYPERPARAMS_SAMPLER
from rl_zoo3.utils import get_class_by_name
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

from sb3_large.checks import check_keys
from sb3_large.networks import NetSpec, build
from sb3_large.ofenet import OFENet, OFENetConfig, OFENetTrainer

OFENET_TRAINER = "sb3_large.ofenet.OFENetTrainer"
OPTIONAL_OFENET_TRAINER = "sb3_large.zoo_search.OptionalOFENetTrainer"
# (without OFENet, with OFENet) per RL Zoo algorithm name.
POLICIES = {
    "sac": ("sb3_large.policies.LargeSACPolicy", "sb3_large.policies.OFENetSACPolicy"),
    "td3": ("sb3_large.policies.LargeTD3Policy", "sb3_large.policies.OFENetTD3Policy"),
}
# Body options a trial sets: fixing them (or per-network overrides of them) would fight the search.
BODY_KWARGS = (
    "arch",
    "width",
    "depth",
    "activation",
    "norm",
    "arch_kwargs",
    "actor",
    "critic",
    "net_arch",
    "activation_fn",
)
NOISE_TYPES = ("normal", "ornstein-uhlenbeck", None)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_range(name: str, value, low: int = 1) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(_is_int(v) for v in value):
        raise ValueError(f"search_space.{name}: must be [low, high] integers, got {value!r}")
    if not low <= value[0] <= value[1]:
        raise ValueError(f"search_space.{name}: need {low} <= low <= high, got {list(value)}")
    return int(value[0]), int(value[1])


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

    :param archs: architectures to try (registered names)
    :param widths: ``[low, high]`` layer width, powers of two, sampled on a log scale
    :param depths: ``[low, high]`` number of layers (residual blocks)
    :param activations: activation names to try
    :param norms: ``none`` / ``layer`` / ``batch``; every one must suit every arch (``residual`` takes no ``batch``)
    :param ofenet: which of ``[false, true]`` to try for "OFENet features under the body"
    :param ofenet_layers: ``[low, high]`` DenseNet layers of each OFENet network
    :param ofenet_growth: ``[low, high]`` units per OFENet layer
    :param ofenet_kwargs: fixed OFENet settings of every trial that has one (``pretrain_steps``, ``predict_dims``...)
    :param policy_kwargs: fixed policy kwargs of every trial (``ensemble_critics``, ``optimizer_kwargs``...)
    """

    archs: tuple[str, ...] = ("mlp", "densenet", "d2rl", "residual")
    widths: tuple[int, int] = (64, 2048)
    depths: tuple[int, int] = (1, 4)
    activations: tuple[str, ...] = ("relu", "swish", "elu")
    norms: tuple[str, ...] = ("none", "layer")
    ofenet: tuple[bool, ...] = (False, True)
    ofenet_layers: tuple[int, int] = (2, 8)
    ofenet_growth: tuple[int, int] = (16, 64)
    ofenet_kwargs: Mapping[str, Any] = field(default_factory=dict)
    policy_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalise lists from YAML into tuples once, here
        set_(self, "archs", _choices("archs", self.archs))
        set_(self, "activations", _choices("activations", self.activations))
        set_(self, "norms", _choices("norms", self.norms))
        set_(self, "ofenet", _choices("ofenet", self.ofenet, (False, True)))
        set_(self, "depths", _int_range("depths", self.depths))
        set_(self, "ofenet_layers", _int_range("ofenet_layers", self.ofenet_layers))
        set_(self, "ofenet_growth", _int_range("ofenet_growth", self.ofenet_growth))
        widths = _int_range("widths", self.widths)
        if any(w & (w - 1) for w in widths):
            raise ValueError(f"search_space.widths: low and high must be powers of two, got {list(widths)}")
        set_(self, "widths", widths)
        for name in ("ofenet_kwargs", "policy_kwargs"):
            if not isinstance(getattr(self, name), Mapping):
                raise ValueError(f"search_space.{name}: must be a mapping, got {getattr(self, name)!r}")
        for name in ("layers", "growth"):
            if name in self.ofenet_kwargs:
                raise ValueError(f"search_space.ofenet_kwargs.{name}: sampled; set search_space.ofenet_{name} instead")
        OFENetConfig.from_kwargs(dict(self.ofenet_kwargs))
        sampled = sorted(set(self.policy_kwargs) & {*BODY_KWARGS, "ofenet", "ofenet_kwargs"})
        if sampled:
            raise ValueError(f"search_space.policy_kwargs.{sampled[0]}: sampled by the search, cannot be fixed")
        # Every combination a trial can draw must build: a bad one would stop the whole study, not prune a trial.
        for arch in self.archs:
            for norm in self.norms:
                for activation in self.activations:
                    try:
                        build(NetSpec(arch=arch, width=2, depth=1, activation=activation, norm=norm), 2)
                    except (ValueError, TypeError, KeyError) as exc:
                        raise ValueError(
                            f"search_space: arch {arch!r} with norm {norm!r}, activation {activation!r} fails: {exc}"
                        ) from None

    @classmethod
    def from_kwargs(cls, values: Mapping[str, Any] | None) -> "SearchSpace":
        return cls(**check_keys("search_space", values, (f.name for f in fields(cls))))


class LargeSampler:
    """RL Zoo's sampler for SAC or TD3 (``HYPERPARAMS_SAMPLER[algo]``) over large policies.

    RL Zoo's usual hyperparameters (``gamma``, ``learning_rate``, ``batch_size``, ``train_freq`` =
    ``gradient_steps``, ``tau``; TD3's action noise) keep their RL Zoo parameter names; the policy is
    ``LargeSACPolicy``/``LargeTD3Policy`` or, when ``ofenet`` is drawn, their OFENet versions.
    ``hyperparams(params)`` turns a trial's parameters into YAML-ready hyperparameters.
    """

    def __init__(self, algo: str, space: SearchSpace):
        if algo not in POLICIES:
            raise ValueError(f"algo: {algo!r} has no large-network sampler; allowed: {', '.join(POLICIES)}")
        self.algo = algo
        self.space = space

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
        space = self.space
        low, high = (int(math.log2(w)) for w in space.widths)
        params: dict[str, Any] = {
            "arch": trial.suggest_categorical("arch", space.archs),
            "log2_width": trial.suggest_int("log2_width", low, high),
            "depth": trial.suggest_int("depth", *space.depths),
            "activation": trial.suggest_categorical("activation", space.activations),
            "norm": trial.suggest_categorical("norm", space.norms),
            "ofenet": trial.suggest_categorical("ofenet", space.ofenet),
        }
        if params["ofenet"]:
            params["ofenet_layers"] = trial.suggest_int("ofenet_layers", *space.ofenet_layers)
            params["ofenet_growth"] = trial.suggest_int("ofenet_growth", *space.ofenet_growth)
        params["one_minus_gamma"] = trial.suggest_float("one_minus_gamma", 1e-4, 0.03, log=True)
        params["learning_rate"] = trial.suggest_float("learning_rate", 1e-5, 2e-3, log=True)
        params["batch_size_pow"] = trial.suggest_int("batch_size_pow", 5, 10)
        params["train_freq"] = trial.suggest_int("train_freq", 1, 10)
        params["tau"] = trial.suggest_float("tau", 1e-3, 0.08, log=True)
        if self.algo == "td3":
            params["noise_type"] = trial.suggest_categorical("noise_type", NOISE_TYPES)
            params["noise_std"] = trial.suggest_float("noise_std", 0.0, 0.5)
        trial.set_user_attr("width", 2 ** params["log2_width"])
        trial.set_user_attr("gamma", 1 - params["one_minus_gamma"])
        trial.set_user_attr("batch_size", 2 ** params["batch_size_pow"])
        return params

    def hyperparams(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's parameters as RL Zoo YAML hyperparameters (dotted-path policy, ``callback`` list)."""
        policy_kwargs = {
            **self.space.policy_kwargs,
            "arch": params["arch"],
            "width": 2 ** params["log2_width"],
            "depth": params["depth"],
            "activation": params["activation"],
            "norm": params["norm"],
        }
        if params["ofenet"]:
            policy_kwargs["ofenet_kwargs"] = {
                **self.space.ofenet_kwargs,
                "layers": params["ofenet_layers"],
                "growth": params["ofenet_growth"],
            }
        hyperparams = {
            "policy": POLICIES[self.algo][bool(params["ofenet"])],
            "policy_kwargs": policy_kwargs,
            "callback": [OFENET_TRAINER] if params["ofenet"] else [],
            "gamma": 1 - params["one_minus_gamma"],
            "learning_rate": params["learning_rate"],
            "batch_size": 2 ** params["batch_size_pow"],
            "train_freq": params["train_freq"],
            "gradient_steps": params["train_freq"],  # one update per env step (n_envs=1), as RL Zoo's sampler
            "tau": params["tau"],
        }
        if params.get("noise_type") is not None:
            hyperparams["noise_type"] = params["noise_type"]
            hyperparams["noise_std"] = params["noise_std"]
        return hyperparams


def _callback_name(entry) -> str:
    return next(iter(entry)) if isinstance(entry, Mapping) else entry


def callbacks_without_ofenet(callbacks) -> list:
    """An entry's ``callback`` value as a list, minus its OFENet trainers."""
    if callbacks is None:
        return []
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    return [c for c in callbacks if _callback_name(c) not in (OFENET_TRAINER, OPTIONAL_OFENET_TRAINER)]


def merge_entry(base: Mapping[str, Any], hyperparams: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` (an RL Zoo YAML entry) with a trial's hyperparameters; OFENet's trainer only when its policy has one."""
    entry = {**base, **hyperparams}
    callbacks = callbacks_without_ofenet(base.get("callback")) + list(hyperparams.get("callback", []))
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
    """RL Zoo's ``ExperimentManager`` whose ``-optimize`` for SAC and TD3 searches the large-network space.

    Everything else is RL Zoo's: the trial loop, Optuna's sampler and pruner, ``--n-jobs``, the report. After the
    search the best trial is written as ``<report>.yml`` beside RL Zoo's ``<report>.csv``: the YAML entry the
    search started from, with the trial's hyperparameters (``self.best_entry_path``).

    :param search_space: what to sample (default ``SearchSpace()``)
    """

    def __init__(self, *args, search_space: SearchSpace | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.search_space = search_space if search_space is not None else SearchSpace()
        self.large_sampler = LargeSampler(self.algo, self.search_space) if self.algo in POLICIES else None
        self.base_entry: dict[str, Any] = {}
        self.study: optuna.Study | None = None  # the study the trials run in, known from the first trial
        self.best_entry_path: str | None = None

    def _loads_trial(self) -> bool:
        return bool(self.large_sampler and self.storage and self.study_name and self.trial_id)

    def read_hyperparameters(self) -> tuple[dict[str, Any], dict[str, Any]]:
        hyperparams, saved = super().read_hyperparameters()
        if self._loads_trial():
            # --trial-id put a trial's hyperparameters over the entry: its callbacks must now fit its policy.
            for values in (hyperparams, saved):
                callbacks = callbacks_without_ofenet(values.get("callback"))
                callbacks += [OFENET_TRAINER] if values["policy"] == POLICIES[self.algo][1] else []
                values["callback"] = callbacks
        self.base_entry = copy.deepcopy(dict(saved))
        return hyperparams, saved

    def load_trial(self, storage: str, study_name: str, trial_id: int | None = None, convert: bool = True):
        params = super().load_trial(storage, study_name, trial_id, convert=False)
        if not convert or self.large_sampler is None:
            return params
        return self.large_sampler.hyperparams(params)

    def _preprocess_hyperparams(self, hyperparams: dict[str, Any]):
        processed = super()._preprocess_hyperparams(hyperparams)
        if self.optimize_hyperparameters and self.large_sampler is not None:
            # One callback list serves every trial, with or without OFENet.
            callbacks = callbacks_without_ofenet(self.specified_callbacks)
            self.specified_callbacks = [*callbacks, OPTIONAL_OFENET_TRAINER]
        return processed

    def objective(self, trial: optuna.Trial) -> float:
        self.study = trial.study
        return super().objective(trial)

    def hyperparameters_optimization(self) -> None:
        if self.large_sampler is None:
            super().hyperparameters_optimization()
            return
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
        entry = merge_entry(self.base_entry, sampler.hyperparams(best.params))
        header = (
            f"Best of {len(study.trials)} trials (trial {best.number}, mean eval return {best.value:.6g}).\n"
            f"python -m rl_zoo3.train --algo {self.algo} --env {self.env_name.gym_id} -conf {path}"
        )
        write_atomic(path, dump_entry(self.env_name.gym_id, entry, header))
        print(f"Best trial's YAML entry: {path}")
        return path


__all__ = [
    "LargeExperimentManager",
    "LargeSampler",
    "OptionalOFENetTrainer",
    "SearchSpace",
    "dump_entry",
    "merge_entry",
]
