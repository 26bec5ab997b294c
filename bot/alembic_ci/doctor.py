"""`alembic-ci doctor`: explain a real database's state against the migration scripts, with
the safe fix — the classic Alembic errors ("Target database is not up to date", "Can't locate
revision identified by ...", "table ... already exists").

Pipeline: project -> revision graph -> the live database, read strictly read-only (a
read-only session, and a guard that refuses anything but reads before it is sent) -> the
history replayed in a scratch database with a schema snapshot after every revision -> the
live schema matched against the snapshots -> a Diagnosis (plain data). The user's env.py
never runs against the live database.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

import sqlalchemy as sa
from sqlalchemy import event

from . import drift
from .capture import Capture
from .check import progress_to_stderr
from .embedded import scratch_server
from .errors import ConfigError, ServerError
from .graph import Graph, load_graph
from .interrupts import interrupts_raise
from .project import Project, load_project, relpath
from .replay import replay
from .report import WARNING, Finding, MissingMigration
from .sandbox import ScratchDatabase
from .schema import Schema, differences, distance, read_schema
from .server import connect_with_wait, create_engine, describe, execute_text, parse_url, quote_ident, server_version
from .words import plural

DIAGNOSIS_SCHEMA_VERSION = 1

# States, and whether the database needs nothing.
EMPTY = "empty"  # no tables, no alembic_version
AT_HEAD = "at-head"  # at head, matching the models
DRIFTED = "drifted"  # at head, differing from the models or from what the migrations create
BEHIND = "behind"  # alembic_version names older revisions
UNKNOWN_REVISION = "unknown-revision"  # alembic_version names a revision no script defines
UNVERSIONED = "unversioned"  # tables, but alembic_version missing or empty
CANNOT_DIAGNOSE = "cannot-diagnose"  # the scripts do not load

_READS = re.compile(r"\s*(SELECT|SHOW|DESCRIBE|DESC|EXPLAIN)\b", re.IGNORECASE)


@dataclass
class DoctorOptions:
    database_url: str  # the database inspected, read-only
    config: str = "alembic.ini"
    scratch_url: Optional[str] = None  # the server for the replay; None starts the embedded one
    scratch_database: Optional[str] = None
    wait: float = 60.0
    lock_wait_timeout: int = 60
    statement_timeout: float = 300.0
    revision_timeout: float = 600.0
    progress: Callable[[str], None] = progress_to_stderr


@dataclass
class PendingRevision:
    revision: str
    message: str
    file: str


@dataclass
class SchemaMatch:
    """The revision whose schema the database has (``exact``), or the closest one."""
    heads: list  # what `alembic stamp` must write: the heads after that revision
    exact: bool
    differences: list  # database vs that revision's schema
    # Later revisions that change no table (data migrations?): the same schema.
    same_schema: list = field(default_factory=list)


@dataclass
class Diagnosis:
    config: str
    database: str
    state: str = ""
    summary: str = ""
    fix: list = field(default_factory=list)  # commands, in order
    server: str = ""
    current: Optional[list] = None  # alembic_version's rows; None when the table does not exist
    heads: list = field(default_factory=list)
    pending: list = field(default_factory=list)  # PendingRevision, in upgrade order
    match: Optional[SchemaMatch] = None
    # How the database differs from the schema the migrations create at its revision.
    schema_differences: list = field(default_factory=list)
    # At head: how the models differ from the database, and the migration that would fix it.
    missing_migration: Optional[MissingMigration] = None
    findings: list = field(default_factory=list)
    timing: dict = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.state == AT_HEAD

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": DIAGNOSIS_SCHEMA_VERSION, "healthy": self.healthy, **asdict(self)}


# -- the live database, read-only ----------------------------------------------------------

class ReadOnlyDatabase:
    """Connections to the inspected database that cannot write: the session is READ ONLY
    (the server refuses writes), and anything but a read is refused before it is sent."""

    def __init__(self, url: sa.engine.URL, wait: float, progress: Callable[[str], None]) -> None:
        self.url = url
        self.wait = wait
        self.progress = progress
        self.engine = create_engine(url)
        event.listen(self.engine, "connect", _read_only_session)
        event.listen(self.engine, "before_cursor_execute", _reads_only)

    def connect(self) -> sa.engine.Connection:
        return connect_with_wait(self.engine, self.url, self.wait, self.progress)

    def dispose(self) -> None:
        self.engine.dispose()


def _read_only_session(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
    finally:
        cursor.close()


def _reads_only(conn, cursor, statement, parameters, context, executemany) -> None:
    if not _READS.match(statement):
        raise ServerError(f"doctor stopped a statement that is not a read before sending it to the inspected "
                          f"database: {statement.split()[0] if statement.split() else statement!r}",
                          "this is a bug in alembic-ci: please report it")


def _version_rows(conn: sa.engine.Connection, table: str, schema: Optional[str]) -> list:
    name = quote_ident(schema, table) if schema else quote_ident(table)
    return [row[0] for row in execute_text(conn, f"SELECT version_num FROM {name}")]


def _has_table(conn: sa.engine.Connection, table: str, schema: Optional[str]) -> bool:
    return bool(conn.execute(sa.text(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) "
        "AND TABLE_NAME = :table"), {"schema": schema, "table": table}).scalar())


# -- the pipeline --------------------------------------------------------------------------

@dataclass
class _Snapshot:
    heads: tuple  # the heads stamped after this revision: () for the empty database
    revision: Optional[str]
    schema: Schema


def run_doctor(options: DoctorOptions) -> Diagnosis:
    started = time.perf_counter()
    project = load_project(options.config)
    live_url = parse_url(options.database_url, "the --database-url URL")
    if options.scratch_url:
        parse_url(options.scratch_url, "the --scratch-url URL")  # before the long replay, named
    if not live_url.database:
        raise ConfigError("--database-url names no database to inspect",
                          "end it with the database: mysql+pymysql://USER:PASSWORD@HOST:3306/DBNAME")
    diagnosis = Diagnosis(config=relpath(project.ini_path), database=f"{live_url.database} at {describe(live_url)}")
    graph, findings = load_graph(project.script, project.version_locations)
    diagnosis.findings.extend(findings)
    if graph is None:
        diagnosis.state = CANNOT_DIAGNOSE
        diagnosis.summary = "the migration scripts do not load, so the database cannot be compared with them"
        return diagnosis
    diagnosis.heads = graph.heads

    live = ReadOnlyDatabase(live_url, options.wait, options.progress)
    try:
        with interrupts_raise():
            with live.connect() as conn:
                diagnosis.server = server_version(conn)
                live_schema = read_schema(conn)
            if not live_schema:
                _empty(diagnosis, graph)
            else:
                snapshots, configure_options = _replay(project, graph, options, diagnosis)
                version_table = configure_options.get("version_table", "alembic_version")
                version_schema = configure_options.get("version_table_schema")
                with live.connect() as conn:
                    if _has_table(conn, version_table, version_schema):
                        diagnosis.current = _version_rows(conn, version_table, version_schema)
                    if not version_schema:
                        live_schema.pop(version_table, None)
                    _diagnose(diagnosis, graph, live_schema, snapshots, configure_options, conn)
    finally:
        live.dispose()
    diagnosis.timing = {"total_seconds": round(time.perf_counter() - started, 3)}
    return diagnosis


def _replay(project: Project, graph: Graph, options: DoctorOptions, diagnosis: Diagnosis):
    snapshots = [_Snapshot((), None, {})]

    def snapshot(conn: sa.engine.Connection, revision: str, heads: tuple) -> None:
        snapshots.append(_Snapshot(heads, revision, read_schema(conn)))

    with scratch_server(options.scratch_url, options.scratch_database) as server:
        with ScratchDatabase(server.url(options.progress), options.wait, options.progress,
                             existing=options.scratch_database, statement_timeout=options.statement_timeout) as scratch:
            options.progress(f"replaying {len(graph.files)} {plural('revision', len(graph.files))} on {scratch.server} "
                             f"(scratch database {scratch.name}) to learn the schema at each...")
            with Capture(scratch.url, options.lock_wait_timeout) as capture, scratch.connect() as conn:
                result = replay(project, graph, conn, capture, snapshot, options.revision_timeout)
    configure_options = result.configure_options or {}
    version_table = configure_options.get("version_table", "alembic_version")
    for snap in snapshots:
        snap.schema.pop(version_table, None)
    if result.failure is not None:
        failure = result.failure
        diagnosis.findings.append(Finding(
            "replay-stopped", WARNING,
            f"the history stops replaying at {failure.revision}, so the schemas from there on are unknown: "
            f"{failure.message}", file=failure.file, line=failure.line, revision=failure.revision,
            detail=failure.detail))
    return snapshots, configure_options


def _empty(diagnosis: Diagnosis, graph: Graph) -> None:
    diagnosis.state = EMPTY
    diagnosis.pending = _pending(graph, ())
    version = "no alembic_version" if diagnosis.current is None else "an empty alembic_version"
    diagnosis.summary = (f"the database is empty: no table and {version}; "
                         f"{len(diagnosis.pending)} revisions create the schema")
    diagnosis.fix = [_upgrade_command(graph)]


def _diagnose(diagnosis: Diagnosis, graph: Graph, live: Schema, snapshots: list, configure_options: dict,
              conn: sa.engine.Connection) -> None:
    current = diagnosis.current or []
    unknown = [rev for rev in current if rev not in graph.files]
    if not current and not live:  # only an empty alembic_version
        _empty(diagnosis, graph)
    elif unknown:
        _unknown_revision(diagnosis, graph, live, snapshots, unknown)
    elif not current:
        _unversioned(diagnosis, graph, live, snapshots)
    else:
        # At the heads when nothing is pending: fewer rows than heads too, a head another one
        # depends on being applied with it (Alembic's "effective head").
        diagnosis.pending = _pending(graph, tuple(current))
        if diagnosis.pending:
            _behind(diagnosis, graph, live, snapshots, current)
        else:
            _at_head(diagnosis, graph, live, snapshots, configure_options, conn, current)


def _unknown_revision(diagnosis, graph, live, snapshots, unknown) -> None:
    diagnosis.state = UNKNOWN_REVISION
    names = ", ".join(unknown)
    heads = ", ".join(graph.describe(h) for h in graph.heads)
    match = diagnosis.match = _best_match(live, snapshots)
    said = (f"alembic_version names {names}, which no revision file defines (Alembic says \"Can't locate "
            f"revision identified by '{unknown[0]}'\"); the scripts' head{'s are' if len(graph.heads) > 1 else ' is'} "
            f"{heads}")
    if match.exact:
        diagnosis.summary = f"{said}. The schema matches {_heads_text(match.heads)} exactly{_same(match)}"
        diagnosis.fix = [_stamp(match.heads, purge=True)]
        if _pending(graph, tuple(match.heads)):
            diagnosis.fix.append(_upgrade_command(graph))
    else:
        diagnosis.summary = (f"{said}. No revision's schema matches the database; the closest is "
                             f"{_heads_text(match.heads)} ({_count(match.differences)})")
    diagnosis.findings.append(Finding(
        "unknown-revision", WARNING,
        f"{names}: probably a revision applied from another branch or deleted since",
        detail=f"Look for it: `git log --all --oneline -S {unknown[0]}`. If that branch's revision should be "
               "kept, restore its file and `alembic merge`; do not delete alembic_version rows by hand.",
    ))


def _unversioned(diagnosis, graph, live, snapshots) -> None:
    diagnosis.state = UNVERSIONED
    where = "is empty" if diagnosis.current is not None else "does not exist"
    said = (f"the database has {len(live)} tables but alembic_version {where}, so `alembic upgrade head` "
            f"would run every revision and fail on \"table ... already exists\"")
    match = diagnosis.match = _best_match(live, snapshots)
    if match.exact:
        diagnosis.summary = f"{said}. The schema matches {_heads_text(match.heads)} exactly{_same(match)}"
        diagnosis.fix = [_stamp(match.heads)]
        if _pending(graph, tuple(match.heads)):
            diagnosis.fix.append(_upgrade_command(graph))
    elif match.heads:
        diagnosis.summary = (f"{said}. No revision's schema matches it exactly; the closest is "
                             f"{_heads_text(match.heads)} ({_count(match.differences)})")
    else:
        diagnosis.summary = f"{said}. Its tables are not the ones the migrations create"


def _at_head(diagnosis, graph, live, snapshots, configure_options, conn, current) -> None:
    diagnosis.schema_differences = _differences_at(live, snapshots, current)
    metadata = configure_options.get("target_metadata")
    if metadata is not None:
        diagnosis.missing_migration, findings = drift.compare(conn, configure_options, side="database")
        diagnosis.findings.extend(f for f in findings if f.code != "missing-migration")
    else:
        diagnosis.findings.append(Finding(
            "no-target-metadata", WARNING,
            "env.py passes no target_metadata to context.configure(): the database was compared with the "
            "migrations only, not with the models",
            detail="In env.py: `from myapp.models import Base` and `target_metadata = Base.metadata`."))
    heads = _heads_text(graph.heads)
    models = diagnosis.missing_migration is not None
    if not models and not diagnosis.schema_differences:
        diagnosis.state = AT_HEAD
        compared = "the models" if metadata is not None else "what the migrations create"
        diagnosis.summary = f"the database is at head ({heads}) and matches {compared}"
        return
    diagnosis.state = DRIFTED
    if diagnosis.schema_differences:
        diagnosis.summary = (f"the database is at head ({heads}) but its schema differs from what the migrations "
                             f"create ({_count(diagnosis.schema_differences)}): changed by hand? Undo the "
                             "changes, or capture them in a migration and stamp it")
    else:
        diagnosis.summary = (f"the database is at head ({heads}) and matches the migrations, but the models "
                             f"differ from it ({_count(diagnosis.missing_migration.differences)}): a migration "
                             "is missing")
        diagnosis.fix = ['alembic revision --autogenerate -m "..."', "alembic upgrade head"]


def _behind(diagnosis, graph, live, snapshots, current) -> None:
    diagnosis.state = BEHIND
    count = len(diagnosis.pending)
    diagnosis.summary = (f"the database is at {_heads_text(current)}, behind head ({_heads_text(graph.heads)}): "
                         f"{count} {plural('revision', count)} to apply (Alembic says \"Target database is not "
                         "up to date\")")
    diagnosis.fix = [_upgrade_command(graph)]
    diagnosis.schema_differences = _differences_at(live, snapshots, current)
    if diagnosis.schema_differences:
        diagnosis.summary += (f"; its schema also differs from what {_heads_text(current)} creates "
                              f"({_count(diagnosis.schema_differences)}), so the upgrade may fail")


def _pending(graph: Graph, current: tuple) -> list:
    steps = graph.script._upgrade_revs("heads", current)
    return [PendingRevision(step.revision.revision, graph.message(step.revision.revision),
                            graph.path(step.revision.revision)) for step in steps]


def _differences_at(live: Schema, snapshots: list, heads) -> list:
    for snap in reversed(snapshots):
        if set(snap.heads) == set(heads):
            return differences(live, snap.schema, "in the database", f"at {_heads_text(heads)}")
    return []  # that combination of branches never occurs in the replay order: nothing to compare


def _best_match(live: Schema, snapshots: list) -> SchemaMatch:
    index = min(range(len(snapshots)), key=lambda i: distance(live, snapshots[i].schema))  # the earliest of ties
    diffs = differences(live, snapshots[index].schema, "in the database",
                        f"at {_heads_text(snapshots[index].heads)}")
    following = []  # the revisions right after it that change no table
    for snap in snapshots[index + 1:]:
        if snap.schema != snapshots[index].schema:
            break
        following.append(snap.revision)
    return SchemaMatch(heads=list(snapshots[index].heads), exact=not diffs, differences=diffs,
                       same_schema=following)


def _same(match: SchemaMatch) -> str:
    if not match.same_schema:
        return ""
    later = ", ".join(match.same_schema)
    return (f" (so do {later}, which change no table: the upgrade after the stamp reruns them; if their data "
            f"changes are already in the database, stamp {match.same_schema[-1]} instead)")


def _count(differences: list) -> str:
    return f"{len(differences)} {plural('difference', len(differences))}"


def _heads_text(heads) -> str:
    return " + ".join(heads) if heads else "the empty database"


def _stamp(heads, purge: bool = False) -> str:
    return f"alembic stamp {'--purge ' if purge else ''}{' '.join(heads)}"


def _upgrade_command(graph: Graph) -> str:
    return "alembic upgrade heads" if len(graph.heads) > 1 else "alembic upgrade head"
