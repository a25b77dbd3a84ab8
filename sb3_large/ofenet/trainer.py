"""The callback that trains a policy's OFENet from the model's replay buffer, beside SB3's RL updates."""

import torch as th
from stable_baselines3.common.callbacks import BaseCallback

from sb3_large.ofenet.network import OFENet


class OFENetTrainer(BaseCallback):
    """Trains ``model.policy.ofenet``: ``pretrain_steps`` updates once ``learning_starts`` is passed, then
    ``updates_per_step`` updates per RL gradient step. Logs ``ofenet/aux_loss`` and ``ofenet/updates``.

    Use ``model.learn(n, callback=OFENetTrainer())``, or in an RL Zoo YAML entry
    ``callback: [sb3_large.ofenet.OFENetTrainer]``. The settings are the policy's ``ofenet`` kwarg.
    """

    def __init__(self, verbose: int = 0):
        super().__init__(verbose)
        self._last_timesteps = 0
        self._fractional_updates = 0.0

    @property
    def ofenet(self) -> OFENet:
        return self.model.policy.ofenet

    def _on_training_start(self) -> None:
        if not isinstance(getattr(self.model.policy, "ofenet", None), OFENet):
            raise ValueError(
                f"OFENetTrainer: policy {type(self.model.policy).__name__} has no OFENet; "
                "use sb3_large.policies.OFENetSACPolicy / OFENetTD3Policy (alias 'OFENetPolicy')"
            )
        self.model.policy.ofenet_trainer_attached = True
        self._last_timesteps = self.model.num_timesteps

    def _on_training_end(self) -> None:
        self.model.policy.ofenet_trainer_attached = False

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        model = self.model
        new_steps = model.num_timesteps - self._last_timesteps
        self._last_timesteps = model.num_timesteps
        # SB3 trains after this rollout only past learning_starts; OFENet follows the same rule.
        if model.num_timesteps <= model.learning_starts:
            return
        config = self.ofenet.config
        gradient_steps = model.gradient_steps if model.gradient_steps >= 0 else new_steps // model.n_envs
        self._fractional_updates += config.updates_per_step * gradient_steps
        n_updates = int(self._fractional_updates)
        self._fractional_updates -= n_updates
        pretrain = max(0, config.pretrain_steps - int(self.ofenet.n_updates))
        if pretrain:
            self._train(pretrain, pretraining=True)
        if n_updates:
            self._train(n_updates, pretraining=False)

    def _train(self, n_updates: int, pretraining: bool) -> None:
        model, ofenet = self.model, self.ofenet
        batch_size = ofenet.config.batch_size or model.batch_size
        report_every = max(1, n_updates // 10)
        losses = []
        for i in range(1, n_updates + 1):
            batch = model.replay_buffer.sample(batch_size, env=model._vec_normalize_env)
            losses.append(ofenet.update(batch.observations, batch.actions, batch.next_observations))
            if pretraining and (self.verbose or model.verbose) and (i % report_every == 0 or i == n_updates):
                print(f"OFENet pretraining {i}/{n_updates}: aux loss {losses[-1].item():.5f}")
        self.logger.record("ofenet/aux_loss", th.stack(losses).mean().item())
        self.logger.record("ofenet/updates", int(ofenet.n_updates))
