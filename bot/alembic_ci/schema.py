"""A database's schema as plain, comparable data, read from information_schema with four
SELECTs whatever the number of tables (plus SHOW CREATE TABLE of tables with foreign keys) (doctor snapshots the scratch schema after every
revision of a long history, and reads the inspected database strictly read-only).

Normalised so that MariaDB and MySQL 8 describe the same schema the same way: integer display
widths (``int(11)`` vs ``int``), quoted literal defaults, ``NULL`` defaults and
``current_timestamp()`` spellings. Character sets are left out: they follow each server's
defaults, not the migrations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import sqlalchemy as sa

from .server import execute_text, quote_ident

_INT_WIDTH = re.compile(r"^(tinyint|smallint|mediumint|int|integer|bigint)\(\d+\)")


@dataclass(frozen=True)
class Column:
    type: str
    nullable: bool
    default: Optional[str]
    extra: str  # auto_increment, on update ...


@dataclass
class Table:
    columns: dict = field(default_factory=dict)  # name -> Column, in table order
    indexes: dict = field(default_factory=dict)  # name -> (unique, (columns...)); PRIMARY is the key
    foreign_keys: dict = field(default_factory=dict)  # name -> ((columns), table, (columns), on update, on delete)


Schema = dict  # table name -> Table


def read_schema(conn: sa.engine.Connection, exclude: tuple = ()) -> Schema:
    """The schema of the connection's current database (``DATABASE()``)."""
    schema: Schema = {}
    rows = conn.execute(sa.text(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_TYPE = 'BASE TABLE'"))
    for (name,) in rows:
        if name not in exclude:
            schema[name] = Table()
    rows = conn.execute(sa.text(
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION"))
    for table, column, type_, nullable, default, extra in rows:
        if table in schema:
            schema[table].columns[column] = Column(_type(type_), nullable == "YES", _default(default),
                                                   _extra(extra))
    rows = conn.execute(sa.text(
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"))
    for table, index, non_unique, column in rows:
        if table in schema:
            unique, columns = schema[table].indexes.get(index, (not int(non_unique), ()))
            schema[table].indexes[index] = (unique, columns + (column or "(expression)",))
    # Not REFERENTIAL_CONSTRAINTS: MariaDB shows it empty to a user with SELECT only.
    rows = conn.execute(sa.text(
        "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME "
        "FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() "
        "AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"))
    for table, name, column, ref_table, ref_column in rows:
        if table in schema:
            cols, _, ref_cols, _, _ = schema[table].foreign_keys.get(name, ((), ref_table, (), "", ""))
            schema[table].foreign_keys[name] = (cols + (column,), ref_table, ref_cols + (ref_column,), "", "")
    for name, table in schema.items():
        if table.foreign_keys:
            create = execute_text(conn, f"SHOW CREATE TABLE {quote_ident(name)}").fetchone()[1]
            for fk, on_delete, on_update in _fk_rules(create):
                if fk in table.foreign_keys:
                    table.foreign_keys[fk] = table.foreign_keys[fk][:3] + (on_update, on_delete)
    return schema


_FK_RULES = re.compile(r"CONSTRAINT `(?P<name>(?:[^`]|``)+)` FOREIGN KEY .*?REFERENCES [^(]+\([^)]*\)(?P<rules>.*)")
_RULE = re.compile(r"ON (DELETE|UPDATE) (CASCADE|SET NULL|SET DEFAULT|RESTRICT|NO ACTION)")


def _fk_rules(create_table: str):
    """(name, on delete, on update) of each foreign key in SHOW CREATE TABLE's output; the
    default (RESTRICT / NO ACTION, which the servers print or omit differently) is ""."""
    for line in create_table.splitlines():
        match = _FK_RULES.search(line)
        if match:
            rules = {what: "" if rule in ("RESTRICT", "NO ACTION") else rule
                     for what, rule in _RULE.findall(match.group("rules"))}
            yield match.group("name").replace("``", "`"), rules.get("DELETE", ""), rules.get("UPDATE", "")


def _type(text: str) -> str:
    text = text.lower()
    return text if text.startswith("tinyint(1)") else _INT_WIDTH.sub(r"\1", text)


def _default(value: Optional[str]) -> Optional[str]:
    if value is None or value == "NULL":  # MariaDB spells "no default" as the string NULL
        return None
    if len(value) >= 2 and value[0] == value[-1] == "'":  # MariaDB quotes literals, MySQL does not
        return value[1:-1].replace("''", "'")
    return _function(value)


def _function(value: str) -> str:
    return re.sub(r"current_timestamp(\(\))?", "CURRENT_TIMESTAMP", value, flags=re.IGNORECASE)


def _extra(value: Optional[str]) -> str:
    words = _function(value or "").replace("DEFAULT_GENERATED", "").split()
    return " ".join(words).lower()


def differences(actual: Schema, expected: Schema, here: str, there: str) -> list[str]:
    """How ``actual`` (described as ``here``) differs from ``expected`` (``there``), in words."""
    out = []
    for name in sorted(set(actual) | set(expected)):
        if name not in expected:
            out.append(f"table {name}: {here}, not {there}")
        elif name not in actual:
            out.append(f"table {name}: {there}, not {here}")
        else:
            out.extend(_table_differences(name, actual[name], expected[name], here, there))
    return out


def distance(actual: Schema, expected: Schema) -> int:
    """How far apart two schemas are: one per differing column, index or foreign key (a
    missing table counts all of its own), so that the closest revision is the one a person
    would pick."""
    total = 0
    for name in set(actual) | set(expected):
        if name not in actual or name not in expected:
            table = actual.get(name) or expected[name]
            total += 1 + len(table.columns) + len(table.indexes) + len(table.foreign_keys)
        else:
            total += len(_table_differences(name, actual[name], expected[name], "", ""))
    return total


def _table_differences(name: str, actual: Table, expected: Table, here: str, there: str) -> list[str]:
    out = []
    for column in _union(actual.columns, expected.columns):
        a, e = actual.columns.get(column), expected.columns.get(column)
        if e is None:
            out.append(f"column {name}.{column}: {here}, not {there}")
        elif a is None:
            out.append(f"column {name}.{column}: {there}, not {here}")
        elif a != e:
            out.append(f"column {name}.{column}: {_column(a)} {here}, {_column(e)} {there}")
    for kind, items_a, items_e, show in (("index", actual.indexes, expected.indexes, _index),
                                         ("foreign key", actual.foreign_keys, expected.foreign_keys, _fk)):
        for key in _union(items_a, items_e):
            a, e = items_a.get(key), items_e.get(key)
            label = "primary key" if key == "PRIMARY" else f"{kind} {key}"
            if e is None:
                out.append(f"{label} on {name}{show(a)}: {here}, not {there}")
            elif a is None:
                out.append(f"{label} on {name}{show(e)}: {there}, not {here}")
            elif a != e:
                out.append(f"{label} on {name}: {show(a).strip()} {here}, {show(e).strip()} {there}")
    return out


def _union(a: dict, b: dict) -> list:
    return list(a) + [k for k in b if k not in a]


def _column(c: Column) -> str:
    text = c.type.upper() + (" NULL" if c.nullable else " NOT NULL")
    if c.default is not None:
        text += f" DEFAULT {c.default!r}"
    return text + (f" {c.extra.upper()}" if c.extra else "")


def _index(index) -> str:
    unique, columns = index
    return f" ({'unique ' if unique else ''}{', '.join(columns)})"


def _fk(fk) -> str:
    columns, table, ref_columns, on_update, on_delete = fk
    rules = "".join(f" ON {what} {rule}" for what, rule in (("UPDATE", on_update), ("DELETE", on_delete)) if rule)
    return f" ({', '.join(columns)}) -> {table}({', '.join(ref_columns)}){rules}"
