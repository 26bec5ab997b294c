"""Passwords never leave the process: every line the CLI prints or writes passes through a
Redactor holding the passwords of the URLs it was given. Messages are built without them
in the first place (server.describe); this catches what a driver or a user's env.py echoes."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import urllib.parse
from typing import Iterable, Iterator, Optional

MASK = "***"
# USER:PASSWORD@ in anything URL-shaped, parseable or not.
_URL_CREDENTIALS = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]+)(?=@)", re.IGNORECASE)
# Shorter passwords are masked only inside URLs: masking every "ab" of a report would ruin it.
_MIN_FREE_LENGTH = 4


class Redactor:
    def __init__(self, urls: Iterable[Optional[str]]) -> None:
        secrets = set()
        for url in urls:
            if not url:
                continue
            password = _password(url)
            if password:
                secrets.update({password, urllib.parse.quote(password, safe=""), urllib.parse.quote_plus(password)})
        # Longest first, so that a password containing another is masked whole.
        self.secrets = sorted((s for s in secrets if len(s) >= _MIN_FREE_LENGTH), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        # The known passwords first: the pattern stops at a password's own "@".
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return _URL_CREDENTIALS.sub(_mask_url_password, text)


def _mask_url_password(match: re.Match) -> str:
    password = match.group("password")
    return match.group(0) if password == "PASSWORD" else match.group("head") + MASK  # the placeholder of a hint


def _password(url: str) -> Optional[str]:
    # Imported here: with no URL given, the CLI starts the embedded server before SQLAlchemy loads.
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
        return str(password) if password is not None else None
    except Exception:  # an unparseable URL: its password is whatever sits between the colon and the @
        match = _URL_CREDENTIALS.search(url)
        return urllib.parse.unquote(match.group("password")) if match else None


class _RedactingStream(io.TextIOBase):
    def __init__(self, stream, redact: Redactor) -> None:
        self._stream = stream
        self._redact = redact

    def write(self, text: str) -> int:
        self._stream.write(self._redact(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")


@contextlib.contextmanager
def redacted_output(redact: Redactor) -> Iterator[None]:
    """Standard output and error pass through ``redact`` for the duration: the user's env.py
    and migrations print and log what they like (a URL, a settings dump)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _RedactingStream(sys.stdout, redact), _RedactingStream(sys.stderr, redact)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
