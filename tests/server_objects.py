"""Throwaway users and databases on the shared test server, with unique names (other test
runs share it), dropped afterwards."""

from __future__ import annotations

import contextlib
import secrets
from typing import Iterator

import sqlalchemy as sa

from conftest import SERVER_URL, server_connection


def execute(*statements: str, database: str | None = None) -> list:
    with server_connection() as conn, conn.cursor() as cur:
        if database:
            cur.execute(f"USE `{database}`")
        rows = []
        for statement in statements:
            cur.execute(statement)
            rows.extend(cur.fetchall())
        return rows


@contextlib.contextmanager
def temp_database(prefix: str = "acitest") -> Iterator[str]:
    name = f"{prefix}_{secrets.token_hex(5)}"
    execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        execute(f"DROP DATABASE IF EXISTS `{name}`")


@contextlib.contextmanager
def temp_user(*grants: str, password: str | None = None) -> Iterator[tuple[str, str]]:
    """(user, password); each grant is e.g. "SELECT ON `db`.*"."""
    user = f"acit_{secrets.token_hex(5)}"
    password = password or f"Pw-{secrets.token_hex(8)}"
    execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    try:
        for grant in grants:
            execute(f"GRANT {grant} TO '{user}'@'%'")
        yield user, password
    finally:
        execute(f"DROP USER IF EXISTS '{user}'@'%'")


def url_for(user: str, password: str, database: str = "") -> str:
    base = sa.engine.make_url(SERVER_URL)
    return sa.engine.URL.create("mysql+pymysql", username=user, password=password, host=base.host,
                                port=base.port or 3306, database=database or None).render_as_string(hide_password=False)
