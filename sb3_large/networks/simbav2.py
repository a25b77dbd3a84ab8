"""SimbaV2-style body (Lee et al., 2025): hyperspherical normalization of weights and features.

Every linear map has no bias and unit-norm weight rows; every hidden feature vector is l2-normalized, so the
network's state is a point on the unit sphere and its scale is carried only by learnable per-unit scalers.
A residual block moves that point towards its update by a learnable per-unit step (a lerp) and normalizes
again. Gradient steps leave the sphere; ``register_projection`` puts the weights back after every step of an
optimizer (the large policies do it for the optimizers they build).
"""

import math

import torch as th
from torch import nn
from torch.nn import functional as F
from torch.utils.hooks import RemovableHandle

from sb3_large.checks import check_int, check_number
from sb3_large.networks.layers import activation_class, check_norm


def l2_normalize(x: th.Tensor) -> th.Tensor:
    return F.normalize(x, dim=-1)


class HypersphericalLinear(nn.Module):
    """``W x`` without bias, each row of ``W`` of unit norm (an output unit is a direction)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.weight = nn.Parameter(th.empty(out_dim, in_dim))
        nn.init.orthogonal_(self.weight)
        self.project_()

    @th.no_grad()
    def project_(self) -> None:
        """Put every weight row back on the unit sphere, in place."""
        self.weight.copy_(F.normalize(self.weight, dim=1))

    def forward(self, x: th.Tensor) -> th.Tensor:
        return F.linear(x, self.weight)

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[1]}, out_features={self.weight.shape[0]}"


class Scaler(nn.Module):
    """Learnable per-unit scale ``init * p`` with ``p`` starting at 1, so an Adam step changes it relatively."""

    def __init__(self, dim: int, init: float):
        super().__init__()
        self.init = init
        self.weight = nn.Parameter(th.ones(dim))

    def forward(self, x: th.Tensor) -> th.Tensor:
        return x * (self.init * self.weight)

    def extra_repr(self) -> str:
        return f"dim={self.weight.shape[0]}, init={self.init:g}"


class HypersphericalEmbedding(nn.Module):
    """``l2norm(s * W l2norm([x, shift]))``: the appended constant keeps the input's norm as a direction."""

    def __init__(self, in_dim: int, width: int, shift: float):
        super().__init__()
        self.shift = shift
        self.linear = HypersphericalLinear(in_dim + 1, width)
        self.scaler = Scaler(width, init=1.0)

    def forward(self, x: th.Tensor) -> th.Tensor:
        x = l2_normalize(th.cat([x, x.new_full((*x.shape[:-1], 1), self.shift)], dim=-1))
        return l2_normalize(self.scaler(self.linear(x)))

    def extra_repr(self) -> str:
        return f"shift={self.shift:g}"


class HypersphericalBlock(nn.Module):
    """``h <- l2norm(h + alpha * (u - h))`` with ``u = l2norm(W2 act(s * W1 h))``, hidden ``expansion * width``.

    ``s`` starts at ``sqrt(width)``: entries of ``W1 h`` (unit vectors' dot products) are about ``1/sqrt(width)``.
    """

    def __init__(self, width: int, expansion: int, activation, alpha_init: float):
        super().__init__()
        hidden = expansion * width
        self.up = HypersphericalLinear(width, hidden)
        self.up_scaler = Scaler(hidden, init=math.sqrt(width))
        self.activation = activation_class(activation)()
        self.down = HypersphericalLinear(hidden, width)
        self.alpha = Scaler(width, init=alpha_init)

    def forward(self, h: th.Tensor) -> th.Tensor:
        update = l2_normalize(self.down(self.activation(self.up_scaler(self.up(h)))))
        return l2_normalize(h + self.alpha(update - h))


class SimbaV2(nn.Module):
    """Embedding, ``depth`` blocks on the unit sphere, then a per-unit output scale for SB3's linear heads.

    The output scale starts at ``sqrt(width)`` (entries of order 1, as after a LayerNorm); the features
    before it (``features(x)``) have unit norm.
    """

    def __init__(self, in_dim: int, width: int, depth: int, activation, expansion: int, shift: float):
        super().__init__()
        self.embedding = HypersphericalEmbedding(in_dim, width, shift)
        self.blocks = nn.Sequential(
            *(HypersphericalBlock(width, expansion, activation, alpha_init=1.0 / (depth + 1)) for _ in range(depth))
        )
        self.output_scaler = Scaler(width, init=math.sqrt(width))

    def features(self, x: th.Tensor) -> th.Tensor:
        return self.blocks(self.embedding(x))

    def forward(self, x: th.Tensor) -> th.Tensor:
        return self.output_scaler(self.features(x))


class ProjectAfterStep:
    """Optimizer step post-hook: puts the weight rows of ``layers`` back on the unit sphere."""

    def __init__(self, layers: list[HypersphericalLinear]):
        self.layers = layers

    def __call__(self, optimizer: th.optim.Optimizer, args, kwargs) -> None:
        for layer in self.layers:
            layer.project_()


def register_projection(optimizer: th.optim.Optimizer, network: nn.Module) -> RemovableHandle | None:
    """After every ``optimizer.step()``, project the hyperspherical layers of ``network`` that it updates.

    Returns the hook's handle, or ``None`` when the optimizer updates no such layer.
    """
    stepped = {id(p) for group in optimizer.param_groups for p in group["params"]}
    layers = [m for m in network.modules() if isinstance(m, HypersphericalLinear) and id(m.weight) in stepped]
    if not layers:
        return None
    return optimizer.register_step_post_hook(ProjectAfterStep(layers))


def simbav2(
    in_dim: int,
    width: int = 512,
    depth: int = 2,
    activation="relu",
    norm: str | None = None,
    expansion: int = 4,
    shift: float = 3.0,
) -> tuple[nn.Module, int]:
    """SimbaV2-style body; output width ``width``.

    ``norm`` can only be ``"none"`` (or ``None``): the body normalizes itself. ``expansion``: hidden width of a
    block over ``width``; ``shift``: the constant appended to the input before it is normalized (> 0).
    """
    check_norm(norm or "none", allowed=("none",), arch="simbav2")
    expansion = check_int("expansion", expansion)
    shift = check_number("shift", shift, minimum=0.0, inclusive=False)
    return SimbaV2(in_dim, width, depth, activation, expansion, shift), width
