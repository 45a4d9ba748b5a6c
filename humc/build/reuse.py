"""Record-level reuse across edits: an edit renders and checks again only what it changes.

A render node's fingerprint covers its whole input and configuration, so any edit makes it a new
node. Most edits change few records, though: a template edit changes only the instructions that
chose that template, a 1% source edit only 1% of the records. So beside every render chunk the
executor stores an *index* (``MEMO`` stream): per input record, a digest of the record, how many
instructions it gave and the problems that dropped any. When a new render node has the same
*shape* as an earlier one — the same configuration except the templates' and guidelines' texts,
the same label set; its input may differ — chunk i of the new node reuses, record by record, the
earlier chunk i's instructions of every record whose digest is unchanged (``Reuse.start``):

* as they are, when its instructions all used templates whose text is unchanged and no guideline
  text changed;
* else with their texts rendered again (``rendering.retexted``), when none of its instructions was
  dropped: the draws, gold, answers and labels shown do not depend on those texts;
* else (a dropped instruction, whose problem may have been in the text) it is rendered whole, as
  are records whose digest changed.

The result, its counts and problem locations are exactly those of a full render.

Scope: entries with the default `mix:` only. With stratified mix draws, a record's instructions
depend on the draws of the records before it in its chunk, so such entries render whole chunks.
``reuse/<shape>`` names the newest render node of a shape (``humc cache gc`` keeps it while that
node is kept).

The check is reused the same way, by what it reads (``PriorChecks``): its verdict on an instruction
is a function of the entry's task, rules and formats and of the record's ``CHECK_FIELDS`` alone
(not the instruction text, the template or the guidelines). So a check keeps, unchecked, every
record whose check fields equal those of a record the newest earlier check of the same entry
(``checked/<check shape>``) passed: after a guideline edit every instruction's text is rendered
again but none is checked again. Everything else is checked; the result is the same.

Both run in the local executor, where a render or check node runs by itself; the render and check
that follow an LLM node while it is answered (``execute.followers``) do all their records, as do
the Ray executor's tasks.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import humc
from humc import FORMAT_VERSION
from humc.build.plan import PlanNode
from humc.build.problems import Located, Problem, ProblemLog
from humc.build.rendering import RenderContext, retexted
from humc.build.store import MAIN, LostChunk, Store
from humc.errors import HumcError
from humc.ir import TaskEntry

MEMO = "memo"            # the per-record index stored beside each render chunk
REUSE_PREFIX = "reuse/"  # reuse/<shape> -> fingerprint of the newest render node of that shape
CHECKED_PREFIX = "checked/"  # checked/<check shape> -> fingerprint of the newest check node of that shape
# every field of an instruction record that ``checking.check_rendered`` reads to decide (its location aside)
CHECK_FIELDS = ("gold", "output", "answer_format", "labels", "_empty", "_rules", "_text", "_span_text",
                "_every_mention")
# per input record: [instructions given, [[reason, detail], ...], gold rows outside labels, templates rendered, digest]
RecordIndex = list[Any]

_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)


def record_digest(record: dict[str, Any]) -> str:
    """A digest of everything a record holds (a lone surrogate, which JSON allows in a string, included)."""
    return hashlib.blake2b(_JSON.encode(record).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def text_digests(entry: TaskEntry) -> dict[str, Any]:
    """The digests of the texts a render shape leaves out: "templates" (by the name an instruction record carries,
    "task/id", unique in an entry) and "guidelines" (``[id, digest]`` in order: two may share an id)."""
    return {"templates": {f"{t.task}/{t.id}": t.digest for t in entry.templates},
            "guidelines": [[g.id, g.digest] for g in entry.guidelines]}


def render_shape(node: PlanNode, labels: tuple[str, ...] | None) -> str:
    """The render node's configuration without its templates' and guidelines' texts, with its label set: equal
    shapes render every record whose templates and guidelines are unchanged to the same instructions, and any other
    record that gave no problem to the same instructions but for their texts."""
    config = dict(node.config)
    config["templates"] = [name for name, _ in config.get("templates", [])]
    config["guidelines"] = [name for name, _ in config.get("guidelines", [])]
    # humc's own version too: records are reused only from a render by the same release of the renderer
    payload = _JSON.encode({"v": FORMAT_VERSION, "humc": humc.__version__, "config": config, "labels": labels})
    return hashlib.sha256(payload.encode()).hexdigest()


def index_entry(given: int, problems: list[Problem], outside: int, templates: set[str],
                record: dict[str, Any]) -> RecordIndex:
    return [given, [[p.reason, p.detail] for p in problems], outside, sorted(templates), record_digest(record)]


def store_memo(store: Store, fp: str, i: int, index: list[RecordIndex], texts: dict[str, Any]) -> None:
    store.put_chunk(fp, i, [index, texts], MEMO)


def by_record(records: list[dict[str, Any]], index: list[RecordIndex]) -> list[list[dict[str, Any]]]:
    """A render chunk's records cut per input record, by the instructions each gave (its index entry)."""
    out, at = [], 0
    for entry in index:
        out.append(records[at:at + entry[0]])
        at += entry[0]
    return out


def rebuild(records_by_input: list[list[dict[str, Any]]], index: list[RecordIndex],
            chunk: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any, dict[str, list[Located]], list[RecordIndex]]:
    """A render chunk's result from each input record's instructions and index entry, in record order: the same
    records, notes and first problem locations a render of the whole chunk gives."""
    out: list[dict[str, Any]] = []
    log, outside = ProblemLog(), 0
    for record, given, entry in zip(chunk, records_by_input, index, strict=True):
        out += given
        outside += entry[2]
        for reason, detail in entry[1]:
            log.add(Problem(reason, detail), record["_source"], record["_row"], record.get("_line"))
    notes = log.notes()
    if outside:
        notes["gold rows outside labels: removed"] = outside
    return out, notes, log.first, index


@dataclass
class _Combined:
    """A chunk whose reused records are known and whose other records are being rendered (``fresh``)."""

    chunk: list[dict[str, Any]]
    reused: dict[int, tuple[list[dict[str, Any]], RecordIndex]]   # position -> (instructions, index entry)
    fresh_positions: list[int]
    fresh: Any  # Pending of the render of the fresh records, or None

    def result(self) -> Any:
        given: list[list[dict[str, Any]]] = [[] for _ in self.chunk]
        index: list[RecordIndex] = [[] for _ in self.chunk]  # every position is filled below
        for k, (records, entry) in self.reused.items():
            given[k], index[k] = records, entry
        if self.fresh is not None:
            records, _, _, fresh_index = self.fresh.result()
            for k, given_k, entry in zip(self.fresh_positions, by_record(records, fresh_index), fresh_index,
                                         strict=True):
                given[k], index[k] = given_k, entry
        return rebuild(given, index, self.chunk)

    def cancel(self) -> bool:
        return self.fresh.cancel() if self.fresh is not None else True


class Reuse:
    """Starts render chunks reusing the instructions of an earlier render node of the same shape."""

    def __init__(self, store: Store, previous: str, ctx: RenderContext) -> None:
        self.store, self.previous, self.ctx, self.texts = store, previous, ctx, text_digests(ctx.entry)
        self.counts: Counter[str] = Counter()  # source records of the chunks started: kept, retexted, rendered

    @staticmethod
    def find(store: Store, node: PlanNode, ctx: RenderContext) -> tuple[str, Reuse | None]:
        """(the key naming the newest render node of this node's shape — ``remember`` it once the node is committed
        —, a Reuse of that node when it is another one, or None)."""
        key = REUSE_PREFIX + render_shape(node, ctx.labels)
        previous = _newest_other(store, key, node) if ctx.entry.mix.is_default else None
        return key, None if previous is None else Reuse(store, previous, ctx)

    def start(self, i: int, chunk: list[dict[str, Any]], submit: Callable[[list[dict[str, Any]]], Any]) -> Any:
        memo: list[Any] | None = self.store.chunk(self.previous, i, MEMO)
        if not memo or len(memo) != 2 or not isinstance(memo[1], dict) or "guidelines" not in memo[1]:
            return submit(chunk)  # gone, or another layout
        earlier = self.store.chunk(self.previous, i, MAIN)
        if earlier is None:
            return submit(chunk)
        index: list[RecordIndex] = memo[0]
        changed = {name for name, digest in self.texts["templates"].items() if memo[1]["templates"].get(name) != digest}
        guidelines_changed = self.texts["guidelines"] != memo[1]["guidelines"]
        before = {entry[4]: (given, entry) for given, entry in zip(by_record(earlier, index), index, strict=True)}
        reused: dict[int, tuple[list[dict[str, Any]], RecordIndex]] = {}
        fresh: list[int] = []
        for k, record in enumerate(chunk):
            found = before.get(record_digest(record))
            texts = None if found is None else self.reused(record, found, changed, guidelines_changed)
            if found is None or texts is None:
                fresh.append(k)
            else:
                reused[k] = texts, found[1]
                self.counts["kept" if texts is found[0] else "retexted"] += 1
        self.counts["rendered"] += len(fresh)
        pending = submit([chunk[k] for k in fresh]) if fresh else None
        return _Combined(chunk, reused, fresh, pending)

    def reused(self, record: dict[str, Any], found: tuple[list[dict[str, Any]], RecordIndex], changed: set[str],
               guidelines_changed: bool) -> list[dict[str, Any]] | None:
        """The instructions of an unchanged record: the earlier ones, or them with their texts rendered again, or
        None (render it whole; see the module docstring)."""
        given, entry = found
        if not guidelines_changed and changed.isdisjoint(entry[3]):  # every template rendered for it, dropped or not
            return given
        if entry[1]:  # an instruction was dropped: its problem may have been in the text
            return None
        try:
            return retexted(self.ctx, record, given)
        except HumcError:  # rendered whole, in record order with the other fresh records: a cold build's first error
            return None


def _newest_other(store: Store, key: str, node: PlanNode) -> str | None:
    """The node ``key`` names (``reuse/<shape>``, ``checked/<shape>``) when it is stored and is not ``node``."""
    previous = store.cache.get(key)
    if not isinstance(previous, str) or previous == node.fingerprint or store.meta(previous) is None:
        return None
    return previous


def remember(store: Store, key: str, fp: str) -> None:
    """Node ``fp`` is the newest of the shape ``key`` names (called when it is committed)."""
    store.cache.set(key, fp)


def check_shape(entry: TaskEntry, constants: dict[str, Any], recipe: str) -> str:
    """What a check of ``entry`` decides by besides a record's ``CHECK_FIELDS``: equal shapes give every record the
    same verdict. The recipe's name too, though the check does not read it: instruction ids include it, so the
    ``--ablate`` siblings (other names) do not take the key from the recipe's own check."""
    payload = _JSON.encode({"v": FORMAT_VERSION, "humc": humc.__version__, "recipe": recipe, "entry": entry.id,
                            "task": [entry.task.id, entry.task.digest], "language": entry.language,
                            "rules": [(r.id, r.digest) for r in entry.rules],
                            "variants": [(v.id, v.digest, repr(v.spec)) for v in entry.variants], "constants": constants})
    return hashlib.sha256(payload.encode()).hexdigest()


def check_fields(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(map(record.get, CHECK_FIELDS))


class PriorChecks:
    """The records the newest earlier check of the same shape passed, chunk by chunk (see the module docstring)."""

    def __init__(self, store: Store, previous: str) -> None:
        self.store, self.previous = store, previous
        self.kept = 0  # records kept unchecked so far

    @staticmethod
    def find(store: Store, node: PlanNode, entry: TaskEntry, constants: dict[str, Any],
             recipe: str) -> tuple[str, PriorChecks | None]:
        """(the key naming the newest check node of this node's shape — ``remember`` it once the node is committed
        —, the PriorChecks of that node when it is another one, or None)."""
        key = CHECKED_PREFIX + check_shape(entry, constants, recipe)
        previous = _newest_other(store, key, node)
        return key, None if previous is None else PriorChecks(store, previous)

    def passed(self, i: int) -> Callable[[dict[str, Any]], bool] | None:
        """Whether a record's check fields equal those of a record chunk i of the earlier check kept (None: that
        chunk is gone, check every record). Records are looked up by id; equal fields, not the id, decide."""
        try:
            _, kept = self.store.origin_chunk(self.previous, i, raw=True)
        except LostChunk:
            return None
        before = {record.get("id"): check_fields(record) for record in kept}

        def passed(record: dict[str, Any]) -> bool:
            if before.get(record.get("id")) != check_fields(record):
                return False
            self.kept += 1
            return True

        return passed

