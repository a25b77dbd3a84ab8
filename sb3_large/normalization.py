"""Running observation normalization owned by the policy, and the callback that updates its statistics.

``policy_kwargs=dict(normalize_obs=True)`` gives a large policy one ``RunningObsNorm`` (``policy.obs_norm``): the
actor, the critics and their target copies read ``(obs - mean) / sqrt(var + epsilon)``, clipped, from the same
statistics. They are buffers of the policy, so SB3's zip, the weights sent to Ape-X actors and Hub files carry
them; no optimizer sees them. ``ObsNormUpdater`` updates them from every observation the agent collects.
"""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from sb3_large.checks import check_int, check_keys, check_number
from sb3_large.ofenet.trainer import flat_features

UPDATER_HINT = (
    "pass callback=sb3_large.normalization.ObsNormUpdater() to learn() "
    "(RL Zoo: add `callback: [sb3_large.normalization.ObsNormUpdater]` to the YAML entry)"
)
SETTINGS = ("clip", "epsilon")


class RunningObsNorm(nn.Module):
    """Per-entry running mean and variance of flat observations, and the normalization that reads them.

    The statistics change only in ``update()`` (merged batch by batch, exactly as if computed over the whole
    stream); ``forward`` / ``normalize`` only read them, so acting, evaluation and RL updates never move them.

    :param dim: size of the flat observation
    :param clip: normalized entries are clipped to ``[-clip, clip]`` (``None``: no clipping)
    :param epsilon: added to the variance before the square root
    """

    mean: th.Tensor
    var: th.Tensor
    count: th.Tensor

    def __init__(self, dim: int, clip: float | None = 10.0, epsilon: float = 1e-8):
        super().__init__()
        self.dim = check_int("dim", dim)
        self.clip = None if clip is None else check_number("obs_norm_kwargs.clip", clip, inclusive=False)
        self.epsilon = check_number("obs_norm_kwargs.epsilon", epsilon, inclusive=False)
        self.register_buffer("mean", th.zeros(dim))
        self.register_buffer("var", th.ones(dim))
        self.register_buffer("count", th.zeros((), dtype=th.long))

    @classmethod
    def from_kwargs(cls, dim: int, kwargs: Mapping[str, Any] | None) -> "RunningObsNorm":
        return cls(dim, **check_keys("obs_norm_kwargs", kwargs, SETTINGS))

    def untrained(self) -> bool:
        """True while no observation has been counted."""
        return int(self.count) == 0

    @th.no_grad()
    def update(self, obs: th.Tensor) -> None:
        """Merge a batch ``(n, dim)`` of flat observations into the statistics (Chan et al.'s parallel formula)."""
        if obs.dim() != 2 or obs.shape[1] != self.dim:
            raise ValueError(f"obs: expected a batch of shape (n, {self.dim}), got {tuple(obs.shape)}")
        batch = obs.to(self.mean.device, th.float64)
        n_old, n_new = float(self.count), float(batch.shape[0])
        if n_new == 0:
            return
        total = n_old + n_new
        batch_mean = batch.mean(0)
        batch_m2 = ((batch - batch_mean) ** 2).sum(0)
        mean, var = self.mean.double(), self.var.double()
        delta = batch_mean - mean
        m2 = var * n_old + batch_m2 + delta**2 * (n_old * n_new / total)
        self.mean.copy_(mean + delta * (n_new / total))
        self.var.copy_(m2 / total)
        self.count += int(n_new)

    def normalize(self, obs: th.Tensor) -> th.Tensor:
        """``(obs - mean) / sqrt(var + epsilon)`` per entry of the flat observations ``(n, dim)``, clipped."""
        normalized = (obs - self.mean) / th.sqrt(self.var + self.epsilon)
        return normalized if self.clip is None else normalized.clamp(-self.clip, self.clip)

    def forward(self, obs: th.Tensor) -> th.Tensor:
        return self.normalize(obs)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, clip={self.clip}, epsilon={self.epsilon}"


class NormalizedFeatures(BaseFeaturesExtractor):
    """``inner(normalize(obs))``: a features extractor that reads observations normalized by the policy's
    ``RunningObsNorm``, which it calls but does not own.

    It keeps the bound method ``obs_norm.normalize``, not the module, so the statistics are in none of the
    actor's or critics' state dicts, optimizers, polyak updates or target copies: every network, target ones
    included, reads the one ``policy.obs_norm``. ``inner`` is the extractor that would have been used without
    normalization (SB3's flatten, or OFENet's ``z_s``).
    """

    def __init__(self, observation_space: spaces.Space, inner: BaseFeaturesExtractor, obs_norm: RunningObsNorm):
        super().__init__(observation_space, inner.features_dim)
        self.inner = inner
        self.normalize: Callable[[th.Tensor], th.Tensor] = obs_norm.normalize

    def forward(self, obs: th.Tensor) -> th.Tensor:
        # ``obs`` is SB3's preprocessed observation (one-hot, float); the statistics are per flat entry.
        return self.inner(self.normalize(obs.flatten(1)).view_as(obs))


class ObsNormUpdater(BaseCallback):
    """Updates ``model.policy.obs_norm`` from every observation the learner's env returns, warm-up included.

    Use ``model.learn(n, callback=ObsNormUpdater())``, or in an RL Zoo YAML entry
    ``callback: [sb3_large.normalization.ObsNormUpdater]``. At each env step it counts ``new_obs``, the
    observations the policy acts on next, as the policy reads them (under ``VecNormalize``: already normalized
    by it). Evaluation (``predict``, ``EvalCallback``) never counts. With ``ApeXCollector`` the actors'
    transitions are counted by the collector when it stores them.
    """

    model: OffPolicyAlgorithm

    def _on_training_start(self) -> None:
        obs_norm_of(self.model.policy)  # refuse a policy without one before any step

    def _on_step(self) -> bool:
        update_from_numpy(self.model.policy, self.locals["new_obs"])
        return True


def obs_norm_of(policy: nn.Module) -> RunningObsNorm:
    obs_norm = getattr(policy, "obs_norm", None)
    if not isinstance(obs_norm, RunningObsNorm):
        raise ValueError(
            f"ObsNormUpdater: policy {type(policy).__name__} does not normalize observations; build it with "
            "policy_kwargs=dict(normalize_obs=True) (a large policy: 'LargeMlpPolicy' or 'OFENetPolicy')"
        )
    return obs_norm


def update_from_numpy(policy, obs: np.ndarray) -> None:
    """Count a batch of observations as the env returns them (``(n, *obs_shape)``) in ``policy.obs_norm``."""
    tensor = th.as_tensor(obs, device=policy.device).reshape(-1, *policy.observation_space.shape)
    obs_norm_of(policy).update(flat_features(tensor, policy.observation_space))


__all__ = ["NormalizedFeatures", "ObsNormUpdater", "RunningObsNorm"]
