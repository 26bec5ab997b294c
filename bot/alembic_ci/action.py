"""`alembic-ci action`: the check as a GitHub Action step.

The Actions environment (``INPUT_*`` variables, the event payload, ``GITHUB_*``) is read once
into an ``ActionConfig``. ``main`` creates every side effect (the workflow-command stream, the
runner's files, the GitHub client) and hands them to the steps: install the project's
dependencies -> run the check -> publish (report files, job summary, annotations, outputs, the
sticky PR comment). The same code runs inside the Docker image and outside it (composite or
self-hosted setups): nothing here assumes the container.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, TextIO, Union

from sqlalchemy.engine import make_url

from .check import CheckOptions, run_check
from .cli import exit_code, parse_seconds
from .embedded import scratch_server
from .errors import Interrupted, EXIT_CANNOT_CHECK, CannotCheck, ConfigError
from .interrupts import interrupts_raise
from .publish import github as gh_publish
from .publish.workflow import SUMMARY_MAX_BYTES, Workflow
from .render.json import render_json
from .render.markdown import code_span, marker, render_cannot_check, render_markdown
from .render.text import render_text
from .report import ERROR, Report

PR_EVENTS = ("pull_request", "pull_request_target")
# Report files go inside the workspace: the only directory later steps (upload-artifact) share
# with the action's container, at a path relative to their own working directory.
REPORT_ROOT = ".alembic-ci"


@dataclass(frozen=True)
class ActionConfig:
    workspace: Path
    working_directory: Path  # absolute; the check runs there
    config: str  # alembic.ini, relative to working_directory
    database_url: Optional[str]  # None: the embedded server
    install: str  # "auto", "none" or a shell command
    token: str
    comment: bool
    base_ref: Optional[str]
    fail_on: Optional[str]  # risk codes that fail the check; None: pyproject.toml or the defaults
    inputs: Mapping[str, str]  # the INPUT_* variables, for check_options()
    event_name: str
    pull_request: Optional[int]  # set on pull_request events
    head_sha: Optional[str]  # the pull request's head commit
    repository: str
    api_url: str
    run_url: Optional[str]

    @property
    def project_key(self) -> str:
        """alembic.ini relative to the repository root: the comment marker and report names,
        distinct for every Alembic project of a repository."""
        return _from_workspace(self, self.config)

    def check_options(self, progress) -> CheckOptions:
        """The check's own inputs, parsed when the check runs: a bad one is then published like
        any reason the check could not run (the comment says so, instead of an old verdict)."""
        cache_dir = _input(self.inputs, "cache-dir")
        return CheckOptions(
            config=self.config, base_ref=self.base_ref, fail_on=self.fail_on,
            # Relative to the workspace, as actions/cache's `path:` is.
            cache_dir=str(_inside(self.workspace, cache_dir, "cache-dir")) if cache_dir else None,
            statement_timeout=_seconds(self.inputs, "statement-timeout", CheckOptions.statement_timeout),
            revision_timeout=_seconds(self.inputs, "revision-timeout", CheckOptions.revision_timeout),
            lock_wait_timeout=_seconds(self.inputs, "lock-wait-timeout", CheckOptions.lock_wait_timeout, int),
            progress=progress)

    @property
    def report_dir(self) -> Path:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", re.sub(r"\.ini$", "", self.project_key)).strip("-.")
        return self.workspace / REPORT_ROOT / (slug or "alembic")


def _input(env: Mapping[str, str], name: str, default: str = "") -> str:
    # GitHub passes `with: database-url:` as INPUT_DATABASE-URL: upper case, hyphen kept.
    return env.get(f"INPUT_{name.upper()}", "").strip() or default


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _input(env, name).lower()
    if not value:
        return default
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise ConfigError(f"input {name} is {value!r}", "set it to true or false")


def _seconds(env: Mapping[str, str], name: str, default: float, kind: type = float) -> float:
    value = _input(env, name)
    if not value:
        return default
    try:
        return parse_seconds(value, kind)
    except ValueError as exc:
        raise ConfigError(f"input {name}: {exc}",
                          f"set it to {'a whole' if kind is int else 'a'} number of seconds, or leave it empty "
                          f"for {default:g}") from None


def _inside(workspace: Path, value: str, name: str, given: Optional[str] = None) -> Path:
    """A path input, relative to the workspace and inside it: the action reads and writes nothing
    else of the runner's (and its comment names no runner path). ``given``: the input as written,
    for the message, when ``value`` is built from it."""
    path = (workspace / value).resolve()
    if path != workspace and workspace not in path.parents:
        raise ConfigError(f"input {name} {given if given is not None else value!r} is outside the workspace",
                          "name a path inside the repository's checkout")
    return path


def read_config(env: Mapping[str, str]) -> ActionConfig:
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
    working_directory = _inside(workspace, _input(env, "working-directory", "."), "working-directory")
    if not working_directory.is_dir():
        raise ConfigError(f"working-directory {_input(env, 'working-directory')!r} is not a directory "
                          f"of the workspace", "set it relative to the repository root, e.g. services/api")
    config = _input(env, "config", "alembic.ini")
    _inside(workspace, str(working_directory / config), "config", given=config)
    event_name = env.get("GITHUB_EVENT_NAME", "")
    event = _read_event(env.get("GITHUB_EVENT_PATH", ""), required=event_name in PR_EVENTS)
    pull_request, base_sha, head_sha = None, None, None
    if event_name in PR_EVENTS:
        try:
            pull_request = int(event["pull_request"]["number"])
            base_sha = str(event["pull_request"]["base"]["sha"])
            head_sha = str(event["pull_request"]["head"]["sha"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"the {event_name} event payload has no pull_request.number/base.sha/head.sha",
                              "run the action on a pull_request event, or pass base-ref") from exc
    server_url = env.get("GITHUB_SERVER_URL", "https://github.com")
    repository = env.get("GITHUB_REPOSITORY", "")
    run_url = None
    if repository and env.get("GITHUB_RUN_ID"):
        run_url = f"{server_url}/{repository}/actions/runs/{env['GITHUB_RUN_ID']}"
        if env.get("GITHUB_RUN_ATTEMPT"):
            run_url += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
    return ActionConfig(
        workspace=workspace,
        working_directory=working_directory,
        config=config,
        database_url=_input(env, "database-url") or env.get("ALEMBIC_CI_DATABASE_URL") or None,
        install=_input(env, "install", "auto"),
        token=_input(env, "github-token"),
        comment=_flag(env, "comment", True),
        base_ref=_input(env, "base-ref") or base_sha,
        fail_on=_input(env, "fail-on") or None,
        inputs={name: value for name, value in env.items() if name.startswith("INPUT_")},
        event_name=event_name,
        pull_request=pull_request,
        head_sha=head_sha,
        repository=repository,
        api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
        run_url=run_url,
    )


def _read_event(path: str, required: bool) -> dict:
    if not path:
        if required:
            raise ConfigError("GITHUB_EVENT_PATH is not set", "run alembic-ci action inside GitHub Actions")
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the event payload {path} ({exc})",
                          "run alembic-ci action inside GitHub Actions") from exc


def secrets_in(env: Mapping[str, str]) -> list[str]:
    """What must never reach the log: the token and the database password, as written in the
    URL and decoded. Read straight from the environment, so that masking precedes any output,
    even the error of an input that does not parse."""
    found = [_input(env, "github-token")]
    for url in (_input(env, "database-url"), env.get("ALEMBIC_CI_DATABASE_URL", "")):
        match = re.match(r"[^:/]+://[^:@/]*:([^@/]*)@", url)
        if match:
            found.append(match.group(1))
        try:
            found.append(make_url(url).password or "")
        except Exception:  # an unparsable URL is reported later, its password already masked
            pass
    return [s for s in dict.fromkeys(found) if s]


def main(env: Mapping[str, str], out: TextIO) -> int:
    """The one place side effects are created: the command stream, the runner's files, the
    GitHub client. Returns the check's exit code (0 passed, 1 failed, 2 could not check)."""
    workflow = Workflow(out, _path(env, "GITHUB_OUTPUT"), _path(env, "GITHUB_STEP_SUMMARY"))
    for secret in secrets_in(env):
        workflow.mask(secret)
    try:
        config = read_config(env)
    except CannotCheck as exc:
        workflow.error(str(exc), title="alembic-ci could not start")
        return EXIT_CANNOT_CHECK
    client = None
    if config.pull_request is not None and config.comment and config.token:
        client = gh_publish.client(config.api_url, config.token)
    _trust_workspace()
    return run(config, workflow, client)


def _path(env: Mapping[str, str], name: str) -> Optional[Path]:
    return Path(env[name]) if env.get(name) else None


def _trust_workspace() -> None:
    # Inside the container the checkout belongs to another user: git would refuse it as
    # "dubious ownership" and --base-ref could not read the base commit. Trust it for the git
    # commands of this process only (GIT_CONFIG_* variables), not in any config file.
    count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    os.environ[f"GIT_CONFIG_KEY_{count}"] = "safe.directory"
    os.environ[f"GIT_CONFIG_VALUE_{count}"] = "*"
    os.environ["GIT_CONFIG_COUNT"] = str(count + 1)


def run(config: ActionConfig, workflow: Workflow, client) -> int:
    report: Optional[Report] = None
    error = ""
    try:
        os.chdir(config.working_directory)  # env.py and script_location are relative to it
        options = config.check_options(workflow.log)
        if config.event_name == "pull_request_target":
            _pull_request_checked_out(config)
        install(config.install, config.working_directory, workflow)
        with workflow.group(f"alembic-ci: replay {config.project_key}"), interrupts_raise(), \
                scratch_server(config.database_url, None) as server:
            report = run_check(options, server)
        _paths_from_workspace(report, config)
    except CannotCheck as exc:
        error = str(exc)
    except (Exception, Interrupted) as exc:  # still say "could not check": never leave an old green comment up
        what = f"interrupted by {exc.signame}" if isinstance(exc, Interrupted) else \
            f"internal error: {exc.__class__.__name__}: {exc}"
        error = f"{what}. Rerun the job; if it happens again, report it at the alembic-ci issue tracker"
        publish(config, workflow, client, None, error)
        raise
    code = exit_code(report) if report is not None else EXIT_CANNOT_CHECK
    publish(config, workflow, client, report, error)
    return code


def _pull_request_checked_out(config: ActionConfig) -> None:
    """pull_request_target checks out the base branch, not the pull request: a check of it would
    vouch for code it never saw."""
    commits = subprocess.run(["git", "rev-list", "--parents", "-n", "1", "HEAD"], cwd=config.working_directory,
                             capture_output=True, text=True).stdout.split()
    if config.head_sha not in commits:  # HEAD itself, or a merge commit of it
        held = commits[0][:12] if commits else "no commit"
        raise ConfigError(
            f"on pull_request_target the workspace holds {held}, not the pull request's commit "
            f"{(config.head_sha or '')[:12]} (that event checks out the base branch): its check would say "
            "nothing of the pull request",
            "run alembic-ci on `pull_request` (for pull requests from forks, post the comment from a "
            "`workflow_run` workflow, as the README shows); checking out a pull request's code under "
            "pull_request_target runs it with a write token. (A merge commit checked out without "
            "`fetch-depth: 0` shows no parents either.)")


def install_command(value: str, directory: Path) -> Union[list, str, None]:
    """What the `install` input runs: None for nothing, a list for pip, a string for a shell."""
    if value == "none":
        return None
    if value != "auto":
        return value
    pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    if (directory / "requirements.txt").is_file():
        return pip + ["-r", "requirements.txt"]
    pyproject = directory / "pyproject.toml"
    # Only a pyproject.toml that declares a package: many hold nothing but tool settings.
    if pyproject.is_file() and re.search(r"^\[(project|build-system)\]", pyproject.read_text(errors="replace"), re.M):
        return pip + ["."]
    return None


def install(value: str, directory: Path, workflow: Workflow) -> None:
    command = install_command(value, directory)
    if command is None:
        return
    shown = command if isinstance(command, str) else " ".join(["pip", *command[3:]])
    with workflow.group(f"alembic-ci: install the project's dependencies ({shown})"):
        workflow.out.flush()
        # The output goes to the step's log (our stdout), in order with the commands around it.
        result = subprocess.run(command, shell=isinstance(command, str), cwd=directory,
                                stdout=workflow.out.fileno(), stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise ConfigError(f"the install step `{shown}` failed with exit code {result.returncode}",
                          "its output is in the log group above; fix it, or set the action's `install` "
                          "input (a command, or `none`)")


def _from_workspace(config: ActionConfig, path: str) -> str:
    full = os.path.normpath(os.path.join(config.working_directory, path))
    rel = os.path.relpath(full, config.workspace)
    return full if rel.startswith("..") else Path(rel).as_posix()


def _paths_from_workspace(report: Report, config: ActionConfig) -> None:
    # The check names files relative to the working directory; GitHub (annotations, readers of
    # the comment) expects them relative to the repository root.
    report.config = config.project_key
    for item in [*report.findings, *report.revisions]:
        if item.file:
            item.file = _from_workspace(config, item.file)


def publish(config: ActionConfig, workflow: Workflow, client, report: Optional[Report], error: str) -> None:
    """Report files, summary, annotations, the PR comment, outputs. A failure to comment is a
    warning: it never hides or changes the verdict."""
    report_dir = config.report_dir
    report_dir.mkdir(parents=True, exist_ok=True)
    report_file = report_dir / "report.json"
    comment_file = report_dir / "comment.md"
    summary_link = f"[the job summary]({config.run_url})" if config.run_url else "the job summary"
    if report is not None:
        report_file.write_text(render_json(report), encoding="utf-8")
        comment = render_markdown(report, max_bytes=gh_publish.COMMENT_MAX_BYTES, full_report=summary_link)
        summary = render_markdown(report, max_bytes=SUMMARY_MAX_BYTES, full_report="the JSON report "
                                  + code_span(_from_workspace(config, str(report_file))))
        workflow.out.write(render_text(report))
        _annotate(report, workflow)
    else:
        report_file.unlink(missing_ok=True)  # a report of an earlier run must not pass for this one's
        log = f"[the job log]({config.run_url})" if config.run_url else "the job log"
        comment = summary = render_cannot_check(config.project_key, error, log=log)
        workflow.error(error, title="alembic-ci could not check")
    comment_file.write_text(comment, encoding="utf-8")
    if config.pull_request is not None:
        (report_dir / "pr-number").write_text(f"{config.pull_request}\n", encoding="utf-8")
    workflow.write_summary(summary)

    comment_url = ""
    if config.pull_request is not None and config.comment:
        comment_url = _comment(config, workflow, client, comment)
    workflow.set_outputs({
        "passed": str(report is not None and report.passed).lower(),
        "heads": " ".join(report.heads) if report else "",
        "missing-migration": str(bool(report and report.missing_migration)).lower(),
        "report": _from_workspace(config, str(report_file)) if report is not None else "",
        "comment-file": _from_workspace(config, str(comment_file)),
        "comment-url": comment_url,
    })


def _annotate(report: Report, workflow: Workflow) -> None:
    # On the revision file behind each finding (GitHub shows the first 10 per step).
    for finding in report.findings:
        annotate = workflow.error if finding.severity == ERROR else workflow.warning
        message = finding.message + (f"\n\n{finding.detail}" if finding.detail else "")
        annotate(message, file=finding.file, line=finding.line, title=f"alembic-ci: {finding.code}")


def _comment(config: ActionConfig, workflow: Workflow, client, body: str) -> str:
    if client is None:
        workflow.warning("no github-token: the pull-request comment was skipped (the report is in the job "
                         "summary); pass `github-token: ${{ github.token }}` or set `comment: false`")
        return ""
    with workflow.group(f"alembic-ci: comment on pull request #{config.pull_request}"):
        try:
            comment = gh_publish.upsert_comment(client, config.repository, config.pull_request,
                                                 marker(config.project_key), body)
        except gh_publish.CommentForbidden as exc:
            workflow.warning(
                f"{exc}. The verdict stands and the report is in the job summary. Give the job "
                "`permissions: pull-requests: write`; a pull request from a fork only ever gets a read-only "
                "token: upload the comment file (output comment-file) as an artifact and post it from a "
                "`workflow_run` workflow (see the alembic-ci README).", title="alembic-ci: no PR comment")
            return ""
        except gh_publish.GitHubError as exc:
            workflow.warning(f"{exc}. The verdict stands and the report is in the job summary.",
                             title="alembic-ci: no PR comment")
            return ""
        workflow.log(f"{'created' if comment.created else 'updated'} {comment.url}")
    return comment.url
