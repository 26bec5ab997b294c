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
    signal arriving meanwhile is ignored rather than raised halfway through it."""
    _cleaning[0] += 1
    try:
        yield
    finally:
        _cleaning[0] -= 1


def in_cleanup() -> bool:
    return _cleaning[0] > 0


# SIGHUP: the terminal or SSH session closed, which must clean up like SIGTERM.
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))
_active = [0]  # interrupts_raise() contexts entered: only the outermost installs the handler


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """Turn SIGTERM/SIGINT/SIGHUP into an Interrupted exception: once, and never during a cleanup
    (see cleaning()), so that the cleanup the first signal started runs to its end. Re-entrant:
    the CLI holds it from its start, and the pipelines it runs hold it too."""
    if threading.current_thread() is not threading.main_thread() or _active[0]:
        yield
        return
    fired = []

    def handler(signum, frame):
        if not fired and not _cleaning[0]:
            fired.append(signum)
            raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
    _active[0] += 1
    try:
        yield
    finally:
        _active[0] -= 1
        for sig, old in previous.items():
            signal.signal(sig, old)
