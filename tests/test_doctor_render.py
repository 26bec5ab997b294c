"""Doctor's markdown and text: golden files (regenerate with ALEMBIC_CI_UPDATE_GOLDEN=1 and review
the diff). Hostile content is covered in test_security.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alembic_ci.doctor import Diagnosis, PendingRevision, SchemaMatch
from alembic_ci.render.diagnosis import render_diagnosis
from alembic_ci.report import WARNING, Finding, MissingMigration

GOLDEN = Path(__file__).parent / "golden"


def unknown_revision() -> Diagnosis:
    return Diagnosis(
        config="alembic.ini", database="shop at db.internal:3306", state="unknown-revision",
        summary="alembic_version names feedbeef0001, which no revision file defines (Alembic says \"Can't locate "
                "revision identified by 'feedbeef0001'\"); the scripts' head is ae1027a6acf1 "
                "(alembic/versions/ae1027a6acf1_create_article.py, \"create article\"). No revision's schema "
                "matches the database; the closest is ae1027a6acf1 (1 difference)",
        server="MySQL 8.4.3", current=["feedbeef0001"], heads=["ae1027a6acf1"],
        match=SchemaMatch(["ae1027a6acf1"], False, ["column article.extra: in the database, not at ae1027a6acf1"]),
        findings=[Finding("unknown-revision", WARNING,
                          "feedbeef0001: probably a revision applied from another branch or deleted since",
                          detail="Look for it: `git log --all --oneline -S feedbeef0001`.")])


def behind() -> Diagnosis:
    return Diagnosis(
        config="alembic.ini", database="shop at db.internal:3306", state="behind",
        summary="the database is at 1975ea83b712, behind head (ae1027a6acf1): 1 revision to apply",
        fix=["alembic upgrade head"], server="MariaDB 10.11.19", current=["1975ea83b712"], heads=["ae1027a6acf1"],
        pending=[PendingRevision("ae1027a6acf1", "create article", "alembic/versions/ae1027a6acf1_create_article.py")])


def drifted() -> Diagnosis:
    return Diagnosis(
        config="alembic.ini", database="shop at db.internal:3306", state="drifted",
        summary="the database is at head (ae1027a6acf1) and matches the migrations, but the models differ from it "
                "(1 difference): a migration is missing",
        fix=['alembic revision --autogenerate -m "..."', "alembic upgrade head"], server="MariaDB 10.11.19",
        current=["ae1027a6acf1"], heads=["ae1027a6acf1"],
        missing_migration=MissingMigration(
            differences=["article.summary: in the models, not in the database"], imports=[],
            upgrade="def upgrade():\n    op.add_column('article', sa.Column('summary', sa.Text(), nullable=True))",
            downgrade="def downgrade():\n    op.drop_column('article', 'summary')", sql=[]))


def healthy() -> Diagnosis:
    return Diagnosis(config="alembic.ini", database="shop at db.internal:3306", state="at-head",
                     summary="the database is at head (ae1027a6acf1) and matches the models",
                     server="MySQL 8.4.3", current=["ae1027a6acf1"], heads=["ae1027a6acf1"])


CASES = {"doctor-unknown-revision": unknown_revision, "doctor-behind": behind, "doctor-drifted": drifted,
         "doctor-healthy": healthy}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("fmt, suffix", [("markdown", "md"), ("text", "txt")])
def test_golden(name, fmt, suffix):
    text = render_diagnosis(CASES[name](), fmt)
    path = GOLDEN / f"{name}.{suffix}"
    if os.environ.get("ALEMBIC_CI_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} differs: ALEMBIC_CI_UPDATE_GOLDEN=1 to update"


def test_json_is_the_documented_shape():
    import json

    data = json.loads(render_diagnosis(behind(), "json"))
    assert data["schema_version"] == 1 and data["healthy"] is False and data["state"] == "behind"
    assert data["pending"] == [{"revision": "ae1027a6acf1", "message": "create article",
                                "file": "alembic/versions/ae1027a6acf1_create_article.py"}]
    assert set(data) == {"schema_version", "healthy", "config", "database", "state", "summary", "fix", "server",
                         "current", "heads", "pending", "match", "schema_differences", "missing_migration",
                         "findings", "timing"}
