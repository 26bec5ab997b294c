"""--base-ref: the heads of the migration tree as it stands at a git commit, read with git
(`git archive`), without checking anything out."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

from alembic.script import ScriptDirectory

from .errors import ConfigError
from .graph import load_graph
from .project import Project


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True)
    except FileNotFoundError as exc:
        raise ConfigError("--base-ref needs git, which is not installed", "install git or pass --base REV") from exc


def heads_at(ref: str, project: Project) -> list[str]:
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
        return graph.heads
