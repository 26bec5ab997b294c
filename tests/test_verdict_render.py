"""How the verdicts read in the PR comment and the terminal: a golden file for the markdown
(regenerate with ALEMBIC_CI_UPDATE_GOLDEN=1 and review the diff), and the structure as GitHub's
engine (cmarkgfm) renders it: every verdict inside the SQL block, next to its statement."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import cmarkgfm
from cmarkgfm.cmark import Options

from alembic_ci.render.markdown import render_markdown
from alembic_ci.render.text import render_text
from alembic_ci.render.verdict import describe
from alembic_ci.report import WARNING, Finding, Refusal, Report, RevisionReport, Statement

GOLDEN = Path(__file__).parent / "golden" / "verdicts.md"


def verdict_report(server: str = "MariaDB 10.11.19") -> Report:
    # As the probes leave them: INSTANT refused with "Try ALGORITHM=COPY", an index not asked for INSTANT.
    copy_refusals = [Refusal("INSTANT", None, "Cannot change column type")]
    return Report(
        config="alembic.ini", server=server, heads=["3f1c2a9b7d10"], base=["ae1027a6acf1"], replayed=3,
        findings=[Finding("type-change-copies-table", WARNING,
                          "narrows `user.username` from VARCHAR(20) to VARCHAR(10): MySQL copies the table and "
                          "blocks writes while it runs", file="alembic/versions/3f1c2a9b7d10_summary.py", line=18,
                          revision="3f1c2a9b7d10", detail="Why: ...\n\nSafe way:\n...")],
        revisions=[RevisionReport(
            "3f1c2a9b7d10", "alembic/versions/3f1c2a9b7d10_summary.py", "article summary", ["ae1027a6acf1"], [
                Statement("ALTER TABLE article ADD COLUMN summary VARCHAR(200)", table="article",
                          algorithm="INSTANT", lock="NONE"),
                Statement("CREATE INDEX ix_article_title ON article (title)", table="article", algorithm="NOCOPY",
                          lock="NONE"),
                Statement("ALTER TABLE user MODIFY username VARCHAR(10) NOT NULL", table="user", algorithm="COPY",
                          lock="SHARED", blocks_writes=True, refusals=copy_refusals),
                Statement("UPDATE article SET summary = title"),
            ], True)])


def test_markdown_matches_the_golden_file():
    rendered = render_markdown(verdict_report())
    if os.environ.get("ALEMBIC_CI_UPDATE_GOLDEN"):
        GOLDEN.write_text(rendered)
    assert rendered == GOLDEN.read_text()


def test_each_verdict_sits_above_its_statement_inside_the_sql_block():
    page = cmarkgfm.github_flavored_markdown_to_html(render_markdown(verdict_report()), options=Options.CMARK_OPT_UNSAFE)
    [block] = re.findall(r'<pre lang="sql"><code>(.*?)</code></pre>', page, re.DOTALL)
    lines = html.unescape(block).splitlines()
    assert lines[:2] == ["-- instant: metadata only", "ALTER TABLE article ADD COLUMN summary VARCHAR(200);"]
    assert lines[3:5] == ["-- NOCOPY: no table copy, `article` stays readable and writable",
                          "CREATE INDEX ix_article_title ON article (title);"]
    assert lines[6:8] == ["-- COPY: rebuilds `user` row by row, blocks writes while it runs "
                          "(INSTANT refused: Cannot change column type)",
                          "ALTER TABLE user MODIFY username VARCHAR(10) NOT NULL;"]
    assert lines[9:] == ["UPDATE article SET summary = title;"]  # not DDL: no verdict
    summary = re.findall(r"<summary>(.*?)</summary>", page)[-1]
    assert summary.endswith("4 statements · 🔒 blocks writes to <code>user</code>")


def test_who_answered_is_said_once_and_mysql_gets_no_mariadb_caveat():
    text = render_text(verdict_report())
    assert text.count("asked of MariaDB 10.11.19 itself") == 1
    assert text.count("MySQL 8 in production may answer differently") == 1
    mysql = render_markdown(verdict_report(server="MySQL 8.4.3"))
    assert "asked of MySQL 8.4.3 itself" in mysql and "may answer differently" not in mysql
    no_ddl = verdict_report()
    no_ddl.revisions[0].statements = [Statement("UPDATE article SET summary = title")]
    assert "asked of" not in render_markdown(no_ddl) and "asked of" not in render_text(no_ddl)


def test_a_refusal_names_the_lock_it_was_asked_with():
    """A fulltext index: INPLACE is accepted, but not without a lock; "INPLACE refused" above an
    INPLACE verdict would contradict itself."""
    statement = Statement("CREATE FULLTEXT INDEX ix_body ON article (body)", table="article", algorithm="INPLACE",
                          lock="SHARED", blocks_writes=True,
                          refusals=[Refusal("NOCOPY", "NONE", "Fulltext index creation requires a lock"),
                                    Refusal("INPLACE", "NONE", "Fulltext index creation requires a lock")])
    assert describe(statement) == ("INPLACE: in place (may rebuild it), blocks writes to `article` while it runs "
                                   "(INPLACE with LOCK=NONE refused: Fulltext index creation requires a lock)")
