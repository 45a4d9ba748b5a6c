"""Cached, retrying, concurrency-bounded client for OpenAI-compatible chat endpoints.

Design points:

* **Cache key** — sha256 of the canonical JSON of ``{model, messages, sampling params,
  response_format}``. The API key, the base URL and transport settings (timeout,
  retries, concurrency) are never part of it, so a cache is portable between
  endpoints serving the same model and never holds a secret.
* **Retries** — our own loop (the openai client runs with ``max_retries=0``) on 429 / 5xx / 408 /
  timeouts / connection errors, timed by ``retrying.RetryPolicy``: exactly the ``Retry-After`` (or
  ``retry-after-ms``) the server sends, plus small jitter; otherwise exponential backoff with full
  jitter. Non-retryable errors (401, 403, 404, 400, ...) raise :class:`humc.errors.LLMError`
  with a one-paragraph message, no traceback.
* **Concurrency** — at most ``ModelConfig.concurrency`` HTTP requests in flight
  (``retrying.SlotGate``: a request back from its backoff gets the next free slot before fresh
  requests not yet sent); cache lookups and backoff sleeps do not hold a slot.
  Identical requests in flight at the same time are coalesced into one.
* **Transport** — ``transport.py``: a lean asyncio HTTP/1.1 keep-alive client by default (the
  openai/httpx stack costs ~10× its CPU a request, which capped throughput at 64+ slots), the
  openai client when a proxy applies or ``HUMC_LLM_TRANSPORT=openai``.
* **Sessions** — ``start()`` runs every batch on one background event loop with one connection
  pool until ``close()``; ``submit`` queues a batch without waiting, so a build keeps the slots
  full across chunk boundaries. Counters of one batch go to its own ``LLMStats`` (``batch_stats``,
  a context variable), so overlapping batches still report exact per-chunk notes.
* **Secrets** — the key is read from the environment when the client starts and redacted from
  every error message built here; ``api_key_env`` must be a variable name that does not look like
  a key (``api_key_env_problem``), and messages about it never quote it.
* **Accounting** — :class:`LLMStats`: requests sent, cache hits, retries, tokens,
  failures by reason, and who answered (``answered_by``, ``fingerprints``, ``dates``).
* **Provenance** — every answer carries :class:`ServedBy`: the ``model`` and ``system_fingerprint``
  the *server* reported (not the id the recipe asked for), the sampling parameters sent and the
  UTC date it answered. It is stored with the answer in the cache, so a replayed answer still
  knows who wrote it; an answer cached before this was recorded reads as unknown, never as the
  recipe's model. No key and no URL is ever part of it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import email.utils
import hashlib
import json
import math
import os
import random
import re
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from humc.cachedb import CacheDB
from humc.errors import LLMError, RequestRejected, Span
from humc.llm.provenance import ServedBy, answering_model, served_by
from humc.llm.retrying import RetryPolicy, SlotGate
from humc.llm.structured import (
    CANDIDATES,
    MODES,
    PROBE_PROMPT,
    PROBE_SCHEMA,
    REJECTED_STATUSES,
    RESOLVED,
    probe_answer_ok,
    probe_key,
    response_format,
)
from humc.llm.transport import (
    Transport,
    TransportBadBody,
    TransportConnectError,
    TransportStatus,
    TransportTimeout,
    listed_models,
    open_transport,
    wanted,
)

CACHE_VERSION = "llm-v1"
MAX_ECHOED_CHARS = 2000  # a retry quotes at most this much of an invalid reply: a runaway answer must not overflow
#                          the model's context window on the next attempt


def clipped(text: str) -> str:
    """At most MAX_ECHOED_CHARS of ``text`` (marked with … when cut)."""
    return text if len(text) <= MAX_ECHOED_CHARS else text[:MAX_ECHOED_CHARS] + " …"


COMPLETION_EXPECTED = "an OpenAI chat completion (a JSON object with `choices`) from POST <base_url>/chat/completions"
ANSWER_EXPECTED = "an answer from the endpoint within `timeout` seconds, after at most `max_retries` retries"
BAD_RESPONSE_RETRIES = 2  # a malformed completion is asked for again, but not for long
COLD_CONNECT_RETRIES = 2  # an endpoint that has not answered yet and refuses connections: a wrong port, a server not
#                           started — said within a second, not after max_retries backoffs (~8 s with the defaults)
_T = TypeVar("_T")


def open_cache(folder: Path) -> CacheDB:
    """The LLM response cache: checksummed, never evicts (an evicted answer would be asked for
    again); a damaged answer reads as missing and is asked for again (``dropped`` counts them).
    Answers cached before checksums are read once and rewritten checksummed: they cost money."""
    return CacheDB(folder, what="the LLM response cache", migrate_legacy=True)


# Parameters that do not change the answer and so stay out of the cache key.
_NON_SEMANTIC = frozenset({"user", "service_tier", "timeout"})

Validator = Callable[[Any], "str | None"]  # an answer's problem (told to the model when it is asked again), or None


class Invalid(str):
    """A validator's problem with an answer that also names its kind: the stable reason (``invalid_output``) a record
    whose answer stays invalid is counted under, beside the message the model is told."""

    kind: str

    def __new__(cls, message: str, kind: str) -> Invalid:
        problem = super().__new__(cls, message)
        problem.kind = kind
        return problem


# ---------------------------------------------------------------------------
# secrets

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_KEY_PREFIXES = ("sk-", "sk_", "hf_", "ghp_", "gho_", "ghs_", "ghu_", "github_pat_", "glpat-", "xoxb-", "xoxp-",
                 "AKIA", "AIza", "Bearer ")
_RANDOM_RUN = re.compile(r"[A-Za-z0-9]{20,}")


def looks_like_secret(text: str) -> bool:
    """Whether a string looks like an API key or token: a known key prefix, or a long random-looking run."""
    text = text.strip()
    if len(text) >= 20 and text.startswith(_KEY_PREFIXES):
        return True
    return any(_random_looking(m.group()) for m in _RANDOM_RUN.finditer(text))


def _random_looking(run: str) -> bool:
    """Letters mixed with digits at over 3.5 bits of entropy per character (a 20-character base62 key has ~4)."""
    if not (any(c.isdigit() for c in run) and any(c.isalpha() for c in run)):
        return False
    counts = Counter(run)
    return -sum(n / len(run) * math.log2(n / len(run)) for n in counts.values()) > 3.5


def api_key_env_problem(name: str) -> str | None:
    """Why ``name`` cannot be ``api_key_env`` (the phrase never quotes it: it may be the key), or None."""
    if len(name) > 40 or looks_like_secret(name):
        return "looks like an API key, not the name of an environment variable"
    if not _ENV_NAME.fullmatch(name):
        return "is not the name of an environment variable (letters, digits and _, not starting with a digit)"
    return None


# ---------------------------------------------------------------------------
# base URLs

BASE_URL_EXPECTED = "the API root of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"


def _split(url: str) -> urllib.parse.SplitResult | None:
    """``url`` split into its parts, None when urllib refuses it (an IPv6 host whose ``[`` is never closed)."""
    try:
        return urllib.parse.urlsplit(url.strip())
    except ValueError:
        return None


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a ``base_url`` (never quoting it: it may carry credentials), or None."""
    parts = _split(url)
    if parts is None:
        return "is no URL: a `[` opens an IPv6 address that no `]` closes"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "does not start with http:// or https:// and a host"
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    if not parts.hostname:
        return "names no host"
    if parts.path.rstrip("/").endswith("/chat/completions"):
        return "ends with /chat/completions: humc adds that path itself"
    return None


def ends_with_v1(url: str) -> bool:
    """Whether ``url``'s path ends with /v1, where OpenAI-compatible servers have their API root."""
    return urllib.parse.urlsplit(url).path.rstrip("/").endswith("/v1")


def base_url_hint(url: str) -> str:
    """How to write ``url`` as a base URL."""
    parts = _split(url)
    if parts is None:
        return "write an IPv6 host in brackets, e.g. http://[::1]:8000/v1"
    path = parts.path.rstrip("/")
    if path.endswith("/chat/completions"):
        return f"write the API root: base_url: {_safe_url(url.strip()).split('/chat/completions')[0]}"
    if not parts.scheme or parts.scheme not in ("http", "https"):
        return "write the scheme too, e.g. http://localhost:8000/v1 (https:// for a remote service)"
    return "write http://HOST:PORT/v1"


# ---------------------------------------------------------------------------
# configuration and data


@dataclass
class ModelConfig:
    """One model endpoint as declared in a recipe.

    ``model`` is the id sent to the server (and the model part of the cache key);
    ``name`` is the recipe-local alias. The API key is read from the environment
    variable named by ``api_key_env`` at call time and never stored.
    """

    name: str
    base_url: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 8
    max_retries: int = 6
    timeout: float = 120.0
    api_key_env: str = "OPENAI_API_KEY"
    backoff_base: float = 0.25     # ceiling of the first backoff (seconds), doubled per retry; waits are
    #                                uniform in [0, ceiling] (full jitter) unless the server says how long
    backoff_max: float = 30.0      # ceiling of any one backoff (a Retry-After may ask for more)
    max_retry_after: float = 300.0  # a Retry-After is obeyed up to this many seconds
    structured_output: str = "auto"  # auto | json_schema | json_object | off (humc.llm.structured)
    span: Span | None = field(default=None, compare=False, repr=False)  # where the recipe declares it
    notes: tuple[str, ...] = field(default=(), compare=False, repr=False)  # what check and build tell about it

    def __post_init__(self) -> None:
        problem = api_key_env_problem(self.api_key_env)
        if problem:  # never echo the value: it may be the key itself
            raise LLMError(f"model '{self.name}': 'api_key_env' {problem}", code="E2013",
                           expected="the name of an environment variable, e.g. OPENAI_API_KEY")
        if self.concurrency < 1:
            raise LLMError(f"model '{self.name}': concurrency must be >= 1, got {self.concurrency}", code="E0008")
        if self.max_retries < 0:
            raise LLMError(f"model '{self.name}': max_retries must be >= 0, got {self.max_retries}", code="E0008")
        for name in ("backoff_base", "backoff_max", "max_retry_after"):
            if not getattr(self, name) >= 0:  # also refuses NaN
                raise LLMError(f"model '{self.name}': {name} must be >= 0 seconds, got {getattr(self, name)}",
                               code="E0008")
        if self.structured_output not in MODES:
            raise LLMError(f"model '{self.name}': unknown structured_output '{self.structured_output}'",
                           expected=" | ".join(MODES), code="E0008")
        problem = base_url_problem(self.base_url)
        if problem:
            raise LLMError(f"model '{self.name}': base_url {problem}", code="E0008", expected=BASE_URL_EXPECTED,
                           hint=base_url_hint(self.base_url))

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> ModelConfig:
        known = {f for f in cls.__dataclass_fields__ if f != "name"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LLMError(f"model '{name}': unknown field(s) {', '.join(unknown)}",
                           expected=", ".join(sorted(known)), code="E2001")
        for req in ("base_url", "model"):
            if not data.get(req):
                raise LLMError(f"model '{name}': missing '{req}'")
        return cls(name=name, **dict(data))

    def api_key(self) -> str:
        return os.environ.get(self.api_key_env) or "EMPTY"

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.backoff_base, self.backoff_max, self.max_retry_after)

    @contextlib.contextmanager
    def declared_here(self) -> Iterator[None]:
        """An LLMError raised inside without a location (the endpoint failed for good) points at the model's
        declaration in the recipe."""
        try:
            yield
        except LLMError as exc:
            if exc.span is None:
                exc.span = self.span
            raise


@dataclass
class LLMRequest:
    """One chat completion: messages plus per-request sampling params (override the model's)."""

    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    response_format: dict[str, Any] | None = None


@dataclass
class LLMResponse:
    text: str | None
    usage: dict[str, int] = field(default_factory=dict)
    cached: bool = False
    finish_reason: str | None = None
    key: str = ""
    error: str | None = None       # failure reason when the call failed (text is None)
    served: ServedBy | None = None  # who answered (None only for a failed call)

    @property
    def ok(self) -> bool:
        return self.text is not None


@dataclass
class Outcome:
    value: Any                     # the answer, or None
    reason: str | None = None      # why there is no answer (or, with an answer, what is wrong with it: cut off)


@dataclass
class LLMStats:
    requests_sent: int = 0         # HTTP attempts, retries included
    cache_hits: int = 0
    coalesced: int = 0             # identical concurrent requests served by one call
    completed: int = 0             # successful fresh completions
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: Counter[str] = field(default_factory=Counter)   # reason -> count (given-up calls)
    retry_reasons: Counter[str] = field(default_factory=Counter)
    answered_by: Counter[str] = field(default_factory=Counter)   # reported model id (or "unknown") -> answers used
    fingerprints: Counter[str] = field(default_factory=Counter)  # reported system_fingerprint -> answers used
    dates: Counter[str] = field(default_factory=Counter)  # UTC day answered -> answers used

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("failures", "retry_reasons", "answered_by", "fingerprints", "dates"):
            d[name] = dict(getattr(self, name))
        return d

    def count_served(self, served: ServedBy | None) -> None:
        """Count who answered one response handed out (fresh, cached or coalesced alike)."""
        served = served or ServedBy(None)
        self.answered_by[served.model_label] += 1
        if served.system_fingerprint:
            self.fingerprints[served.system_fingerprint] += 1
        if served.date:
            self.dates[served.date] += 1


# ---------------------------------------------------------------------------
# cache key


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def merged_params(config: ModelConfig, req: LLMRequest) -> dict[str, Any]:
    params = dict(config.params)
    params.update(req.params)
    return {k: v for k, v in params.items() if v is not None}


def cache_key(config: ModelConfig, req: LLMRequest) -> str:
    """sha256 of {model, messages, sampling params, response_format}; no key, no URL."""
    params = {k: v for k, v in merged_params(config, req).items() if k not in _NON_SEMANTIC}
    payload = {"v": CACHE_VERSION, "model": config.model, "messages": req.messages,
               "params": params, "response_format": req.response_format}
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# errors


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.retry_after = retry_after
        self.detail = detail


class _Rejected(RequestRejected):
    """A request rejected on its own, with the short reason a dropped record is counted under."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


REASON_CHARS = 120  # a server's message in a drop reason: enough to say why, short enough for a summary line


def rejection_reason(status: int, message: str) -> str:
    """``request rejected (HTTP 400): <the server's message>``, its numbers as N so that records rejected for
    the same cause (a prompt over the context length: each its own token count) are counted together."""
    gist = re.sub(r"(?<![\w.-])\d+(?!\w)", "N", " ".join(message.split()))  # counts, not names (Qwen2.5-7B)
    gist = gist if len(gist) <= REASON_CHARS else gist[:REASON_CHARS].rstrip() + "…"
    return f"request rejected (HTTP {status})" + (f": {gist}" if gist and gist != "(no message)" else "")


class _Unreachable(Exception):
    """The endpoint could not be reached while probing structured outputs."""

    def __init__(self, error: LLMError) -> None:
        super().__init__(error.message)
        self.error = error


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:  # HTTP-date
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _then(first: str, second: str) -> str:
    """Two hints in one: "first; second", or "first? Second" after a question."""
    return f"{first} {second[:1].upper()}{second[1:]}" if first.endswith("?") else f"{first}; {second}"


def _safe_url(url: str) -> str:
    """A base URL fit for a message: user:password@ and the query string removed."""
    url = re.sub(r"//[^/@]*@", "//", url)
    return url.split("?", 1)[0]


def _redact(text: str, secret: str) -> str:
    if secret and secret != "EMPTY" and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------------------
# JSON helpers


_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.S)


def completion_problem(completion: Any) -> str | None:
    """Why a 200 response is not a usable chat completion (then it is retried, never cached)."""
    choices = getattr(completion, "choices", None)
    if not choices:
        return "no choices" if choices is not None else f"not a chat completion ({type(completion).__name__})"
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, str):
        if getattr(message, "tool_calls", None) or getattr(message, "function_call", None):
            return "the answer is a tool call, not text"
        return "the message has no text" if content is None else f"message content is {type(content).__name__}, not text"
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        return "message content is not valid Unicode text"
    return None


TRUNCATED_REASON = "truncated answer (max_tokens reached)"  # a record dropped because its answer was cut off
EMPTY_REASON = "empty answer"
INVALID_OUTPUT = "invalid output"
NOT_JSON = "not JSON"  # the kind of an invalid reply that holds no JSON value at all


def invalid_output(kind: str | None) -> str:
    """The reason a record whose answer stayed invalid is counted under: "invalid output (<kind>)" (docs/llm.md)."""
    return f"{INVALID_OUTPUT} ({kind})" if kind else INVALID_OUTPUT


def json_failure(responses: Sequence[LLMResponse], problems: Sequence[str] = ()) -> str:
    """Why a JSON answer stayed invalid, by its last reply: cut off by ``max_tokens`` (its JSON unfinished: raise
    ``max_tokens``, not the prompt), empty, or wrong: "invalid output", with the kind of the last reply's problem
    when its validator named one (an ``Invalid``)."""
    last = responses[-1] if responses else None
    if last is not None and last.finish_reason == "length":
        return TRUNCATED_REASON
    if last is not None and not (last.text or "").strip():
        return EMPTY_REASON
    return invalid_output(getattr(problems[-1], "kind", None) if problems else None)


def _correction(error: str, *, truncated: bool) -> str:
    """The user message that asks again after an invalid reply; a reply cut off by max_tokens is asked to be
    shorter (its JSON is unfinished because it ran out of tokens, not because it is wrong)."""
    if truncated:
        return (f"That reply was cut off at the token limit before its JSON ended ({clipped(error)}). Reply again "
                "with only the JSON, much shorter: a few words in each text value, no prose and no code fence.")
    return f"That reply is invalid: {clipped(error)}. Reply again with only the corrected JSON, no prose and no code fence."


_ANY_FENCE = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n(.*?)```", re.S)
# strict=False: a raw line break (a control character) inside a JSON string is read as it is. llama.cpp's JSON grammar
# lets SmolLM2 write one ('{"reason": "…in the JSON file \n[{","score":2}' with a real newline) and it wrote the same
# verdict on all 3 calls: strict parsing dropped a readable verdict as "invalid output"
_DECODER = json.JSONDecoder(strict=False)


def parse_json_text(text: str) -> Any:
    """Parse a model's JSON answer (the first of ``json_candidates``). Raises ValueError (about the whole reply)."""
    for value in json_candidates(text):
        return value
    raise _whole_reply_error(text)


# a reply that does not decode: not JSON, or JSON nested deeper than Python's recursion limit (a model's `[[[[…`)
_UNREADABLE = (ValueError, RecursionError)


def json_candidates(text: str) -> Iterator[Any]:
    """The JSON values a model's reply may mean, most likely first.

    Models without structured outputs wrap their JSON: a ```json fence, a sentence before it ("Here is the JSON:"),
    a remark after it. So, in order: the whole reply (a fence around all of it removed); each fenced block in it;
    each JSON object or array in it that decodes, left to right (the text around it ignored), but not one inside
    another: SmolLM2 judged a record 'Sorted by order of correctness and format, the response is:' followed by
    ``[{"reason": "1", "score": 5}, {"reason": "2", "score": 4}]``, and its first item was read as the verdict. The
    caller keeps the first its checks accept, so a stray ``[1]`` before the answer does not hide it."""
    s = _unfenced(text)
    try:
        yield _DECODER.decode(s)
        return
    except _UNREADABLE:
        pass
    for block in _ANY_FENCE.finditer(s):
        try:
            yield _DECODER.decode(block.group(1))
        except _UNREADABLE:
            pass
    end = 0  # where the last value read ends: a value inside it is a part of it, not a reading of the reply
    for start in (i for i, c in enumerate(s) if c in "{["):
        if start < end:
            continue
        try:
            value, stop = _DECODER.raw_decode(s, start)
        except _UNREADABLE:
            continue
        if isinstance(value, (dict, list)) and value:
            end = stop
            yield value


def _unfenced(text: str) -> str:
    s = text.strip()
    m = _FENCE.match(s)
    return m.group(1).strip() if m else s


def _whole_reply_error(text: str) -> ValueError:
    try:
        _DECODER.decode(_unfenced(text))
    except ValueError as exc:
        return exc
    except RecursionError:
        return ValueError("JSON nested too deeply to read")
    return ValueError("no JSON value")  # pragma: no cover - a reply that parses has a candidate


# ---------------------------------------------------------------------------
# client


class LLMClient:
    """Chat completions for one :class:`ModelConfig`, cached in a ``diskcache.Cache``."""

    def __init__(self, model_config: ModelConfig, cache: Any | None = None, *,
                 rng: random.Random | None = None) -> None:
        self.config = model_config
        self.cache = cache
        self._stats = LLMStats()
        self._rng = rng or random.Random()
        self._client: Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: SlotGate | None = None  # at most `concurrency` requests in flight, retries admitted first
        self._inflight: dict[str, asyncio.Future[LLMResponse]] = {}
        self._fatal: LLMError | None = None   # 401/403/404: no point sending anything else
        self._session: _Session | None = None  # a background event loop serving every batch (``start``)
        self.transports_opened = 0             # transports (connection pools) opened: one a session
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None  # cache writes, off the event loop
        self._queued: list[tuple[str, dict[str, Any], asyncio.Future[None]]] = []  # answers waiting to be written
        self._writing = False
        self._write_task: asyncio.Task[None] | None = None  # the task writing queued answers, if any
        self._listed: asyncio.Future[tuple[str, ...] | None] | None = None  # GET /models, once (``_listing``)
        self._reached = False  # the endpoint has answered (anything) once: a refused connection is then a restart

    # -- plumbing ----------------------------------------------------------------

    @property
    def stats(self) -> LLMStats:
        """The counters of the batch running in this context (``batch_stats``), else the client's own."""
        return _BATCH_STATS.get() or self._stats

    @stats.setter
    def stats(self, value: LLMStats) -> None:
        self._stats = value

    def _ensure(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None:
            self._loop = loop
            self._gate = SlotGate(self.config.concurrency)
            self._inflight = {}
            self._listed = None
            self._client = open_transport(self.config.base_url, self.config.api_key(), self.config.timeout)
            self.transports_opened += 1

    @property
    def transport(self) -> str:
        """The transport this client sends through (``transport.wanted``): ``lean`` or ``openai``."""
        return self._client.name if self._client is not None else wanted(self.config.base_url)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None
        self._loop = None
        if self._writer is not None:  # every answer is on disk before this returns
            self._writer.shutdown(wait=True)
            self._writer = None

    # -- session: one event loop, one connection pool, for every batch ------------------

    def start(self) -> None:
        """Serve every later batch from one background event loop and one connection pool, until
        ``close``: a build's chunks then share the client's slots instead of each opening (and
        draining) its own, and ``submit`` may queue the next chunk while one is in flight."""
        if self._session is None:
            self._session = _Session()

    def close(self) -> None:
        """End the session (its connections closed); the client still works, batch by batch."""
        session, self._session = self._session, None
        if session is not None:
            try:
                session.run(self._shutdown())
            finally:  # a Ctrl-C or a failing clean-up still ends the loop's thread (and gives the switch interval back)
                session.stop()

    async def _shutdown(self) -> None:
        """Stop what is still queued or in flight on the session's loop (a build stopped by Ctrl-C or by an error)
        and wait until it has stopped, so no task is left behind to fail noisily once the loop is gone; answers
        already received are written to the cache first (a re-run then sends only what was not answered)."""
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current and t is not self._write_task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._write_task is not None:
            await asyncio.gather(self._write_task, return_exceptions=True)
        await self.aclose()

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Run ``coro`` on the session's loop (``start`` first); its future, at once."""
        if self._session is None:
            raise RuntimeError("LLMClient.submit needs a session: call start() first")
        return self._session.submit(coro)

    def settle(self, timeout: float = 0.05) -> None:
        """Let the session's loop put what was just submitted on the wire before this thread goes on (at most
        ``timeout`` seconds): a build renders the rest of a chunk's prompts after its first slot-full is sent, not
        while the loop waits for the GIL to send it. Nothing to do without a session, nor while every slot is taken
        (what was submitted waits for a slot anyway)."""
        gate = self._gate  # set on the loop's thread; read here only as a hint
        if self._session is not None and (gate is None or gate.in_use < gate.slots):
            self._session.settle(timeout)

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` to the end from synchronous code: on the session's loop when there is one."""
        if self._session is not None:
            return self._session.run(coro)
        return asyncio.run(coro)

    def _cache_get(self, key: str) -> dict[str, Any] | None:
        if self.cache is None:
            return None
        value = self.cache.get(f"{CACHE_VERSION}:{key}")
        return value if isinstance(value, dict) and isinstance(value.get("text"), str) else None

    # -- one call ------------------------------------------------------------------

    async def complete(self, req: LLMRequest) -> LLMResponse:
        """One completion: cache, else the endpoint with retries. Raises LLMError on failure."""
        self._ensure()
        key = cache_key(self.config, req)
        hit = self._cache_get(key)
        if hit is not None:
            self.stats.cache_hits += 1
            served = ServedBy.from_dict(hit.get("served"))
            self.stats.count_served(served)
            return LLMResponse(hit["text"], dict(hit.get("usage") or {}), True,
                               hit.get("finish_reason"), key, served=served)
        pending = self._inflight.get(key)
        if pending is not None:
            self.stats.coalesced += 1
            res: LLMResponse = await asyncio.shield(pending)
            self.stats.count_served(res.served)
            return LLMResponse(res.text, dict(res.usage), True, res.finish_reason, key, served=res.served)
        assert self._loop is not None  # set by _ensure() above
        fut: asyncio.Future[LLMResponse] = self._loop.create_future()
        self._inflight[key] = fut
        try:
            res = await self._fetch(key, req)
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        else:
            fut.set_result(res)
            return res
        finally:
            self._inflight.pop(key, None)

    async def _fetch(self, key: str, req: LLMRequest) -> LLMResponse:
        cfg = self.config
        params = merged_params(cfg, req)
        # The request body is sent as is (OpenAI names; vLLM extras such as top_k or
        # min_p pass through), through ``transport.py`` (lean asyncio HTTP by default).
        body: dict[str, Any] = {"model": cfg.model, "messages": req.messages}
        body.update((k, v) for k, v in params.items() if k != "timeout")
        if req.response_format is not None:
            body["response_format"] = req.response_format
        listing = self._listing()  # asked beside the first requests, awaited once an answer is back
        attempt = 0
        errors: set[str] = set()  # what the retried failures said (one message on every attempt: the request's fault?)
        while True:
            try:
                completion = await self._send(body, retry=attempt > 0)
                problem = completion_problem(completion)
                if problem:
                    raise _Retryable("bad_response", None, f"unusable completion: {problem}")
            except LLMError:
                raise
            except Exception as exc:
                retry = exc if isinstance(exc, _Retryable) else self._classify(exc)  # LLMError if not retryable
                errors.add(retry.detail)
                if attempt >= self._retries_for(retry.reason):
                    self.stats.failures[retry.reason] += 1
                    if retry.reason == "bad_response":  # this request's answer, not the endpoint, is broken
                        raise _Rejected(f"model '{cfg.name}' ({cfg.model}): {retry.detail}, {attempt + 1} time(s)",
                                        retry.detail) from None
                    raise LLMError(
                        f"model '{cfg.name}' ({cfg.model} at {_safe_url(cfg.base_url)}): gave up after "
                        f"{attempt + 1} attempt(s): {retry.detail}", expected=ANSWER_EXPECTED,
                        hint=_then(self._gave_up_hint(retry.reason, retry.detail if attempt and len(errors) == 1 else ""),
                                   "completed calls are cached, so re-running resumes where this stopped")) from None
                delay = cfg.retry_policy.delay(attempt, retry.retry_after, self._rng)
                self.stats.retries += 1
                self.stats.retry_reasons[retry.reason] += 1
                attempt += 1
                await asyncio.sleep(delay)
                continue
            response, entry = self._accept(key, completion, body, await asyncio.shield(listing))
            await self._cache_write(key, entry)
            return response

    def _retries_for(self, reason: str) -> int:
        """How many retries a failure of this kind gets: fewer for a malformed completion, and for a refused
        connection to an endpoint that never answered (a wrong port says so at once; a server restarted mid-build,
        which has answered before, gets them all)."""
        cfg = self.config
        if reason == "bad_response":
            return min(cfg.max_retries, BAD_RESPONSE_RETRIES)
        if reason == "connection" and not self._reached:
            return min(cfg.max_retries, COLD_CONNECT_RETRIES)
        return cfg.max_retries

    async def _send(self, body: dict[str, Any], *, retry: bool) -> Any:
        """POST one attempt holding a slot (a ``retry`` is admitted before fresh requests); the completion."""
        gate = self._gate
        assert gate is not None  # set by _ensure()
        await gate.acquire(retry=retry)
        try:
            if self._fatal is not None:
                raise self._fatal
            self.stats.requests_sent += 1
            assert self._client is not None
            try:
                completion = await self._client.post(body)
            except TransportStatus:
                self._reached = True
                raise
            self._reached = True
            return completion
        finally:
            gate.release()

    async def _cache_write(self, key: str, entry: dict[str, Any]) -> None:
        """Store an answer before handing it out, off the event loop and in groups: answers arriving while
        one group is being written go together in the next, in one transaction (one writer thread a client).
        A slow disk then delays answers, never the requests in flight."""
        if self.cache is None:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queued.append((key, entry, done))
        if not self._writing:
            self._writing = True
            self._write_task = loop.create_task(self._write_groups())
        await done

    async def _write_groups(self) -> None:
        if self._writer is None:
            self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="humc-llm-cache")
        loop = asyncio.get_running_loop()
        try:
            while self._queued:
                group, self._queued = self._queued, []
                items = [(f"{CACHE_VERSION}:{key}", entry) for key, entry, _ in group]
                try:
                    await loop.run_in_executor(self._writer, self._store_group, items)
                except BaseException as exc:
                    for _, _, done in group:
                        if not done.done():
                            done.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for _, _, done in group:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._writing = False

    def _store_group(self, items: list[tuple[str, Any]]) -> None:
        set_many = getattr(self.cache, "set_many", None)
        if set_many is not None:
            set_many(items)
        else:  # a plain diskcache (tests, benches)
            assert self.cache is not None
            for key, value in items:
                self.cache.set(key, value)

    def _listing(self) -> asyncio.Future[tuple[str, ...] | None]:
        """The models the endpoint lists (``GET <base_url>/models``), asked once per session with its first fresh
        request (a rebuild from the cache asks nothing), not before it: who answered when the response's ``model``
        cannot say."""
        if self._listed is None:
            assert self._loop is not None  # set by _ensure()
            cfg = self.config
            self._listed = self._loop.run_in_executor(None, listed_models, cfg.base_url, cfg.api_key(),
                                                      min(cfg.timeout, 10.0))
        return self._listed

    def _accept(self, key: str, completion: Any, body: Mapping[str, Any],
                listed: tuple[str, ...] | None = None) -> tuple[LLMResponse, dict[str, Any]]:
        choice = completion.choices[0]
        text = choice.message.content
        finish = getattr(choice, "finish_reason", None)
        usage_obj = getattr(completion, "usage", None)
        usage = {"prompt_tokens": int(getattr(usage_obj, "prompt_tokens", 0) or 0),
                 "completion_tokens": int(getattr(usage_obj, "completion_tokens", 0) or 0)}
        self.stats.completed += 1
        self.stats.prompt_tokens += usage["prompt_tokens"]
        self.stats.completion_tokens += usage["completion_tokens"]
        served = answering_model(served_by(completion, body), self.config.model, listed)
        self.stats.count_served(served)
        entry = {"text": text, "usage": usage, "finish_reason": finish, "served": served.as_dict()}
        return LLMResponse(text, usage, False, finish, key, served=served), entry

    def _classify(self, exc: Exception) -> _Retryable:
        """Retryable failure -> _Retryable; anything else -> LLMError raised here."""
        cfg = self.config
        key = cfg.api_key()  # only to redact it from every message built here
        where = f"model '{cfg.name}' ({cfg.model} at {_safe_url(cfg.base_url)})"
        if isinstance(exc, TransportTimeout):
            return _Retryable("timeout", None, f"request timed out after {cfg.timeout:g}s")
        if isinstance(exc, TransportConnectError):
            return _Retryable("connection", None, f"cannot connect: {_redact(str(exc), key)}")
        if isinstance(exc, TransportStatus):
            status = exc.status
            msg = _redact(exc.message, key)
            headers = exc.headers
            if status == 429:
                return _Retryable("rate_limited", _retry_after(headers), f"HTTP 429: {msg}")
            if status >= 500 or status == 408:
                return _Retryable("server_error", _retry_after(headers), f"HTTP {status}: {msg}")
            self.stats.failures[f"http_{status}"] += 1
            if status in (401, 403, 404):
                self._fatal = self._fatal_error(status, where, msg)
                raise self._fatal from None
            raise _Rejected(f"{where}: request rejected (HTTP {status}): {msg}", rejection_reason(status, msg)) from None
        if isinstance(exc, TransportBadBody):
            self.stats.failures["bad_response"] += 1
            raise LLMError(f"{where}: the server's response is not an OpenAI chat completion: "
                           f"{_redact(str(exc), key)}", expected=COMPLETION_EXPECTED,
                           hint=self._bad_body_hint(exc.content_type)) from None
        self.stats.failures["client_error"] += 1
        raise LLMError(f"{where}: {type(exc).__name__}: {_redact(str(exc), key)}", expected=COMPLETION_EXPECTED,
                       hint="check that base_url is an OpenAI-compatible API") from None

    def _gave_up_hint(self, reason: str, repeated: str = "") -> str:
        """What to do about an endpoint that kept failing for ``reason`` (a ``_Retryable`` reason); ``repeated``: the
        one error every attempt got. llama-cpp-python 0.3.36 answers a request it cannot read with HTTP 500 and the
        error's text (`stop: 5`: its pydantic "validation error … Input should be a valid list"), so a 500 with one
        message on every attempt is likely the request's doing."""
        if reason == "server_error" and repeated.startswith("HTTP 500: ") and repeated != "HTTP 500: (no message)":
            return ("the server failed every attempt with the same HTTP 500 message: a server error that does not go "
                    "away is often caused by the request itself (llama-cpp-python answers 500 to a parameter it cannot "
                    "read): fix or remove what the message names in the model's `params:`")
        if reason == "timeout":
            queue = (f"; the wait in the server's queue counts too: a server answering fewer than `concurrency: "
                     f"{self.config.concurrency}` requests at once (llama.cpp answers one by default) needs a lower "
                     "`concurrency:` or a `timeout:` long enough for the whole queue") if self.config.concurrency > 1 else ""
            return (f"no answer came within {self.config.timeout:g}s: a slow model (long answers, a busy CPU) needs a "
                    f"larger `timeout:` in the model's settings, or the server is stuck{queue}")
        if reason == "connection":
            return f"is the server running, and listening at {_safe_url(self.config.base_url)}?"
        if reason == "rate_limited":
            return ("the endpoint refused every attempt with HTTP 429: when its message says the quota is used up, "
                    "check the account's billing or limits; else lower `concurrency:` or raise `max_retries:`")
        return "the endpoint is overloaded or down"

    def _bad_body_hint(self, content_type: str) -> str:
        """What a 2xx answer that is not a chat completion most likely means."""
        if content_type == "text/event-stream":
            return ("the server answered with a stream (server-sent events) although humc asks without `stream`; "
                    "use an endpoint that answers whole completions (vLLM, SGLang, llama.cpp, Ollama's /v1 all do)")
        if not ends_with_v1(self.config.base_url):
            return (f"base_url {_safe_url(self.config.base_url)} does not end with /v1: OpenAI-compatible servers "
                    "answer at <host>/v1/chat/completions")
        if content_type == "text/html":
            return "base_url points at a web page, not at the API: check the host, port and path"
        return "check that base_url is an OpenAI-compatible API (POST <base_url>/chat/completions)"

    def _fatal_error(self, status: int, where: str, msg: str) -> LLMError:
        cfg = self.config
        if status == 401:
            unset = not os.environ.get(cfg.api_key_env)
            return LLMError(f"{where}: authentication failed (HTTP 401): {msg}",
                            expected=f"a valid API key in the environment variable {cfg.api_key_env}",
                            hint=(f"the environment variable {cfg.api_key_env} is not set: export it with the key "
                                  "(or name another variable with `api_key_env:`)") if unset else
                                 (f"the key in {cfg.api_key_env} was refused: set the environment variable "
                                  f"{cfg.api_key_env} to a valid API key for this endpoint"))
        if status == 403:
            return LLMError(f"{where}: permission denied (HTTP 403): {msg}",
                            expected=f"a key in {cfg.api_key_env} that may use model '{cfg.model}'",
                            hint=f"check that the key in {cfg.api_key_env} may use this model")
        return LLMError(f"{where}: not found (HTTP 404): {msg}",
                        expected="a model id the server serves, at <base_url>/chat/completions",
                        hint=(f"base_url {_safe_url(cfg.base_url)} does not end with /v1: try {_safe_url(cfg.base_url).rstrip('/')}/v1"
                              if not ends_with_v1(cfg.base_url) else
                              "check the model id (GET <base_url>/models lists them)"))

    # -- structured outputs -----------------------------------------------------------

    def structured_form(self) -> str:
        """The form in which this endpoint gets answer schemas (``humc.llm.structured``): ``off`` as configured,
        else the stored probe result, else probed now (sync; one tiny request per form tried) and stored.
        Raises LLMError E4303 when the server rejects a forced form."""
        cfg = self.config
        if cfg.structured_output == "off":
            return "off"
        key = probe_key(_safe_url(cfg.base_url), cfg.model, cfg.structured_output)
        last_key = probe_key("", cfg.model, cfg.structured_output)  # the last endpoint's answer for this model
        stored, last = (self.cache.get(key), self.cache.get(last_key)) if self.cache is not None else (None, None)
        if isinstance(stored, dict) and stored.get("form") in RESOLVED:
            return str(stored["form"])
        offline = last["form"] if isinstance(last, dict) and last.get("form") in RESOLVED else None
        try:
            form, rejected = self._run(self._probe_all(
                connect_retries=0 if offline else min(cfg.max_retries, COLD_CONNECT_RETRIES)))
        except _Unreachable as exc:
            if offline is None:
                raise exc.error from None
            return str(offline)  # an unreachable endpoint: the form last detected for this model, so a cached build replays
        if form is None:
            where = f"model '{cfg.name}' ({cfg.model} at {_safe_url(cfg.base_url)})"
            raise LLMError(f"{where}: the server does not accept structured_output {cfg.structured_output}: "
                           + "; ".join(f"{f}: {r}" for f, r in rejected.items()), code="E4303",
                           expected="a structured-output form this server accepts (see docs/llm.md)",
                           hint="set `structured_output: auto` to use the best form the server accepts, or `off`")
        if self.cache is not None:
            self.cache.set(key, {"form": form, "rejected": rejected})
            self.cache.set(last_key, {"form": form})
        return form

    async def _probe_all(self, connect_retries: int) -> tuple[str | None, dict[str, str]]:
        """The first candidate form the server accepts and honours (None: none), and why the others failed."""
        rejected: dict[str, str] = {}
        try:
            self._ensure()
            for form in CANDIDATES[self.config.structured_output]:
                reason = await self._probe(form, connect_retries)
                if reason is None:
                    return form, rejected
                rejected[form] = reason
        finally:
            if self._session is None:
                await self.aclose()
        return ("off" if self.config.structured_output == "auto" else None), rejected

    async def _probe(self, form: str, connect_retries: int) -> str | None:
        """Why the server does not take ``form`` (None when it answers the probe as asked); endpoint-wide
        failures (auth, unknown model, retries exhausted) raise LLMError."""
        cfg = self.config
        body: dict[str, Any] = {"model": cfg.model, "messages": [{"role": "user", "content": PROBE_PROMPT}],
                                "max_tokens": 16, "temperature": 0}
        rf = response_format(form, "probe", PROBE_SCHEMA)
        if rf is not None:
            body["response_format"] = rf
        for attempt in range(cfg.max_retries + 1):
            try:
                gate = self._gate
                assert gate is not None  # set by _ensure()
                await gate.acquire(retry=attempt > 0)
                try:
                    assert self._client is not None
                    completion = await self._client.post(body)
                finally:
                    gate.release()
            except TransportStatus as exc:
                if exc.status in REJECTED_STATUSES and (exc.status < 500 or attempt):  # a 5xx: once more
                    return f"HTTP {exc.status}: {_redact(exc.message, cfg.api_key())[:300]}"
                try:
                    retry = self._classify(exc)
                except RequestRejected as rej:
                    return rej.message
                if attempt == cfg.max_retries:
                    raise LLMError(f"model '{cfg.name}': probing structured outputs: {retry.detail}",
                                   expected=ANSWER_EXPECTED, hint="the endpoint is overloaded or down; run the "
                                   "command again later, or set `structured_output` to skip the probe") from None
                await asyncio.sleep(cfg.retry_policy.delay(attempt, retry.retry_after, self._rng))
                continue
            except (TransportConnectError, TransportTimeout) as exc:
                retry = self._classify(exc)
                if attempt >= connect_retries:
                    raise _Unreachable(LLMError(f"model '{cfg.name}' ({cfg.model} at {_safe_url(cfg.base_url)}): "
                                                f"{retry.detail}", expected=ANSWER_EXPECTED,
                                                hint=self._gave_up_hint(retry.reason))) from None
                await asyncio.sleep(cfg.retry_policy.delay(attempt, None, self._rng))
                continue
            except TransportBadBody as exc:
                self._classify(exc)  # raises the LLMError that says what came instead of a completion
                raise  # pragma: no cover - _classify raised
            problem = completion_problem(completion)
            text = None if problem else completion.choices[0].message.content
            return None if probe_answer_ok(text) else "accepted, but the answer does not follow the schema"
        return "no answer"  # pragma: no cover - the loop returns or raises

    async def complete_json(self, req: LLMRequest, validate: Validator | None = None,
                            attempts: int = 3, *, responses: list[LLMResponse] | None = None,
                            problems: list[str] | None = None) -> Any | None:
        """A JSON answer that passes ``validate`` (returns an error string or None).

        Invalid answers are retried up to ``attempts`` calls in all, each with a
        different seed and a correction message (a reply cut off by ``max_tokens`` is asked to be shorter);
        then None is returned and the failure counted as ``truncated``, ``empty`` or ``invalid_output``
        (``json_failure``). JSON in a fence or among prose is read (``json_candidates``). All attempts are cached, so a rebuild
        replays the same sequence without calling the endpoint. ``responses``, when
        given, receives every attempt's response (the last one is the answer's: its
        ``served`` says who wrote it); ``problems``, every invalid attempt's problem (``json_failure`` reads them).
        """
        base_seed = merged_params(self.config, req).get("seed", 0) or 0
        messages = list(req.messages)
        responses = responses if responses is not None else []
        for i in range(max(1, attempts)):
            params = dict(req.params)
            if i:
                params["seed"] = int(base_seed) + 7919 * i
            res = await self.complete(LLMRequest(messages, params, req.response_format))
            responses.append(res)
            error = None
            for value in json_candidates(res.text or ""):
                problem = validate(value) if validate is not None else None
                if problem is None:
                    return value
                error = error or problem  # the most likely reading's problem is the one reported
            if error is None:
                text = res.text or ""
                error = Invalid(f"not valid JSON ({_whole_reply_error(text)})", NOT_JSON) if text.strip() else "it is empty"
            if problems is not None:
                problems.append(error)
            messages = messages + [
                {"role": "assistant", "content": clipped(res.text or "")},
                {"role": "user", "content": _correction(error, truncated=res.finish_reason == "length")}]
        self.stats.failures[{TRUNCATED_REASON: "truncated", EMPTY_REASON: "empty"}.get(json_failure(responses),
                                                                                      "invalid_output")] += 1
        return None

    # -- batches ---------------------------------------------------------------------------

    async def _gather(self, coros: list[Coroutine[Any, Any, _T]]) -> list[_T]:
        try:
            return await gather_all(coros)
        finally:
            if self._session is None:
                await self.aclose()

    async def outcomes(self, requests: Sequence[LLMRequest], *, json_mode: bool = False,
                       validate: Validator | Sequence[Validator] | None = None, attempts: int = 3) -> list[Outcome]:
        """``run_outcomes`` from async code (e.g. a batch ``submit``ted to the session); ``validate`` may be one
        check per request (a generated answer is checked against its own record)."""
        checks = list(validate) if isinstance(validate, Sequence) else [validate] * len(requests)
        return await gather_all([self._outcome(r, json_mode, v, attempts) for r, v in zip(requests, checks, strict=True)])

    async def _outcome(self, req: LLMRequest, json_mode: bool, validate: Validator | None, attempts: int,
                       keep_truncated: bool = False) -> Outcome:
        try:
            if json_mode:
                responses: list[LLMResponse] = []
                problems: list[str] = []
                value = await self.complete_json(req, validate, attempts, responses=responses, problems=problems)
                if value is not None:
                    return Outcome(value)
                return Outcome(None, json_failure(responses, problems))
            res = await self.complete(req)
        except RequestRejected as exc:
            return Outcome(None, exc.reason if isinstance(exc, _Rejected) else "unusable completion")
        if res.finish_reason == "length":
            return Outcome((res.text or "").strip() or None if keep_truncated else None, TRUNCATED_REASON)
        text = (res.text or "").strip()
        return Outcome(text or None, None if text else EMPTY_REASON)

    def run_outcomes(self, requests: Sequence[LLMRequest], *, json_mode: bool = False,
                     validate: Validator | None = None, attempts: int = 3,
                     keep_truncated: bool = False) -> list[Outcome]:
        """One Outcome per request, in order: the answer (text, or validated JSON) or why there is
        none. A request the server rejects on its own (HTTP 400, a malformed completion) or whose
        answer stays invalid is a per-record outcome; endpoint-wide failures (auth, retries
        exhausted) still raise LLMError and stop the batch — finished calls are cached. A text answer
        cut off by ``max_tokens`` has no value, unless ``keep_truncated`` (an evaluation scores what the
        model said within its budget): then it has the text and the reason both."""
        return self._run(self._gather([self._outcome(r, json_mode, validate, attempts, keep_truncated)
                                       for r in requests]))

    def run_batch(self, requests: Sequence[LLMRequest], *,
                  return_exceptions: bool = False) -> list[LLMResponse]:
        """Complete all requests (sync); the result list matches ``requests`` in order.

        The first LLMError stops the batch and is raised (finished calls stay cached).
        With ``return_exceptions=True`` a failed call gives ``LLMResponse(text=None,
        error=...)`` in its place instead.
        """
        async def one(req: LLMRequest) -> LLMResponse:
            try:
                return await self.complete(req)
            except LLMError as exc:
                if not return_exceptions:
                    raise
                return LLMResponse(None, key=cache_key(self.config, req), error=exc.message)

        return self._run(self._gather([one(r) for r in requests]))

    def run_json_batch(self, requests: Sequence[LLMRequest], validate: Validator | None = None,
                       attempts: int = 3) -> list[Any | None]:
        """``complete_json`` over a batch (sync), in order; None where output stayed invalid."""
        return self._run(self._gather([self.complete_json(r, validate, attempts) for r in requests]))


async def gather_all(coros: Sequence[Coroutine[Any, Any, _T]]) -> list[_T]:
    """All results in order; the first exception cancels the rest (and waits for them) and is raised."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


_BATCH_STATS: contextvars.ContextVar[LLMStats | None] = contextvars.ContextVar("humc_llm_batch_stats", default=None)


async def batch_stats(stats: LLMStats, coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` with every counter of the client calls it makes going to ``stats`` (not the client's)."""
    _BATCH_STATS.set(stats)  # this task's own context: the tasks it starts inherit it, no other batch sees it
    return await coro


SESSION_SWITCH_INTERVAL = 0.0005  # seconds: how long the loop may wait for the GIL while a session is open


class _QuickSwitches:
    """CPython hands the GIL to a waiting thread only after ``sys.getswitchinterval()`` (5 ms). While a session's
    loop has requests in flight, the building thread renders and stores records: each time the loop gives the GIL
    up (a socket send, a cache read) it then waited up to 5 ms to go on, and the answers it was handling waited
    with it. While any session is open the interval is 0.5 ms; the last one to close restores it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0
        self._saved = 0.0

    def enter(self) -> None:
        with self._lock:
            if self._open == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, SESSION_SWITCH_INTERVAL))
            self._open += 1

    def leave(self) -> None:
        with self._lock:
            self._open -= 1
            if self._open == 0:
                sys.setswitchinterval(self._saved)


_QUICK_SWITCHES = _QuickSwitches()


class _Session:
    """A daemon thread running one event loop for a client's batches."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="humc-llm", daemon=True)
        _QUICK_SWITCHES.enter()
        try:
            self.thread.start()
        except BaseException:  # no thread to be had: nothing for the interval to serve
            _QUICK_SWITCHES.leave()
            raise

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in the waiting thread: stop the batch's tasks too
            raise

    def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until the loop has run what is queued now and what that started in
        turn: batches just submitted have their requests on the wire, or waiting for a slot or a connection."""
        with contextlib.suppress(concurrent.futures.TimeoutError):
            self.submit(_yield_to_ready(SETTLE_ROUNDS)).result(timeout)

    def stop(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()  # RuntimeError when the thread did not stop in time
        finally:
            _QUICK_SWITCHES.leave()


SETTLE_ROUNDS = 8  # loop iterations: a batch's task starts its requests' tasks, they read the cache, take a slot, send


async def _yield_to_ready(rounds: int) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def iter_cache_keys(cache: Any) -> Iterable[str]:
    """The LLM entries of a response cache (``open_cache``, or a plain diskcache) for inspection and tests."""
    prefix = f"{CACHE_VERSION}:"
    return (k for k in cache.iterkeys() if isinstance(k, str) and k.startswith(prefix))
