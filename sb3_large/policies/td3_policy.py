"""Large-network policy for TD3 (and DDPG, which reuses TD3's policies)."""

from typing import Any

import torch as th
from stable_baselines3.common.type_aliases import PyTorchObs
from stable_baselines3.td3.policies import Actor, TD3Policy
from torch import nn

from sb3_large.checks import check_choice
from sb3_large.networks import NetSpec, build
from sb3_large.policies.common import LargePolicyMixin
from sb3_large.precision import PRECISIONS, full_precision, low_precision


class LargeTD3Actor(Actor):
    """SB3's TD3 actor whose ``mu`` is ``body -> Linear -> Tanh``.

    SB3 is given ``net_arch=[]`` and the body's output width, so it builds the ``Linear -> Tanh`` head alone;
    the body goes in front of it. ``precision="bf16"`` runs the body under bfloat16 autocast; the head runs in
    float32 whatever the autocast (``sb3_large.precision``).
    """

    def __init__(self, *, body: NetSpec, features_dim: int, precision: str = "fp32", **kwargs):
        net, latent_dim = build(body, features_dim)
        super().__init__(features_dim=latent_dim, **kwargs)
        self.mu = nn.Sequential(net, *self.mu)
        self.features_dim, self.body = features_dim, body  # saved parameters describe the input, not the body
        self.precision = check_choice("precision", precision, PRECISIONS)

    def forward(self, obs: PyTorchObs) -> th.Tensor:
        return self.actions_of_features(self.extract_features(obs, self.features_extractor))

    def actions_of_features(self, features: th.Tensor) -> th.Tensor:
        """Actions from features already extracted (OFENet's ``z_s``, computed once per update)."""
        body, *head = self.mu
        with low_precision(features.device.type, self.precision):
            latent = body(features)
        # The head runs in float32 under any autocast (the policy's or the learner's ``precision``).
        with full_precision(latent.device.type):
            latent = latent.float()
            for layer in head:
                latent = layer(latent)
        return latent

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "body": self.body, "precision": self.precision}


class LargeTD3Policy(LargePolicyMixin, TD3Policy):
    """TD3 policy whose actor and twin critics are large bodies (see ``LargePolicyMixin`` for the options)."""

    actor_class = LargeTD3Actor
