"""Replay: run the user's own env.py against the scratch database, upgrading from empty to
every head, and record what each revision sends to the server."""

from __future__ import annotations

import difflib
import os
import re
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import sqlalchemy as sa
from alembic.runtime.environment import EnvironmentContext
from sqlalchemy.exc import DBAPIError

from .capture import Capture
from .deadline import RevisionDeadline, RevisionTimedOut
from .errors import ConfigError, ServerError, UnsafeConnection
from .graph import Graph, error_line, frames_in, is_encoding_error, one_line
from .project import Project, relpath
from .report import ERROR, Finding
from .server import ASYNC_DRIVERS, describe, server_error
from .snapshot import commit

# MySQL error numbers worth a sentence of their own.
_OWN = os.path.dirname(os.path.abspath(__file__)) + os.sep  # alembic-ci's own frames, left out of call stacks
_HINTS = {
    1146: "The history cannot upgrade from an empty database: this revision expects a table that no "
          "earlier revision creates (often one the application created itself). Add a revision that "
          "creates it, or make the first revision create it.",
    1205: "A lock wait timed out: the migration waits on a lock, often one held by its own second "
          "connection (an ORM session or app code opened inside the migration). Use op.get_bind() only.",
    1317: "The statement was stopped: it ran longer than the statement timeout (--statement-timeout). "
          "A migration that hangs here hangs at deploy too; if it is only slow on big data, raise the timeout.",
    1265: "Rows an earlier migration inserted do not fit the new definition (a NULL where the column "
          "becomes NOT NULL, a value longer than the new length): production's rows will not either. Fix "
          "them first in this migration (UPDATE ... SET col = <default> WHERE col IS NULL), then change "
          "the column.",
    1005: "MySQL could not create the foreign key: the referencing and referenced columns must have "
          "the same type, length, signedness and charset, and the referenced column needs an index.",
}


@dataclass
class ReplayResult:
    planned: list = field(default_factory=list)  # revision ids, in upgrade order
    statements: dict = field(default_factory=dict)  # revision id -> [Statement]
    not_recorded: dict = field(default_factory=dict)  # revision id -> statements past report.MAX_RECORDED
    applied: list = field(default_factory=list)
    failure: Optional[Finding] = None
    # The keyword arguments env.py gave context.configure(): the drift check honours them.
    configure_options: Optional[dict] = None

    @property
    def running(self) -> Optional[str]:
        """The revision being upgraded now: the first planned one not yet applied."""
        return self.planned[len(self.applied)] if len(self.applied) < len(self.planned) else None



# Called after each revision with the migration connection, the revision and the heads then
# stamped: doctor snapshots the schema there, the snapshot cache saves the base.
AfterRevision = Callable[[sa.engine.Connection, str, tuple], None]


def _recording_environment(config, script, fn, result: ReplayResult, capture: Capture,
                           after_revision: Optional[AfterRevision], deadline: RevisionDeadline) -> EnvironmentContext:
    """Alembic's own EnvironmentContext, whose configure() notes env.py's options and hooks
    on_version_apply to cut the statement stream into revisions (and to call after_revision).
    (Overridden on the instance: Alembic installs the `alembic.context` proxy for the exact class only.)"""
    env = EnvironmentContext(config, script, fn=fn, as_sql=False, starting_rev=None,
                             destination_rev="heads", tag=None)
    configure = env.configure

    def applied(ctx, step, heads, run_args) -> None:
        revision = step.up_revision_id
        result.statements[revision], result.not_recorded[revision] = capture.take()
        result.applied.append(revision)
        capture.revision = result.running
        if after_revision is not None:
            capture.recording = False  # what the hook runs is not the revision's SQL
            deadline.stop()  # nor is its time the revision's
            try:
                after_revision(ctx.connection, revision, tuple(heads))
            finally:
                capture.recording = True
        deadline.start()  # the next revision's

    def recording_configure(**kw: Any) -> None:
        result.configure_options = dict(kw)
        capture.version_table = kw.get("version_table") or "alembic_version"
        kw["on_version_apply"] = list(kw.get("on_version_apply") or ()) + [applied]
        configure(**kw)

    env.configure = recording_configure  # type: ignore[method-assign]
    return env


def replay(project: Project, graph: Graph, conn: sa.engine.Connection, capture: Capture,
           after_revision: Optional[AfterRevision] = None, revision_timeout: float = 600.0) -> ReplayResult:
    """Upgrade the scratch database ``conn`` is connected to from where it stands (empty, or a
    restored snapshot with its version rows) to every head. env.py until the first revision, and
    each revision, may run ``revision_timeout`` seconds."""
    result = ReplayResult()
    config = project.config
    # env.py may read the URL (the `alembic init` template does) or the shared connection
    # (the cookbook pattern): both lead to the scratch database. Never the ini's own URL.
    url = _url_for_env(config, conn.engine.url)
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    script = project.script

    def upgrade(rev, context):
        steps = script._upgrade_revs("heads", rev)
        result.planned = [step.revision.revision for step in steps]
        capture.revision = result.running
        capture.take()
        capture.recording = True
        deadline.start()  # the first revision's
        return steps

    config.attributes["connection"] = conn
    # Nothing of ours stays open on it (a restore's reads hold metadata locks until the end of
    # their transaction): an env.py that opens a connection of its own would wait on them.
    commit(conn)
    deadline = RevisionDeadline(revision_timeout)
    env = _recording_environment(config, script, upgrade, result, capture, after_revision, deadline)
    try:
        with env, deadline:
            deadline.start()  # env.py's, until the first revision
            script.run_env()
    except UnsafeConnection:
        raise
    except (Exception, SystemExit, RevisionTimedOut) as exc:  # the user's env.py and migrations may raise anything
        if not capture.recording:
            raise _env_failed(project, exc) from exc
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            raise _server_gone(graph, result, conn.engine.url, exc) from exc
        result.failure = _upgrade_failed(graph, result, capture, exc, conn)
    finally:
        capture.recording = False
        config.attributes.pop("connection", None)
    commit(conn)
    return result


def _url_for_env(config, url: sa.engine.URL) -> sa.engine.URL:
    """The scratch database's URL, with the driver alembic.ini's own URL names when that is an
    async MySQL driver: the `alembic init -t async` template's engine refuses a sync one."""
    try:
        own = sa.engine.make_url(config.get_main_option("sqlalchemy.url") or "")
    except Exception:  # no URL, a placeholder, an interpolation error: nothing to follow
        return url
    if own.get_backend_name() in ("mysql", "mariadb") and own.get_driver_name() in ASYNC_DRIVERS:
        return url.set(drivername=f"{url.get_backend_name()}+{own.get_driver_name()}")
    return url


def _failing_revision(result: ReplayResult) -> str:
    # No running revision: every revision ran and env.py failed afterwards.
    return result.running or (result.planned[-1] if result.planned else "?")


def _server_gone(graph: Graph, result: ReplayResult, scratch_url: sa.engine.URL, exc: DBAPIError) -> ServerError:
    revision = _failing_revision(result)
    where = graph.describe(revision) if revision in graph.files else revision
    return ServerError(
        f"the MySQL server at {describe(scratch_url)} went away while {where} ran: {server_error(exc)}",
        "nothing is known about this revision: rerun the check; if it happens again, read the server's "
        "log (a crash or restart, out of memory, max_allowed_packet)",
    )


def _env_failed(project: Project, exc: BaseException) -> ConfigError:
    env_py = relpath(project.script.env_py_location)
    line = error_line(exc, project.script.env_py_location)
    where = f"{env_py}:{line}" if line else env_py
    if isinstance(exc, SyntaxError) and is_encoding_error(exc):
        return ConfigError(f"{env_py} is not UTF-8 text ({exc.msg})",
                           "save it as UTF-8, or declare its encoding on line 1: # -*- coding: latin-1 -*-")
    if isinstance(exc, RevisionTimedOut):
        return ConfigError(f"{where} was {exc} before any migration ran",
                           "find what it waits for (a network service, a lock, input()); if it is only slow, "
                           "raise --revision-timeout")
    if isinstance(exc, SystemExit):
        return ConfigError(f"{where} called sys.exit({exc.code!r}) before any migration ran",
                           "make env.py configure the context and return; run `alembic upgrade head --sql` "
                           "to see why it exits")
    if isinstance(exc, sa.exc.InvalidRequestError) and "async driver" in str(exc):
        return ConfigError(
            f"{where} runs the migrations on an async engine, and alembic.ini's sqlalchemy.url names no "
            "async MySQL driver for alembic-ci to pass on",
            "set sqlalchemy.url in alembic.ini to a mysql+aiomysql:// (or mysql+asyncmy://) URL: alembic-ci "
            "replaces its host and database with the scratch database's and keeps the driver",
        )
    variable = _missing_environment_variable(exc)
    if variable is not None:
        return ConfigError(
            f"{where} reads the environment variable {variable}, which is not set",
            "set it for the check (a dummy value is enough when env.py only builds a URL from it: alembic-ci "
            "passes its scratch database in config.attributes[\"connection\"] and sqlalchemy.url)",
        )
    if isinstance(exc, ModuleNotFoundError):
        return ConfigError(
            f"{where} imports {exc.name!r}, which is not installed",
            "if it is your own module, check its name and that alembic.ini's prepend_sys_path puts it on "
            "sys.path; otherwise install your project's dependencies where alembic-ci runs (in the GitHub "
            "Action: the `install` input, e.g. `pip install -r requirements.txt`)",
        )
    origin = _user_frame(exc, project)
    raised = f" (raised at {origin})" if origin and not origin.startswith(f"{env_py}:") else ""
    return ConfigError(f"{where} failed before any migration ran: {one_line(exc)}{raised}",
                       "run `alembic upgrade head --sql` to see the same error; alembic-ci runs your env.py as is")


def _user_frame(exc: BaseException, project: Project) -> Optional[str]:
    """file:line of the innermost frame in the user's project (their models.py, not a library):
    a typo in a model surfaces at env.py's import line, but lives there."""
    root = os.path.realpath(project.ini_path.parent)
    places = [(f.filename, f.lineno) for f in traceback.extract_tb(exc.__traceback__)]
    if isinstance(exc, SyntaxError) and exc.filename:  # found while compiling: in no frame
        places.append((exc.filename, exc.lineno))
    found = None
    for filename, line in places:
        path = os.path.realpath(filename)
        if path.startswith(root + os.sep) and "site-packages" not in path:
            found = f"{relpath(path)}:{line}"
    return found


def _missing_environment_variable(exc: BaseException) -> Optional[str]:
    """The name when ``exc`` is os.environ[...]'s KeyError."""
    if not isinstance(exc, KeyError) or not exc.args:
        return None
    frames = traceback.extract_tb(exc.__traceback__)
    in_os = frames and frames[-1].filename in (os.__file__, "<frozen os>")  # frozen since Python 3.11
    return str(exc.args[0]) if in_os else None


def _upgrade_failed(graph: Graph, result: ReplayResult, capture: Capture, exc: BaseException,
                    conn: sa.engine.Connection) -> Finding:
    revision = _failing_revision(result)
    failing = capture.statement_of(exc) if isinstance(exc, DBAPIError) else None
    statements, result.not_recorded[revision] = capture.take()
    path = graph.files[revision].path if revision in graph.files else None
    detail = []
    if isinstance(exc, DBAPIError):
        code = exc.orig.args[0] if getattr(exc.orig, "args", None) else None
        error = capture.server_error(exc)
        message = f"{graph.describe(revision)} failed on the server: {error}"
        if failing is not None:
            detail.append(f"Statement:\n{failing.sql}")
        likely = _likely_table(exc, conn, capture) if code == 1146 else None
        if likely:
            detail.append(likely)
        elif code in _HINTS:
            detail.append(_HINTS[code])
    else:
        if isinstance(exc, RevisionTimedOut):
            message = f"{graph.describe(revision)} was {exc}"
            detail.append("Stopped in the migration's Python code, between statements (a statement is stopped "
                          "by --statement-timeout): a sleep, a wait on a network service, a loop that never "
                          "ends. A migration that hangs here hangs at deploy too; if it is only slow, raise "
                          "--revision-timeout.")
        else:
            message = f"{graph.describe(revision)} raised {one_line(exc)}"
            detail.append("The migration's Python code failed, not the server: fix the revision file "
                          "(`alembic upgrade head` on an empty database raises the same error).")
        trace = _trace_from(exc, path)
        if trace:
            detail.append(f"Call stack from the revision file on:\n{trace}")
    result.statements[revision] = statements
    return Finding(
        "upgrade-failed", ERROR, message,
        file=relpath(path) if path else None, line=error_line(exc, path) if path else None,
        revision=revision, detail="\n\n".join(detail) or None,
    )


def _trace_from(exc: BaseException, path: Optional[str]) -> Optional[str]:
    """The call stack from the revision file's first frame on (Alembic's and our frames above
    it say nothing about the migration), with the exception's own line."""
    if path is None:
        return None
    frames, inside = frames_in(exc, path)
    if not inside:
        return None
    if isinstance(exc, RevisionTimedOut):  # the signal handler's frame is ours, not the migration's
        frames = frames[:-1]
    # Without alembic-ci's own frames and Alembic's generated proxies ("<string>"), paths as a
    # reader of the report has them: the project's relative, a library's from site-packages on.
    shown = [traceback.FrameSummary(_shown_path(f.filename), f.lineno, f.name, line=f.line)
             for f in frames[inside[0]:] if f.filename != "<string>" and not f.filename.startswith(_OWN)]
    return "".join(traceback.format_list(shown) + traceback.format_exception_only(type(exc), exc)).rstrip()


def _shown_path(filename: str) -> str:
    parts = filename.split(os.sep)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return os.sep.join(parts[parts.index(marker):])
    return relpath(filename)


def _likely_table(exc: DBAPIError, conn: sa.engine.Connection, capture: Capture) -> Optional[str]:
    """For "Table 'db.ordr' doesn't exist": the existing table its name is a typo of, if any."""
    match = re.search(r"Table '(?:[^']*?\.)?([^'.]+)' doesn't exist", server_error(exc))
    if not match:
        return None
    try:
        with capture.paused():
            transaction = conn.get_transaction()  # the failed one, if Alembic left it open
            if transaction is not None:
                transaction.rollback()
            tables = [row[0] for row in conn.exec_driver_sql("SHOW TABLES")]
    except DBAPIError:  # the connection is gone: the plain hint
        return None
    close = difflib.get_close_matches(match.group(1), tables, n=1, cutoff=0.6)
    return (f"No table `{match.group(1)}` exists at this point of the history; did you mean `{close[0]}`?"
            if close else None)
