"""Publish a built dataset folder to the Hugging Face Hub (or any Hub-compatible endpoint).

``push_dataset`` is idempotent and atomic:

* the folder must be a complete humc build: ``build.json`` is present and every file it
  lists exists with the recorded sha256 (otherwise nothing is sent);
* the remote files are compared with the local ones first (sha256 of LFS files, git blob
  id of regular files such as README.md); when they are equal no commit is made;
* otherwise everything goes into ONE commit: every file of the build, plus deletions of
  remote files of an earlier build that this build no longer has (``data/*.parquet`` shards, the card's
  ``plots/*.png``). The commit is made against
  the remote head that was compared (``parent_commit``), so a concurrent change is
  detected instead of overwritten. A failed commit changes nothing on the remote.
* a push that fails (or is interrupted: Ctrl-C, SIGTERM) after it created the repository or the branch removes them
  again (``_undo``): the branch while
  it still points at the commit it was made from, the repository while it is still empty (nothing but the
  ``.gitattributes`` of its creation, on ``main`` alone). What the push did not create is never deleted, and a
  commit that may have landed (the connection broke while it was made) is kept, with the branch or repository.
* the folder is read under its lock (``humc.locks``, shared): a build of the same output
  waits until the upload has read it, and the push waits for a build's swap to finish, so
  a folder is never uploaded mid-replacement.

Every failure is reported as a ``PublishError`` (status, server message, a hint), never
as a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

from humc.dataset.manifest import MANIFEST, sha256_file
from humc.errors import PublishError, brief, one_line
from humc.locks import folder_lock
from humc.sources_hub import BRANCH_HINT, is_connection_error, valid_branch_name

DEFAULT_ENDPOINT = "https://huggingface.co"
TOKEN_HINT = ("set HF_TOKEN to a Hugging Face access token with write permission "
              "(https://huggingface.co/settings/tokens), or run `hf auth login`")


@dataclass
class PushResult:
    commit_url: str | None      # None when the remote already held this build (no commit made)
    created: bool               # the repository was created by this push
    uploaded: list[str] = field(default_factory=list)   # files whose remote content changed
    deleted: list[str] = field(default_factory=list)    # stale remote shards and plots removed
    repo_url: str = ""
    revision: str = "main"
    branch_created: bool = False  # ``revision`` named no branch: this push created it (from main)

    @property
    def changed(self) -> bool:
        return self.commit_url is not None


@dataclass
class _Made:
    """What a push created on the Hub so far, for ``_undo`` when it fails."""

    repo: bool = False          # the repository (it did not exist when the push began)
    branch: str | None = None   # the branch, made from commit ``start``
    start: str | None = None


@dataclass(frozen=True)
class LocalFile:
    path: str        # path in the repo (posix)
    local: Path
    sha256: str
    size: int


# ---------------------------------------------------------------------------- public API


def push_dataset(folder: Path, repo_id: str, *, private: bool = False, revision: str | None = None,
                 token: str | None = None, endpoint: str | None = None,
                 commit_message: str | None = None, wait: bool = True, replace: bool = False) -> PushResult:
    """Publish the humc build in ``folder`` to the dataset repo ``repo_id`` (ORG/NAME). The folder is read under its
    lock (shared, ``humc.locks``): a build replacing it is waited for (``wait=False``: E3004), and waits in turn.
    A branch holding another recipe's build is refused (E5003) unless ``replace``."""
    folder = Path(folder)
    check_repo_id(repo_id)
    if revision is not None:
        _check_revision(revision)
    token = resolve_token(token)
    endpoint = hub_endpoint(endpoint)
    made = _Made()
    with folder_lock(folder, what="output folder", command="humc push", shared=True, wait=wait):
        manifest, files = verify_build(folder)
        try:
            with _hub_errors(repo_id, endpoint, revision):
                result = _push(folder, repo_id, files, manifest, private=private, revision=revision, token=token,
                               endpoint=endpoint, commit_message=commit_message, made=made, replace=replace)
        except PublishError as exc:
            exc.notes.extend(_undo(made, repo_id, token, endpoint))
            raise
        except KeyboardInterrupt as exc:  # Ctrl-C (or SIGTERM: cli.Terminated) mid-push: undone as a failure is
            notes = [*getattr(exc, "__notes__", []), *_undo(made, repo_id, token, endpoint)]
            exc.__notes__ = notes  # type: ignore[attr-defined]  # PEP 678's notes (3.11's add_note); the CLI says them
            raise
    return result


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils._validators import validate_repo_id

    hint = "a dataset repository is named ORG/NAME, e.g. my-org/my-dataset"
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise PublishError(f"invalid repository id {repo_id!r}: expected ORG/NAME", hint=hint, code="E0008")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise PublishError(f"invalid repository id {repo_id!r}", hint=hint,
                           notes=[str(exc).splitlines()[0]], code="E0008") from None


def resolve_token(token: str | None = None) -> str:
    """An explicit token, else HF_TOKEN, else the token saved by `hf auth login`."""
    if token:
        return token
    env = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if env and env.strip():
        return env.strip()
    try:
        from huggingface_hub import get_token

        saved = get_token()
    except Exception:  # a broken token file is the same as none
        saved = None
    if not saved:
        raise PublishError("no Hugging Face token found; publishing needs one", hint=TOKEN_HINT)
    return saved


def verify_build(folder: Path) -> tuple[dict[str, Any], list[LocalFile]]:
    """The manifest and files of a complete humc build, or a PublishError."""
    hint = "run `humc build RECIPE` first (and don't edit the output folder by hand)"
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder", hint=hint)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishError(f"{folder} is not a humc build: {MANIFEST} is missing", hint=hint) from None
    except (OSError, ValueError, RecursionError) as exc:
        why = "nested too deeply to read" if isinstance(exc, RecursionError) else exc
        raise PublishError(f"{folder / MANIFEST} is unreadable: {why}", hint=hint) from None
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict) or not listed:
        raise PublishError(f"{folder / MANIFEST} lists no files", hint=hint)
    files: list[LocalFile] = []
    problems: list[str] = []
    for rel, digest in sorted(listed.items()):
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or rel == MANIFEST:
            problems.append(f"{rel}: not a path inside the build")
            continue
        path = folder / pure
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel}: content differs from {MANIFEST}")
        else:
            files.append(LocalFile(str(pure), path, digest, path.stat().st_size))
    if not any(f.path == "README.md" for f in files) and "README.md" not in listed:
        problems.append("README.md: not part of the build")
    if problems:
        raise PublishError(f"{folder} is not a complete humc build ({len(problems)} problem(s))", hint=hint,
                           notes=problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else []))
    path = folder / MANIFEST
    files.append(LocalFile(MANIFEST, path, sha256_file(path), path.stat().st_size))
    return manifest, files


# ---------------------------------------------------------------------------- the push


def _push(folder: Path, repo_id: str, files: list[LocalFile], manifest: dict[str, Any], *, private: bool,
          revision: str | None, token: str, endpoint: str, commit_message: str | None,
          made: _Made, replace: bool) -> PushResult:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    api = HfApi(endpoint=endpoint, token=token)
    branch = revision or "main"
    created = False
    try:
        existing = api.repo_info(repo_id, repo_type="dataset", token=token)
    except RepositoryNotFoundError:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token)
        created = made.repo = True
    else:
        check_visibility(existing, repo_id, private)
    # a new branch starts from main: main's files are compared (and must be humc's) before the branch is made, so a
    # refused push leaves no branch behind
    start = branch if revision is None or _has_branch(api, repo_id, revision, token) else "main"
    head = api.repo_info(repo_id, repo_type="dataset", revision=start, token=token).sha
    remote = {f.path: f for f in _remote_files(api, repo_id, start, token)}
    check_owned(remote, repo_id, branch, start)
    ours = next(f for f in files if f.path == MANIFEST)
    if MANIFEST in remote and not replace and not _same(ours, remote[MANIFEST]):
        check_same_recipe(_remote_manifest(api, repo_id, start, token), manifest, repo_id, branch)
    changed = [f.path for f in files if not _same(f, remote.get(f.path))]
    local_paths = {f.path for f in files}
    stale = sorted(p for p in remote if p not in local_paths and is_build_output(p))
    repo_url = f"{endpoint}/datasets/{repo_id}" + (f"/tree/{revision}" if revision else "")
    branch_created = start != branch
    if branch_created:  # from the commit compared, so that it is the commit's parent even if main moved meanwhile
        api.create_branch(repo_id, branch=branch, revision=head, repo_type="dataset", token=token)
        made.branch, made.start = branch, head
    if not changed and not stale:
        return PushResult(None, created, [], [], repo_url=repo_url, revision=branch, branch_created=branch_created)

    operations: list[Any] = [CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(f.local)) for f in files]
    operations += [CommitOperationDelete(path_in_repo=p) for p in stale]
    fingerprint = str(manifest.get("fingerprint", ""))[:16]
    name = manifest.get("recipe") or folder.name
    counts = manifest.get("counts") or {}
    message = commit_message or f"humc: publish {name}" + (f" ({fingerprint})" if fingerprint else "")
    description = "\n".join([
        f"Built by humc {manifest.get('humc_version', '?')} from recipe `{name}`.",
        f"Plan fingerprint: {manifest.get('fingerprint', '?')}",
        "Records: " + (", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"),
        f"Changed: {len(changed)} file(s); deleted: {len(stale)} stale file(s).",
    ])
    info = api.create_commit(repo_id, operations, commit_message=message, commit_description=description,
                             repo_type="dataset", revision=branch, parent_commit=head or None, token=token)
    return PushResult(str(info.commit_url), created, changed, stale, repo_url=repo_url, revision=branch,
                      branch_created=branch_created)


def _undo(made: _Made, repo_id: str, token: str, endpoint: str) -> list[str]:
    """Remove what a failed push created (``made``) and no commit has reached since; the notes saying what was removed,
    what was kept and why. Never raises: a failure to clean up is a note beside the push's own error."""
    from huggingface_hub import HfApi

    if not made.repo and made.branch is None:
        return []
    api = HfApi(endpoint=endpoint, token=token)
    notes: list[str] = []
    try:
        refs = api.list_repo_refs(repo_id, repo_type="dataset", token=token)
        heads = {ref.name: ref.target_commit for ref in refs.branches}
        if made.branch is not None and heads.get(made.branch) == made.start:
            api.delete_branch(repo_id, branch=made.branch, repo_type="dataset", token=token)
            heads.pop(made.branch)
            notes.append(f"removed the branch {made.branch!r}, which this push had created")
        elif made.branch is not None:
            notes.append(f"kept the branch {made.branch!r} this push created: it holds a commit (the one this push "
                         "made before the connection broke, or another)")
        if made.repo and _still_empty(api, repo_id, heads, refs, token):
            api.delete_repo(repo_id, repo_type="dataset", token=token, missing_ok=True)
            notes.append(f"deleted the repository {repo_id}, which this push had created (it was still empty)")
        elif made.repo:
            notes.append(f"kept the repository {repo_id} this push created: it is no longer empty")
    except Exception as exc:  # the Hub may be as unreachable as it was for the push
        what = " and ".join(x for x in (f"the branch {made.branch!r}" if made.branch else "",
                                        f"the repository {repo_id}" if made.repo else "") if x)
        notes.append(f"could not check or remove {what}, which this push had created ({brief(exc)}): the next "
                     f"`humc push` publishes into {'it' if ' and ' not in what else 'them'}, or delete "
                     f"{'it' if ' and ' not in what else 'them'} on the Hub")
    return notes


def _still_empty(api: Any, repo_id: str, heads: Mapping[str, Any], refs: Any, token: str) -> bool:
    """Whether a repository holds nothing but what its creation put there: one branch, main, no tag, no file but
    ``.gitattributes``."""
    if set(heads) != {"main"} or refs.tags:
        return False
    return {f.path for f in _remote_files(api, repo_id, "main", token)} <= {".gitattributes"}


def _has_branch(api: Any, repo_id: str, branch: str, token: str) -> bool:
    refs = api.list_repo_refs(repo_id, repo_type="dataset", token=token)
    return any(ref.name == branch for ref in refs.branches)


def check_visibility(info: Any, repo_id: str, private: bool) -> None:
    """Refuse (E5004) to publish a dataset asked to be private into an existing repository that is public: the
    visibility is set only when a repository is created, and a private dataset must never become public by a push."""
    if private and getattr(info, "private", None) is False:
        raise PublishError(f"{repo_id} is a public repository, and the dataset is to be private", code="E5004",
                           expected="a new repository (humc creates it private) or an existing private one",
                           hint="make the repository private in its settings on the Hub, publish to another "
                                "repository, or, if it may be public, `humc push … --public` (or `publish: "
                                "{private: false}`); nothing was published")


NOT_CONTENT = frozenset({".gitattributes", "README.md"})  # what a repository created empty (or with a card) holds


def check_owned(remote: Mapping[str, Any], repo_id: str, branch: str, start: str | None = None) -> None:
    """Refuse (E5003) a branch that holds files humc did not publish: no build.json, and more than a card. Mixing
    the dataset with someone else's files would publish a dataset nobody built (and replace their card). ``remote``
    is the files of ``start`` when ``branch`` is yet to be made from it."""
    if MANIFEST in remote:
        return
    foreign = sorted(p for p in remote if p not in NOT_CONTENT)
    if foreign:
        shown = [*foreign[:5], *([f"... and {len(foreign) - 5} more"] if len(foreign) > 5 else [])]
        where = f"branch {branch}" if start in (None, branch) else f"branch {start}, which the new branch {branch} " \
                                                                     "would start from"
        raise PublishError(f"{repo_id} ({where}) holds {len(foreign)} file(s) that humc did not publish",
                           code="E5003", expected=f"a new or empty dataset repository, or one humc published to "
                                                  f"(it has {MANIFEST})",
                           hint="publish to another repository (--repo ORG/NAME, or publish.repo in the recipe), or "
                                "remove those files on the Hub first; nothing was published",
                           notes=[f"remote file: {p}" for p in shown])


def check_same_recipe(remote: Mapping[str, Any] | None, local: Mapping[str, Any], repo_id: str, branch: str) -> None:
    """Refuse (E5003) to publish over the build of another recipe (its `build.json` names another): that would
    replace a dataset with an unrelated one and delete its shards. A remote manifest that cannot be read names none."""
    theirs, ours = (remote or {}).get("recipe"), local.get("recipe")
    if isinstance(theirs, str) and theirs and ours and theirs != ours:
        raise PublishError(f"{repo_id} (branch {branch}) holds the dataset of recipe '{theirs}', not of '{ours}'",
                           code="E5003", expected=f"a repository holding recipe '{ours}''s build, a new or an empty one",
                           hint="publish to another repository (--repo ORG/NAME, or publish.repo in the recipe), or "
                                "`humc push … --replace` to replace that dataset; nothing was published")


def _remote_manifest(api: Any, repo_id: str, revision: str, token: str) -> dict[str, Any] | None:
    """The remote branch's `build.json`, or None when it is not a JSON object."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="humc-push-") as tmp:
        path = api.hf_hub_download(repo_id, MANIFEST, repo_type="dataset", revision=revision, token=token,
                                   local_dir=tmp)
        try:
            value = json.loads(Path(path).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
    return value if isinstance(value, dict) else None


def _remote_files(api: Any, repo_id: str, branch: str, token: str) -> Iterator[Any]:
    from huggingface_hub.hf_api import RepoFile

    for entry in api.list_repo_tree(repo_id, recursive=True, revision=branch, repo_type="dataset", token=token):
        if isinstance(entry, RepoFile):
            yield entry


def _same(local: LocalFile, remote: Any) -> bool:
    """Whether a remote file (RepoFile) already holds exactly the local bytes."""
    if remote is None or remote.size is None:
        return False
    if remote.lfs is not None:
        return bool(remote.lfs.sha256 == local.sha256 and remote.lfs.size == local.size)
    if remote.size != local.size:
        return False
    from huggingface_hub.utils.sha import git_hash

    return bool(remote.blob_id == git_hash(local.local.read_bytes()))


def is_build_output(path: str) -> bool:
    """A file of the layout the writer lays out besides the card and manifest: a shard or a plot of the card. Such a
    remote file that the local build no longer has is an earlier build's, and the push deletes it."""
    return (path.startswith("data/") and path.endswith(".parquet")) or (path.startswith("plots/")
                                                                         and path.endswith(".png"))


def _check_revision(revision: str) -> None:
    if not valid_branch_name(revision):
        raise PublishError(f"invalid branch name {revision!r}", hint=BRANCH_HINT, code="E0008")


def hub_endpoint(endpoint: str | None = None) -> str:
    """The Hub to publish to: ``endpoint``, else HF_ENDPOINT, else the Hub's. E5001 when it is no http(s) URL with a
    host, before huggingface_hub reads it (an unclosed IPv6 bracket or a port over 65535 there prints an import
    error, then fails as a bare ValueError)."""
    endpoint = (endpoint or _default_endpoint()).rstrip("/")
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number from 0 to 65535
    except ValueError as exc:
        problem: str | None = brief(exc)
    else:
        problem = None if parts.scheme in ("http", "https") and parts.hostname else "no http:// or https:// URL with a host"
    if problem is not None:
        raise PublishError(f"the Hub endpoint {endpoint!r} is not a URL humc can publish to: {problem}",
                           expected="an http(s) URL such as https://huggingface.co (HF_ENDPOINT names a mirror)",
                           hint="fix or unset HF_ENDPOINT", notes=["nothing was published"])
    return endpoint


def _default_endpoint() -> str:
    env = os.environ.get("HF_ENDPOINT")
    if env:
        return env
    try:
        from huggingface_hub import constants

        return constants.ENDPOINT
    except Exception:  # pragma: no cover
        return DEFAULT_ENDPOINT


# ---------------------------------------------------------------------------- errors


class _hub_errors:
    """Context manager: client and HTTP failures -> PublishError with a hint."""

    def __init__(self, repo_id: str, endpoint: str, revision: str | None) -> None:
        self.repo_id, self.endpoint, self.revision = repo_id, endpoint, revision

    def __enter__(self) -> _hub_errors:
        return self

    def __exit__(self, typ: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or isinstance(exc, (PublishError, KeyboardInterrupt)):
            return False
        mapped = _map_error(exc, self.repo_id, self.endpoint, self.revision)
        if mapped is None:
            return False
        raise mapped from None


_STATUS_HINTS = {
    400: "the Hub rejected the request; check the repository id, branch name and README metadata",
    401: "the token was rejected: it is invalid or expired; " + TOKEN_HINT,
    403: "the token has no write access to this namespace; use a write token of a member of the organisation",
    404: "the repository or branch does not exist, or the token cannot see it",
    409: "the Hub reported a conflict (another operation in progress?); run `humc push` again",
    412: "the remote branch changed while publishing; run `humc push` again to publish on top of it",
    413: "a file is too large for the Hub; lower output.shard_rows so that shards are smaller",
    429: "rate limited by the Hub; wait a few minutes and run `humc push` again",
}

_XET_ROUTE = "xet-write-token"  # the route hf_xet asks first for an upload token


def _mentions(exc: BaseException, text: str) -> bool:
    """Whether ``exc`` or an exception it was raised from says ``text``."""
    seen: BaseException | None = exc
    while seen is not None:
        if text in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _lost_commit(exc: BaseException) -> bool:
    """Whether ``exc`` broke the commit request after it was sent (no answer came): the Hub may have made the commit.
    A connection never made (refused, DNS, connect timeout) sent nothing."""
    seen: BaseException | None = exc
    while seen is not None:
        try:
            request = getattr(seen, "request", None)  # httpx's RequestError; a RuntimeError when it has none
        except RuntimeError:
            request = None
        if getattr(request, "method", None) == "POST" and "/commit/" in str(getattr(request, "url", "")):
            return not type(seen).__name__.startswith("Connect")
        seen = seen.__cause__ or seen.__context__
    return False


def _map_error(exc: BaseException, repo_id: str, endpoint: str, revision: str | None) -> PublishError | None:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RevisionNotFoundError

    unchanged = "nothing was published: the Hub applies a commit entirely or not at all"
    cause: BaseException | None = exc
    while cause is not None:  # the client wraps upload failures in RuntimeError(...) from exc
        if isinstance(cause, HfHubHTTPError):
            break
        cause = cause.__cause__
    if isinstance(cause, HfHubHTTPError):
        response = getattr(cause, "response", None)
        status = getattr(response, "status_code", None)
        url = str(getattr(getattr(response, "request", None), "url", "") or "")
        server = getattr(cause, "server_message", None) or ""
        server = one_line(str(server))
        if isinstance(cause, RevisionNotFoundError):
            return PublishError(f"branch {revision or 'main'!r} not found in {repo_id}",
                                hint="pass an existing branch with --revision, or let humc create it",
                                notes=[unchanged])
        if status == 401 and "Invalid credentials" not in server and "/api/datasets/" in url:
            # the Hub answers 401 for repos it won't show (private to someone else, or missing)
            hint = _STATUS_HINTS[401]
        elif status is not None and status >= 500:
            hint = "the Hub failed on its side; retry later with the same command"
        else:
            hint = _STATUS_HINTS.get(status or 0, "see the server message above")
        what = f"HTTP {status}" if status else "HTTP error"
        msg = f"publishing {repo_id} to {endpoint} failed: {what}"
        if server:
            msg += f": {server}"
        notes = [unchanged]
        if url:  # without its query: an upload URL signed by the Hub carries its signature there
            notes.insert(0, f"request: {getattr(getattr(response, 'request', None), 'method', '')} "
                            f"{url.split('?', 1)[0]}".strip())
        return PublishError(msg, hint=hint, notes=notes)
    if isinstance(exc, OfflineModeIsEnabled):
        return PublishError("cannot publish while HF_HUB_OFFLINE is set", hint="unset HF_HUB_OFFLINE")
    if is_connection_error(exc) and _mentions(exc, _XET_ROUTE):
        # hf_xet reports the server's 404 for its token route as a network error, but the server answered
        return PublishError(f"{endpoint} offers no Xet storage, which huggingface_hub uploads through whenever hf_xet is "
                            f"installed: {brief(exc)}",
                            hint="set HF_HUB_DISABLE_XET=1 to upload through the classic LFS transfer (mirrors and "
                                 "self-hosted Hub servers often have only that)",
                            notes=[unchanged])
    if is_connection_error(exc) and _lost_commit(exc):
        return PublishError(f"the connection to {endpoint} broke while it made the commit: {brief(exc)}",
                            hint="run the same `humc push` again: it compares the remote with the build first, so it "
                                 "publishes what is missing, or says `nothing to publish` if the commit was made",
                            notes=["the Hub may have applied the commit before the connection broke (it applies a "
                                   "commit entirely or not at all)"])
    if is_connection_error(exc):
        return PublishError(f"cannot reach {endpoint}: {brief(exc)}",
                            hint="check the network connection, or HF_ENDPOINT if you use a mirror",
                            notes=[unchanged])
    if isinstance(exc, (ValueError, RuntimeError, OSError)):
        detail = brief(exc)
        if exc.__cause__ is not None:
            detail += f" ({brief(exc.__cause__)})"
        return PublishError(f"publishing {repo_id} failed: {detail}", notes=[unchanged])
    return None
