"""Writing batches of transitions into an SB3 replay buffer in one vectorised step."""

import numpy as np
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer


def add_batch(
    buffer: ReplayBuffer,
    obs: np.ndarray,
    next_obs: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    dones: np.ndarray,
    timeouts: np.ndarray | None = None,
) -> int:
    """Store ``n`` transitions as ``n / buffer.n_envs`` consecutive calls of ``ReplayBuffer.add`` would.

    Arrays are shaped ``(n, ...)``: consecutive groups of ``buffer.n_envs`` transitions fill one buffer row.
    ``dones`` is "terminated or truncated" and ``timeouts`` marks the truncated ones (SB3's ``TimeLimit.truncated``,
    kept only when the buffer handles timeouts); ``actions`` are what the buffer stores (SB3 scales Box actions to
    [-1, 1]). Wraps around at the end of the buffer; a batch longer than the buffer leaves its last rows.
    Returns the number of rows written.
    """
    _check_buffer(buffer)
    n, n_envs = len(rewards), buffer.n_envs
    if n % n_envs:
        raise ValueError(f"rewards: {n} transitions do not fill rows of n_envs={n_envs}")
    arrays = {
        "obs": np.asarray(obs),
        "next_obs": np.asarray(next_obs),
        "actions": np.reshape(actions, (len(actions), -1)),
        "rewards": np.asarray(rewards),
        "dones": np.asarray(dones),
        "timeouts": np.zeros(n, dtype=bool) if timeouts is None else np.asarray(timeouts),
    }
    _check_shapes(buffer, arrays)
    return _write_rows(buffer, arrays)


def _check_buffer(buffer: ReplayBuffer) -> None:
    """Refuse the buffers ``add_batch`` cannot write to: dict observations, next observations not stored."""
    if type(buffer) is DictReplayBuffer or not isinstance(buffer, ReplayBuffer):
        raise ValueError(f"buffer: {type(buffer).__name__} is not supported; allowed: ReplayBuffer and its subclasses")
    if buffer.optimize_memory_usage:
        raise ValueError("buffer: optimize_memory_usage=True is not supported (next observations are not stored)")


def _check_shapes(buffer: ReplayBuffer, arrays: dict[str, np.ndarray]) -> None:
    """Refuse, by name, an array of ``n`` transitions not shaped as ``buffer`` stores them."""
    n = len(arrays["rewards"])
    expected = {
        "obs": (n, *buffer.obs_shape),
        "next_obs": (n, *buffer.obs_shape),
        "actions": (n, buffer.action_dim),
        "rewards": (n,),
        "dones": (n,),
        "timeouts": (n,),
    }
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise ValueError(f"{name}: expected shape {shape} for this buffer, got {arrays[name].shape}")


def _write_rows(buffer: ReplayBuffer, arrays: dict[str, np.ndarray]) -> int:
    """Write the checked arrays, ``buffer.n_envs`` transitions a row, from the buffer's position on, wrapping
    around (a batch longer than the buffer: its last rows); returns the number of rows written."""
    n_envs = buffer.n_envs
    rows = len(arrays["rewards"]) // n_envs
    first = max(0, rows - buffer.buffer_size)  # earlier rows would be overwritten within this batch
    idx = (buffer.pos + np.arange(first, rows)) % buffer.buffer_size

    def rows_of(name: str) -> np.ndarray:
        array = arrays[name]
        return array.reshape(rows, n_envs, *array.shape[1:])[first:]

    buffer.observations[idx] = rows_of("obs")
    buffer.next_observations[idx] = rows_of("next_obs")
    buffer.actions[idx] = rows_of("actions")
    buffer.rewards[idx] = rows_of("rewards")
    buffer.dones[idx] = rows_of("dones")
    if buffer.handle_timeout_termination:
        buffer.timeouts[idx] = rows_of("timeouts")
    if buffer.pos + rows >= buffer.buffer_size:
        buffer.full = True
    buffer.pos = (buffer.pos + rows) % buffer.buffer_size
    return rows
