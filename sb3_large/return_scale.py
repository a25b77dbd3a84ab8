"""Rewards scaled so that the discounted return stays bounded: the learners' ``return_bound``.

A light module (numpy only): the learners update and apply it, the Hub saves and restores its statistics.
"""

import math
from typing import Any

import numpy as np

from sb3_large.checks import check_number

STATISTICS = ("count", "mean", "var", "max_abs")


class ReturnScale:
    """A running scale of the discounted return, by which the learner divides the rewards it trains on.

    Each env's discounted sum of rewards ``G <- gamma * G + r`` (back to 0 after an episode ends, as RL Zoo's
    ``normalize`` keeps it) feeds a running mean and variance over every step, and the largest ``|G|`` seen. The
    scale is ``max(std(G), max|G| / bound)``: rewards are divided by the return's running std (SimbaV2's reward
    scaling), and by more where that would let a scaled return leave ``[-bound, bound]`` (FlashSAC's
    ``normalized_G_max``), so that a categorical critic's support of about ``+-bound`` holds every Q value.

    :param bound: the largest ``|G|`` after scaling (5.0 in FlashSAC)
    :param gamma: the discount of ``G`` (the algorithm's)
    :param n_envs: number of envs whose returns run side by side
    :param epsilon: added to the variance, so that the scale of constant returns is finite
    """

    def __init__(self, bound: float, gamma: float, n_envs: int, epsilon: float = 1e-8):
        self.bound = check_number("return_bound", bound, inclusive=False)
        self.gamma, self.epsilon = float(gamma), float(epsilon)
        self.returns = np.zeros(n_envs)
        self.count, self.mean, self.var, self.max_abs = 0.0, 0.0, 0.0, 0.0

    @property
    def scale(self) -> float:
        """What rewards are divided by; 1.0 before any reward has been seen."""
        if self.count == 0:
            return 1.0
        return max(math.sqrt(self.var + self.epsilon), self.max_abs / self.bound)

    def update(self, rewards: np.ndarray, dones: np.ndarray) -> None:
        """Take one step's rewards and episode ends of every env (the rewards the learner will sample)."""
        rewards = np.asarray(rewards, dtype=np.float64).reshape(-1)
        if self.returns.shape != rewards.shape:  # another number of envs (a loaded model's new env): fresh sums
            self.returns = np.zeros_like(rewards)
        self.returns = self.gamma * self.returns + rewards
        self._add(self.returns)
        self.max_abs = max(self.max_abs, float(np.abs(self.returns).max()))
        self.returns[np.asarray(dones, dtype=bool).reshape(-1)] = 0.0

    def _add(self, values: np.ndarray) -> None:
        """Merge a batch into the running mean and variance (Chan et al.'s parallel update)."""
        count = self.count + values.size
        delta = float(values.mean()) - self.mean
        moments = (
            self.var * self.count + float(values.var()) * values.size + delta**2 * self.count * values.size / count
        )
        self.mean += delta * values.size / count
        self.var, self.count = moments / count, count

    def statistics(self) -> dict[str, float]:
        """The running statistics as plain numbers (what the Hub stores; the per-env sums restart with an env)."""
        return {name: float(getattr(self, name)) for name in STATISTICS}

    def load_statistics(self, values: dict[str, Any]) -> None:
        """Continue from ``statistics()``' numbers."""
        self.count, self.mean, self.var, self.max_abs = (float(values[name]) for name in STATISTICS)
