"""OFENet: decoupled representation learning for the large SAC/TD3 policies."""

from sb3_large.ofenet.features import OFENetStateFeatures
from sb3_large.ofenet.network import OFENet, OFENetConfig
from sb3_large.ofenet.trainer import OFENetTrainer

__all__ = ["OFENet", "OFENetConfig", "OFENetStateFeatures", "OFENetTrainer"]
