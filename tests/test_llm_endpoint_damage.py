"""LLM endpoints that misbehave, through the real CLI: a web page or a stream where a chat completion belongs, a
body that is not JSON, a base_url a user typed wrong, a key that is not set, answers that are tool calls, and a
build stopped with Ctrl-C. Each is a coded diagnostic with what came, what was expected and a hint (exit 2, never
exit 3), nothing is written, and an interrupted build resumes from the answers it had received."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import REPO, run_cli

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer, Reply  # noqa: E402

ROWS = [{"instruction": f"Name fruit number {i}.", "context": "", "response": ""} for i in range(20)]


def write_recipe(tmp: Path, base_url: str, *, judge: bool = False, extra: str = "", rows: int = 4) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "gen.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS[:rows]), encoding="utf-8")
    recipe = tmp / "r.hum.yaml"
    recipe.write_text(f"""hum: 1
name: probe
models:
  writer:
    base_url: {base_url}
    model: test-model
    max_retries: 1
    timeout: 5
{extra}
sources:
  gen: gen.jsonl
tasks:
  - id: dolly
    task: generalist
    source: gen
    fields: {{instruction: instruction, context: context, response: response}}
    generate: {{model: writer}}
""" + ("    judge: {model: writer, min_score: 1}\n" if judge else "") + """    formats: [text]
output:
  splits: {train: 1.0}
""", encoding="utf-8")
    return recipe


class RawServer:
    """Answers every request with the same raw HTTP bytes (what no OpenAI-compatible server would send)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.requests = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _main(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
                self.requests += 1
                writer.write(self.raw)
                await writer.drain()
                if b"Content-Length" not in self.raw:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    async def _shutdown(self) -> None:
        self.server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:  # connection handlers waiting for a next request
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.server.wait_closed()


def http(status: int, body: bytes, content_type: str) -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)


@pytest.fixture
def raw_server() -> Iterator[list[RawServer]]:
    servers: list[RawServer] = []
    yield servers
    for srv in servers:
        srv.stop()


ANSWERS = {
    "web page": (http(200, b"<html><body>Welcome to nginx!</body></html>", "text/html"),
                 ["text/html", "Welcome to nginx", "points at a web page"]),
    "stream": (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
               b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n',
               ["text/event-stream", "answered with a stream"]),
    "cut JSON": (http(200, b'{"choices": [', "application/json"), ["the body is not JSON", "'{\"choices\": ['"]),
    "JSON list": (http(200, b"[1, 2]", "application/json"), ["the body is a JSON list"]),
}


@pytest.mark.parametrize("what", list(ANSWERS))
@pytest.mark.parametrize("step", ["generate", "judge probe"])
@pytest.mark.parametrize("transport", ["lean", "openai"])  # openai: the client used behind a proxy
def test_an_answer_that_is_not_a_chat_completion_says_what_came(tmp_path, raw_server, monkeypatch, what, step,
                                                                transport):
    monkeypatch.setenv("HUMC_LLM_TRANSPORT", transport)
    raw, words = ANSWERS[what]
    if transport == "openai":  # the openai client passes on neither the content type nor a broken JSON body
        words = [w for w in words if not w.startswith(("text/", "application/", "'{"))]
    srv = RawServer(raw)
    raw_server.append(srv)
    recipe = write_recipe(tmp_path, f"http://127.0.0.1:{srv.port}/v1", judge=step == "judge probe")
    if step == "judge probe":  # a source with answers: only the judge asks, and it probes structured outputs first
        (tmp_path / "gen.jsonl").write_text("".join(json.dumps({**r, "response": "An apple."}) + "\n" for r in ROWS[:4]),
                                            encoding="utf-8")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2, result.output
    assert "error[E4301]" in result.output and "not an OpenAI chat completion" in result.output
    assert all(w in result.output for w in words), result.output
    assert "expected: an OpenAI chat completion" in result.output and "hint:" in result.output
    assert "internal error" not in result.output and not (tmp_path / "out").exists()


def test_a_base_url_without_v1_gets_told_where_the_api_is(tmp_path, raw_server):
    srv = RawServer(http(404, b'{"detail":"Not Found"}', "application/json"))  # what llama.cpp answers off /v1
    raw_server.append(srv)
    recipe = write_recipe(tmp_path, f"http://127.0.0.1:{srv.port}")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2 and "error[E4301]" in result.output and "not found (HTTP 404)" in result.output
    assert f"does not end with /v1: try http://127.0.0.1:{srv.port}/v1" in result.output
    assert srv.requests <= 4  # a 404 stops the build: nothing is sent after the first batch


@pytest.mark.parametrize(("url", "problem", "hint"), [
    ("localhost:8000/v1", "does not start with http:// or https://", "write the scheme too"),
    ("http://127.0.0.1:8000/v1/chat/completions", "ends with /chat/completions",
     "write the API root: base_url: http://127.0.0.1:8000/v1"),
    ("http://127.0.0.1:80a/v1", "has a port that is not a number", "http://HOST:PORT/v1"),
])
def test_a_base_url_typed_wrong_is_located_before_anything_is_sent(tmp_path, url, problem, hint):
    recipe = write_recipe(tmp_path, url)
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "error[E0008]" in result.output and "r.hum.yaml:5:15: error[E0008]" in result.output
    assert problem in result.output and hint in result.output and "expected: the API root" in result.output
    assert "unknown model" not in result.output  # the step naming the model is not refused too: one error, one report
    asked = run_cli("eval", str(tmp_path), "--base-url", url, "--model", "m")
    assert asked.exit_code == 2 and "error[E0008]" in asked.output and problem in asked.output
    assert "internal error" not in result.output + asked.output


def test_a_key_that_is_not_set_is_told_apart_from_a_key_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("HUMC_TEST_MISSING_KEY", raising=False)
    with LLMServer(api_key="sk-the-right-key-0123456789") as srv:
        recipe = write_recipe(tmp_path, srv.base_url, extra="    api_key_env: HUMC_TEST_MISSING_KEY")
        unset = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
        monkeypatch.setenv("HUMC_TEST_MISSING_KEY", "sk-a-wrong-key-9876543210")
        wrong = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert unset.exit_code == wrong.exit_code == 2
    assert "HTTP 401" in unset.output and "HUMC_TEST_MISSING_KEY is not set" in unset.output
    assert "the key in HUMC_TEST_MISSING_KEY was refused" in wrong.output and "sk-a-wrong-key" not in wrong.output
    assert "expected: a valid API key in the environment variable HUMC_TEST_MISSING_KEY" in wrong.output


def test_tool_calls_and_null_answers_are_dropped_under_their_own_reason(tmp_path):
    def answer(body: dict) -> str | Reply:
        prompt = body["messages"][0]["content"]
        message: dict = {"role": "assistant", "content": None}
        if "number 0" in prompt:
            message["tool_calls"] = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
        elif "number 1" not in prompt:
            return "An apple."
        return Reply(body={"id": "x", "object": "chat.completion", "created": 0, "model": "test-model",
                           "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

    with LLMServer(responder=answer) as srv:
        recipe = write_recipe(tmp_path, srv.base_url)
        result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    summary = " ".join(result.output.split())
    assert "dropped unusable completion: the answer is a tool call, not text: 1" in summary
    assert "unusable completion: the message has no text: 1" in summary and "2/4 valid answer(s)" in summary


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
def test_ctrl_c_during_llm_steps_stops_quietly_and_the_next_build_resumes(tmp_path):
    with LLMServer(latency=0.15, slots=2) as srv:
        recipe = write_recipe(tmp_path, srv.base_url, extra="    concurrency: 2", rows=20)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "humc", "build", str(recipe), "--out", str(tmp_path / "out"),
               "--cache", str(tmp_path / "cache")]
        # a shell running the suite in the background (a CI step, `cmd &`) ignores SIGINT in its children: undo that
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 60
        while srv.stats["ok"] < 6 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        answered = {json.dumps(r.json["messages"]) for r in srv.received if r.status == 200}
        srv.reset_stats()
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        asked_again = [json.dumps(r.json["messages"]) for r in srv.received]
    assert proc.returncode == 130 and "interrupted: finished work is saved" in err
    for noise in ("Traceback", "Task was destroyed", "Exception ignored", "Event loop is closed", "internal error"):
        assert noise not in err, err
    assert again.returncode == 0, again.stderr
    assert "20/20 valid answer(s)" in again.stderr and not (tmp_path / "out" / "probe" / ".partial").exists()
    # the answers received before Ctrl-C come from the cache: at most the two in flight at that moment are asked again
    assert len(answered) >= 6 and len(answered & set(asked_again)) <= 2
    assert len(asked_again) == 20 - len(answered) + len(answered & set(asked_again))


@pytest.mark.parametrize(("server", "words"), [
    ({"latency": 3.0}, ["request timed out after 1s", "needs a larger `timeout:`"]),
    ({"rate_429": 1.0, "retry_after": "0"}, ["HTTP 429", "quota is used up", "lower `concurrency:`"]),
])
def test_an_endpoint_that_keeps_failing_says_what_to_change(tmp_path, server, words):
    with LLMServer(**server) as srv:
        recipe = write_recipe(tmp_path, srv.base_url)
        recipe.write_text(recipe.read_text(encoding="utf-8").replace("timeout: 5", "timeout: 1"), encoding="utf-8")
        result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2 and "error[E4301]" in result.output and "gave up after 2 attempt(s)" in result.output
    assert all(w in result.output for w in words), result.output
    assert "re-running resumes" in result.output and not (tmp_path / "out").exists()


def test_a_build_whose_every_request_is_rejected_shows_the_servers_words(tmp_path):
    too_long = "This model's maximum context length is 2048 tokens. However, you requested 2{} tokens."
    with LLMServer(responder=lambda body: Reply(too_long.format(len(body["messages"][0]["content"])), status=400)) as srv:
        recipe = write_recipe(tmp_path, srv.base_url)
        result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2 and "error[E4104]" in result.output and "an LLM step dropped every record" in result.output
    # four prompts of different lengths, one cause: counted together, the numbers as N
    assert ("dropped: request rejected (HTTP 400): This model's maximum context length is N tokens. However, you "
            "requested N tokens.: 4") in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_a_rejection_reason_keeps_names_and_counts_one_cause_once():
    from humc.llm.client import rejection_reason

    a, b = (rejection_reason(400, f"maximum context length is 2048 tokens; you requested {n} tokens.") for n in (2100, 9000))
    assert a == b == "request rejected (HTTP 400): maximum context length is N tokens; you requested N tokens."
    assert rejection_reason(400, "Qwen2.5-7B-Instruct  does not\nsupport tools") == (
        "request rejected (HTTP 400): Qwen2.5-7B-Instruct does not support tools")
    assert rejection_reason(413, "(no message)") == "request rejected (HTTP 413)"
    assert rejection_reason(400, "x" * 500).endswith("x…") and len(rejection_reason(400, "x" * 500)) < 160
