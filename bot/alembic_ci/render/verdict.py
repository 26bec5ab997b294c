"""The server's online-DDL verdict on a statement, in plain words (shared by text and markdown)."""

from __future__ import annotations

from typing import Optional

from ..report import MAX_RECORDED, Report, RevisionReport, Statement
from ..words import plural


def describe(statement: Statement) -> Optional[str]:
    """E.g. "instant: metadata only", "COPY: rebuilds `article`, blocks writes while it runs"."""
    table, algorithm, lock = f"`{statement.table}`", statement.algorithm, statement.lock
    if algorithm is None:
        return None
    if algorithm == "INSTANT":
        words = "instant: metadata only"
    elif algorithm == "COPY":
        blocked = "reads and writes" if lock == "EXCLUSIVE" else "writes"
        words = f"COPY: rebuilds {table} row by row, blocks {blocked} while it runs"
    else:
        method = "NOCOPY: no table copy" if algorithm == "NOCOPY" else "INPLACE: in place (may rebuild it)"
        if lock == "NONE":
            words = f"{method}, {table} stays readable and writable"
        else:
            blocked = "reads and writes" if lock == "EXCLUSIVE" else "writes"
            words = f"{method}, blocks {blocked} to {table} while it runs"
    if statement.refusals:
        last = statement.refusals[-1]
        asked = last.algorithm + (f" with LOCK={last.lock}" if last.lock else "")
        words += f" ({asked} refused: {last.reason})"
    return words


def terminated(sql: str) -> str:
    """The statement as it would be pasted into a client: one semicolon at its end."""
    return sql if sql.rstrip().endswith(";") else sql + ";"


def not_recorded(rev: RevisionReport) -> str:
    """The statements a revision sent past those kept, e.g. from a loop stopped by --revision-timeout."""
    n = rev.statements_not_recorded
    return f"{n} more {plural('statement', n)}, not recorded (alembic-ci keeps the first {MAX_RECORDED} of a revision)"


def annotated_sql(statements: list) -> str:
    """The statements, each DDL one preceded by its verdict as an SQL comment."""
    parts = []
    for statement in statements:
        verdict = describe(statement)
        parts.append((f"-- {verdict}\n" if verdict else "") + terminated(statement.sql))
    return "\n\n".join(parts)


def measured_on(report: Report) -> Optional[str]:
    """One sentence on who gave the verdicts, when any statement has one."""
    if not any(s.algorithm for rev in report.revisions for s in rev.statements):
        return None
    sentence = (f"How each ALTER runs was asked of {report.server} itself (ALGORITHM=INSTANT first, "
                f"then costlier methods until it accepted one).")
    if report.server.startswith("MariaDB"):
        sentence += (" MySQL 8 in production may answer differently: point --database-url at a "
                     "MySQL 8 server for its own verdicts.")
    return sentence
