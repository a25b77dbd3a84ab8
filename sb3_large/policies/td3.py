"""Large-network policy for TD3 (and DDPG, which reuses TD3's policies)."""

from stable_baselines3.td3.policies import TD3Policy

from sb3_large.policies.common import LargeCritic, LargePolicyMixin, LargeTD3Actor


class LargeTD3Policy(LargePolicyMixin, TD3Policy):
    """TD3 policy whose actor and twin critics are large bodies (see ``LargePolicyMixin`` for the options)."""

    actor_class = LargeTD3Actor
    critic_class = LargeCritic
