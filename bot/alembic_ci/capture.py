"""Watches every statement the run sends through SQLAlchemy, whoever opened the connection
(our engine, or one env.py built from app settings):

- refuses, before it runs, any statement on a database other than the scratch database;
- records the statements of each revision, with their parameters rendered;
- runs each ALTER of a reported revision through online_ddl.probe, which asks the server how
  it runs it (the one real execution), then keeps SQLAlchemy from sending it again;
- gives every new MySQL session a lock-wait timeout, so a migration waiting on a lock held by
  its own second connection fails in seconds instead of the server's default 24 hours.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from typing import Iterator, Optional

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import Pool

from . import online_ddl
from .errors import UnsafeConnection
from .report import MAX_RECORDED, Statement
from .sandbox import SCRATCH_PREFIX
from .server import describe, server_error

_MYSQL_DRIVER_MODULES = ("pymysql", "MySQLdb", "mysql", "mariadb", "asyncmy", "aiomysql")
_MAX_ROWS_RENDERED = 20
# The dialect events in which a listener may execute the statement itself (returning True).
_EXECUTE_EVENTS = ("do_execute", "do_execute_no_params")


_REFLECTION = re.compile(r"\s*(SHOW|DESCRIBE|DESC|EXPLAIN)\b|.*\b(information_schema|performance_schema)\.",
                         re.IGNORECASE | re.DOTALL)


@functools.lru_cache(maxsize=8)
def _version_rows(version_table: str) -> re.Pattern:
    return re.compile(rf"\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+`?{re.escape(version_table)}`?\b", re.IGNORECASE)


def is_bookkeeping(sql: str, version_table: str) -> bool:
    """Alembic's version-table rows and SQLAlchemy's reflection queries (inspect(), SHOW ...)
    are not part of what a revision does to the schema: leave them out of its SQL."""
    return bool(_REFLECTION.match(sql) or _version_rows(version_table).match(sql))


def _where(url: URL) -> tuple:
    return ((url.host or "localhost").lower(), url.port or 3306, url.database, url.query.get("unix_socket"))


class Capture:
    def __init__(self, scratch_url: URL, lock_wait_timeout: int, reported: frozenset = frozenset()) -> None:
        self._allowed = _where(scratch_url)
        self._scratch_url = scratch_url
        self.lock_wait_timeout = int(lock_wait_timeout)
        self.reported = reported  # revision ids whose ALTERs get an online-DDL verdict
        self.revision: Optional[str] = None  # the revision running now (set by the replay)
        self.recording = False
        self.window: list[Statement] = []
        self.not_recorded = 0  # statements past MAX_RECORDED in this window
        self.version_table = "alembic_version"  # env.py's, once it configures the context
        self.pending: Optional[Statement] = None
        self.failed: Optional[tuple[DBAPIError, Statement]] = None  # the last statement the server refused
        self._executed = None  # the cursor a probe already ran the pending statement on
        self._started = 0.0
        self.server_seconds = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "Capture":
        event.listen(Engine, "before_cursor_execute", self._before, retval=True)
        event.listen(Engine, "after_cursor_execute", self._after)
        event.listen(Engine, "handle_error", self._failed)
        event.listen(Pool, "connect", self._on_connect)
        for name in _EXECUTE_EVENTS:
            event.listen(Engine, name, self._skip_executed)
        return self

    def __exit__(self, *exc_info) -> None:
        event.remove(Engine, "before_cursor_execute", self._before)
        event.remove(Engine, "after_cursor_execute", self._after)
        event.remove(Engine, "handle_error", self._failed)
        event.remove(Pool, "connect", self._on_connect)
        for name in _EXECUTE_EVENTS:
            event.remove(Engine, name, self._skip_executed)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Our own queries (schema lookups between operations) are not the revision's SQL."""
        recording, self.recording = self.recording, False
        try:
            yield
        finally:
            self.recording = recording

    def take(self) -> tuple[list[Statement], int]:
        """The statements recorded since the last call, and how many more were not recorded."""
        window, self.window = self.window, []
        not_recorded, self.not_recorded = self.not_recorded, 0
        self.failed = None  # nor keep its exception (and the frames of its traceback) alive
        return window, not_recorded

    # -- listeners -------------------------------------------------------------------------
    def _on_connect(self, dbapi_connection, connection_record) -> None:
        # An async driver's connection comes wrapped in SQLAlchemy's adapter, whose cursor runs
        # synchronously here.
        driver_connection = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        if not type(driver_connection).__module__.startswith(_MYSQL_DRIVER_MODULES):
            return
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET SESSION lock_wait_timeout = {self.lock_wait_timeout}, "
                           f"innodb_lock_wait_timeout = {self.lock_wait_timeout}")
        finally:
            cursor.close()

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        url = conn.engine.url
        if _where(url) != self._allowed:
            target = f"database {url.database!r} at {describe(url)}" if url.database else describe(url)
            raise UnsafeConnection(
                f"env.py opened a connection to {target}, not to the scratch database "
                f"{self._scratch_url.database!r}; stopped before running anything there",
                "make env.py use the connection alembic-ci passes in config.attributes[\"connection\"] "
                "(Alembic cookbook: 'Sharing a Connection across one or more programmatic migration "
                "commands') or the sqlalchemy.url it sets, instead of building its own engine from app settings",
            )
        self._started = time.perf_counter()  # the online-DDL probes below are server time too
        self._executed = None
        if not self.recording:
            return statement, parameters
        if conn.get_execution_options().get("skip_user_error_events") and not _REFLECTION.match(statement):
            # SQLAlchemy 2's MySQL reflection sets this on the connection itself, for good: every
            # later error of the migration would then pass _failed by.
            conn.execution_options(skip_user_error_events=False)
        # Sent without parameters (no_parameters), the driver does not interpolate: no %% to undo.
        verbatim = not parameters and context is not None and context.no_parameters
        self.pending = Statement(sql=_render(cursor, statement, None if verbatim else parameters, executemany))
        if self.revision in self.reported and not executemany:
            verdict = online_ddl.probe(cursor, statement, parameters, _is_mariadb(conn))
            if verdict is not None:
                self.pending.table = verdict.table
                self.pending.algorithm, self.pending.lock = verdict.algorithm, verdict.lock
                self.pending.blocks_writes, self.pending.refusals = verdict.blocks_writes, verdict.refusals
                if verdict.ran:
                    self._executed = cursor
        return statement, parameters

    def _skip_executed(self, cursor, *args) -> bool:
        """True tells SQLAlchemy the statement was executed already (by the probe)."""
        if cursor is self._executed:
            self._executed = None
            return True
        return False

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self._record()

    def _failed(self, context) -> None:
        """A statement the server refused is recorded with its error, also when the migration
        catches the error and goes on ("some databases have it already"): production runs it too."""
        exc = context.sqlalchemy_exception
        if context.statement is None or not isinstance(exc, DBAPIError):
            return  # not a statement's error (a connection that failed to open)
        statement = self._record(self.server_error(exc))
        if statement is not None:
            self.failed = exc, statement

    def _record(self, error: Optional[str] = None) -> Optional[Statement]:
        """Ends the statement under way and keeps it in the revision's SQL if it is part of it;
        returns it (None when not recording)."""
        # Every statement counts as server time (reflection, snapshot restore), recorded or not.
        elapsed = time.perf_counter() - self._started
        self.server_seconds += elapsed
        statement, self.pending = self.pending, None
        if not self.recording or statement is None:
            return None
        statement.duration_ms, statement.error = round(elapsed * 1000, 3), error
        if is_bookkeeping(statement.sql, self.version_table):
            pass  # not the revision's SQL
        elif len(self.window) < MAX_RECORDED:
            self.window.append(statement)
        else:
            self.not_recorded += 1
        return statement

    def statement_of(self, exc: DBAPIError) -> Optional[Statement]:
        """The statement that raised ``exc``, if one did: ended by _failed, or still pending where
        SQLAlchemy skipped that event. Before take()."""
        if self.failed is not None and self.failed[0] is exc:
            return self.failed[1]
        return self._record(self.server_error(exc)) if self.pending is not None else None

    def server_error(self, exc: DBAPIError) -> str:
        """The server's error without the names this run made up (the scratch database's, the
        confined user's): "Table 'db.t' doesn't exist", "Can't create table `db`.`t`", "denied to
        user 'alembic_ci_1f2e'" read the same from push to push, and so does the pull request's
        comment."""
        error = server_error(exc)
        for name, meaning in ((self._scratch_url.database, "scratch database"),
                              (self._scratch_url.username, "scratch user")):
            if name and name.startswith(SCRATCH_PREFIX):
                error = error.replace(f"`{name}`.", "").replace(f"'{name}.", "'").replace(name, f"<{meaning}>")
        return error


def _is_mariadb(conn) -> bool:
    return bool(getattr(conn.dialect, "is_mariadb", False))


def _render(cursor, statement: str, parameters, executemany: bool) -> str:
    """The statement as the server received it: parameters rendered by the driver itself
    (whitespace tidied: SQLAlchemy's DDL ends lines with ", " and indents with tabs)."""
    return tidy_sql(_with_parameters(cursor, statement, parameters, executemany))


def tidy_sql(sql: str) -> str:
    return "\n".join(line.rstrip().replace("\t", "    ") for line in sql.strip().splitlines())


def _with_parameters(cursor, statement: str, parameters, executemany: bool) -> str:
    # Empty parameters still go through the driver's interpolation: its %% becomes %.
    # An async driver's (aiomysql, asyncmy) is on the cursor SQLAlchemy's adapter wraps.
    mogrify = getattr(cursor, "mogrify", None) or getattr(getattr(cursor, "_cursor", None), "mogrify", None)
    if parameters is None or (not parameters and (executemany or mogrify is None)):
        return statement.strip()
    if mogrify is None:
        return f"{statement.strip()}\n-- parameters: {parameters!r}"
    try:
        if not executemany:
            return mogrify(statement, parameters).strip()
        rows = [mogrify(statement, row).strip() for row in list(parameters)[:_MAX_ROWS_RENDERED]]
        more = len(parameters) - len(rows)
        return ";\n".join(rows) + (f";\n-- ... and {more} more rows" if more > 0 else "")
    except Exception:  # a driver that cannot render these parameters: show them as data
        return f"{statement.strip()}\n-- parameters: {parameters!r}" if parameters else statement.strip()
