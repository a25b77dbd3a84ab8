"""A real two-node Ray cluster on loopback, run by test_apex_ray.py inside its network namespace.

It follows the README's cluster recipe: `ray start --head`, then `ray start --address=<head>` on the other node,
the same RAY_AUTH_MODE (and token) for every node and the driver; the learner joins by address.
"""

import time

import pytest
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import CallbackList

import sb3_large  # noqa: F401  (registers the policy aliases)
from sb3_large.apex import ApeXCollector

from .ray_helpers import Cluster, assert_nodes_on_loopback, require_loopback_namespace
from .test_apex import StopWhen, make, wait_until_gone

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    require_loopback_namespace()
    cluster = Cluster()
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes(ray, 2)
        assert_nodes_on_loopback(ray, 2)
        ray.shutdown()
        yield cluster
    finally:
        ray.shutdown()
        cluster.stop()


def free_cpus(address: str, timeout: float = 60.0) -> float:
    """CPUs the cluster has free once actor releases have settled (each actor holds one)."""
    ray.init(address=address, log_to_driver=False)
    try:
        deadline = time.monotonic() + timeout
        while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        return ray.available_resources().get("CPU", 0)
    finally:
        ray.shutdown()


def test_the_collector_joins_the_cluster_and_acts_on_both_nodes(cluster):
    # one CPU per node and one per actor: two actors that both deliver run on two nodes
    run_on_the_cluster(cluster, n_actors=2, ray_address=cluster.address)


def test_the_collector_joins_the_cluster_that_RAY_ADDRESS_names(cluster, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    run_on_the_cluster(cluster, n_actors=1)  # its driver sees two nodes: it joined, it did not start a Ray of its own


def run_on_the_cluster(cluster, n_actors: int, **kwargs) -> None:
    model = make(SAC, learning_starts=200)
    collector = ApeXCollector(n_actors=n_actors, backend="ray", chunk_size=50, sync_every=10, **kwargs)
    seen_nodes = {}

    def note_nodes(cb):
        seen_nodes["nodes"] = ray.nodes()

    def done(c):
        return all(c.versions_seen) and all(max(seen) >= 1 for seen in c.versions_seen)

    stopper = StopWhen(collector, done, action=note_nodes)
    model.learn(1_000_000, callback=CallbackList([collector, stopper]))
    assert done(collector), collector.versions_seen
    assert all(collector.steps_per_actor)
    assert not ray.is_initialized()  # the learner left the cluster it joined
    assert len([n for n in seen_nodes["nodes"] if n["Alive"]]) == 2
    # no actor left: their processes are gone and both CPUs are free again
    assert wait_until_gone(stopper.pids.values()) == []
    assert free_cpus(cluster.address) == 2
