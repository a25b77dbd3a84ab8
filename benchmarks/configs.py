"""What each configuration of ``returns.py`` trains: its model, its callbacks and its training env.

A YAML configuration is built as stock RL Zoo builds its entry (policy, hyperparameters, callbacks,
``normalize``), with only the overrides given on the command line. Built-in configurations (``sac``, ``crossq``,
``densenet``) follow RL Zoo's MuJoCo hyperparameters of their algorithm.
"""

from pathlib import Path

import gymnasium as gym
import yaml
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from sb3_large.hyperparams import UNSUPPORTED_KEYS, normalize_kwargs, without_launcher_guard

CONFIGS = (
    "sac",
    "crossq",
    "ota2021",
    "ota2021_apex",
    "sac_large",
    "densenet",
    "crossq_large",
    "sac_hl",
    "sac_simba_hl",
    "sac_hl_sb3",
    "crossq_ofenet",
    "sac_ln",
    "sac_ln_h1",
    "crossq_wn",
    "sac_ln_hl",
    "sac_ln_obs",
    "sac_ln_utd1",
    "sac_ln_obs_ent1",
    "sac_ln_obs_utd1",
    "sac_ln_obs_ls10k",
    "sac_ln_obs_utd1_pa",
    "sac_ln_obs_utd1_h",
    "sac_ln_obs_pa",
    "sac_ln_bf16",
    "sac_cat",
    "sac_cat_utd2",
)
DEFAULT_CONFIGS = CONFIGS[:4]
HYPERPARAMS = Path(__file__).resolve().parent.parent / "sb3_large" / "hyperparams"
RECIPES = Path(__file__).resolve().parent / "recipes"  # candidates for a new default, not shipped YAMLs
# Configuration -> (RL Zoo YAML, algorithm it is run with: stock RL Zoo's ``sac`` / ``crossq``, or
# ``sb3_large.sac``, what ``python -m sb3_large.zoo train --algo sac`` binds).
YAML_CONFIGS = {
    "ota2021": (HYPERPARAMS / "sac_ota2021.yml", "sac"),
    "ota2021_apex": (HYPERPARAMS / "sac_ota2021_apex.yml", "sac"),
    "sac_large": (HYPERPARAMS / "sac_large.yml", "sac"),
    "crossq_large": (HYPERPARAMS / "crossq_large.yml", "crossq"),
    "sac_hl": (RECIPES / "sac_hl.yml", "sb3_large.sac"),
    "sac_simba_hl": (RECIPES / "sac_simba_hl.yml", "sb3_large.sac"),
    "sac_hl_sb3": (RECIPES / "sac_hl.yml", "sac"),
    "crossq_ofenet": (RECIPES / "crossq_ofenet.yml", "crossq"),
    "sac_ln": (RECIPES / "sac_ln.yml", "sac"),
    "sac_ln_h1": (RECIPES / "sac_ln_h1.yml", "sac"),
    "crossq_wn": (RECIPES / "crossq_wn.yml", "crossq"),
    "sac_ln_hl": (RECIPES / "sac_ln_hl.yml", "sb3_large.sac"),
    "sac_ln_obs": (RECIPES / "sac_ln_obs.yml", "sac"),
    "sac_ln_utd1": (RECIPES / "sac_ln_utd1.yml", "sac"),
    "sac_ln_obs_ent1": (RECIPES / "sac_ln_obs_ent1.yml", "sac"),
    "sac_ln_obs_utd1": (RECIPES / "sac_ln_obs_utd1.yml", "sac"),
    "sac_ln_obs_ls10k": (RECIPES / "sac_ln_obs_ls10k.yml", "sac"),
    "sac_ln_obs_utd1_pa": (RECIPES / "sac_ln_obs_utd1_pa.yml", "sac"),
    "sac_ln_obs_utd1_h": (RECIPES / "sac_ln_obs_utd1_h.yml", "sac"),
    "sac_ln_obs_pa": (RECIPES / "sac_ln_obs_pa.yml", "sac"),
    "sac_ln_bf16": (RECIPES / "sac_ln_bf16.yml", "sac"),
    "sac_cat": (RECIPES / "sac_cat.yml", "sb3_large.sac"),
    "sac_cat_utd2": (RECIPES / "sac_cat_utd2.yml", "sb3_large.sac"),
}
# RL Zoo's MuJoCo warm-up of the built-in configurations (rl_zoo3/hyperparams/sac.yml, crossq.yml).
LEARNING_STARTS = {"sac": 10_000, "densenet": 10_000, "crossq": 5_000}
# Configurations --compile-update can compile: those sb3_large.SAC trains (``sac`` then trains with it too).
COMPILABLE = ("sac", "sac_hl", "sac_simba_hl", "sac_ln_hl")


def zoo_entry(config: str, env_id: str) -> dict:
    """The ``env_id`` entry of a configuration's RL Zoo YAML (anchors resolved)."""
    path = YAML_CONFIGS[config][0]
    entries = yaml.safe_load(path.read_text())
    if env_id not in entries:
        envs = sorted(k for k, v in entries.items() if isinstance(v, dict) and "policy" in v)  # not the anchors
        raise ValueError(f"--env: {path.name} has no entry {env_id!r}; it has {', '.join(envs)}")
    entry = entries[env_id]
    unsupported = sorted(set(entry) & set(UNSUPPORTED_KEYS))
    if unsupported:
        raise ValueError(f"{path.name}: {env_id}.{unsupported[0]} is not supported by returns.py")
    normalize_kwargs(entry, f"{path.name}: {env_id}.normalize")  # refuse a malformed value before any job starts
    return entry


def env_normalization(config: str, env_id: str) -> dict | None:
    """A configuration's ``VecNormalize`` kwargs (None: it trains on raw observations and rewards)."""
    return normalize_kwargs(zoo_entry(config, env_id)) if config in YAML_CONFIGS else None


def make_env(config: str, env_id: str) -> VecEnv:
    """The training env of a job: ``Monitor(env)`` in a ``DummyVecEnv`` (what SB3 wraps a plain env in), under
    ``VecNormalize`` when the configuration's entry normalizes."""
    env: VecEnv = DummyVecEnv([lambda: Monitor(gym.make(env_id))])
    kwargs = env_normalization(config, env_id)
    return env if kwargs is None else VecNormalize(env, **kwargs)


def zoo_callbacks(config: str, args) -> list[BaseCallback]:
    """The callbacks of a YAML configuration's entry (Ape-X options overridden), as RL Zoo builds them."""
    from rl_zoo3.utils import get_callback_list

    specs = []
    # The configurations of sb3_large's learners run as the launcher runs them: without the guard against stock RL Zoo.
    callbacks = zoo_entry(config, args.env).get("callback")
    for item in (without_launcher_guard(callbacks) if YAML_CONFIGS[config][1] == "sb3_large.sac" else callbacks) or []:
        name, kwargs = next(iter(item.items())) if isinstance(item, dict) else (item, {})
        if name.endswith(".ApeXCollector"):
            overrides = dict(n_actors=args.actors, replay_ratio=args.replay_ratio)
            kwargs = {**kwargs, **{k: v for k, v in overrides.items() if v is not None}}
        specs.append({name: kwargs})
    return get_callback_list({"callback": specs})


def sized_policy_kwargs(policy_kwargs: dict, args) -> dict:
    """An entry's policy kwargs with the command line's sizes: ``--width`` / ``--depth`` size every body
    (replacing the YAML's shared and per-network values), then ``--actor-width`` / ``--critic-width`` one network
    each. Sizes the command line does not give stay as the YAML has them."""
    kwargs = dict(policy_kwargs)
    shared = {k: v for k, v in (("width", args.width), ("depth", args.depth)) if v is not None}
    kwargs.update(shared)
    for network, width in (("actor_net", args.actor_width), ("critic_net", args.critic_width)):
        net = {k: v for k, v in (kwargs.get(network) or {}).items() if k not in shared}
        if width is not None:
            net["width"] = width
        if net or kwargs.get(network) is not None:
            kwargs[network] = net
    return kwargs


def zoo_model(config: str, args, common: dict, env: VecEnv):
    """A YAML configuration's model as stock RL Zoo builds it, with this script's overrides."""
    from rl_zoo3.utils import get_class_by_name

    entry = dict(zoo_entry(config, args.env))
    policy = entry.pop("policy")
    policy_kwargs = sized_policy_kwargs(entry.pop("policy_kwargs", {}), args)
    if "ofenet_kwargs" in policy_kwargs and args.pretrain is not None:
        policy_kwargs["ofenet_kwargs"] = {**policy_kwargs["ofenet_kwargs"], "pretrain_steps": args.pretrain}
    for key in ("n_timesteps", "callback", "normalize"):
        entry.pop(key, None)
    policy_class = get_class_by_name(policy) if "." in policy else policy
    return model_class(config, args)(policy_class, env, policy_kwargs=policy_kwargs, **{**entry, **common})


def make_model(config: str, args, seed: int, env: VecEnv):
    """A new model for one configuration, training on ``env`` (``make_env``)."""
    import sb3_large  # noqa: F401  (policy aliases; imported in the worker process)

    common = dict(seed=seed, buffer_size=max(args.budget, 1000))
    if args.learning_starts is not None:
        common["learning_starts"] = args.learning_starts
    elif config in LEARNING_STARTS:
        common["learning_starts"] = LEARNING_STARTS[config]
    if args.compile_update:
        common["compile"] = "update"
    if config in YAML_CONFIGS:
        return zoo_model(config, args, common, env)
    algorithm = model_class(config, args)
    if config == "sac":
        return algorithm("MlpPolicy", env, policy_kwargs=dict(net_arch=[args.sac_width] * 2), **common)
    if config == "densenet":
        large = dict(arch="densenet", width=args.width or 2048, depth=args.depth or 2)
        return algorithm("LargeMlpPolicy", env, policy_kwargs=large, **common)
    if config == "crossq":
        net_arch = dict(pi=[256, 256], qf=[args.crossq_width] * 2)
        return algorithm(
            "MlpPolicy", env, learning_rate=1e-3, policy_delay=3, policy_kwargs=dict(net_arch=net_arch), **common
        )
    raise ValueError(f"configs: unknown configuration {config!r}; allowed: {', '.join(CONFIGS)}")


def make_callbacks(config: str, args) -> list[BaseCallback]:
    """A configuration's extra callbacks, new for every process (they derive their state from the model)."""
    return zoo_callbacks(config, args) if config in YAML_CONFIGS else []


def model_class(config: str, args):
    """The algorithm class a configuration trains with: stock RL Zoo's for the YAML configurations; with
    ``--compile-update``, ``sb3_large.SAC`` for ``sac`` (SB3's SAC updates, compiled)."""
    from sb3_contrib import CrossQ
    from stable_baselines3 import SAC

    import sb3_large

    algo = YAML_CONFIGS[config][1] if config in YAML_CONFIGS else config
    if args.compile_update and config == "sac":
        algo = "sb3_large.sac"
    return {"crossq": CrossQ, "sb3_large.sac": sb3_large.SAC}.get(algo, SAC)
