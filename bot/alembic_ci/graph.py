"""The revision graph, checked before any database work.

Revision files are loaded one by one with Alembic's own loader so that a broken file is named,
then handed to Alembic's RevisionMap: never a KeyError traceback for a dangling down_revision.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import json
import re
import sys
import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from alembic import util as alembic_util
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError, RevisionMap

from .errors import Interrupted
from .project import relpath
from .report import ERROR, Finding

_REVISION_FILE = re.compile(r"(?!\.#|__init__).*\.py$")
_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
_INSTALLED = {"site-packages", "dist-packages"}


@dataclass
class Graph:
    script: ScriptDirectory
    files: dict  # revision id -> Script

    @property
    def heads(self) -> list[str]:
        return list(self.script.get_heads())

    def path(self, rev: str) -> str:
        return relpath(self.files[rev].path)

    def message(self, rev: str) -> str:
        return (self.files[rev].doc or "").strip()

    def down_revisions(self, rev: str) -> tuple:
        return alembic_util.to_tuple(self.files[rev].down_revision, default=())

    def ancestors(self, revs: Iterable[str], dependencies: bool = True) -> set:
        """The given revisions and every revision `alembic upgrade` applies before them: their
        down revisions and (unless ``dependencies`` is False) their depends_on, a revision or a
        branch label, recursively."""
        seen: set = set()
        stack = list(revs)
        while stack:
            rev = stack.pop()
            if rev not in seen:
                seen.add(rev)
                # Alembic's own resolution of both (private; the same from 1.9 to 1.x).
                stack.extend(self.files[rev]._all_down_revisions if dependencies else self.down_revisions(rev))
        return seen

    def imported(self, revs: Iterable[str]) -> tuple:
        """(files, packages): what these revision files import, anywhere in them (at the top, in
        upgrade(), in a decorator), and what the project's modules among those import in turn:
        the project's own module files (helpers whose code decides what a migration does, like
        the file's own) and the installed packages (their versions may decide the DDL: a column
        type from sqlalchemy_utils). Not the standard library. Called once the revisions ran, so
        that whatever they imported is loaded: a module a branch of theirs never imported
        decided nothing. Read from the sources, not from what loaded when (another thread
        imports meanwhile, and a module loads once for all the files that import it)."""
        names = set().union(*(_source_imports(self.files[rev].path) for rev in revs))
        names |= {name.rsplit(".", depth)[0] for name in names for depth in range(1, name.count(".") + 1)}  # a.b runs a
        files, packages, seen, stack = set(), set(), set(), list(names)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            path, package = _origin(name)
            if path:
                files.add(path)
                stack.extend(_source_imports(path, getattr(sys.modules[name], "__package__", None)))
            elif package:
                packages.add(package)
        return sorted(files), sorted(packages)

    def describe(self, rev: str) -> str:
        message = self.message(rev)
        return f"{rev} ({self.path(rev)}" + (f', "{message}")' if message else ")")


def load_graph(script: ScriptDirectory, locations: list[Path]) -> tuple[Optional[Graph], list[Finding]]:
    """Load and validate the revision files. Returns (graph, findings); graph is None when the
    files do not form a usable graph (every problem found is reported, not just the first)."""
    scripts, findings = _load_files(script, locations)
    by_id: dict = {}
    for s in scripts:
        by_id.setdefault(s.revision, []).append(s)
    for rev, same in by_id.items():
        if len(same) > 1:
            names = ", ".join(relpath(s.path) for s in same)
            findings.append(Finding(
                "bad-revision-graph", ERROR,
                f"revision id {rev} is defined by {len(same)} files: {names}",
                file=relpath(same[1].path), line=_line_of(same[1].path, "revision"), revision=rev,
                detail="Give one of them a new id (`alembic revision` prints a fresh one) and point "
                       "its children's down_revision at it.",
            ))
    for s in scripts:
        for down in alembic_util.to_tuple(s.down_revision, default=()):
            if down not in by_id:
                findings.append(Finding(
                    "bad-revision-graph", ERROR,
                    f"{relpath(s.path)}: down_revision {down!r} names a revision no file defines",
                    file=relpath(s.path), line=_line_of(s.path, "down_revision"), revision=s.revision,
                    detail="Was the parent revision deleted or renamed? Set down_revision to an existing "
                           "revision (`alembic history` lists them).",
                ))
    if not scripts and not findings:
        findings.append(_no_revisions(locations))
    if findings:
        return None, findings

    # Hand Alembic the scripts we loaded rather than letting it import every file again.
    script.revision_map = RevisionMap(lambda: iter(scripts))
    try:
        script.get_heads()
    except RevisionError as exc:
        revs = getattr(exc, "revisions", None) or []
        names = ", ".join(relpath(by_id[r][0].path) for r in revs if r in by_id) or "the revision files"
        return None, [Finding(
            "bad-revision-graph", ERROR,
            f"the revision graph is broken: {exc}" + (f" (files: {names})" if revs else ""),
            detail="Each revision's down_revision must point to an older revision; a cycle means two "
                   "revisions name each other as parents.",
        )]
    graph = Graph(script=script, files={rev: same[0] for rev, same in by_id.items()})
    return graph, _multiple_heads(graph)


def _origin(name: str) -> tuple:
    """(the file, None) for a loaded module of the project's own, (None, its top-level package)
    for one of an installed package, (None, None) for the standard library, a module not loaded
    and what has no file."""
    file = getattr(sys.modules.get(name), "__file__", None)
    if not isinstance(file, str):
        return None, None
    try:
        path = Path(file).resolve()
    except (OSError, RuntimeError):  # a symbolic link loop
        return None, None
    top = name.partition(".")[0]
    if _INSTALLED & set(path.parts):  # first: site-packages may lie inside the standard library's directory
        return (path, None) if _installed_from_a_directory(top) else (None, top)
    if path.is_relative_to(_STDLIB):
        return None, None
    return path, None


def package_version(package: str) -> str:
    """The installed versions of a top-level package, from its distributions' metadata (the same
    whether or not the package is imported yet): every distribution installing into it (a
    namespace package has several), with the commit or archive hash pip recorded for one
    installed from git or a file, whose version says nothing of its content."""
    versions = []
    for name in sorted(set(_package_owners().get(package, [package]))):
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        direct = _direct_url(dist)
        origin = _field(direct, "vcs_info", "commit_id") or _field(direct, "archive_info", "hash")
        versions.append(f"{name} {dist.version}" + (f" ({origin})" if origin else ""))
    return ", ".join(versions) or "?"


def _source_imports(path, package: Optional[str] = None) -> set:
    """The modules a Python file imports, anywhere in it: `import a.b` is a.b, `from a import b`
    a and a.b (b may be a submodule), `importlib.import_module("a")` and `__import__("a")` a (a
    name computed at run time cannot be known); a relative import resolved in ``package``."""
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError, RecursionError):
        return set()
    names: set = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolved("." * node.level + (node.module or ""), package)
            if base:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)
        elif _is_import_call(node):
            names.add(_resolved(node.args[0].value, _literal_package(node) or package))
    names.discard(None)
    return names


def _resolved(name: str, package: Optional[str]) -> Optional[str]:
    try:
        return importlib.util.resolve_name(name, package) or None
    except (ImportError, ValueError):  # a relative import beyond the top package
        return None


def _is_import_call(node: ast.AST) -> bool:
    """importlib.import_module("a"), import_module("a") or __import__("a"): a literal name."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)):
        return False
    return _called(node) in ("import_module", "__import__")


def _called(node: ast.Call) -> Optional[str]:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _literal_package(node: ast.Call) -> Optional[str]:
    """import_module(".b", "a") / import_module(".b", package="a"): the package a relative name is in."""
    if _called(node) != "import_module":
        return None
    given = node.args[1:2] or [k.value for k in node.keywords if k.arg == "package"]
    return given[0].value if given and isinstance(given[0], ast.Constant) and isinstance(given[0].value, str) else None


@functools.lru_cache(maxsize=None)
def _installed_from_a_directory(package: str) -> bool:
    """`pip install .` (the action's install: auto) copies the project's own package to
    site-packages: its pip record names the directory it came from."""
    for name in _package_owners().get(package, ()):
        try:
            direct = _direct_url(importlib.metadata.distribution(name))
        except importlib.metadata.PackageNotFoundError:
            continue
        if str(direct.get("url", "")).startswith("file:") and "dir_info" in direct:
            return True
    return False


def _direct_url(dist: importlib.metadata.Distribution) -> dict:
    """What pip recorded of where a distribution came from (PEP 610), if anything."""
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
    except (OSError, ValueError):
        return {}
    return direct if isinstance(direct, dict) else {}


def _field(record: dict, section: str, key: str) -> Optional[str]:
    value = record.get(section)
    return value.get(key) if isinstance(value, dict) else None


@functools.lru_cache(maxsize=1)
def _package_owners() -> dict:
    """Top-level package -> the distributions installing it."""
    if hasattr(importlib.metadata, "packages_distributions"):  # Python 3.10+
        return importlib.metadata.packages_distributions()
    owners: dict = {}
    for dist in importlib.metadata.distributions():  # as 3.10 does: top_level.txt, else the files' top
        packages = (dist.read_text("top_level.txt") or "").split() or {
            file.parts[0].split(".")[0] for file in dist.files or ()
            if file.parts and not file.parts[0].endswith((".dist-info", ".egg-info", ".data", ".pth"))}
        for package in packages:
            owners.setdefault(package, []).append(dist.metadata["Name"])
    return owners


def is_revision_file(name: str) -> bool:
    """Alembic's own rule for the files in a version location (no editor lock files, no __init__)."""
    return bool(_REVISION_FILE.match(name))


def _load_files(script: ScriptDirectory, locations: list[Path]):
    recursive = getattr(script, "recursive_version_locations", False)
    scripts: list = []
    findings: list[Finding] = []
    for location in locations:
        if not location.is_dir():
            continue
        paths = sorted(location.rglob("*.py") if recursive else location.glob("*.py"))
        for path in paths:
            if not is_revision_file(path.name):
                continue
            try:
                module = alembic_util.load_python_file(str(path.parent), path.name)
            except BaseException as exc:  # noqa: B902 - a revision file may raise anything, even SystemExit
                if isinstance(exc, (KeyboardInterrupt, Interrupted)):
                    raise
                if isinstance(exc, SyntaxError) and is_encoding_error(exc):
                    findings.append(Finding(
                        "bad-revision-graph", ERROR, f"{relpath(path)} is not UTF-8 text ({exc.msg})",
                        file=relpath(path), line=exc.lineno,
                        detail="Save it as UTF-8, or declare its encoding on line 1: # -*- coding: latin-1 -*-",
                    ))
                    continue
                # A syntax error in the file itself: its place is the finding's, not the message's.
                own = isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename) == path
                findings.append(Finding(
                    "bad-revision-graph", ERROR,
                    f"{relpath(path)} does not import: "
                    + (f"{exc.__class__.__name__}: {exc.msg}" if own else one_line(exc)),
                    file=relpath(path), line=error_line(exc, path),
                    detail="Fix the file so that `python " + relpath(path) + "` at least imports.",
                ))
                continue
            if not hasattr(module, "revision"):
                findings.append(Finding(
                    "bad-revision-graph", ERROR,
                    f"{relpath(path)} has no `revision = ...` variable",
                    file=relpath(path), line=1,
                    detail="Every file in versions/ must be an Alembic revision; move other modules out.",
                ))
                continue
            scripts.append(Script(module, module.revision, str(path)))
    return scripts, findings


def _no_revisions(locations: list[Path]) -> Finding:
    missing = [p for p in locations if not p.is_dir()]
    where = ", ".join(relpath(p) for p in (missing or locations))
    what = f"the versions folder {where} does not exist" if missing else f"no revision files in {where}"
    return Finding(
        "no-revisions", ERROR, f"{what}: there are no migrations to check",
        detail='Create the first revision: `alembic revision --autogenerate -m "initial"` (versions/ holds '
               "one .py file per revision).",
    )


def _multiple_heads(graph: Graph) -> list[Finding]:
    """Heads grouped by branch labels: an expand/contract project has one head per labelled
    branch by design. Only a group with more than one head is a problem."""
    groups: dict = {}
    for head in graph.heads:
        labels = frozenset(graph.script.revision_map.get_revision(head).branch_labels)
        groups.setdefault(labels, []).append(head)
    findings = []
    for labels, heads in groups.items():
        if len(heads) < 2:
            continue
        ancestor = common_ancestor(graph, heads)
        where = f" on branch {', '.join(sorted(labels))}" if labels else ""
        heads_text = " and ".join(graph.describe(h) for h in heads)
        since = f", which diverged after {graph.describe(ancestor)}" if ancestor else ", with no common ancestor"
        command = f'alembic merge -m "merge heads" {" ".join(heads)}'
        findings.append(Finding(
            "multiple-heads", ERROR,
            f"{len(heads)} heads{where}: {heads_text}{since}",
            file=graph.path(heads[-1]), line=_line_of(graph.files[heads[-1]].path, "down_revision"),
            revision=heads[-1],
            detail=f"{_fails(labels)} Merge them: `{command}`, "
                   "then review and commit the merge revision (or rebase one branch's revision "
                   "onto the other head by editing its down_revision).",
        ))
    return findings


def _fails(labels: frozenset) -> str:
    """What goes wrong at deploy with two heads: on a labelled branch the project upgrades to
    `heads` or to the branch's head, not to `head`."""
    if not labels:
        return "`alembic upgrade head` will fail at deploy."
    return (f"`alembic upgrade {sorted(labels)[0]}@head` will fail at deploy (\"Multiple heads\"), and "
            "`alembic upgrade heads` applies both in an order no one chose.")


def common_ancestor(graph: Graph, heads: list[str]) -> Optional[str]:
    """The nearest revision below all the heads (None when they share no ancestor). The common
    ancestors are closed downwards, so the nearest ones are those with no child among them."""
    common = set.intersection(*(graph.ancestors([h], dependencies=False) for h in heads))
    has_common_child = {parent for rev in common for parent in graph.down_revisions(rev) if parent in common}
    nearest = sorted(common - has_common_child)
    return nearest[0] if nearest else None


def _line_of(path, name: str) -> Optional[int]:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"{name}\s*(:[^=]*)?=", line):
            return number
    return None


def error_line(exc: BaseException, path) -> Optional[int]:
    """The line of ``path`` where ``exc`` was raised (or, for a SyntaxError, found)."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == Path(path).resolve():
        return exc.lineno
    frames, inside = frames_in(exc, path)
    return frames[inside[-1]].lineno if inside else None


def frames_in(exc: BaseException, path) -> tuple:
    """(the frames of ``exc``'s traceback, the positions of those running the file ``path``)."""
    frames = traceback.extract_tb(exc.__traceback__)
    target = Path(path).resolve()
    return frames, [i for i, frame in enumerate(frames) if Path(frame.filename).resolve() == target]


def is_encoding_error(exc: SyntaxError) -> bool:
    return "codec can't decode" in str(exc.msg) or "Non-UTF-8 code" in str(exc.msg)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__

