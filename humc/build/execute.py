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

import heapq
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from humc.build.mixing import Realised, held_out_match, is_negative, mixture_keep, ratio_keep
from humc.build.plan import Plan, PlanNode
from humc.build.problems import META_KEY, Located, ProblemLog, merge_first, problem_rows, strict_error
from humc.build.store import MAIN, NOTES, ChunkWriter, LostChunk, Origin, RefWriter, Store, is_private, subset_refs
from humc.build.transforms import (
    RenderContext,
    check_rendered,
    collect_labels,
    keep_record,
    map_record,
    ngram_hashes,
    render_checked,
    stable_hash,
    strings_in,
)
from humc.dataset.manifest import output_is_current
from humc.dataset.writer import WriteJob, preload, write_dataset
from humc.errors import HumcError, SourceError, Span
from humc.ir import Recipe, TaskEntry
from humc.progress import Progress
from humc.sources import read_source

CHUNK_SIZE = 1000
Records = list[dict[str, Any]]
# a chunk function returns its records, optionally with counters (notes) and the first
# locations of the problems it dropped (reason -> [[source, row, detail], ...])
ChunkResult = Records | tuple[Records, Counter[str]] | tuple[Records, Counter[str], dict[str, list[Located]]]
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
    def __init__(self, plan: Plan, store: Store, progress: Progress | None = None) -> None:
        self.plan = plan
        self.recipe: Recipe = plan.recipe
        self.store = store
        self.progress = progress or Progress(enabled=False)
        self.entries: dict[str, TaskEntry] = {e.id: e for e in self.recipe.tasks}
        self.metas: dict[str, dict[str, Any]] = {}
        self.llm: Any = None  # llmsteps.LLMClients of this build, opened by the first LLM node
        self.early: set[tuple[str, int]] = set()  # (node fp, chunk) computed ahead by ``followers``: built, not reused

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
            return self._run_repairing(stop_after)
        finally:
            if self.llm is not None:
                self.llm.close()
                self.llm = None

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

    def _run_nodes(self, stop_after: str | None) -> BuildResult:
        self.metas = {}
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
        stat = NodeStats(node.id, node.kind)
        start = time.perf_counter()
        meta = self.store.meta(node.fingerprint) if node.kind != "write" else None
        if meta is not None:
            stat.status, stat.records_in, stat.records_out = "cached", meta.get("in", 0), meta.get("out", 0)
            stat.notes = dict(meta.get("notes", {}))
            stat.problems = dict(meta.get(META_KEY, {}))
        else:
            meta = self.run_kind(node, stat)
            meta.update({"in": stat.records_in, "out": stat.records_out, "notes": stat.notes})
            if stat.problems:
                meta[META_KEY] = stat.problems
            if node.kind != "write":
                self.store.finish(node.fingerprint, meta)
            if stat.status == "built" and stat.chunks_reused:
                stat.status = "resumed"
        self.metas[node.id] = meta
        stat.seconds = time.perf_counter() - start
        return stat

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
                  then: list[Follower] | None = None) -> dict[str, Any]:
        """Input chunk i -> output chunk i, skipping chunks a killed build already stored.

        ``fn`` may return (records, notes[, problems]): per-chunk counters (drops, LLM requests)
        and problem locations are stored beside the chunk, so a resumed node still reports the
        whole node's counts. With ``submit`` (which starts a chunk and returns its ``Pending``),
        up to ``ahead`` further chunks are started before chunk i is collected; chunks are still
        stored, counted and reported in order, so a killed build resumes exactly as before. An output chunk
        whose records all *are* input records (a filter's) is stored as references to them; ``strip``
        (with such an ``fn``) drops their ``_``-prefixed keys when they are read. ``then``: chunk-wise nodes
        that each computed chunk goes on through at once (see the module docstring)."""
        start: Submit = submit or (lambda chunk: _Now(fn, chunk))
        window: deque[tuple[int, Records, Pending | None, Any]] = deque()
        n = 0
        with self.progress.task(node.id, total=self.input_total(node)) as advance:
            try:
                for i, chunk in enumerate(self.store.read(self.input_fp(node))):
                    out = self.store.chunk(node.fingerprint, i)
                    saved = stored_notes(self.store, node.fingerprint, i) if out is not None else None
                    if out is None or saved is None:  # missing or damaged: compute it (again)
                        window.append((i, chunk, start(chunk), None))
                    else:
                        window.append((i, chunk, None, (out, saved)))
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

    def _collect(self, node: PlanNode, stat: NodeStats, item: tuple[int, Records, Pending | None, Any],
                 advance: Callable[[int], None], strip: bool, then: list[Follower] | None) -> int:
        """Store (or reuse) one chunk's result and count it; the number of chunks done."""
        i, chunk, pending, reused = item
        if pending is not None:
            out, notes, problems = split_result(pending.result())
            self._store_chunk(node, i, chunk, out, notes, problems, strip)
            if then:
                self._follow(then, i, out)
        else:
            if (node.fingerprint, i) not in self.early:
                stat.chunks_reused += 1
            out, (notes, problems) = reused
        stat.add_notes(notes, problems)
        stat.records_in += len(chunk)
        stat.records_out += len(out)
        advance(len(chunk))
        return i + 1

    def stream_out(self, node: PlanNode, stat: NodeStats, records: Iterator[dict[str, Any]],
                   total: int | None = None) -> dict[str, Any]:
        return self._write_all(node, stat, ChunkWriter(self.store, node.fingerprint, CHUNK_SIZE), records, total)

    def _write_all(self, node: PlanNode, stat: NodeStats, writer: ChunkWriter | RefWriter, items: Iterator[Any],
                   total: int | None) -> dict[str, Any]:
        with self.progress.task(node.id, total=total) as advance:
            for item in items:
                writer.add(item)
                advance(1)
        writer.flush()
        stat.records_out = writer.count
        return {"chunks": {MAIN: writer.chunks}}

    def _store_chunk(self, node: PlanNode, i: int, chunk: Records, out: Records, notes: dict[str, int],
                     problems: dict[str, list[Located]], strip: bool) -> None:
        fp = node.fingerprint
        self.store.put_chunk(fp, i, [notes, problems], NOTES)  # notes first: the main chunk commits
        refs = subset_refs(self.input_fp(node), i, chunk, out)
        if refs is not None:
            self.store.put_refs(fp, i, refs, strip=strip)
        else:
            assert not strip, "strip needs a chunk function that passes its input records through"
            self.store.put_chunk(fp, i, out)

    def _follow(self, then: list[Follower], i: int, records: Records) -> None:
        """Run chunk i on through the following nodes; on the first failure stop following (for good)."""
        for follower, fn, strip in then:
            if self.store.chunk(follower.fingerprint, i) is not None:
                return
            try:
                out, notes, problems = split_result(fn(records))
            except Exception:  # the node raises it itself, in its turn, with its own progress and stats
                then.clear()
                return
            self._store_chunk(follower, i, records, out, notes, problems, strip)
            self.early.add((follower.fingerprint, i))
            records = out

    def counted_input(self, node: PlanNode, stat: NodeStats, i: int = 0) -> Iterator[dict[str, Any]]:
        for record in self.store.records(self.input_fp(node, i)):
            stat.records_in += 1
            yield record

    def counted_origins(self, node: PlanNode, stat: NodeStats, i: int = 0) -> Iterator[tuple[Origin, dict[str, Any]]]:
        """``counted_input`` with where each record is stored, for nodes that pass records through."""
        for item in self.store.origins(self.input_fp(node, i)):
            stat.records_in += 1
            yield item

    def refs_out(self, node: PlanNode, stat: NodeStats, origins: Iterator[Origin], total: int | None = None) -> dict[str, Any]:
        """``stream_out`` for records passed through unchanged: stores references, not copies."""
        return self._write_all(node, stat, RefWriter(self.store, node.fingerprint, CHUNK_SIZE), origins, total)


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


def map_chunk_fn(entry: TaskEntry, constants: dict[str, Any]) -> ChunkFn:
    return lambda chunk: [map_record(entry, constants, entry.source, r["_row"], r["raw"], r.get("_line")) for r in chunk]


def filter_chunk_fn(entry: TaskEntry, constants: dict[str, Any]) -> ChunkFn:
    return lambda chunk: [r for r in chunk if keep_record(entry, constants, r)]


def _map_fn(ex: Executor, node: PlanNode) -> ChunkFn:
    return map_chunk_fn(ex.entry_of(node), ex.recipe.constants)


def _filter_fn(ex: Executor, node: PlanNode) -> ChunkFn:
    return filter_chunk_fn(ex.entry_of(node), ex.recipe.constants)


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
    if fixed is not None:
        labels = list(fixed)
    else:
        labels = collect_labels(entry, node.config["column"], ex.counted_input(node, stat))
    stat.records_out = len(labels)
    return {"chunks": {}, "labels": labels}


def render_chunk_fn(ctx: RenderContext) -> ChunkFn:
    """Render each record; problem records are dropped and reported (counts + first locations)."""

    def render(chunk: Records) -> tuple[Records, Counter[str], dict[str, list[Located]]]:
        out: Records = []
        log, outside = ProblemLog(), 0
        chunk_ctx = ctx.for_chunk(chunk[0]) if chunk else ctx
        for record in chunk:
            result = render_checked(chunk_ctx, record)
            out += result.records
            outside += result.outside_rows
            for problem in result.problems:
                log.add(problem, record["_source"], record["_row"], record.get("_line"))
        notes = log.notes()
        if outside:
            notes["gold rows outside labels: removed"] = outside
        return out, notes, log.first

    return render


def check_chunk_fn(entry: TaskEntry, strip: bool = True) -> ChunkFn:
    """Parse every rendered output back; records that do not round-trip are problems. The records kept
    lose their ``_``-prefixed keys (``strip``), or are the input records themselves (the local executor
    stores them as references and strips on read)."""

    def check(chunk: Records) -> tuple[Records, Counter[str], dict[str, list[Located]]]:
        kept, log = [], ProblemLog()
        for record in chunk:
            problem = check_rendered(entry, record)
            if problem is not None:
                log.add(problem, record["source"], record["source_row"], record.get("_line"))
                continue
            kept.append({k: v for k, v in record.items() if not is_private(k)} if strip else record)
        return kept, log.notes(), log.first

    return check


def _render_fn(ex: Executor, node: PlanNode) -> ChunkFn:
    entry = ex.entry_of(node)
    labels = None
    if len(node.inputs) > 1:
        meta = ex.store.meta(ex.input_fp(node, 1))
        assert meta is not None  # the labels node ran before its render node
        labels = tuple(meta["labels"])
    return render_chunk_fn(RenderContext(entry, ex.recipe.constants, labels, ex.recipe.name))


def _check_fn(ex: Executor, node: PlanNode) -> ChunkFn:
    return check_chunk_fn(ex.entry_of(node))


def _run_render(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    return ex.chunkwise(node, stat, _render_fn(ex, node))


def _run_check(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    return ex.chunkwise(node, stat, check_chunk_fn(ex.entry_of(node), strip=False), strip=True)


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
        threading.Thread(target=preload, name="humc-preload", daemon=True).start()  # the write's imports, meanwhile
    model = ex.recipe.models[step.model]
    runner = StepRunner(step, entry, ex.llm.get(model))
    return ex.chunkwise(node, stat, runner.run, submit=runner.submit, ahead=chunks_ahead(model.concurrency),
                        then=followers(ex, node))


def followers(ex: Executor, node: PlanNode) -> list[Follower]:
    """The render right after ``node`` (when it reads nothing else, e.g. no label set) and its check, unless
    already built: the nodes an LLM node's chunks go on through as they come."""
    out: list[Follower] = []
    prev = node
    for kind in ("render", "check"):
        nxt = next((n for n in ex.plan.nodes if n.inputs == (prev.id,) and n.kind == kind), None)
        if nxt is None or ex.store.meta(nxt.fingerprint) is not None:
            break
        fn = _render_fn(ex, nxt) if kind == "render" else check_chunk_fn(ex.entry_of(nxt), strip=False)
        out.append((nxt, fn, kind == "check"))
        prev = nxt
    return out


def chunks_ahead(concurrency: int) -> int:
    """Chunks queued behind the one being collected: enough that at least two slot-fulls of requests wait."""
    return max(1, math.ceil(2 * concurrency / CHUNK_SIZE))


def _run_merge(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    def origins() -> Iterator[Origin]:
        for i in range(len(node.inputs)):
            for origin, _ in ex.counted_origins(node, stat, i):
                yield origin

    return ex.refs_out(node, stat, origins(), sum(ex.input_total(node, i) for i in range(len(node.inputs))))


def _run_dedup(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    seen: set[int] = set()
    removed = 0

    def origins() -> Iterator[Origin]:
        nonlocal removed
        for origin, record in ex.counted_origins(node, stat):
            if node.config["enabled"]:
                key = stable_hash(record["instruction"].strip(), record["output"].strip())
                if key in seen:
                    removed += 1
                    continue
                seen.add(key)
            yield origin

    meta = ex.refs_out(node, stat, origins(), ex.input_total(node))
    stat.notes["duplicates removed"] = removed
    return meta


def _run_decontaminate(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    """Drop records whose instruction or output shares an n-gram with an evaluation set."""
    decon = ex.recipe.output.decontaminate
    assert decon is not None
    n, banned = decon.ngram, set()
    for src in decon.against:
        for row in read_source(src):
            for text in strings_in(row.record):
                banned |= ngram_hashes(text, n)
    removed = 0

    def origins() -> Iterator[Origin]:
        nonlocal removed
        for origin, record in ex.counted_origins(node, stat):
            if banned and not banned.isdisjoint(ngram_hashes(record["instruction"] + "\n" + record["output"], n)):
                removed += 1
                continue
            yield origin

    meta = ex.refs_out(node, stat, origins(), ex.input_total(node))
    stat.notes["contaminated removed"] = removed
    stat.notes["eval n-grams"] = len(banned)
    return meta


def _run_split(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    """Assign splits by source row, so all variants of one source example share a split; an instruction
    using a held-out template, format, label or task goes to the held-out split."""
    splits, seed = node.config["splits"], node.config["seed"]
    held = ex.recipe.output.held_out if node.config.get("held_out") else None
    writers = {name: RefWriter(ex.store, node.fingerprint, CHUNK_SIZE, stream=name, fields={"split": name})
               for name, _ in splits}
    realised = Realised()
    with ex.progress.task(node.id, total=ex.input_total(node)) as advance:
        for origin, record in ex.counted_origins(node, stat):
            if held is not None and held_out_match(held, record):
                name = held.split
                stat.notes["held out"] = stat.notes.get("held out", 0) + 1
            else:
                name = pick_split(splits, seed, record["task_entry"], record["source"], record["source_row"])
            writers[name].add(origin)
            realised.add(name, record)
            advance(1)
    for w in writers.values():
        w.flush()
    stat.records_out = sum(w.count for w in writers.values())
    return {"chunks": {n: w.chunks for n, w in writers.items()}, "counts": {n: w.count for n, w in writers.items()},
            "mixture": realised.as_meta()}


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


def pick_split(splits: list[tuple[str, float]] | tuple[tuple[str, float], ...], seed: int, *key: Any) -> str:
    u = stable_hash("split", seed, *key) / 2**64
    acc = 0.0
    for name, fraction in splits:
        acc += fraction
        if u < acc:
            return name
    return splits[-1][0]


def _run_write(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    split_fp = ex.input_fp(node)
    split_meta = ex.store.meta(split_fp) or {}
    if not sum(split_meta.get("counts", {}).values()):
        raise empty_build_error(ex.plan, ex.metas)
    job = WriteJob(ex.recipe, node.fingerprint, ex.plan.fingerprint, dict(split_meta.get("counts", {})),
                   lambda split: ex.store.records(split_fp, split), ex.metas, ex.progress)
    result = write_dataset(job)
    stat.records_in = stat.records_out = result.records
    if result.cached:
        stat.status = "cached"
    return result.meta


def empty_build_error(plan: Plan, metas: dict[str, dict[str, Any]]) -> SourceError:
    """E4104: nothing reached the write node; the notes name each node that lost every record it got, and why."""
    notes, span = [], None
    entries = {e.id: e for e in plan.recipe.tasks}
    for node in plan.nodes:
        meta = metas.get(node.id)
        if meta is None or node.kind in ("labels", "write") or meta.get("out", 0):
            continue
        upstream = metas.get(node.inputs[0], {}) if node.inputs else {}
        if node.inputs and not upstream.get("out", 0):
            continue  # an earlier node already lost everything on this path
        got = "read 0 rows" if node.kind == "load" else f"kept 0 of {meta.get('in', 0)} record(s)"
        reasons = ", ".join(f"{k}: {v}" for k, v in meta.get("notes", {}).items() if v)
        notes.append(f"{node.id} ({node.kind}) {got}" + (f" ({reasons})" if reasons else ""))
        notes += [f"{r.reason} at " + "; ".join(r.first) for r in problem_rows(plan.recipe, {node.id: meta}) if r.first]
        where = entries[node.entry].where if node.kind == "filter" and node.entry else None
        span = span or (where.src.span if where else None)
        src = plan.recipe.sources.get(node.config.get("source", "")) if node.kind == "load" else None
        if src is not None and src.path is not None:
            notes[-1] += f": the source file {src.path} is empty"
            span = span or Span(str(src.path), 1, 1)
    return SourceError("the build would write 0 records: no record reached the output", span, code="E4104",
                       notes=notes, expected="at least one record after filtering, sampling and checks",
                       hint="check the sources, `where:` filters and `sample:`; nothing was written "
                            "(an existing output folder is left as it was)")


RUNNERS: dict[str, Callable[[Executor, PlanNode, NodeStats], dict[str, Any]]] = {
    "load": _run_load, "map": _run_map, "filter": _run_filter, "sample": _run_sample, "labels": _run_labels,
    "render": _run_render, "check": _run_check, "merge": _run_merge, "dedup": _run_dedup, "split": _run_split,
    "decontaminate": _run_decontaminate, "ratio": _run_select, "mixture": _run_select,
    "write": _run_write, "generate": _run_llm_step, "judge": _run_llm_step,
}


CHUNK_FNS: dict[str, Callable[[Executor, PlanNode], ChunkFn]] = {
    "map": _map_fn, "filter": _filter_fn, "render": _render_fn, "check": _check_fn,
    "generate": _llm_fn, "judge": _llm_fn,
}


def stored_notes(store: Store, fp: str, i: int) -> tuple[dict[str, int], dict[str, list[Located]]] | None:
    """The notes and problem locations stored beside chunk i of a node; None when missing or damaged
    (then the chunk is computed again, so a resumed node still reports whole counts)."""
    stored = store.chunk(fp, i, NOTES)
    if not stored:
        return None
    return dict(stored[0]), dict(stored[1]) if len(stored) > 1 else {}


def chunk_fn(ex: Executor, node: PlanNode) -> ChunkFn:
    """The per-chunk function of a chunk-wise node (map, filter, render, check, generate, judge),
    built without running it; ``ex.chunkwise(node, stat, chunk_fn(ex, node))`` is the local run."""
    return CHUNK_FNS[node.kind](ex, node)

