"""The scratch database: created with a unique name on the server, the only place the bot
writes, and dropped on every exit path (success, failure, Ctrl-C, SIGTERM)."""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import secrets
import sys
import time
from typing import Callable, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from .errors import ServerError
from .interrupts import cleaning
from .server import (connect_with_wait, create_engine, create_server_engine, describe, execute_text, quote_ident,
                     server_version)
from .watchdog import StatementWatchdog

SCRATCH_PREFIX = "alembic_ci_"


class ScratchDatabase:
    """``with ScratchDatabase(server_url, ...) as scratch:`` — ``scratch.url`` names the new
    database; ``scratch.server`` is e.g. "MariaDB 10.11.19".

    ``existing`` names an empty database to use instead (for a user who may not create
    databases): it must be empty, and is emptied again on exit rather than dropped.
    ``statement_timeout`` (seconds) stops any statement running longer in it."""

    def __init__(self, server_url: URL, wait_seconds: float, progress: Callable[[str], None],
                 existing: Optional[str] = None, statement_timeout: Optional[float] = None) -> None:
        self.server_url = server_url
        self.wait_seconds = wait_seconds
        self.progress = progress
        self.existing = existing
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
        self.name = existing or f"{SCRATCH_PREFIX}{stamp}_{os.getpid()}_{secrets.token_hex(3)}"
        self.url = server_url.set(database=self.name)
        self.server = ""
        self._engine = create_server_engine(server_url)
        self._created = False
        self._user: Optional[str] = None  # the user confined to the scratch database, once created
        self.server_seconds = 0.0  # spent in CREATE/DROP DATABASE (outside the capture)
        self._watchdog = StatementWatchdog(self._engine, self.name, statement_timeout) if statement_timeout else None

    def __enter__(self) -> "ScratchDatabase":
        try:
            with connect_with_wait(self._engine, self.server_url, self.wait_seconds, self.progress) as conn:
                self.server = server_version(conn)
                if self.existing:
                    self._check_empty(conn)
                else:
                    self._create(conn)
                self._confine(conn)
            if self._watchdog is not None:
                self._watchdog.__enter__()
        except BaseException:  # noqa: B902 - a signal too: `with` runs no __exit__ when __enter__ fails
            self.__exit__(None, None, None)
            raise
        return self

    def _create(self, conn: sa.engine.Connection) -> None:
        self._created = True  # before: a signal right after CREATE must still drop it (IF EXISTS)
        try:
            self._timed(conn, f"CREATE DATABASE {quote_ident(self.name)} CHARACTER SET utf8mb4")
        except DBAPIError as exc:
            self._created = False
            user = self.server_url.username
            raise ServerError(
                f"user {user!r} may not create a database on {describe(self.server_url)} ({exc.orig.args[-1]})",
                f"grant it: GRANT ALL PRIVILEGES ON `{SCRATCH_PREFIX.replace('_', chr(92) + '_')}%`.* "
                f"TO '{user}'@'%' (alembic-ci only ever writes in databases it creates), or name an "
                "existing empty database it may use with --scratch-database NAME",
            ) from exc

    def _confine(self, conn: sa.engine.Connection) -> None:
        """Run the migrations as a user of their own, granted the scratch database only: then the
        server itself refuses whatever reaches into another database (a schema-qualified table, a
        version_table_schema, USE), which no check of the SQL text could promise."""
        user, password = f"{SCRATCH_PREFIX}{secrets.token_hex(6)}", secrets.token_urlsafe(18)
        try:
            self._user = user
            # In a GRANT, _ and % in a database name are wildcards: escaped, it names this one only.
            grantable = quote_ident(re.sub(r"([\\_%])", r"\\\1", self.name))
            # 'localhost' too: an anonymous ''@'localhost' (MariaDB's default install) would
            # otherwise take socket connections from '%'.
            for host in ("%", "localhost"):
                execute_text(conn, f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
                execute_text(conn, f"GRANT ALL PRIVILEGES ON {grantable}.* TO '{user}'@'{host}'")
            confined = self.url.set(username=user, password=password)
            create_server_engine(confined).connect().close()  # e.g. an auth plugin the driver lacks
        except DBAPIError as exc:
            self._drop_user(conn)
            self.progress(f"warning: no user confined to the scratch database ({exc.orig.args[-1]}): the "
                          f"migrations run as {self.server_url.username!r}, whose grants alone keep them "
                          "out of other databases (grant CREATE USER to let alembic-ci confine them)")
            return
        self.url = confined

    def _drop_user(self, conn: sa.engine.Connection) -> None:
        if self._user is not None:
            with contextlib.suppress(DBAPIError):
                execute_text(conn, f"DROP USER IF EXISTS '{self._user}'@'%', '{self._user}'@'localhost'")
            self._user = None

    def _check_empty(self, conn: sa.engine.Connection) -> None:
        exists = conn.execute(sa.text("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :db"),
                              {"db": self.name}).scalar()
        if not exists:
            raise ServerError(f"--scratch-database {self.name}: no such database on {describe(self.server_url)} "
                              f"(or user {self.server_url.username!r} may not see it)",
                              "create it empty and grant the user ALL PRIVILEGES on it")
        found = _objects(conn, self.name)
        if found:
            names = ", ".join(name for name, _ in found[:5]) + (", ..." if len(found) > 5 else "")
            raise ServerError(f"--scratch-database {self.name} is not empty ({len(found)} objects: {names})",
                              "name an empty database: alembic-ci empties it when it is done, so it must "
                              "hold nothing of value")
        self._created = True

    @contextlib.contextmanager
    def connect(self) -> Iterator[sa.engine.Connection]:
        """A connection to the scratch database: one serves the restore, the replay and the
        comparison."""
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def __exit__(self, *exc_info) -> None:
        with cleaning():
            if self._watchdog is not None and self._watchdog.started:
                self._watchdog.__exit__(*exc_info)
            if self._created:
                self.drop()
            self._engine.dispose()

    def _timed(self, conn: sa.engine.Connection, sql: str) -> None:
        started = time.perf_counter()
        try:
            execute_text(conn, sql)
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
                if self.existing:
                    conn.exec_driver_sql("SET SESSION foreign_key_checks = 0")
                    for _, drop in _objects(conn, self.name):
                        self._timed(conn, drop)
                else:
                    self._timed(conn, f"DROP DATABASE IF EXISTS {quote_ident(self.name)}")
                self._drop_user(conn)
            self._created = False
        except DBAPIError as exc:
            what = ("empty the scratch database", "drop its tables by hand") if self.existing else \
                ("drop the scratch database", f"drop it by hand: DROP DATABASE {quote_ident(self.name)}")
            print(f"alembic-ci: warning: could not {what[0]} {self.name} ({exc.orig}); {what[1]}", file=sys.stderr)


def _objects(conn: sa.engine.Connection, database: str) -> list:
    """(name, DROP statement) of everything in ``database``: tables, views, sequences,
    routines, events (triggers go with their tables)."""
    found = []
    rows = conn.execute(sa.text("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
                                "WHERE TABLE_SCHEMA = :db"), {"db": database})
    for name, kind in rows:
        keyword = {"VIEW": "VIEW", "SEQUENCE": "SEQUENCE"}.get(kind, "TABLE")
        found.append((name, f"DROP {keyword} IF EXISTS {quote_ident(database, name)}"))
    rows = conn.execute(sa.text("SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
                                "WHERE ROUTINE_SCHEMA = :db"), {"db": database})
    found.extend((name, f"DROP {kind} IF EXISTS {quote_ident(database, name)}") for name, kind in rows)
    rows = conn.execute(sa.text("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = :db"),
                        {"db": database})
    found.extend((name, f"DROP EVENT IF EXISTS {quote_ident(database, name)}") for (name,) in rows)
    return found
