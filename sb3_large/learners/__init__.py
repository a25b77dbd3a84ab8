"""Fast learners: ``sb3_large.SAC`` and ``sb3_large.TD3``, SB3's algorithms with a leaner ``train()``."""

from sb3_large.learners.sac import SAC
from sb3_large.learners.td3 import TD3

__all__ = ["SAC", "TD3"]
