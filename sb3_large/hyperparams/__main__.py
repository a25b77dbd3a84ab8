"""``python -m sb3_large.hyperparams NAME``: the path of a shipped hyperparameter file, for RL Zoo's ``-conf``."""

import argparse

from sb3_large.cli import run_command
from sb3_large.hyperparams import names, path


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sb3_large.hyperparams",
        description="Print the installed path of a hyperparameter file, e.g. "
        "python -m rl_zoo3.train --algo sac --env Hopper-v4 -conf $(python -m sb3_large.hyperparams sac_large)",
    )
    parser.add_argument("name", nargs="?", help=f"one of: {', '.join(names())}; without it, every file's path")
    args = parser.parse_args()
    if args.name is None:
        for name in names():
            print(path(name))
        return
    try:
        print(path(args.name))
    except ValueError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    run_command(main)
