"""Renderers of a doctor Diagnosis: text for terminals, markdown (same escaping filters as the
check report), json (``Diagnosis.to_dict``)."""

from __future__ import annotations

import json
import textwrap

from ..doctor import Diagnosis
from ..report import ERROR
from ..words import plural
from .markdown import Budget
from .markdown import _env as markdown_env
from .text import finding_lines, painter


def render_diagnosis(diagnosis: Diagnosis, fmt: str, color: bool = False) -> str:
    if fmt == "json":
        return json.dumps(diagnosis.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return markdown_env.get_template("doctor.md.j2").render(d=diagnosis, ERROR=ERROR, budget=Budget())
    return _text(diagnosis, color)


def _text(d: Diagnosis, color: bool) -> str:
    paint = painter(color)

    out = []
    verdict = paint("HEALTHY", "green", "bold") if d.healthy else paint(d.state.upper(), "red" if d.state == "cannot-diagnose" else "yellow", "bold")
    out.append(f"{verdict}  {d.database}: {d.summary}")
    facts = [f"server {d.server}"] if d.server else []
    if d.current is not None:
        facts.append("alembic_version: " + (", ".join(d.current) or "empty"))
    if d.heads:
        facts.append(plural("head", len(d.heads)) + " " + ", ".join(d.heads))
    if facts:
        out.append(paint("  " + " · ".join(facts), "dim"))
    if d.fix:
        out.append("")
        out.append(paint("Fix:", "bold"))
        out.extend(f"  {command}" for command in d.fix)
    if d.pending:
        out.append("")
        out.append(paint(f"Pending revisions ({len(d.pending)}, in upgrade order):", "bold"))
        out.extend(f"  {paint(p.revision, 'cyan')}  {p.message}  {paint(p.file, 'dim')}" for p in d.pending)
    if d.match is not None and d.match.differences:
        out.append("")
        out.append(paint("Differences from the closest revision's schema:", "bold"))
        out.extend(f"  - {line}" for line in d.match.differences)
    if d.schema_differences:
        out.append("")
        out.append(paint("Differences from the schema the migrations create:", "bold"))
        out.extend(f"  - {line}" for line in d.schema_differences)
    if d.missing_migration is not None:
        out.append("")
        out.append(paint("The models differ from the database:", "bold"))
        out.extend(f"  - {line}" for line in d.missing_migration.differences)
        out.append(paint("  The migration Alembic would generate:", "bold"))
        out.append(textwrap.indent(d.missing_migration.upgrade, "    "))
    out.extend(finding_lines(d.findings, paint))
    return "\n".join(out) + "\n"
