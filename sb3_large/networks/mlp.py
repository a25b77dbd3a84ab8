"""Plain MLP body: the same math as SB3's ``net_arch=[width] * depth``."""

from torch import nn

from sb3_large.networks.layers import check_norm, dense_layer


def mlp(
    in_dim: int, width: int = 256, depth: int = 2, activation="relu", norm: str | None = None
) -> tuple[nn.Module, int]:
    """``depth`` layers of ``act(norm(W x))``, all ``width`` wide; output width ``width``."""
    norm = check_norm(norm or "none", arch="mlp")
    layers = [dense_layer(in_dim if i == 0 else width, width, activation, norm) for i in range(depth)]
    return nn.Sequential(*layers), width
