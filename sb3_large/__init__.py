"""sb3-large: large actor-critic networks for Stable-Baselines3 and RL Zoo.

Importing the package registers the policy aliases ``"LargeMlpPolicy"`` (SAC, TD3, TQC) and
``"OFENetPolicy"`` (SAC, TD3), so ``SAC("LargeMlpPolicy", env)`` works in existing SB3 code.
"""

from sb3_contrib import TQC
from stable_baselines3 import SAC, TD3

from sb3_large.networks import NetSpec, build
from sb3_large.policies import LargeSACPolicy, LargeTD3Policy, LargeTQCPolicy, OFENetSACPolicy, OFENetTD3Policy

__version__ = "0.1.0"

SAC.policy_aliases["LargeMlpPolicy"] = LargeSACPolicy
TD3.policy_aliases["LargeMlpPolicy"] = LargeTD3Policy
TQC.policy_aliases["LargeMlpPolicy"] = LargeTQCPolicy
SAC.policy_aliases["OFENetPolicy"] = OFENetSACPolicy
TD3.policy_aliases["OFENetPolicy"] = OFENetTD3Policy

__all__ = [
    "LargeSACPolicy",
    "LargeTD3Policy",
    "LargeTQCPolicy",
    "NetSpec",
    "OFENetSACPolicy",
    "OFENetTD3Policy",
    "__version__",
    "build",
]
