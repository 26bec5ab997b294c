"""The PR comment's markdown: golden files (regenerate with ALEMBIC_CI_UPDATE_GOLDEN=1 and review
the diff), and the structure as GitHub's own engine (cmarkgfm) renders it, with hostile content:
every <details> closed, no SQL outside its code block, no raw HTML, no live @-mention."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from alembic_ci.render.markdown import render_cannot_check, render_markdown
from alembic_ci.report import ERROR, WARNING, Finding, MissingMigration, Report, RevisionReport, Statement

GOLDEN = Path(__file__).parent / "golden"
HOSTILE = "``` </details> <script>alert(1)</script> @org/team -->"


def passed_report() -> Report:
    return Report(
        config="alembic.ini", server="MySQL 8.4.3", heads=["ae1027a6acf1"], base=["1975ea83b712"], replayed=2,
        revisions=[RevisionReport(
            revision="ae1027a6acf1", file="alembic/versions/ae1027a6acf1_create_article.py",
            message="create article", down_revisions=["1975ea83b712"], applied=True,
            statements=[Statement("CREATE TABLE article (\n    id INTEGER NOT NULL AUTO_INCREMENT,\n"
                                  "    title VARCHAR(50) NOT NULL,\n    PRIMARY KEY (id)\n)")])])


def failed_report() -> Report:
    return Report(
        config="services/api/alembic.ini", server="MySQL 8.4.3", heads=["c0ffee000002", "d00d00000001"],
        base=["ae1027a6acf1"], replayed=4,
        findings=[
            Finding("multiple-heads", ERROR, "2 heads: c0ffee000002, d00d00000001",
                    file="services/api/alembic/versions/d00d00000001_x.py", line=9, revision="d00d00000001",
                    detail="Merge them: `alembic merge -m \"merge heads\" c0ffee000002 d00d00000001`"),
            Finding("missing-migration", ERROR, "the models differ from the migrations (1 difference): "
                    "table tag: in the models, no migration creates it",
                    detail="Generate the migration: `alembic revision --autogenerate -m \"...\"`"),
            Finding("no-target-metadata", WARNING, "a warning without detail"),
        ],
        missing_migration=MissingMigration(
            differences=["table tag: in the models, no migration creates it"],
            imports=["from alembic import op", "import sqlalchemy as sa"],
            upgrade="def upgrade():\n    op.create_table('tag', sa.Column('id', sa.Integer(), nullable=False))",
            downgrade="def downgrade():\n    op.drop_table('tag')",
            sql=["CREATE TABLE tag (\n    id INTEGER NOT NULL AUTO_INCREMENT,\n    PRIMARY KEY (id)\n)"]),
        revisions=[
            RevisionReport("c0ffee000002", "services/api/alembic/versions/c0ffee000002_summary.py", "summary",
                           ["ae1027a6acf1"], [Statement("ALTER TABLE article ADD COLUMN summary TEXT")], True),
            RevisionReport("d00d00000001", "services/api/alembic/versions/d00d00000001_x.py", "refused",
                           ["ae1027a6acf1"],
                           [Statement("ALTER TABLE nope ADD COLUMN x INT",
                                      error="(1146, \"Table 'alembic_ci_x.nope' doesn't exist\")")], True),
            RevisionReport("e00e00000001", "services/api/alembic/versions/e00e00000001_y.py", "not reached",
                           ["d00d00000001"], [], False),
        ])


def hostile_report() -> Report:
    sql = f"INSERT INTO note (body) VALUES ('{HOSTILE}\n````\n</details>\n</code></pre>\n@org/team')"
    return Report(
        config="weird --> `dir`/alembic.ini", server=f"MySQL 8 {HOSTILE}", heads=[HOSTILE], base=["a"],
        replayed=1,
        findings=[Finding("upgrade-failed", ERROR, f"message {HOSTILE}", file=f"versions/{HOSTILE}.py", line=3,
                          detail=f"detail {HOSTILE}\n````\n</details>"),
                  # Names quoted as alembic-ci quotes them, `like this`: each a code span, whatever it holds.
                  Finding("drop-table", ERROR, "drops table `<script>alert(1)</script>` for @org/team and "
                          "`a --> <b>` then `@org/team`")],
        missing_migration=MissingMigration(
            differences=[f"difference {HOSTILE}"], imports=[f"# {HOSTILE}"],
            upgrade=f"def upgrade():\n    op.execute(\"{HOSTILE}\")", downgrade="def downgrade():\n    pass",
            sql=[sql]),
        revisions=[RevisionReport(f"rev {HOSTILE}", f"versions/{HOSTILE}.py", f"message {HOSTILE}",
                                  [], [Statement(sql, error=f"error {HOSTILE}")], True)])


def huge_report() -> Report:
    report = passed_report()
    report.revisions = [RevisionReport(
        f"{i:012x}", f"alembic/versions/{i:012x}_data.py", f"data {i}", [], True,
        ) for i in range(3)]
    for i, revision in enumerate(report.revisions):
        revision.applied = True
        revision.statements = [Statement(f"INSERT INTO t VALUES ({i}, {j}, '{'x' * 60}')") for j in range(800)]
    return report


CASES = {
    "passed": lambda: render_markdown(passed_report()),
    "failed": lambda: render_markdown(failed_report()),
    "hostile": lambda: render_markdown(hostile_report()),
    "trimmed": lambda: render_markdown(huge_report(), max_bytes=6000,
                                       full_report="[the job summary](https://github.com/o/r/actions/runs/1)"),
    "cannot-check": lambda: render_cannot_check(
        "alembic.ini", "the base commit 'abc' is not in this clone. Fetch the history: actions/checkout with "
        "`fetch-depth: 0`", log="[the job log](https://github.com/o/r/actions/runs/1)"),
}


@pytest.mark.parametrize("name", CASES)
def test_golden(name):
    text = CASES[name]()
    path = GOLDEN / f"{name}.md"
    if os.environ.get("ALEMBIC_CI_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} differs: ALEMBIC_CI_UPDATE_GOLDEN=1 to update"


def test_statements_past_the_first_1000_are_counted_under_the_sql():
    report = passed_report()
    report.revisions[0].statements_not_recorded = 1
    text = render_markdown(report)
    assert "PRIMARY KEY (id)\n);\n```\n\n_And 1 more statement, not recorded (alembic-ci keeps the first 1000 " \
           "of a revision)._" in text
    assert "not recorded" not in render_markdown(passed_report())


class Structure(HTMLParser):
    """Records the tag structure and which text lands inside code blocks."""

    VOID = {"br", "hr", "img", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list = []
        self.problems: list = []
        self.tags: list = []
        self.comments: list = []
        self.code_text: list = []
        self.prose: list = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        (self.code_text if {"pre", "code"} & set(self.stack) else self.prose).append(data)

    def handle_comment(self, data):
        self.comments.append(data)


def structure(markdown: str) -> Structure:
    # UNSAFE keeps raw HTML as written: the worst case, before GitHub's own sanitizer.
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    parsed = Structure()
    parsed.feed(html)
    parsed.close()
    return parsed


@pytest.mark.parametrize("name", CASES)
def test_structure_survives_github_rendering(name):
    markdown = CASES[name]()
    html = structure(markdown)
    assert not html.problems and not html.stack, (html.problems, html.stack)
    assert html.tags.count("details") == markdown.count("<details><summary>")
    assert not {"script", "img", "iframe"} & set(html.tags)
    # The marker is one whole HTML comment, the first thing in the body.
    assert markdown.startswith("<!-- alembic-ci: ") and html.comments[0].startswith(" alembic-ci: ")
    assert len(html.comments) == 1
    # No live @-mention in prose (GitHub never links them inside code).
    assert not re.search(r"@[A-Za-z0-9]", "".join(html.prose))


def test_hostile_sql_and_code_stay_inside_their_code_blocks():
    report = hostile_report()
    html = structure(render_markdown(report))
    code = "".join(html.code_text)
    prose = "".join(html.prose)
    sql = report.revisions[0].statements[0].sql
    assert code.count(sql) == 2  # the revision's upgrade SQL and the missing migration's
    assert sql not in prose and "</code></pre>\n@org/team" not in prose
    assert 'op.execute("``` </details>' in code and "````\n</details>" in code


def test_budget_trims_sql_evenly_and_keeps_everything_else():
    report = huge_report()
    full = render_markdown(report)
    assert len(full) > 100_000 and "trimmed" not in full
    trimmed = render_markdown(report, max_bytes=20_000, full_report="the summary")
    assert 15_000 < len(trimmed.encode()) <= 20_000
    assert "> ✂️ Trimmed to fit on GitHub: the full report is in the summary." in trimmed
    for revision in report.revisions:
        assert f"<code>{revision.revision}</code>" in trimmed
        assert revision.statements[0].sql in trimmed  # each block keeps its beginning
        assert revision.statements[-1].sql not in trimmed
    assert trimmed.count("more lines") == 3
    assert re.search(r"_✂️ [\d,]+ more lines \([\d,]+ characters\) trimmed: see the summary\._", trimmed)


def test_budget_shortens_lists_when_blocks_alone_are_not_enough():
    report = huge_report()
    for revision in report.revisions:
        del revision.statements[5:]
    report.revisions = report.revisions * 200
    trimmed = render_markdown(report, max_bytes=20_000)
    assert len(trimmed.encode()) <= 20_000
    shown = trimmed.count("<details>")
    assert 10 < shown < 600
    assert f"_✂️ {600 - shown:,} more revisions: see the job summary._" in trimmed
    assert not structure(trimmed).problems


def test_budget_falls_back_to_the_verdict():
    report = failed_report()
    report.heads = [f"{i:012x}" for i in range(200)]
    text = render_markdown(report, max_bytes=1000)
    assert text.startswith("<!-- alembic-ci: services/api/alembic.ini -->\n### ❌ alembic-ci: 2 problems")
    assert "too large to show here: see the job summary" in text
