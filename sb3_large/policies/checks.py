"""Checks of a large policy's spaces and of the SB3 options it passes on, before anything is built."""

from collections.abc import Mapping
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
)

from sb3_large.checks import check_int

OBSERVATION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


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
