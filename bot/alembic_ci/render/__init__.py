"""Renderers: a Report in, text out. ``text`` for terminals, ``markdown`` for the PR comment
and job summary, ``json`` for machines (schema: docs/json-schema.md)."""

from __future__ import annotations

from ..report import Report

FORMATS = ("text", "markdown", "json")


def render(report: Report, fmt: str, color: bool = False) -> str:
    if fmt == "json":
        from .json import render_json
        return render_json(report)
    if fmt == "markdown":
        from .markdown import render_markdown
        return render_markdown(report)
    from .text import render_text
    return render_text(report, color=color)
