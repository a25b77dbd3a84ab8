"""Building blocks shared by the built-in architectures."""

from typing import cast

import torch as th
from sb3_contrib.common.torch_layers import BatchRenorm1d
from torch import nn

from sb3_large.precision import full_precision

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "mish": nn.Mish,
    "selu": nn.SELU,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
}

NORMS = ("none", "layer", "batch", "batch_renorm")


class Float32Linear(nn.Linear):
    """An output layer that computes in float32, under bfloat16 autocast too (the Q networks' last layer).

    Q values and logits are compared (TD errors, the minimum over critics) and accumulated, and bfloat16's
    8-bit mantissa would round a Q value of 300.7 to 300. Same parameters as ``nn.Linear``: same saved files.
    """

    def forward(self, x: th.Tensor) -> th.Tensor:
        with full_precision(x.device.type):
            return super().forward(x.float())


def activation_class(activation: str | type[nn.Module]) -> type[nn.Module]:
    """Resolve an activation given by name (``"relu"``) or as a ``nn.Module`` class (SB3's ``activation_fn``)."""
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        try:  # the bodies build it as activation()
            activation()
        except TypeError as exc:
            raise ValueError(f"activation: {activation.__name__} cannot be built without arguments ({exc})") from None
        return activation
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        return ACTIVATIONS[activation.lower()]
    raise ValueError(
        f"activation: unknown value {activation!r}; allowed: {', '.join(ACTIVATIONS)} or a nn.Module class"
    )


def check_norm(norm: str, allowed: tuple[str, ...] = NORMS, arch: str = "") -> str:
    """Return ``norm`` if it is one of ``allowed``, else raise a ValueError naming the field."""
    if norm not in allowed:
        where = f" for architecture {arch!r}" if arch else ""
        raise ValueError(f"norm: unknown value {norm!r}{where}; allowed: {', '.join(allowed)}")
    return norm


class BatchNorm(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose single-sample training batch fails with the setting to change, not torch's error."""

    def forward(self, x: th.Tensor) -> th.Tensor:
        if self.training and x.shape[0] < 2:
            raise ValueError(
                f"batch_size: batch norm (norm='batch') needs at least 2 samples per training batch, got {x.shape[0]}"
            )
        return super().forward(x)


class BatchRenorm(BatchRenorm1d):
    """sb3-contrib's batch renormalization (CrossQ's layer) with the batch-size check of ``BatchNorm``.

    Its running statistics update in training mode only; CrossQ toggles that per forward pass
    (``set_bn_training_mode``). Defaults are CrossQ's: momentum 0.01, eps 0.001, 100k warm-up steps.
    """

    def forward(self, x: th.Tensor) -> th.Tensor:
        if self.training and x.shape[0] < 2:
            raise ValueError(
                "batch_size: batch renorm (norm='batch_renorm') needs at least 2 samples per training batch, "
                f"got {x.shape[0]}"
            )
        return super().forward(x)


def configure_batch_renorm(module: nn.Module, momentum: float, eps: float, warmup_steps: int) -> None:
    """Give every ``BatchRenorm`` layer of ``module`` these settings (CrossQ's policy kwargs); before training."""
    for layer in module.modules():
        if isinstance(layer, BatchRenorm):
            layer.momentum, layer.eps, layer.warmup_steps = momentum, eps, warmup_steps


def norm_layer(norm: str, dim: int) -> nn.Module:
    if norm == "layer":
        return nn.LayerNorm(dim)
    if norm == "batch":
        return BatchNorm(dim)
    if norm == "batch_renorm":
        return BatchRenorm(dim)
    return nn.Identity()


def dense_layer(in_dim: int, width: int, activation: str | type[nn.Module], norm: str) -> nn.Sequential:
    """``act(norm(W x + b))``: the unit every MLP-like body stacks."""
    layers: list[nn.Module] = [nn.Linear(in_dim, width)]
    if norm != "none":
        layers.append(norm_layer(norm, width))
    layers.append(activation_class(activation)())
    return nn.Sequential(*layers)


class UnitRowsAfterStep:
    """Optimizer step post-hook: every output unit of each layer in ``layers`` is put back to a unit-norm weight row,
    its bias divided by the same norm (``project``).

    For layers whose output a per-unit normalization rescales anyway (a batch norm after them, directly or
    through a ReLU): scaling a unit's weights and bias together does not change the network, and holding the norm
    fixed stops the effective learning rate from decaying as Adam grows the weights. Stacked layers (weights
    ``(members, out, in)``) are projected row by row too.
    """

    def __init__(self, layers: list[nn.Module]):
        self.layers = layers

    def __call__(self, optimizer: th.optim.Optimizer, args, kwargs) -> None:
        self.project()

    @th.no_grad()
    def project(self) -> None:
        for layer in self.layers:
            weight, bias = cast(th.Tensor, layer.weight), cast(th.Tensor | None, layer.bias)
            norms = weight.norm(dim=-1).clamp_min(1e-12)  # F.normalize's floor
            weight.div_(norms.unsqueeze(-1))
            if bias is not None:
                bias.div_(norms)
