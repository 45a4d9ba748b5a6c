"""humc.llm against tests/llmserver.py (an OpenAI-compatible server), with the real openai client."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

diskcache = pytest.importorskip("diskcache")
pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from humc.errors import LLMError  # noqa: E402
from humc.llm import LLMClient, LLMRequest, ModelConfig, cache_key, parse_json_text  # noqa: E402
from humc.llm.client import SESSION_SWITCH_INTERVAL, iter_cache_keys, json_candidates  # noqa: E402
from tests.llmserver import LLMServer  # noqa: E402


def user(text: str, **params) -> LLMRequest:
    return LLMRequest([{"role": "user", "content": text}], params)


def config(srv: LLMServer, **kw) -> ModelConfig:
    kw.setdefault("concurrency", 8)
    kw.setdefault("backoff_base", 0.02)
    kw.setdefault("timeout", 10.0)
    return ModelConfig(name="m", base_url=srv.base_url, model="test-model",
                       params={"temperature": 0.7, "max_tokens": 64, "seed": 1}, **kw)


@pytest.fixture
def cache(tmp_path):
    with diskcache.Cache(str(tmp_path / "cache")) as c:
        yield c


def test_response_shape_and_usage(cache):
    with LLMServer() as srv:
        client = LLMClient(config(srv), cache)
        [res] = client.run_batch([user("hello there")])
    assert res.text == "echo: hello there" and not res.cached
    assert res.finish_reason == "stop"
    assert res.usage == {"prompt_tokens": 2, "completion_tokens": 3}
    assert client.stats.prompt_tokens == 2 and client.stats.completion_tokens == 3
    body = srv.received[0].json
    assert body["model"] == "test-model" and body["temperature"] == 0.7 and body["seed"] == 1


def test_rebuild_sends_zero_requests(cache):
    reqs = [user(f"record {i}") for i in range(60)]
    with LLMServer(latency=0.005) as srv:
        first = LLMClient(config(srv), cache).run_batch(reqs)
        sent = srv.stats["requests"]
        assert sent == 60
        again = LLMClient(config(srv), cache)   # a fresh process would look like this
        second = again.run_batch(reqs)
        assert srv.stats["requests"] == sent
    assert again.stats.requests_sent == 0 and again.stats.cache_hits == 60
    assert all(r.cached for r in second)
    assert [r.text for r in first] == [r.text for r in second]


def test_no_loss_no_duplicates_under_injected_failures(cache):
    n = 300
    reqs = [user(f"record {i}") for i in range(n)]
    with LLMServer(latency=0.002, slots=64, rate_429=0.05, rate_500=0.05, retry_after="0.05",
                   seed=7) as srv:
        client = LLMClient(config(srv, concurrency=32), cache)
        out = client.run_batch(reqs)
        st = srv.stats
        ok_bodies = [r.json["messages"][0]["content"] for r in srv.received if r.status == 200]
    assert len(out) == n
    assert [r.text for r in out] == [f"echo: record {i}" for i in range(n)]   # order kept
    assert st["by_status"].get(429, 0) > 0 and st["by_status"].get(500, 0) > 0
    assert sorted(ok_bodies) == sorted(f"record {i}" for i in range(n))       # each exactly once
    assert client.stats.completed == n and not client.stats.failures
    assert client.stats.retries == st["requests"] - n
    assert client.stats.requests_sent == st["requests"]


def test_concurrency_limit_respected(cache):
    with LLMServer(latency=0.03, slots=100) as srv:
        client = LLMClient(config(srv, concurrency=5), cache)
        client.run_batch([user(f"r{i}") for i in range(40)])
        assert srv.stats["max_in_flight"] == 5


def test_server_slots_queue_requests(cache):
    with LLMServer(latency=0.03, slots=2) as srv:
        client = LLMClient(config(srv, concurrency=8), cache)
        t0 = time.monotonic()
        client.run_batch([user(f"r{i}") for i in range(8)])
        elapsed = time.monotonic() - t0
        assert srv.stats["max_active"] == 2 and srv.stats["max_in_flight"] == 8
    assert elapsed >= 4 * 0.03


def test_settle_returns_once_a_submitted_slot_full_holds_its_slots_long_before_any_answer(cache):
    with LLMServer(latency=1.0, slots=8) as srv:
        client = LLMClient(config(srv, concurrency=8), cache)
        client.settle()  # no session yet: nothing to wait for
        client.start()
        try:
            batch = client.submit(client.outcomes([user(f"r{i}") for i in range(12)]))
            t0 = time.monotonic()
            client.settle(timeout=5.0)
            waited = time.monotonic() - t0
            assert client._gate is not None and client._gate.in_use == 8 and client._gate.waiting == (0, 4)
            assert not batch.done() and waited < 0.5
            more = client.submit(client.outcomes([user(f"s{i}") for i in range(4)]))
            t0 = time.monotonic()
            client.settle(timeout=5.0)  # every slot is taken: nothing could go out, so no wait
            assert time.monotonic() - t0 < 0.5 and client._gate.in_use == 8
            assert [o.value for o in batch.result(10)] == [f"echo: r{i}" for i in range(12)]
            assert [o.value for o in more.result(10)] == [f"echo: s{i}" for i in range(4)]
            assert srv.stats["max_in_flight"] == 8
        finally:
            client.close()


def test_an_open_session_shortens_the_switch_interval_until_the_last_one_closes(cache):
    before = sys.getswitchinterval()
    with LLMServer() as srv:
        first, second = LLMClient(config(srv), cache), LLMClient(config(srv))
        first.start()
        second.start()
        assert sys.getswitchinterval() == min(before, SESSION_SWITCH_INTERVAL)
        first.close()
        assert sys.getswitchinterval() == min(before, SESSION_SWITCH_INTERVAL)  # the second's loop still serves
        second.close()
    assert sys.getswitchinterval() == before


def test_a_session_whose_clean_up_fails_still_gives_the_switch_interval_back(cache, monkeypatch):
    before = sys.getswitchinterval()
    with LLMServer() as srv:
        client = LLMClient(config(srv), cache)
        client.start()

        async def failing() -> None:
            raise OSError("disk gone")

        monkeypatch.setattr(client, "_shutdown", failing)
        with pytest.raises(OSError):
            client.close()
    assert sys.getswitchinterval() == before and client._session is None


def test_retry_after_honoured(cache):
    with LLMServer(fail_sequence=[429], retry_after="1") as srv:
        client = LLMClient(config(srv, backoff_base=0.01), cache)
        [res] = client.run_batch([user("x")])
        assert res.text == "echo: x"
        first, second = srv.received[0], srv.received[1]
    assert first.status == 429 and second.status == 200
    assert second.time - first.time >= 1.0
    assert client.stats.retry_reasons == {"rate_limited": 1}


def test_retries_exhausted_raise_llmerror(cache):
    with LLMServer(rate_500=1.0) as srv:
        client = LLMClient(config(srv, max_retries=2, backoff_base=0.01), cache)
        with pytest.raises(LLMError) as info:
            client.run_batch([user("x")])
        assert srv.stats["requests"] == 3
    assert "gave up after 3 attempt(s)" in info.value.message and "HTTP 500" in info.value.message
    assert client.stats.failures == {"server_error": 1}
    # return_exceptions keeps the batch going and marks the hole
    with LLMServer(rate_500=1.0) as srv:
        client = LLMClient(config(srv, max_retries=0), cache)
        [res] = client.run_batch([user("x")], return_exceptions=True)
    assert res.text is None and "HTTP 500" in res.error


def test_connection_refused_is_retried_then_clear_error(cache):
    srv = LLMServer().start()
    url = srv.base_url
    srv.stop()
    cfg = ModelConfig(name="m", base_url=url, model="test-model", max_retries=1, backoff_base=0.01,
                      timeout=2.0)
    client = LLMClient(cfg, cache)
    with pytest.raises(LLMError) as info:
        client.run_batch([user("x")])
    assert "cannot connect" in info.value.message
    assert client.stats.failures == {"connection": 1}


def test_invalid_structured_output_retried_then_dropped(cache):
    rf = {"type": "json_object"}
    with LLMServer() as srv:
        client = LLMClient(config(srv), cache)
        out = client.run_json_batch(
            [LLMRequest([{"role": "user", "content": "INVALID please"}], response_format=rf),
             LLMRequest([{"role": "user", "content": "fine"}], response_format=rf)],
            attempts=3)
        assert out == [None, {"answer": "echo: fine"}]
        invalid = [r.json for r in srv.received if "INVALID" in r.json["messages"][0]["content"]]
    assert len(invalid) == 3
    assert len({r["seed"] for r in invalid}) == 3                      # a new seed each time
    assert [len(r["messages"]) for r in invalid] == [1, 3, 5]         # with a correction message
    assert "invalid" in invalid[1]["messages"][2]["content"]
    assert client.stats.failures == {"invalid_output": 1}


def test_structured_output_validation_and_fences(cache):
    calls = []

    def responder(body):
        calls.append(body)
        if len(body["messages"]) == 1:
            return '```json\n{"label": "maybe"}\n```'          # parses, fails validation
        return '```json\n{"label": "yes"}\n```'

    def validate(v):
        return None if v.get("label") in ("yes", "no") else f"label must be yes/no, got {v.get('label')!r}"

    with LLMServer(responder=responder) as srv:
        client = LLMClient(config(srv), cache)
        [value] = client.run_json_batch([user("classify")], validate)
        assert value == {"label": "yes"} and srv.stats["requests"] == 2
        assert "label must be yes/no" in calls[1]["messages"][2]["content"]
        # rebuild: the whole retry sequence comes from the cache
        again = LLMClient(config(srv), cache)
        assert again.run_json_batch([user("classify")], validate) == [{"label": "yes"}]
        assert srv.stats["requests"] == 2 and again.stats.requests_sent == 0
    assert not client.stats.failures


def test_json_schema_response_format(cache):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "tags": {
        "type": "array", "items": {"type": "string"}}}, "required": ["n", "tags"]}
    rf = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema, "strict": True}}
    with LLMServer() as srv:
        client = LLMClient(config(srv), cache)
        [value] = client.run_json_batch([LLMRequest([{"role": "user", "content": "q"}], {}, rf)])
        assert srv.received[0].json["response_format"] == rf
    assert value == {"n": 0, "tags": ["echo: q"]}


def test_parse_json_text():
    assert parse_json_text('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_text('  ```\n[1, 2]\n```  ') == [1, 2]
    assert parse_json_text('{"a": 1}') == {"a": 1}
    # what models without structured outputs send: a fence after a sentence, a remark after the JSON
    assert parse_json_text('Here is the JSON:\n```json\n{"a": 1}\n```\nHope it helps.') == {"a": 1}
    assert parse_json_text('{"a": 1}\n\nLet me know if you need more.') == {"a": 1}
    # the caller keeps a valid one; a value inside another is a part of it (test_realmodel5: a list of verdicts)
    assert list(json_candidates('As [1] says: {"a": [1]}')) == [[1], {"a": [1]}]
    with pytest.raises(ValueError):
        parse_json_text('{"a": ')


def test_401_is_a_clear_llmerror(cache, monkeypatch):
    monkeypatch.setenv("HUMC_TEST_KEY", "sk-wrong-key-123456")
    with LLMServer(api_key="sk-right") as srv:
        client = LLMClient(config(srv, api_key_env="HUMC_TEST_KEY"), cache)
        with pytest.raises(LLMError) as info:
            client.run_batch([user(f"r{i}") for i in range(20)])
        assert srv.stats["requests"] <= 8                      # no retries on 401
    text = info.value.render()
    assert "authentication failed (HTTP 401)" in text and "HUMC_TEST_KEY" in text
    assert "Traceback" not in text and "sk-wrong-key-123456" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_401_passes_with_right_key(cache, monkeypatch):
    monkeypatch.setenv("HUMC_TEST_KEY", "sk-right")
    with LLMServer(api_key="sk-right") as srv:
        [res] = LLMClient(config(srv, api_key_env="HUMC_TEST_KEY"), cache).run_batch([user("x")])
    assert res.text == "echo: x"


def test_404_model_not_found(cache):
    with LLMServer(models=["other-model"]) as srv:
        client = LLMClient(config(srv), cache)
        with pytest.raises(LLMError) as info:
            client.run_batch([user("x")])
        assert srv.stats["requests"] == 1
    assert "not found (HTTP 404)" in info.value.message and "test-model" in info.value.message
    assert info.value.hint and "model id" in info.value.hint


def test_api_key_never_in_cache(cache, monkeypatch):
    secret = "sk-SECRET-abcdef0123456789"
    monkeypatch.setenv("HUMC_TEST_KEY", secret)
    with LLMServer(api_key=secret) as srv:
        cfg = config(srv, api_key_env="HUMC_TEST_KEY")
        out = LLMClient(cfg, cache).run_batch([user(f"r{i}") for i in range(5)])
    keys = [r.key for r in out]
    assert all(secret not in k for k in keys)
    for k in iter_cache_keys(cache):
        assert secret not in k and secret not in json.dumps(cache[k])
    # the key depends on the request only: not the key, the URL, or transport settings
    other = ModelConfig(name="other", base_url="http://user:pw@elsewhere:9/v1", model="test-model",
                        params=dict(cfg.params), api_key_env="NOPE", concurrency=1, timeout=1)
    assert cache_key(other, user("r0")) == keys[0]
    assert cache_key(cfg, user("r0", temperature=0.0)) != keys[0]
    assert cache_key(cfg, LLMRequest(user("r0").messages, {}, {"type": "json_object"})) != keys[0]
    assert secret not in repr(cfg)


def test_identical_concurrent_requests_coalesced(cache):
    with LLMServer(latency=0.02) as srv:
        client = LLMClient(config(srv), cache)
        out = client.run_batch([user("same")] * 10)
        assert srv.stats["requests"] == 1
    assert [r.text for r in out] == ["echo: same"] * 10
    assert client.stats.coalesced == 9


def test_async_complete_usable_from_a_running_loop(cache):
    async def main(client):
        a, b = await asyncio.gather(client.complete(user("a")), client.complete(user("b")))
        await client.aclose()
        return a.text, b.text

    with LLMServer() as srv:
        assert asyncio.run(main(LLMClient(config(srv), cache))) == ("echo: a", "echo: b")


def test_model_config_from_dict():
    cfg = ModelConfig.from_dict("judge", {"base_url": "http://x/v1", "model": "m", "concurrency": 4})
    assert cfg.concurrency == 4 and cfg.api_key_env == "OPENAI_API_KEY"
    with pytest.raises(LLMError, match="unknown field"):
        ModelConfig.from_dict("judge", {"base_url": "http://x/v1", "model": "m", "api_key": "sk"})
    with pytest.raises(LLMError, match="missing 'model'"):
        ModelConfig.from_dict("judge", {"base_url": "http://x/v1"})


def test_timeouts_are_retried(cache):
    with LLMServer(latency=0.5) as srv:
        client = LLMClient(config(srv, timeout=0.1, max_retries=1, backoff_base=0.01), cache)
        with pytest.raises(LLMError) as info:
            client.run_batch([user("slow")])
        assert srv.stats["requests"] == 2
    assert "timed out" in info.value.message
    assert client.stats.failures == {"timeout": 1} and client.stats.retries == 1


def test_retry_after_parsing():
    from humc.llm.client import _retry_after

    assert _retry_after({"retry-after": "2"}) == 2.0
    assert _retry_after({"retry-after": "0.25"}) == 0.25
    assert _retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert _retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert _retry_after({"retry-after": "soon"}) is None
    assert _retry_after({}) is None and _retry_after(None) is None


def test_base_url_credentials_not_in_messages(cache):
    from humc.llm.client import _safe_url

    assert _safe_url("https://user:pw@host:8000/v1?key=abc") == "https://host:8000/v1"
    with LLMServer(models=["other"]) as srv:
        url = srv.base_url.replace("http://", "http://user:hunter2@")
        client = LLMClient(ModelConfig(name="m", base_url=url, model="test-model"), cache)
        with pytest.raises(LLMError) as info:
            client.run_batch([user("x")])
    assert "hunter2" not in info.value.render() and "HTTP 404" in info.value.message


def test_a_retry_quotes_only_the_start_of_a_runaway_invalid_reply():
    """A weak model's runaway reply must not push the correction request over the model's context window."""
    from humc.llm.client import MAX_ECHOED_CHARS, clipped

    assert clipped("x" * 10) == "x" * 10
    long = clipped("y" * (MAX_ECHOED_CHARS * 3))
    assert long.startswith("y" * MAX_ECHOED_CHARS) and len(long) == MAX_ECHOED_CHARS + 2
