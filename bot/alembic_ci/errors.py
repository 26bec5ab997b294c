"""Typed errors. Each one is a reason the check *could not run* (exit 2), told in one line:
what is wrong, then what to do."""

from __future__ import annotations

EXIT_PASSED = 0
EXIT_FAILED = 1  # the check ran and a finding fails it
EXIT_CANNOT_CHECK = 2  # bad input, config, server unreachable, unsafe env.py, interrupted


class CannotCheck(Exception):
    """The check could not run. ``what`` says what is wrong, ``fix`` what to do about it."""

    def __init__(self, what: str, fix: str = "") -> None:
        super().__init__(what)
        self.what = what.rstrip(".")
        self.fix = fix

    def __str__(self) -> str:
        # Two sentences: what is wrong. What to do (its first letter capitalized here, so that a
        # fix can also be quoted mid-sentence elsewhere).
        return f"{self.what}. {self.fix[:1].upper()}{self.fix[1:]}" if self.fix else f"{self.what}."


class ConfigError(CannotCheck):
    """alembic.ini, script_location, env.py or the revision files are unusable."""


class ServerError(CannotCheck):
    """The MySQL server cannot be reached or used."""


class UnsafeConnection(CannotCheck):
    """env.py opened a connection to a database other than the scratch database."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived. A BaseException, like KeyboardInterrupt, so that a broad
    ``except Exception`` in user code cannot swallow it and cleanup still runs."""

    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame
