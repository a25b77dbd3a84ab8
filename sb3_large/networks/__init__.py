"""Network bodies (``in_dim -> features``): the built-in architectures, the registry and the one builder."""

from sb3_large.networks.builder import NetSpec, build, count_parameters
from sb3_large.networks.layers import ACTIVATIONS, NORMS, activation_class

__all__ = ["ACTIVATIONS", "NORMS", "NetSpec", "activation_class", "build", "count_parameters"]
