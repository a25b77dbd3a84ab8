"""Ape-X collector with local actor processes: real processes, real kills, real files and signals.

The Ray backend is tested in test_apex_ray.py (inside a network namespace of its own).
"""

import csv
import io
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ProgressBarCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

import sb3_large
from sb3_large.apex import ApeXCollector
from sb3_large.apex.process import OUTBOX_CHUNKS
from sb3_large.apex.worker import ActorWorker, WorkerSpec, acting_tensors, acting_weights, exploration_levels
from sb3_large.buffers import add_batch

from .conftest import ROOT, run_python


def make(algo, **kwargs):
    return algo("LargeMlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=dict(width=32), **kwargs)


def wait_until_gone(pids, timeout=15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.1)
    return alive


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class StopWhen(BaseCallback):
    """Ends learn() once ``condition(collector)`` holds (or after ``timeout`` s): by returning False, or by raising
    ``error``. Notes the actors' process ids once every actor delivered, then runs ``action`` once. Until then, slows
    the learner's own steps down: their updates would only compete for the CPU with the actors' start (seconds)."""

    def __init__(self, collector, condition, action=None, error=None, timeout=240.0):
        super().__init__()
        self.collector, self.condition, self.action, self.error = collector, condition, action, error
        self.timeout = timeout
        self.pids: dict[int, int] = {}

    def _on_training_start(self) -> None:
        self.deadline = time.monotonic() + self.timeout

    def _on_step(self) -> bool:
        if not self.pids and all(self.collector.steps_per_actor):
            self.pids = dict(self.collector.actor_pids)
            if self.action is not None:
                self.action(self)
        if self.pids and self.condition(self.collector) or time.monotonic() > self.deadline:
            if self.error is not None:
                raise self.error
            return False
        time.sleep(0.05)
        return True


class WaitForActors(BaseCallback):
    """Slows the learner's own steps down until the actors have delivered (their start takes seconds)."""

    def __init__(self, collector):
        super().__init__()
        self.collector = collector

    def _on_step(self) -> bool:
        if not self.collector.actor_steps:
            time.sleep(0.05)
        return True


def settings(model) -> dict:
    """The model's own settings (what a saved zip holds), leaving out the counters that learn() advances (and
    the None placeholders that learn() fills, such as the last observation)."""
    counters = {"num_timesteps", "_n_updates", "_episode_num", "_current_progress_remaining", "_total_timesteps"}
    counters |= {"_num_timesteps_at_start", "_n_calls", "start_time"}
    return {k: v for k, v in vars(model).items() if isinstance(v, (int, float, str, bool, tuple)) and k not in counters}


def test_exploration_schedule():
    assert exploration_levels(1, 0.4, 7) == [0.4]
    levels = exploration_levels(4, 0.4, 7)
    assert levels[0] == pytest.approx(0.4) and levels[-1] == pytest.approx(0.4**8)
    assert levels == sorted(levels, reverse=True)


@pytest.mark.parametrize("n_envs", [1, 2])
def test_add_batch_stores_what_replay_buffer_add_stores(n_envs):
    env = gym.make("Pendulum-v1")
    obs_space, act_space = env.observation_space, env.action_space
    rng = np.random.default_rng(0)
    size, rows = 7, 17  # wraps around twice; the batch is longer than the buffer
    kwargs = dict(n_envs=n_envs, handle_timeout_termination=True)
    by_add = ReplayBuffer(size, obs_space, act_space, **kwargs)
    by_batch = ReplayBuffer(size, obs_space, act_space, **kwargs)
    by_add.pos = by_batch.pos = 1
    n = rows * n_envs
    obs, next_obs = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    actions, rewards = rng.uniform(-1, 1, size=(n, 1)), rng.normal(size=n)
    dones = rng.random(n) < 0.3
    timeouts = dones & (rng.random(n) < 0.5)
    for r in range(rows):
        s = slice(r * n_envs, (r + 1) * n_envs)
        infos = [{"TimeLimit.truncated": bool(t)} for t in timeouts[s]]
        by_add.add(obs[s], next_obs[s], actions[s], rewards[s], dones[s], infos)
    assert add_batch(by_batch, obs, next_obs, actions, rewards, dones, timeouts) == rows
    assert (by_batch.pos, by_batch.full) == (by_add.pos, by_add.full)
    for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
        np.testing.assert_array_equal(getattr(by_batch, name), getattr(by_add, name), err_msg=name)

    with pytest.raises(ValueError, match=r"obs: expected shape \(4, 3\) for this buffer, got \(4, 2\)"):
        add_batch(by_batch, np.zeros((4, 2)), np.zeros((4, 3)), np.zeros((4, 1)), np.zeros(4), np.zeros(4))
    if n_envs == 2:
        with pytest.raises(ValueError, match=r"rewards: 3 transitions do not fill rows of n_envs=2"):
            add_batch(by_batch, np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((3, 1)), np.zeros(3), np.zeros(3))


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_two_actors_fill_the_buffer_and_receive_weights(algo):
    model = make(algo, learning_starts=100)
    collector = ApeXCollector(n_actors=2, chunk_size=50, sync_every=10)

    def done(c):  # every actor delivered transitions acted with synced weights
        return all(max(seen) >= 1 for seen in c.versions_seen if seen) and all(c.versions_seen) and c.weight_syncs >= 2

    model.learn(1_000_000, callback=CallbackList([collector, StopWhen(collector, done)]))
    assert done(collector), (collector.versions_seen, collector.weight_syncs)
    # everything stored, nothing lost: the buffer holds the learner's own and every actor's transitions
    # (minus the learner's last step: SB3 counts it, then stops before storing it when a callback says stop)
    assert model.replay_buffer.pos == model.num_timesteps - 1
    assert collector.actor_steps == sum(collector.steps_per_actor) > 0
    assert collector.backend is None  # stopped at the end of learn()


def test_a_worker_acts_with_the_weights_it_is_given():
    """What a weight push carries reaches the actor's networks, and its actions follow them."""
    learner = make(TD3, learning_starts=10)
    spec = WorkerSpec(0, lambda: gym.make("Pendulum-v1"), type(learner.policy), _saved(learner), 0.0, 1.0, 8, 1, 0)
    worker = ActorWorker(spec)
    learner.learn(200)  # the learner's actor moves away from the weights the worker started with
    weights = acting_weights(learner.policy)
    obs = worker.obs
    expected = learner.policy.scale_action(learner.predict(obs, deterministic=True)[0])
    assert not np.allclose(worker.policy.scale_action(worker.policy.predict(obs, deterministic=True)[0]), expected)
    worker.set_weights(7, weights)
    for name, tensor in acting_tensors(worker.policy).items():
        np.testing.assert_array_equal(tensor.detach().numpy(), weights[name], err_msg=name)
    chunk = worker.collect(8)
    assert chunk.weights_version == 7
    # exploration 0: the stored action is the learner's deterministic action for the same observation
    np.testing.assert_allclose(chunk.transitions.actions[0], expected, atol=1e-6)


def _saved(model) -> bytes:
    buffer = io.BytesIO()
    model.policy.save(buffer)
    return buffer.getvalue()


def test_kill_an_actor_mid_learn_it_is_restarted():
    stopper = kill_an_actor_mid_learn("local", reason=r"\nwas killed by SIGKILL")
    assert wait_until_gone([stopper.pids[0]]) == []


def kill_an_actor_mid_learn(backend: str, reason: str = "") -> "StopWhen":
    """SIGKILL actor 0 once every actor delivered; learn() goes on until the restarted actor delivers again."""
    model = make(SAC, learning_starts=200)
    collector = ApeXCollector(n_actors=2, backend=backend, chunk_size=50, sync_every=20)
    killed_at = {}

    def kill(cb):
        killed_at["steps"] = cb.collector.steps_per_actor[0]
        os.kill(cb.pids[0], signal.SIGKILL)

    def restarted_and_delivering(c):
        return c.restarts >= 1 and c.steps_per_actor[0] > killed_at.get("steps", 1e18) + 100

    stopper = StopWhen(collector, restarted_and_delivering, action=kill)
    with pytest.warns(UserWarning, match=r"actor 0 \(pid \d+\) stopped and is restarted:" + reason):
        model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    assert collector.restarts == 1
    assert restarted_and_delivering(collector)
    return stopper


class BlocksInActors:
    """Builds Pendulum; in an actor, first notes its process id (a file ``<pid>.pid`` in ``folder``), then waits for
    a file ``go`` there: until then the actor is starting up and has delivered nothing."""

    def __init__(self, folder: Path):
        self.folder, self.pid = folder, os.getpid()

    def __call__(self):
        if os.getpid() != self.pid:
            (self.folder / f"{os.getpid()}.pid").touch()
            while not (self.folder / "go").exists():
                time.sleep(0.05)
        return gym.make("Pendulum-v1")


class SignalActor0(BaseCallback):
    """Sends actor 0 ``sig`` once: while it starts up (blocked in ``BlocksInActors`` on ``folder``, which it then
    unblocks for the actor that replaces it) or, without a folder, once it has delivered. Slows the learner's own
    steps down until the replacement has delivered, so that the actors bring most of the budget."""

    def __init__(self, collector, folder: Path | None, sig: signal.Signals, timeout: float = 240.0):
        super().__init__()
        self.collector, self.folder, self.sig, self.timeout = collector, folder, sig, timeout
        self.steps_before = -1  # actor 0's steps when it got the signal

    def _on_step(self) -> bool:
        collector = self.collector
        if self.steps_before < 0:
            if self.folder is not None:
                self._signal(self._starting_actor(self.folder))
                (self.folder / "go").touch()
            elif collector.steps_per_actor[0]:
                self._signal(collector.actor_pids[0])
        if not (collector.restarts and collector.delivered_since_start[0]):
            time.sleep(0.05)
        return True

    def _starting_actor(self, folder: Path) -> int:
        deadline = time.monotonic() + self.timeout
        while not (found := list(folder.glob("*.pid"))):
            assert time.monotonic() < deadline, "no actor started"
            time.sleep(0.05)
        return int(found[0].stem)

    def _signal(self, pid: int) -> None:
        self.steps_before = self.collector.steps_per_actor[0]
        os.kill(pid, self.sig)


@pytest.fixture
def sigint_as_in_a_terminal():
    """SIGINT at Python's default for the test. A suite started in the background by a non-interactive shell runs
    with SIGINT ignored; actors inherit that and keep it, as a background job's children should, and would outlive
    the SIGINT that a test sends them."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("when, sig", [("start_up", "SIGKILL"), ("start_up", "SIGINT"), ("after_delivery", "SIGKILL")])
@pytest.mark.usefixtures("sigint_as_in_a_terminal")
def test_an_actor_killed_from_outside_is_restarted_whenever(tmp_path, when, sig):
    """A kill from outside (the OOM killer, a preempted node) is no error of the actor's code, even before its first
    delivery: the actor is restarted, and the run is the run it would have been without the kill."""
    kill_an_actor(tmp_path, "local", when, reason=rf"\nwas killed by {sig}", sig=signal.Signals[sig])


def kill_an_actor(tmp_path: Path, backend: str, when: str, reason: str, sig: signal.Signals = signal.SIGKILL):
    """Send actor 0 ``sig`` during its start-up or once it delivered, in a run of a fixed budget: the restart is
    warned about (``reason``: the failure's message) and logged, and the budget and the model's settings are those
    of a run without the kill."""
    model = make(SAC, learning_starts=100)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    before = settings(model)
    folder = tmp_path / "actors" if when == "start_up" else None
    if folder is not None:
        folder.mkdir()
    collector = ApeXCollector(
        n_actors=1,
        backend=backend,
        chunk_size=50,
        replay_ratio=0.5,
        env_fn=None if folder is None else BlocksInActors(folder),
    )
    killer = SignalActor0(collector, folder, sig)
    with pytest.warns(UserWarning, match=r"actor 0 \(pid [^)]+\) stopped and is restarted:" + reason):
        model.learn(2000, callback=CallbackList([collector, killer]))
    assert collector.restarts == 1
    assert (killer.steps_before == 0) == (folder is not None)  # killed before its first delivery, or after
    assert collector.steps_per_actor[0] > killer.steps_before  # the replacement delivered
    assert model.num_timesteps == model.replay_buffer.pos == 2000  # the budget, stored, as without the kill
    assert settings(model) == before
    with open(tmp_path / "progress.csv") as f:
        assert list(csv.DictReader(f))[-1]["apex/restarts"] == "1"


@pytest.mark.parametrize("how", ["end", "exception", "keyboard_interrupt"])
def test_the_model_is_left_as_it_was_found_and_no_actor_survives(tmp_path, how):
    """replay_ratio makes the collector run extra gradient steps; no setting of the model changes, whatever way
    learn() ends, and a saved zip holds the user's own settings."""
    model = make(SAC, learning_starts=100, gradient_steps=2, train_freq=1)
    before = settings(model)
    # Small chunks: at replay_ratio 4, each transition an actor has sent ahead costs the learner 4 gradient steps.
    collector = ApeXCollector(n_actors=1, chunk_size=10, replay_ratio=4.0)
    errors = {"exception": RuntimeError("boom"), "keyboard_interrupt": KeyboardInterrupt()}

    def trained_beyond_sb3(c):  # the collector has run extra gradient steps
        return c.model._n_updates > 2 * (c.model.num_timesteps - c.actor_steps - 100) + 50

    stopper = StopWhen(collector, trained_beyond_sb3, error=errors.get(how))
    with collector:
        if how == "end":
            model.learn(1_000_000, callback=CallbackList([collector, stopper]))
        else:
            with pytest.raises(type(errors[how])):
                model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    assert trained_beyond_sb3(collector)
    assert settings(model) == before
    model.save(tmp_path / "model.zip")
    assert SAC.load(tmp_path / "model.zip").gradient_steps == 2
    assert len(stopper.pids) == 1
    assert wait_until_gone(stopper.pids.values()) == []


def test_a_relaunch_right_after_an_exception_runs_and_stops_the_first_runs_actors():
    model = make(SAC, learning_starts=100)
    collector = ApeXCollector(n_actors=1, chunk_size=50)

    first = StopWhen(collector, lambda c: True, error=RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        model.learn(1_000_000, callback=CallbackList([collector, first]))
    assert all(_alive(pid) for pid in first.pids.values())  # SB3 told no callback: they are still there
    time.sleep(1.0)  # they act on until their outboxes are full, then wait
    # A few chunks ahead, not whatever the pipe buffers (64 KiB by default: 27 such chunks of 50 transitions).
    assert len(collector.backend.poll()) < 3 * OUTBOX_CHUNKS
    second = StopWhen(collector, lambda c: c.actor_steps >= 300)
    model.learn(1_000_000, callback=CallbackList([collector, second]), reset_num_timesteps=False)
    assert collector.actor_steps >= 300
    assert wait_until_gone([*first.pids.values(), *second.pids.values()]) == []
    assert not set(first.pids.values()) & set(second.pids.values())


@pytest.mark.parametrize("n_envs", [1, 2])
def test_the_budget_is_the_budget_and_the_progress_bar_reaches_it(n_envs):
    model = SAC("LargeMlpPolicy", make_vec_env("Pendulum-v1", n_envs=n_envs), seed=0, policy_kwargs=dict(width=16))
    model.learning_starts = 1_000_000  # collection only: once started, the actors outrun the learner by far
    collector, bar = ApeXCollector(n_actors=1, chunk_size=64), ProgressBarCallback()
    model.learn(1500, callback=CallbackList([collector, WaitForActors(collector), bar]))
    assert model.num_timesteps == 1500
    assert model.replay_buffer.pos * n_envs == 1500  # stored: exactly the budget
    assert collector.actor_steps > 0
    assert bar.pbar.n == 1500


def test_a_short_run_writes_log_rows(tmp_path):
    model = make(SAC, learning_starts=1000)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    collector = ApeXCollector(n_actors=1, chunk_size=100)
    model.learn(3000, callback=CallbackList([collector, WaitForActors(collector)]))
    with open(tmp_path / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows
    assert int(rows[-1]["apex/actor_steps"]) > 0


class FailsInActors:
    """Builds Pendulum in the learner's process and fails in any other (an actor's), as ``how`` says: ``raise`` an
    exception, ``exit`` with a code of its own, or ``abort`` (a signal the process raises itself, as crashing native
    code does)."""

    def __init__(self, how: str = "raise"):
        self.pid, self.how = os.getpid(), how

    def __call__(self):
        if os.getpid() != self.pid:
            if self.how == "exit":
                os._exit(3)
            if self.how == "abort":
                resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file in the working directory
                os.abort()
            raise RuntimeError("simulator licence not found on this machine")
        return gym.make("Pendulum-v1")


def test_an_actor_that_cannot_start_stops_learn_with_its_own_error():
    collector = ApeXCollector(n_actors=1, chunk_size=50, env_fn=FailsInActors())
    with pytest.raises(RuntimeError, match=r"actor \d failed before delivering any transition") as info:
        make(SAC).learn(1_000_000, callback=CallbackList([collector, WaitForActors(collector)]))
    message = str(info.value)
    assert "Traceback" in message and "RuntimeError: simulator licence not found on this machine" in message
    assert collector.restarts == 0


@pytest.mark.parametrize("how, reason", [("exit", "exited with code 3"), ("abort", "was killed by SIGABRT")])
def test_an_actor_that_ends_itself_during_start_up_stops_learn(how, reason):
    """Only a signal from outside is restarted: an exit code or a signal of the actor's own is its failure."""
    collector = ApeXCollector(n_actors=1, chunk_size=50, env_fn=FailsInActors(how))
    with pytest.raises(RuntimeError, match=rf"actor 0 failed before delivering any transition; its error:\n{reason}"):
        make(SAC).learn(1_000_000, callback=CallbackList([collector, WaitForActors(collector)]))
    assert collector.restarts == 0


SCRIPT = """
import os, sys, time, torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback
import sb3_large
from sb3_large.apex import ApeXCollector

torch.set_num_threads(1)

def open_fds():
    return len(os.listdir("/proc/self/fd"))

class WaitForActors(BaseCallback):  # a short run would otherwise end before the actor has started
    def _on_step(self):
        if not collector.actor_steps:
            time.sleep(0.05)
        return True

model = SAC("LargeMlpPolicy", "Pendulum-v1", seed=0, learning_starts=100, policy_kwargs=dict(width=16))
model.learn(200)  # what a first run opens for good (the logger's files, ...) is not the collector's
fds = open_fds()
collector = ApeXCollector(n_actors=1, chunk_size=50)
model.learn(600, callback=[collector, WaitForActors()])
print("fds", fds, open_fds(), "timesteps", model.num_timesteps, "actor steps", collector.actor_steps)
"""


def test_a_script_from_stdin_runs_quietly_and_leaks_no_file_descriptor(tmp_path):
    """Actors never import the user's __main__: a script piped to python works, without a __main__ guard."""
    run = [sys.executable, "-"]
    proc = subprocess.run(run, cwd=tmp_path, input=SCRIPT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    fds = re.search(r"fds (\d+) (\d+) timesteps (\d+) actor steps (\d+)", proc.stdout)
    assert fds, proc.stdout
    before, after, timesteps, actor_steps = map(int, fds.groups())
    assert before == after
    assert timesteps == 600 and actor_steps > 0
    assert proc.stderr == ""


INTERRUPTED = """
import sys, time, torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
import sb3_large
from sb3_large.apex import ApeXCollector

torch.set_num_threads(1)

class Report(BaseCallback):
    def _on_step(self):
        if not all(collector.steps_per_actor):
            time.sleep(0.05)  # the learner's updates would only slow the actor's start down
        elif not hasattr(self, "done"):
            self.done = print("pids", *collector.actor_pids.values(), flush=True)
        return True

model = SAC("LargeMlpPolicy", "Pendulum-v1", seed=0, learning_starts=100, policy_kwargs=dict(width=16))
collector = ApeXCollector(n_actors=1, chunk_size=50)
model.learn(10**9, callback=CallbackList([collector, Report()]))
"""


def test_ctrl_c_in_a_script_stops_its_actors(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(INTERRUPTED)
    # As in a terminal: SIGINT at its default, so that Python turns it into KeyboardInterrupt. A suite started in
    # the background by a non-interactive shell (nohup, some CI scripts) runs with SIGINT ignored, which children
    # inherit: Python then installs no handler, and the script would ignore the Ctrl-C.
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("pids"), line
        pids = [int(p) for p in line.split()[1:]]
        proc.send_signal(signal.SIGINT)  # to the learner only, not to its process group: actors learn it from it
        assert proc.wait(timeout=60) != 0
    finally:
        proc.kill()
        proc.wait()
    assert len(pids) == 1 and wait_until_gone(pids) == []


def test_bad_input():
    with pytest.raises(ValueError, match=r"n_actors: must be a positive integer, got 0"):
        ApeXCollector(n_actors=0)
    with pytest.raises(ValueError, match=r"backend: unknown value 'mpi'; allowed: local, ray"):
        ApeXCollector(backend="mpi")
    with pytest.raises(ValueError, match=r"max_restarts: must be an integer >= 0, got -1"):
        ApeXCollector(max_restarts=-1)
    with pytest.raises(ValueError, match="replay_ratio: must be a finite number > 0"):
        ApeXCollector(replay_ratio=0)

    env = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]))
    with pytest.raises(ValueError, match=r"VecNormalize is not supported"):
        SAC("LargeMlpPolicy", env, policy_kwargs=dict(width=8)).learn(10, callback=ApeXCollector())
    scaled = sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(width=8), return_bound=5.0)
    with pytest.raises(ValueError, match=r"ApeXCollector: return_bound is not supported .*use return_bound=None"):
        scaled.learn(10, callback=ApeXCollector())

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


def test_env_fn_for_custom_envs():
    model = make(TD3, learning_starts=100)
    collector = ApeXCollector(n_actors=1, chunk_size=50, env_fn=lambda: gym.make("Pendulum-v1", g=5.0))
    stopper = StopWhen(collector, lambda c: c.actor_steps >= 100)
    model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    assert collector.steps_per_actor[0] >= 100
    assert np.all(np.abs(model.replay_buffer.actions[: model.replay_buffer.pos]) <= 1.0)


def test_rl_zoo_yaml_with_the_collector(tmp_path):
    conf = str(ROOT / "hyperparams" / "sac_ota2021_apex.yml")
    train = ["-m", "rl_zoo3.train", "--algo", "sac", "--env", "Pendulum-v1", "-conf", conf, "-n", "3000"]
    proc = run_python([*train, "-f", "logs", "--seed", "0", "--eval-freq", "-1", "--progress"], cwd=tmp_path)
    out = proc.stdout
    assert "sb3_large.apex.ApeXCollector" in out
    assert SAC.load(tmp_path / "logs" / "sac" / "Pendulum-v1_1" / "Pendulum-v1.zip").num_timesteps == 3000
    assert re.search(r"\| apex/ +\| +\|\n\| +actor_steps +\| \d+", out), out[-3000:]
    assert "3,000/3,000" in out + proc.stderr  # the progress bar counted the actors' transitions too


def test_ofenet_policy_actors_get_ofenet_weights_too():
    from sb3_large.ofenet import OFENetTrainer

    model = SAC(
        "OFENetPolicy",
        "Pendulum-v1",
        seed=0,
        learning_starts=200,
        policy_kwargs=dict(width=16, ofenet=dict(layers=2, growth=8, pretrain_steps=20)),
    )
    assert any(k.startswith("ofenet.") for k in acting_weights(model.policy))
    collector = ApeXCollector(n_actors=1, chunk_size=50, sync_every=10)
    stopper = StopWhen(collector, lambda c: max(c.versions_seen[0], default=0) >= 2)
    model.learn(1_000_000, callback=CallbackList([OFENetTrainer(), collector, stopper]))
    assert max(collector.versions_seen[0]) >= 2


def test_crossq_actors_act_with_the_learners_batch_norm_statistics():
    """CrossQ's actor normalizes with batch renorm statistics: a weight push carries them, the worker then acts
    as the learner does, and a collector run delivers transitions acted with synced weights."""
    from sb3_contrib import CrossQ

    learner = make(CrossQ, learning_starts=50)
    spec = WorkerSpec(0, lambda: gym.make("Pendulum-v1"), type(learner.policy), _saved(learner), 0.0, 1.0, 8, 1, 0)
    worker = ActorWorker(spec)
    learner.learn(100)  # moves the actor's weights and its batch renorm statistics
    weights = acting_weights(learner.policy)
    statistics = [k for k in weights if k.endswith(("ra_mean", "ra_var"))]
    assert statistics and any(not np.allclose(weights[k], acting_weights(worker.policy)[k]) for k in statistics)
    worker.set_weights(2, weights)
    obs = worker.obs
    np.testing.assert_allclose(
        worker.policy.predict(obs, deterministic=True)[0], learner.predict(obs, deterministic=True)[0], atol=1e-6
    )

    collector = ApeXCollector(n_actors=1, chunk_size=50, sync_every=10)
    stopper = StopWhen(collector, lambda c: max(c.versions_seen[0], default=0) >= 2)
    learner.learn(1_000_000, callback=CallbackList([collector, stopper]), reset_num_timesteps=False)
    assert max(collector.versions_seen[0]) >= 2


@pytest.mark.parametrize("order", ["ofenet_first", "collector_first"])
def test_ofenet_follows_the_rl_updates_whatever_the_callback_order(order):
    """OFENet : RL updates stay 1 : 1 (updates_per_step=1) when the collector adds gradient steps."""
    from sb3_large.ofenet import OFENetTrainer

    pretrain = 20
    model = SAC(
        "OFENetPolicy",
        "Pendulum-v1",
        seed=0,
        learning_starts=100,
        batch_size=64,
        policy_kwargs=dict(width=16, ofenet=dict(layers=2, growth=8, pretrain_steps=pretrain)),
    )
    trainer, collector = OFENetTrainer(), ApeXCollector(n_actors=1, chunk_size=16, replay_ratio=1.0)
    callbacks = [trainer, collector] if order == "ofenet_first" else [collector, trainer]
    model.learn(400, callback=CallbackList([*callbacks, WaitForActors(collector)]))
    rl_updates, ofenet_updates = model._n_updates, int(model.policy.ofenet.n_updates) - pretrain
    assert collector.actor_steps > 0
    assert rl_updates == 400 - 100  # replay_ratio 1: one per stored transition past learning_starts
    assert ofenet_updates == pytest.approx(rl_updates, rel=0.05)


def test_a_learner_with_several_envs_stores_actor_transitions_in_rows():
    model = SAC("LargeMlpPolicy", make_vec_env("Pendulum-v1", n_envs=2), seed=0, policy_kwargs=dict(width=16))
    collector = ApeXCollector(n_actors=1, chunk_size=25)  # odd chunks: one transition waits for the next chunk
    stopper = StopWhen(collector, lambda c: c.actor_steps >= 200)
    model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    buffer = model.replay_buffer
    # each buffer row holds n_envs transitions; the learner's last step (2 transitions) is counted, not stored;
    # a pending odd transition is neither stored nor counted yet
    assert buffer.pos * 2 == model.num_timesteps - 2
    assert collector.steps_per_actor[0] - collector.actor_steps in (0, 1)
    assert np.all(np.abs(buffer.observations[: buffer.pos]).sum(axis=-1) > 0)  # (cos, sin, .) is never all 0


def test_replay_ratio_sets_the_learners_updates():
    """With replay_ratio=1 the learner makes one gradient step per stored transition, the actors' included."""
    model = make(SAC, learning_starts=100)
    # Small chunks: an actor runs at most 4 chunks ahead, so its steps cannot carry the run from the warm-up to
    # the budget in one delivery (then SB3 would end learn() before training: seen on a loaded machine).
    collector = ApeXCollector(n_actors=1, chunk_size=10, replay_ratio=1.0)
    model.learn(400, callback=CallbackList([collector, WaitForActors(collector)]))
    assert collector.actor_steps > 0
    assert model._n_updates == 400 - 100
    assert model.gradient_steps == 1
