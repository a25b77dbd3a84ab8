"""Large-network policies for SAC, TD3 and TQC (and OFENet ones for SAC and TD3); thin per-algorithm classes."""

from sb3_large.policies.ofenet import OFENetSACPolicy, OFENetTD3Policy
from sb3_large.policies.sac import LargeSACPolicy
from sb3_large.policies.td3 import LargeTD3Policy
from sb3_large.policies.tqc import LargeTQCPolicy

__all__ = ["LargeSACPolicy", "LargeTD3Policy", "LargeTQCPolicy", "OFENetSACPolicy", "OFENetTD3Policy"]
