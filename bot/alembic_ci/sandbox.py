"""The scratch database: created with a unique name on the server, the only place the bot
writes, and dropped on every exit path (success, failure, Ctrl-C, SIGTERM)."""

from __future__ import annotations

import contextlib
import datetime
import os
import secrets
import signal
import sys
import threading
import time
from typing import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from .errors import Interrupted, ServerError
from .server import connect_with_wait, create_server_engine, describe, server_version

SCRATCH_PREFIX = "alembic_ci_"


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """Turn SIGTERM/SIGINT into an Interrupted exception (once: a second signal must not
    abort the cleanup the first one started)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):
        if not fired:
            fired.append(signum)
            raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class ScratchDatabase:
    """``with ScratchDatabase(server_url, ...) as scratch:`` — ``scratch.url`` names the new
    database; ``scratch.server`` is e.g. "MariaDB 10.11.19"."""

    def __init__(self, server_url: URL, wait_seconds: float, progress: Callable[[str], None]) -> None:
        self.server_url = server_url
        self.wait_seconds = wait_seconds
        self.progress = progress
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
        self.name = f"{SCRATCH_PREFIX}{stamp}_{os.getpid()}_{secrets.token_hex(3)}"
        self.url = server_url.set(database=self.name)
        self.server = ""
        self._engine = create_server_engine(server_url)
        self._created = False
        self.server_seconds = 0.0  # spent in CREATE/DROP DATABASE (outside the capture)

    def __enter__(self) -> "ScratchDatabase":
        with connect_with_wait(self._engine, self.server_url, self.wait_seconds, self.progress) as conn:
            self.server = server_version(conn)
            try:
                self._timed(conn, f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4")
            except DBAPIError as exc:
                user = self.server_url.username
                raise ServerError(
                    f"user {user!r} may not create a database on {describe(self.server_url)} ({exc.orig})",
                    f"grant it: GRANT ALL PRIVILEGES ON `{SCRATCH_PREFIX.replace('_', chr(92) + '_')}%`.* "
                    f"TO '{user}'@'%' (alembic-ci only ever writes in databases it creates)",
                ) from exc
            self._created = True
        return self

    def __exit__(self, *exc_info) -> None:
        if self._created:
            self.drop()
        self._engine.dispose()

    def _timed(self, conn: sa.engine.Connection, sql: str) -> None:
        started = time.perf_counter()
        try:
            conn.exec_driver_sql(sql)
        finally:
            self.server_seconds += time.perf_counter() - started

    def drop(self) -> None:
        """Kill whatever still works in the scratch database (a migration hung on a lock, a
        connection env.py left open), then drop it."""
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("SET SESSION lock_wait_timeout = 10")
                ids = conn.execute(
                    sa.text("SELECT ID FROM information_schema.PROCESSLIST "
                            "WHERE DB = :db AND ID <> CONNECTION_ID()"), {"db": self.name}).scalars().all()
                for thread_id in ids:
                    with contextlib.suppress(DBAPIError):
                        conn.exec_driver_sql(f"KILL {int(thread_id)}")
                self._timed(conn, f"DROP DATABASE IF EXISTS `{self.name}`")
            self._created = False
        except DBAPIError as exc:
            print(f"alembic-ci: warning: could not drop the scratch database {self.name} ({exc.orig}); "
                  f"drop it by hand: DROP DATABASE `{self.name}`", file=sys.stderr)
