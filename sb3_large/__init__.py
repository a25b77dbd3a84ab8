"""sb3-large: large actor-critic networks for Stable-Baselines3 and RL Zoo.

Importing the package registers the policy alias ``"LargeMlpPolicy"`` on SAC, TD3 and TQC, so
``SAC("LargeMlpPolicy", env)`` works in existing SB3 code.
"""

from sb3_contrib import TQC
from stable_baselines3 import SAC, TD3

from sb3_large.networks import NetSpec, build
from sb3_large.policies import LargeSACPolicy, LargeTD3Policy, LargeTQCPolicy

__version__ = "0.1.0"

SAC.policy_aliases["LargeMlpPolicy"] = LargeSACPolicy
TD3.policy_aliases["LargeMlpPolicy"] = LargeTD3Policy
TQC.policy_aliases["LargeMlpPolicy"] = LargeTQCPolicy

__all__ = ["LargeSACPolicy", "LargeTD3Policy", "LargeTQCPolicy", "NetSpec", "build", "__version__"]
