"""Answer operations: what a preference rule's `then` pipeline does to a gold answer.

Rules are data (stdlib/rules/*.yaml, or inline in a recipe); these few primitives are
the only code behind them. Each takes the answer state and the record's input text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
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
    return replace(state, table=state.table.with_rows(rows))


def _empty_as(state: AnswerState, text: str, args: tuple[Any, ...]) -> AnswerState:
    return replace(state, empty=str(args[0]))


def _sort_by_position(state: AnswerState, text: str, args: tuple[Any, ...]) -> AnswerState:
    """Order rows by where their value occurs in the text.

    Longer values claim their occurrence first and a claimed stretch of text is not reused,
    so in "Paris Hilton met EU officials in Paris" the LOC "Paris" is placed at its own
    occurrence (after "EU"), not inside "Paris Hilton". Values not found go last."""
    i = _col(state, args[0])
    claimed: list[tuple[int, int]] = []
    position: dict[int, int] = {}
    for k in sorted(range(len(state.table.rows)), key=lambda k: -len(state.table.rows[k][i])):
        position[k] = _claim(text, state.table.rows[k][i], claimed)
    order = sorted(range(len(state.table.rows)), key=lambda k: (position[k], k))
    return _rows(state, [state.table.rows[k] for k in order])


def _claim(text: str, value: str, claimed: list[tuple[int, int]]) -> int:
    """The first occurrence of value overlapping no claimed span (claimed), else after the text."""
    start = text.find(value) if value else -1
    while start >= 0:
        end = start + len(value)
        if not any(s < end and start < e for s, e in claimed):
            claimed.append((start, end))
            return start
        start = text.find(value, start + 1)
    return len(text) + 1


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
