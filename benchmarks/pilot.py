"""Pilot runs for choosing a recipe: one training run, reporting *training*-episode returns only.

    python benchmarks/pilot.py sac_hl --algo sb3_large.sac --env Hopper-v4 --steps 30000 \
        --kwargs '{"arch": "densenet", "width": 256, "norm": "layer", "q_distribution": {}}'

Recipes are chosen on these numbers (the mean return of the last 10 training episodes, printed as a JSON line
every 5k steps), never on evaluation episodes; ``returns.py`` then measures the chosen ones on its separate
eval env. Every algorithm starts with 10k random steps (as ``returns.py`` runs them; RL Zoo's CrossQ takes 5k)
and the library defaults otherwise; pass e.g. CrossQ's ``{"learning_rate": 0.001, "policy_delay": 3}`` with
``--algo-kwargs``.
"""

import argparse
import importlib
import json
import time

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

ALGOS = ("sac", "sb3_large.sac", "crossq")


class TrainingReturns(BaseCallback):
    """Prints the mean of the last 10 training-episode returns every ``every`` steps."""

    def __init__(self, name: str, every: int = 5000):
        super().__init__()
        self.name, self.every, self.start = name, every, time.perf_counter()

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            returns = [info["r"] for info in list(self.model.ep_info_buffer)[-10:]]
            row = dict(
                name=self.name,
                step=self.num_timesteps,
                train_return=float(np.mean(returns)) if returns else None,
                wall_s=round(time.perf_counter() - self.start),
            )
            print(json.dumps(row), flush=True)
        return True


def algorithm(name: str):
    from sb3_contrib import CrossQ
    from stable_baselines3 import SAC

    import sb3_large

    return {"sac": SAC, "sb3_large.sac": sb3_large.SAC, "crossq": CrossQ}[name]


def callback(path: str) -> BaseCallback:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("--algo", default="sac", choices=ALGOS)
    parser.add_argument("--env", default="Hopper-v4")
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="LargeMlpPolicy")
    parser.add_argument("--kwargs", default="{}", help="policy kwargs, JSON")
    parser.add_argument("--algo-kwargs", default="{}", help="algorithm kwargs, JSON (learning_starts: 10000)")
    parser.add_argument("--callbacks", nargs="*", default=[], help="callback class paths, e.g. ObsNormUpdater's")
    parser.add_argument("--every", type=int, default=5_000, help="steps between printed lines")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    th.set_num_threads(args.threads)
    kwargs = {"learning_starts": 10_000, "seed": args.seed, **json.loads(args.algo_kwargs)}
    model = algorithm(args.algo)(args.policy, gym.make(args.env), policy_kwargs=json.loads(args.kwargs), **kwargs)
    model.learn(args.steps, callback=[TrainingReturns(args.name, args.every), *map(callback, args.callbacks)])


if __name__ == "__main__":
    main()
