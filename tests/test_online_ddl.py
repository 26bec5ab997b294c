"""The online-DDL verdict: asked of the real MariaDB server during the replay, each statement
still running exactly once."""

from __future__ import annotations

import json
import re
import textwrap

from alembic_ci.online_ddl import table_of

BASE = "ae1027a6acf1"

# Fails the migration (an upgrade-failed finding) unless the schema holds exactly what the
# statements before it should have made: each ran once, none was lost to the probing.
_ASSERT_SCHEMA = """
bind = op.get_bind()
def one(sql):
    return bind.exec_driver_sql(sql).scalar()
assert one("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
           "AND TABLE_NAME = 'article' AND INDEX_NAME = 'ix_article_title'") == 1, "index count"
assert one("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
           "AND TABLE_NAME = 'article' AND COLUMN_NAME = 'summary'") == "varchar(100)", "summary type"
"""


def _statements(report: dict, revision: str) -> list:
    [rev] = [r for r in report["revisions"] if r["revision"] == revision]
    return rev["statements"]


def test_each_verdict_class_is_measured_and_each_statement_runs_once(demo):
    demo.add_revision("d0d0d0000001", BASE, textwrap.dedent("""
        op.add_column('article', sa.Column('summary', sa.String(200)))
        op.create_index('ix_article_title', 'article', ['title'])
        op.alter_column('article', 'summary', type_=sa.String(100), existing_type=sa.String(200),
                        existing_nullable=True)
    """) + _ASSERT_SCHEMA, message="verdicts")
    demo.add_model("""
        from sqlalchemy import Index
        Article.summary = Column(String(100))
        Index('ix_article_title', Article.title)
    """)
    result = demo.check("--base", BASE, "--format", "json")
    report = json.loads(result.out)
    # The column is new in this change: no risk finding, and the migration's own checks passed.
    assert result.code == 0 and report["findings"] == [], result.out + result.err
    assert report["heads"] == ["d0d0d0000001"] and report["replayed"] == 3
    add, index, narrow = _statements(report, "d0d0d0000001")[:3]

    assert add["sql"] == "ALTER TABLE article ADD COLUMN summary VARCHAR(200)"
    assert (add["algorithm"], add["lock"], add["blocks_writes"], add["refusals"]) == ("INSTANT", "NONE", False, [])
    assert add["table"] == "article"

    # MariaDB has NOCOPY between INSTANT and INPLACE; an index never is instant.
    assert index["sql"] == "CREATE INDEX ix_article_title ON article (title)"
    assert (index["algorithm"], index["lock"], index["blocks_writes"]) == ("NOCOPY", "NONE", False)
    assert index["refusals"] == []  # not asked for INSTANT: no server builds an index instantly

    assert narrow["sql"] == "ALTER TABLE article MODIFY summary VARCHAR(100) NULL"
    assert (narrow["algorithm"], narrow["blocks_writes"]) == ("COPY", True)
    assert narrow["lock"] == "SHARED"  # the server accepted ALGORITHM=COPY, LOCK=SHARED: reads go on
    # INSTANT's refusal says "Try ALGORITHM=COPY": NOCOPY and INPLACE are not asked.
    assert narrow["refusals"] == [{"algorithm": "INSTANT", "lock": None, "reason": "Cannot change column type"}]

    # Our own probing never shows up as statements; the revision's own queries do.
    sqls = [s["sql"] for s in _statements(report, "d0d0d0000001")]
    assert not any("ALGORITHM=" in s for s in sqls)
    assert all(s["algorithm"] is None for s in _statements(report, "d0d0d0000001")[3:])


def test_drop_index_is_probed_as_its_alter_table_twin(demo):
    demo.add_revision("d0d0d0000002", BASE, """
        op.create_index('ix_tmp', 'article', ['title'])
        op.drop_index('ix_tmp', table_name='article')
        assert op.get_bind().exec_driver_sql(
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
            "AND INDEX_NAME = 'ix_tmp'").scalar() == 0
    """, message="drop index")
    result = demo.check("--base", BASE, "--format", "json")
    assert result.code == 0, result.out + result.err
    drop = _statements(json.loads(result.out), "d0d0d0000002")[1]
    assert drop["sql"] == "DROP INDEX ix_tmp ON article"
    assert (drop["algorithm"], drop["lock"], drop["table"]) == ("NOCOPY", "NONE", "article")


def test_a_statement_the_server_refuses_is_reported_once_with_its_own_error(demo):
    # A duplicate index name: no probe variant may hide the server's real error.
    demo.add_revision("d0d0d0000003", BASE, """
        op.create_index('ix_dup', 'article', ['title'])
        op.create_index('ix_dup', 'article', ['uid'])
    """, message="duplicate index")
    result = demo.check("--base", BASE, "--format", "json")
    assert result.code == 1
    report = json.loads(result.out)
    [failed] = [f for f in report["findings"] if f["code"] == "upgrade-failed"]
    assert "1061" in failed["message"] and "Duplicate key name 'ix_dup'" in failed["message"]
    statements = _statements(report, "d0d0d0000003")
    assert [s["sql"] for s in statements] == ["CREATE INDEX ix_dup ON article (title)",
                                              "CREATE INDEX ix_dup ON article (uid)"]
    assert statements[1]["error"].startswith("(1061)")


def test_an_alter_the_rows_refuse_is_the_failure_with_its_statement(demo):
    """The probe's variants fail on the data as the statement does: the statement is recorded with
    the error all the same, after the table was read for the alter_column."""
    demo.add_revision("d0d0d0000008", BASE, """
        op.execute("INSERT INTO user (username) VALUES ('ann')")
        op.add_column('user', sa.Column('email', sa.String(100)))
        op.alter_column('user', 'email', nullable=False, existing_type=sa.String(100))
    """, message="email required")
    result = demo.check("--base", BASE, "--format", "json")
    report = json.loads(result.out)
    [failed] = [f for f in report["findings"] if f["code"] == "upgrade-failed"]
    assert "(1265) Data truncated for column 'email'" in failed["message"]
    assert failed["detail"].startswith("Statement:\nALTER TABLE user MODIFY email VARCHAR(100) NOT NULL")
    assert "UPDATE ... SET col = <default> WHERE col IS NULL" in failed["detail"]
    modify = _statements(report, "d0d0d0000008")[-1]
    assert modify["sql"] == "ALTER TABLE user MODIFY email VARCHAR(100) NOT NULL"
    assert modify["error"] == "(1265) Data truncated for column 'email' at row 1"


def test_an_alter_no_variant_can_express_runs_as_written_without_a_verdict(demo):
    # No ALGORITHM clause may follow PARTITION BY: every variant is a syntax error.
    demo.add_revision("d0d0d0000005", BASE, """
        op.create_table('event', sa.Column('id', sa.Integer(), primary_key=True))
        op.execute("ALTER TABLE event PARTITION BY HASH(id) PARTITIONS 4")
        assert op.get_bind().exec_driver_sql(
            "SELECT COUNT(*) FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = 'event'").scalar() == 4
    """, message="partition")
    result = demo.check("--base", BASE, "--format", "json")
    report = json.loads(result.out)
    assert not [f for f in report["findings"] if f["code"] == "upgrade-failed"], result.out
    partition = _statements(report, "d0d0d0000005")[1]
    assert partition["sql"] == "ALTER TABLE event PARTITION BY HASH(id) PARTITIONS 4"
    assert (partition["table"], partition["algorithm"], partition["refusals"]) == ("event", None, [])


_COUNT_ALTERS = """
import sys
bind = op.get_bind()
def alters():
    return int(bind.exec_driver_sql("SHOW SESSION STATUS LIKE 'Com_alter_table'").fetchone()[1])
before = alters()
op.alter_column('user', 'username', type_=sa.String({length}), existing_type=sa.String(20), existing_nullable=False)
print("ALTERS-SENT {rev}", alters() - before, file=sys.stderr)
"""


def test_only_the_reported_revisions_are_probed(demo):
    # The same COPY change in an old revision and a reported one: the server counts the ALTERs
    # it received (refused ones too). The old one got exactly one, the reported one the probes.
    demo.add_revision("01d000000001", BASE, _COUNT_ALTERS.format(length=19, rev="old"), message="old")
    demo.add_revision("0e0000000002", "01d000000001", _COUNT_ALTERS.format(length=18, rev="new"), message="new")
    result = demo.check("--base", "01d000000001", "--format", "json")
    sent = dict(re.findall(r"ALTERS-SENT (\w+) (\d+)", result.err))
    # INSTANT refused ("Try ALGORITHM=COPY"), so COPY with LOCK=SHARED next, accepted: the
    # NOCOPY and INPLACE variants are not sent.
    assert sent == {"old": "1", "new": "2"}, result.err
    report = json.loads(result.out)
    assert [r["revision"] for r in report["revisions"]] == ["0e0000000002"]
    modify = [s for s in _statements(report, "0e0000000002") if s["sql"].startswith("ALTER")]
    assert [s["algorithm"] for s in modify] == ["COPY"]


def test_text_and_markdown_say_how_each_statement_runs_and_who_answered(demo):
    demo.add_revision("d0d0d0000004", BASE, """
        op.add_column('article', sa.Column('summary', sa.String(200)))
        op.alter_column('user', 'username', type_=sa.String(10), existing_type=sa.String(20),
                        existing_nullable=False)
    """, message="mixed")
    text = demo.check("--base", BASE).out
    assert "    -- instant: metadata only\n    ALTER TABLE article ADD COLUMN summary VARCHAR(200);" in text
    assert ("    -- COPY: rebuilds `user` row by row, blocks writes while it runs "
            "(INSTANT refused: Cannot change column type)\n    ALTER TABLE user MODIFY username") in text
    assert "asked of MariaDB 10.11" in text and "MySQL 8 in production may answer differently" in text

    markdown = demo.check("--base", BASE, "--format", "markdown").out
    assert "mixed — 2 statements · 🔒 blocks writes to <code>user</code></summary>" in markdown
    assert "-- instant: metadata only\nALTER TABLE article ADD COLUMN summary VARCHAR(200);" in markdown
    assert markdown.count("MySQL 8 in production may answer differently") == 1


def test_a_statement_the_migration_catches_is_still_reported_with_its_error(demo):
    """"Some databases have it already": production may run that ALTER, so the reviewer sees it."""
    demo.add_revision("d0d0d0000006", BASE, """
        # Reading the table for this alter_column once left SQLAlchemy 2 deaf to the errors after it.
        op.alter_column('article', 'title', type_=sa.String(60), existing_type=sa.String(50), existing_nullable=False)
        try:
            op.add_column('article', sa.Column('title', sa.String(50)))
        except sa.exc.OperationalError:
            pass
        try:  # alembic-ci: ignore[op-execute]
            op.execute("INSERT INTO article (title, uid) VALUES ('orphan', 999)")
        except sa.exc.IntegrityError:
            pass
        op.create_index('ix_article_title', 'article', ['title'])
    """, message="idempotent")
    demo.add_model("""
        from sqlalchemy import Index
        Article.__table__.c.title.type = String(60)
        Index('ix_article_title', Article.title)
    """)
    result = demo.check("--base", BASE, "--format", "json")
    report = json.loads(result.out)
    assert result.code == 0 and report["findings"] == [], result.out + result.err
    _, duplicate, orphan, index = _statements(report, "d0d0d0000006")
    assert duplicate["sql"] == "ALTER TABLE article ADD COLUMN title VARCHAR(50)"
    assert duplicate["error"] == "(1060) Duplicate column name 'title'"
    assert orphan["error"].startswith("(1452) Cannot add or update a child row")
    assert index["sql"] == "CREATE INDEX ix_article_title ON article (title)" and index["error"] is None

    text = demo.check("--base", BASE).out
    assert ("    ALTER TABLE article ADD COLUMN title VARCHAR(50);\n"
            "    -- refused by the server: (1060) Duplicate column name 'title'\n") in text


def test_a_comment_before_raw_ddl_does_not_hide_how_it_runs(demo):
    demo.add_revision("d0d0d0000007", BASE, '''
        op.execute("/* longer titles */ ALTER TABLE article MODIFY title VARCHAR(80) NOT NULL;")  # alembic-ci: ignore[op-execute]
        op.execute("-- searched by title\\nCREATE INDEX ix_article_title ON article (title)")  # alembic-ci: ignore[op-execute]
        op.execute("/* backfill */ UPDATE article SET title = title")
    ''', message="commented")
    demo.add_model("""
        from sqlalchemy import Index
        Article.__table__.c.title.type = String(80)
        Index('ix_article_title', Article.title)
    """)
    result = demo.check("--base", BASE, "--format", "json")
    report = json.loads(result.out)
    [data] = report["findings"]  # read as the data change it is, not as raw DDL
    assert data["message"].startswith("op.execute runs a data change alembic-ci cannot analyse: /* backfill */")
    modify, index, _ = _statements(report, "d0d0d0000007")
    assert (modify["table"], modify["algorithm"], modify["blocks_writes"]) == ("article", "COPY", True)
    assert (index["table"], index["algorithm"], index["blocks_writes"]) == ("article", "NOCOPY", False)
    # The statement's own semicolon is not doubled.
    text = demo.check("--base", BASE).out
    assert "    /* longer titles */ ALTER TABLE article MODIFY title VARCHAR(80) NOT NULL;\n" in text


def test_comments_before_the_statement_are_skipped_and_an_executable_one_is_not():
    assert table_of("/* a */ /* b ** c */\n-- why\n#\n--\n  ALTER TABLE `a b` ADD c INT") == "a b"
    assert table_of("-- x\n" * 200 + "/* y */ " * 200 + "DROP INDEX ix ON t") == "t"
    assert table_of("--x\nALTER TABLE t ADD c INT") is None  # "--x" is no comment in MySQL
    assert table_of("/*!50000 ALTER TABLE t ADD c INT */") is None  # MySQL runs it: not ours to rewrite
    assert table_of("/* x */ " * 200 + "SELECT 1") is None  # and promptly (no backtracking through the comments)
