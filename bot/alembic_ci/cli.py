"""The `alembic-ci` command. Thin: parse arguments into options, run the pipeline, render,
map the outcome to an exit code (0 passed, 1 a finding fails the check, 2 could not check)."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
import traceback
import warnings
from typing import Callable, Optional, Sequence

from . import __version__
from .errors import EXIT_CANNOT_CHECK, EXIT_FAILED, EXIT_PASSED, CannotCheck, Interrupted
from .interrupts import interrupts_raise
from .render import FORMATS, render
from .redact import Redactor, redacted_output
from .report import ERROR, Report

# Findings that mean the check could not run to the end (nothing was replayed).
_CANNOT_CHECK_CODES = {"bad-revision-graph", "no-revisions"}


def exit_code(report: Report) -> int:
    if any(f.code in _CANNOT_CHECK_CODES for f in report.findings):
        return EXIT_CANNOT_CHECK
    return EXIT_PASSED if report.passed else EXIT_FAILED


def verdict_line(findings: list) -> Optional[str]:
    """The one stderr line for a report with problems: the first error (else warning), and
    what to do about it, whatever the output format (the report itself may go to a file)."""
    errors = [f for f in findings if f.severity == ERROR] or findings
    if not errors:
        return None
    first = errors[0]
    where = f" ({first.file}{':' + str(first.line) if first.line else ''})" if first.file else ""
    # The first piece of advice of the detail (not the statement it quotes): one line, not the essay.
    advice = [" ".join(p.split()) for p in (first.detail or "").split("\n\n") if not p.startswith("Statement:")]
    more = f" (and {len(errors) - 1} more: see the report)" if len(errors) > 1 else ""
    return f"{first.message}{where}{more}" + (f". {advice[0]}" if advice else "")


class _Parser(argparse.ArgumentParser):
    """A usage error is the documented one line and exit 2, not argparse's usage block."""

    def error(self, message: str):
        self.exit(EXIT_CANNOT_CHECK, f"alembic-ci: error: {message}. `{self.prog} --help` lists the options\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alembic-ci",
        description="Replay Alembic migrations on a real MySQL server; catch missing migrations, "
                    "multiple heads and migrations MySQL refuses; show the upgrade SQL.",
    )
    version = f"alembic-ci {__version__}"
    parser.add_argument("--version", action="version", version=version)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    check = commands.add_parser("check", help="replay every migration and compare with the models",
                                description="Exit codes: 0 passed, 1 a finding fails the check, 2 could not check.")
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
                       help="keep a snapshot of the schema at the base here (without a base: at the heads): "
                            "later checks with that base restore it and replay only the new revisions. "
                            "Default: $ALEMBIC_CI_CACHE_DIR, else no cache")
    check.add_argument("--fail-on", default=None, metavar="CODES",
                       help="risk codes that fail the check, comma-separated, or `all` / `none` (default: "
                            "`fail-on` in [tool.alembic-ci] of pyproject.toml, else the destructive ones: "
                            "drop-table, drop-column, rename-table, rename-column, and key-too-long, which MySQL 8 "
                            "refuses; docs/risks.md)")
    _common(check, "report")
    check.set_defaults(func=_check, parser=check)

    doctor = commands.add_parser(
        "doctor", help="explain a database's state against the migrations, with the safe fix (read-only)",
        description="Reads the database strictly read-only; replays the history in a scratch database to learn "
                    "the schema at each revision. Exit codes: 0 healthy (at head, matching the models), "
                    "1 the database needs a fix (shown), 2 could not diagnose.")
    doctor.add_argument("--database-url", required=True, metavar="URL",
                        help="the database to inspect (mysql+pymysql://USER:PASSWORD@HOST:3306/DBNAME); "
                             "SELECT privileges are enough")
    doctor.add_argument("--scratch-url", default=None, metavar="URL",
                        help="a MySQL server for the scratch replay (may be the same server); default: an "
                             "embedded throwaway server")
    _common(doctor, "diagnosis")
    doctor.set_defaults(func=_doctor, parser=doctor)

    action = commands.add_parser(
        "action", help="run as a GitHub Action step (reads INPUT_* and GITHUB_* variables)",
        description="The check as GitHub Actions runs it: inputs from INPUT_* variables, the pull request "
                    "from GITHUB_EVENT_PATH; job summary, annotations, outputs and the sticky PR comment. "
                    "Exit codes as for check.")
    action.add_argument("--debug", action="store_true", help="show tracebacks")
    # The image's entrypoint is `alembic-ci action`: `docker run IMAGE --version` lands here.
    action.add_argument("--version", action="version", version=version)
    action.set_defaults(func=_action, parser=action)
    return parser


def _common(sub: argparse.ArgumentParser, output: str) -> None:
    """The options check and doctor share; ``output`` names what --output writes."""
    sub.add_argument("-c", "--config", default="alembic.ini", help="path to alembic.ini (default: %(default)s)")
    sub.add_argument("--format", choices=FORMATS, default="text", help="output format (default: %(default)s)")
    sub.add_argument("--output", metavar="FILE", help=f"write the {output} to FILE instead of standard output")
    sub.add_argument("--scratch-database", default=None, metavar="NAME",
                     help="use this existing, empty database for the replay instead of creating one (for a user "
                          "without CREATE privileges); it is emptied afterwards")
    sub.add_argument("--lock-wait-timeout", type=_positive(int), default=60, metavar="SECONDS",
                     help="lock waits in the scratch session fail after this long (default: %(default)s)")
    sub.add_argument("--statement-timeout", type=_positive(float), default=300.0, metavar="SECONDS",
                     help="stop any statement of a migration running longer than this (default: %(default)s)")
    sub.add_argument("--revision-timeout", type=_positive(float), default=600.0, metavar="SECONDS",
                     help="stop a revision still running after this long: its Python code (a sleep, a loop "
                          "that never ends), once no statement runs (default: %(default)s)")
    sub.add_argument("--wait", type=_positive(float), default=60.0, metavar="SECONDS",
                     help="wait this long for a starting server (default: %(default)s)")
    sub.add_argument("-q", "--quiet", action="store_true",
                     help="no progress messages or Python warnings on standard error")
    sub.add_argument("--debug", action="store_true", help="show tracebacks")


_MAX_SECONDS = 31_536_000


def parse_seconds(text: str, kind: type = float) -> float:
    """Seconds above zero and at most a year, as the timers take them; ValueError says why not.
    The CLI's options and the action's inputs share it."""
    what = "a whole number" if kind is int else "a number"
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{text!r} is not {what} of seconds") from None
    if not value > 0:
        raise ValueError(f"{text!r}: must be more than 0 seconds")
    if not value <= _MAX_SECONDS:  # also inf and nan; the timers take no more
        raise ValueError(f"{text!r}: must be at most {_MAX_SECONDS} seconds (a year)")
    return value


def _positive(kind: type) -> Callable[[str], float]:
    """An argparse type (argparse prints the error after the usage, exit 2)."""
    def parse(text: str):
        try:
            return parse_seconds(text, kind)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def _check(args: argparse.Namespace) -> int:
    # The server first, SQLAlchemy and Alembic after: an embedded server's start-up (other
    # processes, ~0.4 s) overlaps their import.
    from .embedded import scratch_server

    url = args.database_url or os.environ.get("ALEMBIC_CI_DATABASE_URL")
    with scratch_server(url, args.scratch_database) as server:
        from .check import CheckOptions, run_check

        options = CheckOptions(config=args.config, base=args.base, base_ref=args.base_ref,
                               lock_wait_timeout=args.lock_wait_timeout, wait=args.wait, fail_on=args.fail_on,
                               statement_timeout=args.statement_timeout, revision_timeout=args.revision_timeout,
                               scratch_database=args.scratch_database, cache_dir=args.cache_dir)
        if args.quiet:
            options.progress = lambda message: None
        report = run_check(options, server)
    write_output(lambda color: render(report, args.format, color=color), args)
    code = exit_code(report)
    line = verdict_line(report.findings)
    if line:
        label = {EXIT_CANNOT_CHECK: "error", EXIT_FAILED: "failed"}.get(code, "warning")
        print(f"alembic-ci: {label}: {args.redact(line)}", file=sys.stderr)
    return code


def _action(args: argparse.Namespace) -> int:
    try:
        from .action import main as action_main
    except ModuleNotFoundError as exc:
        if exc.name not in ("github", "requests", "urllib3"):  # PyGithub and what it needs
            raise
        raise CannotCheck("alembic-ci action needs PyGithub", "install it: pip install 'alembic-ci[action]'") from exc
    return action_main(os.environ, sys.stdout)


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import CANNOT_DIAGNOSE, DoctorOptions, run_doctor
    from .render.diagnosis import render_diagnosis

    options = DoctorOptions(database_url=args.database_url, config=args.config, scratch_url=args.scratch_url,
                            scratch_database=args.scratch_database, wait=args.wait,
                            lock_wait_timeout=args.lock_wait_timeout, statement_timeout=args.statement_timeout,
                            revision_timeout=args.revision_timeout)
    if args.quiet:
        options.progress = lambda message: None
    diagnosis = run_doctor(options)
    write_output(lambda color: render_diagnosis(diagnosis, args.format, color=color), args)
    if diagnosis.state == CANNOT_DIAGNOSE:
        print(f"alembic-ci: error: {args.redact(verdict_line(diagnosis.findings) or diagnosis.summary)}",
              file=sys.stderr)
        return EXIT_CANNOT_CHECK
    if diagnosis.healthy:
        return EXIT_PASSED
    fix = f" Fix: {' then '.join(f'`{command}`' for command in diagnosis.fix)}" if diagnosis.fix else ""
    print(f"alembic-ci: failed: {args.redact(diagnosis.summary)}.{fix}", file=sys.stderr)
    return EXIT_FAILED


def write_output(render_to: Callable[[bool], str], args: argparse.Namespace) -> None:
    """Write what ``render_to(color)`` returns to --output or standard output, passwords masked."""
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(args.redact(render_to(False)))
        except OSError as exc:
            raise CannotCheck(f"cannot write the report to {args.output} ({exc.strerror})",
                              "pass an --output path in a writable directory") from exc
        return
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    sys.stdout.write(args.redact(render_to(color)))
    sys.stdout.flush()


def main(argv: Optional[Sequence[str]] = None) -> int:
    # Nothing written into the project: no __pycache__ beside the revision files, env.py and the
    # models. Writing them cost a fresh clone (CI) ~0.5 s at 1000 revisions, for a later run.
    sys.dont_write_bytecode = True
    parser = _parser()
    words = list(sys.argv[1:] if argv is None else argv)
    # A usage error quotes the argument it refuses: a URL given where another value belongs
    # (`alembic-ci --database-url URL check`) must not print its password.
    with redacted_output(Redactor(word for word in words if "://" in word)):
        args, unknown = parser.parse_known_args(words)
        if unknown:  # the usage of the command or of the top level, whichever the first one came in
            before = words.index(unknown[0]) < words.index(args.command)
            (parser if before else args.parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    args.redact = str  # until the Redactor is built
    # From here on a signal is one line and a clean exit, never a traceback.
    with interrupts_raise():
        return _run(args)


def run() -> None:
    """The console script: main(), then exit without tearing the interpreter down. Freeing a
    1000-revision replay's objects one by one takes ~0.3 s, and everything is written by now.
    Exit handlers still run (env.py's or a library's, coverage's); not at all under a tracer or
    profiler, which may write its results after the program returns (cProfile)."""
    code = main()
    if _traced():
        raise SystemExit(code)
    atexit._run_exitfuncs()  # what a normal exit runs first (logging.shutdown among them)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _traced() -> bool:
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)  # Python 3.12+: coverage's sysmon core, profilers
    return monitoring is not None and any(monitoring.get_tool(tool) for tool in range(6))


def _run(args: argparse.Namespace) -> int:
    try:
        # A last line of defence: no message is meant to hold a password, and none may.
        args.redact = Redactor([getattr(args, "database_url", None), getattr(args, "scratch_url", None),
                                os.environ.get("ALEMBIC_CI_DATABASE_URL")])
        # Not for `action`: it prints ::add-mask:: commands that must carry the secret itself.
        output = redacted_output(args.redact) if args.command in ("check", "doctor") else contextlib.nullcontext()
        with output, warnings.catch_warnings():
            if getattr(args, "quiet", False):  # SQLAlchemy's, Alembic's, the migrations' own: not the verdict
                warnings.simplefilter("ignore")
            return args.func(args)
    except CannotCheck as exc:
        return _fail(args, str(exc))
    except (Interrupted, KeyboardInterrupt) as exc:
        signame = exc.signame if isinstance(exc, Interrupted) else "SIGINT"
        return _fail(args, f"interrupted by {signame}; nothing was left behind (a scratch database that could "
                           "not be dropped is named in a warning above)")
    except Exception as exc:  # a bug of ours: still one line, the traceback behind --debug
        return _fail(args, f"internal error: {exc.__class__.__name__}: {exc}. "
                           "Rerun with --debug and report it at the alembic-ci issue tracker.")


def _fail(args: argparse.Namespace, line: str) -> int:
    if getattr(args, "debug", False):
        print(args.redact(traceback.format_exc()), file=sys.stderr, end="")
    print(f"alembic-ci: error: {args.redact(line)}", file=sys.stderr)
    return EXIT_CANNOT_CHECK
