"""Markdown for the pull-request comment and the job summary (GitHub-flavoured).

Everything users control (revision messages, identifiers, SQL, server errors) goes through
the filters below: it can neither leave its code block or <details>, nor inject HTML, nor
@-mention anyone.
"""

from __future__ import annotations

import html
import re

import jinja2

from ..report import ERROR, Report

MARKER_PREFIX = "<!-- alembic-ci:"

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+!|~<>])")


def _neutralize_mentions(text: str) -> str:
    # A zero-width joiner after "@" keeps the text readable and stops the notification.
    return text.replace("@", "@\u200d")


def md_text(value: object) -> str:
    """Inline text: HTML-escaped, markdown punctuation escaped, one line."""
    text = " ".join(str(value).split())
    text = _MD_SPECIAL.sub(r"\\\1", text.replace("&", "&amp;"))
    return _neutralize_mentions(text)


def html_text(value: object) -> str:
    """Text inside an HTML element such as <summary>, where markdown is not parsed."""
    return _neutralize_mentions(html.escape(" ".join(str(value).split()), quote=True))


def code_span(value: object) -> str:
    """An inline code span, whatever backticks the value holds."""
    text = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(value: object, lang: str = "") -> str:
    """A fenced block longer than any backtick run inside, so the content cannot close it."""
    text = str(value).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def marker(config: str) -> str:
    """The hidden marker that finds this project's sticky comment (one per alembic.ini)."""
    # One line, and nothing that ends an HTML comment ("-->", "--!>").
    safe = " ".join(config.split()).replace("--", "- -").replace(">", "&gt;")
    return f"{MARKER_PREFIX} {safe} -->"


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("alembic_ci.render", "templates"),
    autoescape=False,  # markdown, not HTML: every user value goes through an explicit filter
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters.update(md=md_text, html=html_text, code=code_span, block=code_block)


def render_markdown(report: Report) -> str:
    errors = [f for f in report.findings if f.severity == ERROR]
    return _env.get_template("report.md.j2").render(
        report=report, marker=marker(report.config), errors=errors, ERROR=ERROR,
    )
