"""The release's own moving part (.github/workflows/release.yml): scripts/pin-action-image, which
points the tagged commit's action.yml at the pushed image by digest."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from alembic_ci import __version__
from alembic_ci.settings import tomllib  # tomli before Python 3.11
from conftest import ROOT

DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"ghcr.io/alembic-ci/alembic-ci:1.2.3@{DIGEST}"


def pin(image: str, action: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts" / "pin-action-image"), image, str(action)],
                          capture_output=True, text=True, timeout=30)


def test_pinning_changes_only_the_image(tmp_path):
    action = tmp_path / "action.yml"
    original = (ROOT / "action.yml").read_text()
    action.write_text(original)
    run = pin(IMAGE, action)
    assert (run.returncode, run.stderr) == (0, "")
    pinned = action.read_text()
    changed = [(a, b) for a, b in zip(original.splitlines(), pinned.splitlines()) if a != b]
    assert changed == [("  image: Dockerfile", f"  image: docker://{IMAGE}")]
    assert len(pinned.splitlines()) == len(original.splitlines())
    expected = yaml.safe_load(original)
    expected["runs"]["image"] = f"docker://{IMAGE}"
    assert yaml.safe_load(pinned) == expected


@pytest.mark.parametrize("image, says", [
    ("ghcr.io/alembic-ci/alembic-ci:1.2.3", "is not REGISTRY/REPOSITORY[:TAG]@sha256:DIGEST"),  # a tag moves
    (f"ghcr.io/Alembic-CI/alembic-ci@{DIGEST}", "is not REGISTRY/REPOSITORY[:TAG]@sha256:DIGEST"),  # upper case
    (f"ghcr.io/alembic-ci/alembic-ci@{DIGEST[:-1]}", "is not REGISTRY/REPOSITORY[:TAG]@sha256:DIGEST"),
    ("", "is not REGISTRY/REPOSITORY[:TAG]@sha256:DIGEST"),
])
def test_pinning_refuses_a_reference_without_a_full_digest(tmp_path, image, says):
    action = tmp_path / "action.yml"
    action.write_text((ROOT / "action.yml").read_text())
    run = pin(image, action)
    assert run.returncode == 2
    assert len(run.stderr.splitlines()) == 1 and says in run.stderr
    assert action.read_text() == (ROOT / "action.yml").read_text()


def test_pinning_twice_is_refused_and_changes_nothing(tmp_path):
    action = tmp_path / "action.yml"
    action.write_text((ROOT / "action.yml").read_text())
    assert pin(IMAGE, action).returncode == 0
    once = action.read_text()
    run = pin(IMAGE.replace("1.2.3", "1.2.4"), action)
    assert run.returncode == 2 and "found 0; is it pinned already?" in run.stderr
    assert action.read_text() == once


def test_the_version_the_release_checks_is_the_one_the_cli_prints():
    """release.yml compares its input with pyproject.toml, then `docker run IMAGE --version` with it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
