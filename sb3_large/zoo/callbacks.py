"""The callbacks a search's trials need, by the dotted paths YAML entries name them with.

A trial's policy may have OFENet and observation normalization or not: its entry lists OFENet's trainer and the
observation-statistics updater exactly when it needs them. While a search runs, one callback list serves every
trial, so it holds the ``Optional*`` versions, which idle when the policy has nothing for them to do.
"""

from collections.abc import Mapping
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from sb3_large.normalization import ObsNormUpdater, RunningObsNorm
from sb3_large.ofenet import OFENet, OFENetTrainer

OFENET_TRAINER = "sb3_large.ofenet.OFENetTrainer"
OBS_NORM_UPDATER = "sb3_large.normalization.ObsNormUpdater"
OPTIONAL_OFENET_TRAINER = "sb3_large.zoo.callbacks.OptionalOFENetTrainer"
OPTIONAL_OBS_NORM_UPDATER = "sb3_large.zoo.callbacks.OptionalObsNormUpdater"
# Where earlier versions wrote them from (``sb3_large.zoo_search`` still imports them, for entries that name these).
OLD_OPTIONAL = ("sb3_large.zoo_search.OptionalOFENetTrainer", "sb3_large.zoo_search.OptionalObsNormUpdater")
# The callbacks a trial's policy needs; the search attaches them itself, so an entry's own copies are replaced.
OURS = (OFENET_TRAINER, OBS_NORM_UPDATER, OPTIONAL_OFENET_TRAINER, OPTIONAL_OBS_NORM_UPDATER, *OLD_OPTIONAL)


def _callback_name(entry) -> str:
    return next(iter(entry)) if isinstance(entry, Mapping) else entry


def callbacks_without_ours(callbacks) -> list:
    """An entry's ``callback`` value as a list, minus the OFENet trainers and observation-statistics updaters that
    the search attaches to the trials whose policy needs them."""
    if callbacks is None:
        return []
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    return [c for c in callbacks if _callback_name(c) not in OURS]


def callbacks_for(policy_kwargs: Mapping[str, Any]) -> list[str]:
    """The callbacks a large policy with these kwargs needs: OFENet's trainer, the observation-statistics updater."""
    callbacks = [OFENET_TRAINER] if policy_kwargs.get("ofenet_kwargs") is not None else []
    return callbacks + ([OBS_NORM_UPDATER] if policy_kwargs.get("normalize_obs") else [])


def with_callbacks(entry: dict[str, Any], callbacks: list | None) -> dict[str, Any]:
    """``entry`` with ``callbacks`` as its ``callback`` list, or with no ``callback`` key when there are none."""
    if callbacks:
        entry["callback"] = callbacks
    else:
        entry.pop("callback", None)
    return entry


class _IdleWithout(BaseCallback):
    """A callback of some part of the policy (the attribute ``PART``, of type ``KIND``) that idles without it."""

    PART: str
    KIND: type

    @property
    def active(self) -> bool:
        return isinstance(getattr(self.model.policy, self.PART, None), self.KIND)

    def _on_training_start(self) -> None:
        if self.active:
            super()._on_training_start()


class OptionalOFENetTrainer(_IdleWithout, OFENetTrainer):
    """``OFENetTrainer`` that idles when the policy has no OFENet: search trials with and without OFENet share
    one callback list."""

    PART, KIND = "ofenet", OFENet

    def _on_rollout_end(self) -> None:
        if self.active:
            super()._on_rollout_end()


class OptionalObsNormUpdater(_IdleWithout, ObsNormUpdater):
    """``ObsNormUpdater`` that idles when the policy does not normalize observations: search trials with and
    without it share one callback list."""

    PART, KIND = "obs_norm", RunningObsNorm

    def _on_step(self) -> bool:
        return super()._on_step() if self.active else True


__all__ = ["OptionalOFENetTrainer", "OptionalObsNormUpdater", "callbacks_for", "callbacks_without_ours"]
