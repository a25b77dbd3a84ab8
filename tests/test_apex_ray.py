"""Ray backend of the Ape-X collector. Every Ray these tests start keeps its traffic on loopback: the cases in
ray_cases_*.py run in a network namespace that this test makes (``unshare --net``, then ``ip link set lo up``),
where the only interface is loopback. On a machine with a network, Ray would otherwise bind to its address."""

import os
import secrets
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT


def test_ray_backend_on_loopback_only():
    pytest.importorskip("ray")
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("making a network namespace needs root, unshare and ip (CI runs as root)")
    cases = [str(ROOT / "tests" / name) for name in ("ray_cases_local.py", "ray_cases_cluster.py")]
    pytest_cmd = [sys.executable, "-m", "pytest", *cases, "-v", "-p", "no:cacheprovider"]
    # One auth setting for every Ray process, drivers and nodes alike: token auth, as the README's recipe has it.
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *pytest_cmd],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, f"{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-4000:]
