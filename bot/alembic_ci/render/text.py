"""Plain text for terminals; colour only when asked (a TTY without NO_COLOR)."""

from __future__ import annotations

import textwrap

from typing import Callable, Iterable

from ..report import ERROR, Finding, Report
from ..words import plural
from .verdict import describe, measured_on, not_recorded, terminated

_COLORS = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2", "cyan": "36"}
Paint = Callable[..., str]


def painter(color: bool) -> Paint:
    """paint(text, *styles): ANSI styles when ``color``, the text as is otherwise."""
    def paint(text: str, *styles: str) -> str:
        return f"\033[{';'.join(_COLORS[s] for s in styles)}m{text}\033[0m" if color else text
    return paint


def finding_lines(findings: Iterable[Finding], paint: Paint) -> list[str]:
    out = []
    for finding in findings:
        tag = paint("error", "red", "bold") if finding.severity == ERROR else paint("warning", "yellow", "bold")
        where = f" ({finding.file}{':' + str(finding.line) if finding.line else ''})" if finding.file else ""
        out.append("")
        out.append(f"{tag} [{finding.code}] {finding.message}{where}")
        if finding.detail:
            out.append(textwrap.indent(finding.detail, "    "))
    return out


def render_text(report: Report, color: bool = False) -> str:
    paint = painter(color)

    out: list[str] = []
    errors = [f for f in report.findings if f.severity == ERROR]
    if report.passed:
        out.append(paint("PASSED", "green", "bold") + f"  {report.config}: migrations replay cleanly and match the models")
    else:
        out.append(paint("FAILED", "red", "bold") + f"  {report.config}: {len(errors)} {plural('problem', len(errors))}")
    facts = []
    if report.server:
        facts.append(f"server {report.server}")
    if report.heads:
        facts.append(plural("head", len(report.heads)) + " " + ", ".join(report.heads))
    if report.server:
        facts.append(f"{report.replayed} {plural('revision', report.replayed)} replayed"
                     + (f" after {report.restored} restored from the snapshot cache" if report.restored else ""))
    if facts:
        out.append(paint("  " + " · ".join(facts), "dim"))

    out.extend(finding_lines(report.findings, paint))

    missing = report.missing_migration
    if missing is not None:
        out.append("")
        out.append(paint("Missing migration", "bold"))
        out.extend(f"  - {d}" for d in missing.differences)
        out.append("")
        out.append(paint("  The migration Alembic would generate:", "bold"))
        code = "\n".join(missing.imports) + "\n\n\n" + missing.upgrade + "\n\n\n" + missing.downgrade
        out.append(textwrap.indent(code, "    "))
        out.append(paint("  The SQL it would run:", "bold"))
        out.extend(textwrap.indent(terminated(s), "    ") for s in missing.sql)

    if report.revisions:
        out.append("")
        scope = f"after {', '.join(report.base)}" if report.base else "from empty"
        count = len(report.revisions)
        out.append(paint(f"Upgrade SQL ({count} {plural('revision', count)} {scope})", "bold"))
        note = measured_on(report)
        if note:
            out.append(textwrap.fill(note, 100, initial_indent="  ", subsequent_indent="  "))
        failed = {f.revision for f in report.findings if f.code == "upgrade-failed"}
        for rev in report.revisions:
            out.append("")
            state = "" if rev.applied else paint("  [failed]" if rev.revision in failed else "  [not reached]", "red")
            out.append(paint(f"  {rev.revision}", "cyan", "bold") + f"  {rev.message}  " + paint(rev.file, "dim") + state)
            if rev.applied and not rev.statements:
                out.append(paint("    (no statements)", "dim"))
            for statement in rev.statements:
                verdict = describe(statement)
                if verdict:
                    out.append(paint(f"    -- {verdict}", "red" if statement.blocks_writes else "green"))
                out.append(textwrap.indent(terminated(statement.sql), "    "))
                if statement.error:
                    out.append(paint(f"    -- refused by the server: {statement.error}", "red"))
            if rev.statements_not_recorded:
                out.append(paint(f"    -- and {not_recorded(rev)}", "dim"))
    return "\n".join(out) + "\n"
