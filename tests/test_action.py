"""`alembic-ci action` end to end, as GitHub runs it: a separate process with INPUT_* variables,
a pull_request event payload, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, the real MariaDB, and
the GitHub REST API stood in at the HTTP level (tests/github_api.py). The tests assert the
requests the action actually made."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from conftest import SERVER_URL, Result, parse_outputs, server_connection

MARKER = "<!-- alembic-ci: alembic.ini -->"
RUN_URL = "https://github.com/octo/shop/actions/runs/4242"


@pytest.fixture
def base_sha(demo) -> str:
    """The demo as a git repository: the pull request's base commit."""
    demo.git("init", "-q", "-b", "main")
    demo.git("add", "-A")
    demo.git("commit", "-q", "-m", "base")
    return demo.git("rev-parse", "HEAD").strip()


@dataclass
class Run:
    result: Result
    outputs: dict
    summary: str

    @property
    def log(self) -> str:
        return self.result.out

    @property
    def tail(self) -> str:  # for assertion messages
        return (self.result.out + self.result.err)[-3000:]

    def commands(self, name: str) -> list:
        return [line for line in self.log.splitlines() if line.startswith(f"::{name}")]


def run_action(demo, api, event_name="pull_request", event=None, workspace=None, **inputs) -> Run:
    tmp = demo.root.parent
    tag = uuid.uuid4().hex[:8]
    event_file, output_file, summary_file = (tmp / f"{name}-{tag}" for name in ("event.json", "output", "summary"))
    event_file.write_text(json.dumps(event or {}))
    output_file.write_text("")
    summary_file.write_text("")
    env = {f"INPUT_{name.upper()}": "" for name in
           ("database-url", "config", "working-directory", "install", "github-token", "comment", "base-ref")}
    env.update({
        "INPUT_DATABASE-URL": SERVER_URL, "INPUT_INSTALL": "none", "INPUT_GITHUB-TOKEN": api.token,
        "GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": str(event_file), "GITHUB_API_URL": api.url,
        "GITHUB_REPOSITORY": api.repository, "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_ATTEMPT": "", "GITHUB_WORKSPACE": str(workspace or demo.root),
        "GITHUB_OUTPUT": str(output_file), "GITHUB_STEP_SUMMARY": str(summary_file),
    })
    env.update({f"INPUT_{name.upper().replace('_', '-')}": value for name, value in inputs.items()})
    result = demo.run("action", env=env)
    return Run(result, parse_outputs(output_file.read_text()), summary_file.read_text())


def pr_event(base_sha: str, number: int = 7) -> dict:
    return {"action": "synchronize", "number": number,
            "pull_request": {"number": number, "base": {"sha": base_sha, "ref": "main"},
                             "head": {"sha": "f" * 40, "ref": "feature"}}}


def add_tag_model(demo) -> None:
    demo.add_model("""
        from sqlalchemy import Column, Integer, String

        class Tag(Base):
            __tablename__ = "tag"
            id = Column(Integer, primary_key=True)
            name = Column(String(40), nullable=False)
    """)


def test_pull_request_comment_is_created_once_then_edited_in_place_and_turns_green(demo, api, base_sha):
    # The PR: a new revision, and a model change without its migration.
    demo.add_revision("c0ffee000001", "ae1027a6acf1", """
        op.add_column("article", sa.Column("summary", sa.String(200)))
    """, message="article summary")
    models = demo.root / "blog" / "models.py"
    models.write_text(models.read_text().replace(
        "    title = Column(String(50), nullable=False)\n",
        "    title = Column(String(50), nullable=False)\n    summary = Column(String(200))\n"))
    add_tag_model(demo)
    first = run_action(demo, api, event=pr_event(base_sha))

    assert first.result.code == 1, first.tail
    [post] = api.made("POST")
    assert post.path == "/repos/octo/shop/issues/7/comments"
    assert not api.made("PATCH")
    [comment] = api.on_issue(7)
    body = comment["body"]
    assert body.startswith(MARKER + "\n")
    assert "❌ alembic-ci: 1 problem" in body and "Missing migration" in body
    assert "op.create_table('tag'" in body and "CREATE TABLE tag (" in body
    # Only the PR's own revision, one collapsible block, with its SQL.
    assert "<details><summary><code>c0ffee000001</code> article summary" in body
    assert "ALTER TABLE article ADD COLUMN summary VARCHAR(200)" in body
    assert "1975ea83b712" not in body and "CREATE TABLE user" not in body
    assert first.outputs["passed"] == "false" and first.outputs["missing-migration"] == "true"
    assert first.outputs["heads"] == "c0ffee000001"
    assert first.outputs["comment-url"] == comment["html_url"]
    report = json.loads((demo.root / first.outputs["report"]).read_text())
    assert report["passed"] is False and report["base"] == ["ae1027a6acf1"]
    assert (demo.root / first.outputs["comment-file"]).read_text() == body
    assert "CREATE TABLE tag (" in first.summary and first.summary.startswith(MARKER)
    [error] = first.commands("error")
    assert error.startswith("::error title=alembic-ci%3A missing-migration::the models differ")
    assert "::group::" in first.log and "::endgroup::" in first.log

    # The next push adds the migration: the same comment is edited and turns green.
    demo.add_revision("c0ffee000002", "c0ffee000001", """
        op.create_table("tag", sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("name", sa.String(40), nullable=False))
    """, message="create tag")
    requests_before = len(api.requests)
    second = run_action(demo, api, event=pr_event(base_sha))

    assert second.result.code == 0, second.tail
    assert len(api.made("POST")) == 1, "a second comment was created"
    [patch] = [r for r in api.requests[requests_before:] if r.method == "PATCH"]
    assert patch.path == f"/repos/octo/shop/issues/comments/{comment['id']}"
    [comment] = api.on_issue(7)
    assert comment["body"].startswith(MARKER + "\n")
    assert "✅ alembic-ci: migrations check passed" in comment["body"] and "❌" not in comment["body"]
    assert "<code>c0ffee000002</code> create tag" in comment["body"]
    assert second.outputs["passed"] == "true" and second.outputs["missing-migration"] == "false"
    assert second.outputs["comment-url"] == comment["html_url"]
    assert not second.commands("error")


def test_long_pull_request_finds_its_comment_on_a_late_page(demo, api, base_sha):
    for i in range(120):
        api.add_comment(7, f"review comment {i}", user={"login": f"dev{i % 7}", "id": 10 + i, "type": "User"})
    # A human quoting the bot's comment, marker included: never ours to edit.
    quoted = api.add_comment(7, MARKER + "\nI copied this", user={"login": "mallory", "id": 9, "type": "User"})
    for i in range(110):
        api.add_comment(7, f"more review {i}", user={"login": "dev", "id": 8, "type": "User"})
    ours = api.add_comment(7, MARKER + "\n### ❌ stale")
    for i in range(20):
        api.add_comment(7, f"late {i}", user={"login": "dev", "id": 8, "type": "User"})

    api.failures = [("GET", r"/issues/7/comments\?.*page=2", 502), ("PATCH", "", 503)]  # retried
    run = run_action(demo, api, event=pr_event(base_sha))

    assert run.result.code == 0, run.tail
    listed = [(r.query.get("page", ["1"])[0], r.status) for r in api.made("GET", r"/issues/7/comments$")]
    assert listed == [("1", 200), ("2", 502), ("2", 200), ("3", 200)]
    assert not api.made("POST")
    assert [r.status for r in api.made("PATCH")] == [503, 200]
    patch = api.made("PATCH")[-1]
    assert patch.path.endswith(f"/comments/{ours['id']}")
    assert ours["body"].startswith(MARKER) and "✅" in ours["body"]
    assert quoted["body"] == MARKER + "\nI copied this"
    assert len(api.on_issue(7)) == 252


def test_read_only_token_warns_and_keeps_the_verdict_summary_and_files(demo, api, base_sha):
    api.read_only = True
    add_tag_model(demo)
    run = run_action(demo, api, event=pr_event(base_sha))

    assert run.result.code == 1, run.tail
    [post] = api.made("POST")
    assert post.status == 403
    assert not api.on_issue(7)
    [warning] = run.commands("warning")
    assert "Resource not accessible by integration" in warning
    assert "pull-requests: write" in warning and "workflow_run" in warning
    assert "missing-migration" in run.summary and "CREATE TABLE tag" in run.summary
    assert run.outputs["passed"] == "false" and run.outputs["comment-url"] == ""
    comment_file = demo.root / run.outputs["comment-file"]
    assert comment_file.read_text().startswith(MARKER)
    assert (comment_file.parent / "pr-number").read_text() == "7\n"
    assert json.loads((demo.root / run.outputs["report"]).read_text())["missing_migration"]["sql"]


def test_huge_migration_keeps_the_comment_under_githubs_limit(demo, api, base_sha):
    inserts = "\n".join(f"op.execute(\"INSERT INTO payload (body) VALUES ('{i}{'x' * 20000}')\")" for i in range(6))
    demo.add_revision("da7a00000001", "ae1027a6acf1", f"""
op.create_table("payload", sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text))
{inserts}
""", message="big data")
    demo.add_model("""
        from sqlalchemy import Column, Integer, Text

        class Payload(Base):
            __tablename__ = "payload"
            id = Column(Integer, primary_key=True)
            body = Column(Text)
    """)
    run = run_action(demo, api, event=pr_event(base_sha))

    assert run.result.code == 0, run.tail
    [post] = api.made("POST")
    assert post.status == 201
    body = post.body["body"]
    assert len(body) < 65536 and body.startswith(MARKER)
    assert f"the full report is in [the job summary]({RUN_URL})" in body
    assert "trimmed: see [the job summary]" in body
    assert body.count("<details>") == body.count("</details>")
    # The job summary has every statement in full.
    for i in range(6):
        assert f"'{i}{'x' * 20000}'" in run.summary


def test_token_and_database_password_never_reach_logs_or_reports(demo, api, base_sha):
    user = f"aci_{uuid.uuid4().hex[:12]}"
    password = f"Pw@{uuid.uuid4().hex[:12]}/x"  # characters a URL must encode
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cur.execute(f"GRANT ALL PRIVILEGES ON `alembic\\_ci\\_%`.* TO '{user}'@'%'")
    try:
        url = f"mysql+pymysql://{user}:{quote(password, safe='')}@127.0.0.1:3306/"
        add_tag_model(demo)
        run = run_action(demo, api, event=pr_event(base_sha), database_url=url)
        assert run.result.code == 1, run.tail
        assert "replaying" in run.log  # the check ran as that user
        refused = run_action(demo, api, event=pr_event(base_sha),
                             database_url=url.replace(quote(password, safe=""), quote(password + "wrong", safe="")))
        assert refused.result.code == 2 and f"refused user '{user}'" in refused.log
    finally:
        with server_connection() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")

    assert all(r.authorization == f"token {api.token}" for r in api.requests)
    for attempt, used in ((run, password), (refused, password + "wrong")):
        secrets = [api.token, used, quote(used, safe="")]
        masks = attempt.commands("add-mask")
        # Masks come before anything else the step prints.
        assert attempt.log.splitlines()[:len(masks)] == masks
        # As the runner decodes them.
        masked = {m.split("::", 2)[2].replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%") for m in masks}
        assert set(secrets) <= masked
        logged = "\n".join(line for line in attempt.log.splitlines() if not line.startswith("::add-mask::"))
        published = [logged, attempt.result.err, attempt.summary, *(c["body"] for c in api.comments),
                     *(p.read_text() for p in (demo.root / ".alembic-ci").rglob("*") if p.is_file())]
        for secret in secrets:
            assert not any(secret in text for text in published)


def test_push_runs_the_check_and_the_summary_without_any_api_call(demo, api, base_sha):
    add_tag_model(demo)
    run = run_action(demo, api, event_name="push",
                     event={"ref": "refs/heads/main", "before": base_sha, "after": base_sha})
    assert run.result.code == 1, run.tail
    assert api.requests == []
    assert "missing-migration" in run.summary and "of every revision" in run.summary
    assert run.outputs["passed"] == "false" and run.outputs["comment-url"] == ""


def test_base_commit_missing_from_the_clone_replaces_the_comment_and_says_fetch_depth(demo, api, base_sha):
    earlier = api.add_comment(7, MARKER + "\n### ✅ alembic-ci: migrations check passed")
    run = run_action(demo, api, event=pr_event("0123456789" * 4))

    assert run.result.code == 2
    [error] = run.commands("error")
    assert error.startswith("::error title=alembic-ci could not check::the base commit")
    assert "fetch-depth: 0" in error
    assert "could not check" in run.summary and "fetch-depth: 0" in run.summary
    [patch] = api.made("PATCH")
    assert patch.path.endswith(f"/comments/{earlier['id']}")
    assert earlier["body"].startswith(MARKER) and "could not check" in earlier["body"]
    assert "✅" not in earlier["body"]
    assert run.outputs["passed"] == "false" and run.outputs["report"] == ""
    assert run.outputs["comment-url"] == earlier["html_url"]


def test_working_directory_and_install_command_paths_are_from_the_repository_root(demo, api, base_sha):
    path = demo.add_revision("bad000000001", "ae1027a6acf1", """
        op.create_table("tag", sa.Column("id", sa.Integer, primary_key=True))
        op.execute("ALTER TABLE no_such_table ADD COLUMN x INT")
    """, message="breaks")
    workspace = demo.root.parent
    run = run_action(demo, api, event=pr_event(base_sha), workspace=workspace,
                     working_directory="project", install='echo "installed in $PWD" > installed.txt')

    assert run.result.code == 1, run.tail
    assert (demo.root / "installed.txt").read_text().strip() == f"installed in {demo.root}"
    body = api.on_issue(7)[0]["body"]
    assert body.startswith("<!-- alembic-ci: project/alembic.ini -->\n")
    assert "`project/alembic/versions/bad000000001_breaks.py`" in body
    [error] = run.commands("error")
    line = path.read_text().splitlines().index('    op.execute("ALTER TABLE no_such_table ADD COLUMN x INT")') + 1
    assert error.startswith(f"::error file=project/alembic/versions/bad000000001_breaks.py,line={line},"
                            "title=alembic-ci%3A upgrade-failed::")
    assert run.outputs["report"] == ".alembic-ci/project-alembic/report.json"
    assert (workspace / run.outputs["report"]).is_file()


@pytest.mark.parametrize("install, requirements, code, expected", [
    ("exit 3", None, 2, "the install step `exit 3` failed with exit code 3"),
    ("auto", "PyMySQL\n", 0, "Requirement already satisfied"),
    ("auto", "./no-such-directory\n", 2, "the install step `pip install"),
])
def test_install_input(demo, api, base_sha, install, requirements, code, expected):
    if requirements:
        (demo.root / "requirements.txt").write_text(requirements)
    run = run_action(demo, api, event_name="workflow_dispatch", install=install)
    assert run.result.code == code, run.tail
    assert expected in run.log
    if code == 2:
        [error] = run.commands("error")
        assert "install step" in error and "`none`" in error
        assert "could not check" in run.summary
        assert "replaying" not in run.log


def test_inputs_are_read_once_with_their_defaults(tmp_path):
    from alembic_ci.action import read_config

    event = tmp_path / "event.json"
    event.write_text(json.dumps(pr_event("abc123", number=12)))
    (tmp_path / "svc").mkdir()
    env = {"GITHUB_WORKSPACE": str(tmp_path), "GITHUB_EVENT_NAME": "pull_request_target",
           "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "o/r", "INPUT_WORKING-DIRECTORY": "svc",
           "INPUT_COMMENT": "False", "INPUT_CONFIG": "  db/alembic.ini ", "INPUT_DATABASE-URL": ""}
    config = read_config(env)
    assert (config.pull_request, config.base_ref, config.comment) == (12, "abc123", False)
    assert (config.config, config.database_url, config.install) == ("db/alembic.ini", None, "auto")
    assert config.project_key == "svc/db/alembic.ini" and config.report_dir == tmp_path / ".alembic-ci" / "svc-db-alembic"
    assert config.api_url == "https://api.github.com" and config.head_sha == "f" * 40
    options = config.check_options(print)
    assert (options.statement_timeout, options.revision_timeout, options.lock_wait_timeout) == (300, 600, 60)
    assert (options.config, options.base_ref, options.cache_dir) == ("db/alembic.ini", "abc123", None)
    assert read_config({**env, "INPUT_BASE-REF": "origin/main"}).base_ref == "origin/main"
    options = read_config({**env, "INPUT_STATEMENT-TIMEOUT": "1.5", "INPUT_REVISION-TIMEOUT": " 90 ",
                           "INPUT_LOCK-WAIT-TIMEOUT": "5", "INPUT_CACHE-DIR": ".cache"}).check_options(print)
    assert (options.statement_timeout, options.revision_timeout, options.lock_wait_timeout) == (1.5, 90, 5)
    assert options.cache_dir == str(tmp_path / ".cache")


@pytest.mark.parametrize("change, message", [
    ({"INPUT_COMMENT": "maybe"}, "input comment is 'maybe'. Set it to true or false"),
    ({"INPUT_WORKING-DIRECTORY": "nope"}, "working-directory 'nope' is not a directory"),
    ({"GITHUB_EVENT_PATH": "/no/such/event.json"}, "cannot read the event payload"),
    ({"INPUT_STATEMENT-TIMEOUT": "five"}, "input statement-timeout: 'five' is not a number of seconds. Set it to "
                                          "a number of seconds, or leave it empty for 300"),
    ({"INPUT_REVISION-TIMEOUT": "0"}, "input revision-timeout: '0': must be more than 0 seconds"),
    ({"INPUT_LOCK-WAIT-TIMEOUT": "2.5"}, "input lock-wait-timeout: '2.5' is not a whole number of seconds. "
                                         "Set it to a whole number of seconds, or leave it empty for 60"),
    # Nothing of the runner's outside the checkout is read or written.
    ({"INPUT_WORKING-DIRECTORY": ".."}, "input working-directory '..' is outside the workspace. Name a path"),
    ({"INPUT_CONFIG": "../../alembic.ini"}, "input config '../../alembic.ini' is outside the workspace"),
    ({"INPUT_CACHE-DIR": "/etc"}, "input cache-dir '/etc' is outside the workspace"),
])
def test_bad_inputs_are_one_clear_line(tmp_path, change, message):
    from alembic_ci.action import read_config
    from alembic_ci.errors import ConfigError

    (tmp_path / "workspace").mkdir()
    event = tmp_path / "event.json"
    event.write_text(json.dumps(pr_event("abc")))
    env = {"GITHUB_WORKSPACE": str(tmp_path / "workspace"), "GITHUB_EVENT_NAME": "pull_request",
           "GITHUB_EVENT_PATH": str(event)}
    with pytest.raises(ConfigError, match=re.escape(message)):
        read_config({**env, **change}).check_options(print)


def test_a_bad_input_of_the_check_replaces_the_comment_with_could_not_check(demo, api, base_sha):
    earlier = api.add_comment(7, MARKER + "\n### ✅ alembic-ci: migrations check passed")
    run = run_action(demo, api, event=pr_event(base_sha), statement_timeout="abc")
    assert run.result.code == 2
    [error] = run.commands("error")
    assert "input statement-timeout: 'abc' is not a number of seconds" in error
    assert "could not check" in run.summary and "could not check" in earlier["body"] and "✅" not in earlier["body"]
    assert run.outputs["passed"] == "false"


def test_pull_request_target_on_the_base_branchs_checkout_vouches_for_nothing(demo, api, base_sha):
    """pull_request_target checks out the base branch: its check would pass the pull request unseen."""
    event = pr_event(base_sha)
    run = run_action(demo, api, event_name="pull_request_target", event=event)
    assert run.result.code == 2
    [error] = run.commands("error")
    assert f"the workspace holds {base_sha[:12]}, not the pull request's commit ffffffffffff" in error
    assert "replaying" not in run.log
    [comment] = api.on_issue(7)
    assert "could not check" in comment["body"] and "Run alembic-ci on `pull_request`" in comment["body"]

    # Its own commit checked out (the workflow's explicit choice): checked.
    event["pull_request"]["head"]["sha"] = base_sha
    run = run_action(demo, api, event_name="pull_request_target", event=event)
    assert run.result.code == 0, run.tail


def test_install_auto_picks_requirements_then_a_declared_package(tmp_path):
    from alembic_ci.action import install_command

    assert install_command("auto", tmp_path) is None
    (tmp_path / "pyproject.toml").write_text("[tool.black]\nline-length = 100\n")
    assert install_command("auto", tmp_path) is None, "tool settings only: nothing to install"
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    assert install_command("auto", tmp_path)[-1] == "."
    (tmp_path / "requirements.txt").write_text("PyMySQL\n")
    assert install_command("auto", tmp_path)[-2:] == ["-r", "requirements.txt"]
    assert install_command("none", tmp_path) is None
    assert install_command("make deps", tmp_path) == "make deps"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the checkout to another user")
def test_checkout_owned_by_another_user_still_reads_the_base_commit(demo, api, base_sha):
    # In the Docker action the workspace belongs to the runner's user, not the container's root:
    # git refuses such a repository ("dubious ownership") unless told to trust it.
    subprocess.run(["chown", "-R", "65534:65534", str(demo.root)], check=True)
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=demo.root, capture_output=True).returncode != 0
    demo.add_revision("c0ffee000001", "ae1027a6acf1", 'op.create_index("ix_title", "article", ["title"])')
    run = run_action(demo, api, event=pr_event(base_sha))
    assert run.result.code == 1, run.tail
    assert "CREATE INDEX ix_title ON article (title)" in run.summary
    assert "CREATE TABLE user" not in run.summary  # reported from the base commit on


def test_fail_on_and_cache_dir_inputs_reach_the_check(demo, api, base_sha):
    demo.add_revision("d20p00000001", "ae1027a6acf1", "op.drop_table('article')", message="drop article")
    models = demo.root / "blog" / "models.py"
    text = models.read_text()
    models.write_text(text[:text.index("class Article")])
    failing = run_action(demo, api, event=pr_event(base_sha), comment="false")
    assert failing.result.code == 1, failing.tail
    assert any("drop-table" in line for line in failing.commands("error"))
    passing = run_action(demo, api, event=pr_event(base_sha), comment="false", fail_on="none",
                         cache_dir=".cache/alembic-ci")
    assert passing.result.code == 0, passing.tail
    assert any("drop-table" in line for line in passing.commands("warning"))
    assert list((demo.root / ".cache" / "alembic-ci").iterdir()), "the snapshot cache was not written"


@pytest.mark.parametrize("inputs, body, says", [
    ({"statement_timeout": "1"}, 'op.execute("SELECT SLEEP(30)")', "(1317"),
    ({"revision_timeout": "1"}, "import time\ntime.sleep(30)", "was still running after 1 s (--revision-timeout)"),
], ids=["statement-timeout", "revision-timeout"])
def test_timeout_inputs_stop_a_hanging_migration(demo, api, base_sha, inputs, body, says):
    demo.add_revision("d20p00000003", "ae1027a6acf1", body, message="hangs")
    run = run_action(demo, api, event=pr_event(base_sha), comment="false", **inputs)
    assert run.result.code == 1, run.tail
    errors = [line for line in run.commands("error") if "upgrade-failed" in line]
    assert errors and says in errors[0] and "d20p00000003" in errors[0], run.tail
    assert run.outputs["passed"] == "false"


def test_push_to_main_warms_the_cache_for_the_pull_requests_first_run(demo, api, base_sha):
    """README's workflow: actions/cache keeps cache-dir; the push to main saves the schema at its
    heads, and the first run of a pull request based on that commit restores it."""
    push = run_action(demo, api, event_name="push", event={"ref": "refs/heads/main", "after": base_sha},
                      cache_dir=".alembic-ci-cache")
    assert push.result.code == 0, push.tail
    assert "snapshot cache: saved the schema at the heads (2 revisions)" in push.log, push.tail
    demo.add_revision("d20p00000002", "ae1027a6acf1", """
        op.add_column("article", sa.Column("summary", sa.String(200), nullable=True))
    """, message="article summary")
    demo.add_model("Article.summary = Column(String(200), nullable=True)")
    pr = run_action(demo, api, event=pr_event(base_sha), comment="false", cache_dir=".alembic-ci-cache")
    assert pr.result.code == 0, pr.tail
    assert "snapshot cache: restored the schema at the base (2 revisions)" in pr.log, pr.tail
    report = json.loads((demo.root / pr.outputs["report"]).read_text())
    assert report["restored"] == 2 and report["replayed"] == 1
    assert [r["revision"] for r in report["revisions"]] == ["d20p00000002"]
