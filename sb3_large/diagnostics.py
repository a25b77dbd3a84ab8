"""Representation diagnostics: the measures used to explain why large networks help (or collapse) in RL.

- ``srank`` (Kumar et al. 2021, "Implicit Under-Parameterization"): the number of singular values of a
  feature matrix needed to hold ``1 - delta`` of their sum; a collapsing representation loses rank.
- dormant units (Sokar et al. 2023, "The Dormant Neuron Phenomenon"): a unit whose mean absolute activation,
  divided by its layer's mean, is ``<= tau``.
- feature and weight norms: growing norms go with the loss of plasticity.
"""

from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from torch import nn

from sb3_large.checks import check_int
from sb3_large.networks.ensemble import EnsembleLinear
from sb3_large.networks.layers import ACTIVATIONS

# The units whose dormancy is measured: the outputs of the activations our bodies can use.
ACTIVATION_TYPES = tuple(set(ACTIVATIONS.values()))


def srank(features: th.Tensor, delta: float = 0.01) -> int:
    """Effective rank of a ``(batch, dim)`` feature matrix: the fewest singular values with ``1 - delta`` of the sum."""
    if features.dim() != 2:
        raise ValueError(f"features: expected a (batch, dim) matrix, got shape {tuple(features.shape)}")
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta: must be in [0, 1), got {delta}")
    singular = th.linalg.svdvals(features.detach().double())
    total = singular.sum()
    if total <= 0:
        return 0
    cumulative = th.cumsum(singular, 0) / total
    index = int(th.searchsorted(cumulative, cumulative.new_tensor(1.0 - delta)))
    return min(index + 1, singular.numel())  # rounding can leave the full sum a hair under 1


def dormant_fraction(activations: list[th.Tensor], tau: float = 0.025) -> float:
    """Share of units, over all given layers, whose normalised mean |activation| is ``<= tau``.

    Each tensor is ``(..., batch, units)``: the batch is averaged, every other position counts as a unit (so an
    ensemble's ``(members, batch, units)`` counts each member's units).
    """
    dormant, total = 0, 0
    for act in activations:
        score = act.detach().abs().mean(dim=-2).flatten()
        layer_mean = score.mean()
        if layer_mean > 0:
            dormant += int((score / layer_mean <= tau).sum())
        else:
            dormant += score.numel()
        total += score.numel()
    return dormant / total if total else 0.0


def weight_norm(module: nn.Module) -> float:
    """L2 norm of all of a module's parameters together."""
    squares = [p.detach().double().pow(2).sum() for p in module.parameters()]
    return float(th.stack(squares).sum().sqrt()) if squares else 0.0


class _Probe:
    """Records, during one forward pass, the input of a module's last linear layer and every activation output."""

    def __init__(self, module: nn.Module):
        linears = [m for m in module.modules() if isinstance(m, (nn.Linear, EnsembleLinear))]
        if not linears:
            raise ValueError(f"{type(module).__name__} has no nn.Linear layer to read features from")
        self.head = linears[-1]
        self.activations_of = [m for m in module.modules() if isinstance(m, ACTIVATION_TYPES)]
        self.features: th.Tensor | None = None
        self.activations: list[th.Tensor] = []

    def _on_head(self, _module, inputs) -> None:
        self.features = inputs[0]

    def _on_activation(self, _module, _inputs, output) -> None:
        self.activations.append(output)

    def run(self, forward: Callable[[], object]) -> None:
        handles = [self.head.register_forward_pre_hook(self._on_head)]
        handles += [m.register_forward_hook(self._on_activation) for m in self.activations_of]
        try:
            forward()
        finally:
            for handle in handles:
                handle.remove()


def _stats(name: str, probe: _Probe, module: nn.Module, delta: float, tau: float) -> Iterator[tuple[str, float]]:
    if probe.features is None:
        raise RuntimeError(f"{name}: the forward pass never reached the last linear layer")
    features = probe.features[0] if probe.features.dim() == 3 else probe.features  # an ensemble's first member
    yield f"{name}_srank", srank(features, delta)
    yield f"{name}_feature_dim", features.shape[-1]
    yield f"{name}_feature_norm", float(features.norm(dim=-1).mean())
    yield f"{name}_dormant", dormant_fraction(probe.activations, tau)
    yield f"{name}_weight_norm", weight_norm(module)


def representation_stats(
    policy: Any, obs: th.Tensor, actions: th.Tensor, delta: float = 0.01, tau: float = 0.025
) -> dict[str, float]:
    """Diagnostics of an SB3 actor-critic policy (SAC, TD3, TQC, CrossQ; ours or stock) on a batch.

    The actor's and the first Q network's features are the inputs of their last linear layer; an OFENet
    policy adds its ``z_s`` and ``z_sa``. Networks run with their inference statistics (eval mode).
    """
    stats: dict[str, float] = {}
    was_training = policy.training
    policy.set_training_mode(False)
    # A SAC actor samples: fork the generators so that measuring never shifts training's random stream.
    devices = [policy.device] if policy.device.type == "cuda" else []
    try:
        with th.no_grad(), th.random.fork_rng(devices=devices):
            actor = _Probe(policy.actor)
            actor.run(lambda: policy.actor(obs))
            stats.update(_stats("actor", actor, policy.actor, delta, tau))

            critic = _Probe(policy.critic.q_networks[0])
            critic.run(lambda: policy.critic(obs, actions))
            stats.update(_stats("critic", critic, policy.critic, delta, tau))

            ofenet = getattr(policy, "ofenet", None)
            if ofenet is not None:
                probe, out = _Probe(ofenet), {}
                obs_norm = getattr(policy, "obs_norm", None)
                # OFENet reads what the RL networks feed it: normalized observations where the policy normalizes
                ofenet_obs = obs if obs_norm is None else obs_norm.normalize(obs)

                def features() -> None:
                    out["z_s"] = ofenet.state_features(ofenet_obs)
                    out["z_sa"] = ofenet.state_action_features(out["z_s"], actions)

                probe.run(features)
                stats["ofenet_zs_srank"] = srank(out["z_s"], delta)
                stats["ofenet_zsa_srank"] = srank(out["z_sa"], delta)
                stats["ofenet_zsa_dim"] = out["z_sa"].shape[-1]
                stats["ofenet_dormant"] = dormant_fraction(probe.activations, tau)
                stats["ofenet_weight_norm"] = weight_norm(ofenet)
    finally:
        policy.train(was_training)
    return stats


class RepresentationDiagnostics(BaseCallback):
    """Logs ``diagnostics/*`` (srank, dormant units, feature and weight norms) every ``every`` env steps.

    Each measurement is written at once (the logger is dumped, as ``EvalCallback`` does), at the step it was
    taken, to every output of the model's logger (stdout, CSV, tensorboard). A batch of ``batch_size`` replay
    transitions is drawn with the callback's own random generator, so turning diagnostics on does not change
    training (SB3's sampling uses numpy's global one); its observations are read as the networks see them
    (normalized by ``VecNormalize`` where the env has it). Cost: a few forward passes and one SVD per network per
    measurement. The latest values are kept in ``self.latest``.

    :param every: env steps between two measurements
    :param batch_size: transitions per measurement (srank is at most ``min(batch_size, feature dim)``)
    :param srank_delta: share of the singular-value sum that srank may leave out
    :param dormant_tau: normalised activation at or below which a unit counts as dormant
    """

    model: OffPolicyAlgorithm

    def __init__(
        self, every: int = 10_000, batch_size: int = 1024, srank_delta: float = 0.01, dormant_tau: float = 0.025
    ):
        super().__init__()
        check_int("every", every)
        check_int("batch_size", batch_size)
        if not 0.0 <= srank_delta < 1.0:
            raise ValueError(f"srank_delta: must be in [0, 1), got {srank_delta!r}")
        if dormant_tau < 0:
            raise ValueError(f"dormant_tau: must be >= 0, got {dormant_tau!r}")
        self.every = every
        self.batch_size = batch_size
        self.srank_delta = srank_delta
        self.dormant_tau = dormant_tau
        self.latest: dict[str, float] = {}
        self._next = every
        self._rng = np.random.default_rng(0)

    def _init_callback(self) -> None:
        if not hasattr(self.model, "replay_buffer"):
            raise TypeError(f"RepresentationDiagnostics: {type(self.model).__name__} has no replay buffer")
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next = (self.num_timesteps // self.every + 1) * self.every
            self.measure()
        return True

    def measure(self) -> dict[str, float]:
        """Measure now on a replay batch and write the values at this step; returns them (empty while there is no
        data). Writing dumps the model's logger: every value pending in it is written at this step too."""
        buffer = self.model.replay_buffer
        if buffer is None:
            return {}
        size = buffer.buffer_size if buffer.full else buffer.pos
        if size == 0:
            return {}
        # Not buffer.sample(): it draws from numpy's global generator, which training's sampling uses.
        count = min(self.batch_size, size)
        rows, envs = self._rng.integers(0, size, size=count), self._rng.integers(0, buffer.n_envs, size=count)
        obs = buffer.observations[rows, envs]
        # The buffer keeps VecNormalize's raw observations; the networks read them normalized (as SB3 samples them).
        vec_normalize = self.model.get_vec_normalize_env()
        if vec_normalize is not None:
            obs = cast(np.ndarray, vec_normalize.normalize_obs(obs))  # a ReplayBuffer's: never a Dict observation
        obs_tensor, actions = buffer.to_torch(obs).float(), buffer.to_torch(buffer.actions[rows, envs]).float()
        self.latest = representation_stats(self.model.policy, obs_tensor, actions, self.srank_delta, self.dormant_tau)
        for key, value in self.latest.items():
            self.logger.record(f"diagnostics/{key}", value)
        # Written now, at the measured step, as EvalCallback does: SB3's off-policy loop writes the log only every
        # few episodes, so a measurement left to it would be overwritten by the next one, or never written.
        step = self.model.num_timesteps
        self.logger.record("time/total_timesteps", step, exclude="tensorboard")
        self.logger.dump(step)
        return self.latest
