"""`alembic-ci doctor` on real databases in the classic states (the seed tutorial's errors)."""

from __future__ import annotations

import json
import subprocess
import sys

import pymysql
import pytest
import sqlalchemy as sa

from conftest import SERVER_URL
from server_objects import execute, temp_database, temp_user, url_for

PASSWORD = "D0ctor-Secret-pw"


def live_url(database: str) -> str:
    return sa.engine.make_url(SERVER_URL).set(database=database).render_as_string(hide_password=False)


def migrate(demo, database: str, *args: str) -> None:
    """The user's own `alembic` command against the live database."""
    ini = demo.root / "live.ini"
    text = (demo.root / "alembic.ini").read_text()
    ini.write_text("\n".join(f"sqlalchemy.url = {live_url(database)}" if line.startswith("sqlalchemy.url")
                             else line.replace("%", "%%") if line.startswith("sqlalchemy") else line
                             for line in text.splitlines()) + "\n")
    subprocess.run([sys.executable, "-m", "alembic", "-c", str(ini), *args], cwd=demo.root, check=True,
                   capture_output=True)


def doctor(demo, database_url: str, *extra: str, scratch: bool = True):
    args = ["doctor", "-q", "--database-url", database_url, *extra]
    if scratch:
        args += ["--scratch-url", SERVER_URL]
    return demo.run(*args)


def diagnose(demo, database: str, *extra: str) -> tuple[int, dict]:
    result = doctor(demo, live_url(database), "--format", "json", *extra)
    assert "Traceback" not in result.err, result.err
    return result.code, json.loads(result.out)


def fingerprint(database: str) -> dict:
    """Everything a write could change: definitions, data checksums, table metadata."""
    with pymysql.connect(**_root(), database=database, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME, TABLE_TYPE, ENGINE, AUTO_INCREMENT, CREATE_TIME, UPDATE_TIME, "
                    "TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY 1", (database,))
        tables = cur.fetchall()
        found = {"tables": tables}
        for name, *_ in tables:
            cur.execute(f"SHOW CREATE TABLE `{name}`")
            found[f"create {name}"] = cur.fetchall()
            cur.execute(f"CHECKSUM TABLE `{name}` EXTENDED")
            found[f"checksum {name}"] = cur.fetchall()
        for view in ("COLUMNS", "STATISTICS", "ROUTINES", "TRIGGERS", "VIEWS"):
            schema_column = "ROUTINE_SCHEMA" if view == "ROUTINES" else (
                "TRIGGER_SCHEMA" if view == "TRIGGERS" else "TABLE_SCHEMA")
            cur.execute(f"SELECT * FROM information_schema.{view} WHERE {schema_column} = %s", (database,))
            found[view] = sorted(map(repr, cur.fetchall()))
    return found


def _root() -> dict:
    url = sa.engine.make_url(SERVER_URL)
    return dict(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "")


@pytest.fixture
def live():
    with temp_database("acitest_live") as name:
        yield name


def test_tables_without_alembic_version_as_a_select_only_user(demo, live):
    migrate(demo, live, "upgrade", "head")
    execute("INSERT INTO user (username, gender) VALUES ('ann', 'female')",
            "INSERT INTO article (title, uid) VALUES ('hello', 1)", "DROP TABLE alembic_version", database=live)
    before = fingerprint(live)
    with temp_user(f"SELECT ON `{live}`.*", password=PASSWORD) as (user, password):
        url = url_for(user, password, live)
        with pytest.raises(pymysql.err.OperationalError):  # the grants really are read-only
            with pymysql.connect(host=_root()["host"], port=_root()["port"], user=user, password=password,
                                 database=live) as conn, conn.cursor() as cur:
                cur.execute("DELETE FROM article")
        outputs = {fmt: doctor(demo, url, "--format", fmt) for fmt in ("text", "markdown", "json")}
    assert fingerprint(live) == before
    for fmt, result in outputs.items():
        assert result.code == 1, (fmt, result.err)
        assert PASSWORD not in result.out + result.err
        assert "Traceback" not in result.err
    report = json.loads(outputs["json"].out)
    assert report["state"] == "unversioned"
    assert report["current"] is None
    assert report["match"] == {"heads": ["ae1027a6acf1"], "exact": True, "differences": [], "same_schema": []}
    assert report["fix"] == ["alembic stamp ae1027a6acf1"]
    text = outputs["text"].out
    assert "the database has 2 tables but alembic_version does not exist" in text
    assert "table ... already exists" in text and "matches ae1027a6acf1 exactly" in text
    assert "  alembic stamp ae1027a6acf1" in text
    assert "```sh\nalembic stamp ae1027a6acf1\n```" in outputs["markdown"].out


def test_behind_head_lists_the_pending_revisions_in_order(demo, live):
    demo.add_revision("c0ffee000001", "ae1027a6acf1",
                      "op.add_column('article', sa.Column('summary', sa.String(200)))", message="add summary")
    migrate(demo, live, "upgrade", "1975ea83b712")
    result = doctor(demo, live_url(live), "--format", "json")
    code, report = result.code, json.loads(result.out)
    assert code == 1
    # The one line on stderr, whatever the format: the state and the commands to run.
    [line] = result.err.strip().splitlines()
    assert line.startswith("alembic-ci: failed: the database is at 1975ea83b712, behind head")
    assert line.endswith("Fix: `alembic upgrade head`")
    assert report["state"] == "behind"
    assert report["current"] == ["1975ea83b712"]
    assert [(p["revision"], p["message"]) for p in report["pending"]] == [
        ("ae1027a6acf1", "create article"), ("c0ffee000001", "add summary")]
    assert report["fix"] == ["alembic upgrade head"]
    assert "Target database is not up to date" in report["summary"]
    assert report["schema_differences"] == []


def test_behind_with_a_schema_that_differs_from_its_revision_warns(demo, live):
    migrate(demo, live, "upgrade", "1975ea83b712")
    execute("CREATE TABLE article (id INT PRIMARY KEY)", database=live)  # created by hand
    code, report = diagnose(demo, live)
    assert report["state"] == "behind"
    assert report["schema_differences"] == ["table article: in the database, not at 1975ea83b712"]
    assert "so the upgrade may fail" in report["summary"]


def test_unknown_revision_finds_the_revision_whose_schema_the_database_has(demo, live):
    migrate(demo, live, "upgrade", "1975ea83b712")
    execute("UPDATE alembic_version SET version_num = 'feedbeef0001'", database=live)
    code, report = diagnose(demo, live)
    assert code == 1
    assert report["state"] == "unknown-revision"
    assert report["current"] == ["feedbeef0001"]
    assert "Can't locate revision identified by 'feedbeef0001'" in report["summary"]
    assert "head is ae1027a6acf1" in report["summary"]
    assert report["match"]["heads"] == ["1975ea83b712"] and report["match"]["exact"]
    assert report["fix"] == ["alembic stamp --purge 1975ea83b712", "alembic upgrade head"]
    [finding] = report["findings"]
    assert "git log --all" in finding["detail"] and "do not delete alembic_version rows" in finding["detail"]


def test_no_exact_match_names_the_closest_revision_and_the_differences(demo, live):
    migrate(demo, live, "upgrade", "head")
    execute("DELETE FROM alembic_version", "ALTER TABLE article DROP COLUMN title",
            "CREATE INDEX ix_user_name ON user (username)", database=live)
    code, report = diagnose(demo, live)
    assert report["state"] == "unversioned"
    assert report["current"] == []
    assert "alembic_version is empty" in report["summary"]
    match = report["match"]
    assert match["heads"] == ["ae1027a6acf1"] and not match["exact"]
    assert sorted(match["differences"]) == [
        "column article.title: at ae1027a6acf1, not in the database",
        "index ix_user_name on user (username): in the database, not at ae1027a6acf1",
    ]
    assert "the closest is ae1027a6acf1 (2 differences)" in report["summary"]
    assert report["fix"] == []


def test_a_data_only_revision_after_the_match_is_named(demo, live):
    demo.add_revision("da7a00000001", "ae1027a6acf1", "op.execute(\"UPDATE user SET gender = 'male'\")",
                      message="backfill gender")
    migrate(demo, live, "upgrade", "ae1027a6acf1")
    execute("DROP TABLE alembic_version", database=live)
    code, report = diagnose(demo, live)
    assert report["match"] == {"heads": ["ae1027a6acf1"], "exact": True, "differences": [],
                               "same_schema": ["da7a00000001"]}
    assert report["fix"] == ["alembic stamp ae1027a6acf1", "alembic upgrade head"]
    assert "so do da7a00000001, which change no table" in report["summary"]


def test_at_head_and_matching_the_models_is_healthy(demo, live):
    migrate(demo, live, "upgrade", "head")
    result = doctor(demo, live_url(live))
    assert result.code == 0, result.err
    assert result.out.startswith("HEALTHY")
    assert "the database is at head (ae1027a6acf1) and matches the models" in result.out


def test_at_head_but_the_models_changed_names_the_missing_migration(demo, live):
    migrate(demo, live, "upgrade", "head")
    demo.add_model("Article.summary = Column(String(200))")
    code, report = diagnose(demo, live)
    assert code == 1
    assert report["state"] == "drifted"
    assert report["schema_differences"] == []
    assert report["missing_migration"]["differences"] == ["article.summary: in the models, not in the database"]
    assert "op.add_column('article'" in report["missing_migration"]["upgrade"]
    assert report["fix"] == ['alembic revision --autogenerate -m "..."', "alembic upgrade head"]


def test_at_head_but_changed_by_hand(demo, live):
    migrate(demo, live, "upgrade", "head")
    execute("ALTER TABLE user MODIFY username VARCHAR(40) NOT NULL, ADD COLUMN nickname VARCHAR(20)", database=live)
    code, report = diagnose(demo, live)
    assert report["state"] == "drifted"
    assert report["schema_differences"] == [
        "column user.username: VARCHAR(40) NOT NULL in the database, VARCHAR(20) NOT NULL at ae1027a6acf1",
        "column user.nickname: in the database, not at ae1027a6acf1"]
    assert "changed by hand" in report["summary"]
    # (Alembic before 1.12 compares no types unless env.py asks: the new column is found on every version.)
    assert "user.nickname: in the database, not in the models" in report["missing_migration"]["differences"]


def test_at_a_head_another_head_depends_on_is_at_head(demo, live):
    """Expand/contract: contract depends on expand, so `alembic upgrade heads` leaves one row,
    the contract head, and Alembic calls expand an "effective head"."""
    demo.add_revision("e0e000000001", "ae1027a6acf1", "op.add_column('article', sa.Column('summary', sa.String(200)))",
                      message="expand", extra="branch_labels = ('expand',)")
    demo.add_revision("c0c000000001", "ae1027a6acf1", "op.create_index('ix_article_title', 'article', ['title'])",
                      message="contract", extra="branch_labels = ('contract',)\ndepends_on = 'e0e000000001'")
    demo.add_model("""
        from sqlalchemy import Index
        Article.summary = Column(String(200))
        Index('ix_article_title', Article.title)
    """)
    migrate(demo, live, "upgrade", "heads")
    assert execute("SELECT version_num FROM alembic_version", database=live) == [("c0c000000001",)]
    code, report = diagnose(demo, live)
    assert (code, report["state"], report["pending"]) == (0, "at-head", []), report["summary"]
    assert report["summary"] == ("the database is at head (c0c000000001 + e0e000000001) and matches the models")

    # Its schema is still compared with what the migrations create.
    execute("ALTER TABLE article ADD COLUMN body TEXT", database=live)
    code, report = diagnose(demo, live)
    assert (code, report["state"]) == (1, "drifted")
    assert report["schema_differences"] == ["column article.body: in the database, not at c0c000000001"]


@pytest.mark.parametrize("version_table", [False, True])
def test_empty_database(demo, live, version_table):
    if version_table:
        execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)", database=live)
    code, report = diagnose(demo, live)
    assert code == 1
    assert report["state"] == "empty"
    assert report["current"] == ([] if version_table else None)
    assert ("an empty alembic_version" if version_table else "no alembic_version") in report["summary"]
    assert [p["revision"] for p in report["pending"]] == ["1975ea83b712", "ae1027a6acf1"]
    assert report["fix"] == ["alembic upgrade head"]


def test_embedded_scratch_server_by_default_and_nothing_left(demo, live, tmp_path):
    migrate(demo, live, "upgrade", "1975ea83b712")
    execute("DROP TABLE alembic_version", database=live)
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    result = demo.run("doctor", "--database-url", live_url(live), env={"TMPDIR": str(scratch_tmp)})
    assert result.code == 1, result.err
    assert "starting an embedded server" in result.err
    assert "matches 1975ea83b712 exactly" in result.out
    assert "alembic stamp 1975ea83b712" in result.out and "alembic upgrade head" in result.out
    assert list(scratch_tmp.iterdir()) == []


def test_the_read_only_connection_refuses_writes_twice(live):
    from alembic_ci.doctor import ReadOnlyDatabase
    from alembic_ci.errors import ServerError

    database = ReadOnlyDatabase(sa.engine.make_url(live_url(live)), 1, lambda message: None)
    try:
        with database.connect() as conn:
            with pytest.raises(ServerError, match="not a read"):
                conn.exec_driver_sql("CREATE TABLE t (id INT)")
            # Past the guard, the session itself is read-only: the server refuses.
            raw = conn.connection.cursor()
            with pytest.raises(pymysql.err.OperationalError, match="READ ONLY"):
                raw.execute("CREATE TABLE t (id INT)")
    finally:
        database.dispose()
    assert execute("SHOW TABLES", database=live) == []


def test_a_history_that_stops_replaying_still_gets_a_diagnosis(demo, live):
    demo.add_revision("f00000000150", "ae1027a6acf1", """
        op.create_table('comment', sa.Column('id', sa.Integer(), primary_key=True),
            sa.Column('uid', sa.String(20)), sa.ForeignKeyConstraint(['uid'], ['user.id']))
    """, message="add comment")
    migrate(demo, live, "upgrade", "ae1027a6acf1")
    code, report = diagnose(demo, live)
    assert code == 1
    assert report["state"] == "behind"
    assert [p["revision"] for p in report["pending"]] == ["f00000000150"]
    [finding] = report["findings"]
    assert finding["code"] == "replay-stopped" and finding["severity"] == "warning"
    assert "stops replaying at f00000000150" in finding["message"] and "errno: 150" in finding["message"]
