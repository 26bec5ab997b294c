"""Drift: compare the migrated schema with the models, with Alembic's own autogenerate and
env.py's own configure() options. Any difference is a missing migration.

MySQL equivalences absorbed (stored differently, not drift):
- ``Float(precision=53)`` / ``Double`` in the models is stored as ``DOUBLE``.
- ``Boolean`` is stored as ``TINYINT(1)`` (Alembic itself treats BOOL/TINYINT as synonyms;
  kept here so the rule holds on every Alembic version we support).
"""

from __future__ import annotations

import inspect
import io
from typing import Any, Iterable, Optional

import sqlalchemy as sa
from alembic.autogenerate import produce_migrations
from alembic.autogenerate import render as alembic_render
from alembic.autogenerate.api import AutogenContext
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import CompileError, NoReferencedColumnError, NoReferencedTableError

from .capture import tidy_sql
from .graph import one_line
from .project import relpath
from .report import ERROR, WARNING, Finding, MissingMigration
from .words import plural

# configure() options that belong to running migrations, not to comparing schemas.
_RUNTIME_ONLY = {"connection", "url", "dialect_name", "dialect_opts", "as_sql", "output_buffer",
                 "literal_binds", "transactional_ddl", "transaction_per_migration", "on_version_apply",
                 "starting_rev", "tag", "fn", "process_revision_directives"}


# How a difference reads, by what the connection's schema is: the migrated scratch schema
# (check) or a live database (doctor).
SIDES = {
    "migrations": ("in the models, no migration creates it", "created by the migrations, not in the models",
                   "in the migrations"),
    "database": ("in the models, not in the database", "in the database, not in the models", "in the database"),
}


def compare(conn: sa.engine.Connection, options: Optional[dict],
            side: str = "migrations") -> tuple[Optional[MissingMigration], list[Finding]]:
    metadata = (options or {}).get("target_metadata")
    if metadata is None or (isinstance(metadata, (list, tuple)) and not metadata):
        return None, [Finding(
            "no-target-metadata", WARNING,
            "env.py passes no target_metadata to context.configure(): the models were not compared "
            "with the migrations, so a missing migration cannot be detected",
            detail="In env.py: `from myapp.models import Base` and `target_metadata = Base.metadata`.",
        )]
    metadatas = list(metadata) if isinstance(metadata, (list, tuple)) else [metadata]
    findings = list(_model_errors(metadatas, conn.dialect))

    opts = {k: v for k, v in options.items() if k not in _RUNTIME_ONLY}
    # One database is compared: the one connected to. include_schemas would reflect every other
    # database on the server (mysql, sys, other projects) and report them all as drift.
    opts["include_schemas"] = False
    context = MigrationContext.configure(connection=conn, opts=opts)
    if context._user_compare_type is not False:
        opts["compare_type"] = _absorbing(context._user_compare_type)
        context = MigrationContext.configure(connection=conn, opts=opts)
    try:
        script = produce_migrations(context, metadata)
    except Exception as exc:  # the comparison runs user types and hooks: any failure is a finding
        return None, findings + [Finding(
            "drift-check-failed", ERROR,
            f"Alembic's comparison of the models with the migrated schema failed: {one_line(exc)}",
            detail="`alembic check` fails the same way. Fix the model or the include_object/compare_type "
                   "hooks in env.py that raise.",
        )]
    upgrade_ops = script.upgrade_ops
    if upgrade_ops.is_empty():
        return None, findings
    differences = [describe(diff, conn.dialect, side) for diff in upgrade_ops.as_diffs()]
    autogen = AutogenContext(context, opts={
        "sqlalchemy_module_prefix": "sa.", "alembic_module_prefix": "op.",
        "render_item": opts.get("render_item"), "user_module_prefix": opts.get("user_module_prefix"),
        "render_as_batch": opts.get("render_as_batch", False)})
    # Alembic's own renderer (what `alembic revision --autogenerate` writes), which also
    # collects the imports the code needs (e.g. sqlalchemy.dialects.mysql).
    upgrade = alembic_render._render_cmd_body(upgrade_ops, autogen)
    downgrade = alembic_render._render_cmd_body(script.downgrade_ops, autogen)
    missing = MissingMigration(
        differences=differences,
        imports=["from alembic import op", "import sqlalchemy as sa", *sorted(autogen.imports)],
        upgrade="def upgrade():\n    " + alembic_render._indent(upgrade),
        downgrade="def downgrade():\n    " + alembic_render._indent(downgrade),
        sql=render_sql(upgrade_ops, conn.dialect),
    )
    count = len(differences)
    findings.append(Finding(
        "missing-migration", ERROR,
        f"the models differ from the migrations ({count} {plural('difference', count)}): "
        + "; ".join(differences[:3]) + ("; ..." if count > 3 else ""),
        detail="Generate the migration: `alembic revision --autogenerate -m \"...\"`, review it, commit it.",
    ))
    return missing, findings


def _absorbing(user_compare_type: Any):
    def compare_type(context, inspected_column, metadata_column, inspected_type, metadata_type):
        if _equivalent(inspected_type, metadata_type):
            return False
        if callable(user_compare_type):
            return user_compare_type(context, inspected_column, metadata_column, inspected_type, metadata_type)
        return None  # Alembic's own comparison
    return compare_type


def _equivalent(inspected: sa.types.TypeEngine, model: sa.types.TypeEngine) -> bool:
    if isinstance(inspected, mysql.DOUBLE) and isinstance(model, sa.Float):
        # MySQL stores FLOAT(p) with 25 <= p <= 53 as DOUBLE.
        return isinstance(model, getattr(sa, "Double", ())) or 25 <= (model.precision or 0) <= 53
    if isinstance(model, sa.Boolean) and isinstance(inspected, (mysql.TINYINT, sa.Boolean)):
        return getattr(inspected, "display_width", 1) in (None, 1)
    return False


def _model_errors(metadatas: list, dialect) -> Iterable[Finding]:
    """Columns that make the comparison itself crash (a ForeignKey naming no table, ``String()``
    without a length): name the model and the column instead."""
    models = None  # looked up on the first error only (importing the ORM costs ~0.1 s)
    for metadata in metadatas:
        for table in metadata.tables.values():
            for column in table.columns:
                problem = _column_problem(column, dialect)
                if problem is None:
                    continue
                models = _models_by_table() if models is None else models
                model = models.get(table.fullname)
                owner = f"{model.__name__}.{column.key}" if model else f"{table.fullname}.{column.name}"
                file, line = _source_of(model)
                what, fix = problem
                yield Finding("model-error", ERROR, f"{owner} ({table.fullname}.{column.name}): {what}",
                              file=file, line=line, detail=fix)


def _column_problem(column, dialect) -> Optional[tuple]:
    """(what is wrong, what to do) with a model's column, or None."""
    for foreign_key in column.foreign_keys:
        try:
            foreign_key.column  # resolves the target; a column without a type takes the target's
        except (NoReferencedTableError, NoReferencedColumnError) as exc:
            return (f"ForeignKey({foreign_key.target_fullname!r}) references nothing in the models ({exc})",
                    "Name the referenced table and column as the models define them: the table's "
                    "__tablename__, e.g. ForeignKey('users.id').")
    try:
        column.type.compile(dialect=dialect)
    except CompileError as exc:
        return (f"{exc} — the type cannot exist on MySQL",
                "Give String a length (String(255)) or use Text; MySQL has no VARCHAR without one.")
    return None


def _models_by_table() -> dict:
    # SQLAlchemy keeps its registries in a private weak set; without it we name the table only.
    try:
        from sqlalchemy.orm import mapperlib
        registries = list(getattr(mapperlib, "_mapper_registries", {}))
    except Exception:
        return {}
    names = {}
    for registry in registries:
        for mapper in getattr(registry, "mappers", ()):
            table = getattr(mapper, "local_table", None)
            if table is not None and hasattr(table, "fullname"):
                names.setdefault(table.fullname, mapper.class_)
    return names


def _source_of(model) -> tuple:
    if model is None:
        return None, None
    try:
        return relpath(inspect.getsourcefile(model)), inspect.getsourcelines(model)[1]
    except (OSError, TypeError):
        return None, None


def _flatten(ops) -> Iterable[Any]:
    for op in ops:
        if hasattr(op, "ops"):
            yield from _flatten(op.ops)
        else:
            yield op


def render_sql(upgrade_ops, dialect) -> list[str]:
    """The MySQL statements the would-be migration runs, rendered offline by Alembic itself
    for the dialect of the server checked (one op at a time, so one bad op is named, not fatal)."""
    statements = []
    for op in _flatten(upgrade_ops.ops):
        buffer = io.StringIO()
        context = MigrationContext.configure(dialect=dialect, opts={"as_sql": True, "output_buffer": buffer})
        try:
            Operations(context).invoke(op)
        except Exception as exc:
            statements.append(f"-- {op.__class__.__name__} cannot be rendered for MySQL: {one_line(exc)}")
            continue
        statements.extend(tidy_sql(s) for s in buffer.getvalue().split(";\n") if s.strip())
    # A model column with index=True reaches add_column with its index, which autogenerate also
    # emits as its own create_index (the pasted code creates it once): say each statement once.
    return list(dict.fromkeys(statements))


def describe(diff: tuple, dialect, side: str = "migrations") -> str:
    """One difference in words, from the models' point of view."""
    if isinstance(diff, list):  # modify_* diffs of one column come as a list
        return "; ".join(describe(d, dialect, side) for d in diff)
    only_models, only_schema, in_schema = SIDES[side]
    kind = diff[0]
    if kind == "add_table":
        return f"table {diff[1].fullname}: {only_models}"
    if kind == "remove_table":
        return f"table {diff[1].fullname}: {only_schema}"
    if kind == "add_column":
        return f"{_qual(diff[1], diff[2])}.{diff[3].name}: {only_models}"
    if kind == "remove_column":
        return f"{_qual(diff[1], diff[2])}.{diff[3].name}: {only_schema}"
    if kind.startswith("modify_"):
        _, schema, table, column, info, old, new = diff
        what = kind[len("modify_"):].replace("_", " ")
        return (f"{_qual(schema, table)}.{column}: {what} is {_show(old, dialect)} {in_schema}, "
                f"{_show(new, dialect)} in the models")
    if kind in ("add_index", "remove_index"):
        index = diff[1]
        cols = ", ".join(c.name for c in index.columns) or "expressions"
        unique = "unique index" if index.unique else "index"
        where = only_models if kind == "add_index" else only_schema
        return f"{unique} {index.name} on {index.table.fullname}({cols}): {where}"
    if kind in ("add_fk", "remove_fk"):
        fk = diff[1]
        target = fk.elements[0].target_fullname.rsplit(".", 1)[0] if fk.elements else "?"
        cols = ", ".join(c.name for c in fk.columns) if fk.columns else "?"
        where = only_models if kind == "add_fk" else only_schema
        return f"foreign key {fk.table.fullname}({cols}) -> {target}: {where}"
    if kind in ("add_constraint", "remove_constraint"):
        cons = diff[1]
        where = only_models if kind.startswith("add") else only_schema
        return f"{cons.__class__.__name__} {cons.name} on {cons.table.fullname}: {where}"
    if kind in ("add_table_comment", "remove_table_comment"):
        return f"table {diff[1].fullname}: comment differs between the migrations and the models"
    return f"{kind}: {diff[1:]!r}"


def _qual(schema, table) -> str:
    return f"{schema}.{table}" if schema else table


def _show(value, dialect) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "NULL" if value else "NOT NULL"
    if isinstance(value, sa.types.TypeEngine):
        try:
            return value.compile(dialect=dialect)
        except CompileError:
            return repr(value)
    value = getattr(value, "arg", value)  # a server default clause
    if isinstance(value, sa.sql.elements.TextClause):
        value = value.text  # as written: compiled, pymysql's paramstyle would double its %
    elif isinstance(value, sa.sql.ClauseElement):  # func.now(), sa.false(): as MySQL reads them
        try:
            value = str(value.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        except (CompileError, NotImplementedError):
            value = value.__class__.__name__
    return repr(value)
