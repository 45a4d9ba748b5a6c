"""Local worker processes for the CPU-bound chunk-wise nodes (map, render) of the local executor.

A node with several chunks to compute hands them to a pool of forked worker processes; the
executor still collects, stores and counts the results in chunk order (``Executor.chunkwise``
with ``submit``), so the cache, a resumed build and the output are exactly those of a
one-process build. What the workers do is the very chunk function the executor would call.

Decisions:

* **fork, and only fork, on Linux.** The chunk function (a closure over the task entry and its
  compiled templates and expressions) is registered in this module *before* the pool starts, and
  the forked workers inherit it: nothing but the input chunk travels to a worker and its result
  back. Elsewhere (Windows has no fork; on macOS it is offered but unsafe once system frameworks
  are loaded) the build runs in one process, as before; ``jobs`` never changes a byte of the output.
* **Only nodes that make new records.** map and render return new records; a filter or check
  returns some of its input records, which the executor stores as references by identity —
  a record sent to a worker and back is a copy, so those nodes stay in the main process. The check's
  work does not: a render worker checks the records it rendered and sends back one verdict each
  (``execute.RenderThenCheck``), and the check node in the main process keeps or drops its input
  records by them; else the main process, which also stores every chunk, would be the one serial
  bottleneck (measured, bench_build with 2 workers: the check was a quarter of the CPU). For the same reason
  a worker also sends the chunk's records packed as the cache stores them (``cachedb.pack``: the main process
  seals them under their key, it does not pickle and compress them again) and the corpus pass's memo of them
  (``corpus.WorkerMemo``: dedup-key prefixes, the fields the pass reads): 20,000 rows with 2 workers, main
  process CPU 3.6 s -> 2.8 s.
* **How many workers:** ``jobs`` (``humc build --jobs``, else ``$HUMC_JOBS``), else the CPUs this
  process may use; 1 turns the pool off, and so does a node with fewer than two chunks to compute.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import itertools
import multiprocessing
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from humc.errors import HumcError

PARALLEL_KINDS = frozenset({"map", "render"})
JOBS_ENV = "HUMC_JOBS"

_FUNCTIONS: dict[int, Callable[[list[dict[str, Any]]], Any]] = {}  # inherited by the forked workers
_tokens = itertools.count()


def default_jobs() -> int:
    """``$HUMC_JOBS`` when set, else the number of CPUs this process may run on. A value that is no integer ≥ 1 is
    E9001, as `--jobs two` is, not quietly one worker per CPU."""
    value = os.environ.get(JOBS_ENV, "").strip()
    if value:
        if not (value.isascii() and value.isdigit() and int(value) > 0):
            raise HumcError(f"invalid value for ${JOBS_ENV}: {value!r} is not an integer ≥ 1", code="E9001",
                            expected=f"${JOBS_ENV}: the number of render worker processes, an integer ≥ 1 (or unset: one "
                                     "per CPU)", hint=f"fix or unset {JOBS_ENV}, or pass --jobs N, which overrides it")
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Linux only: macOS offers fork but it is unsafe there once system frameworks are loaded (and not its default)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def _call(token: int, chunk: list[dict[str, Any]]) -> Any:
    return _FUNCTIONS[token](chunk)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _worker_start(parent: int) -> None:
    """In each worker: Ctrl-C is the build's to handle (the pool is shut down from there, no worker tracebacks), SIGTERM
    ends the worker as it would any process, and the worker dies with the build — a build killed with SIGKILL leaves
    no worker behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):  # a closed terminal hangs up the whole group: the build ends the pool (CLI's Terminated)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the CLI's (``cli.Terminated``): a broken pool ends its workers so
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - not glibc/musl Linux
        pass
    if os.getppid() != parent:  # the build died before the line above ran
        os._exit(1)
    if hasattr(signal, "pthread_sigmask"):  # forked with them held (``held_signals``): these handlers take them now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)


HELD_SIGNALS = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP held back while the workers fork, delivered right after: raised (as the CLI's
    KeyboardInterrupt) inside fork's at-fork hooks, one was swallowed as an ignored exception and left the logging
    module's lock taken, so the build went on and then hung on its next logger (the card's plots)."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


WATCH_SECONDS = 0.5   # how often a wait for a chunk looks at the workers
STUCK_SECONDS = 5.0   # a worker dead this long while the pool still waits: the pool will never notice


class WorkerPool:
    """``submit(chunk)`` runs ``fn(chunk)`` in one of ``workers`` forked processes; use as a context manager.

    A worker killed while it sends a result leaves half a message in the pool's result pipe, and the pool's
    manager thread waits for the rest forever (it never marks the pool broken). A wait here looks at the workers
    every ``WATCH_SECONDS``; one dead for ``STUCK_SECONDS`` with the pool still waiting ends the build with E4402,
    and the process exits at once (``HumcError.exit_at_once``): at a normal exit Python would join that thread."""

    def __init__(self, fn: Callable[[list[dict[str, Any]]], Any], workers: int) -> None:
        self.token = next(_tokens)
        _FUNCTIONS[self.token] = fn  # before the first worker forks
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                        initializer=_worker_start, initargs=(os.getpid(),))
        self.started = False
        self.stuck = False

    def submit(self, chunk: list[dict[str, Any]]) -> _Watched:
        return _Watched(self, self._submit(chunk))

    def wait(self, future: Future[Any]) -> Any:
        """``future.result()``, or BrokenProcessPool once a worker has been dead ``STUCK_SECONDS`` meanwhile."""
        dead_since: float | None = None
        while True:
            try:
                return future.result(timeout=WATCH_SECONDS)
            except FutureTimeout:
                if not self._a_worker_died():
                    dead_since = None
                    continue
                dead_since = dead_since or time.monotonic()
                if time.monotonic() - dead_since >= STUCK_SECONDS:
                    self.stuck = True
                    raise BrokenProcessPool("a render worker died while sending a result") from None

    def _workers(self) -> list[Any]:
        """The pool's worker processes (none once it is shut down)."""
        return list((self.pool._processes or {}).values())

    def _a_worker_died(self) -> bool:
        return any(p.exitcode is not None for p in self._workers())

    def _submit(self, chunk: list[dict[str, Any]]) -> Future[Any]:
        if self.started:
            return self.pool.submit(_call, self.token, chunk)
        self.started = True
        # the workers fork on the first submit: the objects alive now are frozen for the GC, so a collection in a
        # worker does not touch (and copy) the build's memory; the child runs only render code, so the threads an
        # LLM build has (its client's, the cache writer's) are not a hazard there — Python 3.12+ warns anyway
        gc.freeze()
        try:
            with warnings.catch_warnings(), held_signals():
                warnings.filterwarnings("ignore", message=r".*fork\(\) may lead to deadlocks", category=DeprecationWarning)
                return self.pool.submit(_call, self.token, chunk)
        finally:
            gc.unfreeze()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if self.stuck:  # the manager thread waits on a dead worker's pipe: end the workers, do not join it
            for process in self._workers():
                process.kill()
        self.pool.shutdown(wait=not self.stuck, cancel_futures=True)
        _FUNCTIONS.pop(self.token, None)
        if isinstance(exc, BrokenProcessPool):  # a worker was killed (the OOM killer, a stray kill -9): not a bug
            error = HumcError("a render worker process ended abruptly (killed, e.g. by the out-of-memory killer); the "
                            "build stopped", code="E4402", expected="render workers that run until the build ends",
                            hint="run the build again: it resumes from the chunks finished before; fewer workers "
                                 "(-j 1) need less memory")
            error.exit_at_once = self.stuck
            raise error from None


class _Watched:
    """A chunk in a worker (``execute.Pending``): ``result()`` waits through ``WorkerPool.wait``."""

    def __init__(self, pool: WorkerPool, future: Future[Any]) -> None:
        self.pool, self.future = pool, future

    def result(self) -> Any:
        return self.pool.wait(self.future)

    def cancel(self) -> bool:
        return self.future.cancel()


def workers_for(kind: str, jobs: int, chunks: int) -> int:
    """Worker processes for a node of ``kind`` with ``chunks`` chunks to compute (0: run it in this process)."""
    if kind not in PARALLEL_KINDS or jobs < 2 or chunks < 2 or not can_fork():
        return 0
    return min(jobs, chunks)
