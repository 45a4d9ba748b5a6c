"""An OpenAI-compatible chat-completions server for tests and benchmarks.

It behaves like a vLLM / OpenAI endpoint as far as humc's LLM client can tell:

* ``POST /v1/chat/completions`` (non-streaming) answers in the exact OpenAI shape;
* ``GET /v1/models`` lists the served models;
* errors use OpenAI's body shape ``{"error": {"message", "type", "param", "code"}}``.

Structured outputs (``structured=``) follow one of three real servers: ``"json_schema"`` (OpenAI,
vLLM, SGLang, Ollama's /v1: every ``response_format`` is accepted), ``"json_object+schema"``
(llama-cpp-python 0.3: ``{"type": "json_object", "schema": …}`` is accepted, ``json_schema`` is
refused with the HTTP 500 and pydantic ``literal_error`` it really sends) and ``"none"`` (a server
without structured outputs: any ``response_format`` gets a 400). A ``json_schema`` holding an empty ``enum`` gets a
400, as vLLM's guided decoding and OpenAI's strict mode answer a schema no value satisfies. Like any obliging model, the
server answers the request "Reply with the JSON object {"ok": true} …" (humc's probe) with exactly
that, whatever the responder.

Knobs: per-request latency, a number of concurrency *slots* (requests beyond the
slot count wait in a queue, like a real server), injected 429s (with a
``Retry-After`` header) and 500s at deterministic rates, a scripted failure
sequence for the first requests, an optional API key, ``max_tokens`` honoured as a
real server does (``cut_at_max_tokens``: a longer answer is cut after that many
words with ``finish_reason: "length"``), and a pluggable
``responder(request_json) -> str``.

It is dependency-free: a small HTTP/1.1 (keep-alive) server on asyncio streams,
running its own event loop in a background thread. Use it as a context manager::

    with LLMServer(latency=0.01) as srv:
        client = OpenAI(base_url=srv.base_url, api_key="x")
        ...
        srv.stats["requests"]

Import as ``tests.llmserver`` (repo root on ``sys.path``) or load it by path.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LLMServer", "Reply", "default_responder", "scripted_responder", "value_for_schema"]

STRUCTURED_BEHAVIOURS = ("json_schema", "json_object+schema", "none")
PROBE_TEXT = 'Reply with the JSON object {"ok": true}'

@dataclass
class Reply:
    """What a responder returns to misbehave: an HTTP error for this request, a raw 200 body
    (e.g. no choices, null content), or a finish_reason such as "length"."""

    text: str | None = None
    status: int = 200
    body: Any = None
    finish_reason: str = "stop"


Responder = Callable[[dict], "str | Reply"]

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Service Unavailable"}


# ---------------------------------------------------------------------------
# default responder


def value_for_schema(schema: Any, hint: str = "") -> Any:
    """A small value that satisfies a (simple) JSON schema."""
    if not isinstance(schema, dict):
        return hint or "ok"
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return value_for_schema(schema[key][0], hint)
    typ = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ == "object":
        props = schema.get("properties", {})
        return {k: value_for_schema(v, hint) for k, v in props.items()}
    if typ == "array":
        n = max(1, int(schema.get("minItems", 1)))
        return [value_for_schema(schema.get("items", {}), hint) for _ in range(n)]
    if typ == "integer":
        return int(schema.get("minimum", 0))
    if typ == "number":
        return float(schema.get("minimum", 0))
    if typ == "boolean":
        return True
    if typ == "null":
        return None
    text = hint or "ok"
    return text[:int(schema["maxLength"])] if "maxLength" in schema else text  # as constrained decoding does


def _last_user_text(body: dict) -> str:
    for msg in reversed(body.get("messages") or []):
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):  # content parts
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def default_responder(body: dict) -> str:
    """Deterministic answers.

    * any message containing the marker ``INVALID`` -> text that is not valid JSON;
    * ``response_format`` json_schema -> a JSON value satisfying the schema;
    * ``response_format`` json_object -> ``{"answer": "echo: <last user message>"}``;
    * otherwise ``echo: <last user message>``.
    """
    last = _last_user_text(body)
    if any("INVALID" in str(m.get("content", "")) for m in body.get("messages") or []):
        return '{"answer": "unterminated'
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_schema":
        schema = (rf.get("json_schema") or {}).get("schema", {})
        return json.dumps(value_for_schema(schema, f"echo: {last}"))
    if rf.get("type") == "json_object":
        return json.dumps({"answer": f"echo: {last}"})
    return f"echo: {last}"


def scripted_responder(script: dict[str, str | Reply], default: Responder = default_responder) -> Responder:
    """Answers by the last user message: ``script[message]`` when scripted (a right, a wrong or a
    malformed answer, or a ``Reply`` to misbehave), else ``default`` — a model whose every answer
    a test knows in advance (``humc eval`` against a loopback server)."""
    def respond(body: dict) -> str | Reply:
        last = _last_user_text(body)
        return script[last] if last in script else default(body)

    return respond


def _count_tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


def _first_words(text: str, n: int) -> str:
    """``text`` up to the end of its ``n``-th word (a token here), as a server cuts an answer at max_tokens."""
    words = text.split()
    if n <= 0 or not words:
        return ""
    end, at = 0, 0
    for word in words[:n]:
        at = text.index(word, end)
        end = at + len(word)
    return text[:end]


# ---------------------------------------------------------------------------
# server


@dataclass
class ReceivedRequest:
    index: int                 # arrival order, 0-based
    time: float                # time.monotonic() at arrival
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    status: int = 0            # status sent back (filled in when answered)
    in_flight: int = 0         # requests in flight on arrival, this one included (queued + active)


@dataclass
class _Counters:
    requests: int = 0                      # chat-completion requests received
    by_status: dict[int, int] = field(default_factory=dict)
    in_flight: int = 0                     # received, not yet answered (queued + active)
    max_in_flight: int = 0
    active: int = 0                        # holding a slot
    max_active: int = 0
    connections: int = 0


class LLMServer:
    """OpenAI-compatible test server on 127.0.0.1 (free port), in a background thread.

    :param latency: seconds each chat completion takes while holding a slot.
    :param slots: concurrent completions; requests beyond it wait in a queue.
    :param rate_429: fraction of requests answered 429 (immediately, with Retry-After).
    :param rate_500: fraction of requests answered 500 (after the latency).
    :param retry_after: value of the Retry-After header on 429s (seconds, as sent).
    :param seed: seeds the injected failures; request *n* fails iff a RNG seeded
        with (seed, n) says so, so a given arrival order always fails the same way.
    :param fail_sequence: statuses forced for the first requests (0 or 200 = normal),
        e.g. ``[429]`` makes the first request a 429.
    :param responder: ``responder(request_json) -> str`` content of the answer.
    :param api_key: when set, requests must send ``Authorization: Bearer <api_key>``; others get a 401
        whose message is ``unauthorized_message`` (an attribute: set it to quote the key, as some servers do).
    :param models: served model ids; other ids get 404 ``model_not_found``.
        ``None`` serves any model id.
    :param reported_model: the ``model`` every response reports (default: the id the request asked
        for, as vLLM does); set it to model a server that answers as another model, e.g. OpenAI's
        dated snapshots or a proxy serving whatever it has loaded.
    :param system_fingerprint: sent as ``system_fingerprint`` in every response (default: left out,
        as llama.cpp and vLLM do).
    :param port: the port to listen on (default: a free one); a test restarts a server on the port it had.
    :param down_after: after this many chat-completion requests the server goes down as a killed process does:
        the request that comes next and every one in flight lose their connection without an answer, and new
        connections are refused (the listening socket is closed).
    :param cut_at_max_tokens: cut an answer longer than the request's ``max_tokens`` (a token is a
        word here) and report ``finish_reason: "length"``, as every real server does (JSON cut
        mid-string included); off by default, so scripted answers arrive whole.
    """

    def __init__(self, *, latency: float = 0.0, slots: int = 64, rate_429: float = 0.0,
                 rate_500: float = 0.0, retry_after: str | float | int = "1", seed: int = 0,
                 fail_sequence: Iterable[int] = (), responder: Responder | None = None,
                 api_key: str | None = None, models: Iterable[str] | None = ("test-model",),
                 record_requests: bool = True, reported_model: str | None = None,
                 system_fingerprint: str | None = None, structured: str = "json_schema",
                 cut_at_max_tokens: bool = False, port: int = 0, down_after: int | None = None) -> None:
        if structured not in STRUCTURED_BEHAVIOURS:
            raise ValueError(f"structured must be one of {STRUCTURED_BEHAVIOURS}")
        self.structured = structured
        self.latency = latency
        self.slots = slots
        self.rate_429 = rate_429
        self.rate_500 = rate_500
        self.retry_after = str(retry_after)
        self.seed = seed
        self.fail_sequence = list(fail_sequence)
        self.responder: Responder = responder or default_responder
        self.api_key = api_key
        self.unauthorized_message = "Incorrect API key provided."
        self.models = None if models is None else list(models)
        self.record_requests = record_requests
        self.reported_model = reported_model
        self.system_fingerprint = system_fingerprint
        self.cut_at_max_tokens = cut_at_max_tokens
        self.down_after = down_after

        self.received: list[ReceivedRequest] = []
        self._c = _Counters()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._sem: asyncio.Semaphore | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port: int | None = port or None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> LLMServer:
        if self._thread is not None:
            return self
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._sem = asyncio.Semaphore(self.slots)
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, "127.0.0.1", self.port or 0, backlog=2048))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # pragma: no cover - startup failure
                error.append(exc)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="llmserver", daemon=True)
        self._thread.start()
        ready.wait(10)
        if error:
            raise error[0]
        return self

    def _go_down(self) -> None:
        """As a killed process: no new connection is accepted, every open one is cut."""
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- stats ---------------------------------------------------------------

    @property
    def request_count(self) -> int:
        return self._c.requests

    @property
    def stats(self) -> dict[str, Any]:
        with self._lock:
            c = self._c
            return {"requests": c.requests, "by_status": dict(c.by_status),
                    "ok": c.by_status.get(200, 0), "in_flight": c.in_flight,
                    "max_in_flight": c.max_in_flight, "max_active": c.max_active,
                    "connections": c.connections}

    def reset_stats(self) -> None:
        with self._lock:
            self._c = _Counters()
            self.received = []

    # -- HTTP ------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with self._lock:
            self._c.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                status, extra, payload = await self._route(method, target.split("?", 1)[0], headers, body)
                data = json.dumps(payload).encode()
                out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
                       "Content-Type: application/json", f"Content-Length: {len(data)}"]
                out += [f"{k}: {v}" for k, v in extra.items()]
                close = headers.get("connection", "").lower() == "close"
                out.append("Connection: close" if close else "Connection: keep-alive")
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + data)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._writers.discard(writer)
            try:
                writer.close()
            except Exception:  # pragma: no cover
                pass

    async def _route(self, method: str, path: str, headers: dict[str, str],
                     body: bytes) -> tuple[int, dict[str, str], Any]:
        path = path.rstrip("/")
        if path == "/_stats" and method == "GET":       # test hook: counters as JSON
            return 200, {}, self.stats
        if path in ("/v1/models", "/models"):
            if method != "GET":
                return _error(405, "method not allowed", "invalid_request_error")
            if (denied := self._auth(headers)) is not None:
                return denied
            ids = self.models or ["test-model"]
            return 200, {}, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "llmserver"} for m in ids]}
        if path in ("/v1/chat/completions", "/chat/completions"):
            if method != "POST":
                return _error(405, "method not allowed", "invalid_request_error")
            return await self._chat(headers, body)
        return _error(404, f"no route {method} {path}", "invalid_request_error")

    def _auth(self, headers: dict[str, str]) -> tuple[int, dict[str, str], Any] | None:
        if self.api_key is None:
            return None
        if headers.get("authorization", "") != f"Bearer {self.api_key}":
            return _error(401, self.unauthorized_message, "invalid_request_error",
                          code="invalid_api_key")
        return None

    def _injected(self, index: int) -> int:
        if index < len(self.fail_sequence) and self.fail_sequence[index] not in (0, 200):
            return self.fail_sequence[index]
        if self.rate_429 or self.rate_500:
            x = random.Random(self.seed * 1_000_003 + index).random()
            if x < self.rate_429:
                return 429
            if x < self.rate_429 + self.rate_500:
                return 500
        return 0

    def _refuse_format(self, rf: Any) -> tuple[int, dict[str, str], Any] | None:
        """The error a server of behaviour ``self.structured`` answers to this response_format (None: accepted)."""
        if rf is None:
            return None
        kind = rf.get("type") if isinstance(rf, dict) else None
        if self.structured == "none":
            return _error(400, "response_format is not supported by this server", "invalid_request_error",
                          param="response_format")
        if kind == "json_schema" and _empty_enum(rf):
            return _error(400, "Invalid schema for response_format: 'enum' must have at least one value",
                          "invalid_request_error", param="response_format")
        if self.structured == "json_object+schema" and kind not in ("text", "json_object"):
            # what llama-cpp-python 0.3 really answers: its pydantic validation error, as an HTTP 500
            return _error(500, "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
                               f"'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': '{kind}'}}",
                          "internal_server_error")
        return None

    async def _chat(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        with self._lock:
            index = self._c.requests
            self._c.requests += 1
            self._c.in_flight += 1
            self._c.max_in_flight = max(self._c.max_in_flight, self._c.in_flight)
            rec = ReceivedRequest(index, time.monotonic(), "POST", "/v1/chat/completions",
                                  dict(headers), body, in_flight=self._c.in_flight)
            if self.record_requests:
                self.received.append(rec)
        status, extra, payload = 500, {}, None
        try:
            status, extra, payload = await self._chat_inner(index, headers, body)
            return status, extra, payload
        finally:
            rec.status = status
            with self._lock:
                self._c.in_flight -= 1
                self._c.by_status[status] = self._c.by_status.get(status, 0) + 1

    async def _chat_inner(self, index: int, headers: dict[str, str],
                          body: Any) -> tuple[int, dict[str, str], Any]:
        if self.down_after is not None and index >= self.down_after:
            self._go_down()
            raise ConnectionResetError("the server went down")  # the handler drops the connection unanswered
        if (denied := self._auth(headers)) is not None:
            return denied
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "request body must be a JSON object with 'messages'",
                          "invalid_request_error", param="messages")
        model = body.get("model")
        if self.models is not None and model not in self.models:
            return _error(404, f"The model `{model}` does not exist.", "invalid_request_error",
                          param="model", code="model_not_found")
        if (refused := self._refuse_format(body.get("response_format"))) is not None:
            return refused
        injected = self._injected(index)
        if injected == 429:
            return _error(429, "Rate limit reached; please retry later.", "rate_limit_error",
                          code="rate_limit_exceeded", headers={"Retry-After": self.retry_after})
        assert self._sem is not None
        async with self._sem:
            with self._lock:
                self._c.active += 1
                self._c.max_active = max(self._c.max_active, self._c.active)
            try:
                if self.latency:
                    await asyncio.sleep(self.latency)
                if injected:
                    return _error(injected, "The server had an error while processing your request.",
                                  "server_error")
                try:
                    text = '{"ok": true}' if PROBE_TEXT in _last_user_text(body) else self.responder(body)
                except Exception as exc:  # a broken responder is a test bug: show it
                    return _error(500, f"responder failed: {exc!r}", "server_error")
            finally:
                with self._lock:
                    self._c.active -= 1
        finish_reason = "stop"
        if isinstance(text, Reply):
            if text.status != 200:
                return _error(text.status, text.text or "rejected", "invalid_request_error")
            if text.body is not None:
                return 200, {}, text.body
            text, finish_reason = text.text or "", text.finish_reason
        limit = body.get("max_tokens")
        if self.cut_at_max_tokens and isinstance(limit, int) and _count_tokens(text) > limit:
            text, finish_reason = _first_words(text, limit), "length"
        prompt_tokens = sum(_count_tokens(str(m.get("content", ""))) for m in body["messages"])
        completion_tokens = _count_tokens(text)
        completion = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.reported_model or model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
        if self.system_fingerprint:
            completion["system_fingerprint"] = self.system_fingerprint
        return 200, {}, completion


def _empty_enum(value: Any) -> bool:
    """Whether a JSON schema holds an ``enum`` of no values anywhere."""
    if isinstance(value, dict):
        return value.get("enum") == [] or any(_empty_enum(v) for v in value.values())
    return isinstance(value, list) and any(_empty_enum(v) for v in value)


def _error(status: int, message: str, type_: str, *, param: str | None = None,
           code: str | None = None, headers: dict[str, str] | None = None
           ) -> tuple[int, dict[str, str], Any]:
    return status, headers or {}, {"error": {"message": message, "type": type_,
                                             "param": param, "code": code}}


def main(argv: list[str] | None = None) -> None:
    """Run a server in the foreground; prints its base URL on the first line of stdout.

    ``python tests/llmserver.py --latency 0.2 --slots 64 --rate-429 0.05 --rate-500 0.05``
    Counters are served as JSON at ``GET /_stats`` (beside /v1).
    """
    import argparse
    import signal

    ap = argparse.ArgumentParser(description="OpenAI-compatible test server on 127.0.0.1 (prints its base URL). It "
                                             "answers deterministically: for a JSON Schema the simplest valid value (a "
                                             "judge scores 1, so `judge: {min_score: 4}` drops every record), else "
                                             "'echo: <the last user message>'. Tests script other answers.")
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--slots", type=int, default=64)
    ap.add_argument("--rate-429", type=float, default=0.0)
    ap.add_argument("--rate-500", type=float, default=0.0)
    ap.add_argument("--retry-after", default="1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--model", action="append", help="served model id (repeatable); default: any")
    ap.add_argument("--reported-model", default=None, help="the `model` responses report (default: the one asked)")
    ap.add_argument("--system-fingerprint", default=None, help="sent as `system_fingerprint` in responses")
    a = ap.parse_args(argv)
    srv = LLMServer(latency=a.latency, slots=a.slots, rate_429=a.rate_429, rate_500=a.rate_500,
                    retry_after=a.retry_after, seed=a.seed, api_key=a.api_key, models=a.model,
                    record_requests=False, reported_model=a.reported_model,
                    system_fingerprint=a.system_fingerprint).start()
    print(srv.base_url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    srv.stop()


if __name__ == "__main__":
    main()
