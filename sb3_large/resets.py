"""Periodic resets of named networks and their optimizer states, the companion of a replay ratio above 1.

Many gradient steps per env step make networks lose plasticity; re-initialising them every so often while the
replay buffer is kept (SR-SAC, BRO) recovers it. The replay ratio is SB3's own ``gradient_steps`` (or
``ApeXCollector(replay_ratio=...)``); ``PeriodicReset`` does the resets.
"""

from collections.abc import Sequence
from itertools import chain
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.preprocessing import get_action_dim, get_flattened_obs_dim
from torch import nn

from sb3_large.checks import check_int
from sb3_large.ofenet import OFENet

NETWORKS = ("actor", "critic", "ent_coef", "ofenet")


def check_networks(networks: Sequence[str], allowed: Sequence[str] = NETWORKS, where: str = "") -> tuple[str, ...]:
    """``networks`` as a tuple without repeats, if it is a non-empty list of names from ``allowed``."""
    if isinstance(networks, str) or not isinstance(networks, Sequence) or not networks:
        raise TypeError(f"networks: must be a non-empty list of names from {', '.join(allowed)}; got {networks!r}")
    for name in networks:
        if name not in allowed:
            raise ValueError(f"networks: {name!r} cannot be reset{where}; allowed: {', '.join(allowed)}")
    return tuple(dict.fromkeys(networks))


def resettable(model: OffPolicyAlgorithm) -> tuple[str, ...]:
    """The names ``reset_networks`` takes for this model: ``ent_coef`` only where it is learned, ``ofenet`` only
    where the policy has one."""
    names = ["actor", "critic"]
    if getattr(model, "ent_coef_optimizer", None) is not None:
        names.append("ent_coef")
    if isinstance(getattr(model.policy, "ofenet", None), OFENet):
        names.append("ofenet")
    return tuple(names)


def reset_networks(model: OffPolicyAlgorithm, networks: Sequence[str]) -> None:
    """Re-initialise the named networks of ``model`` as they were built, in place, and clear their optimizer state.

    ``actor`` / ``critic``: a fresh network from the policy's own ``make_actor`` / ``make_critic`` (its builders'
    initialisation, batch-norm statistics included) is copied into the live one, whose target copy (where there
    is one) then equals it. A features extractor the critic shares with the actor belongs to the actor.
    ``ent_coef``: SAC's learned entropy coefficient goes back to its initial value (``ent_coef="auto_<init>"``,
    default 1). ``ofenet``: fresh OFENet weights; its update count stays, so it is not pretrained again. Every
    optimizer that holds a reset parameter (a joint OFENet's is also in the critics' optimizer) drops its Adam
    moments and step count. Everything else is left untouched, bit for bit.
    """
    model_name = type(model).__name__
    names = check_networks(networks, resettable(model), where=f" in this {model_name} model")
    policy: Any = model.policy  # an off-policy actor-critic policy: actor, critic, make_actor, make_critic
    reset: list[nn.Parameter] = []
    for name in names:
        if name == "actor":
            reset += _reset_with_target(policy.actor, policy.make_actor(), getattr(policy, "actor_target", None))
        elif name == "critic":
            actor_extractor = getattr(policy.actor, "features_extractor", None)
            shared = ("features_extractor.",) if policy.critic.features_extractor is actor_extractor else ()
            reset += _reset_with_target(
                policy.critic, policy.make_critic(), getattr(policy, "critic_target", None), shared
            )
        elif name == "ent_coef":
            reset += _reset_ent_coef(model)
        else:
            reset += _reset_ofenet(policy.ofenet, policy.observation_space, policy.action_space)
    # A parameter may be in more than one optimizer (a joint OFENet is also stepped by the critics' optimizer):
    # every one forgets it.
    for optimizer in _optimizers(model):
        for param in reset:
            optimizer.state.pop(param, None)  # Adam starts the moments and step count afresh from an empty state


def _optimizers(model: OffPolicyAlgorithm) -> list[th.optim.Optimizer]:
    """Every optimizer of an off-policy model: the actor's, the critics', OFENet's own, the entropy coefficient's."""
    policy: Any = model.policy
    ofenet = getattr(policy, "ofenet", None)
    candidates = [
        policy.actor.optimizer,
        policy.critic.optimizer,
        ofenet.optimizer if isinstance(ofenet, OFENet) else None,
        getattr(model, "ent_coef_optimizer", None),
    ]
    return [optimizer for optimizer in candidates if optimizer is not None]


def _copy_fresh(live: nn.Module, fresh: nn.Module, keep: tuple[str, ...] = ()) -> list[nn.Parameter]:
    """Copy ``fresh``'s parameters and buffers into ``live`` in place (optimizers and SB3's batch-norm aliases keep
    their references), except names starting with one of ``keep``; returns the parameters that were reset."""
    fresh_tensors = dict(chain(fresh.named_parameters(), fresh.named_buffers()))
    reset = []
    with th.no_grad():
        for name, tensor in chain(live.named_parameters(), live.named_buffers()):
            if not name.startswith(keep):
                tensor.copy_(fresh_tensors[name])
                if isinstance(tensor, nn.Parameter):
                    reset.append(tensor)
    return reset


def _reset_with_target(
    live: nn.Module, fresh: nn.Module, target: nn.Module | None, keep: tuple[str, ...] = ()
) -> list[nn.Parameter]:
    reset = _copy_fresh(live, fresh, keep)
    if target is not None:  # a shared extractor of the target is the actor target's: left to it
        _copy_fresh(target, live, keep)
    return reset


def _reset_ent_coef(model: OffPolicyAlgorithm) -> list[nn.Parameter]:
    # As SB3's _setup_model computes it, so that the value is the same to the last bit.
    init = float(model.ent_coef.split("_")[1]) if "_" in model.ent_coef else 1.0  # type: ignore[attr-defined]
    log_ent_coef = model.log_ent_coef  # type: ignore[attr-defined]
    with th.no_grad():
        log_ent_coef.copy_(th.log(th.ones(1, device=log_ent_coef.device) * init))
    return [log_ent_coef]


def _reset_ofenet(ofenet: OFENet, observation_space: spaces.Space, action_space: spaces.Space) -> list[nn.Parameter]:
    fresh = OFENet(get_flattened_obs_dim(observation_space), get_action_dim(action_space), ofenet.config)
    return _copy_fresh(ofenet, fresh.to(ofenet.n_updates.device), keep=("n_updates",))


class PeriodicReset(BaseCallback):
    """Every ``every_steps`` env steps, re-initialises the named networks and their optimizer states
    (``reset_networks``); the replay buffer and every other network stay as they are.

    Use ``model.learn(n, callback=PeriodicReset(every_steps=100_000, networks=["actor", "critic"]))``, or in an
    RL Zoo YAML entry ``callback: [{sb3_large.resets.PeriodicReset: {every_steps: 100000}}]``. Resets happen at
    every multiple of ``every_steps`` of ``model.num_timesteps`` (which counts Ape-X actors' transitions too),
    except at the end of ``learn()``'s budget, so that the model it returns is never a freshly reset one: a
    reset due on that last step is done when a later ``learn()`` continues the run (``reset_num_timesteps=False``,
    in this process or after loading a checkpoint), before its first step (not after an Ape-X ingest, which
    can add many steps at once). Logs ``reset/resets``.

    :param every_steps: env steps between two resets
    :param networks: what to reset: ``actor``, ``critic`` (each with its target network), ``ent_coef`` (SAC's
        learned entropy coefficient), ``ofenet``
    """

    model: OffPolicyAlgorithm

    def __init__(self, every_steps: int, networks: Sequence[str] = ("actor", "critic"), verbose: int = 0):
        super().__init__(verbose)
        self.every_steps = check_int("every_steps", every_steps)
        self.networks = check_networks(networks)
        self.resets = 0
        self._next_reset = every_steps

    def _on_training_start(self) -> None:
        check_networks(self.networks, resettable(self.model), where=f" in this {type(self.model).__name__} model")
        self._budget = self.locals["total_timesteps"]  # SB3's: the num_timesteps at which learn() ends
        # A run whose last step (n_envs transitions) passed a multiple skipped the reset due there, at the end of
        # its budget: it is done now, before any new step, so a run trained in chunks or resumed from a
        # checkpoint keeps the schedule.
        steps = self.model.num_timesteps
        reached = steps // self.every_steps * self.every_steps  # the latest multiple
        self._next_reset = reached + self.every_steps
        if reached > 0 and reached > steps - self.model.n_envs:
            self._reset()

    def _on_step(self) -> bool:
        if self._next_reset <= self.model.num_timesteps < self._budget:
            self._reset()
        return True

    def _reset(self) -> None:
        reset_networks(self.model, self.networks)
        self.resets += 1
        self._next_reset = (self.model.num_timesteps // self.every_steps + 1) * self.every_steps
        self.logger.record("reset/resets", self.resets)
        if self.verbose:
            print(f"PeriodicReset: reset {', '.join(self.networks)} at step {self.model.num_timesteps}")


__all__ = ["NETWORKS", "PeriodicReset", "reset_networks", "resettable"]
