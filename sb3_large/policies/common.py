"""The policy mixin every large-network policy shares: our options in, SB3's actor-critic policy built around them.

SB3's policies build their networks in ``make_actor`` / ``make_critic``. ``LargePolicyMixin`` overrides both:
the critics are ours (``LargeCritic``), built directly; the actors are SB3's own with ``net_arch=[]`` (only
the output heads, sized for our body) and our body in the slot SB3 leaves empty. SB3's algorithms (losses,
gSDE, target networks, saving) then work unchanged.
"""

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch as th
from gymnasium import spaces
from sb3_contrib import TQC, CrossQ
from sb3_contrib.crossq.policies import CrossQPolicy
from sb3_contrib.tqc.policies import TQCPolicy
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim, get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

from sb3_large.checks import check_choice
from sb3_large.networks.layers import BatchRenorm
from sb3_large.networks.simbav2 import register_projection
from sb3_large.normalization import UPDATER_HINT, NormalizedFeatures, RunningObsNorm
from sb3_large.ofenet import OFENet, OFENetStateFeatures
from sb3_large.policies.checks import check_features_extractor, check_optimizer, check_spaces
from sb3_large.policies.critic import LargeCritic, compile_forward
from sb3_large.policies.options import OTHER_ARCH, PolicyOptions
from sb3_large.precision import PRECISIONS

FUSED_ADAM = (th.optim.Adam, th.optim.AdamW)
# The SB3 policy each algorithm's train() is written for (DDPG and sb3_large's learners subclass these algorithms).
# SB3 never compares a policy class with its algorithm (nor tells the policy which algorithm builds it): another
# algorithm's policy builds, then fails in _setup_model or train(). The launcher checks before RL Zoo starts.
POLICY_BASES: dict[type[BaseAlgorithm], type[BasePolicy]] = {
    SAC: SACPolicy,
    TD3: TD3Policy,
    TQC: TQCPolicy,
    CrossQ: CrossQPolicy,
}
# Attributes one algorithm's _create_aliases reads from its policy that another algorithm's policy lacks: where
# SB3 first meets a policy of another algorithm, before anything trains.
ALIASES_OF = {"actor_target": "TD3 and DDPG", "critic_target": "SAC, TD3, DDPG and TQC"}
TRAINER_HINT = (
    "pass callback=sb3_large.ofenet.OFENetTrainer() to learn() "
    "(RL Zoo: add `callback: [sb3_large.ofenet.OFENetTrainer]` to the YAML entry)"
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


if TYPE_CHECKING:
    # For the type checker only: the mixin always goes in front of an SB3 actor-critic policy class.
    _PolicyBase = BasePolicy
else:
    _PolicyBase = object


class LargePolicyMixin(_PolicyBase):
    """Builds a policy's networks from its ``PolicyOptions`` (``sb3_large.policies.options``); every other kwarg
    is the SB3 policy's own.

    Used as ``class LargeSACPolicy(LargePolicyMixin, SACPolicy)`` with ``actor_class`` set (and ``critic_class``
    where the critic is not ``LargeCritic``). A policy class's defaults are ``option_defaults``: the recommended
    body unless a class says otherwise. The policy records its options in full, so a saved policy rebuilds the
    same networks under any later defaults.

    Without ``optimizer_kwargs``, Adam and AdamW run fused (``fused=True``); pass ``optimizer_kwargs={}`` for
    PyTorch's default implementation.
    """

    actor_class: type[nn.Module]
    critic_class: type[LargeCritic] = LargeCritic
    option_defaults = PolicyOptions()
    other_arch_defaults: Mapping[str, Any] = OTHER_ARCH  # ``norm`` and ``arch_kwargs`` under another ``arch``
    precisions: tuple[str, ...] = PRECISIONS  # the values of ``precision`` this policy's networks support
    # Set by SB3's policy classes.
    actor_kwargs: dict[str, Any]
    critic_kwargs: dict[str, Any]
    actor: Any
    critic: Any
    ofenet: OFENet | None
    obs_norm: RunningObsNorm | None

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule, **kwargs):
        check_spaces(observation_space, action_space)
        check_features_extractor(observation_space, kwargs)
        self.options = PolicyOptions.take(kwargs, self.option_defaults, self.other_arch_defaults)
        check_choice("precision", self.options.precision, self.precisions)
        self._check_sb3_kwargs(kwargs)
        check_optimizer(kwargs)
        if kwargs.get("optimizer_kwargs") is None and kwargs.get("optimizer_class", th.optim.Adam) in FUSED_ADAM:
            # One kernel per step instead of a dozen per parameter tensor: the Adam step of a 2048-wide
            # policy is memory-bound, and at width 256 its Python loop costs as much as the matmuls.
            kwargs["optimizer_kwargs"] = {"fused": True}
        # Set before SB3's __init__, which builds the networks through _build / make_actor / make_critic.
        self.actor_spec, self.critic_spec = self.options.specs()
        self.ofenet_config = self.options.ofenet_config()
        self.q_distribution = self.options.q_distribution_config()
        super().__init__(observation_space, action_space, lr_schedule, net_arch=[], **kwargs)  # type: ignore[call-arg]

    @property
    def precision(self) -> str:
        return self.options.precision

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)  # type: ignore[misc]
        except AttributeError:
            if name not in ALIASES_OF:
                raise
            owner = next((algo for algo, base in POLICY_BASES.items() if isinstance(self, base)), None)
            what = f"a policy of {owner.__name__}" if owner is not None else "not a policy of these algorithms"
            zoo = f"; in RL Zoo, run its YAML entry with --algo {owner.__name__.lower()}" if owner is not None else ""
            raise AttributeError(
                f"policy: {type(self).__name__} is {what} and has no {name!r}, which {ALIASES_OF[name]} read: "
                f"give the algorithm its own policy (alias 'LargeMlpPolicy'){zoo}"
            ) from None

    def _check_sb3_kwargs(self, kwargs: dict[str, Any]) -> None:
        # A typo in a YAML's policy_kwargs should name the field and the choices, not fail in SB3's __init__.
        taken = ("self", "observation_space", "action_space", "lr_schedule", "net_arch", "activation_fn", "kwargs")
        sb3_options = [n for n in inspect.signature(super().__init__).parameters if n not in taken]
        unknown = sorted(set(kwargs) - set(sb3_options))
        if unknown:
            raise TypeError(
                f"policy_kwargs: unknown option {unknown[0]!r} for {type(self).__name__}; "
                f"allowed: {', '.join(PolicyOptions.names() + tuple(sb3_options))}"
            )

    def _build(self, lr_schedule) -> None:
        # Runs inside SB3's __init__, after nn.Module's: the OFENet and the observation statistics must exist
        # before the networks that read them.
        obs_dim = get_flattened_obs_dim(self.observation_space)
        self.obs_norm = (
            RunningObsNorm.from_kwargs(obs_dim, self.options.obs_norm_kwargs) if self.options.normalize_obs else None
        )
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
        if self.options.compile:
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
            ensemble=self.options.ensemble_critics,
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
        return {**data, **self.options.saved_kwargs()}


__all__ = ["FUSED_ADAM", "LargeCritic", "LargePolicyMixin", "check_algorithm"]
