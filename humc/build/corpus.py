"""The corpus tail's pass-through nodes: merge, dedup, decontaminate and split over stored chunks.

These nodes pass records on (or drop them) and store *references* to where each record is first stored
(``Store.origin_chunk``), never copies, so the corpus is not copied once per node. ``execute._run_pass_through``
runs consecutive ones in one pass over the chunks: each chunk read once goes through merge, dedup and split in
turn, while each node keeps its own stored chunks and meta (caching and resuming stay per node).

Most of them read only a few fields of a record (``SLIM_FIELDS``) and its dedup key, so beside each input chunk a
*pass memo* is stored (``pass_chunks``): the places, those fields by column, and the keys' first bytes. A later
pass reads the memo and unpickles no record; dedup reads a chunk's records only when a key prefix comes again.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from humc.build.mixing import DIMENSION_KEYS, REALISED, Realised, held_out_match
from humc.build.plan import PlanNode
from humc.build.store import MAIN, Place, RefWriter, Store, chunk_key
from humc.build.transforms import HashPrefix, ngram_hashes, strings_in
from humc.ir import HELD_OUT_DROPPED, Recipe
from humc.sources import read_source

if TYPE_CHECKING:  # the executor's per-node counters; execute imports this module
    from humc.build.execute import NodeStats

PREFIX = 6  # bytes of a dedup key in a pass memo: a prefix seen twice (a duplicate, or ~n²/2⁴⁹ pairs by chance)
#             makes dedup read the two chunks' records to compare the full keys
MIXTURE_FIELDS = tuple(DIMENSION_KEYS[dim] for dim in REALISED)  # the fields ``Realised.add`` reads
PASS_MEMO = "pass"  # chunk/<input fp>/pass/<i>: what the pass-through nodes read of that node's chunk i
PASS_MEMO_VERSION = 4  # bump when the memo's layout, SLIM_FIELDS or dedup keys change (4: answer rows in any order)
SLIM_FIELDS = ("task", "task_entry", "source", "source_row", "language", "answer_format", "_kind", "template", "labels",
               "_group")
NONE_IF_ABSENT = ("_group",)  # set by `split_by:` alone: None where absent, so the memo need not mark missing fields
"""The fields a pass-through node other than decontaminate reads: the split's row key, ``held_out_match`` and
``Realised.add`` (``mixing.DIMENSION_KEYS``)."""


def dedup_key(record: dict[str, Any]) -> bytes:
    """The 128-bit digest of a record's (instruction, output), stripped, that dedup compares; an answer of several
    rows is compared as its format and its rows in sorted order (``_answer_key``)."""
    instruction = record["instruction"].strip().encode()
    return hashlib.blake2b(len(instruction).to_bytes(8, "big") + instruction + _answer_key(record),
                           digest_size=16).digest()  # length-prefixed: no two different pairs give the same bytes


def _answer_key(record: dict[str, Any]) -> bytes:
    """What dedup compares of the answer: the output, stripped; for a gold of several rows (``gold_json``'s
    ``[{…}, {…}]``), its format and its rows sorted. Two copies of one instruction whose answers list the same rows
    in another order (a multi-label row annotated `a,b` and again `b,a`) are one answer: an order the instruction
    asks for (a stated ordering rule) is the same in both, any other order means nothing."""
    gold = record.get("gold")
    if type(gold) is not str or "}, {" not in gold:
        output: str = record["output"]
        return b"o" + output.strip().encode()
    return b"r" + str(record.get("answer_format")).encode() + _sorted_rows(gold)


_ROW_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


@lru_cache(maxsize=1024)
def _sorted_rows(gold: str) -> bytes:
    """A gold answer's rows, each as canonical JSON, sorted, each after a NUL (which JSON text never holds raw); the
    variants of one source row share their gold and come one after another, so the cache reads it once a row."""
    return "".join("\0" + row for row in sorted(_ROW_JSON.encode(row) for row in json.loads(gold))).encode()


class ChunkKeys:
    """The dedup keys of one input chunk: their first ``PREFIX`` bytes (``prefix``) and the full keys (``full``:
    kept when the records were read, else computed from them when first asked for — the pass memo stores only
    prefixes). ``settle`` drops full keys nobody compared, so dedup's memory grows by its prefix index only."""

    def __init__(self, prefixes: bytes, records: Callable[[], list[dict[str, Any]]],
                 full: list[bytes] | None = None) -> None:
        self.prefixes, self._records, self._full, self._compared = prefixes, records, full, False

    @classmethod
    def of(cls, records: list[dict[str, Any]], read: Callable[[], list[dict[str, Any]]]) -> ChunkKeys:
        full = [dedup_key(record) for record in records]
        return cls(b"".join(key[:PREFIX] for key in full), read, full)

    def prefix(self, p: int) -> int:
        return int.from_bytes(self.prefixes[PREFIX * p:PREFIX * (p + 1)], "big")

    def prefix_ints(self) -> list[int]:
        """Every position's ``prefix``."""
        b = self.prefixes
        return [int.from_bytes(b[k:k + PREFIX], "big") for k in range(0, len(b), PREFIX)]

    def full(self, p: int) -> bytes:
        self._compared = True
        if self._full is None:
            self._full = [dedup_key(record) for record in self._records()]
        return self._full[p]

    def settle(self) -> None:
        """The pass has moved past this chunk: drop its prefixes (dedup's index holds those it kept), and its full
        keys unless one was compared."""
        if not self._compared:
            self._full = None
        self.prefixes = b""


@dataclass
class PassChunk:
    """One input chunk as the pass-through nodes read it: where its records are first stored (``places``), their
    ``SLIM_FIELDS`` by column (``_Missing`` where a record has no such field), their dedup keys, and the records
    themselves when they were read (``records``; else ``rows`` makes slim ones from the columns)."""

    places: list[Place]
    keys: ChunkKeys
    records: list[dict[str, Any]] | None = None
    slim: dict[str, list[Any]] | None = None
    missing: bool = True  # whether a column may hold ``_Missing``

    @property
    def columns(self) -> dict[str, list[Any]]:
        if self.slim is None:
            assert self.records is not None
            self.slim = _slim(self.records)
        return self.slim

    def rows(self) -> list[dict[str, Any]]:
        if self.records is None:
            self.records = _rows(self.columns, self.missing)
        return self.records

    def column(self, name: str, at: list[int]) -> list[Any]:
        """A field's values at positions ``at`` (None for a record without it, as ``dict.get`` gives)."""
        values = self.pick(self.columns[name], at)
        return [None if v is _Missing else v for v in values] if self.missing else values

    @staticmethod
    def pick(values: list[Any], at: list[int]) -> list[Any]:
        """``values`` at positions ``at`` (ascending, so as many as there are values means all of them)."""
        return values if len(at) == len(values) else [values[p] for p in at]


def pass_chunks(store: Store, fp: str, *, text: bool) -> Iterator[PassChunk]:
    """Each chunk of node ``fp`` for the pass-through nodes (``PassChunk``). The records are read
    (raw: the fields they read are public) and a pass memo of the chunk is stored beside it: the places, the
    ``SLIM_FIELDS`` of the records (by column) and their dedup keys' first ``PREFIX`` bytes. A later pass that
    needs no more (``text`` False) reads the memo instead and unpickles no record (dedup reads the records of a
    chunk only to compare a key prefix it saw before: ``ChunkKeys``). The chunk's content is fixed by ``fp``, so the memo stays valid while
    the node is stored (``humc cache gc`` keeps it with the node's chunks)."""
    for i in range(store.chunk_count(fp)):
        memo = None if text else store.cache.get(chunk_key(fp, PASS_MEMO, i))
        if isinstance(memo, dict) and memo.get("v") == PASS_MEMO_VERSION and memo.get("prefix") == PREFIX:
            yield PassChunk(memo["places"], ChunkKeys(memo["prefixes"], partial(_records_of, store, fp, i)),
                            slim=memo["columns"], missing=memo["missing"])
            continue
        places, records = store.origin_chunk(fp, i, raw=True)
        chunk = PassChunk(places, ChunkKeys.of(records, partial(_records_of, store, fp, i)), records)
        if not text:
            chunk.missing = _put_pass_memo(store, fp, i, places, chunk.columns, chunk.keys.prefixes)
        yield chunk


def _put_pass_memo(store: Store, fp: str, i: int, places: list[Place], columns: dict[str, list[Any]],
                   prefixes: bytes) -> bool:
    """Store chunk i's pass memo; whether a column holds ``_Missing``."""
    missing = any(_Missing in column for column in columns.values())
    store.cache.set(chunk_key(fp, PASS_MEMO, i), {
        "v": PASS_MEMO_VERSION, "prefix": PREFIX, "places": places, "columns": columns, "missing": missing,
        "prefixes": prefixes})
    return missing


@dataclass
class WorkerMemo:
    """The pass memo of a render chunk's records, worked out in the render worker that rendered them (their dedup
    keys' first bytes and ``SLIM_FIELDS``), so the main process — the one serial part of a build with workers —
    neither reads the chunk back nor hashes it; ``put`` stores the memo of the records the check kept."""

    prefixes: bytes
    columns: dict[str, list[Any]]

    @classmethod
    def of(cls, records: list[dict[str, Any]]) -> WorkerMemo:
        return cls(b"".join(dedup_key(record)[:PREFIX] for record in records), _slim(records))

    def put(self, store: Store, fp: str, i: int, places: list[Place], at: list[int]) -> None:
        """Store the pass memo of chunk i of node ``fp``: the records at positions ``at`` of the rendered chunk, which
        are first stored at ``places``."""
        every = len(at) * PREFIX == len(self.prefixes)  # ``at`` ascends: as many as there are records means all
        prefixes = self.prefixes if every else b"".join(self.prefixes[PREFIX * p:PREFIX * (p + 1)] for p in at)
        _put_pass_memo(store, fp, i, places, {name: PassChunk.pick(column, at) for name, column in self.columns.items()},
                       prefixes)


def _records_of(store: Store, fp: str, i: int) -> list[dict[str, Any]]:
    return store.origin_chunk(fp, i, raw=True)[1]


class _Missing:
    """Marks, in a pass memo's column, a record without that field (the class itself: it pickles by name)."""


def _slim(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The ``SLIM_FIELDS`` of the records, by column (``_Missing`` where a record has no such field); equal values
    are one object, so the pickled memo stays small."""
    shared: dict[Any, Any] = {}
    columns: dict[str, list[Any]] = {}
    for name in SLIM_FIELDS:
        column = columns[name] = []
        absent = None if name in NONE_IF_ABSENT else _Missing
        for record in records:
            value = record.get(name, absent)
            value = tuple(value) if isinstance(value, list) else value
            try:
                value = shared.setdefault((name, value), value)
            except TypeError:  # an unhashable value is kept as it is
                pass
            column.append(value)
    return columns


def _rows(columns: dict[str, list[Any]], missing: bool = True) -> list[dict[str, Any]]:
    """The slim records of a pass memo's columns (a field a record did not have, ``missing``, is left out)."""
    names = list(columns)
    rows = zip(*columns.values(), strict=True)
    if missing:
        return [{n: v for n, v in zip(names, values, strict=True) if v is not _Missing} for values in rows]
    return [dict(zip(names, values, strict=True)) for values in rows]


class PassThrough:
    """A corpus node that passes records on (or drops them), one input chunk at a time: merge, dedup, decontaminate,
    split. Its output is references to where the records are first stored (``Store.origin_chunk``), never copies.

    Consecutive pass-through nodes run in one pass over the records (``_run_pass_through``): each chunk read
    once goes through merge, dedup and split in turn, and each node still stores its own chunks and commits its
    own meta, in order, so caching and resuming are per node as before. A node that reads only the fields of
    ``SLIM_FIELDS`` and the dedup key (``needs_text`` False) is given the input chunk's pass memo instead of its
    records when one is stored (``pass_chunks``)."""

    needs_text = False  # reads more of a record than ``SLIM_FIELDS`` and its dedup key

    def __init__(self, store: Store, recipe: Recipe, node: PlanNode, stat: NodeStats, chunk_size: int) -> None:
        self.store, self.recipe, self.node, self.stat = store, recipe, node, stat
        self.writer = RefWriter(store, node.fingerprint, chunk_size)

    def take(self, chunk: PassChunk, at: list[int]) -> list[int]:
        """Count in the records at positions ``at`` of an input chunk, keep them or not; the positions passed on."""
        self.stat.records_in += len(at)
        kept = self.select(chunk, at)
        self.writer.extend(chunk.pick(chunk.places, kept))
        return kept

    def select(self, chunk: PassChunk, at: list[int]) -> list[int]:
        return at

    def finish(self) -> dict[str, Any]:
        self.writer.flush()
        self.stat.records_out = self.writer.count
        return {"chunks": {MAIN: self.writer.chunks}}


class Dedup(PassThrough):
    """Drops a record whose (instruction, output), stripped, was seen before: equal 128-bit ``dedup_key``s. The
    records kept are indexed by their keys' first 48 bits (``ChunkKeys``); only when a prefix comes again are the
    full keys compared (read from the records when the chunk came from its pass memo), so the decisions are
    those of a set of full keys."""

    def __init__(self, store: Store, recipe: Recipe, node: PlanNode, stat: NodeStats, chunk_size: int) -> None:
        super().__init__(store, recipe, node, stat, chunk_size)
        self.enabled, self.removed = bool(node.config["enabled"]), 0
        # key prefix -> where the record kept is (its chunk's number in ``chunks`` << 32 | its position), or a list
        self.seen: dict[int, Any] = {}
        self.chunks: list[ChunkKeys] = []

    def select(self, chunk: PassChunk, at: list[int]) -> list[int]:
        if not self.enabled:
            return at
        keys = chunk.keys
        self.enter(keys)
        prefixes = chunk.pick(keys.prefix_ints(), at)
        if len(set(prefixes)) == len(prefixes) and self.seen.keys().isdisjoint(prefixes):  # no prefix comes again
            here = (len(self.chunks) - 1) << 32
            self.seen.update(zip(prefixes, [here | p for p in at], strict=True))
            return at
        return [p for p in at if self.keep(keys, p)]

    def enter(self, keys: ChunkKeys) -> None:
        """Index positions from here on in ``keys``' chunk (the chunk before it is settled)."""
        if not self.chunks or self.chunks[-1] is not keys:
            if self.chunks:
                self.chunks[-1].settle()
            self.chunks.append(keys)

    def keep(self, keys: ChunkKeys, p: int) -> bool:
        self.enter(keys)
        prefix = keys.prefix(p)
        first = self.seen.get(prefix)
        at = (len(self.chunks) - 1) << 32 | p
        if first is None:
            self.seen[prefix] = at
            return True
        earlier: list[int] = first if isinstance(first, list) else [first]
        full = keys.full(p)
        if any(self.chunks[e >> 32].full(e & 0xFFFFFFFF) == full for e in earlier):
            self.removed += 1
            return False
        self.seen[prefix] = [*earlier, at]  # two different records whose keys share a prefix
        return True

    def finish(self) -> dict[str, Any]:
        self.stat.notes["duplicates removed"] = self.removed
        return super().finish()


class Decontaminate(PassThrough):
    """Drops records whose instruction or output shares an n-gram with an evaluation set."""

    needs_text = True

    def __init__(self, store: Store, recipe: Recipe, node: PlanNode, stat: NodeStats, chunk_size: int) -> None:
        super().__init__(store, recipe, node, stat, chunk_size)
        decon = recipe.output.decontaminate
        assert decon is not None
        self.n, self.banned, self.removed = decon.ngram, set[int](), 0
        for src in decon.against:
            for row in read_source(src):
                for text in strings_in(row.record):
                    self.banned |= ngram_hashes(text, self.n)

    def select(self, chunk: PassChunk, at: list[int]) -> list[int]:
        records = chunk.rows()
        return [p for p in at if self.keep(records[p])]

    def keep(self, record: dict[str, Any]) -> bool:
        if self.banned and not self.banned.isdisjoint(ngram_hashes(record["instruction"] + "\n" + record["output"],
                                                                   self.n)):
            self.removed += 1
            return False
        return True

    def finish(self) -> dict[str, Any]:
        self.stat.notes["contaminated removed"] = self.removed
        self.stat.notes["eval n-grams"] = len(self.banned)
        return super().finish()


class Split(PassThrough):
    """Assigns splits by source row, so all variants of one source example share a split in every entry reading it
    (an EE entry and its EET/EEA sub-task entries over one DuEE text), or by the entry's `split_by:` value
    (``_group``: one passage's questions share one, in every entry). An instruction using a held-out template,
    format, label or task is kept only in a row of the held-out split and left out of the others' rows (`inputs:
    unseen`, the default): it is seen only there, and no text (or gold) of the held-out split is in another one —
    the ablations' splits are the main dataset's; `inputs: shared` moves it there from any row instead. Passes
    nothing on (the write reads it)."""

    def __init__(self, store: Store, recipe: Recipe, node: PlanNode, stat: NodeStats, chunk_size: int) -> None:
        super().__init__(store, recipe, node, stat, chunk_size)
        self.splits, self.seed = node.config["splits"], node.config["seed"]
        self.held = recipe.output.held_out if node.config.get("held_out") else None
        self.writers = {name: RefWriter(store, node.fingerprint, chunk_size, stream=name, fields={"split": name})
                        for name, _ in self.splits}
        # (split, the fields of the realised mixture's dimensions) -> records: ``Realised`` counts once per kind
        self.mixture: Counter[tuple[Any, ...]] = Counter()
        self.last: tuple[tuple[Any, ...], str] = ((), "")  # the variants of one source row come one after another
        self.row_hash = HashPrefix("split", self.seed)  # a row's hash: stable_hash("split", seed, *row)

    def take(self, chunk: PassChunk, at: list[int]) -> list[int]:
        self.stat.records_in += len(at)
        names = self.split_names(chunk, at)
        if self.held is not None:
            at, names = self.place_held_out(chunk, at, names)
        chosen: dict[str, list[Place]] = {name: [] for name in self.writers}
        places = chunk.places
        for p, name in zip(at, names, strict=True):
            chosen[name].append(places[p])
        self.mixture.update(zip(names, *(chunk.column(f, at) for f in MIXTURE_FIELDS), strict=True))
        for name, chunk_places in chosen.items():  # each split's records in order: the same chunks as one by one
            self.writers[name].extend(chunk_places)
        return []

    def split_names(self, chunk: PassChunk, at: list[int]) -> list[str]:
        """The split of each record at ``at``: its row's (hashed once a row). The row is its source row, not its
        entry (one text, one split), or its `split_by:` group."""
        keys = zip(*(chunk.column(f, at) for f in ("source", "source_row", "_group")), strict=True)
        (last_row, last_name), names = self.last, []
        for source, source_row, group in keys:
            row = split_key(source, source_row, group)
            if row != last_row:
                last_row, last_name = row, split_at(self.splits, self.row_hash(*row))
            names.append(last_name)
        self.last = last_row, last_name
        return names

    def place_held_out(self, chunk: PassChunk, at: list[int], names: list[str]) -> tuple[list[int], list[str]]:
        """``at`` and ``names`` with each held-out instruction in the held-out split: kept only in a row of that
        split (`inputs: unseen`, the default), or moved there from any row (`inputs: shared`)."""
        assert self.held is not None
        held, records = self.held, chunk.rows()
        kept_at, kept_names, held_n, dropped = [], [], 0, 0
        for p, name in zip(at, names, strict=True):
            if held_out_match(held, records[p]):
                if name != held.split and held.unseen_inputs:
                    dropped += 1
                    continue
                name, held_n = held.split, held_n + 1
            kept_at.append(p)
            kept_names.append(name)
        notes = self.stat.notes
        for note, n in (("held out", held_n), (HELD_OUT_DROPPED, dropped)):
            if n:
                notes[note] = notes.get(note, 0) + n
        return kept_at, kept_names

    def finish(self) -> dict[str, Any]:
        for w in self.writers.values():
            w.flush()
        self.stat.records_out = sum(w.count for w in self.writers.values())
        realised = Realised()
        for (name, *values), n in self.mixture.items():
            realised.add(name, dict(zip(MIXTURE_FIELDS, values, strict=True)), n)
        return {"chunks": {n: w.chunks for n, w in self.writers.items()},
                "counts": {n: w.count for n, w in self.writers.items()}, "mixture": realised.as_meta()}


PASS_THROUGH: dict[str, type[PassThrough]] = {"merge": PassThrough, "dedup": Dedup, "decontaminate": Decontaminate,
                                              "split": Split}


def split_key(source: Any, source_row: Any, group: Any) -> tuple[Any, ...]:
    """What a record's split is drawn by (hashed with the split seed): its source row, or its `split_by:` group."""
    return (source, source_row) if group is None else ("split_by", group)


def split_at(splits: list[tuple[str, float]] | tuple[tuple[str, float], ...], hashed: int) -> str:
    """The split a 64-bit hash (of a source row: ``Split.row_hash``) falls in: the fractions end to end over [0, 1)."""
    u = hashed / 2**64
    acc = 0.0
    for name, fraction in splits:
        acc += fraction
        if u < acc:
            return name
    return splits[-1][0]


