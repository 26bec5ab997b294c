"""The `alembic-ci` command. Thin: parse arguments into options, run the pipeline, render,
map the outcome to an exit code (0 passed, 1 a finding fails the check, 2 could not check)."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Optional, Sequence

from . import __version__
from .errors import EXIT_CANNOT_CHECK, EXIT_FAILED, EXIT_PASSED, CannotCheck, Interrupted
from .render import FORMATS, render
from .report import Report

# Findings that mean the check could not run to the end (nothing was replayed).
_CANNOT_CHECK_CODES = {"bad-revision-graph"}


def exit_code(report: Report) -> int:
    if any(f.code in _CANNOT_CHECK_CODES for f in report.findings):
        return EXIT_CANNOT_CHECK
    return EXIT_PASSED if report.passed else EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alembic-ci",
        description="Replay Alembic migrations on a real MySQL server; catch missing migrations, "
                    "multiple heads and migrations MySQL refuses; show the upgrade SQL.",
    )
    parser.add_argument("--version", action="version", version=f"alembic-ci {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    check = commands.add_parser("check", help="replay every migration and compare with the models",
                                description="Exit codes: 0 passed, 1 a finding fails the check, 2 could not check.")
    check.add_argument("-c", "--config", default="alembic.ini", help="path to alembic.ini (default: %(default)s)")
    check.add_argument("--database-url", default=None, metavar="URL",
                       help="a MySQL server (mysql+pymysql://USER:PASSWORD@HOST:3306/); the bot writes only in a "
                            "scratch database it creates and drops. Default: $ALEMBIC_CI_DATABASE_URL, else an "
                            "embedded throwaway server started from the local mariadbd/mysqld")
    base = check.add_mutually_exclusive_group()
    base.add_argument("--base", action="append", default=[], metavar="REV",
                      help="report only revisions after REV (repeatable); the replay still starts from empty "
                           "(unless --cache-dir holds the base's snapshot)")
    base.add_argument("--base-ref", default=None, metavar="GITREF",
                      help="report only revisions added since the heads at this git commit (e.g. origin/main)")
    check.add_argument("--cache-dir", default=None, metavar="DIR",
                       help="keep a snapshot of the schema at the base here (with --base/--base-ref): later "
                            "checks of the same base restore it and replay only the new revisions. "
                            "Default: $ALEMBIC_CI_CACHE_DIR, else no cache")
    check.add_argument("--format", choices=FORMATS, default="text", help="output format (default: %(default)s)")
    check.add_argument("--output", metavar="FILE", help="write the report to FILE instead of standard output")
    check.add_argument("--lock-wait-timeout", type=int, default=60, metavar="SECONDS",
                       help="lock waits in the scratch session fail after this long (default: %(default)s)")
    check.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                       help="wait this long for a starting server (default: %(default)s)")
    _common(check)
    check.set_defaults(func=_check)
    return parser


def _common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress messages on standard error")
    sub.add_argument("--debug", action="store_true", help="show tracebacks")


def _check(args: argparse.Namespace) -> int:
    from .check import CheckOptions, run_check

    options = CheckOptions(config=args.config, database_url=args.database_url, base=args.base,
                           base_ref=args.base_ref, lock_wait_timeout=args.lock_wait_timeout, wait=args.wait,
                           cache_dir=args.cache_dir)
    if args.quiet:
        options.progress = lambda message: None
    report = run_check(options)
    write_output(report, args.format, args.output)
    return exit_code(report)


def write_output(report: Report, fmt: str, output: Optional[str]) -> None:
    if output:
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(render(report, fmt))
        except OSError as exc:
            raise CannotCheck(f"cannot write the report to {output} ({exc.strerror})",
                              "pass an --output path in a writable directory") from exc
        return
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    sys.stdout.write(render(report, fmt, color=color))
    sys.stdout.flush()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except CannotCheck as exc:
        return _fail(args, str(exc))
    except (Interrupted, KeyboardInterrupt) as exc:
        signame = exc.signame if isinstance(exc, Interrupted) else "SIGINT"
        return _fail(args, f"interrupted by {signame}; the scratch database was dropped.")
    except Exception as exc:  # a bug of ours: still one line, the traceback behind --debug
        return _fail(args, f"internal error: {exc.__class__.__name__}: {exc}. "
                           "Rerun with --debug and report it at the alembic-ci issue tracker.")


def _fail(args: argparse.Namespace, line: str) -> int:
    if getattr(args, "debug", False):
        traceback.print_exc()
    print(f"alembic-ci: error: {line}", file=sys.stderr)
    return EXIT_CANNOT_CHECK
