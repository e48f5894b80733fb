"""A Hugging Face Hub stand-in on loopback: just the HTTP endpoints huggingface_hub calls to create a
repo, commit files, list a revision and resolve files. Point HF_ENDPOINT at `FakeHub.url`.

Repos live in memory: {repo_id: Repo}. Each token belongs to a user (`USERS`): a user creates repos and
commits only in their own namespace, and reads a private repo only if it is theirs; anyone else gets
401 + RepoNotFound, as the real Hub answers. Unknown repos, revisions and files answer 404 with the
Hub's X-Error-Code. `calls` records (method, path, user) for every request: a test reads whose token
acted (None: no token).

It also stands in for Hugging Face's OAuth provider (`/.well-known/openid-configuration`,
`/oauth/authorize`, `/oauth/token`), so that Gradio's real "Sign in with Hugging Face" runs against it:
authorizing signs in as `VISITOR` at once and hands out `VISITOR_TOKEN`.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlparse

TOKEN = "hf_fake_write_token"  # alice's: the machine's or Space owner's token in the tests
VISITOR_TOKEN = "hf_fake_visitor_oauth_token"  # a visitor's, handed out by the OAuth stand-in
VISITOR = "visitor"
USERS = {TOKEN: "alice", VISITOR_TOKEN: VISITOR}


@dataclass
class Repo:
    private: bool = False
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> {path: content}
    refs: dict[str, str] = field(default_factory=dict)  # branch -> sha

    def files(self, revision: str) -> tuple[str, dict[str, bytes]] | None:
        sha = self.refs.get(revision, revision)
        return (sha, self.commits[sha]) if sha in self.commits else None


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[str] = []
        self.calls: list[tuple[str, str, str | None]] = []  # (method, path, user whose token came)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                hub.handle(self, "HEAD")

            def do_GET(self) -> None:
                hub.handle(self, "GET")

            def do_POST(self) -> None:
                hub.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.02), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- HTTP ------------------------------------------------------------------------------------
    def handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        path = urlparse(req.path).path
        self.requests.append(f"{method} {path}")
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0)) if method == "POST" else b""
        auth = req.headers.get("Authorization", "")
        user = USERS.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        self.calls.append((method, path, user))
        query = parse_qs(urlparse(req.path).query)
        if path.startswith(("/.well-known/", "/oauth/")):
            return self.oauth(req, method, path, query, body)
        authed = user
        routes = [
            ("POST", r"/api/repos/create", self.create_repo),
            ("POST", r"/api/validate-yaml", lambda *_: (200, {}, {})),
            ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>.+)", self.preupload),
            ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>.+)", self.commit),
            ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>.+)", self.info),
            ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)",
             lambda authed, body, repo: self.info(authed, body, repo, "main")),
            ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)", self.tree),
            ("GET", r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self.resolve),
            ("HEAD", r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self.resolve),
        ]
        for m, pattern, fn in routes:
            match = re.fullmatch(pattern, path)
            if m == method and match:
                args = {k: unquote(v) for k, v in match.groupdict().items()}
                status, headers, payload = fn(authed, body, **args)
                break
        else:
            status, headers, payload = 404, {}, {"error": "no such endpoint"}
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        req.send_response(status)
        for k, v in headers.items():
            req.send_header(k, v)
        if not isinstance(payload, bytes):
            req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if method != "HEAD":
            req.wfile.write(data)

    # -- endpoints -------------------------------------------------------------------------------
    def _repo(self, repo: str, authed: str | None, rev: str | None = None):
        """(repo, (sha, files)) or an error response; `authed` is the user whose token came, if any."""
        r = self.repos.get(repo)
        if r is None or (r.private and authed != repo.split("/")[0]):
            return None, (401 if r is not None else 404, {"X-Error-Code": "RepoNotFound"},
                          {"error": "Repository not found"})
        if rev is None:
            return r, None
        found = r.files(rev)
        if found is None:
            return None, (404, {"X-Error-Code": "RevisionNotFound"}, {"error": "Invalid rev id"})
        return r, found

    def create_repo(self, authed: str | None, body: bytes):
        if not authed:
            return 401, {}, {"error": "Invalid credentials in Authorization header"}
        d = json.loads(body)
        repo_id = f"{d.get('organization') or authed}/{d['name']}"
        if repo_id.split("/")[0] != authed:
            return 403, {}, {"error": "You don't have the rights to create a model under the namespace "
                                      f"{repo_id.split('/')[0]}"}
        if repo_id in self.repos:
            return 409, {}, {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}
        self.repos[repo_id] = Repo(private=d.get("visibility") == "private")
        return 200, {}, {"url": f"{self.url}/{repo_id}"}

    def preupload(self, authed: str | None, body: bytes, repo: str, rev: str):
        r, err = self._repo(repo, authed)
        if err:
            return err
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in json.loads(body)["files"]]
        return 200, {}, {"files": files}

    def commit(self, authed: str | None, body: bytes, repo: str, rev: str):
        r, err = self._repo(repo, authed)
        if err:
            return err
        if not authed:
            return 401, {}, {"error": "Invalid credentials in Authorization header"}
        if repo.split("/")[0] != authed:
            return 403, {}, {"error": "You don't have the rights to write to this repo"}
        parent = r.files(rev)
        files = dict(parent[1]) if parent else {}
        for line in body.splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
        sha = hashlib.sha1(json.dumps(sorted((k, hashlib.sha1(v).hexdigest()) for k, v in files.items())).encode()
                           + str(len(r.commits)).encode()).hexdigest()
        r.commits[sha] = files
        r.refs[rev] = sha
        return 200, {}, {"commitUrl": f"{self.url}/{repo}/commit/{sha}", "commitOid": sha}

    def info(self, authed: str | None, body: bytes, repo: str, rev: str):
        r, found = self._repo(repo, authed, rev)
        if r is None:
            return found
        sha, files = found
        return 200, {}, {"id": repo, "sha": sha, "private": r.private, "siblings": [{"rfilename": p} for p in files]}

    def tree(self, authed: str | None, body: bytes, repo: str, rev: str):
        r, found = self._repo(repo, authed, rev)
        if r is None:
            return found
        return 200, {}, [{"type": "file", "path": p, "size": len(c), "oid": hashlib.sha1(c).hexdigest()}
                         for p, c in found[1].items()]

    def resolve(self, authed: str | None, body: bytes, repo: str, rev: str, file: str):
        r, found = self._repo(repo, authed, rev)
        if r is None:
            return found
        sha, files = found
        if file not in files:
            return 404, {"X-Error-Code": "EntryNotFound"}, {"error": "Entry not found"}
        content = files[file]
        return 200, {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha1(content).hexdigest()}"'}, content

    # -- OAuth (the provider Gradio's LoginButton talks to on a Space) ------------------------------
    def oauth(self, req: BaseHTTPRequestHandler, method: str, path: str, query: dict, body: bytes) -> None:
        if path == "/.well-known/openid-configuration":
            self._reply(req, 200, {"issuer": self.url, "authorization_endpoint": f"{self.url}/oauth/authorize",
                                   "token_endpoint": f"{self.url}/oauth/token",
                                   "userinfo_endpoint": f"{self.url}/oauth/userinfo"})
        elif path == "/oauth/authorize":  # the visitor says yes at once: back to the app with a code
            back = query["redirect_uri"][0]
            joiner = "&" if "?" in back else "?"
            req.send_response(302)
            req.send_header("Location", back + joiner + urlencode({"code": "fake-code", "state": query["state"][0]}))
            req.send_header("Content-Length", "0")
            req.end_headers()
        elif path == "/oauth/token" and method == "POST":
            self._reply(req, 200, {"access_token": VISITOR_TOKEN, "token_type": "bearer", "expires_in": 3600,
                                   "scope": "openid profile read-repos write-repos contribute-repos",
                                   "userinfo": {"preferred_username": VISITOR, "name": "A Visitor", "sub": "1"}})
        else:
            self._reply(req, 404, {"error": "no such endpoint"})

    @staticmethod
    def _reply(req: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)
