"""The retry policy (how long a failed LLM request waits) and the slot gate (who is sent next):
laws as hypothesis properties, order and bounds on a real event loop and a loopback server."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from humc.errors import LLMError  # noqa: E402
from humc.llm import LLMClient, LLMRequest, ModelConfig  # noqa: E402
from humc.llm.retrying import RETRY_AFTER_JITTER_MAX, RetryPolicy, SlotGate  # noqa: E402
from tests.llmserver import LLMServer  # noqa: E402

seconds = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
policies = st.builds(RetryPolicy, backoff_base=st.floats(0.0, 10.0), backoff_max=st.floats(0.0, 120.0),
                     max_retry_after=st.floats(0.0, 600.0))
attempts = st.integers(min_value=0, max_value=5000)


# ----------------------------------------------------------------------------- delay policy


@settings(max_examples=300, deadline=None)
@given(policies, attempts, seconds, st.integers(0, 2**32))
def test_a_server_asked_wait_is_obeyed_exactly_capped_plus_small_jitter(policy, attempt, asked, seed):
    """Retry-After replaces the exponential step (whatever the attempt): the capped wait, plus at most 10% (≤ 1 s)."""
    expected = min(asked, policy.max_retry_after)
    delay = policy.delay(attempt, asked, random.Random(seed))
    assert expected <= delay <= expected + min(0.1 * expected, RETRY_AFTER_JITTER_MAX)


@settings(max_examples=300, deadline=None)
@given(policies, attempts, st.integers(0, 2**32))
def test_a_backoff_is_full_jitter_under_the_doubling_ceiling(policy, attempt, seed):
    delay = policy.delay(attempt, None, random.Random(seed))
    assert 0.0 <= delay <= policy.backoff_ceiling(attempt)
    if attempt <= 60:
        assert policy.backoff_ceiling(attempt) == min(policy.backoff_max, policy.backoff_base * 2.0 ** attempt)


@settings(max_examples=200, deadline=None)
@given(policies, attempts)
def test_the_backoff_ceiling_doubles_until_backoff_max(policy, attempt):
    now, then = policy.backoff_ceiling(attempt), policy.backoff_ceiling(attempt + 1)
    assert now <= then <= policy.backoff_max
    assert then == min(policy.backoff_max, 2 * now) or now == policy.backoff_max


def test_full_jitter_spreads_waits_over_the_whole_window():
    """Retries of one moment do not come back together: the first retry's waits cover [0, 0.25 s] evenly."""
    policy, rng = RetryPolicy(backoff_base=0.25), random.Random(7)
    waits = [policy.delay(0, None, rng) for _ in range(2000)]
    assert min(waits) < 0.01 and max(waits) > 0.24
    assert 0.115 < sum(waits) / len(waits) < 0.135
    assert policy.backoff_ceiling(0) == 0.25 and policy.backoff_ceiling(3) == 2.0 and policy.backoff_ceiling(99) == 30.0


def test_retry_after_after_many_failures_is_not_stretched_by_the_exponential():
    policy = RetryPolicy(backoff_base=0.5, backoff_max=30.0)
    assert 0.5 <= policy.delay(10, 0.5, random.Random(1)) <= 0.55  # the old max(exponential, Retry-After) was ≥ 15 s
    assert policy.delay(0, 0.0, random.Random(1)) == 0.0           # "now" means now
    assert 300.0 <= policy.delay(0, 3600.0, random.Random(1)) <= 301.0  # an hour is capped at max_retry_after


@pytest.mark.parametrize("field", ["backoff_base", "backoff_max", "max_retry_after"])
def test_a_negative_backoff_setting_is_refused(field):
    with pytest.raises(LLMError) as info:
        ModelConfig(name="m", base_url="http://127.0.0.1:9/v1", model="x", **{field: -1.0})
    assert info.value.code == "E0008" and field in info.value.message


# ----------------------------------------------------------------------------- slot gate


async def _hold(gate: SlotGate, order: list[str], name: str, *, retry: bool = False) -> None:
    await gate.acquire(retry=retry)
    order.append(name)


def test_a_freed_slot_goes_to_the_oldest_retry_then_fresh_requests_in_order():
    async def main() -> list[str]:
        gate, order = SlotGate(1), []
        await gate.acquire()                       # the one slot is busy
        waiters = [asyncio.ensure_future(_hold(gate, order, name, retry=name.startswith("r")))
                   for name in ("f1", "f2", "r1", "f3", "r2")]
        await asyncio.sleep(0)
        assert gate.waiting == (2, 3)
        for _ in waiters:
            gate.release()
            await asyncio.sleep(0)
        await asyncio.gather(*waiters)
        assert gate.in_use == 1 and gate.peak == 1
        return order

    assert asyncio.run(main()) == ["r1", "r2", "f1", "f2", "f3"]


def test_cancelled_waiters_neither_hold_nor_lose_a_slot():
    async def main() -> None:
        gate, order = SlotGate(1), []
        await gate.acquire()
        gone = asyncio.ensure_future(_hold(gate, order, "gone", retry=True))
        kept = asyncio.ensure_future(_hold(gate, order, "kept"))
        await asyncio.sleep(0)
        gone.cancel()                              # cancelled while waiting: skipped
        await asyncio.sleep(0)
        gate.release()
        await kept
        assert order == ["kept"] and gate.in_use == 1
        late = asyncio.ensure_future(_hold(gate, order, "late"))
        after = asyncio.ensure_future(_hold(gate, order, "after"))
        await asyncio.sleep(0)
        gate.release()                             # handed to `late` ...
        late.cancel()                              # ... which is cancelled before it runs: the slot moves on
        await after
        assert order == ["kept", "after"] and gate.in_use == 1
        gate.release()
        assert gate.in_use == 0 and gate.waiting == (0, 0)

    asyncio.run(main())


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.lists(st.tuples(st.booleans(), st.integers(0, 3)), min_size=1, max_size=60))
def test_never_more_holders_than_slots_and_every_request_is_served(slots, jobs):
    """Random mixes of fresh requests and retries holding a slot for a few loop turns."""
    async def main() -> tuple[int, int]:
        gate, holders, most = SlotGate(slots), [0], [0]

        async def job(retry: bool, turns: int) -> None:
            await gate.acquire(retry=retry)
            holders[0] += 1
            most[0] = max(most[0], holders[0])
            for _ in range(turns):
                await asyncio.sleep(0)
            holders[0] -= 1
            gate.release()

        await asyncio.gather(*(job(retry, turns) for retry, turns in jobs))
        return most[0], gate.in_use

    most, in_use = asyncio.run(main())
    assert most <= slots and in_use == 0


def test_a_gate_needs_a_slot():
    with pytest.raises(ValueError):
        SlotGate(0)


# ----------------------------------------------------------------------------- against a server


def _user(text: str) -> LLMRequest:
    return LLMRequest([{"role": "user", "content": text}])


def test_a_retried_request_is_sent_before_queued_fresh_ones():
    """2 slots, 10 requests, 300 ms each; the first is refused (429, Retry-After 50 ms). It comes back from its wait
    while records 3-9 are queued and takes the next free slot: the server sees it 4th, not 11th as a FIFO
    semaphore would send it, and never more than 2 requests at once."""
    with LLMServer(latency=0.3, slots=8, fail_sequence=[429], retry_after="0.05") as srv:
        client = LLMClient(ModelConfig(name="m", base_url=srv.base_url, model="test-model", concurrency=2,
                                       backoff_base=5.0), rng=random.Random(0))
        out = client.run_batch([_user(f"record {i}") for i in range(10)])
        sent = [(r.json["messages"][0]["content"], r.status) for r in srv.received]
        stats = srv.stats
    assert [r.text for r in out] == [f"echo: record {i}" for i in range(10)]
    assert sent[0] == ("record 0", 429)  # records 1 and 2 may reach the server in either order (connection set-up)
    assert sorted(sent[1:3]) == [("record 1", 200), ("record 2", 200)] and sent[3] == ("record 0", 200)
    assert stats["max_in_flight"] == 2 and client.stats.retries == 1


def test_retry_after_is_waited_exactly_not_the_exponential_backoff():
    """A huge backoff_base does not stretch a wait the server named: 0.3 s, plus at most 10%."""
    with LLMServer(fail_sequence=[429], retry_after="0.3") as srv:
        client = LLMClient(ModelConfig(name="m", base_url=srv.base_url, model="test-model", backoff_base=20.0))
        [res] = client.run_batch([_user("x")])
        first, second = srv.received[0], srv.received[1]
    assert res.text == "echo: x"
    assert 0.3 <= second.time - first.time < 0.3 + 0.03 + 0.25  # 0.25 s: scheduling slack on a busy machine


def test_under_injected_failures_in_flight_stays_within_concurrency():
    with LLMServer(latency=0.01, slots=64, rate_429=0.15, rate_500=0.15, retry_after="0.01", seed=5) as srv:
        client = LLMClient(ModelConfig(name="m", base_url=srv.base_url, model="test-model", concurrency=4,
                                       backoff_base=0.01, max_retries=10))
        out = client.run_batch([_user(f"record {i}") for i in range(120)])
        stats = srv.stats
    assert [r.text for r in out] == [f"echo: record {i}" for i in range(120)]
    assert stats["by_status"].get(429, 0) > 0 and stats["by_status"].get(500, 0) > 0
    assert stats["max_in_flight"] == 4 and client.stats.retries == stats["requests"] - 120
