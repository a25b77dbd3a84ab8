"""Large-network policy for TD3 (and DDPG, which reuses TD3's policies)."""

from typing import Any

from stable_baselines3.td3.policies import Actor, TD3Policy
from torch import nn

from sb3_large.networks import NetSpec, build
from sb3_large.policies.common import LargePolicyMixin


class LargeTD3Actor(Actor):
    """SB3's TD3 actor whose ``mu`` is ``body -> Linear -> Tanh``.

    SB3 is given ``net_arch=[]`` and the body's output width, so it builds the ``Linear -> Tanh`` head alone;
    the body goes in front of it.
    """

    def __init__(self, *, body: NetSpec, features_dim: int, **kwargs):
        net, latent_dim = build(body, features_dim)
        super().__init__(features_dim=latent_dim, **kwargs)
        self.mu = nn.Sequential(net, *self.mu)
        self.features_dim, self.body = features_dim, body  # saved parameters describe the input, not the body

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "body": self.body}


class LargeTD3Policy(LargePolicyMixin, TD3Policy):
    """TD3 policy whose actor and twin critics are large bodies (see ``LargePolicyMixin`` for the options)."""

    actor_class = LargeTD3Actor
