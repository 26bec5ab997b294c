"""How the server itself would run an ALTER: asked, not guessed.

Before an ``ALTER TABLE`` / ``CREATE INDEX`` / ``DROP INDEX`` of a reported revision runs, the
statement is sent with ``ALGORITHM=INSTANT`` first, then the cheaper-to-costlier methods below.
A server that cannot honour the requested method refuses at once and changes nothing
(errors 1845/1846/1847, "Reason: ... Try ALGORITHM=COPY"), so the first variant it accepts is
both the verdict and the statement's one real execution; when every variant is refused the
statement runs as written (a table copy). A refusal's "Try ..." names the cheapest method the
server would accept: the variants below it are skipped (each refusal costs the server a
table open, ~2 ms). For the same reason ``CREATE INDEX`` is not asked for INSTANT: no server
builds an index from metadata alone. The caller then skips the original statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from .report import Refusal

# Refusals: 1845 not supported, 1846 not supported with a reason, 1847 COPY needs a lock,
# 4092 MySQL's instant row-version limit (64 instant changes per table).
_REFUSED = {1845, 1846, 1847, 4092}
# A variant this server's grammar lacks: syntax (a clause after PARTITION BY), unknown ALGORITHM
# or LOCK value (NOCOPY on MySQL).
_NOT_EXPRESSIBLE = {1064, 1800, 1801}

# (algorithm, lock) in the order asked; the first accepted wins. None: no LOCK clause.
_MYSQL_VARIANTS = (("INSTANT", None), ("INPLACE", "NONE"), ("INPLACE", "SHARED"), ("COPY", "SHARED"))
_MARIADB_VARIANTS = (("INSTANT", None), ("NOCOPY", "NONE"), ("INPLACE", "NONE"), ("INPLACE", "SHARED"),
                     ("COPY", "SHARED"))

# Where a statement's first keyword may stand: after white space and comments (a migration's
# "/* why */ ALTER ..."). Not after /*! ... */: MySQL runs what such a comment holds.
# Each alternative matches its text one way only, or a long prefix that does not lead to the
# keyword would take exponential time to give up on.
SQL_START = r"(?:\s|/\*(?!!)(?:[^*]|\*(?!/))*\*/|(?:--(?=\s)|#)[^\n]*(?:\n|$))*"
_IDENT = r"(?:`(?:[^`]|``)+`|[\w$]+)"
_TABLE = rf"{_IDENT}(?:\s*\.\s*{_IDENT})?"
_ALTER = re.compile(
    rf"{SQL_START}ALTER\s+(?:ONLINE\s+)?(?:IGNORE\s+)?TABLE\s+(?:IF\s+EXISTS\s+)?(?P<table>{_TABLE})", re.IGNORECASE)
_CREATE_INDEX = re.compile(
    rf"{SQL_START}CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"{_IDENT}\s+(?:USING\s+\w+\s+)?ON\s+(?P<table>{_TABLE})", re.IGNORECASE)
# MariaDB's DROP INDEX takes no ALGORITHM clause: it is probed as its ALTER TABLE twin.
_DROP_INDEX = re.compile(rf"{SQL_START}DROP\s+INDEX\s+(?P<index>{_IDENT})\s+ON\s+(?P<table>{_TABLE})\s*;?\s*$",
                         re.IGNORECASE)
_EXPLICIT = re.compile(r"\b(?:ALGORITHM\s*=?\s*(?:DEFAULT|INSTANT|INPLACE|NOCOPY|COPY)|"
                       r"LOCK\s*=?\s*(?:DEFAULT|NONE|SHARED|EXCLUSIVE))\b", re.IGNORECASE)
_REASON = re.compile(r"Reason:\s*(.*?)\.?\s*(?:Try\s+\S+)?\s*$", re.DOTALL)
# "Try ALGORITHM=COPY.", MySQL's "Try ALGORITHM=COPY/INPLACE.", "Try LOCK=SHARED."
_TRY = re.compile(r"\bTry\s+(ALGORITHM|LOCK)\s*=\s*([\w/]+)", re.IGNORECASE)


@dataclass
class Probe:
    """The verdict on one statement."""

    table: str
    algorithm: Optional[str] = None  # None: no verdict (an error that is not a refusal; no variant parses)
    lock: Optional[str] = None
    refusals: list = field(default_factory=list)
    ran: bool = False  # a variant executed the statement: the caller must not run it again

    @property
    def blocks_writes(self) -> bool:
        return self.algorithm == "COPY" or self.lock in ("SHARED", "EXCLUSIVE")


def table_of(statement: str) -> Optional[str]:
    """The table an online-DDL statement changes, or None for any other statement."""
    match = _ALTER.match(statement) or _CREATE_INDEX.match(statement) or _DROP_INDEX.match(statement)
    return _unquote(match.group("table")) if match else None


def probe(cursor, statement: str, parameters, mariadb: bool) -> Optional[Probe]:
    """Run ``statement`` once through the cheapest method the server accepts, on ``cursor``.
    None when the statement is not online DDL or already names its own ALGORITHM/LOCK."""
    table = table_of(statement)
    if table is None or _EXPLICIT.search(statement):
        return None
    template = _template(statement)
    result = Probe(table=table)
    variants = _MARIADB_VARIANTS if mariadb else _MYSQL_VARIANTS
    index = 1 if _CREATE_INDEX.match(statement) else 0  # variants[0] is INSTANT
    while index < len(variants):
        algorithm, lock = variants[index]
        index += 1
        try:
            cursor.execute(template(algorithm, lock), parameters)
        except Exception as exc:  # the driver's own error class; the server's number decides
            number = _error_number(exc)
            if number in _NOT_EXPRESSIBLE:
                continue
            if number not in _REFUSED:
                return result  # a real error: the statement, run as written, reports it
            result.refusals.append(Refusal(algorithm=algorithm, lock=lock, reason=_reason(exc)))
            index = _suggested(variants, index, exc)
            continue
        result.algorithm, result.lock, result.ran = algorithm, lock or "NONE", True
        return result
    if result.refusals and result.refusals[-1].algorithm == "COPY":
        # Even a copy under a shared lock was refused: as written, it copies under an exclusive one.
        result.algorithm, result.lock = "COPY", "EXCLUSIVE"
    return result


def _template(statement: str):
    body = statement.strip().rstrip(";").rstrip()
    drop = _DROP_INDEX.match(body)
    if drop:
        body = f"ALTER TABLE {drop.group('table')} DROP INDEX {drop.group('index')}"
    # ALTER TABLE separates its clauses with commas, CREATE INDEX with spaces. A new line ends
    # a trailing "-- comment" that would otherwise swallow the clause.
    separator = "\n" if _CREATE_INDEX.match(body) else "\n, "
    joiner = " " if separator == "\n" else ", "

    def variant(algorithm: str, lock: Optional[str]) -> str:
        clauses = [f"ALGORITHM={algorithm}"] + ([f"LOCK={lock}"] if lock else [])
        return body + separator + joiner.join(clauses)

    return variant


def _suggested(variants: tuple, start: int, exc: Exception) -> int:
    """Where to go on after a refusal: the first variant from ``start`` that its "Try ..." allows
    (``start`` itself when the message suggests nothing we ask)."""
    match = _TRY.search(_message(exc))
    if match:
        position = 0 if match.group(1).upper() == "ALGORITHM" else 1  # in (algorithm, lock)
        allowed = set(match.group(2).upper().split("/"))
        for index in range(start, len(variants)):
            if variants[index][position] in allowed:
                return index
    return start


def _message(exc: Exception) -> str:
    args = getattr(exc, "args", ())
    return str(args[1]) if len(args) >= 2 else str(exc)


def _error_number(exc: Exception) -> Optional[int]:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _reason(exc: Exception) -> str:
    """"Cannot change column type" from "ALGORITHM=INSTANT is not supported. Reason: Cannot change
    column type. Try ALGORITHM=COPY"; "not supported for this operation" when there is no reason."""
    message = _message(exc)
    match = _REASON.search(message)
    if match:
        return match.group(1).strip()
    return re.sub(r"^(?:ALGORITHM|LOCK)=\w+ is\s+", "", message.split(". Try")[0].strip()).rstrip(".")


def _unquote(name: str) -> str:
    last = re.findall(_IDENT, name)[-1]
    return last[1:-1].replace("``", "`") if last.startswith("`") else last
