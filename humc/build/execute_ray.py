"""A distributed executor on Ray: the same compiled graph, its nodes run by Ray workers that read
and write the build cache themselves; the driver moves only metadata.

What runs where:

* chunk-wise nodes (map, filter, render, check, generate, judge): every input chunk becomes one
  Ray task (``chunk_task``) that gets the node's per-chunk function (``execute.chunk_fn``, shipped
  once per node) and a chunk *index*. The worker opens the Store itself, reuses output chunk i
  when an earlier build (local or Ray) stored it, else reads input chunk i, computes it, and
  stores its records and then its notes (the commit) exactly as the local executor does (a filter's or the
  check's output as references to its input). It returns only a ``ChunkDone``: counts, notes,
  problem locations and its CPU time. The driver keeps at most ``max_in_flight`` tasks in flight,
  sums the notes in chunk order and writes the node's meta — its commit marker — after the last
  chunk, so a killed Ray build resumes like a local one, and either executor resumes the other's.
* whole-stream nodes (load, sample, labels, merge, dedup, decontaminate, ratio, mixture, split,
  write): one Ray task per node (``node_task``) runs the local runner (``execute.RUNNERS``) on a
  worker against the same cache and returns the node's meta and stats; the driver commits the
  meta. So workers read the sources (``load``) and write the Parquet shards, the card and the
  manifest (``write``: into ``.<name>.tmp-<pid>``, swapped into place when complete, the same
  atomic write as a local build). These nodes read their whole input in order (a heap, a hash
  set, a label set, a stream of shards), so each stays one task; independent nodes still run one
  after another, as locally. Sources are not split across tasks: their row numbers and line
  numbers (which problem reports cite) come from reading each file from its start. The shards of
  one build are written by one task, in order: the card's statistics (first-seen order included)
  and the manifest's hashes cover every shard, so shard tasks in parallel would need the writer
  split into shard and finish steps (not done).
* nothing stays on the driver but metadata: input chunk counts (node metas), the shipped plan,
  the notes and stats each task returns, the strict-mode check and the commit markers.

Because workers open the cache and write the output folder, every Ray node must see the same
``cache:`` and output folders at the same paths: on one machine (a local Ray, or a
``ray.cluster_utils.Cluster``) that is automatic; on a multi-machine cluster put both on a shared
filesystem (NFS, CephFS, Lustre, …) mounted at the same path on every node, and install the same
humc there (the stdlib ships with the package); the driver needs them too (it reads node metas and
writes the commit markers), and the sources must be at the same paths (load tasks read them). The
cache's index is SQLite: use a filesystem whose POSIX locks work across machines. A worker keeps
its Store open between tasks and reopens it when the index file was replaced (a cache cleaned
while the cluster kept running).

LLM nodes: at most ``llm_in_flight`` (default 2) chunk tasks per generate/judge node are in
flight, and each task's client gets ``ceil(model.concurrency / llm_in_flight)`` request slots, so
the endpoint never sees more than about ``model.concurrency`` concurrent requests — the limit the
recipe declares — while one chunk's slow tail overlaps the next chunk's start. Concurrency changes
how many requests are in flight, never the answers.

Accounting: ``worker_cpu`` sums the CPU seconds every task reports (``time.process_time`` deltas
in the worker) and ``nodes_used`` counts tasks per Ray node id, so a bench can state the driver's
share of the build's CPU and a test can see that tasks ran on several nodes.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from humc.build.execute import (
    CHUNK_FNS,
    LLM_KINDS,
    ChunkFn,
    Executor,
    LLMChunkFn,
    NodeStats,
    bulk_gc,
    chunk_fn,
    store_result,
    stored_chunk,
)
from humc.build.plan import Plan, PlanNode
from humc.build.problems import Located
from humc.build.reuse import text_digests
from humc.build.store import MAIN, LostChunk, Store
from humc.cachedb import INDEX
from humc.errors import HumcError
from humc.progress import Progress


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HumcError("the Ray executor needs the 'ray' package, which is not installed",
                        hint='install humc[ray] (pip install "humc[ray]"), or build with --executor local') from None
    return ray


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to Ray (``address``, else $RAY_ADDRESS, else a new local instance — never a cluster
    already running on this machine: pass ``auto`` for that) unless this process already is; True
    when this call started the connection (the caller shuts it down)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "include_dashboard": False}
    if address is None and num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    try:
        # "local": a new instance, never a cluster someone else started on this machine (which a bare
        # ``ray.init()`` would join: its workers may run another humc, in another folder)
        ray.init(address=address or "local", **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise HumcError(f"could not start or reach a Ray cluster{f' at {address}' if address else ''}: {exc}",
                        hint="check --ray-address / RAY_ADDRESS (e.g. 'auto' or 'ray://head:10001')") from None
    return True


# ---------------------------------------------------------------- the worker side


@dataclass(frozen=True)
class ChunkJob:
    """What every chunk task of one node shares: where the cache is and which node reads which."""

    cache: str
    input_fp: str
    fp: str
    strip: bool = False  # store the kept records as references read without their ``_`` keys (check)
    texts: dict[str, Any] | None = None  # a render's template and guideline digests (``reuse.py``)


@dataclass
class ChunkDone:
    """What a chunk task sends back: metadata only (the records stay in the cache)."""

    i: int
    records_in: int
    records_out: int
    notes: dict[str, int]
    problems: dict[str, list[Located]]
    reused: bool
    cpu: float      # the task's CPU seconds in its worker
    dropped: int    # damaged cache entries the task read as missing
    node: str = ""  # the Ray node id it ran on
    lost: tuple[str, str, int] | None = None  # a chunk it needed was missing or damaged: (fp, stream, i)


@dataclass
class NodeDone:
    """What a whole-stream node task sends back: the node's meta (committed by the driver) and stats."""

    meta: dict[str, Any]
    stat: NodeStats
    cpu: float
    dropped: int
    node: str = ""
    lost: tuple[str, str, int] | None = None


_OPEN: dict[str, tuple[int, Store]] = {}  # this worker process's open Store by cache path, with a handle on its index


def worker_store(path: str) -> Store:
    """The Store of ``path`` in this worker process: opened once (that costs ~20 ms) and kept between
    tasks, reopened when its index file was replaced (the cache was cleaned or moved aside while the
    cluster kept running). The index is held open, so its inode cannot be reused by a new index while
    the Store is kept."""
    held = _OPEN.get(path)
    if held is not None and _same_file(held[0], os.path.join(path, INDEX)):
        held[1].forget_reads()  # what the last task read: memory stays one task's, however many builds run
        return held[1]
    for fd, store in _OPEN.values():
        store.close()
        os.close(fd)
    _OPEN.clear()
    store = Store(Path(path))
    _OPEN[path] = (os.open(os.path.join(path, INDEX), os.O_RDONLY), store)
    return store


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except OSError:
        return False


def _ray_node_id() -> str:
    """The Ray node this task runs on ("" outside Ray: asking would start a Ray instance)."""
    ray = sys.modules.get("ray")  # a Ray worker has imported it
    return str(ray.get_runtime_context().get_node_id()) if ray is not None and ray.is_initialized() else ""


def chunk_task(job: ChunkJob, fn: ChunkFn, i: int) -> ChunkDone:
    """The Ray task body of one chunk: reuse output chunk i when committed (its notes carry its counts: nothing
    is read), else read input chunk i, compute it and store it (``execute.store_result``: records, then notes). A lost
    input chunk is reported, not raised: the driver's repair loop recomputes it and runs again."""
    start = time.process_time()
    store = worker_store(job.cache)
    dropped = store.dropped

    def done(records_in: int, records_out: int, notes: dict[str, int], problems: dict[str, list[Located]],
             reused: bool, lost: tuple[str, str, int] | None = None) -> ChunkDone:
        return ChunkDone(i, records_in, records_out, notes, problems, reused, time.process_time() - start,
                         store.dropped - dropped, _ray_node_id(), lost)

    try:
        chunk, saved = stored_chunk(store, job.fp, job.input_fp, i)
    except LostChunk as exc:  # sent back as data: the exception itself does not survive pickling
        return done(0, 0, {}, {}, False, (exc.fp, exc.stream, exc.i))
    if saved is not None:
        assert saved.counts is not None  # stored_chunk counts what it finds stored
        return done(saved.counts[0], saved.counts[1], saved.notes, saved.problems, True)
    with bulk_gc():
        result = fn(chunk)
    out, notes, problems = store_result(store, job.fp, job.input_fp, i, chunk, result, job.strip, job.texts)
    return done(len(chunk), len(out), notes, problems, False)


def node_task(plan: Plan, node_id: str, metas: dict[str, dict[str, Any]]) -> NodeDone:
    """The Ray task body of a whole-stream node: the local runner, on a worker, against the same cache."""
    start = time.process_time()
    store = worker_store(str(plan.recipe.cache_dir))
    dropped = store.dropped
    ex = Executor(plan, store)
    ex.metas = metas
    ex.stop_after = node_id  # one node a task: the driver commits each node's meta (no fused corpus tail here)
    node = plan.node(node_id)
    stat = NodeStats(node.id, node.kind)
    lost = None
    try:
        with bulk_gc():
            meta = ex.run_kind(node, stat)
    except LostChunk as exc:  # sent back as data: the exception itself does not survive pickling
        meta, lost = {}, (exc.fp, exc.stream, exc.i)
    return NodeDone(meta, stat, time.process_time() - start, store.dropped - dropped, _ray_node_id(), lost)


# ---------------------------------------------------------------- the driver


class RayExecutor(Executor):
    def __init__(self, plan: Plan, store: Store, progress: Progress | None = None, *, address: str | None = None,
                 num_cpus: int | None = None, max_in_flight: int | None = None, llm_in_flight: int = 2) -> None:
        super().__init__(plan, store, progress)
        self.owns_ray = ensure_ray(address, num_cpus)
        self.ray = import_ray()
        if max_in_flight is None:
            cpus = int(self.ray.cluster_resources().get("CPU", 1))
            max_in_flight = max(2, 2 * cpus)  # every worker busy, plus one queued chunk each
        self.max_in_flight = max_in_flight
        self.llm_in_flight = max(1, llm_in_flight)
        self._chunk_remote = self.ray.remote(num_cpus=1)(chunk_task)
        self._node_remote = self.ray.remote(num_cpus=1)(node_task)
        self._plan_ref: Any = None
        self.worker_cpu = 0.0  # CPU seconds reported by every task of this executor
        self.nodes_used: Counter[str] = Counter()  # Ray node id -> tasks run there

    def close(self) -> None:
        if self.owns_ray and self.ray.is_initialized():
            self.ray.shutdown()
        self.owns_ray = False

    def llm_ahead(self) -> None:
        """None: Ray tasks ask the model, each with a client of its own."""
        return None

    def run_kind(self, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
        if node.kind not in CHUNK_FNS:
            return self.ray_node(node, stat)
        strip = node.kind == "check"  # as locally: the check's records are stored as references, stripped on read
        fn = chunk_fn(self, node)
        limit = self.max_in_flight
        if node.kind in LLM_KINDS:
            assert isinstance(fn, LLMChunkFn)
            limit = self.llm_in_flight
            fn.concurrency = max(1, math.ceil(fn.model.concurrency / limit))
            fn.cache_dir = fn.cache_dir.resolve()  # workers may run in another directory
            with fn.model.declared_here():  # as locally: an endpoint that fails for good is located at the model
                return self.ray_chunkwise(node, stat, fn, limit, strip)
        return self.ray_chunkwise(node, stat, fn, limit, strip)

    def _get(self, ref: Any) -> Any:
        """``ray.get`` with the task's own humc error (or lost chunk) re-raised as it is."""
        try:
            done = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, HumcError):
                raise cause from None
            raise
        self.worker_cpu += done.cpu
        self.store.cache.dropped += done.dropped
        self.nodes_used[done.node] += 1
        if done.lost is not None:
            raise LostChunk(*done.lost)
        return done

    def ray_node(self, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
        """Run a whole-stream node as one task on a worker; copy back its stats, return its meta."""
        if self._plan_ref is None:
            self._plan_ref = self.ray.put(self.plan)  # shipped once, shared by every node task
        with self.progress.task(node.id, total=None):
            done: NodeDone = self._get(self._node_remote.remote(self._plan_ref, node.id, self.metas))
        got = done.stat
        stat.records_in, stat.records_out, stat.status = got.records_in, got.records_out, got.status
        stat.chunks_reused, stat.notes, stat.problems = got.chunks_reused, got.notes, got.problems
        return done.meta

    def ray_chunkwise(self, node: PlanNode, stat: NodeStats, fn: ChunkFn, limit: int,
                      strip: bool = False) -> dict[str, Any]:
        """``Executor.chunkwise`` with every chunk read, computed (or found) and stored by a Ray task, at
        most ``limit`` at a time; the driver only counts, and sums the notes in chunk order so the node's
        meta is the same as a local run's."""
        ray, input_fp = self.ray, self.input_fp(node)
        n = self.input_chunks(node)
        texts = text_digests(self.entry_of(node)) if node.kind == "render" else None
        job = ChunkJob(str(self.recipe.cache_dir), input_fp, node.fingerprint, strip, texts)
        fn_ref = ray.put(fn)  # shipped once, shared by every task of the node
        pending: set[Any] = set()
        done_by_chunk: dict[int, ChunkDone] = {}

        with self.progress.task(node.id, total=self.input_total(node)) as advance:
            def wait_until(at_most: int) -> None:
                while len(pending) > at_most:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        pending.discard(ref)
                        done: ChunkDone = self._get(ref)
                        done_by_chunk[done.i] = done
                        advance(done.records_in)

            try:
                for i in range(n):
                    wait_until(limit - 1)  # backpressure: never more than `limit` chunks in flight
                    pending.add(self._chunk_remote.remote(job, fn_ref, i))
                wait_until(0)
            finally:
                for ref in pending:  # an error or an interrupt: stop what is still running
                    ray.cancel(ref, force=False)
        for i in sorted(done_by_chunk):
            done = done_by_chunk[i]
            stat.records_in += done.records_in
            stat.records_out += done.records_out
            stat.chunks_reused += done.reused
            stat.add_notes(done.notes, done.problems)
        return {"chunks": {MAIN: n}}
