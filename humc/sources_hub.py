"""Hub dataset sources: `dataset: {name: ORG/NAME, revision: …}` pinned to one commit before the plan.

A Hub dataset is read by streaming its files from the Hub (``sources._read_hf``), so what a build reads
is whatever its revision names at that moment: `main` moves. ``pinned_source`` asks the Hub once, when
a command plans or reads the sources (``build.compiler.pinned``: plan, build, check's dry run, push's up-to-date
check; not at recipe load), which commit the revision names and writes that commit into the source's spec.
The source's digest (``sources.source_digest``) hashes the spec, so:

- a new commit on the Hub is new source content: the build reads it again and nothing stale is served;
- an unchanged one is a cache hit, and the build streams exactly the commit it planned with;
- the commit is the source's provenance (``--explain``, the plan, ``build.json``'s fingerprint).

Failures are located at the recipe's `dataset:` node and say what to do: no network or
``HF_HUB_OFFLINE`` (a Hub dataset cannot be streamed offline: download it into a folder and name the
folder), a missing or private repository (a token), a gated one (accept its conditions), an unknown
revision. The Hub is asked with a short timeout and no retries, so an offline build fails in a second,
not after half a minute of retries.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace

from humc.errors import SourceError, brief
from humc.ir import Recipe, SourceDef

HUB_TIMEOUT = 15.0  # seconds for the one request that pins a revision
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_OFFLINE_HINT = ("download the dataset once where the Hub is reachable (`hf download {name} --repo-type dataset "
                 "--local-dir data/{folder}`) and name the folder: `dataset: {{name: data/{folder}}}`")


def is_hub_source(src: SourceDef) -> bool:
    """A `dataset:` source that names a Hub repository (not a folder next to the recipe)."""
    return src.format == "hf" and src.path is None and src.dataset is not None


def hub_sources(recipe: Recipe) -> list[SourceDef]:
    """The recipe's Hub dataset sources, its `decontaminate: against:` ones (eval#N) included: what provenance names."""
    decon = recipe.output.decontaminate
    return [src for src in (*recipe.sources.values(), *(decon.against if decon else ())) if is_hub_source(src)]


def pinned_source(src: SourceDef) -> SourceDef:
    """A Hub dataset source with its revision replaced by the commit it names now (one request); any other
    source as it is."""
    if not is_hub_source(src):
        return src
    spec = src.dataset or {}
    name, revision = str(spec["name"]), spec.get("revision")
    if revision is not None and _COMMIT.match(str(revision)):
        return src  # already a commit: nothing can move under it
    return replace(src, dataset={**spec, "revision": _commit_of(src, name, revision)})


def _commit_of(src: SourceDef, name: str, revision: str | None) -> str:
    from huggingface_hub import HfApi, constants

    offline = next((var for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
                    if os.environ.get(var, "").strip().upper() in ("1", "ON", "YES", "TRUE")), None)
    if offline is not None or getattr(constants, "HF_HUB_OFFLINE", False):
        raise _unreachable(src, name, f"{offline or 'HF_HUB_OFFLINE'} is set")
    try:
        info = HfApi().dataset_info(name, revision=revision, timeout=HUB_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 — mapped below; anything unmapped is an internal error
        raise _hub_error(src, name, revision, exc) from None
    if not info.sha:
        raise SourceError(f"source '{src.id}': the Hub named no commit for dataset '{name}'", src.span,
                          expected="a Hub that answers dataset_info with a commit sha")
    return str(info.sha)


def _hub_error(src: SourceDef, name: str, revision: str | None, exc: BaseException) -> BaseException:
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, GatedRepoError):
        return SourceError(f"source '{src.id}': dataset '{name}' is gated on the Hub", src.span,
                           expected="a token of an account that accepted the dataset's conditions",
                           hint="accept the conditions on the dataset's page, then set HF_TOKEN (or `hf auth login`)")
    if isinstance(exc, RevisionNotFoundError):
        return SourceError(f"source '{src.id}': dataset '{name}' has no revision {revision!r}", src.span,
                           expected="a branch, tag or commit of the dataset",
                           hint="leave `revision:` out for `main`, or pick one from the dataset's page")
    if isinstance(exc, RepositoryNotFoundError):
        return SourceError(f"source '{src.id}': no dataset '{name}' on the Hub ({_endpoint()})", src.span,
                           expected="ORG/NAME of a Hub dataset, or a folder next to the recipe",
                           hint="check the name; a private dataset needs HF_TOKEN (or `hf auth login`); a local "
                                "folder must exist next to the recipe")
    if isinstance(exc, HFValidationError):
        return SourceError(f"source '{src.id}': '{name}' is not a Hub dataset name or a folder next to the recipe",
                           src.span, expected="ORG/NAME, or a folder that exists", code="E0008")
    if is_connection_error(exc):
        return _unreachable(src, name, f"cannot reach {_endpoint()}: {brief(exc)}")
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is not None:
        return SourceError(f"source '{src.id}': the Hub answered HTTP {status} for dataset '{name}': {brief(exc)}",
                           src.span, expected="the dataset's information from the Hub",
                           hint="retry later" if status >= 500 else "check the name, revision and HF_TOKEN")
    if isinstance(exc, (ValueError, OSError, RuntimeError)):  # an answer that is no Hub's (a proxy's HTML page)
        return SourceError(f"source '{src.id}': asking {_endpoint()} for dataset '{name}' failed: {brief(exc)}",
                           src.span, expected="the dataset's information from the Hub",
                           hint="check HF_ENDPOINT (it must name the Hub or a mirror of it) and any proxy between")
    return exc


def _unreachable(src: SourceDef, name: str, why: str) -> SourceError:
    folder = name.rsplit("/", 1)[-1] or "dataset"
    return SourceError(f"source '{src.id}': Hub dataset '{name}' cannot be read: {why}", src.span,
                       expected="a reachable Hub (HF_ENDPOINT for a mirror), or the dataset in a local folder",
                       hint=_OFFLINE_HINT.format(name=name, folder=folder))


def _endpoint() -> str:
    from huggingface_hub import constants

    return str(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT)


BRANCH_HINT = "use a plain git branch name such as `v2` or `release/2024-06`"


def valid_branch_name(revision: str) -> bool:
    """Whether ``revision`` can name a branch of a Hub repository (git's rules for a ref name, as the Hub applies
    them; `refs/pr/…` belongs to pull requests)."""
    return not (not revision or revision.startswith(("/", "-", "refs/pr/")) or revision.endswith(("/", ".lock"))
                or ".." in revision or any(c in revision for c in " ~^:?*[\\") or len(revision) > 200)


def is_connection_error(exc: BaseException) -> bool:
    """A failure to reach a server (DNS, refused, timeout, proxy), whichever HTTP stack raised it."""
    seen: BaseException | None = exc
    while seen is not None:
        mod = type(seen).__module__ or ""
        if mod.split(".")[0] in ("httpx2", "httpx", "httpcore", "httpcore2", "requests", "urllib3") and \
                any(k in type(seen).__name__ for k in ("Connect", "Timeout", "Network", "Protocol", "Transport",
                                                       "Proxy")):
            return True
        if isinstance(seen, (ConnectionError, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
