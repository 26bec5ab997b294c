"""The publishers on their own: the sticky comment against the GitHub API stand-in (retries,
pagination, whose comment is ours, typed errors) and the workflow-command encoding."""

from __future__ import annotations

import io

import pytest

from alembic_ci.publish.github import CommentForbidden, GitHubError, client, upsert_comment
from alembic_ci.publish.workflow import Workflow, escape_property
from github_api import FakeGitHub
from test_action import parse_outputs

MARKER = "<!-- alembic-ci: db/alembic.ini -->"


@pytest.fixture
def api():
    server = FakeGitHub()
    yield server
    server.close()


def upsert(api, body=MARKER + "\nreport", number=3):
    return upsert_comment(client(api.url, api.token), api.repository, number, MARKER, body)


def test_first_run_creates_then_edits_the_same_comment(api):
    created = upsert(api)
    assert created.created and created.url == api.on_issue(3)[0]["html_url"]
    edited = upsert(api, MARKER + "\nfixed")
    assert not edited.created and edited.url == created.url
    assert [c["body"] for c in api.on_issue(3)] == [MARKER + "\nfixed"]
    assert len(api.made("POST")) == 1 and len(api.made("PATCH")) == 1
    upsert(api, MARKER + "\nfixed")
    assert len(api.made("PATCH")) == 1, "an unchanged body is not sent again"


def test_server_errors_and_secondary_rate_limits_are_retried(api):
    api.failures = [("GET", "/comments", 502), ("POST", "", 500), ("POST", "", 403)]
    comment = upsert(api)
    assert comment.created
    statuses = [(r.method, r.status) for r in api.requests if r.path.endswith("/comments")]
    assert statuses == [("GET", 502), ("GET", 200), ("POST", 500), ("POST", 403), ("POST", 201)]
    assert len(api.on_issue(3)) == 1
    api.failures = [("PATCH", "", 503)]
    upsert(api, MARKER + "\nagain")
    assert [r.status for r in api.made("PATCH")] == [503, 200]


def test_copies_of_our_comment_are_removed_and_other_comments_kept(api):
    human = api.add_comment(3, MARKER + "\nquoted by a human", user={"login": "ann", "id": 5, "type": "User"})
    ours = api.add_comment(3, MARKER + "\nold")
    copy = api.add_comment(3, MARKER + "\nduplicate of a retried POST")
    other_project = api.add_comment(3, "<!-- alembic-ci: other/alembic.ini -->\nother")
    upsert(api, MARKER + "\nnew")
    assert [c["id"] for c in api.on_issue(3)] == [human["id"], ours["id"], other_project["id"]]
    assert ours["body"] == MARKER + "\nnew" and human["body"].endswith("quoted by a human")
    assert api.made("DELETE", f"/comments/{copy['id']}")


def test_a_personal_token_matches_its_own_login_only(api):
    api.user_login = "release-bot"
    someone_elses = api.add_comment(3, MARKER + "\nfrom another bot", user={"login": "other[bot]", "id": 6, "type": "Bot"})
    upsert(api)
    [mine] = [c for c in api.on_issue(3) if c["user"]["login"] == "release-bot"]
    assert mine["body"] == MARKER + "\nreport" and someone_elses["body"].endswith("from another bot")


def test_read_only_token_is_a_typed_error_and_not_retried(api):
    api.read_only = True
    with pytest.raises(CommentForbidden, match="Resource not accessible by integration"):
        upsert(api)
    assert len(api.made("POST")) == 1


@pytest.mark.parametrize("setup, message", [
    (lambda api: setattr(api, "token", "another"), "401: Bad credentials"),
    (lambda api: setattr(api, "repository", "octo/elsewhere"), "octo/shop#3 was not found"),
])
def test_other_api_errors_are_typed_one_liners(api, setup, message):
    setup(api)
    with pytest.raises(GitHubError, match=message) as error:
        upsert_comment(client(api.url, "ghs_test_token"), "octo/shop", 3, MARKER, MARKER + "\nx")
    assert "\n" not in str(error.value)


def test_too_long_body_is_reported_not_truncated_silently(api):
    with pytest.raises(GitHubError, match="422: Validation Failed"):
        upsert(api, MARKER + "\n" + "x" * 70000)


def test_workflow_commands_escape_what_the_runner_decodes():
    out = io.StringIO()
    workflow = Workflow(out)
    workflow.error("50% done\r\nnext: line", file="a,b:c.py", line=3, title="t: x, y")
    workflow.warning("no file", line=4)
    workflow.mask("one\ntwo")
    assert out.getvalue().splitlines() == [
        "::error file=a%2Cb%3Ac.py,line=3,title=t%3A x%2C y::50%25 done%0D%0Anext: line",
        "::warning::no file",
        "::add-mask::one",
        "::add-mask::two",
    ]
    assert escape_property("%") == "%25"


def test_outputs_survive_multi_line_values_and_delimiter_lookalikes(tmp_path):
    output = tmp_path / "output"
    workflow = Workflow(io.StringIO(), output_file=output, summary_file=tmp_path / "summary")
    values = {"heads": "a b", "report": "line 1\nEOF\nghadelimiter_x\nname=value", "empty": ""}
    workflow.set_outputs(values)
    workflow.write_summary("# one\n")
    workflow.write_summary("two\n")
    assert parse_outputs(output.read_text()) == values
    assert (tmp_path / "summary").read_text() == "# one\ntwo\n"
