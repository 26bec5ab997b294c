"""A stand-in for GitHub's REST API, at the HTTP level: an http.server on 127.0.0.1 answering
the few endpoints the sticky comment uses the way api.github.com does (JSON bodies, URLs on its
own host, ``Link`` pagination with ``per_page``, 403 for read-only tokens, 422 for long bodies),
recording every request so tests assert what the client actually did."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, urlencode, urlsplit

READ_ONLY = {"message": "Resource not accessible by integration",
             "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
             "status": "403"}
SECONDARY_RATE_LIMIT = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                                   "before you try again.",
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}


@dataclass
class Request:
    method: str
    path: str
    query: dict
    body: Optional[dict]
    authorization: str
    status: int = 0


@dataclass
class FakeGitHub:
    repository: str = "octo/shop"
    token: str = "ghs_test_token"
    # None: the token is an Actions GITHUB_TOKEN (GET /user answers 403, comments are by the bot).
    user_login: Optional[str] = None
    read_only: bool = False
    comments: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    # (method, regex on path?query, status) answered once each, before the real answer: 5xx, or
    # 403 for a secondary rate limit.
    failures: list = field(default_factory=list)
    _next_id: int = 1000

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- fixtures -----------------------------------------------------------------------
    def add_comment(self, number: int, body: str, user: Optional[dict] = None) -> dict:
        with self._lock:
            self._next_id += 1
            cid = self._next_id
        comment = {
            "id": cid, "node_id": f"IC_{cid}", "body": body,
            "url": f"{self.url}/repos/{self.repository}/issues/comments/{cid}",
            "html_url": f"https://github.com/{self.repository}/pull/{number}#issuecomment-{cid}",
            "issue_url": f"{self.url}/repos/{self.repository}/issues/{number}",
            "user": user or self.identity(), "author_association": "NONE",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "_issue": number,
        }
        self.comments.append(comment)
        return comment

    def identity(self) -> dict:
        return {"login": self.user_login, "id": 1, "type": "User"} if self.user_login else dict(BOT)

    def made(self, method: str, pattern: str = "") -> list:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def on_issue(self, number: int) -> list:
        return [c for c in self.comments if c["_issue"] == number]

    # -- the API --------------------------------------------------------------------------
    def answer(self, method: str, path: str, query: dict, body: Optional[dict]):
        """(status, json, extra headers) for one request."""
        repo = re.escape(self.repository)
        if method == "GET" and path == "/user":
            if self.user_login:
                return 200, {"login": self.user_login, "id": 1, "type": "User"}, {}
            return 403, {**READ_ONLY, "documentation_url": "https://docs.github.com/rest/users/users"}, {}
        if method == "GET" and re.fullmatch(f"/repos/{repo}", path):
            owner, name = self.repository.split("/")
            return 200, {"id": 1, "name": name, "full_name": self.repository, "owner": {"login": owner},
                         "url": f"{self.url}/repos/{self.repository}"}, {}
        match = re.fullmatch(f"/repos/{repo}/issues/(\\d+)(/comments)?", path)
        if match:
            number = int(match.group(1))
            if method == "GET" and not match.group(2):
                return 200, {"number": number, "url": f"{self.url}/repos/{self.repository}/issues/{number}",
                             "comments_url": f"{self.url}/repos/{self.repository}/issues/{number}/comments",
                             "html_url": f"https://github.com/{self.repository}/pull/{number}",
                             "pull_request": {}}, {}
            if method == "GET":
                return self._page(path, query, self.on_issue(number))
            if method == "POST":
                if self.read_only:
                    return 403, READ_ONLY, {}
                if len(body.get("body", "")) > 65536:
                    return 422, _too_long(), {}
                return 201, _public(self.add_comment(number, body["body"])), {}
        match = re.fullmatch(f"/repos/{repo}/issues/comments/(\\d+)", path)
        if match:
            comment = next((c for c in self.comments if c["id"] == int(match.group(1))), None)
            if comment is None:
                return 404, {"message": "Not Found"}, {}
            if method in ("PATCH", "DELETE") and self.read_only:
                return 403, READ_ONLY, {}
            if method == "PATCH":
                if len(body.get("body", "")) > 65536:
                    return 422, _too_long(), {}
                comment["body"] = body["body"]
                comment["updated_at"] = "2026-01-02T00:00:00Z"
                return 200, _public(comment), {}
            if method == "DELETE":
                self.comments.remove(comment)
                return 204, None, {}
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, {}

    def injected_failure(self, method: str, target: str):
        """The first of ``failures`` matching this request (its path and query), used up."""
        for i, (fail_method, pattern, status) in enumerate(self.failures):
            if fail_method == method and re.search(pattern, target):
                del self.failures[i]
                if status == 403:
                    return 403, SECONDARY_RATE_LIMIT, {"Retry-After": "1"}
                return status, {"message": "Server Error"}, {}
        return None

    def _page(self, path: str, query: dict, items: list):
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]

        def link(n: int, rel: str) -> str:
            return f'<{self.url}{path}?{urlencode({"per_page": per_page, "page": n})}>; rel="{rel}"'
        links = []
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        return 200, [_public(c) for c in chunk], ({"Link": ", ".join(links)} if links else {})


def _public(comment: dict) -> dict:
    return {k: v for k, v in comment.items() if not k.startswith("_")}


def _too_long() -> dict:
    return {"message": "Validation Failed", "errors": [
        {"resource": "IssueComment", "code": "unprocessable", "field": "data",
         "message": "Body is too long (maximum is 65536 characters)"}],
        "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment"}


def _handler(api: FakeGitHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            request = Request(self.command, parts.path, parse_qs(parts.query), body,
                              self.headers.get("Authorization", ""))
            with api._lock:
                api.requests.append(request)
                if request.authorization not in (f"token {api.token}", f"Bearer {api.token}"):
                    status, data, headers = 401, {"message": "Bad credentials"}, {}
                else:
                    status, data, headers = (api.injected_failure(self.command, self.path)
                                             or api.answer(self.command, parts.path, request.query, body))
                request.status = status
            payload = b"" if data is None else json.dumps(data).encode()
            self.send_response(status)
            if data is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args) -> None:  # keep the test output clean
            pass

    return Handler
