"""Plain MLP body: the same math as SB3's ``net_arch=[width] * depth``."""

from torch import nn

from sb3_large.checks import check_choice
from sb3_large.networks.layers import activation_class, check_norm, dense_layer, norm_layer

NORM_POSITIONS = ("after_linear", "before_linear")


def mlp(
    in_dim: int,
    width: int = 256,
    depth: int = 2,
    activation="relu",
    norm: str | None = None,
    norm_position: str = "after_linear",
) -> tuple[nn.Module, int]:
    """``depth`` layers of ``act(norm(W x))``, all ``width`` wide; output width ``width``.

    ``norm_position="before_linear"`` normalizes the input of every linear layer instead, and the body's output
    (the head's input): ``act(W norm(x))``, then ``norm``. That is SB3's ``create_mlp`` with
    ``pre_linear_modules=[norm]``, the layout of sb3-contrib's CrossQ networks.
    """
    norm = check_norm(norm or "none", arch="mlp")
    check_choice("norm_position", norm_position, NORM_POSITIONS)
    if norm_position == "after_linear":
        layers = [dense_layer(in_dim if i == 0 else width, width, activation, norm) for i in range(depth)]
        return nn.Sequential(*layers), width
    layers = []
    for i in range(depth):
        dim = in_dim if i == 0 else width
        layers.append(nn.Sequential(norm_layer(norm, dim), nn.Linear(dim, width), activation_class(activation)()))
    return nn.Sequential(*layers, norm_layer(norm, width)), width
