"""Answer operations: what a preference rule's `then` pipeline does to a gold answer.

Rules are data (stdlib/rules/*.yaml, or inline in a recipe); these few primitives are
the only code behind them. Each takes the answer state and the record's input text.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from humc.answers.table import AnswerTable


@dataclass(frozen=True)
class AnswerState:
    table: AnswerTable
    empty: str | None = None  # how an empty answer is rendered (set by empty_as)


OpFn = Callable[[AnswerState, str, tuple[Any, ...]], AnswerState]


def _col(state: AnswerState, name: str) -> int:
    if name not in state.table.fields:
        raise KeyError(f"answer has no column '{name}' (columns: {', '.join(state.table.fields)})")
    return state.table.fields.index(name)


def _rows(state: AnswerState, rows: Any) -> AnswerState:
    return AnswerState(state.table.with_rows(rows), state.empty)  # ``replace(state, table=…)``, built directly


def _empty_as(state: AnswerState, text: str, args: tuple[Any, ...]) -> AnswerState:
    return AnswerState(state.table, str(args[0]))


def _sort_by_position(state: AnswerState, text: str, args: tuple[Any, ...]) -> AnswerState:
    """Order rows by where their value occurs in the text (one occurrence per row: mentions).

    Longer values claim their occurrence first and a claimed stretch of text is not reused,
    so in "Paris Hilton met EU officials in Paris" the LOC "Paris" is placed at its own
    occurrence (after "EU"), not inside "Paris Hilton". A row whose value has no unclaimed
    occurrence left shares the last claimed occurrence of that value; values not found go
    last. Claims depend only on the values (equal lengths: in string order), and ties keep
    the input order, so the result is stable and applying it twice equals applying it once.
    Rows that already read left to right (``in_reading_order``) are kept as they are: MSRA's
    [中, 美, 中, 美] of "中美两国…更美好…中美关系" is in order, though the second 美 would claim
    the one of 更美好 first."""
    i = _col(state, args[0])
    rows = state.table.rows
    if in_reading_order([r[i] for r in rows], text) is not None:
        return state
    starts = _claims([r[i] for r in rows], text, per_row=True)
    order = sorted(range(len(rows)), key=starts.__getitem__)  # stable: ties keep the input order
    return _rows(state, [rows[k] for k in order])


def _group_by_position(state: AnswerState, text: str, args: tuple[Any, ...]) -> AnswerState:
    """Order items by where their value first occurs in the text, keeping each item's rows together.

    An *item* is the rows that agree on every column up to and including ``column`` (RE with
    ``head``: every triple of one head; EE with ``trigger``: the rows of one event, i.e. event
    type and trigger). Each distinct value claims one occurrence (longer values first, as in
    ``sort_by_position``); items are ordered by that occurrence, items of one value and rows
    of one item keep their input order, and values not found go last. Applying it twice equals
    applying it once."""
    i = _col(state, args[0])
    rows = state.table.rows
    position = dict(zip((r[i] for r in rows), _claims([r[i] for r in rows], text, per_row=False), strict=True))
    first: dict[tuple[str, ...], int] = {}
    for k, r in enumerate(rows):
        first.setdefault(r[:i + 1], k)
    order = sorted(range(len(rows)), key=lambda k: (position[rows[k][i]], first[rows[k][:i + 1]], k))
    return _rows(state, [rows[k] for k in order])


def in_reading_order(values: list[str], text: str) -> list[int] | None:
    """Where the values occur read one after another, each at its first occurrence after the end of the one before
    (a source listing its mentions left to right, as BIO tags do), or None when one has no such occurrence."""
    starts: list[int] = []
    at = 0
    for value in values:
        start = text.find(value, at) if value else -1
        if start < 0:
            return None
        starts.append(start)
        at = start + len(value)
    return starts


def _claims(values: list[str], text: str, per_row: bool) -> list[int]:
    """The start each value claims in text (``len(text) + 1`` when not found), claiming longer
    values first and equal lengths in string order; with ``per_row`` every row claims its own
    occurrence (a value without one left takes the value's last claim), else each distinct value
    claims once."""
    todo = range(len(values)) if per_row else list({v: k for k, v in enumerate(values)}.values())
    claimed = ManyClaimed(text, values) if len(values) > MANY_VALUES else Claimed()
    last: dict[str, int] = {}
    starts = [0] * len(values)
    for _, value, k in sorted([(-len(values[k]), values[k], k) for k in todo]):
        found = _claim(text, value, claimed)
        if found <= len(text) or value not in last:  # no occurrence left: share the value's last one
            last[value] = found
        starts[k] = last[value]
    if not per_row:
        starts = [last[v] for v in values]
    return starts


def _claim(text: str, value: str, claimed: Claimed) -> int:
    """The first occurrence of value overlapping no claimed span (claimed), else after the text."""
    start = claimed.claim(text, value)
    return len(text) + 1 if start < 0 else start


class Claimed:
    """Stretches of a text claimed by spans (they never overlap), each value's occurrences tried once: placing
    thousands of mentions of one value looks at each occurrence once and at two neighbours for each."""

    def __init__(self) -> None:
        self.starts: list[int] = []  # the claimed stretches, in text order
        self.ends: list[int] = []
        self.searched: dict[str, int] = {}  # where a value's next free occurrence may start (before: all claimed)

    def claim(self, text: str, value: str) -> int:
        """Claim the first occurrence of ``value`` that overlaps no claimed stretch: its start, or -1."""
        if not value:
            return -1
        start = text.find(value, self.searched.get(value, 0))
        while start >= 0 and self.overlaps(start, start + len(value)):
            start = text.find(value, start + 1)
        if start < 0:
            self.searched[value] = len(text) + 1  # none left, for good: claims only grow
            return -1
        self.searched[value] = start + 1
        at = bisect.bisect(self.starts, start)
        self.starts.insert(at, start)
        self.ends.insert(at, start + len(value))
        return start

    def overlaps(self, start: int, end: int) -> bool:
        at = bisect.bisect(self.starts, start)
        return (at > 0 and self.ends[at - 1] > start) or (at < len(self.starts) and self.starts[at] < end)


class ManyClaimed(Claimed):
    """``Claimed`` for thousands of values in one long text: every occurrence of every value is found in one pass
    (``occurrences``) and the claimed characters are a mask, so neither a search per value (and per occurrence inside
    a claimed stretch) nor inserting each claim into sorted lists, all quadratic in the mentions, reads the text or
    the claims again."""

    def __init__(self, text: str, values: Sequence[str]) -> None:
        super().__init__()
        self.spots = occurrences(text, values)
        self.tried: dict[str, int] = {}  # how many of a value's occurrences are claimed or overlap a claim
        self.mask = bytearray(len(text))

    def claim(self, text: str, value: str) -> int:
        spots, at, size = self.spots.get(value, ()), self.tried.get(value, 0), len(value)
        while at < len(spots) and self.mask.find(1, spots[at], spots[at] + size) >= 0:
            at += 1
        if not value or at == len(spots):
            self.tried[value] = at
            return -1
        self.tried[value] = at + 1
        self.mask[spots[at]:spots[at] + size] = b"\1" * size
        return spots[at]


MANY_VALUES = 64  # values to claim or find in one text above which ManyClaimed and occurrences read it once


def occurrences(text: str, values: Iterable[str]) -> dict[str, list[int]]:
    """Where each value of ``values`` that occurs in ``text`` occurs (overlapping occurrences too), in one pass over
    the text: a search per value reads the text once per value, quadratic for thousands of spans in a document."""
    wanted = set(values)
    found: dict[str, list[int]] = {"": [0]} if "" in wanted else {}
    wanted.discard("")
    if not wanted:
        return found
    head = min(16, *map(len, wanted))
    by_head: dict[str, dict[int, set[str]]] = {}  # a value's first `head` characters -> its length -> values
    for value in wanted:
        by_head.setdefault(value[:head], {}).setdefault(len(value), set()).add(value)
    for at in range(len(text) - head + 1):
        lengths = by_head.get(text[at:at + head])
        if lengths is None:
            continue
        for length, same in lengths.items():
            value = text[at:at + length]
            if value in same:
                found.setdefault(value, []).append(at)
    return found


def _sort_by(state: AnswerState, text: str, args: tuple[Any, ...]) -> AnswerState:
    i = _col(state, args[0])
    return _rows(state, sorted(state.table.rows, key=lambda r: r[i]))


def _dedupe(state: AnswerState, text: str, args: tuple[Any, ...]) -> AnswerState:
    return _rows(state, dict.fromkeys(state.table.rows))


def _pick(choose: Callable[..., Any]) -> OpFn:
    def op(state: AnswerState, text: str, args: tuple[Any, ...]) -> AnswerState:
        if not state.table.rows:
            return state
        i = _col(state, args[0])
        return _rows(state, [choose(state.table.rows, key=lambda r: len(r[i]))])
    return op


def _first(state: AnswerState, text: str, args: tuple[Any, ...]) -> AnswerState:
    return _rows(state, state.table.rows[:1])


def _case(fn: Callable[[str], str]) -> OpFn:
    def op(state: AnswerState, text: str, args: tuple[Any, ...]) -> AnswerState:
        i = _col(state, args[0])
        return _rows(state, [r[:i] + (fn(r[i]),) + r[i + 1:] for r in state.table.rows])
    return op


# name -> (function, number of arguments, argument description)
OPS: dict[str, tuple[OpFn, int, str]] = {
    "empty_as": (_empty_as, 1, '"text"'),
    "sort_by_position": (_sort_by_position, 1, '"column"'),
    "group_by_position": (_group_by_position, 1, '"column"'),
    "sort_by": (_sort_by, 1, '"column"'),
    "dedupe": (_dedupe, 0, ""),
    "shortest": (_pick(min), 1, '"column"'),
    "longest": (_pick(max), 1, '"column"'),
    "first": (_first, 0, ""),
    "lowercase": (_case(str.lower), 1, '"column"'),
    "uppercase": (_case(str.upper), 1, '"column"'),
}


COLUMN_OPS = frozenset(name for name, (_, _, args) in OPS.items() if args == '"column"')


def column_problem(name: str, args: tuple[Any, ...], columns: tuple[str, ...]) -> str | None:
    """Why an op cannot run on a task with these answer columns, or None."""
    if name in COLUMN_OPS and args and args[0] not in columns:
        return f"'{name}' names column '{args[0]}', which the answer does not have"
    return None


def signature(name: str) -> str:
    _, _, args = OPS[name]
    return f"{name}({args})" if args else name


def apply_op(name: str, args: tuple[Any, ...], state: AnswerState, text: str) -> AnswerState:
    fn, _, _ = OPS[name]
    return fn(state, text, args)
