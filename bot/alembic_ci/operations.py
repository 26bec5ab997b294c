"""Watches the Alembic operations of the reported revisions as they run.

Every ``op.*`` call, batch ones included, goes through ``invoke(operation)`` with the operation object
(AddColumnOp, AlterColumnOp, ...) holding its arguments. Wrapping it gives the risk rules the
operation itself, the migration line that called it, the state of the table it touches just
before it ran (read from the scratch database) and the statements it sent.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.operations import ops as alembic_ops

from .capture import Capture
from .report import MAX_RECORDED


@dataclass
class ColumnState:
    name: str
    type: Any  # the reflected SQLAlchemy type
    nullable: bool
    default: Optional[str]  # SQL text, e.g. "'x'"
    comment: Optional[str]
    autoincrement: bool
    charset: Optional[str]  # text types only
    bytes_per_char: Optional[int]


@dataclass
class OpRecord:
    revision: str
    operation: Any  # an alembic.operations.ops.MigrateOperation
    file: str
    line: Optional[int]
    # What the rules need of the schema just before the op, read only for the ops they concern:
    columns: Optional[dict]  # alter_column: column name -> ColumnState of its table
    foreign_key_checks: bool  # foreign keys added: the session's @@foreign_key_checks
    statements: list = field(default_factory=list)  # the Statements it sent (empty inside a batch)
    # The keys it created that MariaDB made otherwise than MySQL 8 can (see read_keys).
    indexes: list = field(default_factory=list)


@dataclass
class IndexPart:
    """One column of an index as the server made it."""

    index: str
    column: str
    data_type: str  # "text", "varchar", ...
    sub_part: Optional[int]  # the prefix length, if the key holds only a prefix
    hash: bool  # MariaDB's hash-based unique index (USING HASH)


class OperationWatch:
    def __init__(self, capture: Capture, revision_files: dict) -> None:
        self._capture = capture
        self._files = dict(revision_files)  # revision id -> path of its migration file
        self.records: list[OpRecord] = []
        self._depth = 0
        self._original = None
        self._charsets: Optional[dict] = None  # name -> bytes per character, read once
        # The class defining invoke: Operations up to Alembic 1.10, their common base
        # AbstractOperations (shared with BatchOperations) since.
        self._owner = next(cls for cls in Operations.__mro__ if "invoke" in vars(cls))

    def __enter__(self) -> "OperationWatch":
        self._original = original = self._owner.invoke
        watch = self

        def invoke(operations, operation):
            if watch._depth or watch._capture.revision not in watch._capture.reported:
                return original(operations, operation)
            watch._depth += 1
            try:
                record = watch._before(operations, operation)
                started = len(watch._capture.window)
                result = original(operations, operation)
                record.statements = watch._capture.window[started:]
                # Past the capture's limit, raw SQL is not kept either: a loop of op.execute must not
                # fill the memory (the rules only warn that they cannot read it).
                if started < MAX_RECORDED or not isinstance(operation, alembic_ops.ExecuteSQLOp):
                    watch.records.append(record)
                return result
            finally:
                watch._depth -= 1

        self._owner.invoke = invoke
        return self

    def __exit__(self, *exc_info) -> None:
        self._owner.invoke = self._original

    def read_keys(self, conn) -> None:
        """On MariaDB, the keys the reported ops created as MySQL 8 cannot: MariaDB shortens a key
        MySQL 8 refuses (a TEXT column without a prefix length, more than 3072 bytes) to a prefix,
        or makes a unique one a hash (USING HASH), and runs on. One query after the replay, and
        one more for the InnoDB tables among those keys (a MEMORY table's keys are hashes anyway)."""
        if not self.records or not getattr(conn.dialect, "is_mariadb", False):
            return
        try:
            rows = conn.execute(sa.text(
                "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, SUB_PART, INDEX_TYPE FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = DATABASE() AND ((SUB_PART IS NOT NULL AND INDEX_TYPE = 'BTREE') "
                "OR (INDEX_TYPE = 'HASH' AND NON_UNIQUE = 0)) ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX")).all()
            if not rows:  # the usual case: no shortened or hashed key at all
                return
            makers = _key_makers(self.records)
            keys: dict = {}  # (table, key) -> its rows
            for row in rows:
                keys.setdefault((row[0], row[1]), []).append(row)
            found = []  # (the op's record, the key's rows)
            for key, parts in keys.items():
                maker = _maker(key, parts, makers)
                if maker is not None:
                    found.append((maker, parts))
            tables = sorted({parts[0][0] for _, parts in found})
            columns = sa.text(
                "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE FROM information_schema.COLUMNS c JOIN "
                "information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME "
                "WHERE c.TABLE_SCHEMA = DATABASE() AND t.ENGINE = 'InnoDB' AND c.TABLE_NAME IN :tables").bindparams(
                sa.bindparam("tables", expanding=True))
            types = {(t, c): kind for t, c, kind in conn.execute(columns, {"tables": tables})} if tables else {}
        except sa.exc.DBAPIError:  # the server went away during the replay, which reports it
            return
        for maker, parts in found:
            if all((table, column) in types for table, _, column, _, _ in parts):  # InnoDB
                maker.indexes.extend(
                    IndexPart(index, column, types[(table, column)].lower(), sub_part, index_type == "HASH")
                    for table, index, column, sub_part, index_type in parts)

    def _before(self, operations, operation) -> OpRecord:
        revision = self._capture.revision
        path = self._files.get(revision, "")
        conn = operations.migration_context.connection
        columns, fk_checks = None, True
        with self._capture.paused():
            if isinstance(operation, alembic_ops.AlterColumnOp):
                if self._charsets is None:
                    self._charsets = dict(conn.exec_driver_sql(
                        "SELECT CHARACTER_SET_NAME, MAXLEN FROM information_schema.CHARACTER_SETS").all())
                columns = _columns(conn, operation.table_name, self._charsets)
            if isinstance(operation, alembic_ops.CreateForeignKeyOp) or (
                    isinstance(operation, alembic_ops.AddColumnOp) and operation.column.foreign_keys):
                fk_checks = bool(conn.exec_driver_sql("SELECT @@foreign_key_checks").scalar())
        return OpRecord(revision=revision, operation=operation, file=path, line=_caller_line(path),
                        columns=columns, foreign_key_checks=fk_checks)


def _key_makers(records: list) -> dict:
    """What tells the key an op created: ("name", table, key name), ("columns", table, the key's
    columns) for one the server names, ("column", table, a column the op added: every key holding
    it is new) -> the op's record."""
    makers = {}
    for record in records:
        op = record.operation
        if isinstance(op, alembic_ops.CreateTableOp):
            table = op.to_table()
            keys = [*table.indexes, *(c for c in table.constraints if isinstance(c, sa.UniqueConstraint))]
        elif isinstance(op, alembic_ops.CreateIndexOp):
            keys = [op.to_index()]
        elif isinstance(op, alembic_ops.CreateUniqueConstraintOp):
            keys = [op.to_constraint()]
        elif isinstance(op, alembic_ops.AddColumnOp):  # Column(..., unique=True) / index=True
            makers[("column", op.table_name, op.column.name)] = record
            continue
        else:
            continue
        for key in keys:
            if isinstance(key.name, str) and key.name:
                makers[("name", op.table_name, str(key.name))] = record
            else:
                makers[("columns", op.table_name, tuple(c.name for c in key.columns))] = record
    return makers


def _maker(key: tuple, parts: list, makers: dict) -> Optional[OpRecord]:
    """The reported op that created the key (table, name) whose STATISTICS rows are ``parts``."""
    table, name = key
    return (makers.get(("name", table, name)) or makers.get(("columns", table, tuple(p[2] for p in parts)))
            or next((makers[("column", table, p[2])] for p in parts if ("column", table, p[2]) in makers), None))


def _caller_line(path: str) -> Optional[int]:
    """The line of the migration file that called the op (the innermost frame in that file)."""
    if not path:
        return None
    frames = []
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename == path:  # as the graph loaded it: the usual case
            return frame.f_lineno
        frames.append(frame)
        frame = frame.f_back
    real = _realpath(path)
    return next((f.f_lineno for f in frames if _realpath(f.f_code.co_filename) == real), None)


@functools.lru_cache(maxsize=None)
def _realpath(path: str) -> str:
    return os.path.realpath(path)  # a few stat calls per part: too many to repeat for each frame


def _columns(conn, table: str, charsets: dict) -> Optional[dict]:
    """The table's columns as the server has them (one SHOW CREATE TABLE, parsed by SQLAlchemy)."""
    inspector = sa.inspect(conn)
    try:
        reflected = inspector.get_columns(table)
    except sa.exc.NoSuchTableError:
        return None
    # "mysql_default charset", or "mariadb_..." on a mariadb:// URL: the dialect's own prefix.
    table_charset = inspector.get_table_options(table).get(f"{conn.dialect.name}_default charset")
    columns = {}
    for col in reflected:
        charset = _charset(col["type"], table_charset)
        maxlen = charsets.get(charset)
        columns[col["name"]] = ColumnState(
            name=col["name"], type=col["type"], nullable=bool(col["nullable"]),
            default=col.get("default"), comment=col.get("comment"),
            autoincrement=col.get("autoincrement") is True, charset=charset,
            bytes_per_char=int(maxlen) if maxlen else None)
    return columns


def _charset(type_, table_charset: Optional[str]) -> Optional[str]:
    """A text column's charset: its own (SHOW CREATE TABLE names it, or its collation, when it
    differs from the table's), else the table's."""
    if not isinstance(type_, sa.String):
        return None
    collation = getattr(type_, "collation", None)
    return getattr(type_, "charset", None) or (collation.split("_")[0] if collation else None) or table_charset
