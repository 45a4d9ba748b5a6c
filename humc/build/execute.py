"""Execute stage: run a plan's nodes in order, reusing every result the cache holds.

Each node kind has a runner. Chunk-wise runners (map, filter, render, check, generate,
judge) turn input chunk i into output chunk i, so a resumed build recomputes only the
chunks it lacks; ``chunk_fn(ex, node)`` gives their per-chunk function without running it
(``execute_ray.RayExecutor`` runs those as Ray tasks).
Whole-stream runners (sample, labels, dedup, split) stream their input and keep only
small state (a heap, a label set, a hash set).

LLM nodes (generate, judge) are pipelined: ``chunkwise`` submits the next chunk(s) while the
current one is in flight and stores results in chunk order, so the endpoint's slots stay full
across chunk boundaries; a build opens one LLM client per model (``llmsteps.LLMClients``),
closed when the build ends. While an LLM node runs, each chunk it collects goes straight on through
the chunk-wise nodes that follow it (its render, when that needs no label set, and the check): they
find those chunks stored when their turn comes, so the rendering overlaps the model's latency instead
of waiting for the last answer (``followers``; a failure there is left for the node itself to raise).
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from humc.build.checking import check_rendered
from humc.build.corpus import PASS_THROUGH, PassThrough, WorkerMemo, pass_chunks
from humc.build.mixing import is_negative, mixture_keep, ratio_keep
from humc.build.parallel import WorkerPool, default_jobs, workers_for
from humc.build.plan import Plan, PlanNode
from humc.build.problems import META_KEY, Located, Problem, ProblemLog, empty_hint, merge_first, problem_rows, strict_error
from humc.build.recordname import bare_rows, check_row_column
from humc.build.rendering import RenderContext, render_checked
from humc.build.reuse import (
    PriorChecks,
    RecordIndex,
    Reuse,
    by_record,
    index_entry,
    rebuild,
    remember,
    store_memo,
    text_digests,
)
from humc.build.store import (
    MAIN,
    NOTES,
    ChunkWriter,
    LostChunk,
    Store,
    is_private,
    subset_positions,
    subset_refs,
)
from humc.build.transforms import collect_labels, keep_record, map_record, reads_no_header, sorted_roles, stable_hash
from humc.cachedb import Packed, pack, unpack
from humc.dataset.manifest import output_is_current
from humc.dataset.writer import WriteJob, preload, write_dataset
from humc.errors import HumcError, SourceError, Span
from humc.ir import EventRoles, Recipe, TaskEntry
from humc.progress import Progress
from humc.sources import read_source

CHUNK_SIZE = 1000
LLM_KINDS = ("generate", "judge")  # the nodes that ask a model
Records = list[dict[str, Any]]
# a chunk function returns its records, optionally with counters (notes) and the first
# locations of the problems it dropped (reason -> [[source, row, detail], ...])
ChunkResult = (Records | tuple[Records, Counter[str]] | tuple[Records, Counter[str], dict[str, list[Located]]]
               | tuple[Records, Counter[str], dict[str, list[Located]], list[RecordIndex]])
ChunkFn = Callable[[Records], ChunkResult]


class Pending(Protocol):
    """A chunk being computed elsewhere (an LLM chunk in flight): ``result()`` waits for it."""

    def result(self) -> ChunkResult: ...

    def cancel(self) -> bool: ...


@dataclass
class _Now:
    """A chunk computed when its result is asked for (the plain, unpipelined case)."""

    fn: ChunkFn
    chunk: Records

    def result(self) -> ChunkResult:
        return self.fn(self.chunk)

    def cancel(self) -> bool:
        return True


Submit = Callable[[Records], Pending]
Follower = tuple[PlanNode, ChunkFn, bool]  # a node run chunk by chunk behind another, its chunk function, strip


def split_result(result: ChunkResult) -> tuple[Records, dict[str, int], dict[str, list[Located]]]:
    """(records, notes, problem locations) of any chunk function's result."""
    if not isinstance(result, tuple):
        return result, {}, {}
    if len(result) == 2:
        return result[0], dict(result[1]), {}
    return result[0], dict(result[1]), result[2]


@dataclass
class NodeStats:
    node: str
    kind: str
    records_in: int = 0
    records_out: int = 0
    seconds: float = 0.0
    status: str = "built"            # built | cached | resumed
    chunks_reused: int = 0
    notes: dict[str, int] = field(default_factory=dict)  # e.g. dropped reasons, "problem: <reason>" counts
    # this build's record-level reuse (``reuse.py``; not stored: a cold build's notes are the same), e.g.
    # {"reused as is": n, "texts re-rendered": m, "rendered whole": k} source records for a render, {"passed
    # before": n} instructions kept unchecked for a check
    reused: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list[Located]] = field(default_factory=dict)  # reason -> first locations

    def add_notes(self, notes: dict[str, int], problems: dict[str, list[Located]]) -> None:
        """Sum one chunk's counters into the node's (call in chunk order)."""
        for key, value in notes.items():
            self.notes[key] = self.notes.get(key, 0) + value
        merge_first(self.problems, problems)


@dataclass
class BuildResult:
    plan: Plan
    stats: list[NodeStats]
    output_dir: Path | None = None
    metas: dict[str, dict[str, Any]] = field(default_factory=dict)  # node id -> meta
    cache_dropped: int = 0           # damaged cache entries read as missing (and recomputed)
    cache_moved_aside: list[Path] = field(default_factory=list)  # broken cache indexes moved out of the way


class Executor:
    def __init__(self, plan: Plan, store: Store, progress: Progress | None = None, *, jobs: int | None = None) -> None:
        self.plan = plan
        self.jobs = jobs if jobs is not None else default_jobs()  # worker processes for render (``parallel.py``)
        self.recipe: Recipe = plan.recipe
        self.store = store
        self.progress = progress or Progress(enabled=False)
        self.entries: dict[str, TaskEntry] = {e.id: e for e in self.recipe.tasks}
        self.metas: dict[str, dict[str, Any]] = {}
        self.llm: Any = None  # llmsteps.LLMClients of this build, opened by the first LLM node
        self.early: set[tuple[str, int]] = set()  # (node fp, chunk) computed ahead by ``followers``: built, not reused
        self.checks: dict[str, tuple[str, CheckChunks]] = {}  # check node id -> ``CheckChunks.of``, one per build
        self.memo_wanted: dict[str, bool] = {}  # check node id -> ``reads_pass_memo`` (``_memo_wanted``)
        self.prebuilt: dict[str, tuple[NodeStats, dict[str, Any]]] = {}  # node id -> stats, meta of a fused pass
        self.fused: list[tuple[PlanNode, NodeStats, dict[str, Any]]] = []  # what the node being run also ran
        self.stop_after: str | None = None

    def entry_of(self, node: PlanNode) -> TaskEntry:
        """The task entry a per-entry node (map, filter, render, …) belongs to."""
        assert node.entry is not None, f"{node.id} is corpus-wide, not part of a task entry"
        return self.entries[node.entry]

    def status(self, node: PlanNode) -> str:
        if node.kind == "write":
            return "cached" if output_is_current(self.recipe, node.fingerprint) else "to build"
        return "cached" if self.store.meta(node.fingerprint) is not None else "to build"

    def run(self, *, stop_after: str | None = None) -> BuildResult:
        """Run every node; when a finished node turns out to have lost a chunk (damaged in the
        cache), forget that node and run again: cached nodes cost nothing, the damaged node
        recomputes only its missing chunks, and the node that was reading it resumes."""
        try:
            self.llm = self.llm or self.llm_ahead()
            with bulk_gc():
                return self._run_repairing(stop_after)
        finally:
            if self.llm is not None:
                self.llm.close()
                self.llm = None

    def llm_ahead(self) -> Any:
        """The build's ``LLMClients`` with the response cache opening already (``ahead``), when an LLM node is to
        run here; else None: a build with nothing to ask never loads the LLM modules nor opens their cache."""
        if not any(n.kind in LLM_KINDS and self.store.meta(n.fingerprint) is None for n in self.plan.nodes):
            return None
        from humc.build.llmsteps import LLMClients

        return LLMClients(self.recipe.cache_dir, ahead=True)

    def _run_repairing(self, stop_after: str | None) -> BuildResult:
        repaired: set[tuple[str, str, int]] = set()
        while True:
            try:
                return self._run_nodes(stop_after)
            except LostChunk as lost:
                where = (lost.fp, lost.stream, lost.i)
                if where in repaired:  # recomputed and lost again: the disk is not keeping what we write
                    raise HumcError(f"the build cache {self.recipe.cache_dir} loses what is written to it "
                                    f"(node {lost.fp[:16]}, chunk {lost.i})", code="E4401",
                                    hint="check the disk, run `humc cache verify`, or `humc cache clean --yes`") from None
                repaired.add(where)
                self.store.invalidate(lost.fp)
                self.store.forget_chunk(lost.fp, lost.stream, lost.i)

    def _run_nodes(self, stop_after: str | None) -> BuildResult:
        self.metas, self.prebuilt, self.stop_after = {}, {}, stop_after
        stats: list[NodeStats] = []
        for node in self.plan.nodes:
            if node.kind == "write":
                self.check_strict()
            stats.append(self._run_node(node))
            if node.id == stop_after:
                break
        output = self.recipe.output.dir if stop_after is None else None
        return BuildResult(self.plan, stats, output, self.metas, self.store.dropped, list(self.store.moved_aside))

    def check_strict(self) -> None:
        """In strict mode, any problem record fails the build before the output folder is touched (E4103)."""
        if self.recipe.output.strict:
            rows = problem_rows(self.recipe, self.metas)
            if rows:
                raise strict_error(rows)

    def _run_node(self, node: PlanNode) -> NodeStats:
        if node.id in self.prebuilt:  # run (and committed) in the same pass as the node before it
            stat, self.metas[node.id] = self.prebuilt.pop(node.id)
            return stat
        stat = NodeStats(node.id, node.kind)
        start = time.perf_counter()
        meta = self.store.meta(node.fingerprint) if node.kind != "write" else None
        if meta is not None:
            stat.status, stat.records_in, stat.records_out = "cached", meta.get("in", 0), meta.get("out", 0)
            stat.notes = dict(meta.get("notes", {}))
            stat.problems = dict(meta.get(META_KEY, {}))
        else:
            self.fused = []
            meta = self.commit(node, stat, self.run_kind(node, stat))
            for follower, follower_stat, follower_meta in self.fused:  # committed after the node they follow
                self.prebuilt[follower.id] = (follower_stat, self.commit(follower, follower_stat, follower_meta))
        self.metas[node.id] = meta
        stat.seconds = time.perf_counter() - start - sum(s.seconds for _, s, _ in self.fused)
        self.fused = []
        return stat

    def commit(self, node: PlanNode, stat: NodeStats, meta: dict[str, Any]) -> dict[str, Any]:
        """A node's meta with its counts, stored as its commit marker (the write node's lives in its folder)."""
        meta.update({"in": stat.records_in, "out": stat.records_out, "notes": stat.notes})
        if stat.problems:
            meta[META_KEY] = stat.problems
        if node.kind != "write":
            self.store.finish(node.fingerprint, meta)
        if stat.status == "built" and stat.chunks_reused:
            stat.status = "resumed"
        return meta

    def run_kind(self, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
        """Run one node's runner (a distributed executor overrides this for chunk-wise kinds)."""
        return RUNNERS[node.kind](self, node, stat)

    # ------------------------------------------------------------ helpers

    def input_fp(self, node: PlanNode, i: int = 0) -> str:
        return self.plan.node(node.inputs[i]).fingerprint

    def input_total(self, node: PlanNode, i: int = 0) -> int:
        meta = self.store.meta(self.input_fp(node, i))
        return int(meta.get("out", 0)) if meta else 0

    def chunkwise(self, node: PlanNode, stat: NodeStats, fn: Callable[[list[dict[str, Any]]], ChunkResult], *,
                  submit: Submit | None = None, ahead: int = 0, strip: bool = False,
                  then: list[Follower] | None = None,
                  submit_at: Callable[[int, Records], Pending] | None = None) -> dict[str, Any]:
        """Input chunk i -> output chunk i, skipping chunks a killed build already stored.

        ``fn`` may return (records, notes[, problems]): per-chunk counters (drops, LLM requests)
        and problem locations are stored beside the chunk, so a resumed node still reports the
        whole node's counts. With ``submit`` (which starts a chunk and returns its ``Pending``),
        up to ``ahead`` further chunks are started before chunk i is collected; chunks are still
        stored, counted and reported in order, so a killed build resumes exactly as before. An output chunk
        whose records all *are* input records (a filter's) is stored as references to them; ``strip``
        (with such an ``fn``) drops their ``_``-prefixed keys when they are read. ``then``: chunk-wise nodes
        that each computed chunk goes on through at once (see the module docstring). ``submit_at(i, chunk)``
        replaces ``submit`` when starting a chunk needs its index (render's record-level reuse)."""
        run: Submit = submit or partial(_Now, fn)
        start: Callable[[int, Records], Pending] = submit_at or (lambda i, chunk: run(chunk))
        window: deque[tuple[int, Records, Pending | None, Saved | None]] = deque()
        n = 0
        with self.progress.task(node.id, total=self.input_total(node)) as advance:
            try:
                for i in range(self.input_chunks(node)):
                    window.append(self._chunk_job(node, i, start))
                    while len(window) > ahead:
                        n = self._collect(node, stat, window.popleft(), advance, strip, then)
                while window:
                    n = self._collect(node, stat, window.popleft(), advance, strip, then)
            except BaseException:
                for _, _, pending, _ in window:
                    if pending is not None:
                        pending.cancel()
                raise
        return {"chunks": {MAIN: n}}

    def input_chunks(self, node: PlanNode) -> int:
        """How many chunks a chunk-wise node's input has (LostChunk when that node is not stored)."""
        return self.store.chunk_count(self.input_fp(node))

    def _chunk_job(self, node: PlanNode, i: int,
                   start: Callable[[int, Records], Pending]) -> tuple[int, Records, Pending | None, Saved | None]:
        """Chunk i of a chunk-wise node: stored already (``stored_chunk``), or started."""
        chunk, saved = stored_chunk(self.store, node.fingerprint, self.input_fp(node), i)
        return i, chunk, start(i, chunk) if saved is None else None, saved

    def _collect(self, node: PlanNode, stat: NodeStats, item: tuple[int, Records, Pending | None, Saved | None],
                 advance: Callable[[int], None], strip: bool, then: list[Follower] | None) -> int:
        """Store (or reuse) one chunk's result and count it; the number of chunks done."""
        i, chunk, pending, saved = item
        if pending is not None:
            if then:
                self._ahead(then, i, pending)
            result, checked = pending.result(), None
            if isinstance(result, Checked):
                result, checked = result.unpacked(), result
            out, notes, problems = self._store_chunk(node, i, chunk, result, strip, checked and checked.packed)
            if then:
                check = then[0]  # before ``_follow``, which clears ``then`` on a failure
                kept = self._follow(then, i, out, checked and checked.verdicts)
                if checked is not None and checked.memo is not None and kept is not None:
                    self._put_pass_memo(node, check, i, out, kept, checked.memo)
            saved = Saved(notes, problems, (len(chunk), len(out)))
        elif (node.fingerprint, i) not in self.early:
            stat.chunks_reused += 1
        assert saved is not None and saved.counts is not None
        stat.add_notes(saved.notes, saved.problems)
        stat.records_in += saved.counts[0]
        stat.records_out += saved.counts[1]
        advance(saved.counts[0])
        return i + 1

    def stream_out(self, node: PlanNode, stat: NodeStats, records: Iterator[dict[str, Any]],
                   total: int | None = None) -> dict[str, Any]:
        """Store a whole-stream node's new records in chunks."""
        writer = ChunkWriter(self.store, node.fingerprint, CHUNK_SIZE)
        with self.progress.task(node.id, total=total) as advance:
            for record in records:
                writer.add(record)
                advance(1)
        writer.flush()
        stat.records_out = writer.count
        return {"chunks": {MAIN: writer.chunks}}

    def _store_chunk(self, node: PlanNode, i: int, chunk: Records, result: ChunkResult, strip: bool,
                     packed: Packed | None = None) -> tuple[Records, dict[str, int], dict[str, list[Located]]]:
        texts = text_digests(self.entry_of(node)) if node.kind == "render" else None
        return store_result(self.store, node.fingerprint, self.input_fp(node), i, chunk, result, strip, texts, packed)

    def _ahead(self, then: list[Follower], i: int, pending: Pending) -> None:
        """While chunk i is being answered, run each part of it that is (an LLM chunk's batches) on through the
        following nodes that take parts (``Ahead``): after the last answer only the last part is left to render."""
        parts = getattr(pending, "parts", None)
        if parts is None or saved_chunk(self.store, then[0][0].fingerprint, i) is not None:
            return
        takers: list[Ahead] = []
        for _, fn, _ in then:
            if not isinstance(fn, Ahead):
                break
            takers.append(fn)
        try:
            for part in parts():
                for fn in takers:
                    part = fn.take(part)
        except Exception:  # raised again where the chunk is computed whole: the nodes report it in their turn
            for fn in takers:
                fn.parts.clear()

    def _follow(self, then: list[Follower], i: int, records: Records,
                verdicts: list[Problem | None] | None = None) -> Records | None:
        """Run chunk i on through the following nodes (a check given the ``verdicts`` its render worked out: they
        are its first follower's); on the first failure stop following (for good). The first follower's records
        out, when it computed them now."""
        first: Records | None = None
        previous: PlanNode | None = None
        for follower, fn, strip in then:
            saved = saved_chunk(self.store, follower.fingerprint, i)
            if saved is not None and saved.counts is not None:  # stored already
                break
            try:
                result = (fn.at(i, verdicts) if isinstance(fn, CheckChunks) else fn)(records)
            except Exception:  # the node raises it itself, in its turn, with its own progress and stats
                then.clear()
                break
            verdicts = None
            out, _, _ = self._store_chunk(follower, i, records, result, strip)
            self.early.add((follower.fingerprint, i))
            if previous is not None and previous.kind == "render" and self._memo_wanted(follower):
                self._put_pass_memo(previous, (follower, fn, strip), i, records, out, WorkerMemo.of(records))
            first = out if first is None else first
            records, previous = out, follower
        return first

    def _memo_wanted(self, check: PlanNode) -> bool:
        """Whether the corpus pass reads the check's chunks by their pass memo (``reads_pass_memo``): then an LLM
        node's followers store it as each chunk is checked, while the model answers the next chunks, not in the
        pass after the last answer."""
        if check.id not in self.memo_wanted:
            self.memo_wanted[check.id] = reads_pass_memo(self.plan, check)
        return self.memo_wanted[check.id]

    def _put_pass_memo(self, render: PlanNode, check: Follower, i: int, rendered: Records, kept: Records,
                       memo: WorkerMemo) -> None:
        """Store the pass memo (``corpus.pass_chunks``) of the check's chunk i from what the render worker worked out
        (only when the pass reads it: ``reads_pass_memo``): the records it ``kept`` are ``rendered`` records, each
        first stored at its place in the render's chunk i (``Store.origin_chunk``)."""
        node, _, strip = check
        at = subset_positions(rendered, kept)
        if at is not None:
            memo.put(self.store, node.fingerprint, i, [(render.fingerprint, MAIN, i, p, strip) for p in at], at)

    def counted_input(self, node: PlanNode, stat: NodeStats, i: int = 0) -> Iterator[dict[str, Any]]:
        for record in self.store.records(self.input_fp(node, i)):
            stat.records_in += 1
            yield record


@contextlib.contextmanager
def bulk_gc(threshold: int = 100_000) -> Iterator[None]:
    """Fewer cyclic-GC passes while records stream through. CPython starts one every 700 new containers, and the
    passes that reach the older generations walk every live record, shard column and cached chunk — far more than
    the few cycles they free (``ast.literal_eval`` leaves one per call). Measured (bench_build, 40k instructions,
    one process): write 2.3 s -> 1.1 s, the whole build +30%. Collection still runs, so memory stays bounded;
    forked render workers inherit the setting."""
    old = gc.get_threshold()
    gc.set_threshold(max(threshold, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


# ---------------------------------------------------------------- runners


def _run_load(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    src = ex.recipe.sources[node.config["source"]]

    def rows() -> Iterator[dict[str, Any]]:
        for row in read_source(src):
            stat.records_in += 1
            yield {"_row": row.number, "_line": row.line, "raw": row.record}

    return ex.stream_out(node, stat, rows())


# Per-chunk functions of the chunk-wise kinds: ``chunk_fn(ex, node)`` builds one without running
# it. They capture only picklable data (the task entry, constants, a render context), never the
# executor or its store, so a distributed executor can ship them to workers.


def map_chunk_fn(entry: TaskEntry, constants: dict[str, Any], headerless: bool = False,
                 file: str | None = None) -> ChunkFn:
    """``headerless``: the source is a table read without a header line (``reads_no_header``); ``file``: the name of
    the source's file (or folder), which a record's error names. A source column named `record` that a bare
    `record` was meant to read is E4102 at the chunk's first row (``check_row_column``)."""
    bare = bare_rows(entry)

    def run(chunk: Records) -> Records:
        check_row_column(entry, bare, chunk)
        return [map_record(entry, constants, entry.source, r["_row"], r["raw"], r.get("_line"), headerless, file)
                for r in chunk]
    return run


def filter_chunk_fn(entry: TaskEntry, constants: dict[str, Any], headerless: bool = False) -> ChunkFn:
    return lambda chunk: [r for r in chunk if keep_record(entry, constants, r, headerless)]


def entry_reads_no_header(recipe: Recipe, entry: TaskEntry) -> bool:
    src = recipe.sources.get(entry.source)
    return src is not None and reads_no_header(src)


def _map_fn(ex: Executor, node: PlanNode) -> ChunkFn:
    entry = ex.entry_of(node)
    return map_chunk_fn(entry, ex.recipe.constants, entry_reads_no_header(ex.recipe, entry),
                        source_file(ex.recipe, entry))


def source_file(recipe: Recipe, entry: TaskEntry) -> str | None:
    """The name of the file (or folder) the entry's source reads, if it reads one."""
    src = recipe.sources.get(entry.source)
    return src.path.name if src is not None and src.path is not None else None


def _filter_fn(ex: Executor, node: PlanNode) -> ChunkFn:
    entry = ex.entry_of(node)
    return filter_chunk_fn(entry, ex.recipe.constants, entry_reads_no_header(ex.recipe, entry))


def _run_map(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    return ex.chunkwise(node, stat, _map_fn(ex, node))


def _run_filter(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    return ex.chunkwise(node, stat, _filter_fn(ex, node))


def _run_sample(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    chosen = sample_records(ex.counted_input(node, stat), node.config["n"], node.config["seed"])
    return ex.stream_out(node, stat, iter(chosen), len(chosen))


def sample_records(records: Iterator[dict[str, Any]], n: int, seed: int) -> Records:
    """The n records with the smallest seeded hash: deterministic, order-independent, O(n) memory."""
    heap: list[tuple[int, int, dict[str, Any]]] = []
    for position, record in enumerate(records):
        key = -stable_hash("sample", seed, record["_source"], record["_row"])
        item = (key, -position, record)
        if len(heap) < n:
            heapq.heappush(heap, item)
        elif key > heap[0][0]:
            heapq.heapreplace(heap, item)
    return [record for _, _, record in sorted(heap, key=lambda item: -item[1])]  # keep source order


def _run_labels(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    fixed = node.config["fixed"]
    entry = ex.entry_of(node)
    roles: dict[str, set[str]] | None = {} if node.config.get("roles") else None  # ee: each type's roles in the gold
    if fixed is not None and roles is None:
        labels = list(fixed)
    else:
        labels = collect_labels(entry, node.config["column"], ex.counted_input(node, stat), roles)
        labels = list(fixed) if fixed is not None else labels
    stat.records_out = len(labels)
    out: dict[str, Any] = {"chunks": {}, "labels": labels}
    if roles is not None:
        out["roles"] = sorted_roles(roles)
    return out


def render_chunk_fn(ctx: RenderContext) -> ChunkFn:
    """Render each record; problem records are dropped and reported (counts + first locations)."""

    def render(chunk: Records) -> tuple[Records, Counter[str], dict[str, list[Located]], list[RecordIndex]]:
        chunk_ctx = ctx.for_chunk(chunk[0]) if chunk else ctx
        given, index = [], []
        for record in chunk:
            result = render_checked(chunk_ctx, record)
            given.append(result.records)
            index.append(index_entry(len(result.records), result.problems, result.outside_rows, result.templates,
                                     record))
        return rebuild(given, index, chunk)  # the per-record index is stored beside the chunk (``reuse.py``)

    return render


def check_chunk_fn(entry: TaskEntry, strip: bool = True, passed: Callable[[dict[str, Any]], bool] | None = None,
                   verdicts: list[Problem | None] | None = None) -> ChunkFn:
    """Parse every rendered output back; records that do not round-trip are problems. The records kept
    lose their ``_``-prefixed keys (``strip``), or are the input records themselves (both executors store
    them as references and strip on read). A record an earlier check ``passed`` (``reuse.PriorChecks``)
    is kept without being checked again; ``verdicts`` (one per record of the chunk) are the records' checks
    worked out already, where they were rendered (``RenderThenCheck``)."""

    def check(chunk: Records) -> tuple[Records, Counter[str], dict[str, list[Located]]]:
        kept, log = [], ProblemLog()
        known = verdicts if verdicts is not None and len(verdicts) == len(chunk) else None
        for k, record in enumerate(chunk):
            if passed is not None and passed(record):
                problem = None
            else:
                problem = known[k] if known is not None else check_rendered(entry, record)
            if problem is not None:
                log.add(problem, record["source"], record["source_row"], record.get("_line"))
                continue
            kept.append({k: v for k, v in record.items() if not is_private(k)} if strip else record)
        return kept, log.notes(), log.first

    return check


def _labels_of(ex: Executor, node: PlanNode) -> tuple[tuple[str, ...] | None, EventRoles]:
    """The label set a render node reads from its labels node (None: the task has no label schema), and each event
    type's roles in the gold (ee)."""
    if len(node.inputs) < 2:
        return None, ()
    meta = ex.store.meta(ex.input_fp(node, 1))
    assert meta is not None  # the labels node ran before its render node
    return tuple(meta["labels"]), tuple((t, tuple(r)) for t, r in meta.get("roles") or ())


def _render_context(ex: Executor, node: PlanNode) -> RenderContext:
    labels, roles = _labels_of(ex, node)
    return RenderContext(ex.entry_of(node), ex.recipe.constants, labels, ex.recipe.name, roles=roles)


def _render_fn(ex: Executor, node: PlanNode) -> ChunkFn:
    return render_chunk_fn(_render_context(ex, node))


def _check_fn(ex: Executor, node: PlanNode) -> ChunkFn:
    """The check's records kept are its input records: both executors store them as references, stripped on read."""
    return check_chunk_fn(ex.entry_of(node), strip=False)


@dataclass
class Checked:
    """A render chunk's result and the check's verdict on each record it rendered, worked out in the render worker."""

    result: ChunkResult
    verdicts: list[Problem | None]
    memo: WorkerMemo | None = None  # the records' pass memo, when the check's chunks feed the corpus pass
    packed: Packed | None = None  # the records, ready to store (``cachedb.pack``); ``result`` then holds none

    def unpacked(self) -> ChunkResult:
        """The render chunk's result, its records unpacked."""
        if self.packed is None or not isinstance(self.result, tuple):
            return self.result
        return (unpack(self.packed), *self.result[1:])


@dataclass
class RenderThenCheck:
    """A render worker's chunk function: the render, then the check of what it rendered (``check_rendered``, a pure
    function of the entry and the record), so the main process — which stores, and checks otherwise — is not the
    build's one serial bottleneck. The executor stores the render's result as it is and hands the verdicts to the
    check (``check_chunk_fn``): the cache and the output are those of a one-process build."""

    render: ChunkFn
    entry: TaskEntry
    compress: bool | None = None  # in a worker process: the store's compression (``_pack``)
    memo: bool = False  # the check's chunks are read by their pass memo (``reads_pass_memo``): work it out too

    def __call__(self, chunk: Records) -> ChunkResult | Checked:
        result = self.render(chunk)
        records = split_result(result)[0]
        try:
            checked = Checked(result, [check_rendered(self.entry, record) for record in records])
        except Exception:  # the check node raises it itself, in its turn, with its own progress and stats
            return result
        if self.compress is not None and isinstance(result, tuple):
            self._pack(checked, records, result)
        return checked

    def _pack(self, checked: Checked, records: Records, result: tuple[Any, ...]) -> None:
        """In a worker, what the main process — the build's one serial part — would do next: the records' pass memo
        (``WorkerMemo``) and their stored form (``cachedb.pack``; sent instead of the records, which the main process
        unpacks where it would unpickle them)."""
        if self.memo:
            with contextlib.suppress(Exception):  # the corpus pass works the memo out (and reports what fails) itself
                checked.memo = WorkerMemo.of(records)
        checked.packed = pack(records, compress=bool(self.compress))
        checked.result = ([], *result[1:])


def _run_render(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    """Rendered chunks (on worker processes when there are several, which check them too: ``RenderThenCheck``) go
    straight on through the check; records an earlier render of the same shape rendered alike are reused
    (``reuse.py``)."""
    ctx = _render_context(ex, node)
    fn, then = render_chunk_fn(ctx), followers(ex, node, ("check",))
    key, reuse = Reuse.find(ex.store, node, ctx)
    workers = workers_for(node.kind, ex.jobs, ex.input_chunks(node))
    with contextlib.ExitStack() as stack:
        compress = ex.store.cache.compress if workers else None
        pooled = (RenderThenCheck(fn, ex.entry_of(then[0][0]), compress, reads_pass_memo(ex.plan, then[0][0]))
                  if then and reuse is None else fn)
        submit: Submit = stack.enter_context(WorkerPool(pooled, workers)).submit if workers else partial(_Now, fn)
        submit_at = None if reuse is None else (lambda i, chunk: reuse.start(i, chunk, submit))
        meta = ex.chunkwise(node, stat, fn, submit=submit, submit_at=submit_at, ahead=2 * workers, then=then)
    remember(ex.store, key, node.fingerprint)
    if reuse is not None:
        stat.reused = {"reused as is": reuse.counts["kept"], "texts re-rendered": reuse.counts["retexted"],
                       "rendered whole": reuse.counts["rendered"]}
    return meta


def reads_pass_memo(plan: Plan, node: PlanNode) -> bool:
    """Whether the corpus pass reads ``node``'s chunks by their pass memo (as ``pass_chunks`` stores it): a
    pass-through node reads them and none of the plan's reads the records' text."""
    passes = [n for n in plan.nodes if n.kind in PASS_THROUGH]
    return any(node.id in n.inputs for n in passes) and not any(PASS_THROUGH[n.kind].needs_text for n in passes)


@dataclass
class CheckChunks:
    """A check node's chunk function, and per chunk i (``at``) one that keeps unchecked what the newest earlier
    check of the same shape passed with the same check fields (``reuse.PriorChecks``)."""

    entry: TaskEntry
    prior: PriorChecks | None = None

    @staticmethod
    def of(ex: Executor, node: PlanNode) -> tuple[str, CheckChunks]:
        """(the key naming the newest check of the node's shape: ``PriorChecks.find``, its CheckChunks): one per
        node and build, whether its chunks are checked behind the render (``followers``) or by the node itself."""
        if node.id not in ex.checks:
            key, prior = PriorChecks.find(ex.store, node, ex.entry_of(node), ex.recipe.constants, ex.recipe.name)
            ex.checks[node.id] = key, CheckChunks(ex.entry_of(node), prior)
        return ex.checks[node.id]

    def __call__(self, chunk: Records) -> ChunkResult:
        return check_chunk_fn(self.entry, strip=False)(chunk)

    def at(self, i: int, verdicts: list[Problem | None] | None = None) -> ChunkFn:
        return check_chunk_fn(self.entry, strip=False, passed=None if self.prior is None else self.prior.passed(i),
                              verdicts=verdicts)


def _run_check(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    key, checks = CheckChunks.of(ex, node)
    meta = ex.chunkwise(node, stat, checks, strip=True, submit_at=lambda i, chunk: _Now(checks.at(i), chunk))
    remember(ex.store, key, node.fingerprint)
    if checks.prior is not None:
        stat.reused = {"passed before": checks.prior.kept}
    return meta


@dataclass
class LLMChunkFn:
    """A generate/judge chunk function that opens its own ``StepRunner`` (LLM client + response
    cache) per call, so it can run in another process; ``concurrency`` overrides the model's
    per-client request concurrency (it never changes answers, only how many are in flight)."""

    step: Any
    entry: TaskEntry
    model: Any
    cache_dir: Path
    concurrency: int | None = None

    def __call__(self, chunk: list[dict[str, Any]]) -> ChunkResult:
        from dataclasses import replace

        from humc.build.llmsteps import StepRunner

        model = self.model if self.concurrency is None else replace(self.model, concurrency=self.concurrency)
        runner = StepRunner.open(self.step, self.entry, model, self.cache_dir)
        try:
            return runner.run(chunk)
        finally:
            runner.close()


def _llm_step(ex: Executor, node: PlanNode) -> tuple[Any, TaskEntry]:
    entry = ex.entry_of(node)
    step = entry.generate if node.kind == "generate" else entry.judge
    assert step is not None
    return step, entry


def _llm_fn(ex: Executor, node: PlanNode) -> LLMChunkFn:
    step, entry = _llm_step(ex, node)
    return LLMChunkFn(step, entry, ex.recipe.models[step.model], ex.recipe.cache_dir)


def _run_llm_step(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    """Locally one client per model serves every chunk of every LLM node of the build (one session, one
    connection pool), and the next chunks' requests queue behind the current one's (``chunks_ahead``)."""
    from humc.build.llmsteps import LLMClients, StepRunner

    step, entry = _llm_step(ex, node)
    if ex.llm is None:
        ex.llm = LLMClients(ex.recipe.cache_dir)
    if not ex.llm.clients:  # the build's first LLM node
        threading.Thread(target=preload, name="humc-preload", daemon=True).start()  # the write's imports, meanwhile
    model = ex.recipe.models[step.model]
    runner = StepRunner(step, entry, ex.llm.get(model))
    with model.declared_here():
        return ex.chunkwise(node, stat, runner.run, submit=runner.submit, ahead=chunks_ahead(model.concurrency),
                            then=followers(ex, node))


def followers(ex: Executor, node: PlanNode, kinds: tuple[str, ...] = ("render", "check")) -> list[Follower]:
    """The render right after ``node`` (when it reads nothing else, e.g. no label set) and its check, unless
    already built: the nodes an LLM node's (or a render's) chunks go on through as they come — an LLM node's
    part by part (``Ahead``) where the render is record by record (the default `mix:`)."""
    out: list[Follower] = []
    prev = node
    parts = node.kind in LLM_KINDS
    for kind in kinds:
        nxt = next((n for n in ex.plan.nodes if n.inputs == (prev.id,) and n.kind == kind), None)
        if nxt is None or ex.store.meta(nxt.fingerprint) is not None:
            break
        if kind == "render":
            fn = _render_fn(ex, nxt)
            parts = parts and ex.entry_of(nxt).mix.is_default
            fn = Ahead(fn, _combined_render) if parts else fn
        else:
            fn = CheckChunks.of(ex, nxt)[1]
            fn = Ahead(fn, _combined) if parts else fn
        out.append((nxt, fn, kind == "check"))
        prev = nxt
    return out


class Ahead:
    """A follower's chunk function that may be given its chunk early, part by part (``take``, in order); called
    with the whole chunk, it computes only what follows the parts it was given and combines the results — the
    same result as one call over the chunk (for a render: only where it is record by record, the default `mix:`).
    The parts count only when the chunk starts with exactly their records (the same objects); else all is
    computed again."""

    def __init__(self, fn: ChunkFn, combine: Callable[[list[tuple[Records, ChunkResult]]], ChunkResult]) -> None:
        self.fn, self.combine = fn, combine
        self.parts: list[tuple[Records, ChunkResult]] = []

    def take(self, part: Records) -> Records:
        """Compute one part now; its output records (what the next follower takes)."""
        result = self.fn(part)
        self.parts.append((part, result))
        return split_result(result)[0]

    def __call__(self, chunk: Records) -> ChunkResult:
        parts, self.parts = self.parts, []
        given = [record for part, _ in parts for record in part]
        if not parts or len(given) > len(chunk) or any(a is not b for a, b in zip(given, chunk[:len(given)], strict=True)):
            return self.fn(chunk)
        rest = chunk[len(given):]
        return self.combine(parts + [(rest, self.fn(rest))] if rest else parts)


def _combined(results: list[tuple[Records, ChunkResult]]) -> ChunkResult:
    """Consecutive parts' (records, notes, first problem locations) as one chunk's, in part order."""
    records: Records = []
    notes: Counter[str] = Counter()
    problems: dict[str, list[Located]] = {}
    for _, result in results:
        out, more, located = split_result(result)
        records += out
        notes.update(more)
        merge_first(problems, located)
    return records, notes, problems


def _combined_render(results: list[tuple[Records, ChunkResult]]) -> ChunkResult:
    """Consecutive render parts as one chunk's result, rebuilt from their per-record index (``reuse.rebuild``)."""
    chunk: Records = []
    given: list[Records] = []
    index: list[RecordIndex] = []
    for part, result in results:
        assert isinstance(result, tuple) and len(result) == 4
        given += by_record(result[0], result[3])
        chunk += part
        index += result[3]
    return rebuild(given, index, chunk)


def chunks_ahead(concurrency: int) -> int:
    """Chunks queued behind the one being collected: enough that at least two slot-fulls of requests wait."""
    return max(1, math.ceil(2 * concurrency / CHUNK_SIZE))


def _run_pass_through(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    """Run ``node`` and the pass-through nodes right after it that are not stored yet, in one pass."""
    stages = [_pass_stage(ex, node, stat)]
    last = node
    while last.id != ex.stop_after and stages[-1].node.kind != "split":
        nxt = next((n for n in ex.plan.nodes if n.inputs == (last.id,)), None)
        if nxt is None or nxt.kind not in PASS_THROUGH or ex.store.meta(nxt.fingerprint) is not None:
            break
        stages.append(_pass_stage(ex, nxt, NodeStats(nxt.id, nxt.kind)))
        last = nxt
    seconds = [0.0] * len(stages)
    total = sum(ex.input_total(node, i) for i in range(len(node.inputs)))
    text = any(stage.needs_text for stage in stages)
    with ex.progress.task(" → ".join(s.node.id for s in stages) if len(stages) > 1 else node.id, total=total) as advance:
        for i in range(len(node.inputs)):
            for chunk in pass_chunks(ex.store, ex.input_fp(node, i), text=text):
                at = list(range(len(chunk.places)))
                for k, stage in enumerate(stages):
                    start = time.perf_counter()
                    at = stage.take(chunk, at)
                    seconds[k] += time.perf_counter() - start
                    if not at:
                        break
                advance(len(chunk.places))
    for stage, spent in zip(stages[1:], seconds[1:], strict=True):
        stage.stat.seconds = spent
        ex.fused.append((stage.node, stage.stat, stage.finish()))
    return stages[0].finish()


def _pass_stage(ex: Executor, node: PlanNode, stat: NodeStats) -> PassThrough:
    return PASS_THROUGH[node.kind](ex.store, ex.recipe, node, stat, CHUNK_SIZE)


def _run_select(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    """`ratio` (an entry's positive : all-negative instructions) and `mixture` (corpus weights and caps):
    pass 1 chooses the records to keep, pass 2 writes them."""
    records = ex.store.records(ex.input_fp(node))
    if node.kind == "ratio":
        positive, negative = node.config["ratio"]
        keep, dropped = ratio_keep(records, positive, negative, node.config["seed"])
        stat.notes["all-negative instructions dropped (negative_ratio)"] = dropped
        keep_all_positive = True
    else:
        mixture = ex.recipe.output.mixture
        assert mixture is not None
        keep, notes = mixture_keep(records, mixture)
        stat.notes.update(notes)
        keep_all_positive = False

    def kept() -> Iterator[dict[str, Any]]:
        for i, record in enumerate(ex.counted_input(node, stat)):
            if i in keep or (keep_all_positive and not is_negative(record)):
                yield record

    return ex.stream_out(node, stat, kept(), ex.input_total(node))


def _run_write(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    split_fp = ex.input_fp(node)
    split_meta = ex.store.meta(split_fp) or {}
    if not sum(split_meta.get("counts", {}).values()):
        raise empty_build_error(ex.plan, ex.metas)
    # the split's streams as places (no records read): the writer reuses a shard whose places it wrote before
    job = WriteJob(ex.recipe, node.fingerprint, ex.plan.fingerprint, dict(split_meta.get("counts", {})),
                   partial(ex.store.runs, split_fp), ex.store.rows, ex.store.cache, ex.metas, ex.progress)
    result = write_dataset(job)
    stat.records_in = stat.records_out = result.records
    if result.cached:
        stat.status = "cached"
    return result.meta


def empty_build_error(plan: Plan, metas: dict[str, dict[str, Any]]) -> SourceError:
    """E4104: nothing reached the write node; the notes name each node that lost every record it got, and why."""
    notes, span, llm_lost, dropped = [], None, False, []
    entries = {e.id: e for e in plan.recipe.tasks}
    for node in plan.nodes:
        meta = metas.get(node.id)
        if meta is None or node.kind in ("labels", "write") or meta.get("out", 0):
            continue
        upstream = metas.get(node.inputs[0], {}) if node.inputs else {}
        if node.inputs and not upstream.get("out", 0):
            continue  # an earlier node already lost everything on this path
        got = "read 0 rows" if node.kind == "load" else f"kept 0 of {meta.get('in', 0)} record(s)"
        llm_lost = llm_lost or node.kind in LLM_KINDS
        reasons = ", ".join(f"{k}: {v}" for k, v in meta.get("notes", {}).items() if v)
        notes.append(f"{node.id} ({node.kind}) {got}" + (f" ({reasons})" if reasons else ""))
        rows = problem_rows(plan.recipe, {node.id: meta})
        dropped += rows
        notes += [f"{r.reason} at " + "; ".join(r.first) for r in rows if r.first]
        where = entries[node.entry].where if node.kind == "filter" and node.entry else None
        span = span or (where.src.span if where else None)
        src = plan.recipe.sources.get(node.config.get("source", "")) if node.kind == "load" else None
        if src is not None and src.path is not None:
            notes[-1] += f": the source file {src.path} holds no records (it is empty, or has a header only)"
            span = span or Span(str(src.path), 1, 1)
    return SourceError("the build would write 0 records: no record reached the output", span, code="E4104",
                       notes=notes, expected="at least one record after filtering, sampling and checks",
                       hint=("an LLM step dropped every record it got; the notes say why (requests the server rejected, in "
                             "its words; answers that stayed invalid; judge scores under min_score)" if llm_lost
                             else empty_hint(dropped, "check the sources, `where:` filters and `sample:`"))
                       + "; nothing was written (an existing output folder is left as it was)")


RUNNERS: dict[str, Callable[[Executor, PlanNode, NodeStats], dict[str, Any]]] = {
    "load": _run_load, "map": _run_map, "filter": _run_filter, "sample": _run_sample, "labels": _run_labels,
    "render": _run_render, "check": _run_check, "merge": _run_pass_through, "dedup": _run_pass_through,
    "split": _run_pass_through, "decontaminate": _run_pass_through, "ratio": _run_select, "mixture": _run_select,
    "write": _run_write, "generate": _run_llm_step, "judge": _run_llm_step,
}


CHUNK_FNS: dict[str, Callable[[Executor, PlanNode], ChunkFn]] = {
    "map": _map_fn, "filter": _filter_fn, "render": _render_fn, "check": _check_fn,
    "generate": _llm_fn, "judge": _llm_fn,
}


@dataclass(frozen=True)
class Saved:
    """What is stored beside chunk i of a chunk-wise node: its notes, problem locations and (records in, records
    out) — ``counts`` is None for an entry written before its chunk (the Ray executor's order)."""

    notes: dict[str, int]
    problems: dict[str, list[Located]]
    counts: tuple[int, int] | None = None


def stored_chunk(store: Store, fp: str, input_fp: str, i: int) -> tuple[Records, Saved | None]:
    """Chunk i of a chunk-wise node, for both executors: ``([], saved)`` when it is committed (its notes carry its
    counts: nothing is read), else its input chunk and None (compute it), or, for an entry stored without counts
    (an older humc), its input chunk and the counts read from its records. LostChunk when the input chunk needed is
    missing or damaged (the executor rebuilds that node and runs again)."""
    saved = saved_chunk(store, fp, i)
    if saved is not None and saved.counts is not None:
        return [], saved
    chunk = store.chunk(input_fp, i)
    if chunk is None:
        raise LostChunk(input_fp, MAIN, i)
    out = store.chunk(fp, i) if saved is not None else None
    if saved is not None and out is not None:
        return chunk, replace(saved, counts=(len(chunk), len(out)))
    return chunk, None


def store_result(store: Store, fp: str, input_fp: str, i: int, chunk: Records, result: ChunkResult, strip: bool,
                 texts: dict[str, Any] | None = None,
                 packed: Packed | None = None) -> tuple[Records, dict[str, int], dict[str, list[Located]]]:
    """Store chunk i of a chunk-wise node (both executors): its records (as references when they are input records,
    a filter's or the check's; ``packed``: new records as a render worker packed them), a render's per-record index,
    then its notes with the counts — the commit. Returns the result's (records, notes, problem locations)."""
    out, notes, problems = split_result(result)
    index = result[3] if isinstance(result, tuple) and len(result) > 3 else None
    refs = subset_refs(input_fp, i, chunk, out)
    if refs is not None:
        store.put_refs(fp, i, refs, strip=strip)
    else:
        assert not strip, "strip needs a chunk function that passes its input records through"
        store.put_chunk(fp, i, out, packed=packed)
    if index is not None and texts is not None:
        store_memo(store, fp, i, index, texts)
    # the notes, with the chunk's input and output counts, commit it: a rerun reads nothing of a chunk they cover
    store.put_chunk(fp, i, [notes, problems, len(chunk), len(out)], NOTES)
    return out, notes, problems


def saved_chunk(store: Store, fp: str, i: int) -> Saved | None:
    """The notes entry of chunk i of a node; None when missing or damaged (then the chunk is computed again)."""
    stored: list[Any] | None = store.chunk(fp, i, NOTES)
    if not stored:
        return None
    counts = (int(stored[2]), int(stored[3])) if len(stored) >= 4 else None
    return Saved(dict(stored[0]), dict(stored[1]) if len(stored) > 1 else {}, counts)


def chunk_fn(ex: Executor, node: PlanNode) -> ChunkFn:
    """The per-chunk function of a chunk-wise node (map, filter, render, check, generate, judge),
    built without running it; ``ex.chunkwise(node, stat, chunk_fn(ex, node))`` is the local run."""
    return CHUNK_FNS[node.kind](ex, node)

