"""Ray in this process (1 node), run by test_apex_ray.py inside its loopback-only network namespace."""

import shutil
import tempfile

import pytest
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.callbacks import CallbackList

import sb3_large  # noqa: F401  (registers the policy aliases)
from sb3_large.apex import ApeXCollector

from .ray_helpers import assert_nodes_on_loopback, require_loopback_namespace
from .test_apex import (
    FailsInActors,
    StopWhen,
    WaitForActors,
    kill_an_actor,
    kill_an_actor_mid_learn,
    make,
    wait_until_gone,
)

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    require_loopback_namespace()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # not /tmp/ray: no `ray start` cluster is joined
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
    yield
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


def test_the_node_is_on_loopback():
    assert_nodes_on_loopback(ray, 1)


def test_two_actors_fill_the_buffer_and_receive_weights():
    model = make(TD3, learning_starts=100)
    collector = ApeXCollector(n_actors=2, backend="ray", chunk_size=50, sync_every=10)

    def done(c):
        return all(c.versions_seen) and all(max(seen) >= 1 for seen in c.versions_seen) and c.weight_syncs >= 2

    stopper = StopWhen(collector, done)
    model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    assert done(collector), (collector.versions_seen, collector.weight_syncs)
    assert model.replay_buffer.pos == model.num_timesteps - 1
    assert collector.backend is None
    assert wait_until_gone(stopper.pids.values()) == []  # a Ray the user started stays; our actors do not


def test_kill_an_actor_mid_learn_it_is_restarted():
    kill_an_actor_mid_learn("ray")


def test_an_actor_killed_during_its_start_up_is_restarted(tmp_path):
    """Ray reports the death of the actor's process (actor_init_failed False), not an exception of its code."""
    kill_an_actor(tmp_path, "ray", "start_up", reason=r"\nThe actor died unexpectedly")


def test_an_actor_that_cannot_start_stops_learn_with_its_own_error():
    """An exception in the actor's __init__ is its own error (actor_init_failed): learn() stops, no restart."""
    collector = ApeXCollector(n_actors=1, backend="ray", chunk_size=50, env_fn=FailsInActors())
    with pytest.raises(RuntimeError, match=r"actor 0 failed before delivering any transition") as info:
        make(SAC).learn(1_000_000, callback=CallbackList([collector, WaitForActors(collector)]))
    assert "RuntimeError: simulator licence not found on this machine" in str(info.value)
    assert collector.restarts == 0


def test_the_budget_is_the_budget():
    model = make(SAC, learning_starts=10**6)
    collector = ApeXCollector(n_actors=1, backend="ray", chunk_size=64)
    model.learn(1200, callback=CallbackList([collector, WaitForActors(collector)]))
    assert model.num_timesteps == model.replay_buffer.pos == 1200
    assert collector.actor_steps > 0
