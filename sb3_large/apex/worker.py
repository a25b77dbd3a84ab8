"""One Ape-X actor: its own environment, a CPU copy of the acting networks, its own exploration level.

The same ``ActorWorker`` runs inside a local process or a Ray actor; the backends only move its inputs
(a pickled ``WorkerSpec``, weights) and outputs (``Chunk``).
"""

import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.policies import BasePolicy

from sb3_large.apex.chunk import Chunk, Transitions


def exploration_levels(n_actors: int, base: float, alpha: float) -> list[float]:
    """Ape-X schedule: actor ``i`` of ``N`` explores with ``base ** (1 + alpha * i / (N - 1))``."""
    if n_actors == 1:
        return [base]
    return [base ** (1 + alpha * i / (n_actors - 1)) for i in range(n_actors)]


def acting_tensors(policy: Any) -> dict[str, th.Tensor]:
    """The live tensors that decide actions: the actor's state and, for OFENet policies, OFENet's weights;
    with ``normalize_obs``, the observation statistics."""
    tensors = dict(policy.actor.state_dict(keep_vars=True))
    obs_norm = getattr(policy, "obs_norm", None)
    if obs_norm is not None:
        tensors.update({f"obs_norm.{k}": v for k, v in obs_norm.named_buffers()})
    ofenet = getattr(policy, "ofenet", None)
    if ofenet is not None:
        tensors.update({f"ofenet.{k}": v for k, v in ofenet.named_parameters()})
        tensors.update({f"ofenet.{k}": v for k, v in ofenet.named_buffers()})
    return tensors


def acting_weights(policy: BasePolicy) -> dict[str, np.ndarray]:
    """A CPU copy of the acting tensors as numpy arrays: plain bytes to pickle, no shared-memory handles."""
    return {k: v.detach().to("cpu", copy=True).numpy() for k, v in acting_tensors(policy).items()}


def make_env_from_spec(spec: gym.envs.registration.EnvSpec) -> gym.Env:
    return gym.make(spec)


@dataclass
class WorkerSpec:
    """Everything an actor needs, picklable (cloudpickle) so that it can cross a process or the network."""

    actor_id: int
    env_fn: Callable[[], gym.Env]
    policy_class: type[BasePolicy]
    policy_bytes: bytes
    exploration: float
    scale_sac_std: float
    chunk_size: int
    weights_version: int
    seed: int


class ActorWorker:
    """Steps its environment with the latest weights it was given and returns transitions in chunks.

    With weights version 0 (the learner's random warm-up, before the first sync) it acts uniformly at random.
    Actions are stored as SB3 stores them: scaled to [-1, 1].
    """

    def __init__(self, spec: WorkerSpec):
        th.set_num_threads(1)
        self.spec = spec
        self.env = spec.env_fn()
        self.policy: Any = spec.policy_class.load(io.BytesIO(spec.policy_bytes), device="cpu")  # type: ignore[arg-type]
        self.policy.set_training_mode(False)
        self.tensors = acting_tensors(self.policy)
        self.weights_version = spec.weights_version
        self.rng = np.random.default_rng(spec.seed)
        self.env.action_space.seed(spec.seed)
        self.obs, _ = self.env.reset(seed=spec.seed)
        self.episode_return = 0.0
        # SAC-style actors expose their Gaussian; others (TD3) are deterministic and get Gaussian action noise.
        self.stochastic = hasattr(self.policy.actor, "get_action_dist_params")

    def set_weights(self, version: int, weights: dict[str, np.ndarray]) -> None:
        with th.no_grad():
            for name, tensor in self.tensors.items():
                tensor.copy_(th.from_numpy(weights[name]))
        self.weights_version = version

    def _scaled_action(self) -> np.ndarray:
        if self.weights_version == 0:
            return self.policy.scale_action(self.env.action_space.sample())
        obs = self.policy.obs_to_tensor(self.obs)[0]
        actor = self.policy.actor
        with th.no_grad():
            if self.stochastic:
                mean, log_std, kwargs = actor.get_action_dist_params(obs)
                log_std = log_std + math.log(self.spec.scale_sac_std)
                action = actor.action_dist.actions_from_params(mean, log_std, deterministic=False, **kwargs)
                return action.numpy()[0]
            action = actor(obs).numpy()[0]
        noise = self.rng.normal(0.0, self.spec.exploration, size=action.shape)
        return np.clip(action + noise, -1.0, 1.0)

    def collect(self, n_steps: int) -> Chunk:
        space = self.env.observation_space
        data = Transitions.empty(n_steps, space.shape, space.dtype, self.env.action_space.shape)  # type: ignore[arg-type]
        chunk = Chunk(self.spec.actor_id, self.weights_version, data, os.getpid())
        for t in range(n_steps):
            scaled = self._scaled_action()
            next_obs, reward, terminated, truncated, _ = self.env.step(self.policy.unscale_action(scaled))
            data.obs[t], data.next_obs[t], data.actions[t] = self.obs, next_obs, scaled
            data.rewards[t], data.dones[t] = reward, terminated or truncated
            data.timeouts[t] = truncated and not terminated
            self.episode_return += float(reward)
            if terminated or truncated:
                chunk.episode_returns.append(self.episode_return)
                self.episode_return = 0.0
                next_obs, _ = self.env.reset()
            self.obs = next_obs
        return chunk
