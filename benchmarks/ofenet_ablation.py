"""Side by side in one run: the large DenseNet SAC policy with and without OFENet, same seed and budget.

    python benchmarks/ofenet_ablation.py --env Hopper-v4 --budget 25000 --width 256 --seed 0

Prints a table (final deterministic return over 10 episodes of a separate eval env, wall time) and one JSON
object per configuration.
"""

import argparse
import json
import time

import gymnasium as gym
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from tables import markdown_table

import sb3_large  # noqa: F401  (registers the policy aliases)
from sb3_large.ofenet import OFENetTrainer


def run(config: str, args) -> dict:
    body = dict(arch="densenet", width=args.width, depth=args.depth)
    if config == "densenet+ofenet":
        policy, callback = "OFENetPolicy", OFENetTrainer()
        body["ofenet"] = dict(layers=args.ofenet_layers, growth=args.ofenet_growth, pretrain_steps=args.pretrain)
    else:
        policy, callback = "LargeMlpPolicy", None
    model = SAC(policy, args.env, learning_starts=args.learning_starts, seed=args.seed, policy_kwargs=body)
    start = time.perf_counter()
    model.learn(args.budget, callback=callback, progress_bar=args.progress)
    wall = time.perf_counter() - start
    eval_env = Monitor(gym.make(args.env))
    eval_env.reset(seed=args.seed + 1000)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    return dict(
        config=config,
        env=args.env,
        seed=args.seed,
        budget=args.budget,
        width=args.width,
        mean_return=round(float(mean), 1),
        std_return=round(float(std), 1),
        wall_seconds=round(wall, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Hopper-v4")
    parser.add_argument("--budget", type=int, default=25_000)
    parser.add_argument("--learning-starts", type=int, default=5_000)
    parser.add_argument("--pretrain", type=int, default=5_000, help="OFENet pretraining updates")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--ofenet-layers", type=int, default=6)
    parser.add_argument("--ofenet-growth", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--progress", action="store_true", help="show SB3's progress bar")
    args = parser.parse_args()
    if args.threads:
        th.set_num_threads(args.threads)

    rows = [run(config, args) for config in ("densenet", "densenet+ofenet")]
    print(f"\n{args.env}, seed {args.seed}, {args.budget} steps, width {args.width}x{args.depth}")
    cells = [[row["config"], f"{row['mean_return']} +/- {row['std_return']}", row["wall_seconds"]] for row in rows]
    print(markdown_table(["config", "return (10 eps)", "wall s"], cells))
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
