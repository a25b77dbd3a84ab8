"""The callback that trains a policy's OFENet from the model's replay buffer, beside SB3's RL updates."""

import math

import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import NStepReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.preprocessing import preprocess_obs
from torch import nn

from sb3_large.internals import gradient_steps_done, training_vec_normalize
from sb3_large.ofenet.network import OFENet


class OFENetTrainer(BaseCallback):
    """Trains ``model.policy.ofenet``: ``pretrain_steps`` updates once ``learning_starts`` is passed, then
    ``updates_per_step`` updates per RL gradient step, always ahead of the RL update they precede. Logs
    ``ofenet/aux_loss`` and ``ofenet/updates``.

    Use ``model.learn(n, callback=OFENetTrainer())``, or in an RL Zoo YAML entry
    ``callback: [sb3_large.ofenet.OFENetTrainer]``. The settings are the policy's ``ofenet`` kwarg.

    The RL gradient steps are those SB3 has run (its update counter) plus those it is about to run:
    ``model.gradient_steps``, or, for ``gradient_steps=-1``, the transitions of the learner's own env in the
    rollout (``n_envs`` per step). Another callback may change ``model.gradient_steps`` (the Ape-X collector
    does): whatever it sets after this callback has read it is counted at the next rollout's end, so the order
    of the callbacks does not matter.
    """

    model: OffPolicyAlgorithm

    def __init__(self, verbose: int = 0):
        super().__init__(verbose)
        self._rollout_steps = 0
        self._start_updates = 0
        self._updates_done = 0

    @property
    def ofenet(self) -> OFENet:
        return _ofenet_of(self.model.policy)

    def _on_training_start(self) -> None:
        ofenet = _ofenet_of(self.model.policy)  # refuse a policy without one before any step
        check_buffer(self.model.replay_buffer)
        batch_size = ofenet.config.batch_size or self.model.batch_size
        if batch_size < 2:
            raise ValueError(
                f"OFENetTrainer: batch size {batch_size} (ofenet_kwargs batch_size, else the model's): OFENet's "
                "batch norm needs at least 2 samples per batch"
            )
        self._rollout_steps = self._updates_done = 0
        self._start_updates = gradient_steps_done(self.model)

    def _on_step(self) -> bool:
        self._rollout_steps += 1
        return True

    def _on_rollout_end(self) -> None:
        model = self.model
        rollout_steps, self._rollout_steps = self._rollout_steps, 0
        # SB3 trains after this rollout only past learning_starts; OFENet follows the same rule.
        if model.num_timesteps <= model.learning_starts:
            return
        config = self.ofenet.config
        upcoming = model.gradient_steps if model.gradient_steps >= 0 else rollout_steps * model.n_envs
        rl_steps = gradient_steps_done(model) - self._start_updates + upcoming
        if rl_steps == 0:  # gradient_steps=0: SB3 updates nothing, and neither does OFENet (no pretraining either)
            return
        pretrain = max(0, config.pretrain_steps - int(self.ofenet.n_updates))
        if pretrain:
            self._train(pretrain, pretraining=True)
        # Rounded up, so that OFENet is never behind: a ratio of 0.5 updates it before the first RL step.
        target = math.ceil(round(config.updates_per_step * rl_steps, 9))
        if target > self._updates_done:
            self._train(target - self._updates_done, pretraining=False)
            self._updates_done = target

    def _train(self, n_updates: int, pretraining: bool) -> None:
        model, ofenet = self.model, self.ofenet
        assert model.replay_buffer is not None  # learn() has set the model up
        batch_size = ofenet.config.batch_size or model.batch_size
        obs_norm = getattr(model.policy, "obs_norm", None)
        report_every = max(1, n_updates // 10)
        losses = []
        for i in range(1, n_updates + 1):
            batch = model.replay_buffer.sample(batch_size, env=training_vec_normalize(model))
            obs, next_obs = (
                flat_features(o, model.observation_space) for o in (batch.observations, batch.next_observations)
            )
            if obs_norm is not None:  # OFENet reads what the RL networks feed it, and predicts on the same scale
                obs, next_obs = obs_norm.normalize(obs), obs_norm.normalize(next_obs)
            losses.append(ofenet.update(obs, batch.actions, next_obs))
            if pretraining and (self.verbose or model.verbose) and (i % report_every == 0 or i == n_updates):
                print(f"OFENet pretraining {i}/{n_updates}: aux loss {losses[-1].item():.5f}")
        self.logger.record("ofenet/aux_loss", th.stack(losses).mean().item())
        self.logger.record("ofenet/updates", int(ofenet.n_updates))


def flat_features(obs: th.Tensor, observation_space: spaces.Space) -> th.Tensor:
    """Observations as the policy's networks read them: SB3's preprocessing (one-hot, float), flattened."""
    features = preprocess_obs(obs, observation_space, normalize_images=False)
    assert isinstance(features, th.Tensor)  # Dict observations are refused when the policy is built
    return features.float().flatten(1)


def check_buffer(buffer) -> None:
    """Refuse a replay buffer whose ``next_observations`` are not the one-step successors OFENet predicts."""
    if isinstance(buffer, NStepReplayBuffer):
        raise ValueError(
            f"OFENetTrainer: replay buffer {type(buffer).__name__} (n_steps={buffer.n_steps}) samples s_(t+n) as "
            "next observation; OFENet learns the one-step transition. Use SB3's ReplayBuffer with OFENet policies"
        )
    if getattr(buffer, "optimize_memory_usage", False):
        raise ValueError(
            "OFENetTrainer: optimize_memory_usage=True stores no next observation at an episode's end (it reads "
            "the reset observation instead); OFENet would learn that jump. Use optimize_memory_usage=False"
        )


def _ofenet_of(policy: nn.Module) -> OFENet:
    ofenet = getattr(policy, "ofenet", None)
    if not isinstance(ofenet, OFENet):
        raise ValueError(
            f"OFENetTrainer: policy {type(policy).__name__} has no OFENet; use sb3_large.policies.OFENetSACPolicy / "
            "OFENetTD3Policy (alias 'OFENetPolicy') or a large policy with ofenet_kwargs"
        )
    return ofenet
