"""sb3-large: large actor-critic networks for Stable-Baselines3 and RL Zoo.

Importing the package registers the policy aliases ``"LargeMlpPolicy"`` (SAC, TD3, TQC, CrossQ) and
``"OFENetPolicy"`` (SAC, TD3), so ``SAC("LargeMlpPolicy", env)`` works in existing SB3 code.
``sb3_large.SAC`` / ``sb3_large.TD3`` are SB3's algorithms with a faster ``train()`` and the learner options of
``docs/learners.md``; TQC and CrossQ are sb3-contrib's own classes (``sb3_contrib.TQC``, ``sb3_contrib.CrossQ``).
"""

from typing import TYPE_CHECKING, Any

import sb3_contrib
import stable_baselines3

from sb3_large import hyperparams
from sb3_large.networks import NetSpec, build
from sb3_large.policies import (
    LargeCrossQPolicy,
    LargeSACPolicy,
    LargeTD3Policy,
    LargeTQCPolicy,
    OFENetSACPolicy,
    OFENetTD3Policy,
)

__version__ = "0.2.0"

if TYPE_CHECKING:
    from sb3_large.learners import SAC, TD3


def __getattr__(name: str) -> Any:
    # The learners load torch.compile's machinery (seconds per process): only a process that uses them pays it,
    # not every RL Zoo run, actor process or policy unpickling that imports sb3_large.
    if name in ("SAC", "TD3"):
        from sb3_large import learners

        return getattr(learners, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The subclasses share these dicts with SB3's classes.
stable_baselines3.SAC.policy_aliases["LargeMlpPolicy"] = LargeSACPolicy
stable_baselines3.TD3.policy_aliases["LargeMlpPolicy"] = LargeTD3Policy
sb3_contrib.TQC.policy_aliases["LargeMlpPolicy"] = LargeTQCPolicy
sb3_contrib.CrossQ.policy_aliases["LargeMlpPolicy"] = LargeCrossQPolicy
stable_baselines3.SAC.policy_aliases["OFENetPolicy"] = OFENetSACPolicy
stable_baselines3.TD3.policy_aliases["OFENetPolicy"] = OFENetTD3Policy

__all__ = [
    "LargeCrossQPolicy",
    "LargeSACPolicy",
    "LargeTD3Policy",
    "LargeTQCPolicy",
    "NetSpec",
    "OFENetSACPolicy",
    "OFENetTD3Policy",
    "SAC",
    "TD3",
    "__version__",
    "build",
    "hyperparams",
]
