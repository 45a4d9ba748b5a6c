"""Node results on disk (diskcache): content-addressed by node fingerprint, chunked.

A node's output is a set of named streams of record chunks. Chunks are written as they
are produced and the node's ``meta`` is written last, as its commit marker: a build that
is killed mid-node keeps every finished chunk, and the next build resumes from them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Iterator

import diskcache

from humc.errors import HumcError

MAIN = "main"


class Store:
    def __init__(self, path: Path) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
            self.cache = diskcache.Cache(str(path), size_limit=2**40, eviction_policy="none")
        except (OSError, sqlite3.Error) as exc:
            raise HumcError(f"cannot use {path} as the build cache: {exc}",
                            hint="pass a writable folder with --cache, or set `cache:` in the recipe") from None

    def close(self) -> None:
        self.cache.close()

    def meta(self, fp: str) -> dict[str, Any] | None:
        return self.cache.get(("meta", fp))

    def finish(self, fp: str, meta: dict[str, Any]) -> None:
        self.cache.set(("meta", fp), meta)

    def chunk(self, fp: str, i: int, stream: str = MAIN) -> list[dict[str, Any]] | None:
        return self.cache.get(("chunk", fp, stream, i))

    def put_chunk(self, fp: str, i: int, records: list[dict[str, Any]], stream: str = MAIN) -> None:
        self.cache.set(("chunk", fp, stream, i), records)

    def read(self, fp: str, stream: str = MAIN) -> Iterator[list[dict[str, Any]]]:
        meta = self.meta(fp)
        if meta is None:
            raise KeyError(f"node {fp[:12]} has not been built")
        for i in range(meta["chunks"].get(stream, 0)):
            chunk = self.chunk(fp, i, stream)
            if chunk is None:  # evicted or damaged: treat the node as unbuilt
                raise KeyError(f"node {fp[:12]} lost chunk {i}")
            yield chunk

    def records(self, fp: str, stream: str = MAIN) -> Iterator[dict[str, Any]]:
        for chunk in self.read(fp, stream):
            yield from chunk

    def invalidate(self, fp: str) -> None:
        self.cache.delete(("meta", fp))


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
