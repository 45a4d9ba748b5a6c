"""The HTTP transport under ``LLMClient``: one JSON POST to ``<base_url>/chat/completions``.

humc does its own retries, backoff, caching and concurrency (``client.py``); all it needs from a
transport is "send this body, give me the parsed answer or tell me what went wrong". Two
transports do that, both raising the same small exception family (``TransportError``):

* **LeanTransport** (default) — a bare asyncio HTTP/1.1 keep-alive client: a pool of
  connections (one per request in flight, reused), ``Content-Length`` or chunked bodies, TLS
  with the system (or certifi's) roots. About a tenth of the openai/httpx stack's CPU a request,
  which is what keeps 64–256 slots full from one Python thread. A reused connection the server
  closed while idle is reopened once, silently (not a retry: nothing was answered).
* **OpenAITransport** — the ``openai`` client's generic ``post`` (``max_retries=0``), used when
  an HTTP(S) proxy applies to the endpoint (the lean one does not speak to proxies) or when
  ``HUMC_LLM_TRANSPORT=openai`` asks for it.

A parsed answer is a ``Reply``: the JSON object with attribute access (``reply.choices[0].
message.content``), the shape ``completion_problem`` and ``served_by`` read. No message built
here quotes the API key; ``client.py`` redacts what it shows anyway.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import ssl
import sys
import urllib.parse
import urllib.request
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from humc.errors import HumcError

USER_AGENT = "humc"
TRANSPORT_ENV = "HUMC_LLM_TRANSPORT"  # lean | openai
_T = TypeVar("_T")


class TransportError(Exception):
    """Why a request got no usable HTTP answer (internal: ``LLMClient`` classifies these)."""


class TransportTimeout(TransportError):
    pass


class TransportConnectError(TransportError):
    pass


class TransportStatus(TransportError):
    """A non-2xx answer: its status, headers (lower-case names) and the server's message."""

    def __init__(self, status: int, headers: Mapping[str, str], message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.headers, self.message = status, headers, message


class TransportBadBody(TransportError):
    """A 2xx answer whose body is not a JSON object; ``content_type`` is what the server said it sent
    (``text/html`` from a web page, ``text/event-stream`` from a streaming-only server), "" when unknown."""

    def __init__(self, message: str, content_type: str = "") -> None:
        super().__init__(message)
        self.content_type = content_type


class Reply:
    """A JSON object with attribute access; missing names read as None, like an optional field."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        for key, value in data.items():
            self.__dict__[str(key)] = _wrap(value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return None


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Reply(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def server_message(body: bytes) -> str:
    """The human part of an error body: ``error.message`` / ``message`` of a JSON body, else its text."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than json can read
        return text.strip()[:500] or "(no message)"
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str) and err:
            return err
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return text.strip()[:500]


def parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """A 2xx body as a JSON object, else TransportBadBody saying what came instead (its start, its type)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        why = exc if isinstance(exc, ValueError) else "nested too deeply to read"
        shown = _start(raw.decode("utf-8", "replace"))
        raise TransportBadBody(f"the body is not JSON ({why}): {kind or 'no content type'}, {shown}", kind) from None
    if not isinstance(parsed, dict):
        raise TransportBadBody(f"the body is a JSON {type(parsed).__name__}, not an object", kind)
    return parsed


def proxied(base_url: str) -> bool:
    """Whether the environment routes ``base_url`` through a proxy (then the openai transport is used)."""
    parts = urllib.parse.urlsplit(base_url)
    proxies = urllib.request.getproxies()
    if parts.scheme not in proxies and "all" not in proxies:
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def wanted(base_url: str) -> str:
    """The transport for an endpoint: ``lean`` unless a proxy applies or the environment asks for ``openai``; any
    other value of the variable is E9001 (`HUMC_LLM_TRANSPORT=opneai` would quietly have been lean)."""
    asked = os.environ.get(TRANSPORT_ENV, "").strip().lower()
    if asked not in ("", "lean", "openai"):
        raise HumcError(f"invalid value for ${TRANSPORT_ENV}: {asked!r}", code="E9001",
                        expected=f"${TRANSPORT_ENV}: lean or openai (or unset: lean, openai behind a proxy)",
                        hint=f"fix or unset {TRANSPORT_ENV}")
    if asked == "openai" or proxied(base_url):
        return "openai"
    return "lean"


def listed_models(base_url: str, api_key: str, timeout: float) -> tuple[str, ...] | None:
    """The model ids ``GET <base_url>/models`` lists (blocking; None when it lists none or cannot be read).
    Used once per client to tell who answered (``provenance.answering_model``), never for anything else."""
    request = urllib.request.Request(base_url.rstrip("/") + "/models",
                                     headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - the recipe's own endpoint
            data = json.loads(resp.read(1 << 20))
    except (OSError, ValueError, RecursionError, http.client.HTTPException):  # refused, not JSON (or too deep to
        return None  # read), cut short: nobody is named
    rows = data.get("data") if isinstance(data, dict) else None
    ids = tuple(str(r["id"]) for r in rows if isinstance(r, dict) and r.get("id")) if isinstance(rows, list) else ()
    return ids or None


# ------------------------------------------------------------------------------- lean


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # pragma: no cover - closing an already broken socket
            pass


class _Stale(Exception):
    """A reused connection closed before any byte of the answer: reopen and send again."""


class LeanTransport:
    """Bare asyncio HTTP/1.1 with keep-alive. Use from one event loop; ``aclose`` closes the pool."""

    name = "lean"

    def __init__(self, base_url: str, api_key: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportConnectError(f"unsupported base_url scheme '{parts.scheme}' (expected http or https)")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.path = parts.path.rstrip("/") + "/chat/completions"
        host_header = self.host if ":" not in self.host else f"[{self.host}]"
        if parts.port:
            host_header += f":{parts.port}"
        self.head = (f"POST {self.path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
                     f"Accept: application/json\r\nContent-Type: application/json\r\n"
                     f"Authorization: Bearer {api_key}\r\nConnection: keep-alive\r\n").encode("latin-1")
        self.timeout = timeout
        self.idle: list[_Conn] = []
        self.opened = 0  # connections opened (tests and benches read it)
        self._ssl: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            try:
                import certifi

                self._ssl = ssl.create_default_context(cafile=certifi.where())
            except ImportError:  # pragma: no cover - certifi comes with the openai/httpx dependency
                self._ssl = ssl.create_default_context()
        return self._ssl

    async def _open(self) -> _Conn:
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self._context() if self.tls else None,
                server_hostname=self.host if self.tls else None, limit=2**20)
        except (OSError, ssl.SSLError) as exc:
            raise TransportConnectError(f"{type(exc).__name__}: {exc}") from None
        self.opened += 1
        return _Conn(reader, writer)

    async def post(self, body: Mapping[str, Any]) -> Reply:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        request = self.head + f"Content-Length: {len(data)}\r\n\r\n".encode("latin-1") + data
        try:
            status, headers, raw = await _within(self.timeout, self._exchange(request))
        except asyncio.TimeoutError:
            raise TransportTimeout(f"timed out after {self.timeout:g}s") from None
        if not 200 <= status < 300:
            raise TransportStatus(status, headers, server_message(raw))
        return Reply(parse_body(raw, headers.get("content-type", "")))

    async def _exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        while self.idle:
            conn = self.idle.pop()
            try:
                return await self._send(conn, request, reused=True)
            except _Stale:
                continue
        conn = await self._open()
        try:
            return await self._send(conn, request, reused=False)
        except _Stale as exc:  # a fresh connection closed at once: the server hung up
            raise TransportConnectError(f"the server closed the connection: {exc}") from None

    async def _send(self, conn: _Conn, request: bytes, *, reused: bool) -> tuple[int, dict[str, str], bytes]:
        keep = False
        try:
            conn.writer.write(request)
            await conn.writer.drain()
            try:
                head = await conn.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if reused and not exc.partial:
                    raise _Stale("closed while idle") from None
                raise TransportConnectError("the server closed the connection before answering") from None
            status, headers = _parse_head(head)
            raw, keep = await _read_body(conn.reader, headers)
            return status, headers, raw
        except ConnectionError as exc:
            if reused:
                raise _Stale(str(exc)) from None
            raise TransportConnectError(f"{type(exc).__name__}: {exc}") from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, ValueError) as exc:
            raise TransportConnectError(f"{type(exc).__name__}: {exc}") from None
        finally:
            if keep:
                self.idle.append(conn)
            else:
                conn.close()

    async def aclose(self) -> None:
        while self.idle:
            self.idle.pop().close()


if sys.version_info >= (3, 11):
    async def _within(seconds: float, exchange: Coroutine[Any, Any, _T]) -> _T:
        """``exchange``, cancelled after ``seconds`` (asyncio.TimeoutError): in the caller's task, where ``wait_for``
        of Python 3.11 starts a task of its own for every request."""
        async with asyncio.timeout(seconds):
            return await exchange
else:  # pragma: no cover - Python 3.10
    async def _within(seconds: float, exchange: Coroutine[Any, Any, _T]) -> _T:
        return await asyncio.wait_for(exchange, seconds)


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """(status, headers with lower-case names) of a response head; ValueError when it is not HTTP."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {status_line[:80]!r}")
    headers: dict[str, str] = {"": parts[0]}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> tuple[bytes, bool]:
    """The body and whether the connection may be reused."""
    version = headers.pop("", "HTTP/1.1")
    if headers.get("transfer-encoding", "").lower().endswith("chunked"):
        raw = await _read_chunked(reader)
    elif "content-length" in headers:
        raw = await reader.readexactly(int(headers["content-length"]))
    else:  # no length: the body runs to the end of the connection
        return await reader.read(), False
    return raw, headers.get("connection", "").lower() != "close" and version != "HTTP/1.0"


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the blank line
                pass
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)


# ------------------------------------------------------------------------------- openai


class OpenAITransport:
    """The openai client's ``post`` (its retries off), its errors turned into ``TransportError``s."""

    name = "openai"

    def __init__(self, base_url: str, api_key: str, timeout: float) -> None:
        import openai  # only when chosen: a build that never asks a model, or uses the lean transport, never pays for it

        self.opened = 0
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout)
        self.timeout = timeout

    async def post(self, body: Mapping[str, Any]) -> Any:
        import openai
        from openai.types.chat import ChatCompletion

        try:
            answer = await self._client.post("/chat/completions", body=dict(body), cast_to=ChatCompletion)
        except ValueError as exc:  # a JSON content type over a body that is not JSON
            raise TransportBadBody(f"the body is not JSON ({exc})", "application/json") from None
        except openai.APITimeoutError:
            raise TransportTimeout(f"timed out after {self.timeout:g}s") from None
        except openai.APIConnectionError as exc:
            raise TransportConnectError(str(exc.__cause__ or exc)) from None
        except openai.APIStatusError as exc:
            headers = {k.lower(): v for k, v in getattr(exc.response, "headers", {}).items()}
            raise TransportStatus(exc.status_code, headers, _openai_message(exc)) from None
        except openai.APIResponseValidationError as exc:
            raise TransportBadBody(str(exc)) from None
        if isinstance(answer, str):  # the client hands over the text of a body that is not JSON (a page, a stream)
            raise TransportBadBody(f"the body is not JSON: {_start(answer)}", sniffed_type(answer))
        if not isinstance(answer, ChatCompletion):
            raise TransportBadBody(f"the body is a JSON {type(answer).__name__}, not an object")
        return answer

    async def aclose(self) -> None:
        await self._client.close()


def sniffed_type(text: str) -> str:
    """The content type a body that is not JSON most likely had (the openai client does not pass it on)."""
    head = text.lstrip()
    if head.startswith(("data:", "event:")):
        return "text/event-stream"
    return "text/html" if head.startswith("<") else ""


def _start(text: str) -> str:
    """A body's first 80 characters as a message shows them (``…`` when there are more)."""
    text = text.strip()
    return f"{text[:80]!r}" + ("…" if len(text) > 80 else "") if text else "an empty body"


def _openai_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return str(getattr(exc, "message", "") or exc)


Transport = LeanTransport | OpenAITransport


def open_transport(base_url: str, api_key: str, timeout: float) -> Transport:
    """The transport ``wanted`` for this endpoint."""
    if wanted(base_url) == "openai":
        return OpenAITransport(base_url, api_key, timeout)
    return LeanTransport(base_url, api_key, timeout)
