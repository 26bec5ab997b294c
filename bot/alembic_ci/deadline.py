"""The revision timeout: a revision still running after the limit is stopped where it stands, and
reported with its call stack, instead of hanging the job until CI kills it (GitHub: after 6 hours).

The statement watchdog (watchdog.py) stops a statement on the server; this stops the Python code
around the statements: a sleep, a wait on a network service, a data migration that loops for ever.
It is SIGALRM in the main thread. It never raises inside the driver or SQLAlchemy's engine (there
an exception would leave the statement running on the server, or break the connection: a statement
is the watchdog's, which also frees the server) nor during a cleanup; it asks again shortly.
PyMySQL, the documented driver, retries a read the signal interrupts; with a C driver
(mysqlclient), a statement running when the limit passes can end with a lost connection (2013).
"""

from __future__ import annotations

import signal
import threading

from .interrupts import in_cleanup

_RETRY = 0.25  # seconds: a statement or a cleanup is running, ask again
_AGAIN = 5.0  # seconds: the migration swallowed the exception (a bare except), raise it again
# Modules an exception must not interrupt: the MySQL drivers and SQLAlchemy's engine and dialects.
_DATABASE_CODE = ("sqlalchemy.engine.", "sqlalchemy.pool.", "sqlalchemy.dialects.", "sqlalchemy.connectors.",
                  "pymysql.", "MySQLdb.", "mysql.connector.", "mariadb.", "asyncmy.", "aiomysql.")


class RevisionTimedOut(BaseException):
    """A BaseException, like KeyboardInterrupt, so that a migration's broad ``except Exception``
    (a retry loop) cannot swallow it."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"still running after {seconds:g} s (--revision-timeout)")
        self.seconds = seconds


class RevisionDeadline:
    """``start()`` at each revision (and before env.py reaches the first), ``stop()`` around the
    bot's own work between them. Outside the main thread, or without setitimer, there is no
    signal to use: no limit."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._previous = None
        self._armed = False

    def __enter__(self) -> "RevisionDeadline":
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            self._previous = signal.signal(signal.SIGALRM, self._fire)
            self._armed = True
        return self

    def __exit__(self, *exc_info) -> None:
        if self._armed:
            self._armed = False  # first: a signal already on its way then does nothing
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)

    def start(self) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def stop(self) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _fire(self, signum, frame) -> None:
        if not self._armed:
            return
        if in_cleanup() or _in_database_code(frame):
            signal.setitimer(signal.ITIMER_REAL, _RETRY)
            return
        signal.setitimer(signal.ITIMER_REAL, _AGAIN)
        raise RevisionTimedOut(self.seconds)


def _in_database_code(frame) -> bool:
    """Whether the interrupted code runs inside the driver or SQLAlchemy's engine: a statement on
    its way, or the Python around it (results, transactions, reflection)."""
    # An event loop waiting: with an async driver the statement's coroutine is suspended, off this stack.
    if frame is not None and (frame.f_globals.get("__name__") or "").startswith(("asyncio.", "selectors")):
        return True
    while frame is not None:
        if (frame.f_globals.get("__name__") or "").startswith(_DATABASE_CODE):
            return True
        frame = frame.f_back
    return False
