"""Security: text users control cannot break out of the markdown comment (rendered with a real
GFM renderer, raw HTML let through, GitHub's tag filter off, so that only our escaping
stands), and the database password appears in no output."""

from __future__ import annotations

import json
import re

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from alembic_ci.doctor import Diagnosis, PendingRevision, SchemaMatch
from alembic_ci.render import render
from alembic_ci.render.diagnosis import render_diagnosis
from alembic_ci.report import ERROR, WARNING, Finding, MissingMigration, Report, RevisionReport, Statement
from server_objects import temp_user, url_for

HOSTILE = [
    "x</summary></details></details><script>alert(1)</script>",
    "```\n</details>\n<script>alert(2)</script>\n```",
    "~~~\n<img src=x onerror=alert(3)>",
    "@octocat and @acme/security-team please look",
    "`</code><script>alert(4)</script>`",
    "<!-- hide the rest",
    "line\n\n</details>\n\n<iframe src=//evil></iframe>",
    "&lt;script&gt;alert(5)&lt;/script&gt; <SCRIPT>alert(6)</SCRIPT>",
    "**bold** [click](javascript:alert(7)) | table | ---",
]


def _report(evil: str) -> Report:
    return Report(
        config=f"alembic.ini {evil}", server=f"MariaDB {evil}", heads=[f"h{evil}"], base=[f"b{evil}"],
        findings=[Finding("upgrade-failed", ERROR, f"m{evil}", file=f"f{evil}.py", line=3, revision=evil,
                          detail=f"Statement:\n{evil}\n\n{evil}"),
                  Finding("no-target-metadata", WARNING, evil)],
        revisions=[RevisionReport(revision=f"r{evil}", file=f"v/{evil}.py", message=evil, down_revisions=[evil],
                                  statements=[Statement(sql=f"SELECT '{evil}'", error=f"(1064) {evil}")],
                                  applied=True),
                   RevisionReport(revision=evil, file=evil, message=evil, applied=False)],
        missing_migration=MissingMigration(differences=[evil], imports=[evil], upgrade=evil, downgrade=evil,
                                           sql=[evil]),
        replayed=2,
    )


def _diagnosis(evil: str) -> Diagnosis:
    return Diagnosis(
        config=evil, database=f"db {evil}", state="unknown-revision", summary=f"the database {evil}",
        fix=[f"alembic stamp {evil}"], server=evil, current=[evil], heads=[evil],
        pending=[PendingRevision(evil, evil, evil)], match=SchemaMatch([evil], False, [evil]),
        schema_differences=[evil],
        missing_migration=MissingMigration(differences=[evil], imports=[], upgrade=evil, downgrade=evil, sql=[]),
        findings=[Finding("unknown-revision", WARNING, evil, file=evil, detail=evil)],
    )


def _html(markdown: str) -> str:
    return cmarkgfm.markdown_to_html_with_extensions(
        markdown, options=Options.CMARK_OPT_UNSAFE, extensions=["table", "autolink", "strikethrough"])


def _outside_code(html: str) -> str:
    return re.sub(r"<(pre|code)\b.*?</\1>", "", html, flags=re.DOTALL)


def _assert_contained(markdown: str, benign_markdown: str) -> None:
    html, benign = _html(markdown), _html(benign_markdown)
    if markdown.startswith("<!--"):  # the marker: a hidden comment, on the first line, closed there
        first, html = html.split("\n", 1)
        assert first.startswith("<!-- alembic-ci:") and first.endswith(" -->") and first.count("-->") == 1
        assert "--!>" not in first
    for tag in ("script", "img", "iframe"):
        assert not re.search(rf"<{tag}\b", html, re.IGNORECASE), f"<{tag}> escaped into the HTML"
    # The structure is the benign one: same <details> and code blocks, nothing opened or closed early.
    for tag in ("<details>", "</details>", "<summary>", "</summary>", "<pre", "</pre>", "<li>", "<table"):
        assert html.count(tag) == benign.count(tag), tag
    assert "<!--" not in _outside_code(html)
    assert 'href="javascript' not in html
    # No mention survives: GitHub links @name outside code only, and a zero-width joiner breaks it.
    assert not re.search(r"@(?=[A-Za-z0-9])", _outside_code(html))


@pytest.mark.parametrize("evil", HOSTILE)
def test_hostile_text_cannot_break_out_of_the_check_comment(evil):
    _assert_contained(render(_report(evil), "markdown"), render(_report("benign"), "markdown"))


@pytest.mark.parametrize("evil", HOSTILE)
def test_hostile_text_cannot_break_out_of_the_doctor_markdown(evil):
    _assert_contained(render_diagnosis(_diagnosis(evil), "markdown"),
                      render_diagnosis(_diagnosis("benign"), "markdown"))


def test_the_hostile_text_is_still_shown(tmp_path):
    evil = HOSTILE[0]
    html = _html(render(_report(evil), "markdown"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


PASSWORD = "S3cret-Pw-9876"


def test_password_never_in_any_output_of_a_check(demo):
    demo.add_revision("f00000000150", "ae1027a6acf1", """
        op.create_table('comment', sa.Column('id', sa.Integer(), primary_key=True),
            sa.Column('uid', sa.String(20)), sa.ForeignKeyConstraint(['uid'], ['user.id']))
    """, message="add comment")
    with temp_user("ALL PRIVILEGES ON `alembic\\_ci\\_%`.*", password=PASSWORD) as (user, password):
        url = url_for(user, password)
        results = [demo.run("check", "--database-url", url, "--format", fmt) for fmt in ("text", "markdown", "json")]
        results.append(demo.run("check", "--format", "json", env={"ALEMBIC_CI_DATABASE_URL": url}))
    for result in results:
        assert result.code == 1, result.err
        assert PASSWORD not in result.out + result.err
    report = json.loads(results[2].out)
    assert report["findings"][0]["code"] == "upgrade-failed"
    assert report["server"].startswith("MariaDB")


def test_redactor_masks_urls_and_passwords():
    from alembic_ci.redact import Redactor

    redact = Redactor(["mysql+pymysql://u:p%40ss-w0rd@h/", None, "not a url://x:y@"])
    assert redact("failed: mysql+pymysql://u:p%40ss-w0rd@h/ and p@ss-w0rd") == "failed: mysql+pymysql://u:***@h/ and ***"
    assert redact("write it as mysql+pymysql://USER:PASSWORD@HOST:3306/") == \
        "write it as mysql+pymysql://USER:PASSWORD@HOST:3306/"


def test_password_env_py_prints_or_logs_is_masked(demo):
    env = demo.root / "alembic" / "env.py"
    env.write_text(env.read_text().replace(
        "config = context.config",
        "import logging\nconfig = context.config\nprint('connecting to', config.get_main_option('sqlalchemy.url'))\n"
        "logging.getLogger('app').warning('settings: url=%s', config.get_main_option('sqlalchemy.url'))"))
    with temp_user("ALL PRIVILEGES ON `alembic\\_ci\\_%`.*", password=PASSWORD) as (user, password):
        result = demo.run("check", "-q", "--database-url", url_for(user, password), "--format", "json")
    assert result.code == 0, result.err
    assert PASSWORD not in result.out + result.err
    assert f"connecting to mysql+pymysql://{user}:***@" in result.out
    assert f"settings: url=mysql+pymysql://{user}:***@" in result.err
