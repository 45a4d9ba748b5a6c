"""A source column named `record`: the DSL's name `record` is the whole row, so the column reads only as
``record["record"]``. A field expression that uses a bare `record` as a value (`text: record`, `record | lower`)
over rows holding such a column meant the column: the map node says so (E4102) once per chunk, before any row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from humc.errors import EvalError
from humc.expr import Attr, Call, Item, Name, Pipeline
from humc.expr.ast import walk
from humc.ir import Compiled, TaskEntry

ROW = "record"
ROW_FUNCTIONS = ("one_hot", "get")  # their first argument is a row: a bare `record` there is the whole row


def bare_rows(entry: TaskEntry) -> list[tuple[str, Compiled, Name]]:
    """(field, its expression, the `record`) for each bare `record` the entry's field expressions use as a value:
    not `record["x"]`, `record.x`, `one_hot(record, …)`, `get(record, …)` or `record | one_hot(…)`."""
    found = []
    for field, compiled in entry.fields:
        as_row: set[int] = set()
        for node in walk(compiled.ast):
            if isinstance(node, (Item, Attr)):
                as_row.add(id(node.obj))
            elif isinstance(node, Call) and node.fn in ROW_FUNCTIONS and node.args:
                as_row.add(id(node.args[0]))
            elif isinstance(node, Pipeline) and node.stages and node.stages[0].fn in ROW_FUNCTIONS:
                as_row.add(id(node.head))
        found += [(field, compiled, node) for node in walk(compiled.ast)
                  if isinstance(node, Name) and node.name == ROW and id(node) not in as_row]
    return found


def check_row_column(entry: TaskEntry, bare: Sequence[tuple[str, Compiled, Name]], chunk: Sequence[Any]) -> None:
    """E4102 when the chunk's first row has a column named `record` and a field expression uses a bare `record`
    (``bare``, from ``bare_rows``): it reads the whole row where the column was meant."""
    raw = chunk[0].get("raw") if bare and chunk and isinstance(chunk[0], Mapping) else None
    if not isinstance(raw, Mapping) or ROW not in raw:
        return
    field, compiled, name = bare[0]
    raise EvalError(f"source '{entry.source}' has a column named 'record', but `record` in field '{field}' is the "
                    "whole row (the DSL's name for it), not that column", compiled.src.span_of(*name.pos),
                    expected='the column as record["record"]; `record` alone always names the whole row',
                    hint=f"write record[\"record\"] in field '{field}' (whole-row uses such as `one_hot(record, …)` "
                         "and record[\"x\"] are unaffected)")
