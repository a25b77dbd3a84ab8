"""Large-network policy for CrossQ (sb3-contrib): no target networks, batch (re)normalized bodies.

CrossQ's ``train()`` runs the critic once on ``concat(batch, next batch)`` with the normalization layers in
training mode, and calls ``set_bn_training_mode`` on the actor and the critic around every forward pass; our
actor and critic offer it over the batch (re)normalization layers of their bodies.
"""

from typing import Any

import torch as th
from gymnasium import spaces
from sb3_contrib.common.torch_layers import BatchRenorm1d
from sb3_contrib.crossq.policies import Actor, CrossQPolicy
from torch import nn

from sb3_large.checks import check_int, check_number
from sb3_large.networks import NetSpec, build
from sb3_large.networks.ensemble import EnsembleBatchNorm1d
from sb3_large.networks.layers import configure_batch_renorm
from sb3_large.policies.common import FUSED_ADAM, LargeCritic, LargePolicyMixin

# CrossQ's Adam setting (sb3-contrib's default when no optimizer_kwargs are given).
CROSSQ_BETAS = (0.5, 0.999)
# Layers whose statistics CrossQ's train() switches per forward pass (stacked critics' batch norms included).
BATCH_NORMS = (BatchRenorm1d, nn.modules.batchnorm._BatchNorm, EnsembleBatchNorm1d)


def set_batch_norm_training(module: nn.Module, mode: bool) -> None:
    """Put only the batch (re)normalization layers of ``module`` in training (statistics update) or eval mode."""
    for layer in module.modules():
        if isinstance(layer, BATCH_NORMS):
            layer.train(mode)


class LargeCrossQActor(Actor):
    """sb3-contrib's CrossQ actor whose ``latent_pi`` is a large body (built as ``LargeSACActor`` does)."""

    def __init__(
        self,
        *,
        body: NetSpec,
        features_dim: int,
        batch_norm_momentum: float = 0.01,
        batch_norm_eps: float = 0.001,
        renorm_warmup_steps: int = 100_000,
        **kwargs,
    ):
        latent_pi, latent_dim = build(body, features_dim)
        super().__init__(features_dim=latent_dim, **kwargs)
        self.latent_pi = latent_pi  # type: ignore[assignment]
        configure_batch_renorm(self.latent_pi, batch_norm_momentum, batch_norm_eps, renorm_warmup_steps)
        self.features_dim, self.body = features_dim, body  # saved parameters describe the input, not the body

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "body": self.body}

    def set_bn_training_mode(self, mode: bool) -> None:
        set_batch_norm_training(self, mode)


class LargeCrossQCritic(LargeCritic):
    """Our Q critics with CrossQ's ``set_bn_training_mode`` and batch renorm settings; no target copy exists.

    ``batch_norm`` is taken because CrossQ passes it to every critic; the body's ``norm`` decides.
    """

    def __init__(
        self,
        *,
        batch_norm: bool = True,
        batch_norm_momentum: float = 0.01,
        batch_norm_eps: float = 0.001,
        renorm_warmup_steps: int = 100_000,
        **kwargs,
    ):
        super().__init__(**kwargs)
        configure_batch_renorm(self, batch_norm_momentum, batch_norm_eps, renorm_warmup_steps)

    def set_bn_training_mode(self, mode: bool) -> None:
        set_batch_norm_training(self, mode)


class LargeCrossQPolicy(LargePolicyMixin, CrossQPolicy):
    """CrossQ policy whose actor and critics are large bodies (see ``LargePolicyMixin`` for the options).

    ``norm`` defaults to ``"batch_renorm"`` (CrossQ needs normalized critics; ``"batch"`` is the CrossQ paper's
    first form, ``"none"`` turns it off). CrossQ's ``batch_norm_momentum``, ``batch_norm_eps`` and
    ``renorm_warmup_steps`` set every batch renorm layer of the bodies. CrossQ's default networks are
    ``arch="mlp", norm="batch_renorm", arch_kwargs={"norm_position": "before_linear"}`` with
    ``actor_net={"width": 256}, critic_net={"width": 2048}`` (depth 2).
    """

    actor_class = LargeCrossQActor
    critic_class = LargeCrossQCritic

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule,
        norm: str | None = "batch_renorm",
        batch_norm: bool = True,
        batch_norm_momentum: float = 0.01,
        batch_norm_eps: float = 0.001,
        renorm_warmup_steps: int = 100_000,
        **kwargs,
    ):
        if batch_norm is not True:
            raise ValueError(
                f"batch_norm: {type(self).__name__} sets normalization with norm= ('batch_renorm', 'batch', "
                f"'layer', 'none'); got batch_norm={batch_norm!r}"
            )
        check_number("batch_norm_momentum", batch_norm_momentum, minimum=0.0, inclusive=False)
        check_number("batch_norm_eps", batch_norm_eps, minimum=0.0, inclusive=False)
        check_int("renorm_warmup_steps", renorm_warmup_steps, minimum=0)
        if kwargs.get("optimizer_kwargs") is None and kwargs.get("optimizer_class", th.optim.Adam) in FUSED_ADAM:
            kwargs["optimizer_kwargs"] = {"betas": CROSSQ_BETAS, "fused": True}
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            norm=norm,
            batch_norm=batch_norm,
            batch_norm_momentum=batch_norm_momentum,
            batch_norm_eps=batch_norm_eps,
            renorm_warmup_steps=renorm_warmup_steps,
            **kwargs,
        )
