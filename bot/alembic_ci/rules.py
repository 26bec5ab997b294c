"""The risk rules: stable codes, default severities, one-line summaries (docs/risks.md has an
example of each). The checks themselves are in risks.py."""

from __future__ import annotations

from dataclasses import dataclass

from .report import ERROR, WARNING


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str  # by default; `fail-on` decides which codes are errors
    summary: str


RULES = {rule.code: rule for rule in (
    Rule("drop-table", ERROR, "drops a table the running application still uses"),
    Rule("drop-column", ERROR, "drops a column the running application still selects"),
    Rule("rename-table", ERROR, "renames a table under the running application"),
    Rule("rename-column", ERROR, "renames a column under the running application"),
    Rule("key-too-long", ERROR, "creates an index MySQL 8 refuses: a TEXT/BLOB column without a prefix length, "
                                "a key over 3072 bytes (MariaDB shortens or hashes it and goes on)"),
    Rule("type-change-copies-table", WARNING,
         "changes a column type in a way MySQL does by copying the table (narrowing, another type, "
         "a VARCHAR crossing the 255-byte length prefix)"),
    Rule("not-null-without-default", WARNING, "adds a NOT NULL column without a server default to an existing table"),
    Rule("set-not-null", WARNING, "makes an existing nullable column NOT NULL"),
    Rule("unique-on-existing-table", WARNING, "adds a unique index or constraint to an existing table"),
    Rule("enum-values-changed", WARNING, "removes, reorders or inserts ENUM values other than at the end"),
    Rule("foreign-key-added", WARNING, "adds a foreign key to an existing table with foreign_key_checks on"),
    Rule("alter-column-drops-attributes", WARNING,
         "op.alter_column without existing_* arguments: MySQL's MODIFY silently drops NOT NULL, "
         "the default, the comment or AUTO_INCREMENT"),
    Rule("op-execute", WARNING, "op.execute runs SQL alembic-ci cannot analyse (data changes, raw DDL)"),
    Rule("revision-removed", WARNING, "removes a revision the base commit has (--base-ref)"),
    Rule("revision-edited", WARNING,
         "changes the code of a revision the base commit has, or of a module it imports (--base-ref)"),
)}
# Checked on what the tree did to the base commit's revisions (gitbase.py), not on operations.
HISTORY_CODES = frozenset({"revision-removed", "revision-edited"})

DEFAULT_FAIL_ON = frozenset(code for code, rule in RULES.items() if rule.severity == ERROR)
