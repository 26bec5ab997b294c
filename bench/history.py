"""Synthetic Alembic projects for the benchmark: N revisions over N/4 tables (each table is
created, gains a column, gains an index on it, has a column altered; with fewer tables, more
turns of column, index, alter per table; with more tables than revisions, each revision creates
several), real revision files, an env.py like `alembic init`'s (honouring a shared connection),
and models matching head."""

from __future__ import annotations

import textwrap
from pathlib import Path

OPS = ("create table", "add column", "add index", "alter column")

ENV_PY = '''\
import atexit
import os
import time
from logging.config import fileConfig

from sqlalchemy import engine_from_config, event, pool
from sqlalchemy.engine import Engine

from alembic import context
from models import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name)
target_metadata = metadata

# The benchmark's measure of plain Alembic: the time inside the driver's execute, as alembic-ci's
# timing.server_seconds counts it, added to the file BENCH_SERVER_SECONDS names (unset: nothing).
if os.environ.get("BENCH_SERVER_SECONDS"):
    spent = [0.0, 0.0]

    @event.listens_for(Engine, "before_cursor_execute")
    def _started(*args):
        spent[1] = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def _done(*args):
        spent[0] += time.perf_counter() - spent[1]

    @atexit.register
    def _write():
        with open(os.environ["BENCH_SERVER_SECONDS"], "a") as handle:
            handle.write(f"{spent[0]}\\n")


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    do_run_migrations(connection)
else:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        do_run_migrations(connection)
'''

INI = '''\
[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
sqlalchemy.url = {url}

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = WARN
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %%(levelname)-5.5s [%%(name)s] %%(message)s
'''


def revision_id(i: int) -> str:
    return f"{i:04d}bench{i * 7919 % 1000:03d}"


def _plan(n: int, tables: int) -> list:
    """Per revision, the (table, op, column) steps it makes."""
    if tables > n:
        return [[(t, OPS[0], 0) for t in range(i * tables // n, (i + 1) * tables // n)] for i in range(n)]
    per_table = max(1, n // tables) if tables else 4
    return [[_step(i, per_table)] for i in range(n)]


def _step(i: int, per_table: int) -> tuple:
    """Revision i: (table, op, column). Each table is created, then gains columns in turns of
    add column, add index on it, alter it; column 0 is `amount`, and its turn alters `name`."""
    k = i % per_table
    if k == 0:
        return i // per_table, OPS[0], 0
    return i // per_table, OPS[1 + (k - 1) % 3], (k - 1) // 3


def _column(j: int) -> str:
    return "amount" if j == 0 else f"amount_{j}"


def _upgrade_body(step: tuple) -> str:
    table, op, j = step
    name = f"t{table:04d}"
    if op == "create table":
        parent = (f',\n    sa.Column("parent_id", sa.Integer(), sa.ForeignKey("t{table - 1:04d}.id"), nullable=True)'
                  if table else "")
        body = (f'op.create_table(\n    "{name}",\n'
                f'    sa.Column("id", sa.Integer(), primary_key=True),\n'
                f'    sa.Column("name", sa.String(50), nullable=False),\n'
                f'    sa.Column("created_at", sa.DateTime(), nullable=True){parent},\n)')
        if table:
            body += f'\nop.create_index("ix_{name}_parent_id", "{name}", ["parent_id"])'
        return body
    column = _column(j)
    if op == "add column":
        return f'op.add_column("{name}", sa.Column("{column}", sa.Integer(), nullable=True))'
    if op == "add index":
        return f'op.create_index("ix_{name}_{column}", "{name}", ["{column}"])'
    if j == 0:
        return (f'op.alter_column("{name}", "name", existing_type=sa.String(50), type_=sa.String(100), '
                f'existing_nullable=False)')
    return (f'op.alter_column("{name}", "{column}", existing_type=sa.Integer(), type_=sa.BigInteger(), '
            f'existing_nullable=True)')


def _revision_file(rev: str, down, message: str, body: str) -> str:
    return (f'"""{message}\n\nRevision ID: {rev}\nRevises: {down or ""}\n"""\n'
            "from alembic import op\nimport sqlalchemy as sa\n\n"
            f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade():\n{textwrap.indent(body, '    ')}\n\n\n"
            "def downgrade():\n    pass\n")


def _models(plan: list, pr: bool) -> str:
    done: dict = {}  # table -> {column number -> ops applied to it}
    for table, op, j in (step for steps in plan for step in steps):
        done.setdefault(table, {})
        if op != "create table":
            done[table].setdefault(j, set()).add(op)
    lines = ["import sqlalchemy as sa", "", "metadata = sa.MetaData()", ""]
    for table, columns in sorted(done.items()):
        name = f"t{table:04d}"
        length = 100 if "alter column" in columns.get(0, ()) else 50
        cols = ['    sa.Column("id", sa.Integer(), primary_key=True),',
                f'    sa.Column("name", sa.String({length}), nullable=False),',
                '    sa.Column("created_at", sa.DateTime(), nullable=True),']
        if table:
            cols.append(f'    sa.Column("parent_id", sa.Integer(), sa.ForeignKey("t{table - 1:04d}.id"), '
                        'nullable=True, index=True),')
        for j, ops in sorted(columns.items()):
            type_ = "sa.BigInteger()" if j and "alter column" in ops else "sa.Integer()"
            cols.append(f'    sa.Column("{_column(j)}", {type_}, nullable=True, index={"add index" in ops}),')
        if pr and table == 0:
            cols.append('    sa.Column("note", sa.String(200), nullable=True),')
        lines.append(f'{name} = sa.Table(\n    "{name}", metadata,\n' + "\n".join(cols) + "\n)")
    return "\n".join(lines) + "\n"


def generate(root: Path, n: int, url: str, pr: bool = False, tables: int = 0) -> list[str]:
    """Write the project under ``root``: n revisions over ``tables`` tables (default n/4); with
    ``pr``, one more revision (a new column on the first table, as a pull request would add).
    Returns the revision ids in order."""
    plan = _plan(n, tables)
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "migrations" / "env.py").write_text(ENV_PY)
    (root / "migrations" / "script.py.mako").write_text("")
    (root / "alembic.ini").write_text(INI.format(url=url.replace("%", "%%")))
    revs = []
    down = None
    for i in range(n):
        rev = revision_id(i)
        table, op, _ = plan[i][0]
        what = f"{op} t{table:04d}" + (f" (and {len(plan[i]) - 1} more)" if len(plan[i]) > 1 else "")
        (versions / f"{rev}_{op.replace(' ', '_')}_t{table:04d}.py").write_text(
            _revision_file(rev, down, what, "\n".join(_upgrade_body(step) for step in plan[i])))
        revs.append(rev)
        down = rev
    if pr:
        rev = revision_id(n)
        (versions / f"{rev}_pr_note.py").write_text(_revision_file(
            rev, down, "add t0000.note",
            'op.add_column("t0000", sa.Column("note", sa.String(200), nullable=True))'))
        revs.append(rev)
    (root / "models.py").write_text(_models(plan, pr))
    return revs
