"""``python -m sb3_large.zoo train|enjoy <rl_zoo3 arguments>``: see ``sb3_large.zoo.cli``."""

from sb3_large.cli import run_command
from sb3_large.zoo.cli import main

if __name__ == "__main__":
    run_command(main)
