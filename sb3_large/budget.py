"""A warning for a training budget that ends before the first gradient step.

SB3's off-policy algorithms take gradient steps only once more than ``learning_starts`` env steps are collected
(random actions until then, for SAC, TD3 and their kin); a run that ends at or before that trains nothing, and SB3
says nothing about it.
"""

import warnings


def warn_if_no_gradient_steps(total_timesteps: int, learning_starts: int) -> None:
    """Warn when a run that ends at ``total_timesteps`` env steps (counted from 0, as SB3 counts them) takes no
    gradient step, naming both settings and what to change."""
    if total_timesteps > learning_starts:
        return
    # stacklevel=1: the same warning raised by the RL Zoo launcher and by a learner's learn() is shown once.
    warnings.warn(
        f"total_timesteps: the run ends at {total_timesteps} env steps (RL Zoo: n_timesteps, -n), not above "
        f"learning_starts={learning_starts}: it only fills the replay buffer and no gradient step will run; "
        "train for more than learning_starts steps, or lower learning_starts",
        UserWarning,
        stacklevel=1,
    )


__all__ = ["warn_if_no_gradient_steps"]
