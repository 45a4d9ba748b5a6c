"""A distributed executor on Ray: the same compiled graph, chunk-wise nodes as Ray tasks.

What runs where:

* chunk-wise nodes (map, filter, render, check, generate, judge): every input chunk that
  the cache lacks becomes one Ray task running the very per-chunk function the local
  executor uses (``execute.chunk_fn``). The driver reads input chunks from the Store,
  keeps at most ``max_in_flight`` tasks in flight (backpressure: memory stays flat however
  large the node), and writes each result to the Store as soon as it arrives — chunk i is
  stored under index i whatever order tasks finish in, and the node's meta (its commit
  marker) is still written last, so a killed Ray build resumes like a local one, and a
  local build resumes what a Ray build left (and vice versa).
* whole-stream nodes (load, sample, labels, merge, dedup, split, write) run on the driver,
  exactly as in the local executor.
* workers never touch the Store: inputs travel to them and outputs back through Ray's
  object store, so workers on other machines need no shared filesystem for the build
  cache. (The LLM response cache, ``<cache>/llm``, is opened by the LLM tasks themselves:
  on a multi-machine cluster put ``cache:`` on a shared filesystem to share it.)

LLM nodes: at most ``llm_in_flight`` (default 2) chunk tasks per generate/judge node are
in flight, and each task's client gets ``ceil(model.concurrency / llm_in_flight)`` request
slots, so the endpoint never sees more than about ``model.concurrency`` concurrent
requests — the limit the recipe declares — while one chunk's slow tail overlaps the next
chunk's start. Concurrency changes how many requests are in flight, never the answers.
"""

from __future__ import annotations

import math
import os
from typing import Any

from humc.build.execute import CHUNK_FNS, ChunkFn, Executor, LLMChunkFn, NodeStats, chunk_fn, split_result, stored_notes
from humc.build.plan import Plan, PlanNode
from humc.build.problems import Located
from humc.build.store import MAIN, NOTES, Store
from humc.errors import HumcError
from humc.progress import Progress

LLM_KINDS = ("generate", "judge")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HumcError("the Ray executor needs the 'ray' package, which is not installed",
                        hint='install humc[ray] (pip install "humc[ray]"), or build with --executor local') from None
    return ray


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to Ray (``address``, else $RAY_ADDRESS, else a new local instance) unless this
    process already is; True when this call started the connection (the caller shuts it down)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "include_dashboard": False}
    if address is None and num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise HumcError(f"could not start or reach a Ray cluster{f' at {address}' if address else ''}: {exc}",
                        hint="check --ray-address / RAY_ADDRESS (e.g. 'auto' or 'ray://head:10001')") from None
    return True


def _apply(fn: ChunkFn, chunk: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int],
                                                               dict[str, list[Located]]]:
    """The Ray task body: one chunk through one node's per-chunk function."""
    return split_result(fn(chunk))


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
        self._remote = self.ray.remote(num_cpus=1)(_apply)

    def close(self) -> None:
        if self.owns_ray and self.ray.is_initialized():
            self.ray.shutdown()
        self.owns_ray = False

    def run_kind(self, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
        if node.kind not in CHUNK_FNS:
            return super().run_kind(node, stat)  # whole-stream nodes stay on the driver
        fn = chunk_fn(self, node)
        limit = self.max_in_flight
        if node.kind in LLM_KINDS:
            assert isinstance(fn, LLMChunkFn)
            limit = self.llm_in_flight
            fn.concurrency = max(1, math.ceil(fn.model.concurrency / limit))
            fn.cache_dir = fn.cache_dir.resolve()  # workers may run in another directory
        return self.ray_chunkwise(node, stat, fn, limit)

    def ray_chunkwise(self, node: PlanNode, stat: NodeStats, fn: ChunkFn, limit: int) -> dict[str, Any]:
        """``Executor.chunkwise`` with the missing chunks computed by at most ``limit`` Ray tasks
        at a time. Results are stored as they complete; notes are summed in chunk order so the
        node's meta is the same as a local run's."""
        ray, fp, n = self.ray, node.fingerprint, 0
        fn_ref = ray.put(fn)  # shipped once, shared by every task of the node
        pending: dict[Any, tuple[int, int]] = {}  # task ref -> (chunk index, input size)
        notes_by_chunk: dict[int, tuple[dict[str, int], dict[str, list[Located]]]] = {}

        with self.progress.task(node.id, total=self.input_total(node)) as advance:
            def finish(ref: Any) -> None:
                i, size = pending.pop(ref)
                try:
                    out, notes, problems = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, HumcError):
                        raise cause from None
                    raise
                self.store.put_chunk(fp, i, [notes, problems], NOTES)  # notes first: the main chunk commits
                self.store.put_chunk(fp, i, out)
                notes_by_chunk[i] = (notes, problems)
                stat.records_out += len(out)
                advance(size)

            def wait_until(at_most: int) -> None:
                while len(pending) > at_most:
                    done, _ = ray.wait(list(pending), num_returns=1)
                    for ref in done:
                        finish(ref)

            try:
                for i, chunk in enumerate(self.store.read(self.input_fp(node))):
                    stat.records_in += len(chunk)
                    n = i + 1
                    out = self.store.chunk(fp, i)
                    saved = stored_notes(self.store, fp, i) if out is not None else None
                    if out is not None and saved is not None:  # else missing or damaged: computed (again) below
                        stat.chunks_reused += 1
                        notes_by_chunk[i] = saved
                        stat.records_out += len(out)
                        advance(len(chunk))
                        continue
                    wait_until(limit - 1)  # backpressure: never more than `limit` chunks in flight
                    pending[self._remote.remote(fn_ref, chunk)] = (i, len(chunk))
                    del chunk
                wait_until(0)
            finally:
                for ref in pending:  # an error or an interrupt: stop what is still running
                    ray.cancel(ref, force=False)
        for i in sorted(notes_by_chunk):
            stat.add_notes(*notes_by_chunk[i])
        return {"chunks": {MAIN: n}}
