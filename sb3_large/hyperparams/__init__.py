"""The RL Zoo hyperparameter files the package ships, by name: their paths, and an entry as Python objects.

    python -m rl_zoo3.train --algo sac --env Hopper-v4 -conf $(python -m sb3_large.hyperparams sac_large)

``load(name, env_id)`` gives what RL Zoo would build from an entry (algorithm, policy, kwargs, the ``VecNormalize``
settings of its ``normalize`` key, callbacks), for the same recipe in plain SB3 code.
"""

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FOLDER = Path(__file__).resolve().parent
# The RL Zoo keys that are not algorithm kwargs: read into a Recipe's own fields, or refused by ``load``.
ZOO_KEYS = ("n_timesteps", "policy", "policy_kwargs", "normalize", "callback")
UNSUPPORTED_KEYS = ("n_envs", "env_wrapper", "vec_env_wrapper", "frame_stack", "env_kwargs")
VEC_NORMALIZE_OPTIONS = ("clip_obs", "clip_reward", "epsilon", "gamma", "norm_obs", "norm_reward")
# The guard of the entries that need sb3_large's learners (``sb3_large.zoo.RequiresLauncher``).
LAUNCHER_ONLY = "sb3_large.zoo.RequiresLauncher"


def names() -> list[str]:
    """The names of the shipped files (``sac_large``, ...)."""
    return sorted(path.stem for path in FOLDER.glob("*.yml"))


def path(name: str) -> Path:
    """The installed file of ``name`` (``"sac_large"`` or ``"sac_large.yml"``)."""
    stem = name.removesuffix(".yml")
    if stem not in names():
        raise ValueError(f"name: no hyperparameter file {name!r}; allowed: {', '.join(names())}")
    return FOLDER / f"{stem}.yml"


@dataclass(frozen=True)
class Recipe:
    """One entry of a hyperparameter file, as RL Zoo would use it.

    ``algorithm(policy, env, **kwargs)`` builds the model (``kwargs`` holds ``policy_kwargs``); ``make_env``
    builds the training env RL Zoo would (with ``VecNormalize(**normalize)`` where the entry normalizes);
    ``callbacks`` are the entry's callbacks, new on each call; ``n_timesteps`` is RL Zoo's budget.
    """

    name: str
    env_id: str
    algorithm: type
    policy: Any
    kwargs: dict[str, Any]
    normalize: dict[str, Any] | None
    n_timesteps: int
    callback_specs: list[Any] = field(default_factory=list)

    def make_env(self, n_envs: int = 1, seed: int | None = None):
        """The training env: ``make_vec_env(env_id)``, in ``VecNormalize`` where the entry normalizes."""
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import VecNormalize

        env = make_vec_env(self.env_id, n_envs=n_envs, seed=seed)
        return env if self.normalize is None else VecNormalize(env, **self.normalize)

    def callbacks(self) -> list:
        """New instances of the entry's callbacks (RL Zoo's ``get_callback_list``)."""
        from rl_zoo3.utils import get_callback_list

        return get_callback_list({"callback": self.callback_specs}) if self.callback_specs else []


def load(name: str, env_id: str) -> Recipe:
    """The ``env_id`` entry of the shipped file ``name``, for SB3 code: ``recipe.algorithm(recipe.policy,
    recipe.make_env(), **recipe.kwargs).learn(recipe.n_timesteps, callback=recipe.callbacks())``."""
    file = path(name)
    entries = yaml.safe_load(file.read_text())
    if env_id not in entries or "policy" not in entries[env_id]:
        envs = sorted(k for k, v in entries.items() if isinstance(v, dict) and "policy" in v)  # not the anchors
        raise ValueError(f"env_id: {file.name} has no entry {env_id!r}; it has {', '.join(envs)}")
    entry = dict(entries[env_id])
    unsupported = sorted(set(entry) & set(UNSUPPORTED_KEYS))
    if unsupported:
        raise ValueError(f"{file.name}: {env_id}.{unsupported[0]} is not read by load(); use RL Zoo for this entry")
    specs = without_launcher_guard(entry.get("callback")) or []
    return Recipe(
        name=file.stem,
        env_id=env_id,
        algorithm=_algorithm(file.stem, launcher_only=specs != (entry.get("callback") or [])),
        policy=_policy(entry["policy"]),
        kwargs={
            **{k: v for k, v in entry.items() if k not in ZOO_KEYS},
            "policy_kwargs": dict(entry.get("policy_kwargs") or {}),
        },
        normalize=normalize_kwargs(entry, f"{file.name}: {env_id}.normalize"),
        n_timesteps=int(entry["n_timesteps"]),
        callback_specs=specs,
    )


def without_launcher_guard(callbacks: Any) -> list | None:
    """An entry's ``callback`` value as a list without the launcher's guard (``None`` when nothing is left)."""
    if callbacks is None:
        return None
    listed = callbacks if isinstance(callbacks, list) else [callbacks]
    kept = [c for c in listed if (next(iter(c)) if isinstance(c, dict) else c) != LAUNCHER_ONLY]
    return kept or None


def _algorithm(stem: str, launcher_only: bool) -> type:
    """The class RL Zoo's ``--algo`` runs for a file (named ``<algo>_...``), or sb3_large's learner its entry
    needs."""
    import sb3_contrib
    import stable_baselines3

    import sb3_large

    algo = stem.split("_")[0]
    if launcher_only:
        return {"sac": sb3_large.SAC, "td3": sb3_large.TD3}[algo]
    return {"sac": stable_baselines3.SAC, "td3": stable_baselines3.TD3, "crossq": sb3_contrib.CrossQ}[algo]


def _policy(name: str) -> Any:
    """A policy class named by its dotted path, or SB3's alias (``"MlpPolicy"``) as it is."""
    if "." not in name:
        return name
    from rl_zoo3.utils import get_class_by_name

    import sb3_large  # noqa: F401  (the policy classes' aliases)

    return get_class_by_name(name)


def normalize_kwargs(entry: dict, where: str = "normalize") -> dict | None:
    """``VecNormalize`` kwargs of an entry's ``normalize`` key, read as RL Zoo reads it (``true``, a mapping, or
    a ``dict(...)`` string), with the algorithm's ``gamma``; None when the entry does not normalize."""
    value = entry.get("normalize", False)
    if isinstance(value, str):
        value = literal_mapping(value, where)
    if value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected true, false, a mapping or a dict(...) string, got {value!r}")
    unknown = sorted(set(value) - set(VEC_NORMALIZE_OPTIONS))
    if unknown:
        raise ValueError(
            f"{where}: unknown VecNormalize option {unknown[0]!r}; allowed: {', '.join(VEC_NORMALIZE_OPTIONS)}"
        )
    kwargs = dict(value)
    if "gamma" in entry:
        kwargs["gamma"] = entry["gamma"]
    return kwargs


def literal_mapping(text: str, where: str) -> dict:
    """The mapping a ``dict(k=v, ...)`` or ``{...}`` string of literals stands for (RL Zoo ``eval``s such strings;
    only literals are read here)."""
    try:
        node = ast.parse(text, mode="eval").body
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
            value = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
        else:
            value = ast.literal_eval(node)
    except (SyntaxError, ValueError) as exc:
        raise ValueError(f"{where}: {text!r} is not a dict(...) of literals ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a mapping, got {text!r}")
    return value


__all__ = ["Recipe", "load", "names", "normalize_kwargs", "path", "without_launcher_guard"]
