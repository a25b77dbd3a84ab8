"""Ape-X collection scaling: environment steps/s and learner updates/s with 1, 2, ... N actors, in one run.

    python benchmarks/apex_scaling.py --env HalfCheetah-v4 --actors 1 2 --backends local ray --seconds 30
    python benchmarks/apex_scaling.py --backends ray-cluster --ray-address 127.0.0.1:6379   # a running cluster
    python benchmarks/apex_scaling.py --quick          # seconds, for CI smoke tests

``ray`` starts a Ray in this process; ``ray-cluster`` joins the cluster at ``--ray-address`` (or ``RAY_ADDRESS``),
started as in docs/apex.md's cluster recipe, whose nodes host the actors (one CPU each).

For each backend and actor count, a SAC learner (large DenseNet policy) trains while the actors collect; the
window starts once every actor has delivered a chunk (start-up excluded). ``--no-train`` keeps the learner
from updating, to measure collection alone. The learner's own CPU use (cores, all its threads) is reported
beside: on a small machine it is what the actors cannot have. Prints a table, then one JSON object per row.
"""

import argparse
import json
import os
import time

import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

import sb3_large  # noqa: F401  (registers the policy aliases)
from sb3_large.apex import ApeXCollector


class Window(BaseCallback):
    """Measures between 'every actor delivered once' and ``seconds`` later, then stops ``learn()``."""

    def __init__(self, collector: ApeXCollector, seconds: float, startup_timeout: float = 300.0):
        super().__init__()
        self.collector, self.seconds, self.startup_timeout = collector, seconds, startup_timeout
        self.start = None

    def _on_training_start(self) -> None:
        self.created = time.perf_counter()

    def _on_step(self) -> bool:
        now = time.perf_counter()
        if self.start is None:
            if all(self.collector.steps_per_actor):
                self.start = now
                self.steps0, self.updates0 = self.collector.actor_steps, self.model._n_updates
                self.cpu0 = time.process_time()
            return now - self.created < self.startup_timeout
        if now - self.start < self.seconds:
            return True
        self.elapsed = now - self.start
        self.actor_steps = self.collector.actor_steps - self.steps0
        self.updates = self.model._n_updates - self.updates0
        self.learner_cpu = (time.process_time() - self.cpu0) / self.elapsed
        return False


def measure(args, backend: str, n_actors: int) -> dict:
    model = SAC(
        "LargeMlpPolicy",
        args.env,
        learning_starts=10**9 if args.no_train else args.learning_starts,
        seed=0,
        policy_kwargs=dict(arch="densenet", width=args.width, depth=2),
    )
    collector = ApeXCollector(
        n_actors=n_actors,
        backend="local" if backend == "local" else "ray",
        ray_address=args.ray_address if backend == "ray-cluster" else None,
        chunk_size=args.chunk_size,
    )
    window = Window(collector, args.seconds)
    model.learn(10**9, callback=CallbackList([collector, window]))
    if window.start is None:
        raise RuntimeError(f"{backend} with {n_actors} actors: not every actor delivered within the start-up timeout")
    return dict(
        backend=backend,
        n_actors=n_actors,
        env=args.env,
        width=args.width,
        train=not args.no_train,
        seconds=round(window.elapsed, 1),
        env_steps_per_s=round(window.actor_steps / window.elapsed, 1),
        learner_updates_per_s=round(window.updates / window.elapsed, 2),
        learner_cpu_cores=round(window.learner_cpu, 2),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v4")
    parser.add_argument("--actors", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--backends", nargs="+", default=["local", "ray"], choices=["local", "ray", "ray-cluster"])
    parser.add_argument("--ray-address", default=os.environ.get("RAY_ADDRESS"), help="cluster of ray-cluster")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--no-train", action="store_true", help="measure collection without learner updates")
    parser.add_argument("--learner-threads", type=int, default=1, help="torch threads of the learner")
    parser.add_argument("--quick", action="store_true", help="Pendulum-v1, width 32, 3 s windows, local only")
    args = parser.parse_args(argv)
    if args.quick:
        args.env, args.width, args.seconds, args.backends, args.chunk_size = "Pendulum-v1", 32, 3.0, ["local"], 64
    if "ray-cluster" in args.backends and not args.ray_address:
        parser.error("--backends ray-cluster: give --ray-address host:port (or set RAY_ADDRESS)")
    if "ray" in args.backends and "RAY_ADDRESS" in os.environ:
        parser.error("--backends ray starts a Ray in this process: unset RAY_ADDRESS (or use ray-cluster)")
    th.set_num_threads(args.learner_threads)

    rows = []
    for backend in args.backends:
        for n_actors in args.actors:
            rows.append(measure(args, backend, n_actors))
            print(f"measured {backend} x{n_actors}: {rows[-1]['env_steps_per_s']} env steps/s", flush=True)
    print(f"\n{args.env}, SAC DenseNet {args.width}x2, {os.cpu_count()} CPUs, learner threads {args.learner_threads}")
    print("| backend | actors | env steps/s | vs N x 1 actor | learner updates/s | learner CPU (cores) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        one = next(r for r in rows if r["backend"] == row["backend"] and r["n_actors"] == min(args.actors))
        per_actor_one = one["env_steps_per_s"] / one["n_actors"]
        row["scaling"] = round(row["env_steps_per_s"] / (row["n_actors"] * per_actor_one), 3)
        print(
            f"| {row['backend']} | {row['n_actors']} | {row['env_steps_per_s']} | {row['scaling']} "
            f"| {row['learner_updates_per_s']} | {row['learner_cpu_cores']} |"
        )
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
