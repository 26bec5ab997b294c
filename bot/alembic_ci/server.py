"""The MySQL server the check runs on: URL validation, waiting for it, and clear errors."""

from __future__ import annotations

import os
import time
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import NullPool

from .errors import ConfigError, ServerError

# Client error numbers that mean "nobody answered (yet)": worth waiting for a starting service.
_NOT_YET = {2002, 2003, 2006, 2013}
# SQLAlchemy's async MySQL dialects (mysql+aiomysql://, mysql+asyncmy://).
ASYNC_DRIVERS = ("aiomysql", "asyncmy")
_DRIVERS = {"pymysql": "PyMySQL", "mysqldb": "mysqlclient", "mysqlconnector": "mysql-connector-python",
            "mariadbconnector": "mariadb", "asyncmy": "asyncmy", "aiomysql": "aiomysql"}


def parse_url(text: str, what: str = "the database URL") -> URL:
    """``what``: the URL's name in errors (doctor takes two)."""
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:
        # Not the exception's text: SQLAlchemy 1.4 quotes the whole URL in it, password included.
        raise ConfigError(
            f"{what} does not parse",
            "write it as mysql+pymysql://USER:PASSWORD@HOST:3306/",
        ) from exc
    backend = url.get_backend_name()
    if backend not in ("mysql", "mariadb"):
        raise ConfigError(
            f"{what} is for {backend}, not MySQL",
            "pass a mysql+pymysql://USER@HOST:3306/ URL: alembic-ci replays migrations on MySQL 8 (or MariaDB)",
        )
    if url.get_driver_name() in ASYNC_DRIVERS:
        # alembic-ci's own connections are synchronous; an async env.py still gets its driver
        # back (replay.py) when alembic.ini's URL names it.
        url = url.set(drivername=f"{backend}+pymysql")
    return url


def describe(url: URL) -> str:
    """Where a URL points, for messages: never the password."""
    socket = url.query.get("unix_socket")
    if socket:
        return f"the unix socket {socket}"
    return f"{url.host or 'localhost'}:{url.port or 3306}"


def create_server_engine(url: URL) -> Engine:
    """An engine on the server itself, no default database: nothing is ever written to the
    database a URL names."""
    return create_engine(url.set(database=None))


def create_engine(url: URL) -> Engine:
    connect_args = {}
    if url.query.get("unix_socket") and url.get_driver_name() == "pymysql" \
            and not any(key.startswith("ssl") for key in url.query):
        # Local: TLS buys nothing, and PyMySQL builds an SSL context (~50 ms) for each connection.
        connect_args["ssl_disabled"] = True
    try:
        return sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        driver = url.get_driver_name()
        package = _DRIVERS.get(driver, driver)
        raise ConfigError(
            f"the MySQL driver {driver!r} named in the URL is not installed",
            f"`pip install {package}`, or use the bundled one: mysql+pymysql://",
        ) from exc


def connect_with_wait(engine: Engine, url: URL, wait_seconds: float,
                      progress: Callable[[str], None]) -> sa.engine.Connection:
    """Connect, waiting with backoff while the server is still starting (a CI service
    container often is when the job begins)."""
    started = time.monotonic()
    deadline = started + wait_seconds
    delay = 0.5
    announced = None  # when progress was last printed: at the first failure, then every 10 s
    while True:
        try:
            conn = engine.connect()
        except OperationalError as exc:
            _refused(exc, url)
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"no MySQL server answered at {describe(url)} after {wait_seconds:g} s: {server_error(exc)}",
                    _unreachable_hint(url),
                ) from exc
            waited = time.monotonic() - started
            if announced is None or time.monotonic() - announced >= 10:
                announced = time.monotonic()
                progress(f"waiting for the MySQL server at {describe(url)}: {waited:.0f} s of {wait_seconds:g} s "
                     f"({exc.orig.args[-1] if exc.orig.args else exc.orig})...")
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 5.0)
            continue
        if announced is not None:
            progress(f"the MySQL server at {describe(url)} answered after {time.monotonic() - started:.0f} s")
        return conn


def _refused(exc: OperationalError, url: URL) -> None:
    """Raise the clear error for a server that answered "no"; return for one not answering (yet)."""
    code = _errno(exc)
    text = str(exc.orig)
    # 1698: MariaDB's answer for a user that does not exist at this host, or that may only log in
    # through the server's unix socket (root by default on Debian).
    if code in (1045, 1698):
        raise ServerError(
            f"the server at {describe(url)} refused user {url.username!r}: access denied",
            "check the user and password in the database URL",
        ) from exc
    if code == 1049:
        raise ServerError(f"the database {url.database!r} does not exist on {describe(url)}",
                          "check the database name in the URL (`SHOW DATABASES` lists them)") from exc
    if code == 1044:
        raise ServerError(f"user {url.username!r} may not use the database {url.database!r} on {describe(url)}",
                          f"grant it at least SELECT: GRANT SELECT ON `{url.database}`.* TO '{url.username}'@'%'") from exc
    if _unknown_host(text):
        raise ServerError(
            f"unknown host {url.host!r}",
            "check the host in the database URL; in a GitHub Docker action a `services:` "
            "container is reached by its service name (e.g. mysql), not localhost",
        ) from exc
    if code not in _NOT_YET:
        raise ServerError(f"the server at {describe(url)} refused the connection ({text})",
                          _unreachable_hint(url)) from exc


def _errno(exc: OperationalError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _unknown_host(text: str) -> bool:
    return any(s in text for s in ("Name or service not known", "Unknown MySQL server host",
                                   "Temporary failure in name resolution", "nodename nor servname"))


def in_action_container() -> bool:
    """A Docker action's container: GitHub sets GITHUB_ACTIONS; Docker and podman leave these files."""
    return os.environ.get("GITHUB_ACTIONS") == "true" and (
        os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"))


def _unreachable_hint(url: URL) -> str:
    if (url.host or "localhost") in ("localhost", "127.0.0.1", "::1") and in_action_container():
        return ("inside the action's container localhost is the container itself: reach a `services:` "
                "MySQL by its service name (mysql+pymysql://root:PASSWORD@mysql:3306/), omit "
                "database-url to use the embedded server, or raise --wait if it is still starting")
    return ("start the server or fix the URL; in GitHub Actions give the MySQL service a health check "
            "(--health-cmd=\"mysqladmin ping\"), or raise --wait")


def quote_ident(*parts: str) -> str:
    """`db`.`table` for SQL text: each part in backticks, its own backticks doubled."""
    return ".".join("`" + part.replace("`", "``") + "`" for part in parts)


def execute_text(conn: sa.engine.Connection, sql: str):
    """Run SQL text as is: a driver with %s placeholders (PyMySQL, mysqlclient) %-formats a
    statement even without parameters, so % is doubled for those."""
    if conn.dialect.paramstyle in ("format", "pyformat"):
        sql = sql.replace("%", "%%")
    return conn.exec_driver_sql(sql)


def server_version(conn: sa.engine.Connection) -> str:
    version = conn.exec_driver_sql("SELECT VERSION()").scalar() or ""
    number = version.split("-")[0]
    return f"MariaDB {number}" if "mariadb" in version.lower() else f"MySQL {number}"


def server_error(exc: DBAPIError) -> str:
    """The driver's error as "(1146) Table 'x' doesn't exist", not its tuple's repr."""
    args = getattr(exc.orig, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return f"({args[0]}) {args[1]}"
    return str(exc.orig)
