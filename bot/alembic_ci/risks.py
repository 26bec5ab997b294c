"""The risk rules (codes in rules.py), checked on the operations of the reported revisions as
operations.py saw them: the op object with its arguments, the table as it was just before, and
the statements it sent with the server's online-DDL verdict.

Each finding says what breaks or locks and why, the safe way written with the migration's own
table and column names, and how to suppress it: ``# alembic-ci: ignore[CODE]`` on or above the
op line, or ``ignore`` in ``[tool.alembic-ci]``. Whether it fails the check is ``fail-on``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.dialects import mysql
from sqlalchemy.sql.type_api import to_instance

from .errors import ConfigError
from .online_ddl import SQL_START
from .operations import ColumnState, OpRecord
from .project import relpath
from .report import ERROR, WARNING, Finding
from .rules import RULES
from .settings import Settings

_DIALECT = mysql.dialect()
_IGNORE = re.compile(r"#\s*alembic-ci:\s*ignore\[([^\]]*)\]", re.IGNORECASE)
_INT_RANK = {"TINYINT": 1, "SMALLINT": 2, "MEDIUMINT": 3, "INT": 4, "BIGINT": 5}
_TEXT_RANK = {"TINYTEXT": 1, "TEXT": 2, "MEDIUMTEXT": 3, "LONGTEXT": 4}
_HARMLESS_SQL = re.compile(SQL_START + r"(SET|SELECT|DO|SHOW|CREATE\s+(OR\s+REPLACE\s+)?VIEW|DROP\s+VIEW)\b",
                           re.IGNORECASE)
_DATA_SQL = re.compile(SQL_START + r"(INSERT|UPDATE|DELETE|REPLACE|LOAD)\b", re.IGNORECASE)


@dataclass
class Hit:
    code: str
    message: str
    why: str
    safe: str  # numbered steps and code, with the migration's own names


@dataclass
class _Seen:
    """What the reported revisions created themselves: no running code knows it yet."""

    tables: set
    columns: set

    def new_table(self, table: str) -> bool:
        return table in self.tables

    def new_column(self, table: str, column: str) -> bool:
        return table in self.tables or (table, column) in self.columns


def findings(records: list, settings: Settings, server: str) -> list:
    seen = _Seen(set(), set())
    sources: dict = {}
    out = []
    for record in records:
        for hit in _check(record, seen, server):
            if hit.code in settings.ignore or hit.code in _inline_ignores(record.file, record.line, sources):
                continue
            out.append(Finding(
                hit.code, ERROR if hit.code in settings.fail_on else WARNING, hit.message,
                file=relpath(record.file) if record.file else None, line=record.line,
                revision=record.revision, detail=_detail(hit, record.line),
            ))
        _remember(record.operation, seen)
    return out


def _detail(hit: Hit, line: Optional[int]) -> str:
    where = f"the op line ({line})" if line else "the op line"
    # Alembic renders MySQL-specific types as mysql.X (VARCHAR with a charset, TINYINT(1)).
    imports = ("\n(mysql.X is `from sqlalchemy.dialects import mysql`.)" if re.search(r"\bmysql\.[A-Z]", hit.safe)
               else "")
    return (f"Why: {hit.why}\n\nSafe way:\n{hit.safe.strip()}{imports}\n\n"
            f"Suppress: add `# alembic-ci: ignore[{hit.code}]` on or above {where}, or list "
            f'"{hit.code}" in `ignore` under [tool.alembic-ci] in pyproject.toml. `fail-on` decides '
            f"whether it fails the check.")


def _remember(operation, seen: _Seen) -> None:
    if isinstance(operation, ops.CreateTableOp):
        seen.tables.add(operation.table_name)
    elif isinstance(operation, ops.AddColumnOp):
        seen.columns.add((operation.table_name, operation.column.name))
    elif isinstance(operation, ops.RenameTableOp) and seen.new_table(operation.table_name):
        seen.tables.add(operation.new_table_name)
    elif isinstance(operation, ops.AlterColumnOp) and operation.modify_name \
            and seen.new_column(operation.table_name, operation.column_name):
        seen.columns.add((operation.table_name, operation.modify_name))


def _check(record: OpRecord, seen: _Seen, server: str) -> Iterator[Hit]:
    yield from _keys_mysql_refuses(record)
    op = record.operation
    if isinstance(op, ops.DropTableOp) and not seen.new_table(op.table_name):
        yield _drop_table(op)
    elif isinstance(op, ops.DropColumnOp) and not seen.new_column(op.table_name, op.column_name):
        yield _drop_column(op)
    elif isinstance(op, ops.RenameTableOp) and not seen.new_table(op.table_name):
        yield _rename_table(op)
    elif isinstance(op, ops.AddColumnOp) and not seen.new_table(op.table_name):
        yield from _add_column(op, record, server)
    elif isinstance(op, ops.AlterColumnOp):
        column = (record.columns or {}).get(op.column_name)
        if column is not None:
            yield from _alter_column(op, column, record, seen, server)
    elif isinstance(op, (ops.CreateIndexOp, ops.CreateUniqueConstraintOp)) and not seen.new_table(op.table_name):
        if isinstance(op, ops.CreateUniqueConstraintOp) or op.unique:
            yield _unique(op)
    elif isinstance(op, ops.CreateForeignKeyOp) and not seen.new_table(op.source_table) \
            and record.foreign_key_checks:
        yield _foreign_key(op.source_table, op.constraint_name, op.local_cols, op.referent_table,
                           op.remote_cols, record, server)
    elif isinstance(op, ops.ExecuteSQLOp):
        hit = _execute(op)
        if hit:
            yield hit


# -- the rules --------------------------------------------------------------------------------

def _drop_table(op) -> Hit:
    t = op.table_name
    return Hit(
        "drop-table", f"drops table `{t}`",
        f"the application version still running during the deploy fails on every query that touches "
        f"`{t}` (error 1146), and its rows are gone for good: a downgrade recreates an empty table.",
        f"1. Remove the `{t}` model and every use of it, and deploy that.\n"
        f"2. Drop the table in a migration of a later release:\n\n"
        f"    op.drop_table({t!r})\n\n"
        f"   Keep a copy first if the data may be needed: CREATE TABLE {t}_archive AS SELECT * FROM {t}.")


def _drop_column(op) -> Hit:
    t, c = op.table_name, op.column_name
    return Hit(
        "drop-column", f"drops column `{t}.{c}`",
        f"SQLAlchemy selects every mapped column, so the application version still running during the "
        f"deploy fails on each query of `{t}` (error 1054 Unknown column '{c}') until the new version "
        f"is everywhere; the values are gone for good.",
        f"1. Remove `{c}` from the `{t}` model (or map it with deferred() and stop using it), and deploy that.\n"
        f"2. Drop the column in a migration of a later release:\n\n"
        f"    op.drop_column({t!r}, {c!r})")


def _rename_table(op) -> Hit:
    old, new = op.table_name, op.new_table_name
    return Hit(
        "rename-table", f"renames table `{old}` to `{new}`",
        f"the application version still running during the deploy queries `{old}`, which no longer "
        f"exists (error 1146), until the new version is everywhere.",
        f"Either keep the table's name and rename only the class (`__tablename__ = {old!r}`), or rename it "
        f"and leave an updatable view under the old name for one release:\n\n"
        f"    op.rename_table({old!r}, {new!r})\n"
        f"    op.execute(\"CREATE VIEW {old} AS SELECT * FROM {new}\")\n\n"
        f"then drop the view in a later release: op.execute(\"DROP VIEW {old}\").")


def _add_column(op, record: OpRecord, server: str) -> Iterator[Hit]:
    t, col = op.table_name, op.column
    if col.nullable is False and col.server_default is None and not col.primary_key \
            and col.computed is None and col.autoincrement is not True:
        type_code = _type_code(col.type)
        yield Hit(
            "not-null-without-default", f"adds NOT NULL column `{t}.{col.name}` without a server default",
            f"MySQL fills the existing rows with the type's implicit default ('' or 0), and the application "
            f"version still running during the deploy inserts rows without `{col.name}`, which strict mode "
            f"refuses (error 1364 Field '{col.name}' doesn't have a default value).",
            f"Give it a server default (adding the column stays instant):\n\n"
            f"    op.add_column({t!r}, sa.Column({col.name!r}, {type_code}, nullable=False, server_default=...))\n\n"
            f"or add it nullable, deploy code that writes it, backfill, and make it NOT NULL in a later "
            f"release:\n\n"
            f"    op.add_column({t!r}, sa.Column({col.name!r}, {type_code}, nullable=True))")
    if col.foreign_keys and record.foreign_key_checks:
        for fk in col.foreign_keys:
            referent, remote = fk.target_fullname.rsplit(".", 1)
            yield _foreign_key(t, fk.name, [col.name], referent, [remote], record, server)


def _alter_column(op, column: ColumnState, record: OpRecord, seen: _Seen, server: str) -> Iterator[Hit]:
    t, c = op.table_name, op.column_name
    if op.modify_name and not seen.new_column(t, c):
        yield Hit(
            "rename-column", f"renames column `{t}.{c}` to `{op.modify_name}`",
            f"the application version still running during the deploy selects `{c}`, which no longer "
            f"exists (error 1054), until the new version is everywhere.",
            f"Keep the column's name and rename only the attribute:\n\n"
            f"    {op.modify_name} = Column({c!r}, ...)\n\n"
            f"or expand and contract over releases: add `{op.modify_name}`, write both, backfill, read the "
            f"new one, then drop `{c}`:\n\n"
            f"    op.add_column({t!r}, sa.Column({op.modify_name!r}, {_type_code(column.type)}, nullable=True))\n"
            f"    op.execute(\"UPDATE {t} SET {op.modify_name} = {c}\")  # in batches on a big table")
    lost = _lost_attributes(op, column)
    if lost:
        dropped = [what for _, what in lost if not what.startswith("changes")]
        effects = ([f"drops {', '.join(dropped)}"] if dropped else []) + [
            what for _, what in lost if what.startswith("changes")]
        yield Hit(
            "alter-column-drops-attributes",
            f"op.alter_column({t!r}, {c!r}) without {', '.join(a for a, _ in lost)}: MySQL's MODIFY "
            f"silently {' and '.join(effects)}",
            "MySQL can only alter a column by restating all of it (MODIFY/CHANGE). Alembic writes that "
            "statement from the op's arguments: what the op does not restate through existing_* falls "
            "back to nullable, no default, no comment, no AUTO_INCREMENT.",
            f"Restate what the column has now:\n\n    {_alter_call(op, column)}")
    if op.modify_type is not None and not seen.new_column(t, c):
        if _is_enum(column.type) and _is_enum(op.modify_type):
            hit = _enum(op, column)
        else:
            hit = _type_change(op, column, record, server)
        if hit:
            yield hit
    if op.modify_nullable is False and column.nullable and not seen.new_column(t, c):
        yield Hit(
            "set-not-null", f"makes `{t}.{c}` NOT NULL",
            f"rows holding NULL in production make the ALTER fail halfway through the deploy (the "
            f"replay's tables, holding only what the migrations inserted, cannot show them), the application "
            f"version still running may keep writing NULL, and MySQL rebuilds `{t}` to do it.",
            f"1. Deploy code that always writes `{c}`.\n"
            f"2. Backfill, in batches on a big table:\n\n"
            f"    op.execute(\"UPDATE {t} SET {c} = ... WHERE {c} IS NULL\")\n\n"
            f"3. Then, in a later migration:\n\n"
            f"    {_alter_call(op, column, nullable=False)}")


def _lost_attributes(op, column: ColumnState) -> list:
    """(missing argument, what MySQL loses) for an alter_column that emits MODIFY/CHANGE: the
    column is restated from the op's arguments, so whatever they leave out is lost."""
    autoincrement = op.kw.get("autoincrement")
    modifies = (op.modify_name or op.modify_nullable is not None or op.modify_type is not None
                or autoincrement is not None or op.modify_comment is not False)
    if not modifies:
        return []
    lost = []
    if not column.nullable and op.modify_nullable is None and op.existing_nullable is None:
        lost.append(("existing_nullable=False", "NOT NULL"))
    if column.default is not None and op.modify_server_default is False \
            and (op.existing_server_default is None or op.existing_server_default is False):
        lost.append(("existing_server_default", f"the default {column.default}"))
    if column.comment and op.modify_comment is False and op.existing_comment is None:
        lost.append(("existing_comment", "the comment"))
    if column.autoincrement and autoincrement is None and op.kw.get("existing_autoincrement") is None:
        lost.append(("existing_autoincrement=True", "AUTO_INCREMENT"))
    if op.modify_type is None and op.existing_type is not None and _norm(op.existing_type) != _norm(column.type):
        lost.append((f"an existing_type matching {_norm(column.type)}",
                     f"changes its type from {_norm(column.type)} to {_norm(op.existing_type)}"))
    return lost


def _enum(op, column: ColumnState) -> Optional[Hit]:
    t, c = op.table_name, op.column_name
    old, new = list(column.type.enums), list(op.modify_type.enums)
    if new[:len(old)] == old:
        return None  # appended at the end: metadata only
    removed = [v for v in old if v not in new]
    if removed:
        what = f"removes {', '.join(map(repr, removed))} from"
        why = (f"rows holding {'these values' if len(removed) > 1 else 'this value'} make the ALTER fail in "
               f"strict mode (or become '' without it), the application version still running keeps "
               f"writing them, and MySQL copies `{t}`, blocking writes while it runs.")
    else:
        what = "reorders or inserts values in the middle of"
        why = (f"MySQL stores an ENUM as the value's position, so anything but appending at the end copies "
               f"`{t}` and blocks writes while it runs; ORDER BY `{c}` also follows the new order.")
    keep = old + [v for v in new if v not in old]
    return Hit(
        "enum-values-changed", f"{what} ENUM `{t}.{c}` ({', '.join(map(repr, old))} -> "
                               f"{', '.join(map(repr, new))})", why,
        f"Append new values at the end and keep the old ones until no row and no code uses them:\n\n"
        f"    {_alter_call(op, column, type_=f'sa.Enum({_args(keep)})')}\n\n"
        f"then remove unused values in a later release, after "
        f"op.execute(\"UPDATE {t} SET {c} = ... WHERE {c} IN ({_args(removed) or '...'})\").")


def _type_change(op, column: ColumnState, record: OpRecord, server: str) -> Optional[Hit]:
    t, c = op.table_name, op.column_name
    old_sql, new_sql = _norm(column.type), _norm(op.modify_type)
    measured = [s for s in record.statements if s.algorithm]
    copied = any(s.algorithm == "COPY" for s in measured)
    old_len, new_len = _varchar_length(old_sql), _varchar_length(new_sql)
    per_char = column.bytes_per_char or 4
    if old_sql == new_sql and not copied:
        return None
    check = ""  # what to look at in production before narrowing
    if old_len is not None and new_len is not None and new_len > old_len:
        if not (old_len * per_char <= 255 < new_len * per_char) and not copied:
            return None  # the length prefix keeps its size: MySQL changes the metadata only
        how = (f"its length prefix grows from 1 to 2 bytes ({old_len} to {new_len} characters of up to "
               f"{per_char} bytes in {column.charset or 'its charset'}), which MySQL does by copying `{t}`")
        verb = "widens"
    elif _narrows(old_sql, new_sql, old_len, new_len):
        how = (f"MySQL narrows a column by copying `{t}`, and values that no longer fit make the ALTER fail "
               f"in strict mode (or are truncated without it)")
        verb = "narrows"
        if new_len is not None:
            query = f"SELECT COUNT(*) FROM {t} WHERE CHAR_LENGTH({c}) > {new_len}"
        elif old_sql.split()[0].split("(")[0] in _TEXT_RANK:  # TEXT types hold bytes: their size, not their order
            query = f"SELECT MAX(LENGTH({c})) FROM {t}"
        else:
            query = f"SELECT MIN({c}), MAX({c}) FROM {t}"
        check = f"First check that production's values fit: {query}\n"
    else:
        how = f"MySQL changes a column's type by copying `{t}`"
        verb = "changes"
    note = ""
    if measured:
        verdict = measured[-1]
        reason = f" ({verdict.refusals[-1].reason})" if verdict.refusals else ""
        note = f" {server or 'The server'} answered {verdict.algorithm}{reason}."
        if verdict.algorithm != "COPY":
            note += " MySQL 8 copies the table for this change."
    return Hit(
        "type-change-copies-table", f"{verb} `{t}.{c}` from {old_sql} to {new_sql}: MySQL copies "
                                    f"the table and blocks writes while it runs",
        f"{how}. The copy rewrites every row and blocks writes for as long as that takes: minutes to "
        f"hours on a big table.{note}",
        f"{check}On a small table, accept it (suppress below). On a big one, expand and contract:\n"
        f"1. op.add_column({t!r}, sa.Column('{c}_new', {_type_code(op.modify_type)}, nullable=True))\n"
        f"2. Write both columns, backfill `{c}_new` in batches, switch reads to it.\n"
        f"3. Drop `{c}` in a later release.\n"
        f"Or run the ALTER with an online schema change tool (gh-ost, pt-online-schema-change), which "
        f"copies without blocking writes.")


_TEXT_TYPES = {"tinytext", "text", "mediumtext", "longtext", "tinyblob", "blob", "mediumblob", "longblob", "json"}


def _keys_mysql_refuses(record: OpRecord) -> Iterator[Hit]:
    """Keys MariaDB made other than the op asked (a prefix, a hash) where MySQL 8 fails the statement."""
    if not record.indexes:
        return
    lengths, hashed = _asked(record.operation)
    by_index: dict = {}
    for part in record.indexes:
        if (part.hash and not hashed) or (part.sub_part and lengths.get(part.column) != part.sub_part):
            by_index.setdefault(part.index, []).append(part)
    for index, parts in by_index.items():
        yield _key_too_long(record.operation.table_name, index, parts)


def _asked(op) -> tuple:
    """({column: the prefix length the op asked for}, whether it asked for USING HASH), from its
    mysql_length/mysql_using (or mariadb_) arguments."""
    if isinstance(op, ops.CreateIndexOp):
        indexes = [op.to_index()]
    elif isinstance(op, ops.CreateTableOp):
        indexes = list(op.to_table().indexes)
    else:
        return {}, False
    lengths, hashed = {}, False
    for index in indexes:
        for dialect in ("mysql", "mariadb"):
            options = index.dialect_options[dialect]
            length, using = options.get("length"), options.get("using")
            columns = [c.name for c in index.columns]
            lengths.update(length if isinstance(length, dict) else {c: length for c in columns} if length else {})
            hashed = hashed or str(using or "").lower() == "hash"
    return lengths, hashed


def _key_too_long(table: str, index: str, parts: list) -> Hit:
    columns = ", ".join(p.column for p in parts)
    text = [p for p in parts if p.data_type in _TEXT_TYPES]
    if text:
        error = (f"error 1170: BLOB/TEXT column '{text[0].column}' used in key specification without a key "
                 "length")
    else:
        error = "error 1071: Specified key was too long; max key length is 3072 bytes"
    made = ("made it a hash-based unique index (USING HASH), which MySQL does not have" if parts[0].hash
            else f"indexed only the first {parts[0].sub_part} characters of {parts[0].column}, with a note")
    lengths = ", ".join(f"{p.column!r}: 191" for p in parts)
    return Hit(
        "key-too-long", f"index `{index}` on `{table}` ({columns}): MySQL 8 refuses it ({error})",
        f"MariaDB {made}, so the replay went on; MySQL 8 fails the statement at deploy. A key holds at most "
        "3072 bytes (768 utf8mb4 characters), and a TEXT or BLOB column only a prefix of a given length.",
        f"1. For a lookup index, index a prefix: op.create_index({index!r}, {table!r}, [...], "
        f"mysql_length={{{lengths}}}) (191 utf8mb4 characters fit any row format).\n"
        "2. For uniqueness, a prefix is not enough: make the column a VARCHAR short enough for the key, or "
        "add a stored generated column holding a hash of it (UNHEX(SHA2(col, 256)), BINARY(32)) and put the "
        "unique index on that.")


def _unique(op) -> Hit:
    t = op.table_name
    name = getattr(op, "index_name", None) or getattr(op, "constraint_name", None) or "(unnamed)"
    cols = [str(c) for c in op.columns]
    col_list = ", ".join(cols)
    return Hit(
        "unique-on-existing-table", f"adds unique index `{name}` on `{t}` ({col_list})",
        "duplicates already in production make the ALTER fail with error 1062 in the middle of the "
        "deploy (the replay's tables hold only what the migrations inserted), and the application "
        "version still running gets duplicate-key errors on writes that used to succeed.",
        f"1. Check production first:\n\n"
        f"    SELECT {col_list}, COUNT(*) FROM {t} GROUP BY {col_list} HAVING COUNT(*) > 1\n\n"
        f"2. Clean the duplicates up and deploy code that does not create new ones.\n"
        f"3. Then add the index (MySQL builds it in place, without blocking writes).")


def _foreign_key(table, name, local_cols, referent, remote_cols, record: OpRecord, server: str) -> Hit:
    local, remote = ", ".join(local_cols), ", ".join(remote_cols)
    measured = [s for s in record.statements if s.algorithm and "FOREIGN KEY" in s.sql.upper()]
    note = ""
    if measured and measured[-1].refusals:
        note = f" {server or 'The server'} answered {measured[-1].algorithm} ({measured[-1].refusals[-1].reason})."
    return Hit(
        "foreign-key-added", f"adds foreign key {('`' + name + '` ') if name else ''}from `{table}` ({local}) "
                             f"to `{referent}` ({remote}) with foreign_key_checks on",
        f"with foreign_key_checks=1 MySQL copies `{table}` to check every row, blocking writes while it "
        f"runs, and locks `{referent}` too; rows without a match make it fail.{note}",
        f"1. Check production for orphans:\n\n"
        f"    SELECT COUNT(*) FROM {table} t LEFT JOIN {referent} r ON r.{remote_cols[0]} = t.{local_cols[0]}\n"
        f"    WHERE t.{local_cols[0]} IS NOT NULL AND r.{remote_cols[0]} IS NULL\n\n"
        f"2. Add the key with the checks off, so MySQL adds it in place without copying:\n\n"
        f"    op.execute(\"SET foreign_key_checks = 0\")\n"
        f"    op.create_foreign_key({name!r}, {table!r}, {referent!r}, {list(local_cols)!r}, "
        f"{list(remote_cols)!r})\n"
        f"    op.execute(\"SET foreign_key_checks = 1\")")


def _execute(op) -> Optional[Hit]:
    sqltext = op.sqltext
    sql = sqltext if isinstance(sqltext, str) else str(sqltext)
    if _HARMLESS_SQL.match(sql):
        return None
    short = " ".join(sql.split())
    short = short if len(short) <= 80 else short[:77] + "..."
    if _DATA_SQL.match(sql) or isinstance(sqltext, sa.sql.dml.UpdateBase):
        return Hit(
            "op-execute", f"op.execute runs a data change alembic-ci cannot analyse: {short}",
            "it ran on the replay's tables, which hold only what the migrations inserted, so how many "
            "rows it touches in production, and for how long it holds their locks while the application "
            "runs, is unknown. A failure halfway leaves the DDL before it committed (MySQL commits DDL at once).",
            "Keep data changes in their own migration, batch them on big tables (UPDATE ... LIMIT 1000 "
            "in a loop until no row changes), or run them as a backfill job after the deploy.")
    return Hit(
        "op-execute", f"op.execute runs raw SQL the risk rules cannot check: {short}",
        "alembic-ci reads op.* calls; raw SQL only gets the server's online-DDL verdict (shown with the "
        "revision's SQL), not the checks for dropped, renamed or retyped columns.",
        "Prefer the op.* call (op.add_column, op.alter_column, op.create_index, ...), or review this "
        "statement by hand.")


# -- helpers ----------------------------------------------------------------------------------

def _norm(type_) -> str:
    """A type as MySQL DDL, comparable across reflection and models: INT for INTEGER(11), ..."""
    try:
        sql = " ".join(to_instance(type_).compile(dialect=_DIALECT).upper().split())
    except Exception:  # a type MySQL cannot render (String() without a length): compare what it says
        return repr(type_).upper()
    sql = re.sub(r"\b(TINYINT|SMALLINT|MEDIUMINT|INTEGER|INT|BIGINT)\(\d+\)", r"\1", sql)
    return re.sub(r"\bBOOL(EAN)?\b", "TINYINT", re.sub(r"\bINTEGER\b", "INT", sql))


def _varchar_length(sql: str) -> Optional[int]:
    match = re.match(r"(?:NATIONAL )?VARCHAR\((\d+)\)", sql)
    return int(match.group(1)) if match else None


def _narrows(old_sql: str, new_sql: str, old_len, new_len) -> bool:
    if old_len is not None and new_len is not None:
        return new_len < old_len
    for ranks in (_INT_RANK, _TEXT_RANK):
        old, new = ranks.get(old_sql.split()[0].split("(")[0]), ranks.get(new_sql.split()[0].split("(")[0])
        if old and new:
            return new < old
    return False


def _is_enum(type_) -> bool:
    return isinstance(type_, sa.Enum) and getattr(type_, "native_enum", True)


def _type_code(type_) -> str:
    type_ = to_instance(type_)
    prefix = "mysql." if "dialects.mysql" in type(type_).__module__ else "sa."
    return prefix + repr(type_)


def _args(values: Iterable) -> str:
    return ", ".join(map(repr, values))


def _alter_call(op, column: ColumnState, nullable: Optional[bool] = None, type_: Optional[str] = None) -> str:
    """op.alter_column(...) restating the column as the scratch database has it."""
    args = [repr(op.table_name), repr(op.column_name)]
    if op.modify_name:
        args.append(f"new_column_name={op.modify_name!r}")
    if type_ is not None:
        args.append(f"type_={type_}")
    elif op.modify_type is not None:
        args.append(f"type_={_type_code(op.modify_type)}")
    wanted = nullable if nullable is not None else op.modify_nullable
    if wanted is not None:
        args.append(f"nullable={wanted}")
    args.append(f"existing_type={_type_code(column.type)}")
    if wanted is None:
        args.append(f"existing_nullable={column.nullable}")
    if column.default is not None:
        args.append(f"existing_server_default=sa.text({column.default!r})")
    if column.comment:
        args.append(f"existing_comment={column.comment!r}")
    if column.autoincrement:
        args.append("existing_autoincrement=True")
    return f"op.alter_column({', '.join(args)})"


def _inline_ignores(path: str, line: Optional[int], sources: dict) -> frozenset:
    if not path or not line:
        return frozenset()
    if path not in sources:
        sources[path] = _source_map(path)
    spans, comments = sources[path]
    start, end = min((s for s in spans if s[0] <= line <= s[1]), key=lambda s: s[1] - s[0], default=(line, line))
    while start - 1 in comments and comments[start - 1][1]:  # whole-line comments right above
        start -= 1
    codes = set()
    for number in range(start, end + 1):
        text = comments.get(number, ("", False))[0]
        for match in _IGNORE.finditer(text):
            found = {code.strip().lower() for code in match.group(1).split(",")}
            unknown = sorted(found - set(RULES))
            if unknown:  # a typo would leave the finding it meant to silence, unexplained
                raise ConfigError(f"{relpath(path)}:{number}: unknown risk code {', '.join(map(repr, unknown))} "
                                  "in an `# alembic-ci: ignore[...]` comment",
                                  f"the codes are {', '.join(RULES)} (docs/risks.md)")
            codes.update(found)
    return frozenset(codes)


def _source_map(path: str):
    """(statement line spans, {line: (comment text, whole-line comment?)}) of a migration file."""
    with tokenize.open(path) as handle:  # honours a `# -*- coding: ... -*-` line, as Python does
        source = handle.read()
    spans = [(node.lineno, node.end_lineno) for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.With, ast.If,
                                                                     ast.For, ast.While, ast.Try))]
    lines = source.splitlines()
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            number = token.start[0]
            comments[number] = (token.string, not lines[number - 1][:token.start[1]].strip())
    return spans, comments

