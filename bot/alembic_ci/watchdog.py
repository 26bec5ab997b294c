"""The statement timeout: a thread on its own admin connection that stops (KILL QUERY) any
statement running in the scratch database for longer than the limit.

One mechanism for every server: MariaDB's max_statement_time would do, but MySQL's
max_execution_time covers SELECT only, and a migration hangs in ALTERs and UPDATEs too.
The migration then fails with error 1317 (query interrupted), named like any refused statement.
"""

from __future__ import annotations

import contextlib
import threading

from sqlalchemy.engine import Engine


class StatementWatchdog:
    def __init__(self, engine: Engine, database: str, timeout: float) -> None:
        self.engine = engine
        self.database = database
        self.timeout = timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alembic-ci-watchdog", daemon=True)

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    def __enter__(self) -> "StatementWatchdog":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        # A plain DBAPI connection, outside SQLAlchemy's pool and events: its queries are the
        # bot's own, outside the scratch database, not for the listeners that guard the replay.
        raw = None
        interval = max(0.2, min(1.0, self.timeout / 4))
        while not self._stop.wait(interval):
            try:
                if raw is None:
                    cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
                    if self.engine.dialect.driver in ("pymysql", "mysqldb"):
                        cparams.setdefault("connect_timeout", 5)  # a server gone must not stall the exit
                    raw = self.engine.dialect.connect(*cargs, **cparams)
                self._stop_overdue(raw)
            except Exception:  # the connection broke (the server restarting?): a new one next round
                self._close(raw)
                raw = None
        self._close(raw)

    def _stop_overdue(self, raw) -> None:
        cursor = raw.cursor()
        try:
            cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s "
                           "AND COMMAND = 'Query' AND TIME >= %s AND ID <> CONNECTION_ID()",
                           (self.database, self.timeout))
            for (thread_id,) in cursor.fetchall():
                with contextlib.suppress(Exception):  # it may have finished meanwhile
                    cursor.execute(f"KILL QUERY {int(thread_id)}")
        finally:
            cursor.close()

    @staticmethod
    def _close(raw) -> None:
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.close()
