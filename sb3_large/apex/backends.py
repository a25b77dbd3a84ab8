"""Where the actors run: ``local`` processes on this machine (default) or ``ray`` actors on a cluster.

Both follow ``Backend``: ``start`` an actor from a pickled ``WorkerSpec``, ``poll`` what actors produced since
the last call without waiting, ``push_weights`` without blocking the learner, ``stop`` everything.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing import Pipe
from typing import Any, Protocol
from urllib.parse import urlparse

import cloudpickle
import numpy as np

from sb3_large.apex.chunk import ActorFailure, Chunk
from sb3_large.apex.worker import ActorWorker

Weights = dict[str, np.ndarray]
# Seconds a stopped actor gets to exit on its own (it checks between chunks) before SIGTERM: one still
# starting up (importing torch) would otherwise keep the learner waiting; actors hold nothing worth saving.
STOP_GRACE = 1.0
STOP_TIMEOUT = 5.0  # seconds to wait for an ended process's exit code, or for a terminated one
# Signals that a process brings on itself (a crash in native code, abort()): a restart would end the same way. Any
# other signal that ends an actor came from outside (the OOM killer, a preempted node, a user), no fault of its code.
OWN_SIGNALS = frozenset(
    {signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGSEGV, signal.SIGSYS, signal.SIGTRAP}
)


class Backend(Protocol):
    """Runs actors for ``ApeXCollector``."""

    def start(self, actor_id: int, payload: bytes) -> None:
        """Start actor ``actor_id`` from a cloudpickled ``WorkerSpec``, replacing one that ran under this id."""

    def poll(self) -> list[Chunk | ActorFailure]:
        """Chunks delivered and actors that stopped since the last call; never waits."""

    def push_weights(self, version: int, weights: Weights) -> None:
        """Hand newer acting weights to every actor, without waiting for them."""

    def stop(self) -> None:
        """Stop every actor (in parallel) and release what the backend holds."""


class _ActorProcess:
    """One local actor: its process, the pipe its chunks arrive through, and a thread that sends it its spec,
    then the latest weights, then the stop message, so that a slow actor never blocks the learner."""

    def __init__(self, actor_id: int, payload: bytes):
        self.actor_id = actor_id
        data_recv, data_send = Pipe(duplex=False)
        control_recv, control_send = Pipe(duplex=False)
        self.stderr = tempfile.TemporaryFile()
        fds = (data_send.fileno(), control_recv.fileno())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sb3_large.apex.process", *map(str, fds)],
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
            stdout=self.stderr,
            stderr=self.stderr,
            # what the learner can import, the actor can unpickle (as multiprocessing's spawn does)
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)},
        )
        data_send.close()
        control_recv.close()
        self.data, self.control = data_recv, control_send
        self._latest: tuple[int, Weights] | None = None
        self._stopping = False
        self._changed = threading.Condition()
        self._sender = threading.Thread(target=self._send, args=(payload,), daemon=True, name=f"apex-send-{actor_id}")
        self._sender.start()

    def _send(self, payload: bytes) -> None:
        try:
            self.control.send_bytes(payload)
            sent = None
            while True:
                with self._changed:
                    while not self._stopping and self._latest is sent:
                        self._changed.wait()
                    stopping, latest = self._stopping, self._latest
                if stopping:
                    self.control.send(None)
                    return
                self.control.send(latest)
                sent = latest
        except OSError:  # the actor is gone; its end is reported by poll()
            return

    def push_weights(self, weights: tuple[int, Weights]) -> None:
        with self._changed:
            self._latest = weights
            self._changed.notify()

    def receive(self) -> list[Chunk | ActorFailure]:
        messages: list[Chunk | ActorFailure] = []
        try:
            while self.data.poll():
                messages.append(self.data.recv())
        except (EOFError, OSError):  # the process ended, possibly mid-message: a partial chunk is dropped
            messages.append(self._failure())
        return messages

    def _failure(self) -> ActorFailure:
        """How the process ended, with its output (the traceback of an error of its own)."""
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return ActorFailure(self.actor_id, "closed its pipe but did not exit")
        how = f"exited with code {code}"
        if code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:  # a real-time signal has no name
                how = f"was killed by signal {-code}"
        self.stderr.seek(0)
        output = self.stderr.read().decode(errors="replace")[-8000:]
        message = f"{how}; its output:\n{output}" if output else how
        return ActorFailure(self.actor_id, message, from_outside=code < 0 and -code not in OWN_SIGNALS)

    def request_stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self.data.close()  # an actor blocked on sending a chunk sees the learner leave

    def finish(self, deadline: float) -> None:
        try:
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._sender.join()  # returns: its pipe's reader has exited
        self.control.close()
        self.stderr.close()


class LocalBackend:
    """Actors as processes on this machine, each with its own pipes: a crash affects no other."""

    def __init__(self):
        self.actors: dict[int, _ActorProcess] = {}
        self._weights: tuple[int, Weights] | None = None

    def start(self, actor_id: int, payload: bytes) -> None:
        if actor_id in self.actors:
            self._stop([self.actors.pop(actor_id)])
        actor = _ActorProcess(actor_id, payload)
        self.actors[actor_id] = actor

    def poll(self) -> list[Chunk | ActorFailure]:
        messages: list[Chunk | ActorFailure] = []
        for actor in list(self.actors.values()):
            received = actor.receive()
            if received and isinstance(received[-1], ActorFailure):
                self._stop([self.actors.pop(actor.actor_id)])
            messages.extend(received)
        return messages

    def push_weights(self, version: int, weights: Weights) -> None:
        for actor in self.actors.values():
            actor.push_weights((version, weights))

    def stop(self) -> None:
        actors, self.actors = list(self.actors.values()), {}
        self._stop(actors)

    @staticmethod
    def _stop(actors: list[_ActorProcess]) -> None:
        for actor in actors:
            actor.request_stop()
        deadline = time.monotonic() + STOP_GRACE
        for actor in actors:
            actor.finish(deadline)


def check_ray_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast with a clear error when a Ray head is not reachable (``ray.init`` would retry for long)."""
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    host, port = parsed.hostname, parsed.port or (10001 if parsed.scheme == "ray" else 6379)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        raise ConnectionError(
            f"ray_address: cannot reach a Ray cluster at {address!r} ({host}:{port}): {exc}; "
            "start one with `ray start --head`, or leave ray_address and RAY_ADDRESS unset for a local Ray"
        ) from None


class _RayWorker:
    """``ActorWorker`` behind a Ray actor (the class is wrapped with ``ray.remote`` by the backend)."""

    def __init__(self, payload: bytes):
        self.worker = ActorWorker(cloudpickle.loads(payload))

    def collect(self) -> Chunk:
        return self.worker.collect(self.worker.spec.chunk_size)

    def set_weights(self, weights: tuple[int, Weights]) -> None:
        self.worker.set_weights(*weights)


class RayBackend:
    """Actors as Ray actors (1 CPU each); two ``collect`` calls in flight per actor keep it stepping."""

    def __init__(self, address: str | None):
        try:
            import ray
        except ImportError:
            raise ImportError("backend='ray' needs Ray: pip install 'sb3-large[ray]'") from None
        self.ray = ray
        address = address or os.environ.get("RAY_ADDRESS")
        if address and address != "auto":
            check_ray_address(address)
        # A Ray we start or join is ours to disconnect from at the end; one the user initialised stays up.
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.remote_class = ray.remote(num_cpus=1)(_RayWorker)
        self.handles: dict[int, Any] = {}
        self.in_flight: dict[Any, int] = {}
        self._weights_ref: Any = None

    def start(self, actor_id: int, payload: bytes) -> None:
        if actor_id in self.handles:
            self._kill(actor_id)
        handle: Any = self.remote_class.remote(payload)  # type: ignore[attr-defined]
        self.handles[actor_id] = handle
        if self._weights_ref is not None:
            handle.set_weights.remote(self._weights_ref)
        for _ in range(2):
            self.in_flight[handle.collect.remote()] = actor_id

    def _kill(self, actor_id: int) -> None:
        self.ray.kill(self.handles.pop(actor_id), no_restart=True)
        self.in_flight = {ref: i for ref, i in self.in_flight.items() if i != actor_id}

    def poll(self) -> list[Chunk | ActorFailure]:
        messages: list[Chunk | ActorFailure] = []
        if not self.in_flight:
            return messages
        ready, _ = self.ray.wait(list(self.in_flight), num_returns=len(self.in_flight), timeout=0)
        for ref in ready:
            actor_id = self.in_flight.pop(ref, None)
            if actor_id is None:  # the actor failed on an earlier call of this poll
                continue
            try:
                messages.append(self.ray.get(ref))
                self.in_flight[self.handles[actor_id].collect.remote()] = actor_id
            except self.ray.exceptions.RayError as exc:
                messages.append(ActorFailure(actor_id, str(exc), from_outside=self._died_from_outside(exc)))
                self._kill(actor_id)
        return messages

    def _died_from_outside(self, exc: Exception) -> bool:
        """Whether the actor's process or node died under it (killed, out of memory, preempted), rather than its
        code raising, in ``__init__`` or in ``collect``. Ray reports a process that ends itself (a crash in native
        code, ``os._exit``) as it reports a SIGKILL: such an end counts as from outside too."""
        return isinstance(exc, self.ray.exceptions.RayActorError) and not exc.actor_init_failed

    def push_weights(self, version: int, weights: Weights) -> None:
        self._weights_ref = self.ray.put((version, weights))
        for handle in self.handles.values():
            handle.set_weights.remote(self._weights_ref)

    def stop(self) -> None:
        if self.ray.is_initialized():
            for actor_id in list(self.handles):
                self._kill(actor_id)
            if self.owns_ray:
                self.ray.shutdown()
        self.handles.clear()
        self.in_flight.clear()


def make_backend(name: str, ray_address: str | None) -> Backend:
    if name == "local":
        return LocalBackend()
    return RayBackend(ray_address)
