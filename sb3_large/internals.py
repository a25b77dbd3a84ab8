"""Every private name of SB3 or torch that sb3-large reads, in one place.

A subclass reading its own inherited attributes is not here; what other objects' private attributes we read is.
When a new SB3 or torch renames one of these, ``tests/test_internals.py`` fails naming the version, and this file
is the one place to change. Light on purpose: torch's compiler is reached only when ``graph_break`` runs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.vec_env import VecNormalize

# Every BatchNorm{1,2,3}d (and SyncBatchNorm) derives from this base, which torch does not export.
BatchNormBase: type[th.nn.Module] = th.nn.modules.batchnorm._BatchNorm


def progress_remaining(model: BaseAlgorithm) -> float:
    """Where a model's learning-rate schedule stands: 1 at the start of ``learn()``, 0 at its end."""
    return model._current_progress_remaining


def gradient_steps_done(model: BaseAlgorithm) -> int:
    """How many gradient steps an off-policy model has taken (SB3 logs it as ``train/n_updates``)."""
    return model._n_updates  # type: ignore[attr-defined]


def training_vec_normalize(model: BaseAlgorithm) -> VecNormalize | None:
    """The VecNormalize that normalizes a model's replay samples (``replay_buffer.sample(env=...)``)."""
    return model._vec_normalize_env


def rebuild(model: BaseAlgorithm) -> None:
    """Build a model's networks, optimizers and buffers again from its settings, as its constructor did."""
    model._setup_model()


class NoiseSettings(NamedTuple):
    """What an SB3 action noise was made with (``theta`` and ``dt`` only for Ornstein-Uhlenbeck)."""

    mean: Any
    sigma: Any
    theta: float | None = None
    dt: float | None = None


def noise_settings(noise: ActionNoise) -> NoiseSettings:
    """The arguments an SB3 ``NormalActionNoise`` or ``OrnsteinUhlenbeckActionNoise`` was built with."""
    if hasattr(noise, "_theta"):
        return NoiseSettings(noise._mu, noise._sigma, float(noise._theta), float(noise._dt))  # type: ignore[attr-defined]
    return NoiseSettings(noise._mu, noise._sigma)  # type: ignore[attr-defined]


def foreach_lerp_(targets: list[th.Tensor], sources: list[th.Tensor], weight: float) -> None:
    """``target += weight * (source - target)`` for every pair, in one kernel launch per device."""
    th._foreach_lerp_(targets, sources, weight)


def foreach_copy_(targets: list[th.Tensor], sources: list[th.Tensor]) -> None:
    """``target.copy_(source)`` for every pair, in one kernel launch per device."""
    th._foreach_copy_(targets, sources)


def graph_break() -> None:
    """End the region torch.compile is tracing here (nothing outside a trace)."""
    th._dynamo.graph_break()


def is_all_true() -> Any:
    """The function torch.distributions' argument validation calls on a tensor of checks."""
    return th._is_all_true
