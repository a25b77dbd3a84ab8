"""Ape-X collector: local processes (default) and Ray, with real processes, real kills and a real local Ray."""

import os
import re
import signal
import time

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

import sb3_large  # noqa: F401  (registers the policy aliases)
from sb3_large.apex import ApeXCollector
from sb3_large.apex.worker import exploration_levels

from .conftest import ROOT, run_python

BACKENDS = ["local", "ray"]


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    # On a 2-core machine a learner whose torch threads spin on both cores starves Ray's own processes
    # (raylet, workers starting up); leave them a core, as a user co-locating actors and learner would.
    threads = th.get_num_threads()
    th.set_num_threads(1)
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    th.set_num_threads(threads)


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "ray":
        request.getfixturevalue("local_ray")
    return request.param


def make(algo, **kwargs):
    return algo("LargeMlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=dict(width=32), **kwargs)


def wait_until_gone(pids, timeout=15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.2)
    return alive


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class StopWhen(BaseCallback):
    """Stops learn() once ``condition(collector)`` holds (or after ``timeout`` s), after running ``action`` once."""

    def __init__(self, collector, condition, action=None, timeout=240.0):
        super().__init__()
        self.collector, self.condition, self.action, self.timeout = collector, condition, action, timeout
        self.pids: dict[int, int] = {}

    def _on_training_start(self) -> None:
        self.deadline = time.monotonic() + self.timeout

    def _on_step(self) -> bool:
        if self.action is not None and self.collector.actor_steps > 0:
            self.pids = self.collector.backend.pids()
            self.action(self)
            self.action = None
        return not self.condition(self.collector) and time.monotonic() < self.deadline


def test_exploration_schedule():
    assert exploration_levels(1, 0.4, 7) == [0.4]
    levels = exploration_levels(4, 0.4, 7)
    assert levels[0] == pytest.approx(0.4) and levels[-1] == pytest.approx(0.4**8)
    assert levels == sorted(levels, reverse=True)


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_two_actors_fill_the_buffer_and_receive_weights(backend, algo):
    model = make(algo, learning_starts=300)
    collector = ApeXCollector(n_actors=2, backend=backend, chunk_size=50, sync_every=10)

    def done(c):  # every actor delivered transitions acted with synced weights
        return all(any(v >= 1 for v in seen) for seen in c.versions_seen) and c.weight_syncs >= 2

    stopper = StopWhen(collector, done)
    model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    assert done(collector), (collector.versions_seen, collector.weight_syncs)
    assert all(n > 0 for n in collector.steps_per_actor)
    # everything stored, nothing lost: the buffer holds the learner's own and every actor's transitions
    # (minus the learner's last step: SB3 counts it, then stops before storing it when a callback says stop)
    assert model.replay_buffer.pos == model.num_timesteps - 1
    assert model.num_timesteps >= sum(collector.steps_per_actor) + 1
    for seen in collector.versions_seen:
        for version, checksum in seen.items():
            if version:
                assert checksum == pytest.approx(collector.pushed_checksums[version], rel=1e-6)
    assert len(set(collector.pushed_checksums.values())) >= 2  # weights changed between syncs
    assert collector.backend is None  # stopped at the end of learn()


def test_kill_an_actor_mid_learn_it_is_restarted(backend):
    model = make(SAC, learning_starts=200)
    collector = ApeXCollector(n_actors=2, backend=backend, chunk_size=50, sync_every=20)
    killed_at = {}

    def kill(cb):
        killed_at["steps"] = cb.collector.steps_per_actor[0]
        os.kill(cb.pids[0], signal.SIGKILL)

    def restarted_and_delivering(c):
        return c.restarts >= 1 and c.steps_per_actor[0] > killed_at.get("steps", 1e18) + 100

    stopper = StopWhen(collector, restarted_and_delivering, action=kill)
    model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    assert collector.restarts == 1
    assert restarted_and_delivering(collector)
    assert wait_until_gone([stopper.pids[0]]) == []


@pytest.mark.parametrize("how", ["end", "exception", "keyboard_interrupt"])
def test_no_actor_process_survives_learn(how):
    model = make(SAC, learning_starts=100)
    collector = ApeXCollector(n_actors=2, chunk_size=50)
    errors = {"exception": RuntimeError("boom"), "keyboard_interrupt": KeyboardInterrupt()}

    def act(cb):
        if how != "end":
            raise errors[how]

    stopper = StopWhen(collector, lambda c: c.actor_steps >= 200, action=act)
    if how == "end":
        model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    else:
        with pytest.raises(type(errors[how])):
            model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    assert len(stopper.pids) == 2
    assert wait_until_gone(stopper.pids.values()) == []


def test_bad_input():
    with pytest.raises(ValueError, match=r"n_actors: must be an integer >= 1, got 0"):
        ApeXCollector(n_actors=0)
    with pytest.raises(ValueError, match=r"backend: unknown value 'mpi'; allowed: local, ray"):
        ApeXCollector(backend="mpi")

    env = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]))
    with pytest.raises(ValueError, match=r"VecNormalize is not supported"):
        SAC("LargeMlpPolicy", env, policy_kwargs=dict(width=8)).learn(10, callback=ApeXCollector())

    class Unregistered(gym.Wrapper):
        pass

    raw = gym.make("Pendulum-v1")
    raw.unwrapped.spec = None  # an env built by hand, not by gymnasium.make
    with pytest.raises(ValueError, match=r"not made by gymnasium.make.*pass env_fn"):
        SAC("LargeMlpPolicy", raw.unwrapped, policy_kwargs=dict(width=8)).learn(10, callback=ApeXCollector())

    with pytest.raises(ValueError, match=r"wrapper 'Unregistered' does not record its constructor arguments"):
        SAC("LargeMlpPolicy", Unregistered(gym.make("Pendulum-v1")), policy_kwargs=dict(width=8)).learn(
            10, callback=ApeXCollector()
        )


def test_unreachable_ray_address_fails_fast():
    pytest.importorskip("ray")
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=r"ray_address: cannot reach a Ray cluster at '127.0.0.1:1'"):
        make(SAC).learn(10, callback=ApeXCollector(backend="ray", ray_address="127.0.0.1:1"))
    assert time.monotonic() - start < 10


def test_env_fn_for_custom_envs():
    model = make(TD3, learning_starts=100)
    collector = ApeXCollector(n_actors=1, chunk_size=50, env_fn=lambda: gym.make("Pendulum-v1", g=5.0))
    stopper = StopWhen(collector, lambda c: c.actor_steps >= 100)
    model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    assert collector.steps_per_actor[0] >= 100
    assert np.all(np.abs(model.replay_buffer.actions[: model.replay_buffer.pos]) <= 1.0)


def test_rl_zoo_yaml_with_the_collector(tmp_path):
    conf = str(ROOT / "hyperparams" / "sac_large_apex.yml")
    train = ["-m", "rl_zoo3.train", "--algo", "sac", "--env", "Pendulum-v1", "-conf", conf, "-n", "3000"]
    out = run_python([*train, "-f", "logs", "--seed", "0", "--eval-freq", "-1"], cwd=tmp_path).stdout
    assert "sb3_large.apex.ApeXCollector" in out
    assert (tmp_path / "logs" / "sac" / "Pendulum-v1_1" / "Pendulum-v1.zip").exists()
    assert re.search(r"\| apex/ +\| +\|\n\| +actor_steps +\| \d+", out), out[-3000:]


def test_ofenet_policy_actors_get_ofenet_weights_too():
    from sb3_large.apex.worker import acting_tensors
    from sb3_large.ofenet import OFENetTrainer

    model = SAC(
        "OFENetPolicy",
        "Pendulum-v1",
        seed=0,
        learning_starts=200,
        policy_kwargs=dict(width=16, ofenet=dict(layers=2, growth=8, pretrain_steps=20)),
    )
    assert any(k.startswith("ofenet.") for k in acting_tensors(model.policy))
    collector = ApeXCollector(n_actors=1, chunk_size=50, sync_every=10)
    stopper = StopWhen(collector, lambda c: any(v >= 2 for v in c.versions_seen[0]))
    model.learn(1_000_000, callback=CallbackList([OFENetTrainer(), collector, stopper]))
    version = max(collector.versions_seen[0])
    assert version >= 2
    assert collector.versions_seen[0][version] == pytest.approx(collector.pushed_checksums[version], rel=1e-6)


def test_a_learner_with_several_envs_stores_actor_transitions_in_rows():
    from stable_baselines3.common.env_util import make_vec_env

    model = SAC("LargeMlpPolicy", make_vec_env("Pendulum-v1", n_envs=2), seed=0, policy_kwargs=dict(width=16))
    collector = ApeXCollector(n_actors=1, chunk_size=25)  # odd chunks: one transition waits for the next chunk
    stopper = StopWhen(collector, lambda c: c.actor_steps >= 200)
    model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    buffer = model.replay_buffer
    pending = sum(len(c["rewards"]) for c in collector._pending)
    # each buffer row holds n_envs transitions; the learner's last step (2 transitions) is counted, not stored;
    # a pending odd transition is neither stored nor counted yet
    assert buffer.pos * 2 == model.num_timesteps - 2
    assert pending in (0, 1)
    assert np.all(np.abs(buffer.observations[: buffer.pos]).sum(axis=-1) > 0)  # (cos, sin, .) is never all 0


def test_replay_ratio_sets_the_learners_updates():
    """With replay_ratio=1 the learner makes one gradient step per stored transition, the actors' included."""
    model = make(SAC, learning_starts=300)
    collector = ApeXCollector(n_actors=2, chunk_size=50, replay_ratio=1.0)
    model.learn(1500, callback=collector)
    stored = model.num_timesteps - 300
    assert collector.actor_steps > 0
    # Transitions that arrive after the last train() are owed, not yet made: at most a few chunks.
    assert stored - 2 * 50 * 4 <= model._n_updates <= stored


def test_replay_ratio_must_be_positive():
    with pytest.raises(ValueError, match="replay_ratio: must be a number > 0 or None"):
        ApeXCollector(replay_ratio=0)
