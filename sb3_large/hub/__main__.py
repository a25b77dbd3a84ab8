"""``python -m sb3_large.hub``: see ``sb3_large.hub.cli``."""

from sb3_large.cli import run_command
from sb3_large.hub.cli import main

run_command(main)
