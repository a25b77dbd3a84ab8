"""What the package's command lines share: a reader that stops early (``| head -1``) ends them quietly."""

import os
import sys
from collections.abc import Callable

# The exit status of a writer whose reader left: 128 + SIGPIPE, as a shell reports it for a process killed by it.
SIGPIPE_STATUS = 141


def run_command(main: Callable[[], None]) -> None:
    """Run a command line's ``main``; when its stdout is closed early, exit with ``SIGPIPE_STATUS``, printing nothing.

    Python ignores SIGPIPE, so a write to a closed pipe raises ``BrokenPipeError``, and the interpreter's own last
    flush of stdout would report it again. As Python's documentation recommends, stdout is flushed here and, once its
    reader is gone, pointed at devnull. A command that had ended already (``SystemExit``) keeps its status.
    """
    try:
        try:
            main()
        finally:
            sys.stdout.flush()
    except BrokenPipeError as exc:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if isinstance(exc.__context__, SystemExit):
            raise exc.__context__ from None
        sys.exit(SIGPIPE_STATUS)


__all__ = ["SIGPIPE_STATUS", "run_command"]
