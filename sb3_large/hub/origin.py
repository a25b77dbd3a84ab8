"""What a loaded model came with that SB3 keeps nowhere without an env: its env id and VecNormalize statistics,
kept for ``save_pretrained`` and ``export_rl_zoo`` to write again."""

import warnings
import weakref
from dataclasses import dataclass
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_large.hub.settings import normalized, vec_normalize_to_json


@dataclass(frozen=True)
class Origin:
    """A loaded model's env id and VecNormalize statistics. ``statistics_known`` is False where the source could not
    tell (an SB3 zip outside an RL Zoo run): ``vec_normalize`` None is then no answer."""

    env_id: str | None
    vec_normalize: dict[str, Any] | None
    statistics_known: bool = True


# Each model load_pretrained returned -> its Origin; weak, so that an entry goes with its model.
_LOADED: "weakref.WeakKeyDictionary[BaseAlgorithm, Origin]" = weakref.WeakKeyDictionary()


def origin_of(model: BaseAlgorithm) -> Origin | None:
    """What ``model`` was loaded with; None for a model ``load_pretrained`` did not return."""
    return _LOADED.get(model)


def vec_normalize_of(model: BaseAlgorithm) -> dict[str, Any] | None:
    """The statistics of the VecNormalize the model acts under: its env's, else those it was loaded with."""
    vec_normalize = model.get_vec_normalize_env()
    if vec_normalize is not None:
        return vec_normalize_to_json(vec_normalize)
    return _LOADED[model].vec_normalize if model in _LOADED else None


def with_origin(
    model: BaseAlgorithm, env_id: str | None, vec_normalize: dict[str, Any] | None, statistics_known: bool = True
) -> BaseAlgorithm:
    """Keep what the model was loaded with for a later save; put its env, if it has one, under its statistics."""
    _LOADED[model] = Origin(env_id, vec_normalize, statistics_known)
    if vec_normalize is None:
        return model
    env = model.get_env()
    if env is not None and model.get_vec_normalize_env() is not None:
        raise ValueError(
            "env: it is wrapped in VecNormalize already; pass it without: load_pretrained wraps it in the "
            "statistics the model was trained with"
        )
    if env is not None:
        model.set_env(normalized(env, vec_normalize))
    else:
        warnings.warn(
            "vec_normalize: the model acts on observations normalized by the statistics it was trained with; pass "
            "env= to load_pretrained to have its env wrapped in them (model.get_env())",
            UserWarning,
            stacklevel=3,
        )
    return model
