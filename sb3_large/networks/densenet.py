"""MLP-DenseNet body (Ota et al.): every layer appends its output to its input."""

import torch as th
from torch import nn

from sb3_large.networks.layers import check_norm, dense_layer


class DenseNet(nn.Module):
    """``x <- concat(x, act(norm(W x)))`` repeated ``depth`` times: features grow by ``width`` per layer."""

    def __init__(self, in_dim: int, width: int, depth: int, activation, norm: str):
        super().__init__()
        self.layers = nn.ModuleList(dense_layer(in_dim + i * width, width, activation, norm) for i in range(depth))
        self.out_dim = in_dim + depth * width

    def forward(self, x: th.Tensor) -> th.Tensor:
        for layer in self.layers:
            x = th.cat([x, layer(x)], dim=-1)
        return x


def densenet(
    in_dim: int, width: int = 256, depth: int = 2, activation="relu", norm: str | None = None
) -> tuple[nn.Module, int]:
    """Output width ``in_dim + depth * width``."""
    net = DenseNet(in_dim, width, depth, activation, check_norm(norm or "none", arch="densenet"))
    return net, net.out_dim
