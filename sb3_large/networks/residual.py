"""Residual body in the style of BroNet / SimBa: pre-LayerNorm inverted-bottleneck blocks, final LayerNorm."""

import torch as th
from torch import nn

from sb3_large.checks import check_int
from sb3_large.networks.layers import activation_class, check_norm, norm_layer


class ResidualBlock(nn.Module):
    """``x + W2 act(W1 norm(x))`` with a hidden width of ``expansion * width``."""

    def __init__(self, width: int, expansion: int, activation, norm: str):
        super().__init__()
        self.net = nn.Sequential(
            norm_layer(norm, width),
            nn.Linear(width, expansion * width),
            activation_class(activation)(),
            nn.Linear(expansion * width, width),
        )

    def forward(self, x: th.Tensor) -> th.Tensor:
        return x + self.net(x)


def residual(
    in_dim: int,
    width: int = 512,
    depth: int = 2,
    activation="relu",
    norm: str | None = None,
    expansion: int = 4,
) -> tuple[nn.Module, int]:
    """Linear embedding to ``width``, ``depth`` residual blocks, final norm; output width ``width``.

    ``norm`` is ``"layer"`` (default) or ``"none"``: batch statistics inside a residual stream
    would couple samples of the replay batch.
    """
    norm = check_norm(norm or "layer", allowed=("layer", "none"), arch="residual")
    expansion = check_int("expansion", expansion)
    net = nn.Sequential(
        nn.Linear(in_dim, width),
        *(ResidualBlock(width, expansion, activation, norm) for _ in range(depth)),
        norm_layer(norm, width),
    )
    return net, width
