import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch as th

ROOT = Path(__file__).resolve().parents[1]

# Tiny networks, several processes (actors, fresh interpreters) on 2 cores: one torch thread each avoids
# oversubscription, which made runs many times slower on a loaded machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
th.set_num_threads(1)
ARCHS = ("mlp", "densenet", "d2rl", "residual", "simbav2")


def run_python(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python <args>`` in a fresh interpreter; fail the test with its output if it fails.

    The checkout under test comes first on ``PYTHONPATH``, whatever ``cwd`` is, so the fresh interpreter imports
    this ``sb3_large`` even where another copy is installed.
    """
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(f"python {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc
