"""SIGTERM and Ctrl-C: raised as an exception where the bot can clean up, never in the middle of
a cleanup. Standard library only: the CLI installs this before it loads SQLAlchemy."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

from .errors import Interrupted

_cleaning = [0]  # > 0 while a cleanup runs: a signal then must not abort it


@contextlib.contextmanager
def cleaning() -> Iterator[None]:
    """Around cleanup code (dropping the scratch database, stopping the embedded server): a
    SIGTERM/SIGINT arriving meanwhile is ignored rather than raised halfway through it."""
    _cleaning[0] += 1
    try:
        yield
    finally:
        _cleaning[0] -= 1


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """Turn SIGTERM/SIGINT into an Interrupted exception: once, and never during a cleanup
    (see cleaning()), so that the cleanup the first signal started runs to its end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):
        if not fired and not _cleaning[0]:
            fired.append(signum)
            raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
