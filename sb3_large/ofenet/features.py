"""How the RL networks read OFENet: the actor's features extractor (``z_s``) and the critics' input (``z_sa``)."""

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from sb3_large.ofenet.network import OFENet


class OFENetStateFeatures(BaseFeaturesExtractor):
    """``z_s = phi_s(s)``, computed by an OFENet that this extractor calls but does not own.

    It keeps the bound method ``ofenet.state_features``, not the module, so OFENet never enters the actor's
    or critic's parameters, optimizers, polyak updates or target copies; the policy owns and saves it
    (``policy.ofenet``). ``trainable=False`` (the actor's) never builds a graph into OFENet, even in joint mode:
    SAC steps the critic, and so a joint OFENet, between the actor's forward and backward passes.
    """

    def __init__(self, observation_space: spaces.Space, ofenet: OFENet, trainable: bool):
        super().__init__(observation_space, ofenet.state_dim)
        self.state_features = ofenet.state_features
        self.trainable = trainable

    def forward(self, obs: th.Tensor) -> th.Tensor:
        # ``obs`` is SB3's preprocessed observation (one-hot, float); OFENet reads it flat.
        with th.set_grad_enabled(self.trainable and th.is_grad_enabled()):
            return self.state_features(obs.flatten(1))
