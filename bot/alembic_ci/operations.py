"""Watches the Alembic operations of the reported revisions as they run.

Every ``op.*`` call, batch ones included, goes through ``invoke(operation)`` with the operation object
(AddColumnOp, AlterColumnOp, ...) holding its arguments. Wrapping it gives the risk rules the
operation itself, the migration line that called it, the state of the table it touches just
before it ran (read from the scratch database) and the statements it sent.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.operations import ops as alembic_ops

from .capture import Capture


@dataclass
class ColumnState:
    name: str
    type: Any  # the reflected SQLAlchemy type
    column_type: str  # as the server spells it, e.g. varchar(50)
    nullable: bool
    default: Optional[str]  # SQL text, e.g. "'x'"
    comment: Optional[str]
    autoincrement: bool
    charset: Optional[str]
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


class OperationWatch:
    def __init__(self, capture: Capture, revision_files: dict) -> None:
        self._capture = capture
        self._files = dict(revision_files)  # revision id -> path of its migration file
        self.records: list[OpRecord] = []
        self._depth = 0
        self._original = None
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
                watch.records.append(record)
                return result
            finally:
                watch._depth -= 1

        self._owner.invoke = invoke
        return self

    def __exit__(self, *exc_info) -> None:
        self._owner.invoke = self._original

    def _before(self, operations, operation) -> OpRecord:
        revision = self._capture.revision
        path = self._files.get(revision, "")
        conn = operations.migration_context.connection
        columns, fk_checks = None, True
        with self._capture.paused():
            if isinstance(operation, alembic_ops.AlterColumnOp):
                columns = _columns(conn, operation.table_name)
            if isinstance(operation, alembic_ops.CreateForeignKeyOp) or (
                    isinstance(operation, alembic_ops.AddColumnOp) and operation.column.foreign_keys):
                fk_checks = bool(conn.exec_driver_sql("SELECT @@foreign_key_checks").scalar())
        return OpRecord(revision=revision, operation=operation, file=path, line=_caller_line(path),
                        columns=columns, foreign_key_checks=fk_checks)


def _caller_line(path: str) -> Optional[int]:
    """The line of the migration file that called the op (the innermost frame in that file)."""
    if not path:
        return None
    real = os.path.realpath(path)
    frame = sys._getframe(2)
    while frame is not None:
        if os.path.realpath(frame.f_code.co_filename) == real:
            return frame.f_lineno
        frame = frame.f_back
    return None


_CHARSETS = sa.text(
    "SELECT c.COLUMN_NAME, c.COLUMN_TYPE, c.CHARACTER_SET_NAME, s.MAXLEN "
    "FROM information_schema.COLUMNS c LEFT JOIN information_schema.CHARACTER_SETS s "
    "ON s.CHARACTER_SET_NAME = c.CHARACTER_SET_NAME "
    "WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = :table")


def _columns(conn, table: str) -> Optional[dict]:
    inspector = sa.inspect(conn)
    if not inspector.has_table(table):
        return None
    server = {row[0]: row[1:] for row in conn.execute(_CHARSETS, {"table": table})}
    columns = {}
    for col in inspector.get_columns(table):
        column_type, charset, maxlen = server.get(col["name"], ("", None, None))
        columns[col["name"]] = ColumnState(
            name=col["name"], type=col["type"], column_type=column_type, nullable=bool(col["nullable"]),
            default=col.get("default"), comment=col.get("comment"),
            autoincrement=col.get("autoincrement") is True, charset=charset,
            bytes_per_char=int(maxlen) if maxlen else None)
    return columns
