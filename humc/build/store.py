"""Node results on disk: content-addressed by node fingerprint, chunked, checksummed.

A node's output is a set of named streams of record chunks. Chunks are written as they
are produced and the node's ``meta`` is written last, as its commit marker: a build that
is killed mid-node keeps every finished chunk, and the next build resumes from them.

Every value goes through ``humc.cachedb`` (digest checked before it is loaded). A damaged
entry reads as missing and is counted in ``dropped``: a damaged meta makes its node run again
(resuming from its chunks), and a damaged chunk of a node that looked finished raises
``LostChunk`` while a later node reads it, so the executor invalidates that node and runs
again, recomputing only what is gone. Keys are ``meta/<fp>`` and ``chunk/<fp>/<stream>/<i>``;
the LLM response cache lives beside them in ``<cache>/llm``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from humc.cachedb import CacheDB, repair_index

MAIN = "main"
NOTES = "notes"            # per-chunk counters of a chunk-wise node, one stream beside its records
LLM_FOLDER = "llm"         # <cache>/llm: the LLM response cache


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
        self.cache = CacheDB(path)
        self.moved_aside: list[Path] = [p for p in [self.cache.moved_aside] if p is not None]
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
        value = self.cache.get(chunk_key(fp, stream, i))
        return value if isinstance(value, list) else None

    def put_chunk(self, fp: str, i: int, records: list[dict[str, Any]], stream: str = MAIN) -> None:
        self.cache.set(chunk_key(fp, stream, i), records)

    def read(self, fp: str, stream: str = MAIN) -> Iterator[list[dict[str, Any]]]:
        meta = self.meta(fp)
        if meta is None:
            raise LostChunk(fp, stream, 0)
        for i in range(meta["chunks"].get(stream, 0)):
            chunk = self.chunk(fp, i, stream)
            if chunk is None:  # damaged or deleted: the executor rebuilds this node and runs again
                raise LostChunk(fp, stream, i)
            yield chunk

    def records(self, fp: str, stream: str = MAIN) -> Iterator[dict[str, Any]]:
        for chunk in self.read(fp, stream):
            yield from chunk

    def invalidate(self, fp: str) -> None:
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
