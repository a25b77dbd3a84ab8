"""``sb3_large.SAC``: SB3's SAC with a faster ``train()`` (same hyperparameters, same math, same saved files)."""

import math
from typing import Any, cast

import torch as th
from stable_baselines3 import SAC as SB3SAC
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.type_aliases import ReplayBufferSamples

from sb3_large.checks import check_int, check_number
from sb3_large.internals import graph_break
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
from sb3_large.policies.sac_policy import LargeSACActor, LargeSACPolicy


class SAC(UpdateOptions, SB3SAC):
    """Drop-in for ``stable_baselines3.SAC``; saved models load with either class.

    The update is SB3's, step for step (entropy coefficient, critics, actor, target networks, in that
    order); see ``sb3_large.learners.common`` for what is done with fewer kernels. ``compile``, ``precision`` and
    ``return_bound``: see ``UpdateOptions``. Two options of SAC's own (both off by default, as in SB3):

    :param target_std: ``None``, or the action std (in SB3's [-1, 1] action units) whose entropy is the target:
        ``target_entropy = |A| / 2 * log(2 pi e target_std^2)`` (a Gaussian's entropy, FlashSAC's setting; 0.15
        gives -0.478 per action dimension, close to SimbaV2's -|A|/2); given with ``target_entropy`` left at
        ``"auto"``
    :param actor_update_interval: the actor and the entropy coefficient take a step on every
        ``actor_update_interval``-th gradient step only, counted over the model's life (``_n_updates``, so a
        resumed run keeps the cycle); the critics step every time, their targets every ``target_update_interval``-th
        step as in SB3 (FlashSAC: 2)
    """

    large_policy = LargeSACPolicy

    def __init__(
        self,
        policy: Any,
        env: Any,
        *args,
        target_std: float | None = None,
        actor_update_interval: int = 1,
        **kwargs,
    ):
        if target_std is not None and kwargs.get("target_entropy", "auto") != "auto":
            raise ValueError(
                f"target_std: {target_std!r} sets the target entropy, and target_entropy is "
                f"{kwargs['target_entropy']!r}: give one of them (target_entropy='auto' with target_std)"
            )
        self.target_std = None if target_std is None else check_number("target_std", target_std, 0, False)
        self.actor_update_interval = check_int("actor_update_interval", actor_update_interval)
        super().__init__(policy, env, *args, **kwargs)

    def _setup_model(self) -> None:
        # Checked again: SB3's load() sets attributes (``load(path, actor_update_interval=2)``) after __init__.
        self.actor_update_interval = check_int("actor_update_interval", self.actor_update_interval)
        target_entropy = None
        if self.target_std is not None:
            self.target_std = check_number("target_std", self.target_std, 0, False)
            target_entropy = target_entropy_of_std(self.target_std, get_action_dim(self.action_space))
            # "auto" when built; when loaded, the number it saved, unless load() was given another
            if self.target_entropy != "auto" and not math.isclose(float(self.target_entropy), target_entropy):
                raise ValueError(
                    f"target_std: {self.target_std!r} sets the target entropy to {target_entropy:.4g}, and "
                    f"target_entropy is {self.target_entropy!r}: give one of them (target_std=None with target_entropy)"
                )
        super()._setup_model()
        if target_entropy is not None:
            self.target_entropy = target_entropy

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        assert self.replay_buffer is not None  # learn() has set the model up
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        self._update_learning_rate(optimizers)

        ofenet = decoupled_ofenet(self.policy) if isinstance(self.actor, LargeSACActor) else None
        target_entropy = float(self.target_entropy)  # a number once SB3 has set the model up
        params = (
            optimizer_params(self.actor.optimizer),
            list[th.Tensor](self.critic.parameters()),
            list[th.Tensor](self.critic_target.parameters()),
        )
        cuda_graphs = self.compile == "update" and self.device.type == "cuda"
        logged: list[list[th.Tensor]] = [[], [], [], []]
        for gradient_step in range(gradient_steps):
            data = self._sample(batch_size)
            if cuda_graphs:
                th.compiler.cudagraph_mark_step_begin()
            update_target = gradient_step % self.target_update_interval == 0
            update_actor = (self._n_updates + gradient_step) % self.actor_update_interval == 0
            losses = self._update_step(data, ofenet, target_entropy, update_target, update_actor, *params)
            for values, loss in zip(logged, losses, strict=True):
                if loss is not None:
                    # CUDA graphs write their outputs into the same memory at every step.
                    values.append(loss.clone() if cuda_graphs else loss)

        ent_coefs, ent_coef_losses, actor_losses, critic_losses = logged
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", mean_of(ent_coefs))
        if actor_losses:  # none in a call whose steps all skip the actor (actor_update_interval)
            self.logger.record("train/actor_loss", mean_of(actor_losses))
        self.logger.record("train/critic_loss", mean_of(critic_losses))
        if ent_coef_losses:
            self.logger.record("train/ent_coef_loss", mean_of(ent_coef_losses))

    def _update(
        self,
        data: ReplayBufferSamples,
        ofenet: OFENet | None,
        target_entropy: float,
        update_target: bool,
        update_actor: bool,
        actor_params: list[th.Tensor],
        critic_params: list[th.Tensor],
        target_params: list[th.Tensor],
    ) -> tuple[th.Tensor, th.Tensor | None, th.Tensor | None, th.Tensor]:
        """One gradient step, in SB3's order: the entropy coefficient's, the critics', the actor's, the targets';
        returns the entropy coefficient and the losses (detached; ``None``: not computed).

        ``update_actor``: with the entropy coefficient's and the actor's steps. ``actor_params``: the parameters
        the actor's optimizer steps; ``critic_params`` / ``target_params``: those of the critic and of its target,
        in the same order.

        With a decoupled ``ofenet``, its features are computed once for the actor, the critics and the target:
        ``z_s`` of both observation batches in one pass (``_ofenet_features``), ``z_sa`` of the replayed and the
        next actions in another (``_next_q``).
        """
        if self.use_sde:
            self.actor.reset_noise()
        features = self._ofenet_features(data, ofenet)
        if update_actor:
            actions_pi, log_prob = self._action_log_prob(data.observations, features and features.z_s)
            # compile="update": the actor's forward pass ends a compiled region, or the backward pass of the next
            # one (the entropy coefficient's) would free what the actor's backward pass needs.
            graph_break()
            log_prob = log_prob.reshape(-1, 1)

        ent_coef, ent_coef_loss = self._ent_coef(), None  # this step's, from before its own step (SB3's order)
        if update_actor and self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
            ent_coef_loss = -(self.log_ent_coef * (log_prob + target_entropy).detach()).mean()
            step(ent_coef_loss, self.ent_coef_optimizer)

        with th.no_grad():
            next_actions, next_log_prob = self._action_log_prob(data.next_observations, features and features.next_z_s)
            z_sa, next_q = self._next_q(data, next_actions, features)
            target_q = td_target(data, self.gamma, next_q - ent_coef * next_log_prob.reshape(-1, 1))
        q_loss = self._critic_loss(data, z_sa, target_q, mse_scale=0.5)
        step(q_loss, self.critic.optimizer)

        actor_loss = None
        if update_actor:
            actor_loss = self._actor_loss(data, features, actions_pi, log_prob, ent_coef)
            step_on(actor_loss, self.actor.optimizer, actor_params)

        if update_target:
            soft_update(critic_params, target_params, self.tau)
            copy_stats(self.batch_norm_stats, self.batch_norm_stats_target)
        return (
            ent_coef,
            None if ent_coef_loss is None else ent_coef_loss.detach(),
            None if actor_loss is None else actor_loss.detach(),
            q_loss.detach(),
        )

    def _action_log_prob(self, obs: th.Tensor, z_s: th.Tensor | None) -> tuple[th.Tensor, th.Tensor]:
        """The actor's actions for ``obs`` and their log-probabilities; from OFENet's features ``z_s`` of ``obs``
        when given."""
        with self._low_precision():
            if z_s is not None:
                return cast(LargeSACActor, self.actor).action_log_prob_of_features(z_s)
            return self.actor.action_log_prob(obs)

    def _ent_coef(self) -> th.Tensor:
        """The entropy coefficient: the learned one (detached), or the fixed one."""
        if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
            return th.exp(self.log_ent_coef.detach())
        return self.ent_coef_tensor

    def _actor_loss(
        self,
        data: ReplayBufferSamples,
        features: OFENetFeatures | None,
        actions_pi: th.Tensor,
        log_prob: th.Tensor,
        ent_coef: th.Tensor,
    ) -> th.Tensor:
        """SB3's actor loss, the mean of ``ent_coef * log_prob - min Q(s, actions_pi)``; from OFENet's ``features``
        when given."""
        with self._low_precision():
            if features is not None:
                critic = cast(LargeCritic, self.critic)
                z_sa = features.ofenet.state_action_features(features.z_s, actions_pi)
                q_pi = critic.q_values_of(critic.q_heads(z_sa))
            else:
                q_pi = self.critic(data.observations, actions_pi)
        min_q_pi = th.min(th.cat(q_pi, dim=1).float(), dim=1, keepdim=True).values
        return (ent_coef * log_prob - min_q_pi).mean()


def target_entropy_of_std(std: float, action_dim: int) -> float:
    """The entropy of a diagonal Gaussian of standard deviation ``std`` over ``action_dim`` dimensions."""
    return 0.5 * action_dim * math.log(2 * math.pi * math.e * std**2)
