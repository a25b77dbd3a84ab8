"""Large-network policy for TQC (sb3-contrib)."""

from sb3_contrib.tqc.policies import Actor as TQCActor
from sb3_contrib.tqc.policies import Critic as TQCCritic
from sb3_contrib.tqc.policies import TQCPolicy
from stable_baselines3.common.preprocessing import get_action_dim

from sb3_large.networks import NetSpec
from sb3_large.policies.common import LargePolicyMixin, LatentBodyMixin, attach_q_bodies


class LargeTQCActor(LatentBodyMixin, TQCActor):
    """TQC's actor has SAC's structure (``latent_pi``, ``mu``, ``log_std``); the same body slots in."""


class LargeTQCCritic(TQCCritic):
    """TQC's quantile critics, each a large body with ``n_quantiles`` outputs."""

    def __init__(self, *, body: NetSpec, features_dim: int, **kwargs):
        super().__init__(features_dim=features_dim, **kwargs)
        in_dim = features_dim + get_action_dim(self.action_space)
        attach_q_bodies(self, body, in_dim, out_dim=self.n_quantiles)


class LargeTQCPolicy(LargePolicyMixin, TQCPolicy):
    """TQC policy whose actor and quantile critics are large bodies (see ``LargePolicyMixin`` for the options)."""

    actor_class = LargeTQCActor
    critic_class = LargeTQCCritic
