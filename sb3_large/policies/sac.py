"""Large-network policy for SAC: SB3's actor with our body as ``latent_pi``, our Q critics."""

from typing import Any

from stable_baselines3.sac.policies import Actor, SACPolicy

from sb3_large.networks import NetSpec, build
from sb3_large.policies.common import LargePolicyMixin


class LargeSACActor(Actor):
    """SB3's SAC actor (``latent_pi -> mu, log_std``, gSDE) whose ``latent_pi`` is a large body.

    SB3 is given ``net_arch=[]`` and the body's output width, so it builds only the heads, sized for the body,
    and an empty ``latent_pi``, the slot the body takes. TQC's actor has the same structure and uses this class.
    """

    def __init__(self, *, body: NetSpec, features_dim: int, **kwargs):
        latent_pi, latent_dim = build(body, features_dim)
        super().__init__(features_dim=latent_dim, **kwargs)
        self.latent_pi = latent_pi  # type: ignore[assignment]
        self.features_dim, self.body = features_dim, body  # saved parameters describe the input, not the body

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "body": self.body}


class LargeSACPolicy(LargePolicyMixin, SACPolicy):
    """SAC policy whose actor and twin critics are large bodies (see ``LargePolicyMixin`` for the options)."""

    actor_class = LargeSACActor
