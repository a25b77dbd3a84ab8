"""Helpers of the Ray cases (run inside the network namespace made by test_apex_ray.py)."""

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

RAY_CLI = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]


def require_loopback_namespace() -> None:
    """Fail (not skip) when run outside the namespace: these cases must never bind a real interface."""
    interfaces = [name for _, name in socket.if_nameindex()]
    if interfaces != ["lo"]:
        pytest.fail(f"Ray cases must run inside test_apex_ray.py's network namespace; interfaces here: {interfaces}")


def assert_nodes_on_loopback(ray, n_nodes: int) -> None:
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == n_nodes, nodes
    for node in nodes:
        assert ipaddress.ip_address(node["NodeManagerAddress"]).is_loopback, node["NodeManagerAddress"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A head and a second node started with ``ray start --block``, each in its own process group, 1 CPU each,
    stopped by their process ids. Temp dirs of their own: no other Ray on the machine finds them."""

    def __init__(self):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.root = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a length limit
        self.processes: list[subprocess.Popen] = []
        common = ["--num-cpus=1", "--block", "--disable-usage-stats"]
        self._start("head", ["start", "--head", f"--port={self.port}", "--include-dashboard=false", *common])
        self._wait_for_port()
        self._start("node", ["start", f"--address={self.address}", *common])

    def _start(self, name: str, args: list[str]) -> None:
        log = open(os.path.join(self.root, f"{name}.log"), "w")
        temp_dir = os.path.join(self.root, name)
        process = subprocess.Popen(
            [*RAY_CLI, *args, f"--temp-dir={temp_dir}"], stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        self.processes.append(process)

    def _wait_for_port(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the Ray head did not open {self.address}:\n{self.logs()}")

    def wait_for_nodes(self, ray, n_nodes: int = 2, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(n["Alive"] for n in ray.nodes()) < n_nodes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{n_nodes} Ray nodes did not come up:\n{self.logs()}")
            time.sleep(0.5)

    def logs(self) -> str:
        return "\n".join(
            open(os.path.join(self.root, f"{name}.log")).read()[-3000:]
            for name in ("head", "node")
            if os.path.exists(os.path.join(self.root, f"{name}.log"))
        )

    def stop(self) -> None:
        # SIGKILL at once: a test cluster holds nothing to save, and on SIGTERM `ray start --block` took 20 to 35 s
        # to stop its node. Workers that Ray moved to groups of their own exit when their raylet is gone.
        for process in self.processes:
            os.killpg(process.pid, signal.SIGKILL)  # the group of this `ray start`: its raylet, GCS, workers
        for process in self.processes:
            process.wait()
            deadline = time.monotonic() + 30
            while group_alive(process.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
        shutil.rmtree(self.root, ignore_errors=True)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
