"""``ApeXCollector``: Ape-X-style parallel actors feeding the model's own replay buffer, as an SB3 callback."""

import copy
import io
import time
import warnings
import weakref
from collections import deque

import cloudpickle
import numpy as np
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ProgressBarCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.type_aliases import TrainFrequencyUnit

from sb3_large.apex.backends import Backend, make_backend
from sb3_large.apex.chunk import ActorFailure, Chunk, Transitions
from sb3_large.apex.worker import WorkerSpec, acting_weights, exploration_levels, make_env_from_spec
from sb3_large.buffers import add_batch
from sb3_large.checks import check_choice, check_int, check_number
from sb3_large.internals import gradient_steps_done
from sb3_large.normalization import UPDATER_HINT, ObsNormUpdater, update_from_numpy

BACKENDS = ("local", "ray")


def _callbacks_of(callback: BaseCallback, kind: type[BaseCallback]) -> list:
    if isinstance(callback, kind):
        return [callback]
    if isinstance(callback, CallbackList):
        return [found for child in callback.callbacks for found in _callbacks_of(child, kind)]
    return []


class ApeXCollector(BaseCallback):
    """Runs ``n_actors`` actors in parallel with the learner; their transitions go into ``model.replay_buffer``.

    Works as ``model.learn(n, callback=ApeXCollector(n_actors=4))`` and in an RL Zoo YAML
    (``callback: [{sb3_large.apex.ApeXCollector: {n_actors: 4}}]``). ``num_timesteps`` counts every stored
    transition, so the budget of ``learn()`` stays a number of environment steps, and SB3's progress bar
    advances with the actors' transitions too.

    SB3 tells no callback when ``learn()`` raises: the actors of such a run are stopped by the next ``learn()``
    with this collector, by ``close()`` (or leaving ``with collector:``), when the collector is garbage
    collected, or at interpreter exit. Until then they wait, idle, on their full outboxes.

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
    :param max_restarts: actor restarts per ``learn()`` before giving up. An actor is restarted when it fails
        after delivering transitions, or when it is killed from outside (a signal it did not raise itself, such as
        the OOM killer's SIGKILL; a lost Ray node) at any time, its start-up included; one whose own code fails
        before it delivers anything stops ``learn()`` at once with its error
    :param replay_ratio: learner gradient steps per stored transition, the actors' included (past
        ``learning_starts``): once SB3 trains, the collector calls ``model.train()`` at each learner step for the
        updates owed beyond SB3's own (no setting of the model is changed). ``None`` keeps SB3's schedule
        (``gradient_steps`` per learner step), under which the learner does ever fewer updates per transition as
        actors are added. It never lowers SB3's own updates.
    :param log_every: dump the logs at least every this many environment steps (and always at the end)
    """

    model: OffPolicyAlgorithm

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
        log_every: int = 5000,
        replay_ratio: float | None = None,
        verbose: int = 0,
    ):
        super().__init__(verbose)
        check_int("n_actors", n_actors)
        check_choice("backend", backend, BACKENDS)
        for name, value in (("chunk_size", chunk_size), ("sync_every", sync_every), ("log_every", log_every)):
            check_int(name, value)
        check_int("max_restarts", max_restarts, minimum=0)
        if replay_ratio is not None:
            check_number("replay_ratio", replay_ratio, inclusive=False)
        if not 0 < noise_base <= 1:
            raise ValueError(f"noise_base: must be in (0, 1], got {noise_base!r}")
        self.n_actors, self.backend_name, self.ray_address = n_actors, backend, ray_address
        self.chunk_size, self.sync_every, self.env_fn, self.max_restarts = chunk_size, sync_every, env_fn, max_restarts
        self.noise_base, self.scale_sac_std = noise_base, scale_sac_std
        self.log_every, self.replay_ratio = log_every, replay_ratio
        self.exploration = exploration_levels(n_actors, noise_base, noise_alpha)
        self.backend: Backend | None = None
        self._stop_backend: weakref.finalize | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def _on_training_start(self) -> None:
        self.close()  # actors of an earlier learn() that raised belong to that run, not to this one
        self._check_model()
        self._worker_env_fn = self._env_fn()
        try:
            self._worker_env_fn().close()
        except Exception as exc:
            raise ValueError(f"ApeXCollector: the env cannot be rebuilt for a worker: {exc!r}") from exc
        model = self.model
        self._budget = self.locals["total_timesteps"]
        self._progress = _callbacks_of(self.locals["callback"], ProgressBarCallback)
        updaters = _callbacks_of(self.locals["callback"], ObsNormUpdater)
        if getattr(model.policy, "obs_norm", None) is not None and not updaters:
            # The collector counts the actors' observations; the learner's own are the updater's.
            raise ValueError(f"ApeXCollector: the policy normalizes observations (normalize_obs=True); {UPDATER_HINT}")
        self._updates_at_start = gradient_steps_done(model)
        self._sb3_trains = False
        self.extra_gradient_steps = 0
        self._first_counted = max(model.num_timesteps, model.learning_starts)
        self.restarts = self.weight_syncs = self.actor_steps = 0
        self.weights_version, self._last_sync_updates = 0, gradient_steps_done(model)
        self.steps_per_actor = [0] * self.n_actors
        self.actor_pids: dict[int, int] = {}
        self.delivered_since_start = [False] * self.n_actors
        self.versions_seen: list[set[int]] = [set() for _ in range(self.n_actors)]
        self._episode_returns: deque = deque(maxlen=100)
        self._pending: list[Transitions] = []
        self._start_time = time.perf_counter()
        self._last_dump = model.num_timesteps

        backend = make_backend(self.backend_name, self.ray_address)
        self.backend = backend
        # Bound to this run's backend, not to the collector's state: stops exactly these actors, once.
        self._stop_backend = weakref.finalize(self, backend.stop)
        try:
            for actor_id in range(self.n_actors):
                backend.start(actor_id, self._payload(actor_id))
        except BaseException:
            self.close()
            raise

    def _on_training_end(self) -> None:
        self._record_logs()
        self.logger.dump(step=self.model.num_timesteps)
        self.close()

    def close(self) -> None:
        """Stop the actors of the current or last run (idempotent)."""
        if self._stop_backend is not None:
            self._stop_backend()
        self._stop_backend, self.backend = None, None

    def __enter__(self) -> "ApeXCollector":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

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
        if getattr(model, "return_scale", None) is not None:
            raise ValueError(
                "ApeXCollector: return_bound is not supported (its return scale is kept from the learner's own "
                "collection, which the actors bypass); use return_bound=None"
            )

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
        self.model.policy.save(buffer)  # type: ignore[arg-type]  # SB3 saves to file objects too
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

    # -- the learner's main thread ---------------------------------------------------------------------------
    def _on_step(self) -> bool:
        self._ingest_ready()
        if self._sb3_trains:
            self._train_owed()
        self._maybe_sync()
        return True

    def _on_rollout_end(self) -> None:
        # From here on SB3 trains after every rollout. The collector's own updates start at the next step: after
        # whatever precedes SB3's first update (the OFENet trainer's pretraining), and always before the callbacks'
        # on_rollout_end, so that any of them (the OFENet trainer) sees every update done, whatever the order.
        self._sb3_trains = self.model.num_timesteps > self.model.learning_starts
        self._record_logs()
        # SB3 dumps logs at the learner's own episode ends, which become rare when actors bring most of the data.
        if self.model.num_timesteps - self._last_dump >= self.log_every:
            self.logger.dump(step=self.model.num_timesteps)
            self._last_dump = self.model.num_timesteps

    def _running(self) -> Backend:
        """The backend of the run in progress (there is one between training start and end)."""
        if self.backend is None:
            raise RuntimeError("ApeXCollector: no run in progress")
        return self.backend

    def _ingest_ready(self) -> None:
        for message in self._running().poll():
            if isinstance(message, ActorFailure):
                self._handle_failure(message)
            else:
                self._ingest(message)

    def _handle_failure(self, failure: ActorFailure) -> None:
        actor_id = failure.actor_id
        if not (failure.from_outside or self.delivered_since_start[actor_id]):
            # Its own code failed before it delivered: a restart would only fail the same way (an env or a package
            # missing where the actor runs, a broken env_fn). The actor's own error is the message.
            raise RuntimeError(
                f"ApeXCollector: actor {actor_id} failed before delivering any transition; "
                f"its error:\n{failure.message}"
            )
        self.restarts += 1
        if self.restarts > self.max_restarts:
            raise RuntimeError(
                f"ApeXCollector: more than {self.max_restarts} actor restarts; the last failure, actor {actor_id}:\n"
                f"{failure.message}"
            )
        pid = self.actor_pids.pop(actor_id, "not known yet")
        warnings.warn(
            f"ApeXCollector: actor {actor_id} (pid {pid}) stopped and is restarted:\n{failure.message}", stacklevel=2
        )
        self.delivered_since_start[actor_id] = False
        self._running().start(actor_id, self._payload(actor_id))

    def _ingest(self, chunk: Chunk) -> None:
        """Store what the budget still needs, in whole rows of the buffer's ``n_envs`` transitions."""
        actor_id = chunk.actor_id
        self.delivered_since_start[actor_id] = True
        self.steps_per_actor[actor_id] += len(chunk.transitions)
        self.actor_pids[actor_id] = chunk.pid
        self.versions_seen[actor_id].add(chunk.weights_version)
        self._episode_returns.extend(chunk.episode_returns)

        model, buffer = self.model, self.model.replay_buffer
        assert buffer is not None  # learn() has set the model up
        n_envs = buffer.n_envs
        room = self._budget - model.num_timesteps
        self._pending.append(chunk.transitions)
        available = sum(len(t) for t in self._pending)
        n = min(available, max(room, 0)) // n_envs * n_envs
        if n == 0:
            if room < n_envs:
                self._pending = []  # the budget is spent: the rest is not needed
            return
        batch = self._pending[0] if len(self._pending) == 1 else Transitions.concat(self._pending)
        self._pending = [batch[n:]] if n < len(batch) and n < room else []
        stored = batch[:n]
        add_batch(
            buffer,
            stored.obs,
            stored.next_obs,
            stored.actions,
            stored.rewards,
            stored.dones,
            stored.timeouts,
        )
        if getattr(model.policy, "obs_norm", None) is not None:
            update_from_numpy(model.policy, stored.obs)
        model.num_timesteps += n
        self.actor_steps += n
        for bar in self._progress:
            bar.pbar.update(n)

    def _train_owed(self) -> None:
        """Run the gradient steps that ``replay_ratio`` owes beyond those SB3 runs at the end of this rollout."""
        model = self.model
        if self.replay_ratio is None:
            return
        target = int(self.replay_ratio * (model.num_timesteps - self._first_counted))
        done = gradient_steps_done(model) - self._updates_at_start
        upcoming = model.gradient_steps
        if upcoming < 0:  # SB3's -1: one per transition of the learner's own env in this rollout
            frequency, unit = model.train_freq  # type: ignore[misc]  # a TrainFreq once learn() has started
            steps = frequency if unit == TrainFrequencyUnit.STEP else self.locals["num_collected_steps"]
            upcoming = steps * model.n_envs
        owed = target - done - upcoming
        if owed > 0:
            model.train(gradient_steps=owed, batch_size=model.batch_size)
            self.extra_gradient_steps += owed

    def _maybe_sync(self) -> None:
        model = self.model
        if model.num_timesteps < model.learning_starts:
            return  # actors act randomly during the warm-up, as the learner does
        if self.weights_version and gradient_steps_done(model) - self._last_sync_updates < self.sync_every:
            return
        self.weights_version += 1
        self.weight_syncs += 1
        self._last_sync_updates = gradient_steps_done(model)
        self._running().push_weights(self.weights_version, acting_weights(model.policy))

    def _record_logs(self) -> None:
        elapsed = max(time.perf_counter() - self._start_time, 1e-9)
        self.logger.record("apex/actor_steps", self.actor_steps)
        self.logger.record("apex/steps_per_second", self.actor_steps / elapsed)
        self.logger.record("apex/restarts", self.restarts)
        self.logger.record("apex/extra_gradient_steps", self.extra_gradient_steps)
        self.logger.record("apex/weight_syncs", self.weight_syncs)
        if self._episode_returns:
            self.logger.record("apex/ep_rew_mean", float(np.mean(self._episode_returns)))
        for actor_id, level in enumerate(self.exploration):
            self.logger.record(f"apex/exploration_{actor_id}", level)
