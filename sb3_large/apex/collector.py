"""``ApeXCollector``: Ape-X-style parallel actors feeding the model's own replay buffer, as an SB3 callback."""

import copy
import inspect
import io
import sys
import threading
import time
import warnings
from collections import deque
from typing import Any

import cloudpickle
import numpy as np
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback

from sb3_large.apex.backends import make_backend
from sb3_large.apex.worker import (
    WorkerSpec,
    acting_tensors,
    exploration_levels,
    make_env_from_spec,
    weights_checksum,
)

BACKENDS = ("local", "ray")


class ApeXCollector(BaseCallback):
    """Runs ``n_actors`` actors in parallel with the learner; their transitions go into ``model.replay_buffer``.

    Works as ``model.learn(n, callback=ApeXCollector(n_actors=4))`` and in an RL Zoo YAML
    (``callback: [{sb3_large.apex.ApeXCollector: {n_actors: 4}}]``). ``num_timesteps`` counts every stored
    transition, so the budget of ``learn()`` stays a number of environment steps.

    :param n_actors: number of actors
    :param backend: ``"local"`` (processes on this machine) or ``"ray"`` (Ray actors, ``pip install sb3-large[ray]``)
    :param ray_address: Ray cluster to join (default: ``RAY_ADDRESS``, else a local Ray)
    :param chunk_size: transitions an actor sends at once
    :param sync_every: learner gradient steps between two weight pushes to the actors
    :param noise_base: Ape-X exploration schedule ``noise_base ** (1 + noise_alpha * i / (N - 1))``: the
        Gaussian action-noise std of TD3-style actors
    :param noise_alpha: see ``noise_base``
    :param scale_sac_std: also scale SAC actors' policy std by ``level_i / noise_base`` (default: each SAC actor
        samples from the policy as it is)
    :param env_fn: a picklable callable that builds one environment, for envs that ``gym.make(spec)`` cannot
        rebuild (default: rebuilt from the learner's env spec)
    :param max_restarts: restarts allowed per ``learn()`` before giving up
    :param replay_ratio: learner gradient steps per stored transition, the actors' included (past
        ``learning_starts``); it sets ``model.gradient_steps`` before each ``train()``. ``None`` keeps SB3's own
        schedule (``gradient_steps`` per learner step), under which the learner does ever fewer updates per
        transition as actors are added
    :param log_every: dump the logs at least every this many environment steps
    :param start_method: multiprocessing start method of the local backend; with ``spawn`` (default) a script
        that calls ``learn()`` needs the ``if __name__ == "__main__":`` guard, as with SB3's SubprocVecEnv
    """

    def __init__(
        self,
        n_actors: int = 2,
        backend: str = "local",
        ray_address: str | None = None,
        chunk_size: int = 256,
        sync_every: int = 100,
        noise_base: float = 0.4,
        noise_alpha: float = 7.0,
        scale_sac_std: bool = False,
        env_fn=None,
        max_restarts: int = 100,
        start_method: str = "spawn",
        log_every: int = 5000,
        replay_ratio: float | None = None,
        verbose: int = 0,
    ):
        super().__init__(verbose)
        if isinstance(n_actors, bool) or not isinstance(n_actors, int) or n_actors < 1:
            raise ValueError(f"n_actors: must be an integer >= 1, got {n_actors!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend: unknown value {backend!r}; allowed: {', '.join(BACKENDS)}")
        for name, value in (("chunk_size", chunk_size), ("sync_every", sync_every), ("log_every", log_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        if replay_ratio is not None and (isinstance(replay_ratio, bool) or not replay_ratio > 0):
            raise ValueError(f"replay_ratio: must be a number > 0 or None, got {replay_ratio!r}")
        if not 0 < noise_base <= 1:
            raise ValueError(f"noise_base: must be in (0, 1], got {noise_base!r}")
        self.n_actors, self.backend_name, self.ray_address = n_actors, backend, ray_address
        self.chunk_size, self.sync_every, self.env_fn, self.max_restarts = chunk_size, sync_every, env_fn, max_restarts
        self.noise_base, self.scale_sac_std, self.start_method = noise_base, scale_sac_std, start_method
        self.log_every, self.replay_ratio = log_every, replay_ratio
        self._credit, self._counted = 0.0, 0
        self.exploration = exploration_levels(n_actors, noise_base, noise_alpha)
        self.backend = None

    # -- set-up ---------------------------------------------------------------------------------------------
    def _check_model(self) -> None:
        model = self.model
        buffer = model.replay_buffer
        if type(buffer) is not ReplayBuffer or buffer.optimize_memory_usage:
            raise ValueError(
                f"ApeXCollector: replay buffer {type(buffer).__name__}"
                f"{' with optimize_memory_usage' if getattr(buffer, 'optimize_memory_usage', False) else ''} "
                "is not supported; use SB3's ReplayBuffer (the default) without optimize_memory_usage"
            )
        if model.get_vec_normalize_env() is not None:
            raise ValueError(
                "ApeXCollector: VecNormalize is not supported (actors would need the learner's running statistics); "
                "remove `normalize` / VecNormalize"
            )
        if getattr(model, "use_sde", False):
            raise ValueError("ApeXCollector: gSDE (use_sde=True) is not supported; per-actor exploration is Gaussian")

    def _env_fn(self):
        if self.env_fn is not None:
            return self.env_fn
        spec = self.training_env.get_attr("spec", [0])[0]
        if spec is None:
            raise ValueError(
                "ApeXCollector: the learner's env was not made by gymnasium.make, so actors cannot rebuild it; "
                "pass env_fn=<picklable callable returning the env>"
            )
        # SB3's Monitor (added by make_vec_env / RL Zoo) does not record its constructor args and is not needed
        # by actors; any other wrapper that cannot be recreated is refused by name.
        spec = copy.deepcopy(spec)
        wrappers = tuple(w for w in spec.additional_wrappers if w.name != "Monitor")
        for wrapper in wrappers:
            if wrapper.kwargs is None:
                raise ValueError(
                    f"ApeXCollector: cannot rebuild env {spec.id!r} in a worker: wrapper {wrapper.name!r} does not "
                    "record its constructor arguments (inherit gymnasium.utils.RecordConstructorArgs), or pass env_fn"
                )
        spec.additional_wrappers = wrappers
        return lambda: make_env_from_spec(spec)

    def _payload(self, actor_id: int) -> bytes:
        buffer = io.BytesIO()
        self.model.policy.save(buffer)
        spec = WorkerSpec(
            actor_id=actor_id,
            env_fn=self._worker_env_fn,
            policy_class=type(self.model.policy),
            policy_bytes=buffer.getvalue(),
            exploration=self.exploration[actor_id],
            scale_sac_std=self.exploration[actor_id] / self.noise_base if self.scale_sac_std else 1.0,
            chunk_size=self.chunk_size,
            # The saved policy holds the learner's current weights: a (re)started actor acts with them at once
            # (version 0 during the warm-up means uniform random actions).
            weights_version=self.weights_version,
            seed=(self.model.seed or 0) * 1000 + actor_id + 1 + 100 * self.restarts,
        )
        return cloudpickle.dumps(spec)

    def _on_training_start(self) -> None:
        self._check_model()
        self._credit, self._counted = 0.0, max(self.model.num_timesteps, self.model.learning_starts)
        self._worker_env_fn = self._env_fn()
        try:
            self._worker_env_fn().close()
        except Exception as exc:
            raise ValueError(f"ApeXCollector: the env cannot be rebuilt for a worker: {exc!r}") from exc
        self.restarts = self.weight_syncs = self.actor_steps = 0
        self.weights_version, self._last_sync_updates = 0, 0
        self.steps_per_actor = [0] * self.n_actors
        self.versions_seen: list[dict[int, float]] = [{} for _ in range(self.n_actors)]
        self.pushed_checksums: dict[int, float] = {}
        self.errors: list[str] = []
        self._episode_returns: deque = deque(maxlen=100)
        self._pending: list[dict[str, np.ndarray]] = []
        self._start_time = time.perf_counter()
        self._last_dump = self.model.num_timesteps
        self.backend = make_backend(self.backend_name, self.ray_address, self.start_method)
        try:
            for actor_id in range(self.n_actors):
                self.backend.start(actor_id, self._payload(actor_id))
        except BaseException:
            self._shutdown()  # actors already started must not outlive a failed start
            raise
        self._start_watchdog()

    # -- the learner's main thread ---------------------------------------------------------------------------
    def _on_step(self) -> bool:
        self._collect()
        self._schedule_updates()
        self._maybe_sync()
        return True

    def _on_rollout_end(self) -> None:
        self._collect()
        self._schedule_updates()
        if self.replay_ratio is not None:
            self._credit -= self.model.gradient_steps  # SB3 runs them right after this callback
            self.logger.record("apex/gradient_steps", self.model.gradient_steps)
        elapsed = max(time.perf_counter() - self._start_time, 1e-9)
        self.logger.record("apex/actor_steps", self.actor_steps)
        self.logger.record("apex/steps_per_second", self.actor_steps / elapsed)
        self.logger.record("apex/restarts", self.restarts)
        self.logger.record("apex/weight_syncs", self.weight_syncs)
        if self._episode_returns:
            self.logger.record("apex/ep_rew_mean", float(np.mean(self._episode_returns)))
        for actor_id, level in enumerate(self.exploration):
            self.logger.record(f"apex/exploration_{actor_id}", level)
        # SB3 dumps logs at the learner's own episode ends, which become rare when actors bring most of the data.
        if self.model.num_timesteps - self._last_dump >= self.log_every:
            self._last_dump = self.model.num_timesteps
            self.logger.dump(step=self.model.num_timesteps)

    def _on_training_end(self) -> None:
        self._shutdown()

    def _collect(self) -> None:
        for kind, actor_id, body in self.backend.poll():
            if kind == "chunk":
                self._insert(body)
            else:
                self.errors.append(body)
                warnings.warn(f"ApeXCollector: actor {actor_id} failed and is restarted:\n{body}", stacklevel=2)
        for actor_id in self.backend.dead():
            self.restarts += 1
            if self.restarts > self.max_restarts:
                raise RuntimeError(
                    f"ApeXCollector: more than {self.max_restarts} actor restarts; last errors: {self.errors[-3:]}"
                )
            if self.verbose:
                print(f"ApeXCollector: actor {actor_id} died; restarting ({self.restarts} restarts)")
            self.backend.restart(actor_id, self._payload(actor_id))

    def _insert(self, chunk: dict[str, Any]) -> None:
        """Write a chunk into the buffer's arrays at ``pos`` (with wrap-around), as ``ReplayBuffer.add`` would."""
        actor_id, n = chunk["actor_id"], len(chunk["rewards"])
        self.steps_per_actor[actor_id] += n
        self.actor_steps += n
        self.versions_seen[actor_id][chunk["weights_version"]] = chunk["weights_checksum"]
        self._episode_returns.extend(chunk["episode_returns"])

        buffer = self.model.replay_buffer
        n_envs = buffer.n_envs
        # The buffer stores rows of n_envs transitions; leftovers wait for the next chunk.
        self._pending.append(chunk)
        total = sum(len(c["rewards"]) for c in self._pending)
        rows = total // n_envs
        if rows == 0:
            return
        keys = ("obs", "next_obs", "actions", "rewards", "dones", "timeouts")
        # With one env (the usual case) the single pending chunk is used as is, without a copy.
        first = self._pending[0]
        data = first if len(self._pending) == 1 else {k: np.concatenate([c[k] for c in self._pending]) for k in keys}
        used = rows * n_envs
        self._pending = [{k: data[k][used:] for k in keys}] if used < total else []
        idx = (buffer.pos + np.arange(rows)) % buffer.buffer_size
        buffer.observations[idx] = data["obs"][:used].reshape(rows, n_envs, *buffer.obs_shape)
        buffer.next_observations[idx] = data["next_obs"][:used].reshape(rows, n_envs, *buffer.obs_shape)
        buffer.actions[idx] = data["actions"][:used].reshape(rows, n_envs, buffer.action_dim)
        buffer.rewards[idx] = data["rewards"][:used].reshape(rows, n_envs)
        buffer.dones[idx] = data["dones"][:used].reshape(rows, n_envs)
        if buffer.handle_timeout_termination:
            buffer.timeouts[idx] = data["timeouts"][:used].reshape(rows, n_envs)
        if buffer.pos + rows >= buffer.buffer_size:
            buffer.full = True
        buffer.pos = int((buffer.pos + rows) % buffer.buffer_size)
        self.model.num_timesteps += used

    def _schedule_updates(self) -> None:
        # Set in on_step, not only at the rollout's end, so that every callback's on_rollout_end (the OFENet
        # trainer's) already sees this rollout's gradient_steps.
        if self.replay_ratio is None:
            return
        model = self.model
        counted = max(model.num_timesteps, model.learning_starts)
        self._credit += self.replay_ratio * (counted - self._counted)
        self._counted = counted
        model.gradient_steps = int(self._credit)

    def _maybe_sync(self) -> None:
        model = self.model
        if model.num_timesteps < model.learning_starts:
            return  # actors act randomly during the warm-up, as the learner does
        if self.weights_version and model._n_updates - self._last_sync_updates < self.sync_every:
            return
        state = {k: v.detach().to("cpu", copy=True) for k, v in acting_tensors(model.policy).items()}
        self.weights_version += 1
        self.pushed_checksums[self.weights_version] = weights_checksum(state)
        self.weight_syncs += 1
        self._last_sync_updates = model._n_updates
        self.backend.push_weights(self.weights_version, state)

    # -- stopping ---------------------------------------------------------------------------------------------
    def _start_watchdog(self) -> None:
        """Stop the actors when ``learn()`` is left by an exception or Ctrl-C, which SB3 reports to no callback.

        The watchdog finds the frame of the running ``learn()`` once, then checks that it is still on the main
        thread's stack.
        """
        frame = inspect.currentframe()
        while frame is not None and not (frame.f_code.co_name == "learn" and frame.f_locals.get("self") is self.model):
            frame = frame.f_back
        if frame is None:
            return
        learn_frame, thread_id = frame, threading.get_ident()
        self._watching = threading.Event()

        def watch(stop: threading.Event) -> None:
            while not stop.wait(0.5):
                current = sys._current_frames().get(thread_id)
                while current is not None and current is not learn_frame:
                    current = current.f_back
                if current is None:
                    self._shutdown()
                    return

        threading.Thread(target=watch, args=(self._watching,), daemon=True, name="apex-watchdog").start()

    def _shutdown(self) -> None:
        if getattr(self, "_watching", None) is not None:
            self._watching.set()
        backend, self.backend = self.backend, None
        if backend is not None:
            backend.stop()
