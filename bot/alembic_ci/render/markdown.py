"""Markdown for the pull-request comment and the job summary (GitHub-flavoured).

Everything users control (revision messages, identifiers, SQL, server errors) goes through
the filters below: it can neither leave its code block or <details>, nor inject HTML, nor
@-mention anyone.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Callable, Optional

import jinja2

from ..report import ERROR, Report
from ..words import plural
from .verdict import annotated_sql, measured_on, not_recorded

MARKER_PREFIX = "<!-- alembic-ci:"

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+!|~<>])")


def _neutralize_mentions(text: str) -> str:
    # A zero-width joiner after "@" keeps the text readable and stops the notification.
    return text.replace("@", "@\u200d")


def md_text(value: object) -> str:
    """Inline text: HTML-escaped, markdown punctuation escaped, one line."""
    return _escaped(" ".join(str(value).split()))


def _escaped(text: str) -> str:
    return _neutralize_mentions(_MD_SPECIAL.sub(r"\\\1", text.replace("&", "&amp;")))


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


def md_prose(value: object) -> str:
    """Inline text in which the `...` spans (alembic-ci's messages quote names so) are code spans,
    the rest md_text: safe whatever the names hold, as each part goes through its filter."""
    parts = " ".join(str(value).split()).split("`")
    if len(parts) % 2 == 0 or any(not part for part in parts[1::2]):  # unpaired or empty: no spans
        return md_text(value)
    return "".join(code_span(part) if i % 2 else _escaped(part) for i, part in enumerate(parts))


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


@dataclass
class Budget:
    """How much of the report a render may show. ``None`` means everything."""

    block_chars: Optional[int] = None  # characters per code block (SQL, migration code, details)
    items: Optional[int] = None  # findings, differences and revisions listed
    full_report: str = "the job summary"  # markdown naming where the untrimmed report is
    longest_block: int = 0  # measured while rendering

    @property
    def limited(self) -> bool:
        return self.block_chars is not None or self.items is not None


@jinja2.pass_context
def _budget_block(context: jinja2.runtime.Context, value: object, lang: str = "") -> str:
    budget: Budget = context["budget"]
    text = str(value).rstrip("\n")
    budget.longest_block = max(budget.longest_block, len(text))
    if budget.block_chars is None or len(text) <= budget.block_chars:
        return code_block(text, lang)
    # Cut at a line end, so the reader never sees half a statement.
    cut = max(text.rfind("\n", 0, budget.block_chars + 1), 0)
    kept, rest = text[:cut], text[cut:].lstrip("\n")
    lines = rest.count("\n") + 1
    note = (f"_✂️ {lines:,} more {plural('line', lines)} ({len(rest):,} characters) trimmed: "
            f"see {budget.full_report}._")
    return f"{code_block(kept, lang)}\n\n{note}" if kept else note


def _shown(items: list, budget: Budget) -> list:
    return items if budget.items is None else items[:budget.items]


def _more(items: list, budget: Budget, noun: str) -> str:
    hidden = len(items) - len(_shown(items, budget))
    return f"\n_✂️ {hidden:,} more {plural(noun, hidden)}: see {budget.full_report}._\n" if hidden else ""


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("alembic_ci.render", "templates"),
    autoescape=False,  # markdown, not HTML: every user value goes through an explicit filter
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters.update(md=md_text, prose=md_prose, html=html_text, code=code_span, block=_budget_block, shown=_shown,
                    more=_more, annotated_sql=annotated_sql, not_recorded=not_recorded, plural=plural)


def render_markdown(report: Report, max_bytes: Optional[int] = None, full_report: str = "the job summary") -> str:
    """The report as GitHub markdown. With ``max_bytes`` (UTF-8 bytes, never fewer than
    characters, so it bounds GitHub's character limits too), code blocks are trimmed evenly,
    then lists shortened, each cut saying so and pointing at ``full_report``."""
    def render(budget: Budget) -> str:
        return _env.get_template("report.md.j2").render(
            report=report, marker=marker(report.config), errors=errors, ERROR=ERROR, budget=budget,
            measured_on=measured_on(report),
            failed={f.revision for f in report.findings if f.code == "upgrade-failed"},
        )

    def fits(text: str) -> bool:
        return max_bytes is None or len(text.encode("utf-8")) <= max_bytes

    errors = [f for f in report.findings if f.severity == ERROR]
    full = Budget(full_report=full_report)
    text = render(full)
    if fits(text):
        return text
    # Trimming code blocks alone may not be enough: then the lists are shortened too.
    no_code = render(Budget(block_chars=0, full_report=full_report))
    if fits(no_code):
        return _largest_fitting(lambda n: render(Budget(block_chars=n, full_report=full_report)), fits,
                                full.longest_block - 1) or no_code
    count = max(len(report.findings), len(report.revisions),
                len(report.missing_migration.differences) if report.missing_migration else 0)
    text = _largest_fitting(lambda n: render(Budget(block_chars=0, items=n, full_report=full_report)), fits, count)
    if text is not None:
        return text
    verdict = "✅ alembic-ci: migrations check passed" if report.passed else \
        f"❌ alembic-ci: {len(errors)} {plural('problem', len(errors))} in the migrations"
    return f"{marker(report.config)}\n### {verdict}\n\nThe report is too large to show here: see {full_report}.\n"


def render_cannot_check(config: str, message: str, log: str = "the job log") -> str:
    """The comment and summary when the check could not run (exit 2): it replaces an earlier
    verdict, so a stale green comment never outlives a broken setup."""
    return _env.get_template("cannot_check.md.j2").render(
        marker=marker(config), config=config, message=message, log=log, budget=Budget())


def _largest_fitting(render: Callable[[int], str], fits: Callable[[str], bool], high: int) -> Optional[str]:
    """Binary search for the largest n in [0, high] whose render fits; None when even 0 does not."""
    best, low = None, 0
    while low <= high:
        middle = (low + high) // 2
        text = render(middle)
        if fits(text):
            best, low = text, middle + 1
        else:
            high = middle - 1
    return best
