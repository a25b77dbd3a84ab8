"""Large-network policies for SAC, TD3, TQC and CrossQ (OFENet ones for SAC and TD3); thin per-algorithm classes.

``sb3_large.policies.sac``, ``.td3``, ``.tqc`` and ``.crossq`` hold the class paths that models saved by
sb3-large 0.1 name: the same policies with 0.1's defaults, so that such models load and act as before.
"""

from sb3_large.policies.crossq_policy import LargeCrossQPolicy
from sb3_large.policies.ofenet import OFENetSACPolicy, OFENetTD3Policy
from sb3_large.policies.options import PolicyOptions
from sb3_large.policies.sac_policy import LargeSACPolicy
from sb3_large.policies.td3_policy import LargeTD3Policy
from sb3_large.policies.tqc_policy import LargeTQCPolicy

__all__ = [
    "LargeCrossQPolicy",
    "LargeSACPolicy",
    "LargeTD3Policy",
    "LargeTQCPolicy",
    "OFENetSACPolicy",
    "OFENetTD3Policy",
    "PolicyOptions",
]
