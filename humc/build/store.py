"""Node results on disk: content-addressed by node fingerprint, chunked, checksummed.

A node's output is a set of named streams of record chunks. Chunks are written as they
are produced and the node's ``meta`` is written last, as its commit marker: a build that
is killed in a chunk-wise node (map, filter, render, check, generate, judge) keeps every finished
chunk, and the next build resumes from them; a whole-stream node (load, sample, labels, merge,
dedup, split, write) killed before its commit runs again from its start.

Every value goes through ``humc.cachedb`` (digest checked before it is loaded). A damaged
entry reads as missing and is counted in ``dropped``: a damaged meta makes its node run again
(resuming from its chunks), and a damaged chunk of a node that looked finished raises
``LostChunk`` while a later node reads it, so the executor invalidates that node and runs
again, recomputing only what is gone. Keys are ``meta/<fp>`` and ``chunk/<fp>/<stream>/<i>``;
the LLM response cache lives beside them in ``<cache>/llm``.

**No second copy of a record.** A node that passes records through (a filter, check, merge,
dedup, split) stores a *reference chunk* instead of the records: ``{"refs": [[fp, stream, i, runs]],
"strip": bool, "set": {...}}`` — which records of which earlier chunks, as ``[start, stop)`` runs,
with ``_``-prefixed keys stripped and fields set on read. ``chunk`` resolves it (recursively, one
resolved chunk remembered per stream, so sequential reads stay linear); a referenced chunk that is
missing or damaged makes the reference chunk read as missing, so the usual repair applies. Chunks
are zstd-compressed by ``cachedb``. Together these keep the cache near the size of the output.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from humc.cachedb import CacheDB, Packed, repair_index

MAIN = "main"
NOTES = "notes"            # per-chunk counters of a chunk-wise node, one stream beside its records
LLM_FOLDER = "llm"         # <cache>/llm: the LLM response cache
REFS = "refs"              # a reference chunk's key (see the module docstring)
Origin = tuple[str, str, int, int]  # where a stored record lives: (node fp, stream, chunk, position)
Place = tuple[str, str, int, int, bool]  # an Origin, and whether the record's private keys are dropped on reading
Run = tuple[str, str, int, int, int, bool]  # records [start, stop) of chunk i of a node's stream: (fp, stream, i, start,
#                                             stop, strip) — consecutive Places


class LostChunk(KeyError):
    """A chunk of a node whose meta says it is finished is missing or damaged."""

    def __init__(self, fp: str, stream: str, i: int) -> None:
        super().__init__(f"node {fp[:12]} lost chunk {i} of {stream}")
        self.fp, self.stream, self.i = fp, stream, i


def meta_key(fp: str) -> str:
    return f"meta/{fp}"


def chunk_key(fp: str, stream: str, i: int) -> str:
    return f"chunk/{fp}/{stream}/{i}"


def key_node(key: str) -> tuple[str, str]:
    """(kind, node fingerprint) of a store key: kind is "meta" or "chunk"."""
    kind, fp = key.split("/", 2)[:2]
    return kind, fp


class Store:
    """The build cache of one folder. ``dropped`` counts damaged entries read as missing, and
    ``moved_aside`` lists the broken indexes (build cache, LLM cache) moved out of the way."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cache = CacheDB(path, compress=True)  # record chunks: zstd, ~10× smaller
        self.moved_aside: list[Path] = [p for p in [self.cache.moved_aside] if p is not None]
        # the last chunk read per (stream, raw): (index, records, places — see ``origins`` — or None)
        self._resolved: dict[tuple[str, str, bool], tuple[int, list[dict[str, Any]], list[Place] | None]] = {}
        llm = path / LLM_FOLDER
        if llm.is_dir():  # opened later by the LLM steps (maybe in other processes): repair it here, once
            moved = repair_index(llm)
            if moved is not None:
                self.moved_aside.append(moved)

    @property
    def dropped(self) -> int:
        return self.cache.dropped

    def close(self) -> None:
        self.cache.close()

    def meta(self, fp: str) -> dict[str, Any] | None:
        value = self.cache.get(meta_key(fp))
        return value if isinstance(value, dict) else None

    def finish(self, fp: str, meta: dict[str, Any]) -> None:
        self.cache.set(meta_key(fp), meta)

    def chunk(self, fp: str, i: int, stream: str = MAIN) -> list[dict[str, Any]] | None:
        """Chunk i of a stream (a reference chunk resolved), or None when it or what it refers to is missing."""
        found = self._chunk_places(fp, i, stream)
        return None if found is None else found[0]

    def _chunk_places(self, fp: str, i: int, stream: str,
                      raw: bool = False) -> tuple[list[dict[str, Any]], list[Place] | None] | None:
        """(records, where each is first stored) of chunk i; places are None for a chunk of records. ``raw``: the
        records as first stored, private keys kept and no fields set (for readers that pick their own fields)."""
        memo = self._resolved.get((fp, stream, raw))
        if memo is not None and memo[0] == i:
            return memo[1], memo[2]
        value = self.cache.get(chunk_key(fp, stream, i))
        if isinstance(value, dict) and REFS in value:
            found = self._resolve(value, raw)
            if found is not None:
                self._resolved[(fp, stream, raw)] = (i, *found)
            return found
        return (value, None) if isinstance(value, list) else None

    def _resolve(self, view: dict[str, Any], raw: bool) -> tuple[list[dict[str, Any]], list[Place] | None] | None:
        out: list[dict[str, Any]] = []
        places: list[Place] | None = None if view.get("set") else []  # records with fields set live here (no places)
        view_strip = bool(view.get("strip"))
        for ref in view[REFS]:
            src_fp, src_stream, j, runs = ref[:4]
            strip = len(ref) > 4 and bool(ref[4])
            found = self._chunk_places(src_fp, j, src_stream, raw)
            if found is None:
                return None
            src, src_places = found
            for start, stop in runs:
                if stop > len(src):
                    return None
                out += strip_private(src[start:stop]) if strip and not (raw or view_strip) else src[start:stop]
                if places is not None:
                    strip_here = strip or view_strip
                    places += ([(src_fp, src_stream, j, p, strip_here) for p in range(start, stop)]
                               if src_places is None else
                               [(*place[:4], place[4] or strip_here) for place in src_places[start:stop]])
        if view_strip and not raw:
            out = strip_private(out)
        if view.get("set") and not raw:
            out = [{**r, **view["set"]} for r in out]
        return out, places

    def put_chunk(self, fp: str, i: int, records: list[Any], stream: str = MAIN, packed: Packed | None = None) -> None:
        """Store chunk i of records (``packed``: the records as ``cachedb.pack`` made them with this store's
        compression, so they are not encoded again)."""
        self._forget(fp, stream)
        self.cache.set(chunk_key(fp, stream, i), records, packed)

    def put_refs(self, fp: str, i: int, refs: list[list[Any]], stream: str = MAIN, *, strip: bool = False,
                 fields: dict[str, Any] | None = None) -> None:
        """Store chunk i as references to records of earlier chunks (``RefWriter`` builds ``refs``)."""
        self._forget(fp, stream)
        self.cache.set(chunk_key(fp, stream, i), {REFS: refs, "strip": strip, "set": fields or {}})

    def _forget(self, fp: str, stream: str) -> None:
        for raw in (False, True):
            self._resolved.pop((fp, stream, raw), None)

    def chunk_count(self, fp: str, stream: str = MAIN) -> int:
        """How many chunks a stored node's stream has (LostChunk when the node is not stored: no meta)."""
        meta = self.meta(fp)
        if meta is None:
            raise LostChunk(fp, stream, 0)
        return int(meta["chunks"].get(stream, 0))

    def _chunks(self, fp: str, stream: str,
                raw: bool) -> Iterator[tuple[int, list[dict[str, Any]], list[Place] | None]]:
        """(index, records, places) of every chunk of a stream in order; LostChunk for a missing or damaged one
        (the executor rebuilds that node and runs again)."""
        for i in range(self.chunk_count(fp, stream)):
            found = self._chunk_places(fp, i, stream, raw)
            if found is None:
                raise LostChunk(fp, stream, i)
            yield i, *found

    def origin_chunk(self, fp: str, i: int, stream: str = MAIN, *,
                     raw: bool = False) -> tuple[list[Place], list[dict[str, Any]]]:
        """Chunk i's records with where each one is first stored (through reference chunks, so a node that passes
        records on refers to the records themselves, however many nodes passed them before): (places, records);
        LostChunk when it is missing or damaged."""
        found = self._chunk_places(fp, i, stream, raw)
        if found is None:
            raise LostChunk(fp, stream, i)
        records, places = found
        return (places if places is not None else [(fp, stream, i, p, False) for p in range(len(records))]), records

    def read(self, fp: str, stream: str = MAIN, *, raw: bool = False) -> Iterator[list[dict[str, Any]]]:
        for _, records, _ in self._chunks(fp, stream, raw):
            yield records

    def records(self, fp: str, stream: str = MAIN, *, raw: bool = False) -> Iterator[dict[str, Any]]:
        """The records of a stream in order; ``raw``: as first stored (see ``_chunk_places``)."""
        for chunk in self.read(fp, stream, raw=raw):
            yield from chunk

    def runs(self, fp: str, stream: str = MAIN) -> Iterator[Run]:
        """The records of a stream as runs of the places its reference chunks name, read without the records (the
        write node digests a shard's rows from them). The references are taken as origins, as a pass-through node
        stores them (``origin_chunk``); a chunk of records is one run of itself. LostChunk for a missing chunk of the
        stream; the chunks the references name are not opened (``rows`` reads them)."""
        for i in range(self.chunk_count(fp, stream)):
            value = self.cache.get(chunk_key(fp, stream, i))
            if isinstance(value, list):
                yield fp, stream, i, 0, len(value), False
            elif isinstance(value, dict) and REFS in value:
                view_strip = bool(value.get("strip"))
                for ref in value[REFS]:
                    strip = view_strip or (len(ref) > 4 and bool(ref[4]))
                    for start, stop in ref[3]:
                        yield ref[0], ref[1], ref[2], start, stop, strip
            else:
                raise LostChunk(fp, stream, i)

    def rows(self, runs: Iterable[Run]) -> Iterator[dict[str, Any]]:
        """The records of ``runs`` (see ``runs``) as first stored (private keys kept, no fields set); LostChunk
        for a chunk that is missing or damaged, so the executor rebuilds the node that stored it."""
        last: tuple[tuple[str, str, int], list[dict[str, Any]]] | None = None
        for fp, stream, i, start, stop, _ in runs:
            if last is None or last[0] != (fp, stream, i):
                found = self._chunk_places(fp, i, stream, raw=True)
                if found is None:
                    raise LostChunk(fp, stream, i)
                last = (fp, stream, i), found[0]
            if stop > len(last[1]):
                raise LostChunk(fp, stream, i)
            yield from last[1][start:stop]

    def forget_chunk(self, fp: str, stream: str, i: int) -> None:
        """Make chunk i of a chunk-wise node count as missing: its notes entry (the commit) goes."""
        if stream == MAIN:
            self.cache.delete(chunk_key(fp, NOTES, i))

    def forget_reads(self) -> None:
        """Drop the resolved chunks remembered for sequential reads (a long-lived Store between tasks)."""
        self._resolved.clear()

    def invalidate(self, fp: str) -> None:
        self._resolved = {k: v for k, v in self._resolved.items() if k[0] != fp}
        self.cache.delete(meta_key(fp))


class ChunkWriter:
    """Buffers records and stores them in fixed-size chunks of one stream."""

    def __init__(self, store: Store, fp: str, size: int, stream: str = MAIN) -> None:
        self.store, self.fp, self.size, self.stream = store, fp, size, stream
        self.buffer: list[dict[str, Any]] = []
        self.chunks = 0
        self.count = 0

    def add(self, record: dict[str, Any]) -> None:
        self.buffer.append(record)
        self.count += 1
        if len(self.buffer) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.store.put_chunk(self.fp, self.chunks, self.buffer, self.stream)
            self.chunks += 1
            self.buffer = []


KEPT_PRIVATE = frozenset({"_kind", "_group"})
"""``_``-prefixed keys that outlive the check: ``_kind`` (basic / compound) feeds the card's realised mixture,
``_group`` (`split_by:`) the split, also behind the nodes that read records stripped (ratio, mixture)."""


def is_private(key: str) -> bool:
    return key.startswith("_") and key not in KEPT_PRIVATE


def strip_private(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``records`` without their private keys (the keys are looked at once per record shape)."""
    out, shape, private = [], None, []
    for record in records:
        if record.keys() != shape:
            shape, private = record.keys(), [k for k in record if is_private(k)]
        copy = record.copy()
        for k in private:
            del copy[k]
        out.append(copy)
    return out


class RefWriter:
    """``ChunkWriter`` for records passed through: stores where they are (``Origin``), not the records;
    ``strip`` and ``fields`` are applied when the chunks are read."""

    def __init__(self, store: Store, fp: str, size: int, stream: str = MAIN, *, strip: bool = False,
                 fields: dict[str, Any] | None = None) -> None:
        self.store, self.fp, self.size, self.stream = store, fp, size, stream
        self.strip, self.fields = strip, fields
        self.refs: list[list[Any]] = []
        self.pending = 0
        self.chunks = 0
        self.count = 0

    def extend(self, origins: Sequence[Origin | Place]) -> None:
        """Refer to the records at ``origins``, in order (one call a chunk of records), a chunk stored every
        ``size`` of them."""
        at = 0
        while at < len(origins):
            take = origins[at:at + self.size - self.pending]
            extend_refs(self.refs, take)
            self.pending += len(take)
            self.count += len(take)
            at += len(take)
            if self.pending >= self.size:
                self.flush()

    def flush(self) -> None:
        if self.pending:
            self.store.put_refs(self.fp, self.chunks, self.refs, self.stream, strip=self.strip, fields=self.fields)
            self.chunks += 1
            self.refs, self.pending = [], 0


def extend_refs(refs: list[list[Any]], origins: Iterable[Origin | Place]) -> None:
    """Append records' origins to ``refs``, each extending the last run when it continues it. A ``Place`` whose
    record loses its private keys on reading makes a reference ``[fp, stream, i, runs, True]``."""
    last = refs[-1] if refs else None
    for origin in origins:
        strip = len(origin) > 4 and bool(origin[4])
        p = origin[3]
        if (last is not None and last[2] == origin[2] and last[0] == origin[0] and last[1] == origin[1]
                and (len(last) > 4) == strip):
            run = last[3][-1]
            if run[1] == p:
                run[1] = p + 1
            else:
                last[3].append([p, p + 1])
        else:
            last = [origin[0], origin[1], origin[2], [[p, p + 1]], True] if strip else \
                [origin[0], origin[1], origin[2], [[p, p + 1]]]
            refs.append(last)


def subset_refs(fp: str, i: int, chunk: Sequence[dict[str, Any]], out: Sequence[dict[str, Any]],
                stream: str = MAIN) -> list[list[Any]] | None:
    """References for ``out`` when every record of it *is* a record of input chunk i of ``fp`` (a filter's
    output), else None (the records are new: store them)."""
    positions = subset_positions(chunk, out)
    if positions is None:
        return None
    refs: list[list[Any]] = []
    extend_refs(refs, [(fp, stream, i, p) for p in positions])
    return refs


def subset_positions(chunk: Sequence[dict[str, Any]], out: Sequence[dict[str, Any]]) -> list[int] | None:
    """The position in ``chunk`` of each record of ``out`` when every one *is* a record of it, else None."""
    where = {id(r): p for p, r in enumerate(chunk)}
    positions = [where.get(id(record), -1) for record in out]
    return None if -1 in positions else positions
