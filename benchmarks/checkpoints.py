"""What a ``returns.py`` checkpoint carries besides SB3's own save, and the files a job writes.

Resuming must give the evaluations of a run never stopped: the RNGs, every env layer's state (MuJoCo's physics
included), ``VecNormalize``'s running statistics and discounted-return accumulator are saved and restored.
"""

import copy
import json
import os
import pickle
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

try:
    import mujoco
except ImportError:  # only MuJoCo envs need it
    mujoco = None


def rng_state() -> dict:
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=th.get_rng_state())
    if th.cuda.is_available():
        state["cuda"] = th.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    th.set_rng_state(state["torch"])
    if "cuda" in state:
        th.cuda.set_rng_state_all(state["cuda"])


def env_layers(env: gym.Env) -> list[gym.Env]:
    layers = [env]
    while isinstance(layers[-1], gym.Wrapper):
        layers.append(layers[-1].env)
    return layers


def base_env(vec_env: VecEnv) -> gym.Env:
    """The one gym env under a job's ``DummyVecEnv`` (and ``VecNormalize``)."""
    return vec_env.unwrapped.envs[0]  # type: ignore[attr-defined]


# Not state: the wrapped env, and MuJoCo's model, data and renderer (the data's state is saved with mj_getState).
NOT_ENV_STATE = ("env", "model", "data", "mujoco_renderer")
# What VecNormalize carries from one step to the next; its settings come from the configuration.
NORMALIZATION_STATE = ("obs_rms", "ret_rms", "returns", "old_obs", "old_reward")


def env_state(env: gym.Env) -> list[dict]:
    """What an env and each of its wrappers carry from one step to the next (RNG, counters, simulator state).

    Gymnasium's MuJoCo envs pickle as their constructor arguments (``EzPickle``), so a pickled env would start
    afresh: each layer's attributes are saved instead, and MuJoCo's full integration state through
    ``mj_getState``, which restores the simulation bit for bit.
    """
    states = []
    for layer in env_layers(env):
        state = copy.deepcopy({k: v for k, v in vars(layer).items() if k not in NOT_ENV_STATE})  # a snapshot
        if mujoco is not None and isinstance(getattr(layer, "data", None), mujoco.MjData):
            physics = np.empty(mujoco.mj_stateSize(layer.model, mujoco.mjtState.mjSTATE_INTEGRATION))
            mujoco.mj_getState(layer.model, layer.data, physics, mujoco.mjtState.mjSTATE_INTEGRATION)
            state["mujoco_state"] = physics
        states.append(state)
    return states


def set_env_state(env: gym.Env, states: list[dict]) -> None:
    layers = env_layers(env)
    if len(layers) != len(states):
        raise ValueError(f"checkpoint: the env has {len(layers)} layers, the saved state {len(states)}")
    for layer, state in zip(layers, states, strict=True):
        state = dict(state)
        physics = state.pop("mujoco_state", None)
        vars(layer).update(state)
        if physics is not None:
            mujoco.mj_setState(layer.model, layer.data, physics, mujoco.mjtState.mjSTATE_INTEGRATION)


def vec_env_state(vec_env: VecEnv) -> dict:
    """A job's env: its gym env's layers and, under ``VecNormalize``, the normalization's running state."""
    state: dict = dict(env=env_state(base_env(vec_env)))
    if isinstance(vec_env, VecNormalize):
        state["normalization"] = copy.deepcopy({k: getattr(vec_env, k) for k in NORMALIZATION_STATE})
    return state


def set_vec_env_state(vec_env: VecEnv, state: dict) -> None:
    if isinstance(vec_env, VecNormalize) != ("normalization" in state):
        raise ValueError("checkpoint: the env and the saved state differ in VecNormalize")
    set_env_state(base_env(vec_env), state["env"])
    for key, value in state.get("normalization", {}).items():
        setattr(vec_env, key, copy.deepcopy(value))


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a file through a temporary one and a rename, so a kill leaves the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


JOB_FILE = re.compile(r"^(?P<config>.+)_seed(?P<seed>\d+)\.(ckpt|done\.json)$")


class JobFiles:
    """A job's checkpoint (a small header, then the payload, pickled one after the other) and its done marker."""

    def __init__(self, out: Path, config: str, seed: int):
        folder = out / "checkpoints"
        self.checkpoint = folder / f"{config}_seed{seed}.ckpt"
        self.done = folder / f"{config}_seed{seed}.done.json"

    def header(self) -> dict | None:
        """The finished job's record, else the checkpoint's header (without its payload), else None."""
        if self.done.exists():
            return dict(json.loads(self.done.read_text()), finished=True)
        if self.checkpoint.exists():
            with self.checkpoint.open("rb") as handle:
                return dict(pickle.load(handle), finished=False)
        return None

    def payload(self) -> dict:
        with self.checkpoint.open("rb") as handle:
            pickle.load(handle)
            return pickle.load(handle)

    def save(self, header: dict, payload: dict) -> None:
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)

        def write(handle: BinaryIO) -> None:
            pickle.dump(header, handle, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)

        write_atomic(self.checkpoint, write)

    def finish(self, record: dict) -> None:
        self.done.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.done, lambda handle: handle.write(json.dumps(record).encode()))
        self.checkpoint.unlink(missing_ok=True)


def recorded_jobs(out: Path) -> dict[tuple[str, int], dict]:
    """Every job recorded in ``out`` (finished or checkpointed), this run's configurations or not."""
    recorded = {}
    for path in sorted((out / "checkpoints").glob("*_seed*")):
        match = JOB_FILE.match(path.name)
        if match:
            config, seed = match["config"], int(match["seed"])
            recorded[config, seed] = JobFiles(out, config, seed).header()
    return recorded
