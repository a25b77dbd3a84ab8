"""SAC/TD3 policies on OFENet features: the actor reads ``z_s``, the critics read ``z_sa``."""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_action_dim, get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

from sb3_large.ofenet.network import OFENet, OFENetConfig
from sb3_large.policies.common import LargeCritic, LargePolicyMixin, LargeSACActor, LargeTD3Actor

TRAINER_HINT = (
    "pass callback=sb3_large.ofenet.OFENetTrainer() to learn() "
    "(RL Zoo: add `callback: [sb3_large.ofenet.OFENetTrainer]` to the YAML entry)"
)


class OFENetStateFeatures(BaseFeaturesExtractor):
    """``z_s = phi_s(s)`` from the policy's OFENet.

    The OFENet is used here, not owned: it is kept out of the submodules so that it is never in the actor's
    or critic's parameters, optimizers, polyak update or target copies. The policy owns and saves it.
    ``trainable=False`` (the actor's) never builds a graph into OFENet, even in joint mode: SAC steps the
    critic, and so a joint OFENet, between the actor's forward and backward passes.
    """

    def __init__(self, observation_space: spaces.Box, ofenet: OFENet, trainable: bool):
        super().__init__(observation_space, ofenet.state_dim)
        self.__dict__["ofenet"] = ofenet
        self.trainable = trainable

    def forward(self, obs: th.Tensor) -> th.Tensor:
        with th.set_grad_enabled(self.trainable and th.is_grad_enabled()):
            return self.ofenet.state_features(obs)


class OFENetCritic(LargeCritic):
    """Twin Q networks on ``z_sa = phi_sa(z_s, a)``, computed once per call for all of them."""

    features_extractor: OFENetStateFeatures

    def q_input_dim(self, features_dim: int) -> int:
        return self.features_extractor.ofenet.state_action_dim

    def q_input(self, features: th.Tensor, actions: th.Tensor) -> th.Tensor:
        return self.features_extractor.ofenet.state_action_features(features, actions)


class OFENetPolicyMixin(LargePolicyMixin):
    """Adds the policy's OFENet (``policy.ofenet``) under the large actor and critics.

    :param ofenet: OFENet settings, see ``sb3_large.ofenet.OFENetConfig``; the other kwargs are the large
        body's (``arch``, ``width``, ``depth``, ...), applied on top of the OFENet features.
    """

    critic_class = OFENetCritic

    def __init__(self, observation_space, action_space, lr_schedule, ofenet: dict[str, Any] | None = None, **kwargs):
        self.ofenet_config = OFENetConfig.from_kwargs(ofenet)
        self.ofenet_trainer_attached = False
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule) -> None:
        # Runs inside SB3's __init__, after nn.Module's: the OFENet must exist before the actor and critics.
        self.ofenet = OFENet(
            get_flattened_obs_dim(self.observation_space), get_action_dim(self.action_space), self.ofenet_config
        )
        super()._build(lr_schedule)
        if self.ofenet_config.joint:
            self.critic.optimizer.add_param_group({"params": list(self.ofenet.parameters())})

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> nn.Module:
        return super().make_actor(
            features_extractor or OFENetStateFeatures(self.observation_space, self.ofenet, trainable=False)
        )

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> nn.Module:
        features_extractor = features_extractor or OFENetStateFeatures(
            self.observation_space, self.ofenet, trainable=self.ofenet_config.joint
        )
        return super().make_critic(features_extractor)

    def set_training_mode(self, mode: bool) -> None:
        # SB3's train() starts with set_training_mode(True): the last moment to refuse an untrained OFENet.
        if mode and not self.ofenet_trainer_attached:
            raise RuntimeError(f"{type(self).__name__}: nothing trains its OFENet; {TRAINER_HINT}")
        super().set_training_mode(mode)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "ofenet": self.ofenet_config.as_kwargs()}


class OFENetSACPolicy(OFENetPolicyMixin, SACPolicy):
    """SAC policy: large actor on ``z_s``, large twin critics on ``z_sa``, OFENet trained by ``OFENetTrainer``."""

    actor_class = LargeSACActor


class OFENetTD3Policy(OFENetPolicyMixin, TD3Policy):
    """TD3 policy: large actor on ``z_s``, large twin critics on ``z_sa``, OFENet trained by ``OFENetTrainer``."""

    actor_class = LargeTD3Actor
