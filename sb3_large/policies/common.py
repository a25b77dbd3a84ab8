"""What every large-network policy shares: policy kwargs -> body specs, the Q critics, the policy mixin.

SB3's policies build their networks in ``make_actor`` / ``make_critic``. ``LargePolicyMixin`` overrides both:
the critics are ours (``LargeCritic``), built directly; the actors are SB3's own with ``net_arch=[]`` (only
the output heads, sized for our body) and our body in the slot SB3 leaves empty. SB3's algorithms (losses,
gSDE, target networks, saving) then work unchanged.
"""

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import torch as th
from gymnasium import spaces
from sb3_contrib import TQC, CrossQ
from sb3_contrib.crossq.policies import CrossQPolicy
from sb3_contrib.tqc.policies import TQCPolicy
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BaseModel, BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim, get_flattened_obs_dim, is_image_space
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
)
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

from sb3_large.checks import check_bool, check_choice, check_int
from sb3_large.networks import NetSpec, build
from sb3_large.networks.distributional import QDistribution, QDistributionConfig
from sb3_large.networks.ensemble import (
    EnsembleMember,
    NotStackable,
    QEnsemble,
    convert_optimizer_state,
    stack_state_dict,
)
from sb3_large.networks.layers import BatchRenorm, Float32Linear
from sb3_large.networks.simbav2 import register_projection
from sb3_large.normalization import UPDATER_HINT, NormalizedFeatures, RunningObsNorm
from sb3_large.ofenet import OFENet, OFENetConfig, OFENetStateFeatures
from sb3_large.precision import PRECISIONS, low_precision

BODY_FIELDS = NetSpec.field_names()
FUSED_ADAM = (th.optim.Adam, th.optim.AdamW)
OBSERVATION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
# Key of the critic form (stacked or separate, number of critics) in the critic optimizer's state dict.
OPTIMIZER_LAYOUT = "sb3_large_critic_layout"
# Old names of policy kwargs, still accepted (models saved by sb3-large 0.1 carry them).
RENAMED = {"actor": "actor_net", "critic": "critic_net", "ofenet": "ofenet_kwargs"}
# The SB3 policy each algorithm's train() is written for (DDPG and sb3_large's learners subclass these algorithms).
# SB3 never compares a policy class with its algorithm (nor tells the policy which algorithm builds it): another
# algorithm's policy builds, then fails in _setup_model or train(). The launcher checks before RL Zoo starts.
POLICY_BASES: dict[type[BaseAlgorithm], type[BasePolicy]] = {
    SAC: SACPolicy,
    TD3: TD3Policy,
    TQC: TQCPolicy,
    CrossQ: CrossQPolicy,
}
TRAINER_HINT = (
    "pass callback=sb3_large.ofenet.OFENetTrainer() to learn() "
    "(RL Zoo: add `callback: [sb3_large.ofenet.OFENetTrainer]` to the YAML entry)"
)


def check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """Refuse what the vector bodies cannot consume, before any layer is built.

    Observations are what SB3's ``MlpPolicy`` takes: Box (flattened), Discrete, MultiDiscrete (one-hot) and
    MultiBinary, preprocessed by SB3's ``preprocess_obs``.
    """
    if not isinstance(observation_space, OBSERVATION_SPACES):
        raise ValueError(
            f"observation_space: {type(observation_space).__name__} is not supported; large policies take Box, "
            "Discrete, MultiDiscrete or MultiBinary observations (flatten Dict observations with "
            "gymnasium.wrappers.FlattenObservation)"
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


def check_algorithm(policy_class: type[BasePolicy], algorithm: type[BaseAlgorithm]) -> None:
    """Refuse a policy built for another algorithm than ``algorithm`` (SAC, TD3, DDPG, TQC, CrossQ and their
    subclasses; other algorithms are not checked), naming both and the large policies ``algorithm`` takes."""
    needed = next((base for algo, base in POLICY_BASES.items() if issubclass(algorithm, algo)), None)
    if needed is None or issubclass(policy_class, needed):
        return
    owner = next((algo for algo, base in POLICY_BASES.items() if issubclass(policy_class, base)), None)
    what = f"a policy of {owner.__name__}" if owner is not None else f"not a {needed.__name__}"
    large = [(name, cls) for name, cls in algorithm.policy_aliases.items() if issubclass(cls, LargePolicyMixin)]
    allowed = ", ".join(f"{cls.__name__} (alias {name!r})" for name, cls in large) or f"{needed.__name__} subclasses"
    zoo = f"; in RL Zoo, run its YAML entry with --algo {owner.__name__.lower()}" if owner is not None else ""
    raise TypeError(
        f"policy: {policy_class.__name__} is {what} and cannot be trained by {algorithm.__name__}; "
        f"allowed for {algorithm.__name__}: {allowed}{zoo}"
    )


def check_optimizer(kwargs: Mapping[str, Any]) -> None:
    """SB3's critic and optimizer kwargs, checked before SB3 passes them to torch."""
    if "n_critics" in kwargs:
        check_int("n_critics", kwargs["n_critics"])
    optimizer_class = kwargs.get("optimizer_class", th.optim.Adam)
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, th.optim.Optimizer)):
        raise TypeError(
            "optimizer_class: must be a torch.optim.Optimizer subclass (e.g. torch.optim.Adam), "
            f"got {optimizer_class!r}"
        )
    optimizer_kwargs = kwargs.get("optimizer_kwargs")
    if optimizer_kwargs is not None and not isinstance(optimizer_kwargs, Mapping):
        raise TypeError(f"optimizer_kwargs: must be a mapping or None, got {optimizer_kwargs!r}")
    if optimizer_kwargs and "lr" in optimizer_kwargs:
        raise ValueError(
            "optimizer_kwargs: 'lr' is set from the algorithm's learning_rate; pass learning_rate= instead"
        )
    if optimizer_kwargs:
        # Built once on a stand-in parameter as SB3 will build it: torch checks its settings when an optimizer is
        # built (``fused`` with ``foreach``, unknown names, bad betas), after SB3 has built the networks.
        try:
            optimizer_class([th.zeros(1, requires_grad=True)], **{"lr": 1e-3, **optimizer_kwargs})
        except (TypeError, ValueError, RuntimeError) as exc:
            name = f"{optimizer_class.__module__}.{optimizer_class.__qualname__}"
            raise ValueError(f"optimizer_kwargs: {name} refuses {dict(optimizer_kwargs)!r}: {exc}") from None


def check_features_extractor(observation_space: spaces.Space, kwargs: Mapping[str, Any]) -> None:
    """SB3's ``features_extractor_class``, checked against the observations before SB3 builds it."""
    extractor = kwargs.get("features_extractor_class", FlattenExtractor)
    if not (isinstance(extractor, type) and issubclass(extractor, BaseFeaturesExtractor)):
        raise TypeError(
            "features_extractor_class: must be a stable_baselines3 BaseFeaturesExtractor subclass "
            f"(default FlattenExtractor), got {extractor!r}"
        )
    if issubclass(extractor, NatureCNN) and not is_image_space(observation_space, check_channels=False):
        raise ValueError(
            f"features_extractor_class: {extractor.__name__} reads images (a uint8 Box of shape (channels, height, "
            f"width)), got observations {observation_space}; allowed here: FlattenExtractor (the default) or an "
            "extractor of vector observations"
        )
    if issubclass(extractor, CombinedExtractor) and not isinstance(observation_space, spaces.Dict):
        raise ValueError(
            f"features_extractor_class: {extractor.__name__} reads Dict observations, got {observation_space}; "
            "allowed here: FlattenExtractor (the default) or an extractor of vector observations"
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


class LargeCritic(BaseModel):
    """``n_critics`` Q networks, each a large body with a linear output of ``out_dim``.

    The Q networks read ``concat(features, action)``, or OFENet's ``z_sa`` when an ``ofenet`` is given
    (called, not owned: the policy owns it). The input is computed once for all Q networks. With a
    ``q_distribution``, each Q network outputs logits over its bins (``logits``), and ``forward`` their
    expectation, so SB3's code that reads Q values works unchanged. With
    ``ensemble=True`` the Q networks are built as separate networks, then stacked into one ``QEnsemble``
    (``sb3_large.networks.ensemble``): same initial weights and math, one batched matmul per layer; a body with
    a layer that has no stacked version stays separate. Saved state dicts of either form load into both.
    With ``precision="bf16"`` the Q networks' bodies run under bfloat16 autocast; their output layers (Q values,
    logits) compute in float32 (``Float32Linear``), under any autocast.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        body: NetSpec,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = True,
        out_dim: int = 1,
        ensemble: bool = False,
        ofenet: OFENet | None = None,
        q_distribution: QDistributionConfig | None = None,
        precision: str = "fp32",
    ):
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        self.precision = check_choice("precision", precision, PRECISIONS)
        self.distribution = None if q_distribution is None else QDistribution(q_distribution)
        if q_distribution is not None:
            out_dim = q_distribution.bins
        self.share_features_extractor = share_features_extractor
        self.n_critics = n_critics
        self.state_action_features = None if ofenet is None else ofenet.state_action_features
        in_dim = features_dim + get_action_dim(action_space) if ofenet is None else ofenet.state_action_dim
        self.q_networks: list[nn.Module] = []
        for idx in range(n_critics):
            q_body, body_dim = build(body, in_dim)
            q_net = nn.Sequential(q_body, Float32Linear(body_dim, out_dim))
            self.add_module(f"qf{idx}", q_net)
            self.q_networks.append(q_net)
        self.q_ensemble: QEnsemble | None = None
        if ensemble:
            try:
                self.q_ensemble = QEnsemble(self.q_networks)
            except NotStackable:
                pass
        if self.q_ensemble is not None:
            for idx in range(n_critics):
                delattr(self, f"qf{idx}")
            self.q_networks = [EnsembleMember(self.q_ensemble, idx) for idx in range(n_critics)]
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

    def record_optimizer_layout(self, optimizer: th.optim.Optimizer, state_dict: dict) -> dict:
        """Optimizer state-dict post hook: say which critic form the saved state is laid out for."""
        state_dict[OPTIMIZER_LAYOUT] = {"stacked": self.q_ensemble is not None, "n_critics": self.n_critics}
        return state_dict

    def convert_optimizer_state(self, optimizer: th.optim.Optimizer, state_dict: dict) -> dict:
        """Optimizer pre-load hook: a state saved with the other critic form, rewritten for this one."""
        stacked = self.q_ensemble is not None
        n_stacked = len(list((self.q_ensemble or self.q_networks[0]).parameters()))
        n_leading = len(optimizer.param_groups[0]["params"]) - n_stacked * (1 if stacked else self.n_critics)
        layout = state_dict.pop(OPTIMIZER_LAYOUT, None)
        saved_stacked = self._saved_stacked(state_dict, n_leading) if layout is None else layout["stacked"]
        if saved_stacked == stacked:
            return state_dict
        return convert_optimizer_state(state_dict, self.n_critics, n_leading, n_stacked, stacked)

    def _saved_stacked(self, state_dict: dict, n_leading: int) -> bool:
        """For files that predate the recorded layout (sb3-large 0.1): read it from the saved moments' shapes.

        A stacked member parameter has one more dimension than a separate one (with one critic, the counts of
        the two forms are equal, and only the shapes tell them apart).
        """
        first = next(iter((self.q_ensemble or self.q_networks[0]).parameters()))
        separate_dim = first.dim() - (1 if self.q_ensemble is not None else 0)
        saved_id = state_dict["param_groups"][0]["params"][n_leading]
        moments = [v for v in state_dict["state"].get(saved_id, {}).values() if th.is_tensor(v) and v.dim() > 0]
        if not moments:  # nothing to convert: no step taken yet
            return self.q_ensemble is not None
        return moments[0].dim() == separate_dim + 1

    def q_input(self, features: th.Tensor, actions: th.Tensor) -> th.Tensor:
        if self.state_action_features is not None:
            return self.state_action_features(features, actions)
        return th.cat([features, actions], dim=1)

    def q_outputs(self, obs: th.Tensor, actions: th.Tensor, grad_features: bool) -> tuple[th.Tensor, ...]:
        """Each Q network's raw output: ``(batch, out_dim)``, logits with a ``q_distribution``."""
        with th.set_grad_enabled(grad_features and th.is_grad_enabled()):
            features = self.extract_features(obs, self.features_extractor)  # type: ignore[arg-type]
        return self.q_heads(self.q_input(features, actions))

    def q_heads(self, q_input: th.Tensor) -> tuple[th.Tensor, ...]:
        """Every Q network's raw output on its input (``q_input``'s result), e.g. on OFENet features computed once
        per update; ``q_values_of`` turns them into Q values."""
        with low_precision(q_input.device.type, self.precision):
            if self.q_ensemble is not None:
                return tuple(self.q_ensemble(q_input).unbind(0))
            return tuple(q_net(q_input) for q_net in self.q_networks)

    def q_bodies(self) -> list[nn.Module]:
        """The Q networks' bodies, without their output layers: the stacked one, or one per Q network."""
        # Each Q network (stacked or not) is nn.Sequential(body, output layer).
        if self.q_ensemble is not None:
            return [cast(nn.Sequential, self.q_ensemble.net)[0]]
        return [cast(nn.Sequential, q_net)[0] for q_net in self.q_networks]

    def q_values_of(self, outputs: tuple[th.Tensor, ...]) -> tuple[th.Tensor, ...]:
        """Q values ``(batch, 1)`` of the Q networks' raw outputs (``q_heads``): with a ``q_distribution`` their
        expectations, else the outputs themselves."""
        if self.distribution is None:
            return outputs
        return tuple(self.distribution.expectation(logits) for logits in outputs)

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        # As in SB3: a features extractor shared with the actor is trained by the actor loss only.
        return self.q_values_of(self.q_outputs(obs, actions, grad_features=not self.share_features_extractor))

    def logits(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        """Each Q network's logits over the bins of its ``q_distribution`` (what its loss is taken on)."""
        if self.distribution is None:
            raise RuntimeError("logits: this critic has no q_distribution; its forward() returns Q values")
        return self.q_outputs(obs, actions, grad_features=not self.share_features_extractor)

    def q1_forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        with th.no_grad():
            features = self.extract_features(obs, self.features_extractor)  # type: ignore[arg-type]
        return self.q1_head(self.q_input(features, actions))

    def q1_head(self, q_input: th.Tensor) -> th.Tensor:
        """The first Q network's Q value alone on its input (TD3's actor loss)."""
        with low_precision(q_input.device.type, self.precision):
            if self.q_ensemble is not None:
                output = self.q_ensemble(q_input, members=slice(0, 1))[0]
            else:
                output = self.q_networks[0](q_input)
        return output if self.distribution is None else self.distribution.expectation(output)


def compile_forward(network: nn.Module) -> None:
    """Compile a network's dense part in place: the critics' Q networks, the actor's body.

    The compiled functions replace bound methods, not modules, so parameter names (and saved files) do not
    change. The actor's distribution code stays eager: it would break the graph anyway.
    """
    if isinstance(network, LargeCritic):
        network.q_heads = th.compile(network.q_heads)  # type: ignore[method-assign]
        network.q1_head = th.compile(network.q1_head)  # type: ignore[method-assign]
        return
    # TD3's ``mu`` is ``Sequential(body, head...)``: its body alone, which a bf16 actor runs apart from the head.
    body = network.get_submodule("latent_pi" if hasattr(network, "latent_pi") else "mu.0")
    body.forward = th.compile(body.forward)  # type: ignore[method-assign]


if TYPE_CHECKING:
    # For the type checker only: the mixin always goes in front of an SB3 actor-critic policy class.
    _PolicyBase = BasePolicy
else:
    _PolicyBase = object


class LargePolicyMixin(_PolicyBase):
    """Turns the body kwargs into actor/critic specs and builds the policy's networks from them.

    Used as ``class LargeSACPolicy(LargePolicyMixin, SACPolicy)`` with ``actor_class`` set (and ``critic_class``
    where the critic is not ``LargeCritic``);
    every other kwarg is the SB3 policy's own.

    :param arch: registered architecture name (``mlp``, ``densenet``, ``d2rl``, ``residual``, ``simbav2`` or a plugin)
    :param width: layer width of the body
    :param depth: number of layers (or residual blocks)
    :param activation: activation name (``relu``, ``silu``/``swish``, ``elu``, ``tanh``, ...)
    :param norm: ``none``, ``layer``, ``batch`` or ``batch_renorm``; ``None`` lets the architecture choose
    :param arch_kwargs: extra options of the architecture
    :param actor_net: overrides of the options above for the actor only (old name: ``actor``)
    :param critic_net: overrides of the options above for the critics only (old name: ``critic``)
    :param net_arch: SB3 shorthand, ``[w] * d`` (or ``dict(pi=..., qf=...)``) sets ``width=max``, ``depth=len``
    :param activation_fn: SB3 shorthand for ``activation`` (a ``nn.Module`` class)
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
        output layers stay float32), in
        whatever algorithm trains the policy, SB3's own included. Faster only with bfloat16 units (CPUs with
        avx512_bf16 / amx_bf16, recent GPUs); updates are close to float32's, not equal

    Without ``optimizer_kwargs``, Adam and AdamW run fused (``fused=True``); pass ``optimizer_kwargs={}`` for
    PyTorch's default implementation.
    """

    actor_class: type[nn.Module]
    critic_class: type[LargeCritic] = LargeCritic
    precisions: tuple[str, ...] = PRECISIONS  # the values of ``precision`` this policy's networks support
    # Set by SB3's policy classes.
    actor_kwargs: dict[str, Any]
    critic_kwargs: dict[str, Any]
    actor: Any
    critic: Any
    ofenet: OFENet | None
    obs_norm: RunningObsNorm | None

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
        actor_net: Mapping[str, Any] | None = None,
        critic_net: Mapping[str, Any] | None = None,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] | None = None,
        ensemble_critics: bool = False,
        compile: bool = False,
        ofenet_kwargs: Mapping[str, Any] | None = None,
        q_distribution: Mapping[str, Any] | None = None,
        normalize_obs: bool = False,
        obs_norm_kwargs: Mapping[str, Any] | None = None,
        precision: str = "fp32",
        **kwargs,
    ):
        check_spaces(observation_space, action_space)
        check_features_extractor(observation_space, kwargs)
        renamed = self._take_old_names(kwargs, actor_net=actor_net, critic_net=critic_net, ofenet_kwargs=ofenet_kwargs)
        actor_net, critic_net, ofenet_kwargs = renamed["actor_net"], renamed["critic_net"], renamed["ofenet_kwargs"]
        self._check_sb3_kwargs(kwargs)
        check_optimizer(kwargs)
        if kwargs.get("optimizer_kwargs") is None and kwargs.get("optimizer_class", th.optim.Adam) in FUSED_ADAM:
            # One kernel per step instead of a dozen per parameter tensor: the Adam step of a 2048-wide
            # policy is memory-bound, and at width 256 its Python loop costs as much as the matmuls.
            kwargs["optimizer_kwargs"] = {"fused": True}
        if arch_kwargs is not None and not isinstance(arch_kwargs, Mapping):
            raise TypeError(f"arch_kwargs: must be a mapping of the architecture's options, got {arch_kwargs!r}")
        body = dict(
            arch=arch,
            width=width,
            depth=depth,
            activation=activation if activation_fn is None else activation_fn,
            norm=norm,
            arch_kwargs=dict(arch_kwargs or {}),
        )
        # Set before SB3's __init__, which builds the networks through _build / make_actor / make_critic.
        self.actor_spec, self.critic_spec = resolve_specs(body, actor_net, critic_net, net_arch)
        self.ensemble_critics = check_bool("ensemble_critics", ensemble_critics)
        self.compile_networks = check_bool("compile", compile)
        self.precision = check_choice("precision", precision, self.precisions)
        if ofenet_kwargs is not None and not isinstance(ofenet_kwargs, Mapping):
            raise TypeError(f"ofenet_kwargs: must be a mapping of OFENet settings or None, got {ofenet_kwargs!r}")
        self.ofenet_config = None if ofenet_kwargs is None else OFENetConfig.from_kwargs(dict(ofenet_kwargs))
        self.q_distribution = None if q_distribution is None else QDistributionConfig.from_kwargs(q_distribution)
        self.normalize_obs = check_bool("normalize_obs", normalize_obs)
        if obs_norm_kwargs is not None and not isinstance(obs_norm_kwargs, Mapping):
            raise TypeError(f"obs_norm_kwargs: must be a mapping of settings or None, got {obs_norm_kwargs!r}")
        if obs_norm_kwargs and not normalize_obs:
            raise ValueError("obs_norm_kwargs: given while normalize_obs is False; set normalize_obs=True")
        self.obs_norm_kwargs = None if obs_norm_kwargs is None else dict(obs_norm_kwargs)
        if normalize_obs:  # bad settings fail here, before SB3 builds anything
            RunningObsNorm.from_kwargs(1, self.obs_norm_kwargs)
        self.body_kwargs = {
            **body,
            "actor_net": actor_net,
            "critic_net": critic_net,
            "net_arch": net_arch,
            "ensemble_critics": ensemble_critics,
            "compile": compile,
            "ofenet_kwargs": None if self.ofenet_config is None else self.ofenet_config.as_kwargs(),
            "q_distribution": None if self.q_distribution is None else self.q_distribution.as_kwargs(),
            "normalize_obs": normalize_obs,
            "obs_norm_kwargs": self.obs_norm_kwargs,
            # Written only when on: a model without it still loads in versions that predate the option.
            **({} if precision == "fp32" else {"precision": precision}),
        }
        super().__init__(observation_space, action_space, lr_schedule, net_arch=[], **kwargs)  # type: ignore[call-arg]

    @staticmethod
    def _take_old_names(kwargs: dict[str, Any], **new: Any) -> dict[str, Any]:
        for old, name in RENAMED.items():
            if old in kwargs:
                if new[name] is not None:
                    raise TypeError(f"policy_kwargs: {old!r} is the old name of {name!r}; give only {name!r}")
                new[name] = kwargs.pop(old)
        return new

    def _check_sb3_kwargs(self, kwargs: dict[str, Any]) -> None:
        # A typo in a YAML's policy_kwargs should name the field and the choices, not fail in SB3's __init__.
        taken = ("self", "observation_space", "action_space", "lr_schedule", "net_arch", "activation_fn", "kwargs")
        sb3_options = [n for n in inspect.signature(super().__init__).parameters if n not in taken]
        unknown = sorted(set(kwargs) - set(sb3_options))
        if unknown:
            ours = [n for n in inspect.signature(LargePolicyMixin.__init__).parameters if n not in taken]
            raise TypeError(
                f"policy_kwargs: unknown option {unknown[0]!r} for {type(self).__name__}; "
                f"allowed: {', '.join(ours + sb3_options)}"
            )

    def _build(self, lr_schedule) -> None:
        # Runs inside SB3's __init__, after nn.Module's: the OFENet and the observation statistics must exist
        # before the networks that read them.
        obs_dim = get_flattened_obs_dim(self.observation_space)
        self.obs_norm = RunningObsNorm.from_kwargs(obs_dim, self.obs_norm_kwargs) if self.normalize_obs else None
        self.ofenet = None
        if self.ofenet_config is not None:
            self.ofenet = OFENet(obs_dim, get_action_dim(self.action_space), self.ofenet_config)
        super()._build(lr_schedule)  # type: ignore[misc]
        self._refuse_batch_renorm_in_targets()
        # Hyperspherical layers (``simbav2``) go back on the unit sphere after every step of their optimizer.
        for network in (self.actor, self.critic):
            register_projection(network.optimizer, network)
        # The critic optimizer's saved state says which critic form it holds, so that it loads into either.
        self.critic.optimizer.register_state_dict_post_hook(self.critic.record_optimizer_layout)
        self.critic.optimizer.register_load_state_dict_pre_hook(self.critic.convert_optimizer_state)
        if self.ofenet is not None and self.ofenet.config.joint:
            self.critic.optimizer.add_param_group({"params": list(self.ofenet.parameters())})
        if self.compile_networks:
            for name in ("actor", "actor_target", "critic", "critic_target"):
                if getattr(self, name, None) is not None:
                    compile_forward(getattr(self, name))

    def _new_features_extractor(self, trainable: bool) -> BaseFeaturesExtractor | None:
        """A network's own features extractor: OFENet's ``z_s`` and / or the observation normalization in front
        of it; ``None`` where SB3's default (``features_extractor_class``) is used as it is."""
        extractor: BaseFeaturesExtractor
        if self.ofenet is not None:
            extractor = OFENetStateFeatures(self.observation_space, self.ofenet, trainable=trainable)
        elif self.obs_norm is not None:
            extractor = self.make_features_extractor()
        else:
            return None
        if self.obs_norm is not None:
            extractor = NormalizedFeatures(self.observation_space, extractor, self.obs_norm)
        return extractor

    def _refuse_batch_renorm_in_targets(self) -> None:
        # SB3 copies only ``running_*`` buffers into target networks (and so do our learners); batch renorm keeps
        # its statistics in ``ra_*`` ones, so a target copy would normalize with its initial statistics forever.
        for target, field in (("actor_target", "actor_net"), ("critic_target", "critic_net")):
            network = getattr(self, target, None)
            if network is not None and any(isinstance(m, BatchRenorm) for m in network.modules()):
                raise ValueError(
                    f"{field}.norm: 'batch_renorm' cannot be used in a network with a target copy ({target}): its "
                    "statistics would never reach the target; allowed here: none, layer, batch (batch_renorm is "
                    "for CrossQ, which has no target networks)"
                )

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> Any:
        if features_extractor is None:
            features_extractor = self._new_features_extractor(trainable=False)
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return self.actor_class(body=self.actor_spec, precision=self.precision, **actor_kwargs).to(self.device)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> Any:
        if features_extractor is None:
            joint = self.ofenet is not None and self.ofenet.config.joint
            features_extractor = self._new_features_extractor(trainable=joint)
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        # Our Q networks replace SB3's net_arch / activation_fn.
        del critic_kwargs["net_arch"], critic_kwargs["activation_fn"]
        if self.q_distribution is not None:
            critic_kwargs["q_distribution"] = self.q_distribution
        critic = self.critic_class(
            body=self.critic_spec,
            ensemble=self.ensemble_critics,
            ofenet=self.ofenet,
            precision=self.precision,
            **critic_kwargs,
        )
        return critic.to(self.device)

    def set_training_mode(self, mode: bool) -> None:
        # SB3's train() starts with set_training_mode(True): the last moment to refuse an untrained OFENet.
        if mode and self.ofenet is not None and self.ofenet.untrained():
            raise RuntimeError(f"{type(self).__name__}: nothing trains its OFENet; {TRAINER_HINT}")
        if mode and self.obs_norm is not None and self.obs_norm.untrained():
            raise RuntimeError(
                f"{type(self).__name__}: normalize_obs=True, but its observation statistics were never updated; "
                f"{UPDATER_HINT}"
            )
        super().set_training_mode(mode)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.pop("activation_fn", None)  # folded into ``activation``
        return {**data, **self.body_kwargs}


__all__ = [
    "LargeCritic",
    "LargePolicyMixin",
    "check_algorithm",
    "check_features_extractor",
    "check_optimizer",
    "check_spaces",
    "compile_forward",
    "resolve_specs",
]
