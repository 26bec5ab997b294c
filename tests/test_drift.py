"""The drift check: Alembic's autogenerate with env.py's own options, MySQL equivalences
absorbed, model errors named instead of crashing. On the real MariaDB server."""

from __future__ import annotations

import json


def _report(demo, *args):
    result = demo.check("--format", "json", *args)
    return result, json.loads(result.out)


def _compare_types(demo, extra: str = "") -> None:
    env = demo.root / "alembic" / "env.py"
    env.write_text(env.read_text().replace(
        "context.configure(connection=connection, target_metadata=target_metadata)",
        f"context.configure(connection=connection, target_metadata=target_metadata, compare_type=True{extra})"))


def test_float53_stored_as_double_and_boolean_as_tinyint_are_not_drift(demo):
    _compare_types(demo)
    demo.add_revision("b0000000001a", "ae1027a6acf1", """
        op.add_column('user', sa.Column('score', sa.Float(precision=53)))
        op.add_column('user', sa.Column('active', sa.Boolean(), nullable=False))
    """, message="score and active")
    demo.add_model("""
        from sqlalchemy import Boolean, Float
        User.score = Column(Float(precision=53))
        User.active = Column(Boolean, nullable=False)
    """)
    result, report = _report(demo)
    assert result.code == 0, result.out
    assert report["missing_migration"] is None


def test_a_real_type_change_is_still_drift(demo):
    _compare_types(demo)
    demo.add_model("""
        from sqlalchemy import Float
        Article.title.property.columns[0].type = String(80)
    """)
    result, report = _report(demo)
    assert result.code == 1
    assert report["missing_migration"]["differences"] == [
        "article.title: type is VARCHAR(50) in the migrations, VARCHAR(80) in the models"]
    assert report["missing_migration"]["sql"] == ["ALTER TABLE article MODIFY title VARCHAR(80) NOT NULL"]
    assert "from sqlalchemy.dialects import mysql" in report["missing_migration"]["imports"]


def test_env_py_include_object_is_honoured(demo):
    env = demo.root / "alembic" / "env.py"
    env.write_text(env.read_text().replace(
        "context.configure(connection=connection, target_metadata=target_metadata)",
        "context.configure(connection=connection, target_metadata=target_metadata,\n"
        "                      include_object=lambda obj, name, kind, reflected, compare_to: name != 'audit')"))
    demo.add_model("""
        class Audit(Base):
            __tablename__ = "audit"
            id = Column(Integer, primary_key=True)
    """)
    result, report = _report(demo)
    assert result.code == 0, result.out
    assert report["missing_migration"] is None


def test_string_without_length_is_a_model_error_naming_model_and_column(demo):
    demo.add_model("User.bio = Column(String())")
    result, report = _report(demo)
    assert result.code == 1
    [error] = [f for f in report["findings"] if f["code"] == "model-error"]
    assert error["message"].startswith("User.bio (user.bio): VARCHAR requires a length on dialect mysql")
    assert error["file"] == "blog/models.py" and error["line"] > 1
    # The rest of the comparison still ran: the column is reported missing too.
    assert report["missing_migration"]["differences"] == ["user.bio: in the models, no migration creates it"]
    assert report["missing_migration"]["sql"][0].startswith("-- AddColumnOp cannot be rendered for MySQL")


def test_a_foreign_key_to_a_misspelt_table_is_a_model_error_saying_so(demo):
    demo.add_model("""
        class Comment(Base):
            __tablename__ = "comment"
            id = Column(Integer, primary_key=True)
            article_id = Column(ForeignKey("articles.id"))  # the table is `article`
    """)
    result, report = _report(demo)
    assert result.code == 1
    [error] = [f for f in report["findings"] if f["code"] == "model-error"]
    assert error["message"].startswith("Comment.article_id (comment.article_id): ForeignKey('articles.id') "
                                       "references nothing in the models"), error
    assert "'articles'" in error["message"] and "ForeignKey('users.id')" in error["detail"]
    assert "VARCHAR" not in error["message"] + error["detail"] and error["file"] == "blog/models.py"


def test_env_py_without_target_metadata_still_replays_and_warns(demo):
    env = demo.root / "alembic" / "env.py"
    env.write_text(env.read_text().replace("target_metadata = Base.metadata", "target_metadata = None"))
    result, report = _report(demo)
    assert result.code == 0
    [warning] = report["findings"]
    assert warning["code"] == "no-target-metadata" and warning["severity"] == "warning"
    assert report["replayed"] == 2


def test_a_comparison_hook_that_raises_is_a_finding_not_a_crash(demo):
    env = demo.root / "alembic" / "env.py"
    env.write_text(env.read_text().replace(
        "context.configure(connection=connection, target_metadata=target_metadata)",
        "context.configure(connection=connection, target_metadata=target_metadata,\n"
        "                      include_object=lambda *a: 1 / 0 if a[2] == 'column' else True)"))
    result, report = _report(demo)
    assert result.code == 1
    [finding] = report["findings"]
    assert finding["code"] == "drift-check-failed" and "ZeroDivisionError" in finding["message"]


def test_an_indexed_new_column_creates_its_index_once(demo):
    demo.add_model("""
        from sqlalchemy import DateTime
        Article.created_at = Column(DateTime, index=True)
    """)
    result, report = _report(demo)
    assert result.code == 1
    assert report["missing_migration"]["sql"] == [
        "ALTER TABLE article ADD COLUMN created_at DATETIME",
        "CREATE INDEX ix_article_created_at ON article (created_at)"]


def test_a_server_default_difference_reads_as_sql(demo):
    """A model's server_default=func.now() is shown as MySQL reads it, not as a Python object whose
    address would change the pull request's comment on every push."""
    env = demo.root / "alembic" / "env.py"
    env.write_text(env.read_text().replace(
        "context.configure(connection=connection, target_metadata=target_metadata)",
        "context.configure(connection=connection, target_metadata=target_metadata, compare_server_default=True)"))
    demo.add_revision("b0000000002a", "ae1027a6acf1", """
        op.add_column('article', sa.Column('created_at', sa.DateTime(), server_default=sa.text("'2020-01-01'")))
        op.add_column('article', sa.Column('views', sa.Integer(), server_default=sa.text("0")))
        op.add_column('article', sa.Column('share', sa.String(10), server_default="100%"))
    """, message="created at")
    demo.add_model("""
        from sqlalchemy import DateTime, Integer, func, text
        Article.created_at = Column(DateTime, server_default=func.now())
        Article.views = Column(Integer, server_default=text("1"))
        Article.share = Column(String(10), server_default=text("'50%'"))
    """)
    result, report = _report(demo)
    assert result.code == 1
    assert report["missing_migration"]["differences"] == [
        "article.created_at: default is \"'2020-01-01 00:00:00'\" in the migrations, 'now()' in the models",
        "article.views: default is '0' in the migrations, '1' in the models",
        "article.share: default is \"'100%'\" in the migrations, \"'50%'\" in the models"]
