"""The sticky pull-request comment, through PyGithub: one comment per Alembic project, found by
its hidden marker among all the PR's comments, created once and then edited in place.

Thin on purpose: a ``Github`` client comes in (``main`` makes it), typed errors go out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import requests
from github import Auth, Github, GithubException, GithubRetry
from urllib3.util.retry import Retry

# GitHub answers 422 above 65,536 characters; the renderer keeps well below.
COMMENT_MAX_BYTES = 65_000


class GitHubError(Exception):
    """A GitHub API call failed. ``str()`` is one line: what failed and why."""


class CommentForbidden(GitHubError):
    """The token may read but not comment: a pull request from a fork gets a read-only token."""


@dataclass
class Comment:
    url: str  # the comment on github.com (html_url)
    created: bool


def client(api_url: str, token: str, retries: int = 5) -> Github:
    # 5xx and secondary rate limits are retried with backoff (GithubRetry reads Retry-After and
    # the rate-limit messages); PATCH is idempotent, and POST is what the comment needs most.
    # PyGithub logs every refused request at INFO on stderr, the expected 403 of GET /user too.
    logging.getLogger("github").setLevel(logging.WARNING)
    retry = GithubRetry(total=retries, backoff_factor=1.0,
                        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST", "PATCH"})
    return Github(base_url=api_url.rstrip("/"), auth=Auth.Token(token), retry=retry, per_page=100, timeout=30)


def upsert_comment(gh: Github, repository: str, number: int, marker: str, body: str) -> Comment:
    """Edit this project's comment on pull request ``number``, or create it. Copies left by an
    earlier run (a retried POST that had in fact succeeded) are deleted: one comment, never stale."""
    try:
        login = _own_login(gh)
        issue = gh.get_repo(repository).get_issue(number)
        ours = [c for c in issue.get_comments() if (c.body or "").startswith(marker) and _is_ours(c.user, login)]
        if not ours:
            return Comment(url=issue.create_comment(body).html_url, created=True)
        first, *copies = ours
        if first.body != body:
            first.edit(body)
        for copy in copies:
            copy.delete()
        return Comment(url=first.html_url, created=False)
    except GithubException as exc:
        raise _typed(exc, repository, number) from exc
    except requests.RequestException as exc:
        raise GitHubError(f"the GitHub API did not answer ({exc.__class__.__name__}: {exc})") from exc


def _own_login(gh: Github) -> Optional[str]:
    """The token's own login; None for tokens that may not ask (the Actions GITHUB_TOKEN)."""
    try:
        return gh.get_user().login
    except GithubException as exc:
        if exc.status in (401, 403, 404):
            return None
        raise


def _is_ours(user, login: Optional[str]) -> bool:
    # Without a login (GITHUB_TOKEN, app tokens), only a bot's comment can be ours: a human
    # quoting the marker must never have their comment overwritten.
    if user is None:
        return False
    return user.login == login if login else user.type == "Bot"


def _typed(exc: GithubException, repository: str, number: int) -> GitHubError:
    message = exc.data.get("message", "") if isinstance(exc.data, dict) else str(exc.data or "")
    where = f"{repository}#{number}"
    if exc.status == 403 and "rate limit" not in message.lower():
        return CommentForbidden(f"the token may not comment on {where} (403: {message})")
    if exc.status == 404:
        return GitHubError(f"{where} was not found with this token (404: {message})")
    if exc.status == 422:
        return GitHubError(f"GitHub refused the comment on {where} (422: {message})")
    return GitHubError(f"the GitHub API failed on {where} ({exc.status}: {message})")
