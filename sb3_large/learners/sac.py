"""``sb3_large.SAC``: SB3's SAC with a faster ``train()`` (same hyperparameters, same math, same saved files)."""

import torch as th
from stable_baselines3 import SAC as SB3SAC

from sb3_large.learners.common import (
    copy_stats,
    critic_loss,
    discounts_of,
    mean_of,
    optimizer_params,
    soft_update,
    step_on,
)


class SAC(SB3SAC):
    """Drop-in for ``stable_baselines3.SAC``; saved models load with either class.

    The update is SB3's, step for step (entropy coefficient, critics, actor, target networks, in that
    order); see ``sb3_large.learners.common`` for what is done with fewer kernels.
    """

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        assert self.replay_buffer is not None  # learn() has set the model up
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        self._update_learning_rate(optimizers)

        actor_params = optimizer_params(self.actor.optimizer)
        critic_params, target_params = (
            list[th.Tensor](self.critic.parameters()),
            list[th.Tensor](self.critic_target.parameters()),
        )
        target_entropy = float(self.target_entropy)  # a number once SB3 has set the model up
        ent_coefs, ent_coef_losses, actor_losses, critic_losses = [], [], [], []
        for gradient_step in range(gradient_steps):
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            discounts = discounts_of(data, self.gamma)
            if self.use_sde:
                self.actor.reset_noise()

            actions_pi, log_prob = self.actor.action_log_prob(data.observations)
            log_prob = log_prob.reshape(-1, 1)
            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                ent_coef = th.exp(self.log_ent_coef.detach())
                ent_coef_loss = -(self.log_ent_coef * (log_prob + target_entropy).detach()).mean()
                ent_coef_losses.append(ent_coef_loss.detach())
                self.ent_coef_optimizer.zero_grad()
                ent_coef_loss.backward()
                self.ent_coef_optimizer.step()
            else:
                ent_coef = self.ent_coef_tensor
            ent_coefs.append(ent_coef)

            with th.no_grad():
                next_actions, next_log_prob = self.actor.action_log_prob(data.next_observations)
                next_q = th.cat(self.critic_target(data.next_observations, next_actions), dim=1)
                next_q = th.min(next_q, dim=1, keepdim=True).values - ent_coef * next_log_prob.reshape(-1, 1)
                target_q = data.rewards + (1 - data.dones) * discounts * next_q

            loss = critic_loss(self.critic, data.observations, data.actions, target_q, mse_scale=0.5)
            critic_losses.append(loss.detach())
            self.critic.optimizer.zero_grad()
            loss.backward()
            self.critic.optimizer.step()

            min_q_pi = th.min(th.cat(self.critic(data.observations, actions_pi), dim=1), dim=1, keepdim=True).values
            actor_loss = (ent_coef * log_prob - min_q_pi).mean()
            actor_losses.append(actor_loss.detach())
            step_on(actor_loss, self.actor.optimizer, actor_params)

            if gradient_step % self.target_update_interval == 0:
                soft_update(critic_params, target_params, self.tau)
                copy_stats(self.batch_norm_stats, self.batch_norm_stats_target)

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", mean_of(ent_coefs))
        self.logger.record("train/actor_loss", mean_of(actor_losses))
        self.logger.record("train/critic_loss", mean_of(critic_losses))
        if ent_coef_losses:
            self.logger.record("train/ent_coef_loss", mean_of(ent_coef_losses))
