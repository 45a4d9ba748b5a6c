"""A small Hugging Face Hub-compatible HTTP server for tests (127.0.0.1 only, in memory).

It implements the routes that the unmodified ``huggingface_hub`` client uses to create a
dataset repo, inspect it, upload (preupload + LFS batch "basic" transfer + NDJSON commit),
create branches and download files (``hf_hub_download`` / ``snapshot_download``):

    POST /api/repos/create
    GET  /api/{type}s/{ns}/{name}[/revision/{rev}]          repo_info / dataset_info
    GET  /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]       list_repo_tree / list_repo_files
    POST /api/{type}s/{ns}/{name}/paths-info/{rev}          get_paths_info
    GET  /api/{type}s/{ns}/{name}/refs                      list_repo_refs
    GET  /api/{type}s/{ns}/{name}/commits/{rev}             list_repo_commits
    POST /api/{type}s/{ns}/{name}/branch/{branch}           create_branch
    DELETE /api/{type}s/{ns}/{name}/branch/{branch}         delete_branch
    DELETE /api/repos/delete                                delete_repo
    POST /api/{type}s/{ns}/{name}/preupload/{rev}           upload modes
    POST /{prefix}{ns}/{name}.git/info/lfs/objects/batch    LFS batch (upload actions point here)
    PUT  /lfs-upload/{secret}/{oid}                         LFS object upload
    POST /api/{type}s/{ns}/{name}/commit/{rev}              create_commit (NDJSON)
    POST /api/validate-yaml                                 README metadata check
    GET  /api/whoami-v2
    GET|HEAD /{prefix}{ns}/{name}/resolve/{rev}/{path}      file download

The client never uses Xet against this server only if Xet is disabled on the client side:
``huggingface_hub`` picks Xet whenever ``hf_xet`` is importable and
``constants.HF_HUB_DISABLE_XET`` is false (no server negotiation for uploads), so tests set
``huggingface_hub.constants.HF_HUB_DISABLE_XET = True``. Downloads never use Xet here
because the server sends no ``X-Xet-*`` headers.

Every route except the LFS PUT (whose URL carries a per-server secret, like a signed URL)
needs ``Authorization: Bearer <token>``. ``hold(route)`` keeps the next request to a route waiting until the test
releases it (then drops it). ``fail(route, status, times)`` injects faults; status ``CUT`` (0) drops the
connection without an answer, as a network cut mid-request does; ``CUT_AFTER`` (on "commit" only) makes the commit,
then drops the connection without an answer (the commit landed, the client cannot know).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_PATTERNS = (".parquet", ".arrow", ".bin", ".zst", ".gz", ".zip", ".safetensors")
LFS_THRESHOLD = 10 * 1024 * 1024
TYPE_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
CUT = 0  # a fault status: the server closes the connection instead of answering
CUT_AFTER = -1  # a fault status of "commit": the server makes the commit, then closes the connection unanswered


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class Entry:
    """A file in a commit's tree."""

    size: int
    sha256: str          # content address in the blob store
    lfs: bool
    oid: str             # git blob id: of the content, or of the LFS pointer


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    date: str
    tree: dict[str, Entry]


@dataclass
class Repo:
    type: str
    id: str
    private: bool
    created_at: str
    branches: dict[str, str] = field(default_factory=dict)      # name -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


@dataclass
class Hold:
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class HubState:
    """Repos, commits and blobs; every mutation happens under one lock."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blobs: dict[str, bytes] = {}          # sha256 -> content (regular and LFS)
        self.oids: dict[str, str] = {}             # sha256 -> git blob oid (of content or pointer)
        self.faults: dict[str, list[tuple[int, int]]] = {}   # route -> [(status, remaining)]
        self.holds: dict[str, Hold] = {}           # route -> the hold its next request waits in
        self.requests: list[tuple[str, str]] = []  # (method, path) log
        self.secret = hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:24]
        self._clock = 0

    # ------------------------------------------------------------------ helpers for tests

    def fail(self, route: str, status: int = 500, times: int = 1) -> None:
        """Make the next `times` requests to `route` (e.g. "commit", "preupload") fail with `status`."""
        with self.lock:
            self.faults.setdefault(route, []).append((status, times))

    def hold(self, route: str) -> Hold:
        """Make the next request to ``route`` wait, unanswered and not acted on, until ``Hold.release`` (or 60 s); then
        its connection is dropped. ``Hold.arrived`` is set when it comes: a deterministic point to interrupt the
        client at (Ctrl-C while an upload is in flight)."""
        with self.lock:
            held = self.holds[route] = Hold()
            return held

    def take_fault(self, route: str) -> int | None:
        with self.lock:
            queue = self.faults.get(route) or []
            if not queue:
                return None
            status, times = queue[0]
            if times <= 1:
                queue.pop(0)
            else:
                queue[0] = (status, times - 1)
            return status

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        with self.lock:
            try:
                return self.repos[(repo_type, repo_id)]
            except KeyError:
                raise HubError(404, "Repository not found", "RepoNotFound") from None

    def history(self, repo_id: str, branch: str = "main", repo_type: str = "dataset") -> list[Commit]:
        """Commits reachable from a branch, newest first."""
        with self.lock:
            repo = self.repo(repo_id, repo_type)
            out, oid = [], repo.branches.get(branch)
            while oid:
                out.append(repo.commits[oid])
                oid = repo.commits[oid].parent
            return out

    def files(self, repo_id: str, branch: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        """The content of every file at a branch head."""
        with self.lock:
            head = self.history(repo_id, branch, repo_type)[0]
            return {p: self.blobs[e.sha256] for p, e in head.tree.items()}

    # ------------------------------------------------------------------ model

    def now(self) -> str:
        self._clock += 1
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{self._clock % 1000:03d}Z"

    def store(self, data: bytes, lfs: bool) -> Entry:
        sha = hashlib.sha256(data).hexdigest()
        with self.lock:
            self.blobs[sha] = data
            return Entry(len(data), sha, lfs, git_blob_oid(lfs_pointer(sha, len(data)) if lfs else data))

    def lfs_entry(self, sha: str, size: int) -> Entry:
        with self.lock:
            data = self.blobs.get(sha)
            if data is None or len(data) != size:
                raise HubError(422, f"LFS object {sha} was not uploaded")
            return Entry(size, sha, True, git_blob_oid(lfs_pointer(sha, size)))

    def new_commit(self, repo: Repo, branch: str, parent: str | None, tree: dict[str, Entry], title: str,
                   message: str) -> Commit:
        with self.lock:
            date = self.now()
            seed = json.dumps([parent, sorted((p, e.oid) for p, e in tree.items()), title, message, date])
            oid = hashlib.sha1(seed.encode()).hexdigest()
            commit = Commit(oid, parent, title, message, date, dict(tree))
            repo.commits[oid] = commit
            repo.branches[branch] = oid
            return commit

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, "You already created this dataset repo")
            repo = Repo(repo_type, repo_id, private, self.now())
            self.repos[(repo_type, repo_id)] = repo
            attrs = self.store(b"*.parquet filter=lfs diff=lfs merge=lfs -text\n", lfs=False)
            self.new_commit(repo, "main", None, {".gitattributes": attrs}, "initial commit", "")
            return repo

    def put(self, repo_id: str, files: dict[str, bytes], title: str = "upload") -> Commit:
        """A commit on `main` of dataset `repo_id` (created if missing) whose tree is `.gitattributes` + `files`
        (Parquet as LFS), as a user's upload would leave it: for tests that read a dataset from the Hub."""
        with self.lock:
            repo = self.repos.get(("dataset", repo_id)) or self.create_repo("dataset", repo_id, False)
            head = repo.commits[repo.branches["main"]]
            tree = {".gitattributes": head.tree[".gitattributes"]}
            tree.update({path: self.store(data, lfs=path.endswith(".parquet")) for path, data in files.items()})
            return self.new_commit(repo, "main", head.oid, tree, title, "")

    def resolve(self, repo: Repo, rev: str) -> Commit:
        with self.lock:
            if rev in repo.branches:
                return repo.commits[repo.branches[rev]]
            if rev in repo.commits:
                return repo.commits[rev]
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")


# ---------------------------------------------------------------------------- HTTP layer

API_REPO = re.compile(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/(.*))?$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # --------------------------------------------------------------- plumbing

    @property
    def state(self) -> HubState:
        return self.server.state

    @property
    def base(self) -> str:
        return self.server.url

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        self.body = self._read_body()
        self.state.requests.append((method, path))
        try:
            self._route(method, path, query)
        except HubError as exc:
            if exc.status == CUT:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._error(exc)
        except Exception as exc:  # a bug in the test server: report it as a 500 with the reason
            self._error(HubError(500, f"test server error: {type(exc).__name__}: {exc}"))

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json", head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, exc: HubError) -> None:
        headers = {"X-Error-Message": exc.message, **exc.headers}
        if exc.code:
            headers["X-Error-Code"] = exc.code
        self._send(exc.status, json.dumps({"error": exc.message}).encode(), headers,
                   head=self.command == "HEAD")

    def _auth(self) -> None:
        header = self.headers.get("Authorization") or ""
        if not header:
            raise HubError(401, "Invalid username or password.")
        if header != f"Bearer {self.state.token}":
            raise HubError(401, "Invalid credentials in Authorization header")

    def _fault(self, route: str) -> int | None:
        """Raise the fault injected on ``route``; CUT_AFTER is returned, for the route to act on before it cuts. A held
        request (``HubState.hold``) waits for its release, then is cut."""
        with self.state.lock:
            held = self.state.holds.pop(route, None)
        if held is not None:
            held.arrived.set()
            held.release.wait(60)
            raise HubError(CUT, f"{route} held, then dropped")
        status = self.state.take_fault(route)
        if status == CUT_AFTER:
            return status
        if status is not None:
            raise HubError(status, f"injected failure on {route}")
        return None

    def _payload(self) -> dict[str, Any]:
        ctype = (self.headers.get("Content-Type") or "").lower()
        if "application/x-www-form-urlencoded" in ctype:
            form = parse_qs(self.body.decode(), keep_blank_values=True)
            return {k: (v if k == "paths" else v[-1]) for k, v in form.items()}
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise HubError(400, "invalid JSON body") from None

    # --------------------------------------------------------------- routing

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        if method == "PUT" and path.startswith("/lfs-upload/"):
            return self._lfs_put(path)
        self._auth()
        if path == "/api/whoami-v2" and method == "GET":
            return self._json({"type": "user", "name": "tester", "orgs": [],
                               "auth": {"type": "access_token", "accessToken": {"role": "write"}}})
        if path == "/api/repos/create" and method == "POST":
            self._fault("create")
            return self._create_repo()
        if path == "/api/repos/delete" and method == "DELETE":
            self._fault("delete-repo")
            return self._delete_repo()
        if path == "/api/validate-yaml" and method == "POST":
            return self._validate_yaml()
        m = API_REPO.match(path)
        if m:
            return self._api_repo(method, m.group(1)[:-1], unquote(m.group(2)), m.group(3) or "", query)
        m = re.match(r"^/(datasets/|spaces/)?([^/]+/[^/]+?)\.git/info/lfs/objects/batch$", path)
        if m and method == "POST":
            self._fault("lfs-batch")
            return self._lfs_batch()
        m = re.match(r"^/(datasets/|spaces/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m and method in ("GET", "HEAD"):
            self._fault("resolve")
            repo_type = {"datasets/": "dataset", "spaces/": "space"}.get(m.group(1) or "", "model")
            return self._resolve(method, repo_type, unquote(m.group(2)), unquote(m.group(3)), unquote(m.group(4)))
        raise HubError(404, f"no route for {method} {path}")

    def _api_repo(self, method: str, repo_type: str, repo_id: str, rest: str, query: dict[str, list[str]]) -> None:
        action, _, tail = rest.partition("/")
        if method == "GET" and action == "":
            return self._info(repo_type, repo_id, "main", query)
        if method == "GET" and action == "revision":
            return self._info(repo_type, repo_id, unquote(tail), query)
        if method == "GET" and action == "tree":
            rev, _, sub = tail.partition("/")
            return self._tree(repo_type, repo_id, unquote(rev), unquote(sub), query)
        if method == "POST" and action == "paths-info":
            return self._paths_info(repo_type, repo_id, unquote(tail))
        if method == "GET" and action == "refs":
            return self._refs(repo_type, repo_id)
        if method == "GET" and action == "commits":
            return self._commits(repo_type, repo_id, unquote(tail or "main"))
        if method == "POST" and action == "branch":
            self._fault("branch")
            return self._create_branch(repo_type, repo_id, unquote(tail))
        if method == "DELETE" and action == "branch":
            self._fault("delete-branch")
            return self._delete_branch(repo_type, repo_id, unquote(tail))
        if method == "POST" and action == "preupload":
            self._fault("preupload")
            return self._preupload(repo_type, repo_id, unquote(tail))
        if method == "POST" and action == "commit":
            if self._fault("commit") == CUT_AFTER:
                self._commit(repo_type, repo_id, unquote(tail), answer=False)
                raise HubError(CUT, "injected cut after the commit")
            return self._commit(repo_type, repo_id, unquote(tail))
        raise HubError(404, f"no route for {method} /api/{repo_type}s/{repo_id}/{rest}")

    # --------------------------------------------------------------- repos

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.base}/{TYPE_PREFIX[repo.type]}{repo.id}"

    def _create_repo(self) -> None:
        p = self._payload()
        name, org = p.get("name"), p.get("organization")
        if not name:
            raise HubError(400, "missing name")
        repo_id = f"{org}/{name}" if org else f"tester/{name}"
        repo_type = p.get("type") or "model"
        private = p.get("visibility") == "private" or bool(p.get("private"))
        try:
            repo = self.state.create_repo(repo_type, repo_id, private)
        except HubError as exc:
            if exc.status == 409:
                url = f"{self.base}/{TYPE_PREFIX[repo_type]}{repo_id}"
                return self._json({"error": exc.message, "url": url}, 409, {"X-Error-Message": exc.message})
            raise
        self._json({"url": self._repo_url(repo), "name": repo_id, "id": repo_id})

    def _delete_repo(self) -> None:
        p = self._payload()
        name, org = p.get("name"), p.get("organization")
        key = (p.get("type") or "model", f"{org}/{name}" if org else f"tester/{name}")
        with self.state.lock:
            if key not in self.state.repos:
                raise HubError(404, "Repository not found", "RepoNotFound")
            del self.state.repos[key]
        self._json({})

    def _info(self, repo_type: str, repo_id: str, rev: str, query: dict[str, list[str]]) -> None:
        repo = self.state.repo(repo_id, repo_type)
        commit = self.state.resolve(repo, rev)
        blobs = query.get("blobs", ["false"])[-1].lower() in ("1", "true")
        siblings = []
        for p, e in sorted(commit.tree.items()):
            s: dict[str, Any] = {"rfilename": p}
            if blobs:
                s.update(size=e.size, blobId=e.oid)
                if e.lfs:
                    s["lfs"] = {"sha256": e.sha256, "size": e.size, "pointerSize": len(lfs_pointer(e.sha256, e.size))}
            siblings.append(s)
        card = {}
        if "README.md" in commit.tree:
            card = _front_matter(self.state.blobs[commit.tree["README.md"].sha256].decode("utf-8", "replace"))
        self._json({
            "_id": hashlib.sha1(repo.id.encode()).hexdigest()[:24], "id": repo.id, "author": repo.id.split("/")[0],
            "sha": commit.oid, "lastModified": commit.date, "createdAt": repo.created_at,
            "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
            "tags": list(card.get("tags") or []), "cardData": card, "siblings": siblings,
        })

    def _entry_json(self, path: str, e: Entry) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "file", "oid": e.oid, "size": e.size, "path": path}
        if e.lfs:
            d["lfs"] = {"oid": e.sha256, "size": e.size, "pointerSize": len(lfs_pointer(e.sha256, e.size))}
        return d

    def _dir_json(self, path: str, commit: Commit) -> dict[str, Any]:
        oid = hashlib.sha1(f"{commit.oid}:{path}".encode()).hexdigest()
        return {"type": "directory", "oid": oid, "size": 0, "path": path}

    def _tree(self, repo_type: str, repo_id: str, rev: str, sub: str, query: dict[str, list[str]]) -> None:
        repo = self.state.repo(repo_id, repo_type)
        commit = self.state.resolve(repo, rev)
        recursive = query.get("recursive", ["false"])[-1].lower() in ("1", "true")
        sub = sub.strip("/")
        prefix = sub + "/" if sub else ""
        if sub and sub not in _dirs(commit.tree) and not any(p.startswith(prefix) for p in commit.tree):
            raise HubError(404, f"{sub} does not exist on {rev}", "EntryNotFound")
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for p, e in sorted(commit.tree.items()):
            if not p.startswith(prefix):
                continue
            rel = p[len(prefix):]
            parts = rel.split("/")
            for i in range(1, len(parts)):
                d = prefix + "/".join(parts[:i])
                if d not in seen and (recursive or i == 1):
                    seen.add(d)
                    out.append(self._dir_json(d, commit))
            if recursive or len(parts) == 1:
                out.append(self._entry_json(p, e))
        self._json(out)

    def _paths_info(self, repo_type: str, repo_id: str, rev: str) -> None:
        repo = self.state.repo(repo_id, repo_type)
        commit = self.state.resolve(repo, rev)
        paths = self._payload().get("paths") or []
        if isinstance(paths, str):
            paths = [paths]
        dirs = _dirs(commit.tree)
        out = []
        for p in paths:
            p = p.strip("/")
            if p in commit.tree:
                out.append(self._entry_json(p, commit.tree[p]))
            elif p in dirs:
                out.append(self._dir_json(p, commit))
        self._json(out)

    def _refs(self, repo_type: str, repo_id: str) -> None:
        repo = self.state.repo(repo_id, repo_type)
        branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": oid} for b, oid in sorted(repo.branches.items())]
        self._json({"branches": branches, "converts": [], "tags": []})

    def _commits(self, repo_type: str, repo_id: str, rev: str) -> None:
        repo = self.state.repo(repo_id, repo_type)
        commit = self.state.resolve(repo, rev)
        out = []
        oid: str | None = commit.oid
        while oid:
            c = repo.commits[oid]
            out.append({"id": c.oid, "title": c.title, "message": c.message, "date": c.date,
                        "authors": [{"user": "tester"}]})
            oid = c.parent
        self._json(out)

    def _create_branch(self, repo_type: str, repo_id: str, branch: str) -> None:
        repo = self.state.repo(repo_id, repo_type)
        start = self._payload().get("startingPoint") or "main"
        with self.state.lock:
            if branch in repo.branches:
                raise HubError(409, f"Reference refs/heads/{branch} already exists")
            repo.branches[branch] = self.state.resolve(repo, start).oid
        self._json({})

    def _delete_branch(self, repo_type: str, repo_id: str, branch: str) -> None:
        repo = self.state.repo(repo_id, repo_type)
        with self.state.lock:
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if branch == "main":
                raise HubError(403, "You cannot delete the default branch")
            del repo.branches[branch]
        self._json({})

    # --------------------------------------------------------------- uploads

    def _preupload(self, repo_type: str, repo_id: str, rev: str) -> None:
        repo = self.state.repo(repo_id, repo_type)
        commit = self.state.resolve(repo, rev)
        files = []
        for f in self._payload().get("files") or []:
            path, size = f["path"], int(f.get("size") or 0)
            sample = base64.b64decode(f.get("sample") or "")
            lfs = path.endswith(LFS_PATTERNS) or size > LFS_THRESHOLD or b"\0" in sample
            existing = commit.tree.get(path)
            oid = None
            if existing is not None:
                oid = existing.sha256 if existing.lfs else existing.oid
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": oid})
        self._json({"files": files, "commitOid": commit.oid})

    def _lfs_batch(self) -> None:
        p = self._payload()
        if p.get("operation") != "upload":
            raise HubError(400, "only uploads are supported")
        objects = []
        for obj in p.get("objects") or []:
            oid, size = obj["oid"], int(obj["size"])
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            have = self.state.blobs.get(oid)
            if have is None or len(have) != size:
                entry["actions"] = {"upload": {"href": f"{self.base}/lfs-upload/{self.state.secret}/{oid}",
                                               "header": {}, "expires_in": 3600}}
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")

    def _lfs_put(self, path: str) -> None:
        parts = path.split("/")
        if len(parts) != 4 or parts[2] != self.state.secret:
            raise HubError(403, "invalid upload URL")
        self._fault("lfs-upload")
        oid = parts[3]
        if hashlib.sha256(self.body).hexdigest() != oid:
            raise HubError(400, "uploaded content does not match its sha256")
        self.state.store(self.body, lfs=True)
        self._send(200, b"", content_type="text/plain")

    def _commit(self, repo_type: str, repo_id: str, rev: str, answer: bool = True) -> None:
        repo = self.state.repo(repo_id, repo_type)
        lines = [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the first line of a commit must be its header")
        header = lines[0]["value"]
        with self.state.lock:
            if rev not in repo.branches:
                raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            head = repo.commits[repo.branches[rev]]
            parent = header.get("parentCommit")
            if parent and parent != head.oid:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            tree = dict(head.tree)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = value.get("path", "")
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HubError(400, "only base64 file content is supported")
                    tree[path] = self.state.store(base64.b64decode(value["content"]), lfs=False)
                elif key == "lfsFile":
                    data = self.state.blobs.get(value["oid"])
                    size = value.get("size", len(data) if data is not None else -1)
                    tree[path] = self.state.lfs_entry(value["oid"], int(size))
                elif key == "deletedFile":
                    if path not in tree:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                    del tree[path]
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    gone = [p for p in tree if p.startswith(prefix)]
                    if not gone:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for p in gone:
                        del tree[p]
                else:
                    raise HubError(400, f"unknown commit operation {key!r}")
            commit = self.state.new_commit(repo, rev, head.oid, tree, header.get("summary", ""),
                                           header.get("description", ""))
        if not answer:
            return
        url = f"{self._repo_url(repo)}/commit/{commit.oid}"
        self._json({"success": True, "commitOid": commit.oid, "commitUrl": url, "pullRequestUrl": None})

    def _validate_yaml(self) -> None:
        p = self._payload()
        content = p.get("content") or ""
        try:
            meta = _front_matter(content, strict=True)
        except ValueError as exc:
            return self._json({"errors": [{"message": str(exc)}], "warnings": []}, 400)
        errors = _metadata_errors(meta)
        if errors:
            return self._json({"errors": [{"message": e} for e in errors], "warnings": []}, 400)
        self._json({"errors": [], "warnings": []})

    # --------------------------------------------------------------- downloads

    def _resolve(self, method: str, repo_type: str, repo_id: str, rev: str, path: str) -> None:
        repo = self.state.repo(repo_id, repo_type)
        commit = self.state.resolve(repo, rev)
        entry = commit.tree.get(path)
        if entry is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        data = self.state.blobs[entry.sha256]
        etag = entry.sha256 if entry.lfs else entry.oid
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        status = 200
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if m and method == "GET":
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start:end + 1], 206
        self._send(status, data, headers, content_type="application/octet-stream", head=method == "HEAD")


# The Hub's license ids (its README validation refuses any other `license`, in any other case): its published list,
# kept as data in stdlib/cards/hub_licenses.txt.
HUB_LICENSES = frozenset(line.strip() for line in (Path(__file__).resolve().parent.parent / "stdlib" / "cards" /
                                                   "hub_licenses.txt").read_text(encoding="utf-8").splitlines()
                         if line.strip() and not line.startswith("#"))
SIZE_CATEGORIES = frozenset({"n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M",
                             "100M<n<1B", "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T"})


def _metadata_errors(meta: dict[str, Any]) -> list[str]:
    """What the Hub's README validation says of card metadata (the rules humc's cards meet: license, sizes)."""
    errors = []
    licenses = meta.get("license")
    for value in licenses if isinstance(licenses, list) else [] if licenses is None else [licenses]:
        if value not in HUB_LICENSES:
            errors.append(f'"license" must be one of [{", ".join(sorted(HUB_LICENSES))}]')
    for value in meta.get("size_categories") or []:
        if value not in SIZE_CATEGORIES:
            errors.append(f'"size_categories" must be one of [{", ".join(sorted(SIZE_CATEGORIES))}]')
    return errors


def _dirs(tree: dict[str, Entry]) -> set[str]:
    out = set()
    for p in tree:
        parts = p.split("/")
        out.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return out


def _front_matter(text: str, strict: bool = False) -> dict[str, Any]:
    m = re.match(r"^\s*---\r?\n([\s\S]*?)\r?\n---[ \t]*(\r?\n|$)", text)
    if not m:
        return {}
    try:
        data = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        if strict:
            raise ValueError(f"invalid YAML metadata: {exc}") from None
        return {}
    if not isinstance(data, dict):
        if strict:
            raise ValueError("metadata must be a mapping")
        return {}
    return data


class HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, token: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = HubState(token)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def start(self) -> HubHTTPServer:
        self._thread = threading.Thread(target=self.serve_forever, name="hubserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop kept-alive connections (clients see the server as gone)."""
        self.shutdown()
        self.server_close()
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubHTTPServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(token: str = "hf_test_token") -> HubHTTPServer:
    """Start a server in a background thread; call .stop() when done."""
    return HubHTTPServer(token).start()


if __name__ == "__main__":  # manual use: python tests/hubserver.py (docs/publishing.md)
    import argparse

    argparse.ArgumentParser(description="A Hub-compatible test server on 127.0.0.1 (a free port, in memory); token "
                                        "hf_test_token. Stop it with Ctrl-C.").parse_args()
    srv = HubHTTPServer("hf_test_token")
    print(f"serving on {srv.url} (token hf_test_token)", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
