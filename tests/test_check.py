"""`alembic-ci check` end to end, as a user runs it, on the real MariaDB server."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

from conftest import SERVER_URL, scratch_databases, server_connection, spawn


def _line_of(path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_demo_passes_and_reports_every_statement(demo):
    result = demo.check("--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["passed"] is True
    assert report["heads"] == ["ae1027a6acf1"]
    assert report["findings"] == []
    assert report["missing_migration"] is None
    assert [r["revision"] for r in report["revisions"]] == ["1975ea83b712", "ae1027a6acf1"]
    create_article = report["revisions"][1]["statements"]
    assert len(create_article) == 1
    assert create_article[0]["sql"].startswith("CREATE TABLE article (")
    assert "FOREIGN KEY(uid) REFERENCES user (id)" in create_article[0]["sql"]
    # Alembic's own bookkeeping is not part of a revision's SQL.
    assert not any("alembic_version" in s["sql"] for r in report["revisions"] for s in r["statements"])
    assert report["server"].startswith("MariaDB ")


def test_model_column_without_migration_is_a_missing_migration(demo):
    demo.add_model("""
        from sqlalchemy import Text
        Article.summary = Column(Text)
    """)
    result = demo.check("--format", "json")
    assert result.code == 1, result.err
    report = json.loads(result.out)
    assert report["passed"] is False
    codes = [f["code"] for f in report["findings"]]
    assert codes == ["missing-migration"]
    missing = report["missing_migration"]
    assert missing["differences"] == ["article.summary: in the models, no migration creates it"]
    assert "op.add_column('article', sa.Column('summary', sa.Text(), nullable=True))" in missing["upgrade"]
    assert "op.drop_column('article', 'summary')" in missing["downgrade"]
    assert missing["sql"] == ["ALTER TABLE article ADD COLUMN summary TEXT"]


def test_text_output_names_the_difference_and_the_fix(demo):
    demo.add_model("""
        class Tag(Base):
            __tablename__ = "tag"
            id = Column(Integer, primary_key=True)
            name = Column(String(30), nullable=False)
    """)
    result = demo.check()
    assert result.code == 1
    assert result.out.startswith("FAILED")
    assert "table tag: in the models, no migration creates it" in result.out
    assert "op.create_table('tag'" in result.out
    assert "alembic revision --autogenerate" in result.out


def test_two_heads_name_both_their_ancestor_and_the_merge_command(demo):
    demo.add_revision("aaaa00000001", "ae1027a6acf1", "op.add_column('user', sa.Column('email', sa.String(100)))",
                      message="add email")
    demo.add_revision("bbbb00000002", "ae1027a6acf1", "op.add_column('article', sa.Column('body', sa.Text()))",
                      message="add body")
    result = demo.check("--format", "json")
    assert result.code == 1
    report = json.loads(result.out)
    heads = [f for f in report["findings"] if f["code"] == "multiple-heads"]
    assert len(heads) == 1
    finding = heads[0]
    assert "aaaa00000001" in finding["message"] and "bbbb00000002" in finding["message"]
    assert "add email" in finding["message"] and "add body" in finding["message"]
    assert "diverged after ae1027a6acf1" in finding["message"]
    assert 'alembic merge -m "merge heads" aaaa00000001 bbbb00000002' in finding["detail"]
    assert finding["file"].endswith("bbbb00000002_add_body.py")
    assert finding["line"] == _line_of(demo.versions / "bbbb00000002_add_body.py", "down_revision =")
    # Both heads were replayed all the same.
    assert sorted(report["heads"]) == ["aaaa00000001", "bbbb00000002"]
    assert {r["revision"] for r in report["revisions"]} >= {"aaaa00000001", "bbbb00000002"}


def test_labelled_branches_are_not_multiple_heads(demo):
    demo.add_revision("e0000000000a", "ae1027a6acf1", "op.add_column('user', sa.Column('email', sa.String(100)))",
                      message="expand base", extra="branch_labels = ('expand',)")
    demo.add_revision("c0000000000b", "ae1027a6acf1", "pass", message="contract base",
                      extra="branch_labels = ('contract',)")
    demo.add_model("User.email = Column(String(100))")
    result = demo.check("--format", "json")
    report = json.loads(result.out)
    assert result.code == 0, result.out + result.err
    assert sorted(report["heads"]) == ["c0000000000b", "e0000000000a"]
    assert report["replayed"] == 4


def test_a_second_head_inside_one_labelled_branch_is_reported(demo):
    demo.add_revision("e0000000000a", "ae1027a6acf1", "pass", message="expand base",
                      extra="branch_labels = ('expand',)")
    demo.add_revision("e0000000000b", "e0000000000a", "pass", message="expand one")
    demo.add_revision("e0000000000c", "e0000000000a", "pass", message="expand two")
    demo.add_revision("c0000000000d", "ae1027a6acf1", "pass", message="contract base",
                      extra="branch_labels = ('contract',)")
    result = demo.check("--format", "json")
    report = json.loads(result.out)
    heads = [f for f in report["findings"] if f["code"] == "multiple-heads"]
    assert len(heads) == 1 and "on branch expand" in heads[0]["message"]
    assert "c0000000000d" not in heads[0]["message"]
    # Such a project deploys with `upgrade heads` or `upgrade expand@head`, not `upgrade head`.
    assert heads[0]["detail"].startswith("`alembic upgrade expand@head` will fail at deploy")


def test_migration_the_server_refuses_names_revision_statement_and_errno(demo):
    # A VARCHAR foreign key to an INT key: MySQL/MariaDB errno 150.
    path = demo.add_revision("f00000000150", "ae1027a6acf1", """
        op.create_table('comment',
            sa.Column('id', sa.Integer(), primary_key=True),
            sa.Column('uid', sa.String(20)),
            sa.ForeignKeyConstraint(['uid'], ['user.id']))
    """, message="add comment")
    result = demo.check("--format", "json")
    assert result.code == 1
    report = json.loads(result.out)
    failed = [f for f in report["findings"] if f["code"] == "upgrade-failed"]
    assert len(failed) == 1
    finding = failed[0]
    assert finding["revision"] == "f00000000150"
    assert finding["file"].endswith("f00000000150_add_comment.py")
    assert finding["line"] == _line_of(path, "op.create_table")
    assert "errno: 150" in finding["message"]
    # Without the scratch database's name (new each run), the comment stays the same from push to push.
    assert "`comment`" in finding["message"] and "alembic_ci_" not in finding["message"], finding["message"]
    assert "CREATE TABLE comment" in finding["detail"]
    refused = report["revisions"][-1]["statements"][-1]
    assert refused["error"] and "150" in refused["error"]
    # The drift check does not run on a half-migrated schema.
    assert report["missing_migration"] is None


def test_down_revision_naming_a_missing_revision_is_a_bad_graph(demo):
    path = demo.add_revision("dead00000001", "0000deadbeef", "pass", message="orphan")
    result = demo.check("--format", "json")
    assert result.code == 2
    report = json.loads(result.out)
    [finding] = report["findings"]
    assert finding["code"] == "bad-revision-graph"
    assert "'0000deadbeef'" in finding["message"] and path.name in finding["message"]
    assert "Traceback" not in result.err and "KeyError" not in result.err


def test_duplicate_ids_cycles_and_broken_files_are_named(demo):
    demo.add_revision("ae1027a6acf1", "1975ea83b712", "pass", message="same id")
    (demo.versions / "zz_broken.py").write_text("revision = 'x'\ndef upgrade(:\n")
    result = demo.check("--format", "json")
    assert result.code == 2
    messages = [f["message"] for f in json.loads(result.out)["findings"]]
    assert any("zz_broken.py does not import: SyntaxError" in m for m in messages)
    assert any("revision id ae1027a6acf1 is defined by 2 files" in m for m in messages)


def test_revision_cycle_is_a_bad_graph(demo):
    first = demo.versions / "1975ea83b712_create_user.py"
    first.write_text(first.read_text().replace('down_revision = None', 'down_revision = "ae1027a6acf1"'))
    result = demo.check("--format", "json")
    assert result.code == 2
    [finding] = json.loads(result.out)["findings"]
    assert finding["code"] == "bad-revision-graph" and "cycle" in finding["message"].lower()


def test_env_py_connecting_elsewhere_is_refused_and_nothing_is_written_there(demo):
    app_db = f"app_{os.getpid()}_{secrets.token_hex(3)}"  # other test runs may share the server
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {app_db}")
    try:
        env = demo.root / "alembic" / "env.py"
        text = env.read_text().replace(
            'connection = config.attributes.get("connection")',
            'connection = None  # the app builds its own engine\n'
            f'    config.set_main_option("sqlalchemy.url", "{SERVER_URL}{app_db}")')
        env.write_text(text)
        result = demo.check()
        assert result.code == 2
        assert f"env.py opened a connection to database '{app_db}'" in result.err
        assert 'config.attributes["connection"]' in result.err
        assert "Traceback" not in result.err
        with server_connection() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='{app_db}'")
            assert cur.fetchone()[0] == 0
    finally:
        with server_connection() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {app_db}")


def test_base_ref_reports_only_the_new_revision(demo):
    demo.git("init", "-q", "-b", "main")
    demo.git("add", "-A")
    demo.git("commit", "-qm", "base")
    demo.git("checkout", "-qb", "feature")
    demo.add_revision("c0ffee000001", "ae1027a6acf1",
                      "op.add_column('article', sa.Column('summary', sa.String(200)))", message="add summary")
    demo.add_model("Article.summary = Column(String(200))")
    result = demo.check("--base-ref", "main", "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["base"] == ["ae1027a6acf1"]
    assert report["replayed"] == 3
    [rev] = report["revisions"]
    assert rev["revision"] == "c0ffee000001"
    assert [s["sql"] for s in rev["statements"]] == ["ALTER TABLE article ADD COLUMN summary VARCHAR(200)"]


def test_base_ref_when_the_pull_request_rewrites_revisions_the_base_has(demo):
    """The base is what the base commit had and the tree still has; its revisions removed or
    edited (not just re-commented) are warnings: a deployed database may be at them already."""
    demo.git("init", "-q", "-b", "main")
    demo.git("add", "-A")
    demo.git("commit", "-qm", "base")
    demo.git("checkout", "-qb", "feature")
    article = demo.versions / "ae1027a6acf1_create_article.py"
    body = article.read_text()
    article.unlink()  # ... and created again under another id
    (demo.versions / "c0ffee000003_create_article.py").write_text(
        body.replace("ae1027a6acf1", "c0ffee000003"))
    user = demo.versions / "1975ea83b712_create_user.py"
    user.write_text("# reviewed 2026-11\n" + user.read_text().replace("\n\n\ndef upgrade", "\n\n\n\ndef upgrade")
                    .replace('"""create user', '"""create the user table'))
    result = demo.check("--base-ref", "main", "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["base"] == ["1975ea83b712"]
    assert [r["revision"] for r in report["revisions"]] == ["c0ffee000003"]
    [removed] = report["findings"]  # the comment, the blank line and the docstring are no edit
    assert (removed["code"], removed["severity"]) == ("revision-removed", "warning")
    assert removed["message"] == ("removes revision ae1027a6acf1 (alembic/versions/ae1027a6acf1_create_article.py), "
                                  "which the base commit has")
    assert "Can't locate revision identified by 'ae1027a6acf1'" in removed["detail"]

    user.write_text(user.read_text().replace('sa.Column("username"', 'sa.Column("nick", sa.String(20)),\n'
                                                                      '        sa.Column("username"'))
    demo.add_model("User.nick = Column(String(20))")
    report = json.loads(demo.check("--base-ref", "main", "--format", "json").out)
    edited = [f for f in report["findings"] if f["code"] == "revision-edited"]
    assert [(f["revision"], f["file"]) for f in edited] == [("1975ea83b712", "alembic/versions/1975ea83b712_create_user.py")]
    assert "put the change in a new revision" in edited[0]["detail"] and edited[0]["severity"] == "warning"

    (demo.root / "pyproject.toml").write_text('[tool.alembic-ci]\nignore = ["revision-removed"]\n'
                                              'fail-on = ["revision-edited"]\n')
    result = demo.check("--base-ref", "main", "--format", "json")
    assert result.code == 1
    assert [(f["code"], f["severity"]) for f in json.loads(result.out)["findings"]] == [("revision-edited", "error")]


def test_base_ref_missing_from_the_clone_says_how_to_fetch(demo):
    demo.git("init", "-q", "-b", "main")
    demo.git("add", "-A")
    demo.git("commit", "-qm", "base")
    result = demo.check("--base-ref", "origin/main")
    assert result.code == 2
    assert "fetch-depth: 0" in result.err and "Traceback" not in result.err


def test_base_limits_reporting_but_replays_from_empty(demo):
    result = demo.check("--base", "1975ea83b712", "--format", "json")
    report = json.loads(result.out)
    assert [r["revision"] for r in report["revisions"]] == ["ae1027a6acf1"]
    assert report["replayed"] == 2


def test_sigterm_mid_replay_drops_the_scratch_database(demo):
    demo.add_revision("51ee90000001", "ae1027a6acf1", "op.execute('SELECT SLEEP(30)')", message="slow")
    proc = spawn([sys.executable, "-m", "alembic_ci", "check", "--database-url", SERVER_URL],
                 cwd=demo.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not scratch_databases([proc.pid]):
        time.sleep(0.1)
    assert scratch_databases([proc.pid]), "the check never created its scratch database"
    time.sleep(1.0)  # well inside SLEEP(30)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "interrupted by SIGTERM" in err and "Traceback" not in err
    assert not scratch_databases([proc.pid])


def test_a_migration_looping_for_ever_is_stopped_at_its_line_despite_except_exception(demo):
    """A batch loop that never ends, sending statements and swallowing every Exception: the revision
    timeout stops it where it stands (a BaseException), and the next revision never runs."""
    demo.add_revision("100900000001", "ae1027a6acf1", """
        import time
        while True:
            try:
                op.execute("SELECT 1")
                time.sleep(0.05)
            except Exception:
                pass
    """, message="backfill")
    demo.add_revision("100900000002", "100900000001", "op.add_column('user', sa.Column('age', sa.Integer))",
                      message="after")
    started = time.monotonic()
    result = demo.check("--revision-timeout", "2", "--format", "json")
    assert time.monotonic() - started < 30
    assert result.code == 1, result.err
    report = json.loads(result.out)
    [finding] = [f for f in report["findings"] if f["code"] == "upgrade-failed"]
    assert finding["revision"] == "100900000001"
    assert finding["message"].endswith("was still running after 2 s (--revision-timeout)")
    assert 17 <= finding["line"] <= 22 and finding["file"].endswith("_backfill.py")
    assert "between statements" in finding["detail"] and "Call stack from the revision file on" in finding["detail"]
    assert "deadline.py" not in finding["detail"]  # the signal handler's frame is not the migration's
    assert "Traceback" not in result.err
    assert [r["revision"] for r in report["revisions"] if r.get("statements")][-1] == "100900000001"


def test_a_statement_past_the_revision_timeout_is_left_to_the_statement_timeout(demo):
    """Interrupting the driver mid-statement would leave the statement running on the server:
    the revision timeout waits, the statement watchdog stops it (error 1317) and frees the server."""
    demo.add_revision("100900000003", "ae1027a6acf1", "op.execute('SELECT SLEEP(30)')", message="slow")
    result = demo.check("--revision-timeout", "1", "--statement-timeout", "3", "--format", "json")
    assert result.code == 1, result.err
    [finding] = [f for f in json.loads(result.out)["findings"] if f["code"] == "upgrade-failed"]
    assert "Query execution was interrupted" in finding["message"], finding
    assert "--revision-timeout" not in finding["message"]


@pytest.mark.parametrize("body, line", [
    # has_table's failed lookup runs inside SQLAlchemy without its error events: nothing to rely on
    # but where the code stands.
    ("import time\nif not sa.inspect(op.get_bind()).has_table('nowhere'):\n    time.sleep(60)", 18),
    # A bare except swallows the first one: it comes again until the migration lets it through.
    ("import time\ntry:\n    time.sleep(60)\nexcept BaseException:\n    pass\ntime.sleep(60)", 21),
])
def test_the_revision_timeout_stops_what_hides_from_it(demo, body, line):
    demo.add_revision("100900000005", "ae1027a6acf1", body, message="hides")
    started = time.monotonic()
    result = demo.check("--revision-timeout", "1", "--format", "json")
    assert time.monotonic() - started < 30
    assert result.code == 1, result.err
    [finding] = [f for f in json.loads(result.out)["findings"] if f["code"] == "upgrade-failed"]
    assert finding["message"].endswith("was still running after 1 s (--revision-timeout)")
    assert finding["line"] == line


def test_operations_past_the_first_1000_statements_are_still_judged(demo):
    demo.add_revision("100900000006", "ae1027a6acf1",
                      "for i in range(1001):\n    op.execute('SELECT 1')\nop.drop_column('user', 'gender')",
                      message="late drop")
    result = demo.check("--base", "ae1027a6acf1", "--format", "json")
    assert result.code == 1, result.err
    report = json.loads(result.out)
    assert "drop-column" in [f["code"] for f in report["findings"]]  # (the models still have the column)
    assert report["revisions"][0]["statements_not_recorded"] == 2


def test_a_revision_keeps_its_first_1000_statements_and_counts_the_rest(demo):
    demo.add_revision("100900000004", "ae1027a6acf1", "for i in range(1003):\n    op.execute(f'SELECT {i}')",
                      message="many")
    result = demo.check("--format", "json")
    assert result.code == 0, result.err
    [rev] = [r for r in json.loads(result.out)["revisions"] if r["revision"] == "100900000004"]
    assert len(rev["statements"]) == 1000 and rev["statements"][-1]["sql"] == "SELECT 999"
    assert rev["statements_not_recorded"] == 3
    text = demo.check()
    assert "    -- and 3 more statements, not recorded (alembic-ci keeps the first 1000 of a revision)" in text.out


def test_embedded_server_runs_the_demo(demo):
    result = demo.run("check", "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["passed"] and report["replayed"] == 2
    assert "starting an embedded server" in result.err


def test_markdown_is_the_comment_body(demo):
    result = demo.check("--format", "markdown")
    assert result.code == 0
    assert result.out.startswith("<!-- alembic-ci: alembic.ini -->")
    assert "migrations check passed" in result.out
    assert "<details><summary><code>ae1027a6acf1</code> create article" in result.out


@pytest.mark.parametrize("url, message", [
    ("postgresql://root@127.0.0.1/", "not MySQL"),
    ("mysql+pymysql://root@127.0.0.1:1/", "no MySQL server answered"),
    ("not a url", "does not parse"),
])
def test_bad_server_urls_are_one_line_errors(demo, url, message):
    result = demo.run("check", "--database-url", url, "--wait", "1")
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") <= 2 and "Traceback" not in result.err


def test_statements_from_get_bind_have_their_parameters_rendered(demo):
    demo.add_revision("da7a00000001", "ae1027a6acf1", """
        bind = op.get_bind()
        if 'user' in sa.inspect(bind).get_table_names():
            bind.execute(sa.text("INSERT INTO user (username, gender) VALUES (:name, :gender)"),
                         {"name": "O'Brien", "gender": "female"})
    """, message="seed admin")
    result = demo.check("--format", "json", "--base", "ae1027a6acf1")
    assert result.code == 0, result.err
    [rev] = json.loads(result.out)["revisions"]
    sql = [s["sql"] for s in rev["statements"]]
    assert "INSERT INTO user (username, gender) VALUES ('O\\'Brien', 'female')" in sql
    # SQLAlchemy's own reflection queries (inspect()) are not part of the upgrade SQL.
    assert not any(s.startswith("SHOW") for s in sql)


def test_percent_signs_read_as_the_server_received_them(demo):
    """The driver turns SQLAlchemy's %% escapes back into % when it interpolates (even no
    parameters), not when the statement is sent without any (no_parameters)."""
    demo.add_revision("da7a00000002", "ae1027a6acf1", """
        op.execute("UPDATE article SET title = '50% off' WHERE title LIKE 'h%llo'")
        op.get_bind().exec_driver_sql("UPDATE article SET title = 'y%%' WHERE id = 0")
        op.get_bind().execute(sa.text("UPDATE article SET title = 'z%' WHERE id = 0")
                              .execution_options(no_parameters=True))
        op.add_column("user", sa.Column("discount", sa.String(10), server_default="5%"))
    """, message="percent")
    demo.add_model('User.discount = Column(String(10), server_default="5%")')
    result = demo.check("--format", "json", "--base", "ae1027a6acf1")
    assert result.code == 0, result.err
    [rev] = json.loads(result.out)["revisions"]
    assert [s["sql"] for s in rev["statements"]] == [
        "UPDATE article SET title = '50% off' WHERE title LIKE 'h%llo'",
        "UPDATE article SET title = 'y%' WHERE id = 0",
        "UPDATE article SET title = 'z%%' WHERE id = 0",  # sent as is: the server got both signs
        "ALTER TABLE user ADD COLUMN discount VARCHAR(10) DEFAULT '5%'",
    ]


def test_lock_wait_on_its_own_second_connection_fails_fast_with_a_hint(demo):
    demo.add_revision("10c000000001", "ae1027a6acf1", """
        bind = op.get_bind()
        other = sa.create_engine(bind.engine.url).connect()  # app code with its own session
        other.exec_driver_sql("BEGIN")
        other.exec_driver_sql("SELECT * FROM user")
        op.add_column('user', sa.Column('email', sa.String(100)))
    """, message="add email")
    start = time.monotonic()
    result = demo.check("--format", "json", "--lock-wait-timeout", "2")
    assert time.monotonic() - start < 60
    assert result.code == 1
    [finding] = [f for f in json.loads(result.out)["findings"] if f["code"] == "upgrade-failed"]
    assert "(1205) Lock wait timeout exceeded" in finding["message"]
    assert "its own second connection" in finding["detail"]


def test_python_error_in_a_migration_says_what_to_do_and_where(demo):
    path = demo.add_revision("7e0000000001", "ae1027a6acf1", """
        settings = {}
        op.add_column('user', sa.Column(settings['column'], sa.String(100)))
    """, message="from settings")
    result = demo.check("--format", "json")
    assert result.code == 1
    [finding] = [f for f in json.loads(result.out)["findings"] if f["code"] == "upgrade-failed"]
    line = _line_of(path, "settings['column']")
    assert finding["message"].endswith("raised KeyError: 'column'") and finding["line"] == line
    advice, trace = finding["detail"].split("\n\n")
    assert advice.startswith("The migration's Python code failed, not the server: fix the revision file")
    assert trace.startswith("Call stack from the revision file on:\n")
    assert f'{path.name}", line {line}, in upgrade' in trace and trace.endswith("KeyError: 'column'")
    assert "alembic/runtime" not in trace  # Alembic's own frames say nothing about the migration
    assert result.err.splitlines()[-1].endswith("The migration's Python code failed, not the server: fix the "
                                                "revision file (`alembic upgrade head` on an empty database "
                                                "raises the same error).")


def test_a_call_stack_through_alembic_names_no_runner_paths_and_no_alembic_ci_frames(demo):
    path = demo.add_revision("7e0000000002", "ae1027a6acf1", "op.alter_column('user', 'username', nullable=True)",
                             message="no existing type")
    result = demo.check("--format", "json")
    [finding] = [f for f in json.loads(result.out)["findings"] if f["code"] == "upgrade-failed"]
    trace = finding["detail"].split("Call stack from the revision file on:\n")[1]
    assert trace.startswith(f'  File "alembic/versions/{path.name}", line 16, in upgrade\n'), trace
    assert 'File "site-packages/alembic/ddl/mysql.py"' in trace  # not the runner's own install path
    assert "alembic_ci" not in trace and "<string>" not in trace and str(demo.root) not in trace


def test_url_from_the_environment_and_output_file(demo, tmp_path):
    out = tmp_path / "report.json"
    result = demo.run("check", "-q", "--format", "json", "--output", str(out),
                      env={"ALEMBIC_CI_DATABASE_URL": SERVER_URL})
    assert result.code == 0, result.err
    assert result.out == ""
    assert json.loads(out.read_text())["server"].startswith("MariaDB")


def test_a_typo_in_the_models_is_named_where_it_is(demo):
    demo.add_model("Article.body = Column(sa_typo)")
    line = len((demo.root / "blog" / "models.py").read_text().splitlines())
    result = demo.check()
    assert result.code == 2
    assert "NameError: name 'sa_typo' is not defined" in result.err
    assert f"(raised at blog/models.py:{line})" in result.err
    assert "Traceback" not in result.err


def test_the_grant_names_the_scratch_database_only_not_a_wildcard_pattern(demo):
    # In a GRANT, `_` matches any character: unescaped, a grant on acitest_<hex>_s would also
    # cover acitestX<hex>Xs. The migration reaches for that neighbour and must be refused.
    token = secrets.token_hex(4)
    scratch, neighbour = f"acitest_{token}_s", f"acitestX{token}Xs"
    with server_connection() as conn, conn.cursor() as cur:
        for name in (scratch, neighbour):
            cur.execute(f"CREATE DATABASE {name}")
    try:
        demo.add_revision("1a7e00000002", "ae1027a6acf1", f"""
            op.create_table('intruder', sa.Column('id', sa.Integer(), primary_key=True), schema='{neighbour}')
        """, message="intrude")
        result = demo.check("--scratch-database", scratch, "--format", "json")
        assert result.code == 1, result.err
        [finding] = [f for f in json.loads(result.out)["findings"] if f["code"] == "upgrade-failed"]
        assert "denied" in finding["message"], finding
        with server_connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                        f"WHERE TABLE_SCHEMA IN ('{scratch}', '{neighbour}')")
            assert cur.fetchall() == ()  # nothing reached the neighbour; the scratch database emptied
    finally:
        with server_connection() as conn, conn.cursor() as cur:
            for name in (scratch, neighbour):
                cur.execute(f"DROP DATABASE IF EXISTS {name}")


def test_a_migration_reaching_into_another_database_is_refused_by_the_server(demo):
    other = f"app_{os.getpid()}_{secrets.token_hex(3)}"
    users = "SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'alembic\\_ci\\_%'"
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {other}")
        cur.execute(users)
        users_before = cur.fetchone()[0]
    try:
        demo.add_revision("1a7e00000001", "ae1027a6acf1", f"""
            op.create_table('intruder', sa.Column('id', sa.Integer(), primary_key=True), schema='{other}')
        """, message="intrude")
        result = demo.check("--format", "json")
        assert result.code == 1, result.err
        [finding] = [f for f in json.loads(result.out)["findings"] if f["code"] == "upgrade-failed"]
        assert "denied" in finding["message"] and finding["revision"] == "1a7e00000001"
        assert "'<scratch user>'@" in finding["message"] and "alembic_ci_" not in finding["message"]
        with server_connection() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='{other}'")
            assert cur.fetchone()[0] == 0
            cur.execute(users)
            assert cur.fetchone()[0] <= users_before, "the user confined to the scratch database was not dropped"
    finally:
        with server_connection() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {other}")


def test_an_async_env_py_gets_the_scratch_database_with_its_async_driver(demo):
    demo.use_async_env("mysql+aiomysql://app:secret@db.internal:3306/app")
    demo.add_revision("a5c000000001", "ae1027a6acf1", """
        op.add_column('article', sa.Column('summary', sa.String(200)))
        op.alter_column('user', 'username', type_=sa.String(10), existing_type=sa.String(20),
                        existing_nullable=False)
        op.bulk_insert(sa.table('user', sa.column('id'), sa.column('username')), [{'id': 7, "username": "O'Hara"}])
    """, message="async")
    demo.add_model("""
        Article.summary = Column(String(200))
        User.__table__.c.username.type.length = 10
    """)
    result = demo.check("--base", "ae1027a6acf1", "--format", "json")
    report = json.loads(result.out)
    assert report["missing_migration"] is None and report["replayed"] == 3, result.out + result.err
    [revision] = report["revisions"]
    add, narrow = [s for s in revision["statements"] if s["sql"].startswith("ALTER")]
    # Parameters rendered by the async driver itself, as the server received them.
    assert any(s["sql"] == "INSERT INTO user (id, username) VALUES (7, 'O\\'Hara')" for s in revision["statements"]), \
        [s["sql"] for s in revision["statements"]]
    # Probed through the async driver's cursor like any other: each verdict from the server.
    assert (add["algorithm"], narrow["algorithm"]) == ("INSTANT", "COPY")
    # ... and watched: the narrowing is a risk, found with the column read before it ran.
    assert [f["code"] for f in report["findings"]] == ["type-change-copies-table"], report["findings"]
    assert "from VARCHAR(20) to VARCHAR(10)" in report["findings"][0]["message"]
    # The snapshot cache saves the base through the async connection, and restores it.
    cache = ["--base", "ae1027a6acf1", "--format", "json", "--cache-dir", str(demo.root / "cache")]
    cold, warm = (json.loads(demo.check(*cache).out) for _ in range(2))
    assert (cold["restored"], warm["restored"], warm["replayed"]) == (0, 2, 1)
    assert warm["findings"] == report["findings"] and warm["revisions"][0]["statements"][0]["sql"] == add["sql"]



def test_a_base_that_depends_on_another_branch_has_that_branch_below_it(demo):
    # `alembic upgrade 0d0000000001` applies the audit branch first (depends_on its label):
    # at that base it is old, not part of the change.
    demo.add_revision("a0d170000001", None, """
        op.create_table('audit_log', sa.Column('id', sa.Integer(), primary_key=True))
    """, message="audit", extra="branch_labels = ('audit',)")
    demo.add_revision("0d0000000001", "ae1027a6acf1", "op.add_column('article', sa.Column('audited', sa.Boolean()))",
                      message="needs audit", extra="depends_on = 'audit'")
    demo.add_revision("0e0000000002", "0d0000000001", "op.create_index('ix_article_audited', 'article', ['audited'])",
                      message="index")
    demo.add_model("""
        from sqlalchemy import Boolean, Table
        Article.audited = Column(Boolean, index=True)
        Table('audit_log', Base.metadata, Column('id', Integer, primary_key=True))
    """)
    result = demo.check("--base", "0d0000000001", "--format", "json")
    report = json.loads(result.out)
    assert result.code == 0, result.out + result.err
    assert [r["revision"] for r in report["revisions"]] == ["0e0000000002"]
    assert report["replayed"] == 5 and report["missing_migration"] is None


def test_an_async_database_url_is_used_for_the_bots_own_connections_too(demo):
    demo.use_async_env("mysql+aiomysql://app:secret@db.internal:3306/app")
    url = SERVER_URL.replace("mysql+pymysql://", "mysql+aiomysql://")
    result = demo.run("check", "--database-url", url, "-q", "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["replayed"] == 2


def test_the_check_writes_nothing_into_the_project(demo):
    """No __pycache__ beside the revision files, env.py or the models, even where Python would
    write them (PYTHONDONTWRITEBYTECODE empty is unset)."""
    before = sorted(p.relative_to(demo.root) for p in demo.root.rglob("*"))
    result = demo.check(env={"PYTHONDONTWRITEBYTECODE": ""})
    assert result.code == 0, result.err
    assert sorted(p.relative_to(demo.root) for p in demo.root.rglob("*")) == before


def _base_with_a_helper(demo) -> None:
    """main: the user table's revision takes its audit column from the project's own module."""
    (demo.root / "blog" / "columns.py").write_text(
        'import sqlalchemy as sa\n\n\ndef audit():\n    return [sa.Column("created_by", sa.String(50))]\n')
    user = demo.versions / "1975ea83b712_create_user.py"
    user.write_text(user.read_text().replace("import sqlalchemy as sa\n", "import sqlalchemy as sa\n"
                                             "from blog.columns import audit\nfrom blog.models import Base\n")
                    .replace('sa.PrimaryKeyConstraint', '*audit(),\n        sa.PrimaryKeyConstraint'))
    demo.add_model("User.created_by = Column(String(50))")
    demo.git("init", "-q", "-b", "main")
    demo.git("add", "-A")
    demo.git("commit", "-qm", "base")


def test_base_ref_when_the_pull_request_moves_a_module_a_base_revision_imports(demo):
    """The base commit's revision files are read, not run: run against this tree, their imports
    would find the module gone."""
    _base_with_a_helper(demo)
    demo.git("checkout", "-qb", "feature")
    demo.git("mv", "blog/columns.py", "blog/audit_columns.py")
    user = demo.versions / "1975ea83b712_create_user.py"
    user.write_text(user.read_text().replace("from blog.columns import", "from blog.audit_columns import"))
    result = demo.check("--base-ref", "main", "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["base"] == ["ae1027a6acf1"] and report["revisions"] == []
    assert [(f["code"], f["revision"]) for f in report["findings"]] == [("revision-edited", "1975ea83b712")]


def test_base_ref_when_the_pull_request_changes_what_a_base_revision_imports(demo):
    _base_with_a_helper(demo)
    demo.git("checkout", "-qb", "feature")
    columns = demo.root / "blog" / "columns.py"
    # A helper added for a new revision, or a model changed with its migration, is no edit of the
    # old revision, though it imports from both modules.
    columns.write_text(columns.read_text() + '\n\ndef stamps():\n    return [sa.Column("at", sa.DateTime())]\n')
    demo.add_revision("c0ffee000004", "ae1027a6acf1",
                      "op.add_column('article', sa.Column('summary', sa.String(200)))", message="summary")
    demo.add_model("Article.summary = Column(String(200))")
    result = demo.check("--base-ref", "main", "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["findings"] == []

    # Changing the columns the user table's revision created: no database at it ever gets them.
    columns.write_text(columns.read_text().replace('return [sa.Column("created_by", sa.String(50))]',
                                                   'return [sa.Column("created_by", sa.String(50)), '
                                                   'sa.Column("updated_by", sa.String(50))]'))
    demo.add_model("User.updated_by = Column(String(50))")
    result = demo.check("--base-ref", "main", "--format", "json")
    assert result.code == 0, result.err
    [edited] = json.loads(result.out)["findings"]
    assert (edited["code"], edited["severity"], edited["file"], edited["revision"]) == (
        "revision-edited", "warning", "blog/columns.py", "1975ea83b712")
    assert edited["message"] == "edits audit(), which revision 1975ea83b712 of the base commit uses"
    assert "put the change in a new revision" in edited["detail"]


def test_base_ref_reports_a_changed_helper_also_when_the_snapshot_cache_skips_its_revision(demo, tmp_path):
    """Imported inside upgrade(), the helper is not loaded when the base is restored from the cache:
    it is found without running it, and the finding stays from push to push."""
    (demo.root / "blog" / "columns.py").write_text(
        'import sqlalchemy as sa\n\n\ndef audit():\n    return [sa.Column("created_by", sa.String(50))]\n')
    demo.add_revision("a0d100000001", "ae1027a6acf1", """
        from blog.columns import audit
        for column in audit():
            op.add_column('user', column)
    """, message="audit")
    demo.add_model("User.created_by = Column(String(50))")
    demo.git("init", "-q", "-b", "main")
    demo.git("add", "-A")
    demo.git("commit", "-qm", "base")
    demo.git("checkout", "-qb", "feature")
    columns = demo.root / "blog" / "columns.py"
    columns.write_text(columns.read_text().replace("String(50)", "String(80)"))
    demo.add_model("User.__table__.c.created_by.type = String(80)")
    runs = [demo.check("--base-ref", "main", "--format", "json", "--cache-dir", str(tmp_path / "cache"))
            for _ in range(2)]
    assert [json.loads(r.out)["restored"] for r in runs] == [0, 3], runs[-1].err
    for run in runs:
        assert [(f["code"], f["file"], f["revision"]) for f in json.loads(run.out)["findings"]] == [
            ("revision-edited", "blog/columns.py", "a0d100000001")], run.out


def test_what_a_revision_uses_of_a_module_is_read_off_its_imports_and_attribute_chains():
    from alembic_ci.gitbase import _changed_definitions, _uses

    uses = _uses(b"import app.db.types\nimport json as j\nfrom blog.columns import audit\nfrom blog import sub\n"
                 b"def upgrade():\n    app.db.types.GUID()\n    sub.helper()\n    j.dumps(1)\n")
    # autogenerate's own import of a custom type: the longest imported module of the chain.
    assert uses["app.db.types"] == {"GUID"} and uses["blog.columns"] == {"audit"}
    assert uses["blog.sub"] == {"helper"} and uses["json"] == {"dumps"}

    helper = b"AUDIT = [1]\nAUDIT += [2]\n\ndef audit():\n    return AUDIT\n\ndef other():\n    pass\n"
    assert _changed_definitions(helper, helper.replace(b"[1]", b"[3]"), {"audit"}) == ["AUDIT"]
    assert _changed_definitions(helper, helper.replace(b"[2]", b"[3]"), {"audit"}) == ["AUDIT"]
    assert _changed_definitions(helper, helper.replace(b"pass", b"return 1"), {"audit"}) == []  # not used
    assert _changed_definitions(helper, b"# moved\n" + helper + b"\ndef new():\n    pass\n", {"audit"}) == []
