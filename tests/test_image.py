"""The action's Docker image, built from the Dockerfile (scripts/build-image: podman, no Docker
engine) and run the way GitHub's runner runs a Docker action: the workspace mounted at
/github/workspace, every input as an INPUT_* variable (defaults from action.yml), the event
payload, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY as mounted files, the host's network. The GitHub
REST API is the local stand-in (tests/github_api.py); the database is the MariaDB at
127.0.0.1:3306, or the server embedded in the image."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SERVER_URL, parse_outputs, scratch_databases
from github_api import FakeGitHub

CONTAINERS_CONF = str(ROOT / "docker" / "containers.conf")
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
RUNNER_UID = 1001  # the runner's user on GitHub's hosted runners owns the checkout, not root
PR_NUMBER = 7
MARKER = "<!-- alembic-ci: alembic.ini -->"


@pytest.fixture(scope="module")
def image() -> str:
    """scripts/test builds the image first and names it in ALEMBIC_CI_TEST_IMAGE; run alone, the
    tests build it themselves, and skip only where podman is missing outside CI."""
    if os.environ.get("ALEMBIC_CI_TEST_IMAGE"):
        return os.environ["ALEMBIC_CI_TEST_IMAGE"]
    if shutil.which("podman") is None and not os.environ.get("CI"):
        pytest.skip("podman is not installed: run `bash scripts/test` (it installs podman and builds the image)")
    build = subprocess.run(["bash", str(ROOT / "scripts" / "build-image"), "localhost/alembic-ci:test"],
                           capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stderr[-3000:]
    return build.stdout.strip()


@dataclass
class ActionRun:
    code: int
    log: str
    outputs: dict
    summary: str
    root_owned: list | None  # top-level entries of the workspace the run left owned by root

    def commands(self, name: str) -> list:
        return [line for line in self.log.splitlines() if line.startswith(f"::{name}")]

    @property
    def scratch_database(self) -> str:
        match = re.search(r"scratch database (alembic_ci_\w+)", self.log)
        return match.group(1) if match else ""


def run_action(image: str, workspace: Path, tmp_path: Path, inputs: dict, api: FakeGitHub,
               event: dict | None = None) -> ActionRun:
    """One step `uses: ./`: the runner's directories and `docker run` arguments, with podman."""
    runner = tmp_path / f"runner-{uuid.uuid4().hex[:8]}"
    for sub in ("_github_home", "_github_workflow", "_runner_file_commands"):
        (runner / sub).mkdir(parents=True)
    (runner / "_github_workflow" / "event.json").write_text(json.dumps(event or {}))
    output_name, summary_name = f"set_output_{uuid.uuid4()}", f"step_summary_{uuid.uuid4()}"
    for name in (output_name, summary_name):
        (runner / "_runner_file_commands" / name).touch()

    # The runner applies action.yml's defaults and passes every input; `${{ github.token }}` is
    # the job's token.
    values = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    values["github-token"] = api.token
    values.update(inputs)
    env = {f"INPUT_{name.upper()}": value for name, value in values.items()}
    env.update({
        "GITHUB_ACTIONS": "true", "CI": "true", "HOME": "/github/home",
        "GITHUB_WORKSPACE": "/github/workspace", "GITHUB_REPOSITORY": api.repository,
        "GITHUB_EVENT_NAME": "pull_request" if event else "push",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_OUTPUT": f"/github/file_commands/{output_name}",
        "GITHUB_STEP_SUMMARY": f"/github/file_commands/{summary_name}",
        "GITHUB_API_URL": api.url, "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "1",
    })
    command = ["podman", "run", "--rm", "--network=host", "--workdir", "/github/workspace"]
    # Like the runner: names only, the values come from the environment (no secret on a command line).
    for name in env:
        command += ["-e", name]
    for host, inside in [(runner / "_github_home", "/github/home"), (runner / "_github_workflow", "/github/workflow"),
                         (runner / "_runner_file_commands", "/github/file_commands"),
                         (workspace, "/github/workspace")]:
        command += ["-v", f"{host}:{inside}"]
    command.append(image)
    # As root (rootful podman, as in CI) the checkout can belong to another user, as on GitHub.
    as_root = os.getuid() == 0
    if as_root:
        _chown(workspace, RUNNER_UID)
    try:
        proc = subprocess.run(command, env={**os.environ, **env, "CONTAINERS_CONF": CONTAINERS_CONF},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
        root_owned = sorted({p.relative_to(workspace).parts[0] for p in workspace.rglob("*")
                             if p.lstat().st_uid == 0}) if as_root else None
    finally:
        if as_root:
            _chown(workspace, 0)  # the test's own git commands work on it again
    files = runner / "_runner_file_commands"
    return ActionRun(proc.returncode, proc.stdout, parse_outputs((files / output_name).read_text()),
                     (files / summary_name).read_text(), root_owned)


def _chown(tree: Path, uid: int) -> None:
    for path in [tree, *tree.rglob("*")]:
        os.lchown(path, uid, uid)


def checkout(demo) -> str:
    """The demo as a repository: the base commit (two revisions)."""
    demo.git("init", "-q", "-b", "main")
    demo.git("add", "-A")
    demo.git("commit", "-q", "-m", "base")
    return demo.git("rev-parse", "HEAD").strip()


def commit(demo, message: str) -> str:
    demo.git("add", "-A")
    demo.git("commit", "-q", "-m", message)
    return demo.git("rev-parse", "HEAD").strip()


def pull_request(base: str, head: str) -> dict:
    return {"action": "synchronize", "number": PR_NUMBER,
            "pull_request": {"number": PR_NUMBER, "base": {"sha": base, "ref": "main"},
                             "head": {"sha": head, "ref": "feature"}},
            "repository": {"full_name": "octo/shop"}}


COMMENT_MODEL = """
    class Comment(Base):
        __tablename__ = "comment"
        id = Column(Integer, primary_key=True)
        body = Column(String(200), nullable=False)
"""


def test_pull_request_on_mariadb_fails_then_the_same_comment_turns_green(image, demo, api, tmp_path):
    base = checkout(demo)
    demo.add_model(COMMENT_MODEL)  # a model without its migration
    head = commit(demo, "comment model")
    inputs = {"database-url": SERVER_URL, "install": "none"}

    failed = run_action(image, demo.root, tmp_path, inputs, api, pull_request(base, head))

    assert failed.code == 1, failed.log
    assert set(failed.outputs) == set(ACTION["outputs"])  # every output action.yml declares, no other
    assert failed.outputs["passed"] == "false"
    assert failed.outputs["missing-migration"] == "true"
    assert failed.outputs["heads"] == "ae1027a6acf1"
    report = json.loads((demo.root / failed.outputs["report"]).read_text())
    assert report["passed"] is False and report["server"].startswith("MariaDB")
    assert [f["code"] for f in report["findings"]] == ["missing-migration"]
    assert f"::add-mask::{api.token}" in failed.log
    assert any("title=alembic-ci%3A missing-migration" in line for line in failed.commands("error"))
    assert "comment: in the models, no migration creates it" in failed.summary
    assert (demo.root / failed.outputs["comment-file"]).read_text().startswith(MARKER)
    posts = api.made("POST", f"/issues/{PR_NUMBER}/comments$")
    assert len(posts) == 1 and posts[0].body["body"].startswith(MARKER)
    (comment,) = api.on_issue(PR_NUMBER)
    assert failed.outputs["comment-url"] == comment["html_url"]
    assert failed.scratch_database and failed.scratch_database not in scratch_databases()

    demo.add_revision("c0ffee000001", "ae1027a6acf1", """
        op.create_table("comment", sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("body", sa.String(200), nullable=False))
    """, message="create comment")
    head = commit(demo, "comment migration")

    fixed = run_action(image, demo.root, tmp_path, inputs, api, pull_request(base, head))

    assert fixed.code == 0, fixed.log
    assert fixed.outputs["passed"] == "true" and fixed.outputs["missing-migration"] == "false"
    assert fixed.outputs["heads"] == "c0ffee000001"
    # Only the pull request's own revision (base from the event payload, read with git as root
    # from a checkout the runner's user owns):
    assert "CREATE TABLE comment" in fixed.summary and "CREATE TABLE article" not in fixed.summary
    assert len(api.made("POST")) == 1, "a second comment instead of an update"
    patches = api.made("PATCH", f"/issues/comments/{comment['id']}$")
    assert len(patches) == 1 and "CREATE TABLE comment" in patches[0].body["body"]
    assert api.on_issue(PR_NUMBER)[0]["body"] == patches[0].body["body"]
    assert fixed.outputs["comment-url"] == comment["html_url"]
    assert fixed.scratch_database not in scratch_databases()


def test_could_not_check_exits_2_with_the_password_masked_and_says_so_on_the_pr(image, demo, api, tmp_path):
    # The README's URL in a job that has no `mysql` service.
    base = checkout(demo)
    demo.add_model(COMMENT_MODEL)
    head = commit(demo, "comment model")
    password = f"pw-{uuid.uuid4().hex[:8]}"
    inputs = {"database-url": f"mysql+pymysql://root:{password}@mysql:3306/", "install": "none"}

    run = run_action(image, demo.root, tmp_path, inputs, api, pull_request(base, head))

    assert run.code == 2, run.log
    assert run.log.splitlines()[:2] == [f"::add-mask::{api.token}", f"::add-mask::{password}"]
    assert run.log.count(password) == 1, "the password must only appear in its ::add-mask:: line"
    (error,) = run.commands("error")
    assert "unknown host 'mysql'" in error
    assert run.outputs["passed"] == "false" and run.outputs["report"] == ""
    assert "unknown host" in run.summary
    (post,) = api.made("POST")
    assert post.body["body"].startswith(MARKER) and "unknown host" in post.body["body"]


def _wheel(folder: Path, module: str, code: str) -> Path:
    """A minimal pure-Python wheel, so the install input is exercised without any index."""
    dist = f"{module}-1.0.dist-info"
    files = {f"{module}.py": code,
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
              f"{len(text.encode())}" for name, text in files.items()]
    files[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_without_database_url_the_embedded_server_runs_inside_the_image(image, demo, api, tmp_path):
    # env.py needs a package that only the install input provides (auto: requirements.txt).
    _wheel(demo.root / "wheels", "blog_extras", "TABLE_PREFIX = ''\n")
    (demo.root / "requirements.txt").write_text("--no-index\n./wheels/blog_extras-1.0-py3-none-any.whl\n")
    env_py = demo.root / "alembic" / "env.py"
    env_py.write_text("import blog_extras  # installed by the action's install input\n" + env_py.read_text())
    base = checkout(demo)
    demo.add_model(COMMENT_MODEL)
    demo.add_revision("c0ffee000002", "ae1027a6acf1", """
        op.create_table("comment", sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("body", sa.String(200), nullable=False))
    """, message="create comment")
    head = commit(demo, "comment")

    run = run_action(image, demo.root, tmp_path, {"comment": "false"}, api, pull_request(base, head))

    assert run.code == 0, run.log
    assert set(run.outputs) == set(ACTION["outputs"])
    (install,) = [line for line in run.commands("group") if "install the project's dependencies" in line]
    assert install.endswith("-r requirements.txt)")
    assert "Successfully installed blog-extras-1.0" in run.log
    assert "starting an embedded server" in run.log
    assert run.outputs["passed"] == "true" and run.outputs["heads"] == "c0ffee000002"
    assert run.outputs["comment-url"] == ""
    report = json.loads((demo.root / run.outputs["report"]).read_text())
    assert report["server"].startswith("MariaDB") and report["replayed"] == 3
    assert "CREATE TABLE comment" in run.summary and "CREATE TABLE article" not in run.summary
    assert api.requests == [], "comment: false must not call the API"
    # The action runs as root: nothing but its report directory may be left root-owned in the
    # checkout (no __pycache__), or the runner's user could not clean it.
    if run.root_owned is not None:
        assert run.root_owned == [".alembic-ci"]


def test_every_python_package_of_the_image_is_pinned(image):
    """docker/constraints.txt is what GitHub's build installs from PyPI: it must pin the whole set."""
    freeze = subprocess.run(["podman", "run", "--rm", "--entrypoint", "pip", image, "freeze"],
                            env={**os.environ, "CONTAINERS_CONF": CONTAINERS_CONF},
                            capture_output=True, text=True, timeout=120)
    assert freeze.returncode == 0, freeze.stderr
    pins = {line.strip().lower() for line in (ROOT / "docker" / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    installed = {line.strip().lower() for line in freeze.stdout.splitlines() if not line.startswith("alembic-ci")}
    assert installed and installed <= pins, f"not pinned in docker/constraints.txt: {sorted(installed - pins)}"


def test_docker_run_image_version_prints_the_version(image):
    """The entrypoint is `alembic-ci action`: `--version` after the image name must still answer."""
    from alembic_ci import __version__

    run = subprocess.run(["podman", "run", "--rm", image, "--version"], env={**os.environ, "CONTAINERS_CONF": CONTAINERS_CONF},
                         capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stdout) == (0, f"alembic-ci {__version__}\n"), run.stderr


def test_action_yml_declares_the_contract():
    assert set(ACTION["inputs"]) == {"database-url", "config", "working-directory", "install", "github-token",
                                     "comment", "base-ref", "fail-on", "cache-dir", "statement-timeout",
                                     "revision-timeout", "lock-wait-timeout"}
    assert set(ACTION["outputs"]) == {"passed", "heads", "missing-migration", "report", "comment-url",
                                      "comment-file"}
    assert ACTION["runs"] == {"using": "docker", "image": "Dockerfile"}
