"""The check pipeline: project -> revision graph -> sandbox (server, scratch database) ->
replay (with online-DDL verdicts and the operations watched) -> drift -> risks -> a Report
(plain data). Nothing here knows about GitHub or output formats."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from . import drift, gitbase, risks
from .capture import Capture
from .embedded import embedded_server
from .errors import ConfigError
from .graph import Graph, load_graph
from .operations import OperationWatch
from .project import Project, load_project, relpath
from .replay import ReplayResult, replay
from .report import Report, RevisionReport
from .sandbox import ScratchDatabase, interrupts_raise
from .server import parse_url
from .settings import load_settings


def _stderr(message: str) -> None:
    print(f"alembic-ci: {message}", file=sys.stderr, flush=True)


@dataclass
class CheckOptions:
    config: str = "alembic.ini"
    database_url: Optional[str] = None  # a server; None starts the embedded one
    base: list = field(default_factory=list)  # report only revisions after these
    base_ref: Optional[str] = None  # ... or after the heads at this git commit
    lock_wait_timeout: int = 60
    fail_on: Optional[str] = None  # risk codes that fail the check; None: pyproject.toml or the defaults
    wait: float = 60.0  # seconds to wait for a starting server
    statement_timeout: float = 300.0  # seconds a statement of a migration may run
    scratch_database: Optional[str] = None  # an existing empty database to use, instead of creating one
    progress: Callable[[str], None] = _stderr


def run_check(options: CheckOptions) -> Report:
    started = time.perf_counter()
    project = load_project(options.config)
    settings = load_settings(project.ini_path, options.fail_on)
    report = Report(config=relpath(project.ini_path))
    graph, findings = load_graph(project.script, project.version_locations)
    report.findings.extend(findings)
    if graph is None:
        return report
    report.heads = graph.heads
    report.base = _resolve_base(options, graph, project)
    old = graph.ancestors(report.base)
    reported = frozenset(rev for rev in graph.files if rev not in old)

    with interrupts_raise(), _server(options) as server_url:
        with ScratchDatabase(server_url, options.wait, options.progress, existing=options.scratch_database,
                             statement_timeout=options.statement_timeout) as scratch:
            report.server = scratch.server
            options.progress(f"replaying {len(graph.files)} revisions on {scratch.server} "
                             f"(scratch database {scratch.name})...")
            with Capture(scratch.url, options.lock_wait_timeout, reported) as capture, \
                    OperationWatch(capture, {rev: graph.files[rev].path for rev in reported}) as watch:
                result = replay(project, graph, scratch.url, capture)
                _add_revisions(report, graph, result)
                if result.failure is None:
                    _compare(report, scratch.url, result)
            report.findings.extend(risks.findings(watch.records, settings, scratch.server))
    report.timing = {"total_seconds": round(time.perf_counter() - started, 3),
                     "server_seconds": round(capture.server_seconds, 3)}
    return report


def _server(options: CheckOptions) -> ContextManager[sa.engine.URL]:
    return scratch_server(options.database_url or os.environ.get("ALEMBIC_CI_DATABASE_URL"),
                          options.scratch_database, options.progress)


@contextlib.contextmanager
def scratch_server(url: Optional[str], scratch_database: Optional[str],
                   progress: Callable[[str], None]) -> Iterator[sa.engine.URL]:
    """The server scratch databases go to: ``url``, else an embedded throwaway server."""
    if url:
        yield parse_url(url)
    elif scratch_database:
        raise ConfigError("--scratch-database names a database on a server, and no server URL was given",
                          "pass the server's URL too (--database-url for check, --scratch-url for doctor)")
    else:
        with embedded_server(progress) as embedded_url:
            yield embedded_url


def _resolve_base(options: CheckOptions, graph: Graph, project: Project) -> list:
    if options.base and options.base_ref:
        raise ConfigError("--base and --base-ref were both given", "pass one of them")
    if options.base_ref:
        # A base head the PR removed is simply not an ancestor of anything here.
        return [rev for rev in gitbase.heads_at(options.base_ref, project) if rev in graph.files]
    resolved = []
    for rev in options.base:
        try:
            resolved.append(graph.script.revision_map.get_revision(rev).revision)
        except Exception as exc:
            raise ConfigError(f"--base {rev}: not a revision of this project ({exc})",
                              "`alembic history` lists the revisions") from exc
    return resolved


def _add_revisions(report: Report, graph: Graph, result: ReplayResult) -> None:
    old = graph.ancestors(report.base)
    report.replayed = len(result.applied)
    for rev in result.planned:
        if rev in old:
            continue
        report.revisions.append(RevisionReport(
            revision=rev, file=graph.path(rev), message=graph.message(rev),
            down_revisions=list(graph.down_revisions(rev)),
            statements=result.statements.get(rev, []), applied=rev in result.applied,
        ))
    if result.failure is not None:
        report.add(result.failure)


def _compare(report: Report, scratch_url: sa.engine.URL, result: ReplayResult) -> None:
    engine = sa.create_engine(scratch_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            report.missing_migration, findings = drift.compare(conn, result.configure_options)
    finally:
        engine.dispose()
    report.findings.extend(findings)
