"""Where the actors run: ``local`` processes on this machine (default) or ``ray`` actors on a cluster.

A backend starts actors from a pickled ``WorkerSpec``, returns the messages they produced since the last
``poll()`` without waiting, reports actors that died, delivers weights without blocking the learner, and
stops everything. Messages are ``("chunk", actor_id, chunk)`` or ``("error", actor_id, text)``.
"""

import multiprocessing as mp
import os
import queue
import socket
import threading
import traceback
from multiprocessing.connection import Connection, wait
from typing import Any
from urllib.parse import urlparse

import cloudpickle
import torch as th

from sb3_large.apex.worker import ActorWorker

Message = tuple[str, int, Any]


def _process_main(actor_id: int, payload: bytes, data_conn: Connection, ctrl_conn: Connection) -> None:
    """Body of a local actor process: step, send chunks, apply weights, exit with the learner."""
    parent = os.getppid()
    try:
        spec = cloudpickle.loads(payload)
        worker = ActorWorker(spec)
        # A sender thread keeps the actor stepping while the learner is busy; the bounded outbox is the
        # backpressure that stops it from running arbitrarily far ahead.
        outbox: queue.Queue = queue.Queue(maxsize=4)

        def send_forever() -> None:
            while True:
                data_conn.send(outbox.get())

        sender = threading.Thread(target=send_forever, daemon=True)
        sender.start()

        def learner_alive() -> bool:  # the sender dies when the learner's end of the pipe is gone
            return os.getppid() == parent and sender.is_alive()

        while learner_alive():
            while ctrl_conn.poll():
                message = ctrl_conn.recv()
                if message is None:
                    return
                worker.set_weights(*message)
            chunk = ("chunk", actor_id, worker.collect(spec.chunk_size))
            while learner_alive():
                try:
                    outbox.put(chunk, timeout=1.0)
                    break
                except queue.Full:
                    continue
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return
    except Exception:
        data_conn.send(("error", actor_id, traceback.format_exc()))
        raise SystemExit(1) from None


class LocalBackend:
    """Actors as processes on this machine, each with its own pipes: a crash affects no other."""

    def __init__(self, start_method: str = "spawn"):
        # spawn: safe beside the learner's threads, and unlike forkserver it leaves no server process behind.
        self.ctx = mp.get_context(start_method)
        self.processes: dict[int, Any] = {}
        self.data: dict[int, Connection] = {}
        self.ctrl: dict[int, Connection] = {}
        self.broken: set[int] = set()
        self._weights: tuple[int, dict[str, th.Tensor]] | None = None
        self._weights_ready = threading.Condition()
        self._sent: dict[int, int] = {}  # actor -> weights version sent to it (sender thread's bookkeeping)
        self._stopping = False
        self._sender = threading.Thread(target=self._send_weights_forever, daemon=True)
        self._sender.start()

    def start(self, actor_id: int, payload: bytes) -> None:
        data_recv, data_send = self.ctx.Pipe(duplex=False)
        ctrl_recv, ctrl_send = self.ctx.Pipe(duplex=False)
        process = self.ctx.Process(
            target=_process_main, args=(actor_id, payload, data_send, ctrl_recv), daemon=True, name=f"apex-{actor_id}"
        )
        process.start()
        data_send.close()
        ctrl_recv.close()
        self.processes[actor_id], self.data[actor_id], self.ctrl[actor_id] = process, data_recv, ctrl_send
        self.broken.discard(actor_id)

    def pids(self) -> dict[int, int]:
        return {i: p.pid for i, p in self.processes.items()}

    def poll(self) -> list[Message]:
        messages: list[Message] = []
        conns = {conn: i for i, conn in self.data.items() if i not in self.broken}
        while conns:
            ready = wait(list(conns), timeout=0)
            if not ready:
                break
            for conn in ready:
                try:
                    messages.append(conn.recv())
                except (EOFError, OSError):  # the process died, possibly mid-message: drop the partial chunk
                    self.broken.add(conns.pop(conn))
        return messages

    def dead(self) -> list[int]:
        return [i for i, p in self.processes.items() if i in self.broken or not p.is_alive()]

    def restart(self, actor_id: int, payload: bytes) -> None:
        self._close(actor_id)
        self.start(actor_id, payload)
        with self._weights_ready:
            self._sent.pop(actor_id, None)
            self._weights_ready.notify()

    def push_weights(self, version: int, state: dict[str, th.Tensor]) -> None:
        with self._weights_ready:
            self._weights = (version, state)
            self._weights_ready.notify()

    def _send_weights_forever(self) -> None:
        sent = self._sent
        while True:
            with self._weights_ready:
                self._weights_ready.wait(timeout=1.0)
                if self._stopping:
                    return
                weights = self._weights
            if weights is None:
                continue
            for actor_id, conn in list(self.ctrl.items()):
                if sent.get(actor_id) == weights[0]:
                    continue
                try:
                    conn.send(weights)
                    sent[actor_id] = weights[0]
                except (OSError, ValueError):  # actor gone or being restarted; it gets weights after restart
                    sent.pop(actor_id, None)

    def _close(self, actor_id: int) -> None:
        process = self.processes.pop(actor_id)
        for conn in (self.data.pop(actor_id), self.ctrl.pop(actor_id)):
            conn.close()
        if process.is_alive():
            process.terminate()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()

    def stop(self) -> None:
        with self._weights_ready:
            self._stopping = True
            self._weights_ready.notify()
        for conn in self.ctrl.values():
            try:
                if not conn.closed:
                    conn.send(None)
            except OSError:
                pass
        for actor_id in list(self.processes):
            self.processes[actor_id].join(timeout=2)
            self._close(actor_id)


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

    def collect(self) -> Message:
        return ("chunk", self.worker.spec.actor_id, self.worker.collect(self.worker.spec.chunk_size))

    def set_weights(self, weights) -> None:
        self.worker.set_weights(*weights)

    def pid(self) -> int:
        return os.getpid()


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
        # A Ray we start is ours to shut down at the end; one the user started stays up.
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.remote_class = ray.remote(num_cpus=1)(_RayWorker)
        self.handles: dict[int, Any] = {}
        self.in_flight: dict[Any, int] = {}
        self.broken: set[int] = set()
        self._weights_ref = None

    def start(self, actor_id: int, payload: bytes) -> None:
        handle = self.remote_class.remote(payload)
        self.handles[actor_id] = handle
        self.broken.discard(actor_id)
        for _ in range(2):
            self.in_flight[handle.collect.remote()] = actor_id

    def poll(self) -> list[Message]:
        messages: list[Message] = []
        if not self.in_flight:
            return messages
        ready, _ = self.ray.wait(list(self.in_flight), num_returns=len(self.in_flight), timeout=0)
        for ref in ready:
            actor_id = self.in_flight.pop(ref)
            if actor_id in self.broken or actor_id not in self.handles:
                continue
            try:
                messages.append(self.ray.get(ref))
                self.in_flight[self.handles[actor_id].collect.remote()] = actor_id
            except self.ray.exceptions.RayTaskError as exc:
                messages.append(("error", actor_id, str(exc)))
                self.broken.add(actor_id)
            except self.ray.exceptions.RayError:
                self.broken.add(actor_id)
        return messages

    def pids(self) -> dict[int, int]:
        ids = list(self.handles)
        return dict(zip(ids, self.ray.get([self.handles[i].pid.remote() for i in ids]), strict=True))

    def dead(self) -> list[int]:
        return sorted(self.broken)

    def restart(self, actor_id: int, payload: bytes) -> None:
        self.ray.kill(self.handles.pop(actor_id), no_restart=True)
        self.in_flight = {ref: i for ref, i in self.in_flight.items() if i != actor_id}
        self.start(actor_id, payload)
        if self._weights_ref is not None:
            self.handles[actor_id].set_weights.remote(self._weights_ref)

    def push_weights(self, version: int, state: dict[str, th.Tensor]) -> None:
        self._weights_ref = self.ray.put((version, state))
        for handle in self.handles.values():
            handle.set_weights.remote(self._weights_ref)

    def stop(self) -> None:
        for handle in self.handles.values():
            self.ray.kill(handle, no_restart=True)
        self.handles.clear()
        self.in_flight.clear()
        if self.owns_ray:
            self.ray.shutdown()


def make_backend(name: str, ray_address: str | None, start_method: str):
    if name == "local":
        return LocalBackend(start_method)
    return RayBackend(ray_address)
