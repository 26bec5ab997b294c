"""The check pipeline: project -> revision graph -> sandbox (server, scratch database) ->
replay -> drift -> a Report (plain data). Nothing here knows about GitHub or output formats."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from . import drift, gitbase, snapshot
from .capture import Capture
from .embedded import embedded_server
from .errors import ConfigError
from .graph import Graph, load_graph
from .project import Project, load_project, relpath
from .replay import Checkpoint, ReplayResult, replay
from .report import Report, RevisionReport
from .sandbox import ScratchDatabase, interrupts_raise
from .server import parse_url


def _stderr(message: str) -> None:
    print(f"alembic-ci: {message}", file=sys.stderr, flush=True)


@dataclass
class CheckOptions:
    config: str = "alembic.ini"
    database_url: Optional[str] = None  # a server; None starts the embedded one
    base: list = field(default_factory=list)  # report only revisions after these
    base_ref: Optional[str] = None  # ... or after the heads at this git commit
    lock_wait_timeout: int = 60
    wait: float = 60.0  # seconds to wait for a starting server
    # Keep the schema at the base here between runs: a check replays only the new revisions.
    cache_dir: Optional[str] = None  # None: $ALEMBIC_CI_CACHE_DIR, else no cache
    progress: Callable[[str], None] = _stderr


def run_check(options: CheckOptions) -> Report:
    started = time.perf_counter()
    project = load_project(options.config)
    report = Report(config=relpath(project.ini_path))
    graph, findings = load_graph(project.script, project.version_locations)
    report.findings.extend(findings)
    if graph is None:
        return report
    report.heads = graph.heads
    report.base = _resolve_base(options, graph, project)

    cache = _cache(options, report)
    with interrupts_raise(), _server(options) as server_url:
        with ScratchDatabase(server_url, options.wait, options.progress) as scratch:
            report.server = scratch.server
            with Capture(scratch.url, options.lock_wait_timeout) as capture:
                # One connection for everything in the scratch database: restore, replay, comparison.
                engine = sa.create_engine(scratch.url, poolclass=NullPool)
                try:
                    with engine.connect() as conn:
                        _replay_and_compare(report, project, graph, cache, scratch, conn, capture, options)
                finally:
                    engine.dispose()
    report.timing = {"total_seconds": round(time.perf_counter() - started, 3),
                     "server_seconds": round(capture.server_seconds + scratch.server_seconds, 3)}
    return report


def _replay_and_compare(report: Report, project: Project, graph: Graph, cache: Optional[snapshot.Cache],
                        scratch: ScratchDatabase, conn: sa.engine.Connection, capture: Capture,
                        options: CheckOptions) -> None:
    checkpoint = None
    if cache is not None:
        key = snapshot.cache_key(project, graph, report.base, conn)
        report.restored = cache.restore(conn, key) or 0
        if not report.restored:
            base = graph.ancestors(report.base)
            checkpoint = Checkpoint(base, lambda c: cache.save(c, key, len(base)))
    if report.restored:
        options.progress(f"replaying the revisions after the base on {scratch.server} "
                         f"(scratch database {scratch.name})...")
    else:
        options.progress(f"replaying {len(graph.files)} revisions on {scratch.server} "
                         f"(scratch database {scratch.name})...")
    result = replay(project, graph, conn, capture, checkpoint)
    if checkpoint is not None and not cache.attempted and result.failure is None:
        options.progress("snapshot cache: not saved: the upgrade order mixes new revisions into the base's")
    _add_revisions(report, graph, result)
    if result.failure is None:
        report.missing_migration, findings = drift.compare(conn, result.configure_options)
        report.findings.extend(findings)


def _cache(options: CheckOptions, report: Report) -> Optional[snapshot.Cache]:
    directory = options.cache_dir or os.environ.get("ALEMBIC_CI_CACHE_DIR")
    if not directory:
        return None
    if not report.base:
        options.progress("snapshot cache: no --base/--base-ref, so no base to keep: full replay")
        return None
    return snapshot.Cache(Path(directory), options.progress)


@contextlib.contextmanager
def _server(options: CheckOptions) -> Iterator[sa.engine.URL]:
    url = options.database_url or os.environ.get("ALEMBIC_CI_DATABASE_URL")
    if url:
        yield parse_url(url)
    else:
        with embedded_server(options.progress) as embedded_url:
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
