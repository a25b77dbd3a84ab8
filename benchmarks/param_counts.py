"""Parameter counts of large SAC policies per architecture and width (docs/architectures.md's table).

python benchmarks/param_counts.py --obs-dim 27 --act-dim 8   # Ant-v4
"""

import argparse

import numpy as np
from gymnasium import spaces
from tables import markdown_table

from sb3_large.networks import count_parameters
from sb3_large.policies import LargeSACPolicy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--obs-dim", type=int, default=27)
    parser.add_argument("--act-dim", type=int, default=8)
    parser.add_argument("--archs", nargs="+", default=["mlp", "densenet", "d2rl", "residual"])
    parser.add_argument("--widths", nargs="+", type=int, default=[256, 512, 1024, 2048])
    parser.add_argument("--depth", type=int, default=2)
    args = parser.parse_args(argv)

    obs_space = spaces.Box(-np.inf, np.inf, (args.obs_dim,), np.float32)
    act_space = spaces.Box(-1, 1, (args.act_dim,), np.float32)
    print(f"SAC, obs {args.obs_dim}, act {args.act_dim}, depth {args.depth}: trainable parameters (actor + 2 critics)")
    rows = []
    for arch in args.archs:
        cells = [arch]
        for width in args.widths:
            policy = LargeSACPolicy(obs_space, act_space, lambda _: 3e-4, arch=arch, width=width, depth=args.depth)
            cells.append(f"{(count_parameters(policy.actor) + count_parameters(policy.critic)) / 1e6:.2f}M")
        rows.append(cells)
    print(markdown_table(["arch", *(f"width {w}" for w in args.widths)], rows))


if __name__ == "__main__":
    main()
