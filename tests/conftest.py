"""Shared fixtures. MySQL behaviour is tested on a real server: the MariaDB at
127.0.0.1:3306 (override with ALEMBIC_CI_TEST_URL) and the embedded server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
import sqlalchemy as sa

from github_api import FakeGitHub

ROOT = Path(__file__).resolve().parent.parent
SERVER_URL = os.environ.get("ALEMBIC_CI_TEST_URL", "mysql+pymysql://root@127.0.0.1:3306/")


def server_connection():
    url = sa.engine.make_url(SERVER_URL)
    return pymysql.connect(host=url.host, port=url.port or 3306, user=url.username,
                           password=url.password or "", autocommit=True)


def scratch_databases(pids=None) -> set:
    """Scratch databases on the server; with ``pids``, only those of bot processes with these
    process ids (other test runs may share the server)."""
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE 'alembic\\_ci\\_%'")
        names = {row[0] for row in cur.fetchall()}
    if pids is None:
        return names
    return {n for n in names if any(f"_{pid}_" in n for pid in pids)}


# Process ids of the bot processes the current test started (see no_scratch_database_left).
SPAWNED: list = []


def spawn(args, **kw) -> subprocess.Popen:
    proc = subprocess.Popen(args, **kw)
    SPAWNED.append(proc.pid)
    return proc


@dataclass
class Result:
    code: int
    out: str
    err: str


# `alembic init -t async`'s env.py, with the demo's models: it builds its own async engine from
# sqlalchemy.url and ignores a shared connection.
_ASYNC_ENV = '''
import asyncio

from sqlalchemy import pool
from sqlalchemy.ext.asyncio import async_engine_from_config

from alembic import context
from blog.models import Base

config = context.config
target_metadata = Base.metadata


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations():
    connectable = async_engine_from_config(config.get_section(config.config_ini_section, {}),
                                           prefix="sqlalchemy.", poolclass=pool.NullPool)
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await connectable.dispose()


asyncio.run(run_async_migrations())
'''


@dataclass
class DemoProject:
    """A copy of the demo blog project in a temporary directory, to change at will."""

    root: Path

    @property
    def versions(self) -> Path:
        return self.root / "alembic" / "versions"

    def add_revision(self, rev: str, down, body: str, message: str = "change", extra: str = "") -> Path:
        path = self.versions / f"{rev}_{message.replace(' ', '_')}.py"
        path.write_text(
            f'"""{message}\n\nRevision ID: {rev}\nRevises: {down}\n"""\n'
            "from alembic import op\nimport sqlalchemy as sa\n\n"
            f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n"
            f"{extra}\n\ndef upgrade():\n{textwrap.indent(textwrap.dedent(body).strip(), '    ')}\n\n\n"
            "def downgrade():\n    pass\n"
        )
        return path

    def add_model(self, code: str) -> None:
        models = self.root / "blog" / "models.py"
        models.write_text(models.read_text() + "\n\n" + textwrap.dedent(code))

    def use_async_env(self, url: str) -> None:
        """The async template's env.py, alembic.ini's sqlalchemy.url set to ``url``."""
        (self.root / "alembic" / "env.py").write_text(_ASYNC_ENV)
        ini = self.root / "alembic.ini"
        ini.write_text(re.sub(r"(?m)^sqlalchemy\.url = .*$", f"sqlalchemy.url = {url}", ini.read_text()))

    def run(self, *args: str, env: dict | None = None, timeout: float = 120) -> Result:
        """Run the CLI as a user would, in a separate process."""
        full_env = {**os.environ, **(env or {})}
        if "ALEMBIC_CI_DATABASE_URL" not in (env or {}):
            full_env.pop("ALEMBIC_CI_DATABASE_URL", None)
        proc = spawn([sys.executable, "-m", "alembic_ci", *args], cwd=self.root, env=full_env,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        return Result(proc.returncode, out, err)

    def check(self, *args: str, **kw) -> Result:
        return self.run("check", "--database-url", SERVER_URL, "-q", *args, **kw)

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True, text=True,
                              env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                                   "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}).stdout


@pytest.fixture
def demo(tmp_path) -> DemoProject:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(ROOT / "alembic.ini", root / "alembic.ini")
    shutil.copytree(ROOT / "alembic", root / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "blog", root / "blog", ignore=shutil.ignore_patterns("__pycache__"))
    return DemoProject(root)


@pytest.fixture(autouse=True)
def no_scratch_database_left():
    """Every test leaves the server as it found it: no scratch database of the bot processes
    it started (or of this process, for in-process checks) is left behind."""
    SPAWNED.clear()
    SPAWNED.append(os.getpid())
    yield
    left = scratch_databases(SPAWNED)
    assert not left, f"scratch databases left behind: {left}"


@pytest.fixture
def api():
    """The GitHub REST API stand-in (tests/github_api.py) with a token of its own."""
    server = FakeGitHub(token=f"ghs_{uuid.uuid4().hex}")
    yield server
    server.close()


def parse_outputs(text: str) -> dict:
    """GITHUB_OUTPUT read back the way the runner reads it."""
    outputs, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            value = []
            for item in lines:
                if item == delimiter:
                    break
                value.append(item)
            outputs[name] = "\n".join(value)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs
