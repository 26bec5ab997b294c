"""The risk rules, on the real MariaDB server: each fires on its risky operation (at the right
file and line), stays silent on its safe twin, and is suppressed by the inline comment and by
pyproject.toml; `fail-on` decides which ones fail the check."""

from __future__ import annotations

import json
import re

from alembic_ci.rules import HISTORY_CODES, RULES

BASE = "ba5e00000001"
RISKY = "c0ffee0000a1"

# Tables and columns that exist before the change under review (an old, unreported revision).
_BASE_BODY = """
cols = [sa.Column('id', sa.Integer(), primary_key=True)]
for n in ('', '2', '3'):
    cols += [
        sa.Column('name' + n, sa.String(50), nullable=False, server_default='x', comment='shop name'),
        sa.Column('state' + n, sa.Enum('new', 'paid', 'sent')),
        sa.Column('email' + n, sa.String(100)),
        sa.Column('owner' + n + '_id', sa.Integer()),
        sa.Column('note' + n, sa.String(100), nullable=(n != '2')),
    ]
cols += [sa.Column('code', sa.String(63)), sa.Column('code2', sa.String(50)), sa.Column('code3', sa.String(100))]
cols += [sa.Column('col_' + c, sa.Integer()) for c in 'abcde']
cols += [sa.Column('remark', sa.String(100)), sa.Column('body', sa.Text()), sa.Column('body2', sa.Text()), sa.Column('url', sa.String(1000)), sa.Column('url2', sa.String(1000))]
op.create_table('shop', *cols, mysql_charset='utf8mb4')
op.create_table('counter', sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True))
for t in ('old_a', 'old_b', 'old_c', 'old_d'):
    op.create_table(t, sa.Column('id', sa.Integer(), primary_key=True))
"""

# Each rule three times: risky (marked `# risky: CODE`), its safe twin, and suppressed inline.
_RISKY_BODY = """
op.drop_table('old_a')  # risky: drop-table
op.create_table('tmp_t', sa.Column('id', sa.Integer(), primary_key=True))
op.drop_table('tmp_t')
op.drop_table('old_b')  # alembic-ci: ignore[drop-table]

op.drop_column('shop', 'col_a')  # risky: drop-column
op.add_column('shop', sa.Column('tmp_c', sa.Integer()))
op.drop_column('shop', 'tmp_c')
# alembic-ci: ignore[drop-column]
op.drop_column('shop', 'col_b')
with op.batch_alter_table('shop') as batch_op:
    batch_op.drop_column('col_e')  # risky: drop-column

op.rename_table('old_c', 'new_c')  # risky: rename-table
op.create_table('tmp_r', sa.Column('id', sa.Integer(), primary_key=True))
op.rename_table('tmp_r', 'tmp_r2')
op.rename_table('old_d', 'new_d')  # alembic-ci: ignore[rename-table]

op.alter_column('shop', 'col_c', new_column_name='col_c2', existing_type=sa.Integer(), existing_nullable=True)  # risky: rename-column
op.add_column('shop', sa.Column('tmp_n', sa.Integer()))
op.alter_column('shop', 'tmp_n', new_column_name='tmp_n2', existing_type=sa.Integer(), existing_nullable=True)
op.alter_column('shop', 'col_d', new_column_name='col_d2', existing_type=sa.Integer(),  # alembic-ci: ignore[rename-column]
                existing_nullable=True)

op.alter_column('shop', 'code', type_=sa.String(64), existing_type=sa.String(63), existing_nullable=True)  # risky: type-change-copies-table
op.alter_column('shop', 'code2', type_=sa.String(60), existing_type=sa.String(50), existing_nullable=True)
op.alter_column('shop', 'code3', type_=sa.String(90), existing_type=sa.String(100),
                existing_nullable=True)  # alembic-ci: ignore[type-change-copies-table]
op.alter_column('shop', 'remark', type_=sa.String(60), existing_type=sa.String(100), existing_nullable=True)  # risky: type-change-copies-table

op.add_column('shop', sa.Column('n1', sa.Integer(), nullable=False))  # risky: not-null-without-default
op.add_column('shop', sa.Column('n2', sa.Integer(), nullable=False, server_default='0'))
op.add_column('shop', sa.Column('n3', sa.Integer(), nullable=False))  # alembic-ci: ignore[not-null-without-default]

op.alter_column('shop', 'note', nullable=False, existing_type=sa.String(100))  # risky: set-not-null
op.alter_column('shop', 'note2', nullable=True, existing_type=sa.String(100))
op.alter_column('shop', 'note3', nullable=False, existing_type=sa.String(100))  # alembic-ci: ignore[set-not-null]

op.create_index('ux_email', 'shop', ['email'], unique=True)  # risky: unique-on-existing-table
op.create_index('ix_email2', 'shop', ['email2'])
op.create_unique_constraint('uq_email3', 'shop', ['email3'])  # alembic-ci: ignore[unique-on-existing-table]

op.alter_column('shop', 'state', type_=sa.Enum('new', 'sent'), existing_type=sa.Enum('new', 'paid', 'sent'), existing_nullable=True)  # risky: enum-values-changed
op.alter_column('shop', 'state2', type_=sa.Enum('new', 'paid', 'sent', 'void'), existing_type=sa.Enum('new', 'paid', 'sent'), existing_nullable=True)
op.alter_column('shop', 'state3', type_=sa.Enum('paid', 'new', 'sent'), existing_type=sa.Enum('new', 'paid', 'sent'), existing_nullable=True)  # alembic-ci: ignore[enum-values-changed]

op.create_foreign_key('fk_owner', 'shop', 'user', ['owner_id'], ['id'])  # risky: foreign-key-added
op.execute("SET foreign_key_checks = 0")
op.create_foreign_key('fk_owner2', 'shop', 'user', ['owner2_id'], ['id'])
op.execute("SET foreign_key_checks = 1")
op.create_foreign_key('fk_owner3', 'shop', 'user', ['owner3_id'], ['id'])  # alembic-ci: ignore[foreign-key-added]
op.add_column('shop', sa.Column('owner4_id', sa.Integer(), sa.ForeignKey('user.id')))  # risky: foreign-key-added

op.alter_column('shop', 'name', type_=sa.String(60), existing_type=sa.String(50))  # risky: alter-column-drops-attributes
op.alter_column('shop', 'name2', type_=sa.String(60), existing_type=sa.String(50), existing_nullable=False, existing_server_default=sa.text("'x'"), existing_comment='shop name')
op.alter_column('shop', 'name3', type_=sa.String(60), existing_type=sa.String(50))  # alembic-ci: ignore[alter-column-drops-attributes]
op.alter_column('shop', 'email2', nullable=True, existing_type=sa.String(50))  # risky: alter-column-drops-attributes
op.alter_column('counter', 'id', type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)  # risky: alter-column-drops-attributes type-change-copies-table

op.create_index('ix_body', 'shop', ['body'])  # risky: key-too-long
op.create_index('ix_body2', 'shop', ['body2'], mysql_length={'body2': 191})
op.create_index('ix_url', 'shop', ['url'])  # alembic-ci: ignore[key-too-long]
op.create_table('page', sa.Column('id', sa.Integer(), primary_key=True), sa.Column('url', sa.Text()), sa.UniqueConstraint('url', name='uq_page_url'))  # risky: key-too-long
op.add_column('shop', sa.Column('slug', sa.String(1000), unique=True))  # risky: key-too-long
op.create_unique_constraint(None, 'shop', ['url2'])  # risky: key-too-long unique-on-existing-table
# Keys MySQL 8 makes too: a MEMORY table's hash keys, a spatial index, a prefix asked for in a batch.
op.create_table('memo', sa.Column('id', sa.Integer(), primary_key=True), sa.Column('k', sa.String(20), index=True), mysql_engine='MEMORY')
op.execute("CREATE TABLE geo (id INT PRIMARY KEY, g POINT NOT NULL)")  # alembic-ci: ignore[op-execute]
op.create_index('ix_geo', 'geo', ['g'], mysql_prefix='SPATIAL')
with op.batch_alter_table('shop') as batch_op:
    batch_op.create_index('ix_body_batch', ['body'], mysql_length={'body': 100})

op.execute("UPDATE shop SET note2 = 'x'")  # risky: op-execute
op.execute("DELETE FROM shop WHERE id < 0")  # alembic-ci: ignore[op-execute]
"""


def _add_history(demo):
    demo.add_revision(BASE, "ae1027a6acf1", _BASE_BODY, message="shop")
    return demo.add_revision(RISKY, BASE, _RISKY_BODY, message="risky")


def _risks(report: dict) -> list:
    return [f for f in report["findings"] if f["code"] in RULES]


def test_every_rule_fires_on_its_risky_op_only_at_its_line_with_the_users_names(demo):
    path = _add_history(demo)
    result = demo.check("--base", BASE, "--format", "json")
    report = json.loads(result.out)
    assert not [f for f in report["findings"] if f["code"] == "upgrade-failed"], result.out + result.err
    expected = sorted((code, n) for n, line in enumerate(path.read_text().splitlines(), 1)
                      for m in [re.search(r"# risky: ([\w -]+)", line)] if m for code in m.group(1).split())
    assert {code for code, _ in expected} == set(RULES) - HISTORY_CODES  # the fixture covers every op rule
    found = _risks(report)
    assert sorted((f["code"], f["line"]) for f in found) == expected
    for f in found:
        assert f["file"].endswith(path.name) and f["revision"] == RISKY
        assert f["severity"] == RULES[f["code"]].severity
        assert f"# alembic-ci: ignore[{f['code']}]" in f["detail"]
    assert result.code == 1  # the destructive ones fail by default

    # What they say: the user's own tables, columns and the op to write instead.
    by_code: dict = {}
    for f in _risks(report):
        by_code.setdefault(f["code"], []).append(f)
    drop, batch_drop = by_code["drop-column"]
    assert batch_drop["message"] == "drops column `shop.col_e`"
    assert drop["message"] == "drops column `shop.col_a`"
    assert "Unknown column 'col_a'" in drop["detail"] and "op.drop_column('shop', 'col_a')" in drop["detail"]
    widen, narrow, bigint = by_code["type-change-copies-table"]
    assert narrow["message"].startswith("narrows `shop.remark` from VARCHAR(100) to VARCHAR(60)")
    assert "SELECT COUNT(*) FROM shop WHERE CHAR_LENGTH(remark) > 60" in narrow["detail"]
    assert bigint["message"].startswith("changes `counter.id` from INT to BIGINT: MySQL copies the table")
    assert "widens `shop.code` from VARCHAR(63) to VARCHAR(64)" in widen["message"]
    assert "length prefix grows from 1 to 2 bytes" in widen["detail"] and "utf8mb4" in widen["detail"]
    assert "MariaDB 10.11" in widen["detail"] and "answered COPY (Cannot change column type)" in widen["detail"]
    lost, retyped, auto = by_code["alter-column-drops-attributes"]
    assert retyped["message"] == ("op.alter_column('shop', 'email2') without an existing_type matching VARCHAR(100): "
                                  "MySQL's MODIFY silently changes its type from VARCHAR(100) to VARCHAR(50)")
    assert "MODIFY silently drops AUTO_INCREMENT" in auto["message"] and "existing_autoincrement=True" in auto["detail"]
    assert "NOT NULL" in lost["message"] and "the default 'x'" in lost["message"] and "the comment" in lost["message"]
    assert ("op.alter_column('shop', 'name', type_=sa.String(length=60), existing_type=mysql.VARCHAR(length=50), "
            "existing_nullable=False, existing_server_default=sa.text(\"'x'\"), existing_comment='shop name')"
            ) in lost["detail"]
    assert "(mysql.X is `from sqlalchemy.dialects import mysql`.)" in lost["detail"]
    [enum] = by_code["enum-values-changed"]
    assert "removes 'paid' from ENUM `shop.state`" in enum["message"]
    fks = by_code["foreign-key-added"]
    assert [f["message"].split(" with ")[0] for f in fks] == [
        "adds foreign key `fk_owner` from `shop` (owner_id) to `user` (id)",
        "adds foreign key from `shop` (owner4_id) to `user` (id)"]
    assert 'op.execute("SET foreign_key_checks = 0")' in fks[0]["detail"]
    text_index, hashed, added, unnamed = by_code["key-too-long"]
    assert text_index["message"] == ("index `ix_body` on `shop` (body): MySQL 8 refuses it (error 1170: BLOB/TEXT "
                                     "column 'body' used in key specification without a key length)")
    assert "indexed only the first 768 characters of body" in text_index["detail"]
    assert "mysql_length={'body': 191}" in text_index["detail"]
    assert hashed["message"].startswith("index `uq_page_url` on `page` (url): MySQL 8 refuses it (error 1170")
    assert "hash-based unique index (USING HASH)" in hashed["detail"]
    assert added["message"].startswith("index `slug` on `shop` (slug): MySQL 8 refuses it (error 1071: Specified key")
    assert unnamed["message"].startswith("index `url2` on `shop` (url2): MySQL 8 refuses it (error 1071")
    [execute] = by_code["op-execute"]
    assert "UPDATE shop SET note2 = 'x'" in execute["message"] and "cannot analyse" in execute["message"]


def test_pyproject_ignore_silences_the_listed_codes(demo):
    _add_history(demo)
    ignored = ["drop-table", "drop-column", "op-execute"]
    (demo.root / "pyproject.toml").write_text(f"[tool.alembic-ci]\nignore = {json.dumps(ignored)}\n")
    report = json.loads(demo.check("--base", BASE, "--format", "json").out)
    codes = {f["code"] for f in _risks(report)}
    assert codes == set(RULES) - HISTORY_CODES - set(ignored)


_DROP_LEGACY = "op.drop_column('article', 'legacy')"


def _drop_history(demo):
    demo.add_revision("1e9ac0000001", "ae1027a6acf1", "op.add_column('article', sa.Column('legacy', sa.Integer()))",
                      message="legacy")
    demo.add_revision("d2000000000a", "1e9ac0000001", _DROP_LEGACY, message="drop legacy")


def test_fail_on_decides_what_fails_from_the_cli_or_pyproject(demo):
    _drop_history(demo)
    default = demo.check("--base", "1e9ac0000001")
    assert default.code == 1 and "error [drop-column] drops column `article.legacy`" in default.out

    relaxed = demo.check("--base", "1e9ac0000001", "--fail-on", "none")
    assert relaxed.code == 0 and "warning [drop-column]" in relaxed.out, relaxed.out

    (demo.root / "pyproject.toml").write_text('[tool.alembic-ci]\nfail-on = ["op-execute"]\n')
    assert demo.check("--base", "1e9ac0000001").code == 0
    # The command line wins over the file.
    assert demo.check("--base", "1e9ac0000001", "--fail-on", "drop-column,op-execute").code == 1


def test_without_a_base_the_historys_own_drops_are_not_reported(demo):
    # From empty, every table and column is created by a reported revision: dropping it later
    # breaks no code that was running before the history (a push to main stays green).
    _drop_history(demo)
    result = demo.check("--fail-on", "all", "--format", "json")
    assert result.code == 0, result.out
    report = json.loads(result.out)
    assert _risks(report) == [] and len(report["revisions"]) == 4


def test_unknown_codes_in_settings_are_one_line_errors(demo):
    _drop_history(demo)
    bad_cli = demo.check("--fail-on", "drop-tabel")
    assert bad_cli.code == 2 and "--fail-on: unknown risk code 'drop-tabel'" in bad_cli.err
    assert "drop-table" in bad_cli.err and "Traceback" not in bad_cli.err
    (demo.root / "pyproject.toml").write_text('[tool.alembic-ci]\nignroe = ["drop-column"]\n')
    bad_key = demo.check()
    assert bad_key.code == 2 and "unknown setting 'ignroe'" in bad_key.err and bad_key.err.count("\n") == 1


def test_changes_before_the_base_are_not_checked(demo):
    _drop_history(demo)
    result = demo.check("--base", "d2000000000a", "--format", "json")
    assert result.code == 0 and _risks(json.loads(result.out)) == []
