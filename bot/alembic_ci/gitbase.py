"""--base-ref: the revisions of the migration tree as it stands at a git commit, read with git
(`git archive`), without checking anything out; and what the tree under check did to them."""

from __future__ import annotations

import ast
import io
import os
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

from .errors import ConfigError
from .graph import Graph, load_graph
from .project import Project, relpath
from .report import ERROR, WARNING, Finding
from .settings import Settings


@dataclass(frozen=True)
class BaseRevision:
    path: str  # its file at the base commit, relative to the working directory
    source: bytes


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True)
    except FileNotFoundError as exc:
        raise ConfigError("--base-ref needs git, which is not installed", "install git or pass --base REV") from exc


def revisions_at(ref: str, project: Project) -> dict[str, BaseRevision]:
    script_dir = Path(project.script.dir).resolve()
    top = _git(["rev-parse", "--show-toplevel"], script_dir)
    if top.returncode != 0:
        raise ConfigError(f"--base-ref {ref}: {script_dir} is not in a git repository",
                          "run inside the repository's clone, or pass --base REV")
    root = Path(top.stdout.decode().strip()).resolve()
    commit = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    if commit.returncode != 0:
        raise ConfigError(
            f"the base commit {ref!r} is not in this clone",
            "fetch the history: actions/checkout with `fetch-depth: 0`, or `git fetch origin <base branch>`",
        )
    sha = commit.stdout.decode().strip()
    with tempfile.TemporaryDirectory(prefix="alembic-ci-base-") as tmp:
        locations = []
        for location in project.version_locations:
            try:
                rel = location.resolve().relative_to(root).as_posix()
            except ValueError:
                raise ConfigError(f"--base-ref {ref}: the version location {location} is outside the "
                                  f"repository at {root}", "pass --base REV instead") from None
            locations.append(Path(tmp, rel))
            if _git(["cat-file", "-e", f"{sha}:{rel}"], root).returncode != 0:
                continue  # no migrations there yet at the base: everything is new
            archive = _git(["archive", "--format=tar", sha, "--", rel], root)
            if archive.returncode != 0:
                raise ConfigError(f"git archive {ref} failed: {archive.stderr.decode().strip()}",
                                  "check that the clone is complete (fetch-depth: 0)")
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                tar.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(tmp)
        base_dir = Path(tmp, script_dir.relative_to(root).as_posix())
        os.makedirs(base_dir, exist_ok=True)
        script = ScriptDirectory(str(base_dir), version_locations=[str(p) for p in locations])
        # Not a constructor argument on Alembic 1.9; read where graph.py reads it.
        script.recursive_version_locations = getattr(project.script, "recursive_version_locations", False)
        graph, findings = load_graph(script, locations)
        if graph is None:
            raise ConfigError(f"the migration tree at {ref} does not load: {findings[0].message}",
                              "pass --base REV with the base revision instead")
        tmp_root = Path(tmp).resolve()
        return {rev: BaseRevision(relpath(root / Path(s.path).resolve().relative_to(tmp_root)),
                                  Path(s.path).read_bytes())
                for rev, s in graph.files.items()}


def base_in(graph: Graph, at_base: dict) -> list[str]:
    """The base: the newest of the base commit's revisions that ``graph`` still has (its heads,
    unless they were removed since). A revision the tree inserted below one of them counts as
    the base's: a database already there never runs it (revision-edited says so for its child)."""
    kept = [rev for rev in at_base if rev in graph.files]
    below = {down for rev in kept for down in graph.down_revisions(rev)}
    return sorted(rev for rev in kept if rev not in below)


def rewritten(graph: Graph, at_base: dict, settings: Settings) -> list[Finding]:
    """Revisions the base commit has that ``graph`` removed or edited: a deployed database may
    already be at them."""
    def severity(code: str) -> str:
        return ERROR if code in settings.fail_on else WARNING

    findings = []
    removed = [rev for rev in at_base if rev not in graph.files]
    if removed and "revision-removed" not in settings.ignore:
        # One finding: squashing a history removes hundreds at once.
        named = ", ".join(f"{rev} ({at_base[rev].path})" for rev in removed[:3])
        more = f" and {len(removed) - 3} more" if len(removed) > 3 else ""
        findings.append(Finding(
            "revision-removed", severity("revision-removed"),
            f"removes {'revisions' if len(removed) > 1 else 'revision'} {named}{more}, which the base commit has",
            revision=removed[0] if len(removed) == 1 else None,
            detail=f"A database already at {removed[0]} fails `alembic upgrade` with \"Can't locate revision "
                   f"identified by '{removed[0]}'\". Keep the files unless no database has reached them "
                   "(then: `ignore = [\"revision-removed\"]` in [tool.alembic-ci] for this change).",
        ))
    if "revision-edited" in settings.ignore:
        return findings
    for rev, was in at_base.items():
        if rev in graph.files and not _same_code(Path(graph.files[rev].path).read_bytes(), was.source):
            findings.append(Finding(
                "revision-edited", severity("revision-edited"), f"edits revision {rev}, which the base commit already has",
                file=graph.path(rev), revision=rev,
                detail=f"`alembic upgrade` never runs {rev} again on a database already at or past it: "
                       "put the change in a new revision (`alembic revision -m \"...\"`), unless no "
                       "database has reached it.",
            ))
    return findings


def _same_code(source: bytes, old: bytes) -> bool:
    """Equal, or differing only in comments, layout and the docstring (its message and header):
    parsed only then, most files are equal."""
    try:
        return source == old or _code(source) == _code(old)
    except (SyntaxError, ValueError):
        return False


def _code(source: bytes) -> str:
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[]))
