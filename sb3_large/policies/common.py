"""Code shared by every large-network policy: kwargs -> specs, space checks, and bodies under SB3's heads.

SB3's actor and critic classes build ``create_mlp(in_dim, out_dim, net_arch)``; with ``net_arch=[]`` that is
just the output head. The classes here let SB3 build those heads, then put our body in front of them, so
SB3's algorithms (losses, gSDE, target networks, saving) work unchanged.
"""

import inspect
from collections.abc import Mapping
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim, is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import Actor as SB3SACActor
from stable_baselines3.td3.policies import Actor as SB3TD3Actor
from torch import nn

from sb3_large.networks import NetSpec, build
from sb3_large.networks.ensemble import (
    EnsembleMember,
    NotStackable,
    QEnsemble,
    convert_optimizer_state,
    stack_state_dict,
)

BODY_FIELDS = NetSpec.field_names()
FUSED_ADAM = (th.optim.Adam, th.optim.AdamW)


def check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """Refuse what the vector bodies cannot consume, before any layer is built."""
    if not isinstance(observation_space, spaces.Box):
        raise ValueError(
            f"observation_space: {type(observation_space).__name__} is not supported; large policies take a flat "
            "Box observation (flatten Dict observations with gymnasium.wrappers.FlattenObservation)"
        )
    if is_image_space(observation_space, check_channels=False):
        raise ValueError(
            f"observation_space: image observations {observation_space.shape} are not supported; "
            "use SB3's CnnPolicy or a vector observation"
        )
    if not isinstance(action_space, spaces.Box):
        raise ValueError(
            f"action_space: {type(action_space).__name__} is not supported; large policies need continuous Box actions"
        )


def _spec(where: str, values: Mapping[str, Any]) -> NetSpec:
    try:
        return NetSpec(**values)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{where}.{exc}") from None


def _override(where: str, base: Mapping[str, Any], override: Mapping[str, Any] | None) -> dict[str, Any]:
    if override is None:
        return dict(base)
    if not isinstance(override, Mapping):
        raise TypeError(f"{where}: must be a mapping of body options, got {type(override).__name__}")
    unknown = sorted(set(override) - set(BODY_FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown option {unknown[0]!r}; allowed: {', '.join(BODY_FIELDS)}")
    return {**base, **override}


def _from_net_arch(net_arch: list[int]) -> dict[str, Any]:
    # SB3 / RL Zoo shorthand (``--optimize`` samples e.g. [400, 300]): our bodies have one width.
    if not isinstance(net_arch, (list, tuple)) or not net_arch:
        raise ValueError(f"net_arch: expected a non-empty list of layer widths, got {net_arch!r}")
    return {"width": max(net_arch), "depth": len(net_arch)}


def resolve_specs(
    body: Mapping[str, Any],
    actor: Mapping[str, Any] | None,
    critic: Mapping[str, Any] | None,
    net_arch: list[int] | dict[str, list[int]] | None,
) -> tuple[NetSpec, NetSpec]:
    """Shared body options, then SB3's ``net_arch`` shorthand, then the per-network overrides."""
    _spec("policy_kwargs", body)  # blame a bad shared option on itself, not on the first network using it
    actor_values, critic_values = dict(body), dict(body)
    if isinstance(net_arch, Mapping):
        actor_values.update(_from_net_arch(net_arch.get("pi", [])))
        critic_values.update(_from_net_arch(net_arch.get("qf", [])))
    elif net_arch is not None:
        actor_values.update(_from_net_arch(net_arch))
        critic_values.update(_from_net_arch(net_arch))
    return (
        _spec("actor", _override("actor", actor_values, actor)),
        _spec("critic", _override("critic", critic_values, critic)),
    )


def attach_q_bodies(critic: nn.Module, spec: NetSpec, in_dim: int, out_dim: int) -> None:
    """Replace each of ``critic.q_networks`` by ``body(q_input) -> Linear(out_dim)``."""
    for idx in range(len(critic.q_networks)):
        body, body_dim = build(spec, in_dim)
        q_net = nn.Sequential(body, nn.Linear(body_dim, out_dim))
        critic.add_module(f"qf{idx}", q_net)
        critic.q_networks[idx] = q_net


def compile_forward(network: nn.Module) -> None:
    """Compile a network's dense part in place: the critics' Q passes, the actor's body.

    The compiled functions replace bound methods, not modules, so parameter names (and saved files) do not
    change. The actor's distribution code stays eager: it would break the graph anyway.
    """
    if isinstance(network, LargeCritic):
        network.forward = th.compile(network.forward)
        network.q1_forward = th.compile(network.q1_forward)
        return
    body = network.latent_pi if hasattr(network, "latent_pi") else network.mu
    body.forward = th.compile(body.forward)


class LatentBodyMixin:
    """For SAC-style actors (``latent_pi -> mu, log_std``): our body becomes ``latent_pi``.

    SB3 builds the mean, log-std and gSDE heads for ``features_dim=latent_dim`` and an empty ``latent_pi``.
    """

    def __init__(self, *, body: NetSpec, features_dim: int, **kwargs):
        latent_pi, latent_dim = build(body, features_dim)
        super().__init__(features_dim=latent_dim, **kwargs)
        self.latent_pi = latent_pi
        self.features_dim = features_dim
        self.body = body

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "body": self.body}


class LargeSACActor(LatentBodyMixin, SB3SACActor):
    """SB3's SAC actor with a large body."""


class LargeTD3Actor(SB3TD3Actor):
    """SB3's TD3 actor whose ``mu`` is ``body -> Linear -> Tanh``."""

    def __init__(self, *, body: NetSpec, features_dim: int, **kwargs):
        net, latent_dim = build(body, features_dim)
        super().__init__(features_dim=latent_dim, **kwargs)
        self.mu = nn.Sequential(net, *self.mu)
        self.features_dim = features_dim
        self.body = body

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "body": self.body}


class LargeCritic(ContinuousCritic):
    """SB3's twin Q critic with each Q network a large body plus a linear output.

    The Q networks read ``q_input(features, actions)``, computed once for all of them; subclasses change
    that input (OFENet's ``z_sa``) by overriding ``q_input`` and ``q_input_dim``. With ``ensemble=True``
    the Q networks are built as separate networks, as SB3 would, then stacked into one
    ``QEnsemble`` (``sb3_large.networks.ensemble``): same initial weights and math, one batched matmul per
    layer. A body with a layer that has no stacked version stays separate. Saved state dicts of either form
    load into both.
    """

    def __init__(self, *, body: NetSpec, features_dim: int, ensemble: bool = False, **kwargs):
        super().__init__(features_dim=features_dim, **kwargs)
        attach_q_bodies(self, body, self.q_input_dim(features_dim), out_dim=1)
        self.q_ensemble: QEnsemble | None = None
        if ensemble:
            try:
                self.q_ensemble = QEnsemble(self.q_networks)
            except NotStackable:
                pass
        if self.q_ensemble is not None:
            for idx in range(self.n_critics):
                delattr(self, f"qf{idx}")
            self.q_networks = [EnsembleMember(self.q_ensemble, idx) for idx in range(self.n_critics)]
        self._register_load_state_dict_pre_hook(self._convert_state_dict)

    def _convert_state_dict(self, state_dict, prefix, *_args) -> None:
        members = [f"{prefix}qf{idx}." for idx in range(self.n_critics)]
        stacked = f"{prefix}q_ensemble.net."
        if self.q_ensemble is not None and any(k.startswith(members[0]) for k in state_dict):
            stack_state_dict(state_dict, members, stacked)
        elif self.q_ensemble is None and any(k.startswith(stacked) for k in state_dict):
            for key in [k for k in state_dict if k.startswith(stacked)]:
                value = state_dict.pop(key)
                for idx, member in enumerate(members):
                    state_dict[member + key[len(stacked) :]] = value if value.dim() == 0 else value[idx]

    def convert_optimizer_state(self, optimizer: th.optim.Optimizer, state_dict: dict) -> dict:
        """Optimizer pre-load hook: a state saved with the other critic form, rewritten for this one."""
        stacked = self.q_ensemble is not None
        n_stacked = len(list((self.q_ensemble if stacked else self.q_networks[0]).parameters()))
        n_leading = len(optimizer.param_groups[0]["params"]) - n_stacked * (1 if stacked else self.n_critics)
        return convert_optimizer_state(state_dict, self.n_critics, n_leading, n_stacked, stacked)

    def q_input_dim(self, features_dim: int) -> int:
        return features_dim + get_action_dim(self.action_space)

    def q_input(self, features: th.Tensor, actions: th.Tensor) -> th.Tensor:
        return th.cat([features, actions], dim=1)

    def q_values(self, obs: th.Tensor, actions: th.Tensor, grad_features: bool) -> tuple[th.Tensor, ...]:
        with th.set_grad_enabled(grad_features and th.is_grad_enabled()):
            features = self.extract_features(obs, self.features_extractor)
        q_input = self.q_input(features, actions)
        if self.q_ensemble is not None:
            return tuple(self.q_ensemble(q_input).unbind(0))
        return tuple(q_net(q_input) for q_net in self.q_networks)

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        # As in SB3: a features extractor shared with the actor is trained by the actor loss only.
        return self.q_values(obs, actions, grad_features=not self.share_features_extractor)

    def q1_forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        with th.no_grad():
            features = self.extract_features(obs, self.features_extractor)
        q_input = self.q_input(features, actions)
        if self.q_ensemble is not None:
            return self.q_ensemble(q_input, members=slice(0, 1))[0]
        return self.q_networks[0](q_input)


class LargePolicyMixin:
    """Turns the body kwargs into actor/critic specs and builds SB3's networks from them.

    Used as ``class LargeSACPolicy(LargePolicyMixin, SACPolicy)`` with ``actor_class`` / ``critic_class`` set.

    :param arch: registered architecture name (``mlp``, ``densenet``, ``d2rl``, ``residual`` or a plugin)
    :param width: layer width of the body
    :param depth: number of layers (or residual blocks)
    :param activation: activation name (``relu``, ``silu``/``swish``, ``elu``, ``tanh``, ...)
    :param norm: ``none``, ``layer`` or ``batch``; ``None`` lets the architecture choose
    :param arch_kwargs: extra options of the architecture
    :param actor: overrides of the options above for the actor only
    :param critic: overrides of the options above for the critics only
    :param net_arch: SB3 shorthand, ``[w] * d`` (or ``dict(pi=..., qf=...)``) sets ``width=max``, ``depth=len``
    :param activation_fn: SB3 shorthand for ``activation`` (a ``nn.Module`` class)
    :param ensemble_critics: run the twin critics as one stacked ensemble: same math, half the kernel launches
        (worth it on a GPU; on CPU the batched matmul's backward is slower than two plain ones, see the README).
        SAC and TD3; TQC's quantile critics stay separate.
    :param compile: ``torch.compile`` the actor body and the critics' forward passes (state dicts unchanged;
        the first updates pay the compilation, about a minute on a small CPU)

    Without ``optimizer_kwargs``, Adam and AdamW run fused (``fused=True``); pass ``optimizer_kwargs={}`` for
    PyTorch's default implementation.
    """

    actor_class: type[nn.Module]
    critic_class: type[nn.Module]

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule,
        arch: str = "densenet",
        width: int = 2048,
        depth: int = 2,
        activation: str | type[nn.Module] = "relu",
        norm: str | None = None,
        arch_kwargs: Mapping[str, Any] | None = None,
        actor: Mapping[str, Any] | None = None,
        critic: Mapping[str, Any] | None = None,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] | None = None,
        ensemble_critics: bool = False,
        compile: bool = False,
        **kwargs,
    ):
        check_spaces(observation_space, action_space)
        self._check_kwargs(kwargs)
        if kwargs.get("optimizer_kwargs") is None and kwargs.get("optimizer_class", th.optim.Adam) in FUSED_ADAM:
            # One kernel per step instead of a dozen per parameter tensor: the Adam step of a 2048-wide
            # policy is memory-bound, and at width 256 its Python loop costs as much as the matmuls.
            kwargs["optimizer_kwargs"] = {"fused": True}
        body = dict(
            arch=arch,
            width=width,
            depth=depth,
            activation=activation if activation_fn is None else activation_fn,
            norm=norm,
            arch_kwargs=dict(arch_kwargs or {}),
        )
        # Set before SB3's __init__, which builds the networks through make_actor / make_critic.
        self.actor_spec, self.critic_spec = resolve_specs(body, actor, critic, net_arch)
        for name, value in (("ensemble_critics", ensemble_critics), ("compile", compile)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: must be True or False, got {value!r}")
        self.ensemble_critics, self.compile = ensemble_critics, compile
        self.body_kwargs = {
            **body,
            "actor": actor,
            "critic": critic,
            "net_arch": net_arch,
            "ensemble_critics": ensemble_critics,
            "compile": compile,
        }
        super().__init__(observation_space, action_space, lr_schedule, net_arch=[], **kwargs)

    def _check_kwargs(self, kwargs: dict[str, Any]) -> None:
        # A typo in a YAML's policy_kwargs should name the field and the choices, not fail in SB3's __init__.
        sb3_options = [
            n for n in inspect.signature(super().__init__).parameters if n not in ("net_arch", "activation_fn")
        ]
        unknown = sorted(set(kwargs) - set(sb3_options))
        if unknown:
            ours = [n for n in inspect.signature(LargePolicyMixin.__init__).parameters if n not in ("self", "kwargs")]
            raise TypeError(
                f"policy_kwargs: unknown option {unknown[0]!r} for {type(self).__name__}; "
                f"allowed: {', '.join(ours[3:] + sb3_options[3:])}"
            )

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)
        if isinstance(self.critic, LargeCritic):
            # A file saved with the other critic form (or before ensembles existed) must load into this one.
            self.critic.optimizer.register_load_state_dict_pre_hook(self.critic.convert_optimizer_state)
        if self.compile:
            for name in ("actor", "actor_target", "critic", "critic_target"):
                if getattr(self, name, None) is not None:
                    compile_forward(getattr(self, name))

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> nn.Module:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return self.actor_class(body=self.actor_spec, **actor_kwargs).to(self.device)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> nn.Module:
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        if issubclass(self.critic_class, LargeCritic):
            critic_kwargs["ensemble"] = self.ensemble_critics
        return self.critic_class(body=self.critic_spec, **critic_kwargs).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.pop("activation_fn", None)  # folded into ``activation``
        return {**data, **self.body_kwargs}


__all__ = [
    "LargeCritic",
    "LargePolicyMixin",
    "LargeSACActor",
    "LatentBodyMixin",
    "LargeTD3Actor",
    "check_spaces",
    "resolve_specs",
]
