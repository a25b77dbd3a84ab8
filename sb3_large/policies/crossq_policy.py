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

from sb3_large.checks import check_bool, check_choice, check_int, check_number
from sb3_large.internals import BatchNormBase
from sb3_large.networks import NetSpec, build
from sb3_large.networks.ensemble import EnsembleBatchNorm1d, EnsembleLinear
from sb3_large.networks.layers import UnitRowsAfterStep, activation_class, configure_batch_renorm
from sb3_large.policies.common import FUSED_ADAM, LargeCritic, LargePolicyMixin
from sb3_large.policies.options import PolicyOptions

# CrossQ's Adam setting (sb3-contrib's default when no optimizer_kwargs are given).
CROSSQ_BETAS = (0.5, 0.999)
# Layers whose statistics CrossQ's train() switches per forward pass (stacked critics' batch norms included).
BATCH_NORMS = (BatchRenorm1d, BatchNormBase, EnsembleBatchNorm1d)
# Activations f with f(c x) = c f(x) for c > 0: a batch norm after them undoes a layer's per-unit scale.
HOMOGENEOUS = (nn.ReLU, nn.LeakyReLU)


def check_weight_norm_body(field: str, spec: NetSpec) -> None:
    """``weight_norm`` needs a body in which every linear layer's per-unit scale is undone by a batch norm."""
    if spec.arch != "mlp" or spec.norm not in ("batch", "batch_renorm"):
        raise ValueError(
            f"{field}: weight_norm=True needs arch='mlp' with norm 'batch' or 'batch_renorm' (each unit's scale "
            f"is then normalized away), got arch={spec.arch!r}, norm={spec.norm!r}"
        )
    before_linear = spec.arch_kwargs.get("norm_position") == "before_linear"
    if before_linear and not issubclass(activation_class(spec.activation), HOMOGENEOUS):
        raise ValueError(
            f"{field}.activation: weight_norm=True with norm_position 'before_linear' needs an activation that "
            f"commutes with scaling (relu, leaky_relu), got {spec.activation!r}"
        )


def body_linears(bodies: list[nn.Module]) -> list[nn.Module]:
    """Every linear layer (stacked ones included) of these bodies."""
    return [m for body in bodies for m in body.modules() if isinstance(m, (nn.Linear, EnsembleLinear))]


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
        precision: str = "fp32",
        **kwargs,
    ):
        check_choice("precision", precision, LargeCrossQPolicy.precisions)
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

    Its default bodies are CrossQ's own networks as measured here (BENCHMARKS.md): ``arch="mlp", width=256,
    depth=2, norm="batch_renorm", arch_kwargs={"norm_position": "before_linear"}`` (a batch renorm layer before
    every linear layer); RL Zoo's CrossQ widens the critics to 2048 (``critic_net={"width": 2048}``).
    Another ``arch`` keeps ``norm="batch_renorm"``. ``norm="batch"`` is the CrossQ paper's first form, ``"none"``
    turns it off. CrossQ's ``batch_norm_momentum``, ``batch_norm_eps`` and ``renorm_warmup_steps`` set every
    batch renorm layer of the bodies.

    ``weight_norm=True`` (CrossQ + WN, Palenicek et al. 2025) keeps every unit of the bodies' linear layers at a
    unit-norm weight row (its bias scaled with it): set when a network is built, restored after every optimizer
    step. The batch norms make the network blind to those norms, but Adam's steps are not: as weights grow, a
    fixed learning rate turns them less and less, which is what limits CrossQ at more gradient steps per env
    step. The output layers are left free.
    """

    actor_class = LargeCrossQActor
    critic_class = LargeCrossQCritic
    option_defaults = PolicyOptions(norm="batch_renorm", arch_kwargs={"norm_position": "before_linear"})
    other_arch_defaults = {"norm": "batch_renorm", "arch_kwargs": {}}
    # Batch renormalization keeps its statistics in float32 math; bfloat16 activations are not measured here.
    precisions = ("fp32",)

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule,
        batch_norm: bool = True,
        batch_norm_momentum: float = 0.01,
        batch_norm_eps: float = 0.001,
        renorm_warmup_steps: int = 100_000,
        weight_norm: bool = False,
        **kwargs,
    ):
        self.weight_norm = check_bool("weight_norm", weight_norm)
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
            batch_norm=batch_norm,
            batch_norm_momentum=batch_norm_momentum,
            batch_norm_eps=batch_norm_eps,
            renorm_warmup_steps=renorm_warmup_steps,
            **kwargs,
        )

    def _build(self, lr_schedule) -> None:
        if self.weight_norm:  # before any layer is built
            check_weight_norm_body("actor_net", self.actor_spec)
            check_weight_norm_body("critic_net", self.critic_spec)
        super()._build(lr_schedule)
        if self.weight_norm:
            for network, bodies in ((self.actor, [self.actor.latent_pi]), (self.critic, self.critic.q_bodies())):
                network.optimizer.register_step_post_hook(UnitRowsAfterStep(body_linears(bodies)))

    # The builders project too: a network they build (at first, or for a reset) starts on the unit sphere.
    def make_actor(self, features_extractor=None) -> Any:
        actor = super().make_actor(features_extractor)
        if self.weight_norm:
            UnitRowsAfterStep(body_linears([actor.latent_pi])).project()
        return actor

    def make_critic(self, features_extractor=None) -> Any:
        critic = super().make_critic(features_extractor)
        if self.weight_norm:
            UnitRowsAfterStep(body_linears(critic.q_bodies())).project()
        return critic

    def _get_constructor_parameters(self) -> dict[str, Any]:
        # Written only when on: a model without it still loads in versions that predate the option.
        extra = {"weight_norm": True} if self.weight_norm else {}
        return {**super()._get_constructor_parameters(), **extra}
