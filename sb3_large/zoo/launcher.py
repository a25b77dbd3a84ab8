"""What binds stock RL Zoo to the fast learners: the YAML guard ``RequiresLauncher`` and the ``large_zoo`` block."""

from collections.abc import Iterator
from contextlib import contextmanager


class RequiresLauncher:
    """A YAML entry's guard: listed in its ``callback``, it stops stock ``rl_zoo3.train`` before anything trains,
    naming this launcher, which removes it from the list (``sb3_large.hyperparams.without_launcher_guard``).

    Entries name it as ``sb3_large.zoo.RequiresLauncher``: that dotted path is kept.
    """

    def __init__(self, **_kwargs):
        raise SystemExit(
            "this RL Zoo entry trains with sb3_large's learners (options stock SB3 does not have, such as "
            "categorical critics trained by cross-entropy, return_bound, target_std, actor_update_interval): run "
            "it with python -m sb3_large.zoo train, which takes the same arguments as python -m rl_zoo3.train"
        )


def use_fast_learners() -> None:
    """Bind RL Zoo's ``sac`` and ``td3`` to the fast learners (the dict every rl_zoo3 module reads)."""
    from rl_zoo3.utils import ALGOS

    import sb3_large

    ALGOS["sac"], ALGOS["td3"] = sb3_large.SAC, sb3_large.TD3


@contextmanager
def large_zoo(search_space=None) -> Iterator[None]:
    """Inside the block, rl_zoo3's ``sac``/``td3`` are the fast learners (for ``train`` and ``enjoy``) and
    ``rl_zoo3.train`` runs ``LargeExperimentManager`` with ``search_space``; everything is put back on exit."""
    import functools

    import rl_zoo3.train
    from rl_zoo3.utils import ALGOS

    from sb3_large.zoo.manager import LargeExperimentManager

    saved = ALGOS["sac"], ALGOS["td3"], rl_zoo3.train.ExperimentManager
    use_fast_learners()
    manager = functools.partial(LargeExperimentManager, search_space=search_space)
    rl_zoo3.train.ExperimentManager = manager  # type: ignore[misc, assignment]
    try:
        yield
    finally:
        ALGOS["sac"], ALGOS["td3"], rl_zoo3.train.ExperimentManager = saved  # type: ignore[misc]


__all__ = ["RequiresLauncher", "large_zoo", "use_fast_learners"]
