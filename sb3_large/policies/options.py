"""A large policy's own options (beside SB3's), in one typed, frozen object, and the body specs they resolve to.

A new option is one field of ``PolicyOptions`` and its check in ``__post_init__``. A policy records its options
in full (``saved_kwargs``), so what a saved policy rebuilds never depends on the defaults of a later version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from sb3_large.checks import check_bool, check_choice, check_int
from sb3_large.networks import NetSpec
from sb3_large.networks.distributional import QDistributionConfig
from sb3_large.normalization import RunningObsNorm
from sb3_large.ofenet import OFENetConfig
from sb3_large.precision import PRECISIONS

BODY_FIELDS = NetSpec.field_names()
# Old names of policy kwargs, still accepted (models saved by sb3-large 0.1 carry them).
RENAMED = {"actor": "actor_net", "critic": "critic_net", "ofenet": "ofenet_kwargs"}
# What another architecture than a policy's default gets for the options tied to the default one.
OTHER_ARCH: Mapping[str, Any] = {"norm": None, "arch_kwargs": {}}


def _mapping_or_none(field_name: str, value: Any, what: str) -> None:
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{field_name}: must be a mapping of {what} or None, got {value!r}")


@dataclass(frozen=True)
class PolicyOptions:
    """Every option of a large policy that SB3's policies do not have; checked when made.

    The defaults are the recommended body (BENCHMARKS.md): a LayerNorm MLP, 256 wide, 2 layers, for the actor and
    the critics; naming another ``arch`` lets that architecture choose its ``norm``. ``PAPER`` holds the paper's
    (DenseNet 2048 x 2), the defaults of sb3-large 0.1.

    :param arch: registered architecture name (``mlp``, ``densenet``, ``d2rl``, ``residual``, ``simbav2`` or a plugin)
    :param width: layer width of the body
    :param depth: number of layers (or residual blocks)
    :param activation: activation name (``relu``, ``silu``/``swish``, ``elu``, ``tanh``, ...) or a ``nn.Module``
        class (SB3's ``activation_fn`` is the same option)
    :param norm: ``none``, ``layer``, ``batch`` or ``batch_renorm``; ``None`` lets the architecture choose
    :param arch_kwargs: extra options of the architecture
    :param actor_net: overrides of the options above for the actor only (old name: ``actor``)
    :param critic_net: overrides of the options above for the critics only (old name: ``critic``)
    :param net_arch: SB3 shorthand, ``[w] * d`` (or ``dict(pi=..., qf=...)``) sets ``width=max``, ``depth=len``
    :param ensemble_critics: run the twin critics as one stacked ensemble: same math, half the kernel launches
        (worth it on a GPU; on CPU the batched matmul's backward is slower than two plain ones, docs/speed.md)
    :param compile: ``torch.compile`` the actor body and the critics' forward passes (state dicts unchanged;
        the first updates pay the compilation, about a minute on a small CPU)
    :param ofenet_kwargs: ``None`` (no OFENet), or the settings of an OFENet (``sb3_large.ofenet.OFENetConfig``)
        whose features the actor (``z_s``) and critics (``z_sa``) read, trained by ``OFENetTrainer``
        (old name: ``ofenet``)
    :param q_distribution: ``None`` (scalar Q), or the settings of categorical critics
        (``sb3_large.networks.distributional.QDistributionConfig``: ``kind`` ``hl_gauss``/``two_hot``, ``bins``,
        ``low``, ``high``, ``transform``); ``sb3_large.SAC`` / ``TD3`` train them by cross-entropy, SB3's own
        algorithms by the squared error of their expectation (SAC and TD3 only)
    :param normalize_obs: the actor and critics read observations normalized by running statistics that the
        policy owns (``policy.obs_norm``, ``sb3_large.normalization.RunningObsNorm``), updated by
        ``ObsNormUpdater``
    :param obs_norm_kwargs: settings of that normalization (``clip``, default 10; ``epsilon``, default 1e-8)
    :param precision: ``"fp32"``, or ``"bf16"``: the bodies of the actor and of the Q networks run under bfloat16
        autocast (``sb3_large.precision``; weights, optimizer state, losses, the actor's heads and the Q networks'
        output layers stay float32), in whatever algorithm trains the policy, SB3's own included. Faster only
        with bfloat16 units (CPUs with avx512_bf16 / amx_bf16, recent GPUs); updates are close to float32's
    """

    arch: str = "mlp"
    width: int = 256
    depth: int = 2
    activation: str | type[nn.Module] = "relu"
    norm: str | None = "layer"
    arch_kwargs: Mapping[str, Any] = field(default_factory=dict)
    actor_net: Mapping[str, Any] | None = None
    critic_net: Mapping[str, Any] | None = None
    net_arch: list[int] | dict[str, list[int]] | None = None
    ensemble_critics: bool = False
    compile: bool = False
    ofenet_kwargs: Mapping[str, Any] | None = None
    q_distribution: Mapping[str, Any] | None = None
    normalize_obs: bool = False
    obs_norm_kwargs: Mapping[str, Any] | None = None
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if not isinstance(self.arch_kwargs, Mapping):
            raise TypeError(f"arch_kwargs: must be a mapping of the architecture's options, got {self.arch_kwargs!r}")
        check_bool("ensemble_critics", self.ensemble_critics)
        check_bool("compile", self.compile)
        check_choice("precision", self.precision, PRECISIONS)
        _mapping_or_none("ofenet_kwargs", self.ofenet_kwargs, "OFENet settings")
        _mapping_or_none("obs_norm_kwargs", self.obs_norm_kwargs, "settings")
        check_bool("normalize_obs", self.normalize_obs)
        if self.obs_norm_kwargs and not self.normalize_obs:
            raise ValueError("obs_norm_kwargs: given while normalize_obs is False; set normalize_obs=True")
        if self.normalize_obs:  # bad settings fail here, before SB3 builds anything
            RunningObsNorm.from_kwargs(1, self.obs_norm_kwargs)
        # The settings objects check their own fields, naming them.
        self.ofenet_config()
        self.q_distribution_config()

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def take(
        cls, kwargs: dict[str, Any], defaults: PolicyOptions, other_arch: Mapping[str, Any] = OTHER_ARCH
    ) -> PolicyOptions:
        """Remove this object's options (old names and SB3's ``activation_fn`` included) from a policy's
        ``kwargs``, and return them over ``defaults``; SB3's options stay in ``kwargs``.

        ``norm`` and ``arch_kwargs`` belong to the default architecture: where ``kwargs`` name another ``arch``,
        those not given come from ``other_arch`` (by default the architecture's own choice).
        """
        given = {name: kwargs.pop(name) for name in cls.names() if name in kwargs}
        if given.get("arch", defaults.arch) != defaults.arch:
            given = {**other_arch, **given}
        for old, name in RENAMED.items():
            if old in kwargs:
                if given.get(name) is not None:
                    raise TypeError(f"policy_kwargs: {old!r} is the old name of {name!r}; give only {name!r}")
                given[name] = kwargs.pop(old)
        activation_fn = kwargs.pop("activation_fn", None)
        if activation_fn is not None:
            given["activation"] = activation_fn
        return dataclasses.replace(defaults, **given)

    def body(self) -> dict[str, Any]:
        """The body options shared by the actor and the critics."""
        return dict(
            arch=self.arch,
            width=self.width,
            depth=self.depth,
            activation=self.activation,
            norm=self.norm,
            arch_kwargs=dict(self.arch_kwargs),
        )

    def specs(self) -> tuple[NetSpec, NetSpec]:
        """The actor's and the critics' bodies: shared options, then ``net_arch``, then the per-network overrides."""
        return resolve_specs(self.body(), self.actor_net, self.critic_net, self.net_arch)

    def ofenet_config(self) -> OFENetConfig | None:
        return None if self.ofenet_kwargs is None else OFENetConfig.from_kwargs(dict(self.ofenet_kwargs))

    def q_distribution_config(self) -> QDistributionConfig | None:
        return None if self.q_distribution is None else QDistributionConfig.from_kwargs(self.q_distribution)

    def saved_kwargs(self) -> dict[str, Any]:
        """Policy kwargs that rebuild exactly these options under any version's defaults (settings objects in
        their full form; ``precision`` written only when on, so that a model without it still loads in versions
        that predate the option)."""
        ofenet, q_distribution = self.ofenet_config(), self.q_distribution_config()
        saved = {
            **self.body(),
            "actor_net": self.actor_net,
            "critic_net": self.critic_net,
            "net_arch": self.net_arch,
            "ensemble_critics": self.ensemble_critics,
            "compile": self.compile,
            "ofenet_kwargs": None if ofenet is None else ofenet.as_kwargs(),
            "q_distribution": None if q_distribution is None else q_distribution.as_kwargs(),
            "normalize_obs": self.normalize_obs,
            "obs_norm_kwargs": None if self.obs_norm_kwargs is None else dict(self.obs_norm_kwargs),
        }
        return saved if self.precision == "fp32" else {**saved, "precision": self.precision}


# The paper's bodies (Ota et al. 2021): DenseNet 2048 x 2, the architecture's own normalization (none).
PAPER = PolicyOptions(arch="densenet", width=2048, norm=None)


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


def _from_net_arch(net_arch: list[int], field: str = "net_arch") -> dict[str, Any]:
    # SB3 / RL Zoo shorthand (``--optimize`` samples e.g. [400, 300]): our bodies have one width.
    if not isinstance(net_arch, (list, tuple)) or not net_arch:
        raise ValueError(f"{field}: expected a non-empty list of layer widths, got {net_arch!r}")
    widths = [check_int(f"{field}[{idx}]", width) for idx, width in enumerate(net_arch)]
    return {"width": max(widths), "depth": len(widths)}


def resolve_specs(
    body: Mapping[str, Any],
    actor_net: Mapping[str, Any] | None,
    critic_net: Mapping[str, Any] | None,
    net_arch: list[int] | dict[str, list[int]] | None,
) -> tuple[NetSpec, NetSpec]:
    """Shared body options, then SB3's ``net_arch`` shorthand, then the per-network overrides."""
    _spec("policy_kwargs", body)  # blame a bad shared option on itself, not on the first network using it
    actor_values, critic_values = dict(body), dict(body)
    if isinstance(net_arch, Mapping):
        actor_values.update(_from_net_arch(net_arch.get("pi", []), "net_arch.pi"))
        critic_values.update(_from_net_arch(net_arch.get("qf", []), "net_arch.qf"))
    elif net_arch is not None:
        actor_values.update(_from_net_arch(net_arch))
        critic_values.update(_from_net_arch(net_arch))
    return (
        _spec("actor_net", _override("actor_net", actor_values, actor_net)),
        _spec("critic_net", _override("critic_net", critic_values, critic_net)),
    )
