"""What a search samples: each searchable RL Zoo algorithm's settings (``ALGORITHMS``) and the ``SearchSpace``."""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from sb3_large.checks import check_keys, is_int
from sb3_large.networks.distributional import QDistributionConfig
from sb3_large.normalization import RunningObsNorm
from sb3_large.ofenet import OFENetConfig
from sb3_large.policies.options import RENAMED


@dataclass(frozen=True)
class SearchedAlgorithm:
    """What the search samples for one RL Zoo algorithm, beyond the shared body and RL Zoo's usual knobs.

    :param policies: dotted paths of the policy without and with OFENet
    :param targets: has target networks: ``tau`` (Polyak) is sampled
    :param categorical_critics: the learner RL Zoo runs trains ``q_distribution`` critics by cross-entropy
    :param action_noise: TD3's ``noise_type`` / ``noise_std`` are sampled
    :param quantiles: TQC's ``n_quantiles`` / ``top_quantiles_to_drop_per_net`` are sampled
    :param policy_delay: CrossQ's ``policy_delay`` is sampled
    :param space: this algorithm's defaults of ``SearchSpace`` fields
    """

    policies: tuple[str, str]
    targets: bool = True
    categorical_critics: bool = False
    action_noise: bool = False
    quantiles: bool = False
    policy_delay: bool = False
    space: Mapping[str, Any] = field(default_factory=dict)

    def sampled_policy_kwargs(self) -> set[str]:
        """Every policy kwarg a trial sets, under each name the policies accept for it."""
        names = {
            *("arch", "width", "depth", "activation", "norm", "arch_kwargs"),
            *("actor_net", "critic_net", "net_arch", "activation_fn"),
            *("ofenet_kwargs", "normalize_obs", "obs_norm_kwargs", "q_distribution"),
        }
        names |= {old for old, new in RENAMED.items() if new in names}
        return names | ({"n_quantiles"} if self.quantiles else set())


ALGORITHMS = {
    "sac": SearchedAlgorithm(
        ("sb3_large.policies.LargeSACPolicy", "sb3_large.policies.OFENetSACPolicy"), categorical_critics=True
    ),
    "td3": SearchedAlgorithm(
        ("sb3_large.policies.LargeTD3Policy", "sb3_large.policies.OFENetTD3Policy"),
        categorical_critics=True,
        action_noise=True,
    ),
    "tqc": SearchedAlgorithm(
        ("sb3_large.policies.LargeTQCPolicy",) * 2, quantiles=True, space={"q_distribution": (False,)}
    ),
    # CrossQ's bodies are batch renormalized (residual normalizes itself and takes no batch norm).
    "crossq": SearchedAlgorithm(
        ("sb3_large.policies.LargeCrossQPolicy",) * 2,
        targets=False,
        policy_delay=True,
        space={
            "archs": ("mlp", "densenet", "d2rl"),
            "norms": ("batch_renorm", "none"),
            "q_distribution": (False,),
        },
    ),
}


def searched_algorithm(algo: str) -> SearchedAlgorithm:
    """The search's settings for an RL Zoo algorithm name; a ValueError naming the searchable ones otherwise."""
    if algo not in ALGORITHMS:
        raise ValueError(
            f"algo: {algo!r} has no large-network sampler; allowed: {', '.join(ALGORITHMS)} "
            "(search other algorithms with stock python -m rl_zoo3.train -optimize)"
        )
    return ALGORITHMS[algo]


def _int_range(name: str, value, low: int = 1) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(is_int(v) for v in value):
        raise ValueError(f"search_space.{name}: must be [low, high] integers, got {value!r}")
    if not low <= value[0] <= value[1]:
        raise ValueError(f"search_space.{name}: need {low} <= low <= high, got {list(value)}")
    return int(value[0]), int(value[1])


def _width_range(name: str, value) -> tuple[int, int]:
    widths = _int_range(name, value)
    if any(w & (w - 1) for w in widths):
        raise ValueError(f"search_space.{name}: low and high must be powers of two, got {list(widths)}")
    return widths


def _choices(name: str, value, allowed: tuple | None = None) -> tuple:
    if isinstance(value, (str, bool)) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"search_space.{name}: must be a non-empty list, got {value!r}")
    if allowed is not None:
        for item in value:
            if item not in allowed:
                raise ValueError(f"search_space.{name}: {item!r} is not allowed; allowed: {list(allowed)}")
    return tuple(value)


@dataclass(frozen=True)
class SearchSpace:
    """The large-network options a search samples; ``[low, high]`` ranges are inclusive.

    The actor's and the critics' widths are sampled apart, each from ``actor_widths`` / ``critic_widths``
    (default: ``widths``). ``SearchSpace.from_kwargs(values, algo)`` starts from that algorithm's defaults
    (CrossQ: batch-renormalized bodies; TQC, CrossQ: no categorical critics).

    :param archs: architectures to try (registered names)
    :param widths: ``[low, high]`` layer width, powers of two, sampled on a log scale
    :param actor_widths: ``[low, high]`` the actor's width (``None``: ``widths``)
    :param critic_widths: ``[low, high]`` the critics' width (``None``: ``widths``)
    :param depths: ``[low, high]`` number of layers (residual blocks)
    :param activations: activation names to try
    :param norms: ``none`` / ``layer`` / ``batch`` / ``batch_renorm``; every one must suit every arch and the
        algorithm (``residual`` takes no batch norm; ``batch_renorm`` only under CrossQ, which has no targets)
    :param ofenet: which of ``[false, true]`` to try for "OFENet features under the body"
    :param ofenet_layers: ``[low, high]`` DenseNet layers of each OFENet network
    :param ofenet_growth: ``[low, high]`` units per OFENet layer
    :param replay_ratios: gradient steps per env step to try (``gradient_steps = train_freq * ratio``)
    :param normalize_obs: which of ``[false, true]`` to try for running observation normalization
    :param q_distribution: which of ``[false, true]`` to try for categorical critics (SAC, TD3)
    :param ofenet_kwargs: fixed OFENet settings of every trial that has one (``pretrain_steps``, ``predict_dims``...)
    :param obs_norm_kwargs: fixed observation-normalization settings of every trial that has it (``clip``...)
    :param q_distribution_kwargs: fixed settings of every trial's categorical critics (``bins``, ``kind``...)
    :param policy_kwargs: fixed policy kwargs of every trial (``ensemble_critics``, ``optimizer_kwargs``...)
    """

    archs: tuple[str, ...] = ("mlp", "densenet", "d2rl", "residual")
    widths: tuple[int, int] = (64, 2048)
    actor_widths: tuple[int, int] | None = None
    critic_widths: tuple[int, int] | None = None
    depths: tuple[int, int] = (1, 4)
    activations: tuple[str, ...] = ("relu", "swish", "elu")
    norms: tuple[str, ...] = ("none", "layer")
    ofenet: tuple[bool, ...] = (False, True)
    ofenet_layers: tuple[int, int] = (2, 8)
    ofenet_growth: tuple[int, int] = (16, 64)
    replay_ratios: tuple[int, ...] = (1, 2)
    normalize_obs: tuple[bool, ...] = (False, True)
    q_distribution: tuple[bool, ...] = (False, True)
    ofenet_kwargs: Mapping[str, Any] = field(default_factory=dict)
    obs_norm_kwargs: Mapping[str, Any] = field(default_factory=dict)
    q_distribution_kwargs: Mapping[str, Any] = field(default_factory=dict)
    policy_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalise lists from YAML into tuples once, here
        set_(self, "archs", _choices("archs", self.archs))
        set_(self, "activations", _choices("activations", self.activations))
        set_(self, "norms", _choices("norms", self.norms))
        for name in ("ofenet", "normalize_obs", "q_distribution"):
            set_(self, name, _choices(name, getattr(self, name), (False, True)))
        replay_ratios = _choices("replay_ratios", self.replay_ratios)
        if not all(is_int(r) and r >= 1 for r in replay_ratios):
            raise ValueError(f"search_space.replay_ratios: must be positive integers, got {list(replay_ratios)}")
        set_(self, "replay_ratios", tuple(int(r) for r in replay_ratios))  # numpy integers as Optuna's choices
        for name in ("depths", "ofenet_layers", "ofenet_growth"):
            set_(self, name, _int_range(name, getattr(self, name)))
        set_(self, "widths", _width_range("widths", self.widths))
        for name in ("actor_widths", "critic_widths"):
            if getattr(self, name) is not None:
                set_(self, name, _width_range(name, getattr(self, name)))
        self._check_fixed_settings()

    def _check_fixed_settings(self) -> None:
        """The fixed kwargs: mappings, none of them a sampled one, each accepted by what it configures."""
        for name in ("ofenet_kwargs", "obs_norm_kwargs", "q_distribution_kwargs", "policy_kwargs"):
            if not isinstance(getattr(self, name), Mapping):
                raise ValueError(f"search_space.{name}: must be a mapping, got {getattr(self, name)!r}")
        for name in ("layers", "growth"):
            if name in self.ofenet_kwargs:
                raise ValueError(f"search_space.ofenet_kwargs.{name}: sampled; set search_space.ofenet_{name} instead")
        OFENetConfig.from_kwargs(dict(self.ofenet_kwargs))
        RunningObsNorm.from_kwargs(1, dict(self.obs_norm_kwargs))
        QDistributionConfig.from_kwargs(self.q_distribution_kwargs)

    @classmethod
    def from_kwargs(cls, values: Mapping[str, Any] | None, algo: str | None = None) -> "SearchSpace":
        """A space from ``search_space`` options; with ``algo``, unset options take that algorithm's defaults."""
        values = check_keys("search_space", values, (f.name for f in fields(cls)))
        defaults = {} if algo is None else dict(searched_algorithm(algo).space)
        return cls(**{**defaults, **values})


__all__ = ["ALGORITHMS", "SearchSpace", "SearchedAlgorithm", "searched_algorithm"]
