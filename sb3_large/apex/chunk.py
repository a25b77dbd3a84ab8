"""What travels between actors and the learner: transitions in chunks, and the news that an actor failed."""

from dataclasses import dataclass, field, fields

import numpy as np


@dataclass
class Transitions:
    """Consecutive transitions, as an SB3 replay buffer stores them (actions scaled to [-1, 1])."""

    obs: np.ndarray
    next_obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray  # terminated or truncated
    timeouts: np.ndarray  # truncated and not terminated: SB3's TimeLimit.truncated

    @classmethod
    def empty(cls, n: int, obs_shape: tuple, obs_dtype: np.dtype, action_shape: tuple) -> "Transitions":
        return cls(
            obs=np.empty((n, *obs_shape), dtype=obs_dtype),
            next_obs=np.empty((n, *obs_shape), dtype=obs_dtype),
            actions=np.empty((n, *action_shape), dtype=np.float32),
            rewards=np.empty(n, dtype=np.float32),
            dones=np.empty(n, dtype=np.float32),
            timeouts=np.empty(n, dtype=bool),
        )

    @classmethod
    def concat(cls, parts: list["Transitions"]) -> "Transitions":
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def __len__(self) -> int:
        return len(self.rewards)

    def __getitem__(self, index: slice) -> "Transitions":
        return Transitions(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass
class Chunk:
    """What an actor sends: its transitions, the weights version it acted with, the returns of the episodes that
    ended, and its process id (on its own node), which failure warnings name."""

    actor_id: int
    weights_version: int
    transitions: Transitions
    pid: int
    episode_returns: list[float] = field(default_factory=list)


@dataclass
class ActorFailure:
    """An actor stopped: ``message`` is its own error (traceback) or how it ended. ``from_outside``: not its own
    code ended it (a signal it did not raise itself, such as the OOM killer's SIGKILL; a lost node), so a restart
    need not end the same way."""

    actor_id: int
    message: str
    from_outside: bool = False
