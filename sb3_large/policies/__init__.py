"""Large-network policies for SAC, TD3, TQC and CrossQ (OFENet ones for SAC and TD3); thin per-algorithm classes."""

from sb3_large.policies.crossq import LargeCrossQPolicy
from sb3_large.policies.ofenet import OFENetSACPolicy, OFENetTD3Policy
from sb3_large.policies.sac import LargeSACPolicy
from sb3_large.policies.td3 import LargeTD3Policy
from sb3_large.policies.tqc import LargeTQCPolicy

__all__ = [
    "LargeCrossQPolicy",
    "LargeSACPolicy",
    "LargeTD3Policy",
    "LargeTQCPolicy",
    "OFENetSACPolicy",
    "OFENetTD3Policy",
]
