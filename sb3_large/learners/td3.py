"""``sb3_large.TD3``: SB3's TD3 with a faster ``train()`` (same hyperparameters, same math, same saved files)."""

import torch as th
from stable_baselines3 import TD3 as SB3TD3

from sb3_large.learners.common import (
    copy_stats,
    critic_loss,
    discounts_of,
    mean_of,
    optimizer_params,
    soft_update,
    step_on,
)


class TD3(SB3TD3):
    """Drop-in for ``stable_baselines3.TD3``; saved models load with either class.

    The update is SB3's, step for step (critics every update; actor and target networks every
    ``policy_delay``); see ``sb3_large.learners.common`` for what is done with fewer kernels.
    """

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        assert self.replay_buffer is not None  # learn() has set the model up
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])

        actor_params = optimizer_params(self.actor.optimizer)
        critic_params, critic_target = (
            list[th.Tensor](self.critic.parameters()),
            list[th.Tensor](self.critic_target.parameters()),
        )
        actor_all, actor_target = (
            list[th.Tensor](self.actor.parameters()),
            list[th.Tensor](self.actor_target.parameters()),
        )
        actor_losses, critic_losses = [], []
        for _ in range(gradient_steps):
            self._n_updates += 1
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            discounts = discounts_of(data, self.gamma)

            with th.no_grad():
                noise = data.actions.clone().normal_(0, self.target_policy_noise)
                noise = noise.clamp(-self.target_noise_clip, self.target_noise_clip)
                next_actions = (self.actor_target(data.next_observations) + noise).clamp(-1, 1)
                next_q = th.cat(self.critic_target(data.next_observations, next_actions), dim=1)
                next_q = th.min(next_q, dim=1, keepdim=True).values
                target_q = data.rewards + (1 - data.dones) * discounts * next_q

            loss = critic_loss(self.critic, data.observations, data.actions, target_q, mse_scale=1.0)
            critic_losses.append(loss.detach())
            self.critic.optimizer.zero_grad()
            loss.backward()
            self.critic.optimizer.step()

            if self._n_updates % self.policy_delay == 0:
                actor_loss = -self.critic.q1_forward(data.observations, self.actor(data.observations)).mean()
                actor_losses.append(actor_loss.detach())
                step_on(actor_loss, self.actor.optimizer, actor_params)
                soft_update(critic_params, critic_target, self.tau)
                soft_update(actor_all, actor_target, self.tau)
                copy_stats(self.critic_batch_norm_stats, self.critic_batch_norm_stats_target)
                copy_stats(self.actor_batch_norm_stats, self.actor_batch_norm_stats_target)

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if actor_losses:
            self.logger.record("train/actor_loss", mean_of(actor_losses))
        self.logger.record("train/critic_loss", mean_of(critic_losses))
