"""The check pipeline: project -> revision graph -> sandbox (server, scratch database) ->
replay (with online-DDL verdicts and the operations watched) -> drift -> risks -> a Report
(plain data). Nothing here knows about GitHub or output formats."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import sqlalchemy as sa

from . import drift, gitbase, risks, snapshot
from .capture import Capture
from .embedded import ScratchServer
from .errors import ConfigError
from .graph import Graph, load_graph
from .operations import OperationWatch
from .project import Project, load_project, relpath
from .replay import AfterRevision, ReplayResult, replay
from .report import Report, RevisionReport
from .sandbox import ScratchDatabase
from .settings import Settings, load_settings
from .words import plural


def progress_to_stderr(message: str) -> None:
    print(f"alembic-ci: {message}", file=sys.stderr, flush=True)


@dataclass
class CheckOptions:
    config: str = "alembic.ini"
    base: list = field(default_factory=list)  # report only revisions after these
    base_ref: Optional[str] = None  # ... or after the heads at this git commit
    lock_wait_timeout: int = 60
    fail_on: Optional[str] = None  # risk codes that fail the check; None: pyproject.toml or the defaults
    wait: float = 60.0  # seconds to wait for a starting server
    statement_timeout: float = 300.0  # seconds a statement of a migration may run
    revision_timeout: float = 600.0  # seconds a revision may run, its Python code included
    scratch_database: Optional[str] = None  # an existing empty database to use, instead of creating one
    # Keep the schema at the base here between runs: a check replays only the new revisions.
    cache_dir: Optional[str] = None  # None: $ALEMBIC_CI_CACHE_DIR, else no cache
    progress: Callable[[str], None] = progress_to_stderr


def run_check(options: CheckOptions, server: ScratchServer) -> Report:
    """``server``: from embedded.scratch_server(), entered by the caller early (an embedded one
    starts in the background while the bot loads), inside interrupts_raise() (a signal then
    cleans up both)."""
    started = time.perf_counter()
    project = load_project(options.config)
    settings = load_settings(project.ini_path, options.fail_on)
    report = Report(config=relpath(project.ini_path))
    graph, findings = load_graph(project.script, project.version_locations)
    report.findings.extend(findings)
    if graph is None:
        return report
    report.heads = graph.heads
    base_commit = gitbase.base_commit(options.base_ref, project) if options.base_ref else None
    report.base = _resolve_base(options, graph, base_commit, settings, report)
    old = graph.ancestors(report.base)
    reported = frozenset(rev for rev in graph.files if rev not in old)

    cache = _cache(options)
    with ScratchDatabase(server.url(options.progress), options.wait, options.progress,
                         existing=options.scratch_database, statement_timeout=options.statement_timeout) as scratch:
        report.server = scratch.server
        with Capture(scratch.url, options.lock_wait_timeout, reported) as capture, \
                OperationWatch(capture, {rev: graph.files[rev].path for rev in reported}) as watch:
            with scratch.connect() as conn:
                _replay_and_compare(report, project, graph, old, cache, scratch, conn, capture, options)
                watch.read_keys(conn)
        report.findings.extend(risks.findings(watch.records, settings, scratch.server))
    if base_commit is not None:
        report.findings.extend(gitbase.helpers_edited(graph, base_commit, settings))
    if not report.base:
        why = (f"the base commit {options.base_ref} has none of these revisions" if options.base_ref
               else "no --base/--base-ref")
        options.progress(f"{why}: every revision was under review and every table new, so the risk rules "
                         "skipped the history's own drops and renames (--base-ref origin/main reviews a change)")
    report.timing = {"total_seconds": round(time.perf_counter() - started, 3),
                     "server_seconds": round(capture.server_seconds + scratch.server_seconds, 3)}
    return report


def _replay_and_compare(report: Report, project: Project, graph: Graph, old: set,
                        cache: Optional[snapshot.Cache], scratch: ScratchDatabase, conn: sa.engine.Connection,
                        capture: Capture, options: CheckOptions) -> None:
    """``old``: the base revisions and all below them (not reported; the snapshot's content)."""
    checkpoint = None
    if cache is not None:
        # Without a base every revision is reported, so nothing is restored; the schema at the heads
        # is saved instead, for the checks of pull requests based on them (a main-branch run warms
        # the cache for the next pull request).
        point, where = (report.base, "the base") if report.base else (graph.heads, "the heads")
        key = snapshot.cache_key(project, graph, point, conn)
        root = project.ini_path.resolve().parent
        if report.base:
            report.restored = cache.restore(conn, key, root) or 0
        if not report.restored:
            kept = graph.ancestors(point)
            checkpoint = _when_applied(kept, lambda c: cache.save(c, key, len(kept), lambda: graph.imported(kept),
                                                                  root, where))
    if report.restored:
        options.progress(f"replaying the revisions after the base on {scratch.server} "
                         f"(scratch database {scratch.name})...")
    else:
        options.progress(f"replaying {len(graph.files)} {plural('revision', len(graph.files))} on {scratch.server} "
                         f"(scratch database {scratch.name})...")
    result = replay(project, graph, conn, capture, checkpoint, options.revision_timeout)
    if checkpoint is not None and not cache.attempted and result.failure is None:
        options.progress("snapshot cache: the schema at the base is not saved: the upgrade order mixes new "
                         "revisions into the base's; a check without a base (the main branch's) saves the "
                         "schema at its heads instead")
    _add_revisions(report, graph, old, result)
    if result.failure is None:
        report.missing_migration, findings = drift.compare(conn, result.configure_options)
        report.findings.extend(findings)


def _when_applied(revisions: set, then) -> AfterRevision:
    """An after_revision hook calling ``then(connection)`` when exactly ``revisions`` are applied
    (the moment the schema is the base's, to snapshot it)."""
    applied: set = set()

    def after_revision(conn: sa.engine.Connection, revision: str, heads: tuple) -> None:
        applied.add(revision)
        if applied == revisions:
            then(conn)
    return after_revision


def _cache(options: CheckOptions) -> Optional[snapshot.Cache]:
    directory = options.cache_dir or os.environ.get("ALEMBIC_CI_CACHE_DIR")
    if not directory:
        return None
    if os.path.exists(directory) and not os.path.isdir(directory):
        options.progress(f"snapshot cache: {directory} is not a directory: no cache")
        return None
    return snapshot.Cache(Path(directory), options.progress)


def _resolve_base(options: CheckOptions, graph: Graph, base_commit: Optional[gitbase.BaseCommit],
                  settings: Settings, report: Report) -> list:
    if options.base and options.base_ref:
        raise ConfigError("--base and --base-ref were both given", "pass one of them")
    if base_commit is not None:
        report.findings.extend(gitbase.rewritten(graph, base_commit.revisions, settings))
        return gitbase.base_in(graph, base_commit.revisions)
    resolved = []
    for rev in options.base:
        try:
            resolved.append(graph.script.revision_map.get_revision(rev).revision)
        except Exception as exc:
            raise ConfigError(f"--base {rev}: not a revision of this project ({exc})",
                              "`alembic history` lists the revisions") from exc
    return resolved


def _add_revisions(report: Report, graph: Graph, old: set, result: ReplayResult) -> None:
    report.replayed = len(result.applied)
    for rev in result.planned:
        if rev in old:
            continue
        report.revisions.append(RevisionReport(
            revision=rev, file=graph.path(rev), message=graph.message(rev),
            down_revisions=list(graph.down_revisions(rev)),
            statements=result.statements.get(rev, []), applied=rev in result.applied,
            statements_not_recorded=result.not_recorded.get(rev, 0),
        ))
    if result.failure is not None:
        report.add(result.failure)
