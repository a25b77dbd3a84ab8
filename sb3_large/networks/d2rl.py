"""D2RL body (Sinha et al.): the network input is concatenated to every hidden layer's input."""

import torch as th
from torch import nn

from sb3_large.networks.layers import check_norm, dense_layer


class D2RL(nn.Module):
    """First layer sees ``x``; every later layer sees ``concat(h, x)``. Output width ``width``."""

    def __init__(self, in_dim: int, width: int, depth: int, activation, norm: str):
        super().__init__()
        self.layers = nn.ModuleList(
            dense_layer(in_dim if i == 0 else width + in_dim, width, activation, norm) for i in range(depth)
        )

    def forward(self, x: th.Tensor) -> th.Tensor:
        h = self.layers[0](x)
        for layer in self.layers[1:]:
            h = layer(th.cat([h, x], dim=-1))
        return h


def d2rl(
    in_dim: int, width: int = 256, depth: int = 4, activation="relu", norm: str | None = None
) -> tuple[nn.Module, int]:
    """Output width ``width``."""
    return D2RL(in_dim, width, depth, activation, check_norm(norm or "none", arch="d2rl")), width
