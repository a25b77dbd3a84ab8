"""``sb3_large.TD3``: SB3's TD3 with a faster ``train()`` (same hyperparameters, same math, same saved files)."""

from typing import cast

import torch as th
from stable_baselines3 import TD3 as SB3TD3
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from torch import nn

from sb3_large.learners.common import (
    OFENetFeatures,
    UpdateOptions,
    copy_stats,
    decoupled_ofenet,
    mean_of,
    optimizer_params,
    soft_update,
    step,
    step_on,
    td_target,
)
from sb3_large.ofenet import OFENet
from sb3_large.policies.common import LargeCritic
from sb3_large.policies.td3_policy import LargeTD3Actor, LargeTD3Policy


class TD3(UpdateOptions, SB3TD3):
    """Drop-in for ``stable_baselines3.TD3``; saved models load with either class.

    The update is SB3's, step for step (critics every update; actor and target networks every
    ``policy_delay``); see ``sb3_large.learners.common`` for what is done with fewer kernels, ``UpdateOptions``
    for ``compile`` and ``precision``.
    """

    large_policy = LargeTD3Policy

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        assert self.replay_buffer is not None  # learn() has set the model up
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])

        ofenet = decoupled_ofenet(self.policy)
        actor_params = optimizer_params(self.actor.optimizer)
        targets = (
            list[th.Tensor](self.critic.parameters()),
            list[th.Tensor](self.critic_target.parameters()),
            list[th.Tensor](self.actor.parameters()),
            list[th.Tensor](self.actor_target.parameters()),
        )
        cuda_graphs = self.compile == "update" and self.device.type == "cuda"
        actor_losses, critic_losses = [], []
        for _ in range(gradient_steps):
            self._n_updates += 1
            data = self._sample(batch_size)
            if cuda_graphs:
                th.compiler.cudagraph_mark_step_begin()
            delayed = self._n_updates % self.policy_delay == 0
            actor_loss, critic_loss = self._update_step(data, ofenet, delayed, actor_params, *targets)
            # CUDA graphs write their outputs into the same memory at every step.
            critic_losses.append(critic_loss.clone() if cuda_graphs else critic_loss)
            if actor_loss is not None:
                actor_losses.append(actor_loss.clone() if cuda_graphs else actor_loss)

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if actor_losses:
            self.logger.record("train/actor_loss", mean_of(actor_losses))
        self.logger.record("train/critic_loss", mean_of(critic_losses))

    def _update(
        self,
        data: ReplayBufferSamples,
        ofenet: OFENet | None,
        delayed: bool,
        actor_params: list[th.Tensor],
        critic_params: list[th.Tensor],
        critic_target_params: list[th.Tensor],
        actor_all_params: list[th.Tensor],
        actor_target_params: list[th.Tensor],
    ) -> tuple[th.Tensor | None, th.Tensor]:
        """One gradient step (``delayed``: with the actor and target steps); returns the detached losses.

        ``actor_params``: the parameters the actor's optimizer steps; then those of the critic, its target, the
        actor and its target (for the polyak updates), in matching orders.

        With a decoupled ``ofenet``, its features are computed once for the actors and the critics: ``z_s`` of
        both observation batches in one pass (``_ofenet_features``), ``z_sa`` of the replayed and the next actions
        in another (``_next_q``).
        """
        features = self._ofenet_features(data, ofenet)
        with th.no_grad():
            noise = data.actions.clone().normal_(0, self.target_policy_noise)
            noise = noise.clamp(-self.target_noise_clip, self.target_noise_clip)
            next_actions = self._actions(self.actor_target, data.next_observations, features and features.next_z_s)
            next_actions = (next_actions.float() + noise).clamp(-1, 1)
            z_sa, next_q = self._next_q(data, next_actions, features)
            target_q = td_target(data, self.gamma, next_q)
        q_loss = self._critic_loss(data, z_sa, target_q, mse_scale=1.0)
        step(q_loss, self.critic.optimizer)
        if not delayed:
            return None, q_loss.detach()

        actor_loss = self._actor_loss(data, features)
        step_on(actor_loss, self.actor.optimizer, actor_params)
        soft_update(critic_params, critic_target_params, self.tau)
        soft_update(actor_all_params, actor_target_params, self.tau)
        copy_stats(self.critic_batch_norm_stats, self.critic_batch_norm_stats_target)
        copy_stats(self.actor_batch_norm_stats, self.actor_batch_norm_stats_target)
        return actor_loss.detach(), q_loss.detach()

    def _actions(self, actor: nn.Module, obs: th.Tensor, z_s: th.Tensor | None) -> th.Tensor:
        """``actor``'s actions for ``obs`` (the actor's or its target's); from OFENet's features ``z_s`` of ``obs``
        when given."""
        with self._low_precision():
            if z_s is not None:
                return cast(LargeTD3Actor, actor).actions_of_features(z_s)
            return actor(obs)

    def _actor_loss(self, data: ReplayBufferSamples, features: OFENetFeatures | None) -> th.Tensor:
        """SB3's actor loss, the mean of ``-Q1(s, actor(s))``; from OFENet's ``features`` when given."""
        actions = self._actions(self.actor, data.observations, features and features.z_s)
        with self._low_precision():
            if features is not None:
                z_sa = features.ofenet.state_action_features(features.z_s, actions)
                q1_pi = cast(LargeCritic, self.critic).q1_head(z_sa)
            else:
                q1_pi = self.critic.q1_forward(data.observations, actions)
        return -q1_pi.float().mean()
