"""Large-network policy for SAC."""

from stable_baselines3.sac.policies import SACPolicy

from sb3_large.policies.common import LargeCritic, LargePolicyMixin, LargeSACActor


class LargeSACPolicy(LargePolicyMixin, SACPolicy):
    """SAC policy whose actor and twin critics are large bodies (see ``LargePolicyMixin`` for the options)."""

    actor_class = LargeSACActor
    critic_class = LargeCritic
