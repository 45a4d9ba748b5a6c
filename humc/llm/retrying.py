"""When a failed LLM request is sent again, and which waiting request gets the next free slot.

Part of the LLM client stage (``client.py`` sends, caches and accounts; this module only decides time and order).

* **Delay** — :class:`RetryPolicy`. A server that says how long to wait (``Retry-After`` or
  ``retry-after-ms``, on a 429 or a 5xx) is obeyed exactly: that wait, capped at
  ``max_retry_after``, plus a small jitter (at most 10% of it and at most 1 s) so clients told the
  same thing at the same time do not all come back together. Anything else (a 429 without the
  header, a 5xx, a timeout, a refused connection, a malformed answer) backs off exponentially with
  *full jitter* (AWS Architecture Blog, "Exponential Backoff and Jitter"; tenacity's
  ``wait_random_exponential``): retry *k* (0-based) waits uniformly in ``[0, min(backoff_max,
  backoff_base · 2^k)]``. The server's word replaces the exponential step instead of being a floor
  under it: ``max(exponential, Retry-After)`` made one unlucky request wait seconds longer than
  the server asked, and that tail was the job's wall time.
* **Admission** — :class:`SlotGate`, a counting gate with two FIFO waiter queues. A freed slot
  goes to the longest-waiting *retry* first, then to the longest-waiting fresh request; so a
  request back from its backoff is sent before the job's requests not yet sent, instead of
  queueing behind all of them (which pushed every retry to the end of the job). Fresh requests
  keep their order among themselves (chunks queued by a build go out in order), at most
  ``slots`` holders exist at any time, and nobody holds a slot while it sleeps.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from dataclasses import dataclass

RETRY_AFTER_JITTER = 0.1      # share of a server-asked wait added at most as jitter
RETRY_AFTER_JITTER_MAX = 1.0  # seconds: the jitter on a server-asked wait never exceeds this


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before retry number ``attempt`` (0 = the first retry)."""

    backoff_base: float = 0.25     # ceiling of the first backoff (seconds); doubles per retry
    backoff_max: float = 30.0      # ceiling of any one backoff
    max_retry_after: float = 300.0  # a server-asked wait is capped here

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to sleep: the server's ``retry_after`` (capped) plus small jitter when given, else full jitter."""
        if retry_after is not None:
            asked = min(max(0.0, retry_after), self.max_retry_after)
            return asked + rng.uniform(0.0, self.retry_after_jitter(asked))
        return rng.uniform(0.0, self.backoff_ceiling(attempt))

    def backoff_ceiling(self, attempt: int) -> float:
        """The upper bound of retry ``attempt``'s backoff: ``min(backoff_max, backoff_base · 2^attempt)``."""
        if self.backoff_base <= 0 or self.backoff_max <= 0:
            return 0.0
        try:
            return min(self.backoff_max, math.ldexp(self.backoff_base, max(0, attempt)))  # base · 2^attempt, exact
        except OverflowError:  # past ~2^1024: far beyond any ceiling
            return self.backoff_max

    @staticmethod
    def retry_after_jitter(asked: float) -> float:
        """The most jitter added to a server-asked wait of ``asked`` seconds."""
        return min(RETRY_AFTER_JITTER * asked, RETRY_AFTER_JITTER_MAX)


class SlotGate:
    """At most ``slots`` holders; a freed slot goes to the oldest waiting retry, else the oldest fresh request.

    ``acquire`` and ``release`` run on one event loop (the client's). A waiter cancelled while it
    waits is skipped; one cancelled just after being handed a slot hands it on.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"a SlotGate needs at least one slot, got {slots}")
        self.slots = slots
        self._free = slots
        self._retries: deque[asyncio.Future[None]] = deque()
        self._fresh: deque[asyncio.Future[None]] = deque()
        self.peak = 0  # most holders at once, for tests and benches

    @property
    def in_use(self) -> int:
        return self.slots - self._free

    @property
    def waiting(self) -> tuple[int, int]:
        """(retries, fresh requests) waiting for a slot, cancelled waiters not counted."""
        return (sum(not f.done() for f in self._retries), sum(not f.done() for f in self._fresh))

    async def acquire(self, *, retry: bool = False) -> None:
        """Wait for a slot; ``retry`` puts the caller ahead of every fresh request."""
        if self._free > 0:  # a free slot means nobody is waiting: ``release`` hands slots on at once
            self._take()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._retries if retry else self._fresh).append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # the slot was ours already: pass it on
                self.release()
            raise

    def release(self) -> None:
        """Give a slot back: to the oldest waiting retry, else the oldest fresh request, else the pool."""
        self._free += 1
        while self._free > 0:
            queue = self._retries if self._retries else self._fresh
            if not queue:
                return
            fut = queue.popleft()
            if fut.done():  # cancelled while waiting
                continue
            self._take()
            fut.set_result(None)

    def _take(self) -> None:
        self._free -= 1
        self.peak = max(self.peak, self.slots - self._free)
