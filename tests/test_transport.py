"""The lean HTTP transport under the LLM client (humc/llm/transport.py) against small real servers:
keep-alive reuse, chunked and length-less bodies, a connection the server closed while idle, bodies that
are not JSON, answers that are not HTTP; and which transport an endpoint gets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from humc.llm.transport import (
    LeanTransport,
    OpenAITransport,
    Reply,
    TransportBadBody,
    TransportConnectError,
    TransportStatus,
    TransportTimeout,
    open_transport,
    server_message,
    wanted,
)

Answer = Callable[[int], bytes]  # request number -> raw response bytes (b"" closes the connection)


def ok(body: dict, extra: str = "") -> bytes:
    data = json.dumps(body).encode()
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n{extra}\r\n".encode() + data


async def serve(answer: Answer, calls: list[int]) -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        calls.append(-1)  # a connection
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
                calls.append(len(calls))
                raw = answer(sum(c >= 0 for c in calls))
                if not raw:
                    break
                writer.write(raw)
                await writer.drain()
                if b"Connection: close" in raw or b"Content-Length" not in raw and b"chunked" not in raw:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def run(answer: Answer, n: int = 1, timeout: float = 5.0) -> tuple[list[object], int, int]:
    """POST n times in a row through one LeanTransport; (results or exceptions, connections seen, opened)."""
    calls: list[int] = []

    async def main() -> tuple[list[object], int]:
        server = await serve(answer, calls)
        port = server.sockets[0].getsockname()[1]
        transport = LeanTransport(f"http://127.0.0.1:{port}/v1", "sk-test", timeout)
        out: list[object] = []
        for i in range(n):
            try:
                out.append(await transport.post({"model": "m", "messages": [{"role": "user", "content": str(i)}]}))
            except Exception as exc:
                out.append(exc)
        await transport.aclose()
        server.close()
        await asyncio.sleep(0.05)  # the handlers see the connections close and close their ends
        return out, transport.opened

    out, opened = asyncio.run(main())
    return out, calls.count(-1), opened


def test_answers_come_back_with_attribute_access_over_one_kept_alive_connection():
    out, connections, opened = run(lambda i: ok({"choices": [{"message": {"content": f"answer {i}"}}], "model": "m"}), 3)
    assert [r.choices[0].message.content for r in out] == ["answer 1", "answer 2", "answer 3"]  # type: ignore[attr-defined]
    assert connections == opened == 1
    assert out[0].system_fingerprint is None  # type: ignore[attr-defined]  # a field the server left out


def test_chunked_and_length_less_bodies_are_read_whole():
    body = json.dumps({"choices": [{"message": {"content": "chunked"}}]}).encode()
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + f"{len(body) - 5:x}\r\n".encode()
               + body[:-5] + b"\r\n5;ext=1\r\n" + body[-5:] + b"\r\n0\r\nTrailer: x\r\n\r\n")
    out, _, _ = run(lambda i: chunked, 2)
    assert [r.choices[0].message.content for r in out] == ["chunked", "chunked"]  # type: ignore[attr-defined]
    plain = json.dumps({"choices": [{"message": {"content": "to the end"}}]}).encode()
    out, connections, _ = run(lambda i: b"HTTP/1.0 200 OK\r\n\r\n" + plain, 2)  # read to the end: a connection each
    assert [r.choices[0].message.content for r in out] == ["to the end"] * 2 and connections == 2  # type: ignore[attr-defined]


def test_a_connection_closed_while_idle_is_reopened_without_an_error():
    answer = ok({"choices": [{"message": {"content": "fine"}}]})
    out, connections, opened = run(lambda i: answer if i % 2 else b"", 3)  # every 2nd request: the server hangs up
    assert [r.choices[0].message.content for r in out] == ["fine", "fine", "fine"]  # type: ignore[attr-defined]
    assert connections == opened == 3  # the first, then one more for each request sent into a closed connection


def test_error_statuses_carry_the_servers_message_and_headers():
    data = json.dumps({"error": {"message": "slow down", "type": "rate_limit_error"}}).encode()
    raw = f"HTTP/1.1 429 Too Many\r\nRetry-After: 2\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data
    (exc,), _, _ = run(lambda i: raw)
    assert isinstance(exc, TransportStatus) and exc.status == 429 and exc.message == "slow down"
    assert exc.headers["retry-after"] == "2"


@pytest.mark.parametrize(("raw", "error", "words"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", TransportBadBody, "not JSON"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]", TransportBadBody, "JSON list"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", TransportConnectError, "not an HTTP response"),
])
def test_answers_that_are_not_a_json_object_or_not_http_are_transport_errors(raw, error, words):
    (exc,), _, _ = run(lambda i: raw)
    assert isinstance(exc, error) and words in str(exc)


def test_a_server_that_never_answers_times_out():
    async def main() -> Exception:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.read()  # until the client gives up and closes
            finally:
                writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            await LeanTransport(f"http://127.0.0.1:{port}/v1", "k", 0.2).post({})
        except Exception as exc:
            return exc
        finally:
            server.close()
            await asyncio.sleep(0.05)
        raise AssertionError("no timeout")

    exc = asyncio.run(main())
    assert isinstance(exc, TransportTimeout) and "0.2s" in str(exc)


def test_nothing_listening_is_a_connect_error_and_a_bad_scheme_is_refused():
    async def main() -> Exception:
        try:
            await LeanTransport("http://127.0.0.1:9/v1", "k", 2).post({})
        except Exception as exc:
            return exc
        raise AssertionError("connected")

    assert isinstance(asyncio.run(main()), TransportConnectError)
    with pytest.raises(TransportConnectError, match="scheme"):
        LeanTransport("ftp://host/v1", "k", 1)


def test_the_openai_client_serves_endpoints_behind_a_proxy_or_when_asked(monkeypatch):
    monkeypatch.delenv("HUMC_LLM_TRANSPORT", raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert wanted("http://127.0.0.1:8000/v1") == "lean"
    assert isinstance(open_transport("http://127.0.0.1:8000/v1", "k", 1), LeanTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    assert wanted("https://api.example.com/v1") == "openai" and wanted("https://localhost/v1") == "lean"
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("HUMC_LLM_TRANSPORT", "openai")
    pytest.importorskip("openai")
    assert isinstance(open_transport("http://127.0.0.1:8000/v1", "k", 1), OpenAITransport)


def test_server_messages_and_replies():
    assert server_message(b'{"error": {"message": "bad key"}}') == "bad key"
    assert server_message(b'{"error": "plain"}') == "plain"
    assert server_message(b'{"message": "top"}') == "top"
    assert server_message(b"<html>oops</html>") == "<html>oops</html>"
    assert server_message(b"") == "(no message)"
    reply = Reply({"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 3}})
    assert reply.usage.prompt_tokens == 3 and reply.usage.completion_tokens is None
