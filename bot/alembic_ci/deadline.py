"""The revision timeout: a revision still running after the limit is stopped where it stands, and
reported with its call stack, instead of hanging the job until CI kills it (GitHub: after 6 hours).

The statement watchdog (watchdog.py) stops a statement on the server; this stops the Python code
around the statements: a sleep, a wait on a network service, a data migration that loops for ever.
It is SIGALRM in the main thread, and it never fires inside a statement (the watchdog's job, which
also frees the server: an exception raised in the driver would leave the statement running there)
nor during a cleanup.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable

from .interrupts import in_cleanup

_RETRY = 1.0  # seconds: a statement or a cleanup is running, ask again
_AGAIN = 5.0  # seconds: the migration swallowed the exception (a bare except), raise it again


class RevisionTimedOut(BaseException):
    """A BaseException, like KeyboardInterrupt, so that a migration's broad ``except Exception``
    (a retry loop) cannot swallow it."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"still running after {seconds:g} s (--revision-timeout)")
        self.seconds = seconds


class RevisionDeadline:
    """``start()`` at each revision (and before env.py reaches the first), ``stop()`` around the
    bot's own work between them. ``busy()`` is true while a statement runs. Outside the main
    thread, or without setitimer, there is no signal to use: no limit."""

    def __init__(self, seconds: float, busy: Callable[[], bool]) -> None:
        self.seconds = seconds
        self._busy = busy
        self._previous = None
        self._armed = False

    def __enter__(self) -> "RevisionDeadline":
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            self._previous = signal.signal(signal.SIGALRM, self._fire)
            self._armed = True
        return self

    def __exit__(self, *exc_info) -> None:
        if self._armed:
            self.stop()
            signal.signal(signal.SIGALRM, self._previous)
            self._armed = False

    def start(self) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def stop(self) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _fire(self, signum, frame) -> None:
        if self._busy() or in_cleanup():
            signal.setitimer(signal.ITIMER_REAL, _RETRY)
            return
        signal.setitimer(signal.ITIMER_REAL, _AGAIN)
        raise RevisionTimedOut(self.seconds)
