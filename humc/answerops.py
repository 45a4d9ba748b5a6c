"""Answer operations: what a preference rule's `then` pipeline does to a gold answer.

Rules are data (stdlib/rules/*.yaml, or inline in a recipe); these few primitives are
the only code behind them. Each takes the answer state and the record's input text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from .answers import AnswerTable


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
    i = _col(state, args[0])
    missing = len(text) + 1  # values not found in the text go last, in their original order

    def key(row: tuple[str, ...]) -> int:
        pos = text.find(row[i]) if row[i] else -1
        return pos if pos >= 0 else missing

    return _rows(state, sorted(state.table.rows, key=key))


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


def signature(name: str) -> str:
    _, _, args = OPS[name]
    return f"{name}({args})" if args else name


def apply_op(name: str, args: tuple[Any, ...], state: AnswerState, text: str) -> AnswerState:
    fn, _, _ = OPS[name]
    return fn(state, text, args)
