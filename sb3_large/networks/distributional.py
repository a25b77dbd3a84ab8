"""Categorical value heads: a Q network outputs logits over fixed bins and is trained by cross-entropy.

Regression by classification ("Stop Regressing", Farebrother et al. 2024; DreamerV3; SimbaV2, BRO): the
scalar TD target is turned into a distribution over the bins (HL-Gauss: a Gaussian of ``sigma`` bin widths
integrated over each bin; two-hot: the two nearest bin centres) and the critic is trained on the
cross-entropy to it. The bins can live in symlog space (``sign(x) log(1 + |x|)``), so one support fits returns
of any scale without knowing them in advance.
"""

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch as th
from torch import nn

from sb3_large.checks import check_choice, check_int, check_keys, check_number

KINDS = ("hl_gauss", "two_hot")
TRANSFORMS = ("symlog", "none")
FLOAT32_MAX = float(np.finfo(np.float32).max)
# How far the support may reach, in its units, so that the Q value of every bin is a float32 number
# (symexp(88) is about 1.7e38).
SUPPORT_LIMITS = {"symlog": 88.0, "none": FLOAT32_MAX}


def symlog(x: th.Tensor) -> th.Tensor:
    return th.sign(x) * th.log1p(x.abs())


def symexp(x: th.Tensor) -> th.Tensor:
    return th.sign(x) * th.expm1(x.abs())


@dataclass(frozen=True)
class QDistributionConfig:
    """Settings of a categorical Q head, validated (each error names the ``q_distribution`` field).

    :param kind: ``hl_gauss`` or ``two_hot``: how a scalar target becomes a distribution over the bins
    :param bins: number of bins (the Q network's outputs)
    :param low: lower end of the support, in transformed units
    :param high: upper end of the support, in transformed units
    :param transform: ``symlog`` (bins over ``symlog(Q)``: [-10, 10] covers |Q| up to ~22000) or ``none``
    :param sigma: HL-Gauss standard deviation in bin widths (0.75 in the paper)
    """

    kind: str = "hl_gauss"
    bins: int = 101
    low: float = -10.0
    high: float = 10.0
    transform: str = "symlog"
    sigma: float = 0.75

    def __post_init__(self) -> None:
        check_choice("q_distribution.kind", self.kind, KINDS)
        check_choice("q_distribution.transform", self.transform, TRANSFORMS)
        check_int("q_distribution.bins", self.bins, minimum=2)
        check_number("q_distribution.low", self.low, minimum=-math.inf)
        check_number("q_distribution.high", self.high, minimum=-math.inf)
        check_number("q_distribution.sigma", self.sigma, inclusive=False)
        if not self.low < self.high:
            raise ValueError(f"q_distribution.high: must be above low ({self.low}), got {self.high}")
        self._check_float32()

    def _check_float32(self) -> None:
        """The bins are float32 tensors: bounds past float32 overflow, and too narrow bins coincide (both give NaN
        Q values, found by torch only once the actor's distribution is built from them)."""
        limit = SUPPORT_LIMITS[self.transform]
        for name in ("low", "high"):
            if abs(getattr(self, name)) > limit:
                raise ValueError(
                    f"q_distribution.{name}: must be within -{limit:.4g} and {limit:.4g} with "
                    f"transform={self.transform!r} (each bin's Q value is a float32 number), got {getattr(self, name)}"
                )
        if self.high - self.low > FLOAT32_MAX:
            raise ValueError(
                f"q_distribution.high: high - low must be at most {FLOAT32_MAX:.4g} (a float32 number), "
                f"got {self.high} - {self.low}"
            )
        width = (self.high - self.low) / self.bins
        largest = np.float32(max(abs(self.low), abs(self.high)))
        resolution = max(float(np.spacing(largest)), float(np.finfo(np.float32).tiny))
        if width < resolution:
            raise ValueError(
                f"q_distribution.bins: {self.bins} bins between {self.low} and {self.high} are {width:.3g} wide, "
                f"below float32's resolution there ({resolution:.3g}); use fewer bins or a wider support"
            )

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> "QDistributionConfig":
        if not isinstance(kwargs, Mapping):
            raise TypeError(f"q_distribution: must be a mapping of settings or None, got {kwargs!r}")
        check_keys("q_distribution", kwargs, cls.__dataclass_fields__)
        return cls(**kwargs)

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


class QDistribution(nn.Module):
    """The bins of a categorical Q head and the maps between logits, Q values and targets."""

    edges: th.Tensor
    centers: th.Tensor

    def __init__(self, config: QDistributionConfig):
        super().__init__()
        self.config = config
        edges = th.linspace(config.low, config.high, config.bins + 1)
        # Buffers follow the critic to its device; not persistent: the config rebuilds them.
        self.register_buffer("edges", edges, persistent=False)
        self.register_buffer("centers", (edges[:-1] + edges[1:]) / 2, persistent=False)
        self.sigma = config.sigma * (config.high - config.low) / config.bins

    def _to_support(self, values: th.Tensor) -> th.Tensor:
        return symlog(values) if self.config.transform == "symlog" else values

    def _from_support(self, values: th.Tensor) -> th.Tensor:
        return symexp(values) if self.config.transform == "symlog" else values

    def expectation(self, logits: th.Tensor) -> th.Tensor:
        """``(batch, bins)`` logits -> ``(batch, 1)`` Q values (the mean in support units, mapped back)."""
        # float32 whatever the autocast: on CPU, bf16 autocast would leave the softmax in bfloat16.
        mean = (th.softmax(logits.float(), dim=-1) * self.centers).sum(dim=-1, keepdim=True)
        return self._from_support(mean)

    def target_probs(self, values: th.Tensor) -> th.Tensor:
        """``(batch, 1)`` scalar targets -> ``(batch, bins)`` target distributions (clipped to the support)."""
        x = self._to_support(values).clamp(self.config.low, self.config.high)
        if self.config.kind == "hl_gauss":
            cdf = th.special.ndtr((self.edges - x) / self.sigma)  # (batch, bins + 1)
            mass = cdf[:, 1:] - cdf[:, :-1]
            return mass / (cdf[:, -1:] - cdf[:, :1]).clamp_min(1e-12)
        centers = self.centers
        x = x.clamp(centers[0], centers[-1])
        width = centers[1] - centers[0]
        upper = th.searchsorted(centers, x.contiguous(), right=True).clamp(1, len(centers) - 1)
        weight_upper = ((x - centers[upper - 1]) / width).clamp(0, 1)
        probs = th.zeros(x.shape[0], len(centers), device=x.device, dtype=x.dtype)
        probs.scatter_(1, upper - 1, 1 - weight_upper)
        probs.scatter_add_(1, upper, weight_upper)
        return probs

    def loss(self, logits: th.Tensor, target_values: th.Tensor) -> th.Tensor:
        """Mean cross-entropy between the predicted distribution and the target's."""
        log_probs = th.log_softmax(logits, dim=-1)
        return -(self.target_probs(target_values) * log_probs).sum(dim=-1).mean()

    def extra_repr(self) -> str:
        c = self.config
        return f"kind={c.kind}, bins={c.bins}, support=[{c.low}, {c.high}], transform={c.transform}"
