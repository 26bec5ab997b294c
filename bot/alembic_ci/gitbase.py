"""--base-ref: the revisions of the migration tree as it stands at a git commit, read with git
(`git archive`), without checking anything out; and what the tree under check did to them."""

from __future__ import annotations

import ast
import importlib.machinery
import io
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional

from .errors import ConfigError
from .graph import Graph, is_revision_file
from .project import Project, relpath
from .report import ERROR, WARNING, Finding
from .settings import Settings


@dataclass(frozen=True)
class BaseRevision:
    path: str  # its file at the base commit, relative to the working directory
    source: bytes


@dataclass(frozen=True)
class BaseCommit:
    ref: str
    sha: str
    root: Path  # the repository's top directory
    revisions: dict  # revision id -> BaseRevision

    def source(self, path: Path) -> Optional[bytes]:
        """A file of the tree under check as the base commit has it; None if it has none."""
        try:
            rel = path.resolve().relative_to(self.root).as_posix()
        except ValueError:  # outside the repository
            return None
        shown = _git(["show", f"{self.sha}:{rel}"], self.root)
        return shown.stdout if shown.returncode == 0 else None


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True)
    except FileNotFoundError as exc:
        raise ConfigError("--base-ref needs git, which is not installed", "install git or pass --base REV") from exc


def base_commit(ref: str, project: Project) -> BaseCommit:
    """The revisions the migration tree has at ``ref``: each file's ``revision = "..."``, read
    from its source. The files are not run: their imports would find the modules of the tree
    under check (a helper the pull request moved or renamed), not the base commit's."""
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
    recursive = getattr(project.script, "recursive_version_locations", False)
    revisions = {}
    for location in project.version_locations:
        try:
            rel = location.resolve().relative_to(root).as_posix()
        except ValueError:
            raise ConfigError(f"--base-ref {ref}: the version location {location} is outside the "
                              f"repository at {root}", "pass --base REV instead") from None
        if _git(["cat-file", "-e", f"{sha}:{rel}"], root).returncode != 0:
            continue  # no migrations there yet at the base: everything is new
        archive = _git(["archive", "--format=tar", sha, "--", rel], root)
        if archive.returncode != 0:
            raise ConfigError(f"git archive {ref} failed: {archive.stderr.decode().strip()}",
                              "check that the clone is complete (fetch-depth: 0)")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            for member in tar:
                name = PurePosixPath(member.name)
                inside = name.parent == PurePosixPath(rel) or (recursive and PurePosixPath(rel) in name.parents)
                if not (member.isfile() and inside and is_revision_file(name.name)):
                    continue
                source = tar.extractfile(member).read()
                rev = _revision_of(source)
                if rev is not None:
                    revisions[rev] = BaseRevision(relpath(root / name), source)
    return BaseCommit(ref, sha, root, revisions)


def _revision_of(source: bytes) -> Optional[str]:
    """The id a revision file assigns at its top level (Alembic's template: ``revision = "ae10"``);
    None for a file that assigns none (a helper module) or does not parse."""
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError):
        return None
    for node in body:
        value = getattr(node, "value", None)
        if "revision" in _bound(node) and isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value
    return None


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
    findings = []
    removed = [rev for rev in at_base if rev not in graph.files]
    if removed and "revision-removed" not in settings.ignore:
        # One finding: squashing a history removes hundreds at once.
        named = ", ".join(f"{rev} ({at_base[rev].path})" for rev in removed[:3])
        more = f" and {len(removed) - 3} more" if len(removed) > 3 else ""
        findings.append(Finding(
            "revision-removed", _severity("revision-removed", settings),
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
                "revision-edited", _severity("revision-edited", settings),
                f"edits revision {rev}, which the base commit already has",
                file=graph.path(rev), revision=rev,
                detail=f"`alembic upgrade` never runs {rev} again on a database already at or past it: "
                       "put the change in a new revision (`alembic revision -m \"...\"`), unless no "
                       "database has reached it.",
            ))
    return findings


def helpers_edited(graph: Graph, base: BaseCommit, settings: Settings) -> list[Finding]:
    """Definitions in the project's own modules that the base commit's revisions use (imported
    from a module, or read as its attributes), changed or removed by the tree under check, with
    what they use in turn in that module: the revisions already ran with the old code on every
    deployed database, so the change reaches none of them. Anything else in those modules (a
    model, a helper for the new revision) may change freely. Each module is compared once."""
    if "revision-edited" in settings.ignore:
        return []
    order = [s.revision for s in graph.script.walk_revisions()][::-1]  # oldest first
    users: dict = {}  # module -> {name it uses: the oldest base revision using it}
    for rev in (rev for rev in order if rev in base.revisions):
        for module, names in _uses(Path(graph.files[rev].path).read_bytes()).items():
            for name in names:
                users.setdefault(module, {}).setdefault(name, rev)
    findings, seen = [], set()
    for module, names in users.items():
        path = _module_file(module)
        if path is None or path in seen:
            continue
        seen.add(path)
        old = base.source(path)
        changed = _changed_definitions(old, path.read_bytes(), names) if old is not None else None
        if not changed:
            continue  # the same, or new since the base (then its importer is edited)
        # The oldest revision using what changed (the names are in the order of their first users).
        statements = _top_level(old)
        rev = next(user for name, user in names.items()
                   if set(_definitions_of(statements, {name}).values()) & set(changed))
        listed = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        findings.append(Finding(
            "revision-edited", _severity("revision-edited", settings),
            f"edits {listed}, which revision {rev} of the base commit uses",
            file=relpath(path), revision=rev,
            detail=f"A database already at {rev} ran the old code, and `alembic upgrade` never runs {rev} "
                   "again: put the change in a new revision, and keep what the old revisions use as it was "
                   "(a copy in the revision file, or a new name for the new code).",
        ))
    return findings


def _uses(source: bytes) -> dict:
    """module -> the names a revision file uses of it: imported from it (`from m import a`), or
    read as its attributes (`import a.b` ... `a.b.f`, the longest imported module of the chain).
    A name imported from a package may be a submodule: its attributes are read as that module's."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return {}
    uses: dict = {}
    bound = {}  # local name -> the module it stands for
    modules = set()  # every module the file imports, dotted
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                uses.setdefault(node.module, set()).add(alias.name)
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                modules.add(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.partition(".")[0]] = alias.name if alias.asname \
                    else alias.name.partition(".")[0]
                modules.add(alias.name)
    for node in ast.walk(tree):
        chain = _chain(node)
        if not chain or chain[0] not in bound:
            continue
        dotted = bound[chain[0]].split(".") + chain[1:]
        for end in range(len(dotted) - 1, 0, -1):  # the longest imported module, then the name read off it
            if ".".join(dotted[:end]) in modules or end == len(bound[chain[0]].split(".")):
                uses.setdefault(".".join(dotted[:end]), set()).add(dotted[end])
                break
    return uses


def _chain(node: ast.AST) -> list:
    """["a", "b", "c"] for the expression a.b.c; [] for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) and parts else []


def _module_file(name: str) -> Optional[Path]:
    """The source file of one of the project's modules; None for an installed package, the standard
    library, or a name that is no module. Looked up without running anything where it is not loaded
    yet (after a snapshot restore, a module the base's revisions import inside upgrade() is not)."""
    module = sys.modules.get(name)
    if module is not None:
        file = getattr(module, "__file__", None)
    else:
        parts = name.split(".")
        search, file = None, None
        for depth, part in enumerate(parts, 1):
            last = depth == len(parts)
            loaded = sys.modules.get(".".join(parts[:depth]))
            if loaded is not None and not last:  # a package already imported: look inside it
                search = getattr(loaded, "__path__", None)
                continue
            spec = importlib.machinery.PathFinder.find_spec(part, search)
            if spec is None:
                return None
            search, file = spec.submodule_search_locations, spec.origin
            if search is None and not last:
                return None  # a module's attribute, not a submodule
    if not isinstance(file, str) or not file.endswith(".py"):
        return None
    path = Path(file).resolve()
    return None if {"site-packages", "dist-packages"} & set(path.parts) else path


def _changed_definitions(old: bytes, new: bytes, names) -> Optional[list]:
    """Of ``old``'s top-level definitions named ``names``, and those they use in turn, the ones
    ``new`` changed or removed ("audit()", "SIZES"); None when either does not parse. Comments,
    layout and the docstring are no change."""
    try:
        before, after = _top_level(old), _top_level(new)
    except (SyntaxError, ValueError, RecursionError):
        return None
    return [label for key, label in _definitions_of(before, names).items()
            if after.get(key, (None, None, None))[1] != before[key][1]]


def _definitions_of(statements: dict, names) -> dict:
    """key -> label of the top-level statements binding ``names``, and of those they use in turn,
    in the order of the file."""
    binds = {bound: key for key, (_, _, nodes) in statements.items() for node in nodes for bound in _bound(node)}
    wanted = [binds[n] for n in sorted(names) if n in binds]
    closure: set = set()
    while wanted:
        key = wanted.pop()
        if key in closure:
            continue
        closure.add(key)
        wanted.extend(binds[n.id] for node in statements[key][2] for n in ast.walk(node)
                      if isinstance(n, ast.Name) and n.id in binds)
    return {key: statements[key][0] for key in sorted(closure, key=lambda k: statements[k][2][0].lineno)}


def _top_level(source: bytes) -> dict:
    """key -> (label, code, nodes) of the top-level statements: a definition under its name (with
    the `+=` that extend it), an import under each name it imports; anything else (a call) under
    its code, so that it matches itself wherever it moved."""
    statements: dict = {}
    for node in _body(source):
        if isinstance(node, (ast.Import, ast.ImportFrom)):  # each name on its own: adding one changes nothing
            origin = f"from {'.' * node.level}{node.module or ''} " if isinstance(node, ast.ImportFrom) else ""
            for alias in node.names:
                key = f"{origin}import {alias.name} as {alias.asname or alias.name}"
                one = ast.ImportFrom(module=node.module, names=[alias], level=node.level) \
                    if isinstance(node, ast.ImportFrom) else ast.Import(names=[alias])
                statements[key] = (f"the import of {alias.asname or alias.name}", key, [ast.copy_location(one, node)])
            continue
        code = ast.dump(node)
        names = _bound(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            key = label = f"{node.name}()"
        elif len(names) == 1:
            key = label = names[0]
        else:
            key, label = code, f"the statement at line {node.lineno}"
        if key in statements:  # SIZES = [...] then SIZES += [...]: one definition
            label, before, nodes = statements[key]
            statements[key] = (label, before + "\n" + code, nodes + [node])
        else:
            statements[key] = (label, code, [node])
    return statements


def _bound(node: ast.AST) -> list:
    """The names a top-level statement binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [alias.asname or alias.name.partition(".")[0] for alias in node.names]
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
        if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _severity(code: str, settings: Settings) -> str:
    return ERROR if code in settings.fail_on else WARNING


def _same_code(source: bytes, old: bytes) -> bool:
    """Equal, or differing only in comments, layout and the docstring (its message and header):
    parsed only then, most files are equal."""
    try:
        return source == old or _code(source) == _code(old)
    except (SyntaxError, ValueError):
        return False


def _code(source: bytes) -> str:
    return ast.dump(ast.Module(body=_body(source), type_ignores=[]))


def _body(source: bytes) -> list:
    """The top-level statements, without the docstring (a revision's message and header)."""
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body
