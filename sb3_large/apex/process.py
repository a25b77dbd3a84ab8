"""Entry point of a local actor process: ``python -m sb3_large.apex.process <data fd> <control fd>``.

A fresh interpreter that imports only sb3-large (never the user's ``__main__``, unlike multiprocessing's spawn),
so that scripts run from stdin or a notebook work and an actor that fails leaves its traceback on its stderr,
which the learner reads. Control messages: the pickled ``WorkerSpec`` first, then ``(version, weights)``, then
``None`` to stop.
"""

import fcntl
import os
import queue
import signal
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler

import cloudpickle

from sb3_large.apex.worker import ActorWorker

OUTBOX_CHUNKS = 4  # how far an actor may run ahead of a busy learner


def run(data: Connection, control: Connection) -> None:
    worker = ActorWorker(cloudpickle.loads(control.recv_bytes()))
    # A sender thread keeps the actor stepping while the learner is busy; the bounded outbox is the
    # backpressure that stops it from running arbitrarily far ahead.
    outbox: queue.Queue = queue.Queue(maxsize=OUTBOX_CHUNKS)

    def send_forever() -> None:
        try:
            message = ForkingPickler.dumps(outbox.get())  # what data.send() would write
            fit_pipe(data, len(message))
            while True:
                data.send_bytes(message)
                message = ForkingPickler.dumps(outbox.get())
        except OSError:  # the learner closed its end: the run is over
            return

    sender = threading.Thread(target=send_forever, daemon=True)
    sender.start()

    def apply_control() -> bool:
        """Apply pending weights; False once the learner said stop or is gone."""
        try:
            while control.poll():
                message = control.recv()
                if message is None:
                    return False
                worker.set_weights(*message)
        except (EOFError, OSError):
            return False
        return True

    while apply_control():
        chunk = worker.collect(worker.spec.chunk_size)
        while sender.is_alive():
            try:
                outbox.put(chunk, timeout=0.05)
                break
            except queue.Full:
                if not apply_control():
                    return
        else:
            return


def fit_pipe(data: Connection, chunk_bytes: int) -> None:
    """Shrink the pipe to about one chunk. The outbox is meant to be the backpressure; a pipe's default 64 KiB holds
    dozens of small chunks (Pendulum's 50 transitions are 2.4 kB), which let an actor run that much further ahead:
    transitions acted with stale weights, and with ``replay_ratio`` a burst of owed gradient steps for the learner.
    A pipe that holds less than a chunk already is left as it is."""
    try:
        if fcntl.fcntl(data.fileno(), fcntl.F_GETPIPE_SZ) > chunk_bytes:
            fcntl.fcntl(data.fileno(), fcntl.F_SETPIPE_SZ, chunk_bytes)  # the kernel rounds up, to a page at least
    except (AttributeError, OSError):  # not Linux, or refused by the kernel: the pipe stays as it was
        pass


def main() -> None:
    # A SIGINT comes from outside, as a SIGTERM does: the actor ends by it, which the learner restarts, instead of
    # raising KeyboardInterrupt, which would read as an error of its own. An ignored SIGINT (a background job) stays so.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    data_fd, control_fd = (int(arg) for arg in sys.argv[1:3])
    code = 0
    try:
        run(Connection(data_fd, readable=False), Connection(control_fd, writable=False))
    except BaseException:
        # Exit at once, as below: the learner reports this traceback once the process has exited and waits only
        # seconds for that; on a busy machine, finalizing the interpreter after an error took longer.
        traceback.print_exc()
        code = 1
    # The actor holds nothing to save, and finalizing the interpreter (torch, the env) can take seconds.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
